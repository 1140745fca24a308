// TapSnapshot: every counter of one tap at one moment, as stats.jsonl and the status line show it.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace taprec {

struct PortSnapshot {
    bool present = false;
    uint64_t received = 0;
    uint64_t bytes = 0;
    uint64_t nic_missed = 0;
    uint64_t nic_errors = 0;
    uint64_t nic_nombuf = 0;
    uint64_t dropped_ring = 0;  // rx_to_worker and worker_to_writer together
    uint64_t dropped_writer = 0;
    uint64_t filtered = 0;
    uint64_t late = 0;
    uint64_t truncated = 0;
    uint64_t written = 0;
    uint64_t written_bytes = 0;

    // The accounting invariant of DESIGN.md: what is neither written nor counted as lost yet.
    int64_t in_flight() const noexcept {
        return int64_t(received) - int64_t(written + filtered + dropped_ring + dropped_writer);
    }
};

// Per stage, summed over ports: where packets went missing or got marked.
struct StageSnapshot {
    uint64_t rx_dropped_ring = 0;
    uint64_t worker_dropped_ring = 0;
    uint64_t worker_filtered = 0;
    uint64_t worker_truncated = 0;
    uint64_t worker_late = 0;
    uint64_t writer_dropped_writer = 0;
    uint64_t writer_late = 0;
};

struct TapSnapshot {
    std::string tap;
    uint64_t time_ns = 0;  // wall clock when taken
    std::array<PortSnapshot, 2> ports{};
    StageSnapshot stages;
    uint64_t files = 0;
    uint64_t write_errors = 0;

    uint64_t written() const noexcept { return ports[0].written + ports[1].written; }
    uint64_t written_bytes() const noexcept {
        return ports[0].written_bytes + ports[1].written_bytes;
    }
};

// One stats.jsonl line. `final` marks the line written at exit.
std::string stats_json_line(const TapSnapshot& snapshot, bool final);

}  // namespace taprec
