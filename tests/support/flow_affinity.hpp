// Checks for the multi-queue end-to-end tests: what went in came out (as a set, and in order
// within each connection and direction), and every connection reached one worker, read from
// the rx threads' flow records (TAPREC_FLOW_RECORD, rx/flow_record.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "capture_files.hpp"

namespace test_support {

// Empty when `output` holds exactly the packets of a and b (bytes), and the packets of each
// connection and direction in the order that direction sent them; else what differs.
std::string same_packets_in_connection_order(const Capture& a, const Capture& b,
                                             const std::vector<Packet>& output, int link_type);

struct FlowRecords {
    std::map<std::string, uint64_t> workers;  // connection -> mask of the workers it reached
    uint64_t lines = 0;
    uint64_t lines_queue_not_worker = 0;  // a queue that fed another worker than its own number
    uint64_t packets = 0;
};
// The .flows files of `tap` in `dir`, one per port, merged by connection.
FlowRecords read_flow_records(const std::string& dir, const std::string& tap);
// The multi-queue tests' configuration: one tap named `tap` whose `ports` lines ("    a: {...}\n"
// and the tap's other keys) are given, DPDK without hugepages under `prefix`, small pools and
// rings, files under `dir`/out, a stats line every 100 ms.
std::string multiqueue_config(const std::string& dir, const std::string& prefix,
                              const std::string& tap, const std::string& ports,
                              const std::string& threads = "{idle: sleep}");
// The value of an environment variable, "" when unset.
std::string env(const char* name);
// received a + b in the newest stats.jsonl line of `tap_dir`, 0 before there is one.
uint64_t received_so_far(const std::string& tap_dir);
// Connections that reached more than one worker.
size_t split_connections(const FlowRecords& records);
// How many connections each worker got.
std::vector<size_t> connections_per_worker(const FlowRecords& records, size_t workers);

}  // namespace test_support
