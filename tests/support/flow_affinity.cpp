#include "flow_affinity.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "daemon_run.hpp"
#include "mini_json.hpp"
#include "rx/flow_record.hpp"

namespace test_support {
namespace {

using Bytes = std::string;  // a frame's bytes; std::string sorts and compares them cheaply

Bytes bytes_of(const Packet& p) { return Bytes(p.bytes.begin(), p.bytes.end()); }

std::string key_of(const Bytes& bytes, int link_type) {
    return taprec::connection_key(
        std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()), link_type);
}

}  // namespace

std::string same_packets_in_connection_order(const Capture& a, const Capture& b,
                                             const std::vector<Packet>& output, int link_type) {
    std::vector<Bytes> in, out;
    for (const Capture* c : {&a, &b})
        for (const Packet& p : c->packets) in.push_back(bytes_of(p));
    for (const Packet& p : output) out.push_back(bytes_of(p));
    std::sort(in.begin(), in.end());
    std::vector<Bytes> sorted_out = out;
    std::sort(sorted_out.begin(), sorted_out.end());
    if (in != sorted_out)
        return "the output is not the input as a set: " + std::to_string(in.size()) + " in, " +
               std::to_string(out.size()) + " out";

    // Which direction sent each frame (a frame's bytes name its sender), then per connection and
    // direction the sequence sent and the sequence written.
    std::map<Bytes, int> direction;
    for (const Packet& p : a.packets) direction[bytes_of(p)] = 0;
    for (const Packet& p : b.packets) direction[bytes_of(p)] = 1;
    std::map<std::pair<std::string, int>, std::vector<Bytes>> sent, written;
    for (int d = 0; d < 2; ++d)
        for (const Packet& p : (d == 0 ? a : b).packets)
            sent[{key_of(bytes_of(p), link_type), d}].push_back(bytes_of(p));
    for (const Packet& p : output)
        written[{key_of(bytes_of(p), link_type), direction.at(bytes_of(p))}].push_back(bytes_of(p));
    for (const auto& [flow, packets] : sent) {
        const auto& got = written[flow];
        for (size_t i = 0; i < packets.size(); ++i)
            if (packets[i] != got.at(i))
                return "connection " + flow.first + " direction " + (flow.second == 0 ? "a" : "b") +
                       ": packet " + std::to_string(i) + " of " + std::to_string(packets.size()) +
                       " written out of order";
    }
    return "";
}

FlowRecords read_flow_records(const std::string& dir, const std::string& tap) {
    FlowRecords records;
    for (const char* port : {"a", "b"}) {
        std::ifstream in(dir + "/" + tap + "-" + port + ".flows");
        std::string line;
        while (std::getline(in, line)) {
            // KEY workers=MASK queues=MASK packets=N; KEY has spaces, the fields are the last three.
            const size_t w = line.rfind(" workers=");
            if (w == std::string::npos) continue;
            std::istringstream fields(line.substr(w + 1));
            std::string workers, queues, packets;
            fields >> workers >> queues >> packets;
            const uint64_t worker_mask = std::stoull(workers.substr(8), nullptr, 16);
            const uint64_t queue_mask = std::stoull(queues.substr(7), nullptr, 16);
            records.workers[line.substr(0, w)] |= worker_mask;
            records.packets += std::stoull(packets.substr(8));
            ++records.lines;
            if (queue_mask != worker_mask) ++records.lines_queue_not_worker;
        }
    }
    return records;
}

size_t split_connections(const FlowRecords& records) {
    size_t n = 0;
    for (const auto& [key, mask] : records.workers)
        if (__builtin_popcountll(mask) != 1) ++n;
    return n;
}

std::vector<size_t> connections_per_worker(const FlowRecords& records, size_t workers) {
    std::vector<size_t> counts(workers, 0);
    for (const auto& [key, mask] : records.workers)
        for (size_t w = 0; w < workers; ++w)
            if (mask & (uint64_t(1) << w)) ++counts[w];
    return counts;
}

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? "" : value;
}

uint64_t received_so_far(const std::string& tap_dir) {
    const auto lines = read_lines(tap_dir + "/.meta/stats.jsonl");
    if (lines.empty()) return 0;
    const Json s = parse_json(lines.back());
    return s.u64("ports.a.received") + s.u64("ports.b.received");
}

std::string multiqueue_config(const std::string& dir, const std::string& prefix,
                              const std::string& tap, const std::string& ports,
                              const std::string& threads) {
    return "dpdk:\n"
           "  eal: [\"--no-huge\", \"--file-prefix\", \"" + prefix + "\"]\n"
           "  mbufs_per_port: 16383\n"
           "  rx_descriptors: 256\n"
           "taps:\n"
           "  - name: " + tap + "\n" + ports +
           "threads: " + threads + "\n"
           "ring_capacity: 4096\n"
           "output:\n"
           "  directory: " + dir + "/out\n"
           "  rotate: {bytes: 0, seconds: 0}\n"
           "stats: {interval: 100ms}\n";
}

}  // namespace test_support
