// TapSnapshot: every counter of one tap at one moment; stats/counter_table.hpp lists them and
// says where each one lives here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace taprec {

struct PortSnapshot {
    bool present = false;
    uint64_t received = 0;
    uint64_t bytes = 0;
    uint64_t nic_missed = 0;
    uint64_t nic_errors = 0;
    uint64_t nic_nombuf = 0;
    uint64_t rolled_over = 0;  // not a drop: moved to another queue (net_af_packet fanout)
    uint64_t dropped_ring = 0;  // rx_to_worker and worker_to_writer together
    uint64_t dropped_writer = 0;
    uint64_t filtered = 0;
    uint64_t late = 0;
    uint64_t truncated = 0;
    uint64_t clamped = 0;  // timestamps too far ahead of the clock, set back (rx thread, writer)
    uint64_t written = 0;
    uint64_t written_bytes = 0;
    // Capture quality (worker/tcp_loss_estimator), for the data this port carries.
    uint64_t tcp_acks = 0;
    uint64_t tcp_ack_gaps = 0;
    uint64_t tcp_gap_bytes = 0;
    // The port clock's steering to CLOCK_REALTIME (DPDK ports; 0 for libpcap and net_pcap).
    uint64_t clock_steers = 0;
    uint64_t clock_corrected = 0;
    uint64_t clock_steps = 0;

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
    uint64_t writer_clamped = 0;
    uint64_t rx_clamped = 0;
};

// The janitor: on_rotate hooks and retention.
struct FilesSnapshot {
    uint64_t hooks_started = 0;
    uint64_t hooks_failed = 0;
    uint64_t hooks_timed_out = 0;
    uint64_t hooks_overflow = 0;  // published files whose hook never ran: queue full
    uint64_t hooks_skipped = 0;   // recorded hooks of files gone before the next start
    uint64_t retention_deleted_files = 0;
    uint64_t retention_deleted_bytes = 0;
    uint64_t sync_errors = 0;
};

// One worker's share of the tap (stats/counter_table.hpp says what each counts).
struct WorkerSnapshot {
    uint64_t received = 0;
    uint64_t written = 0;
    uint64_t drops = 0;
    uint64_t late = 0;
    uint64_t tcp_acks = 0;
};

struct TapSnapshot {
    std::string tap;
    uint64_t time_ns = 0;  // wall clock when taken
    std::array<PortSnapshot, 2> ports{};
    StageSnapshot stages;
    uint64_t files = 0;
    uint64_t write_errors = 0;
    FilesSnapshot file_keeping;

    uint64_t tcp_evictions = 0;
    std::vector<WorkerSnapshot> workers;
    // Sums over ports (written, tcp_acks, ...): counter_sum() in stats/counter_table.hpp.
};

// 100 * gaps / acks: the share of acknowledgements that prove a segment was lost upstream.
inline double upstream_loss_percent(uint64_t gaps, uint64_t acks) noexcept {
    return acks == 0 ? 0.0 : 100.0 * double(gaps) / double(acks);
}

// One stats.jsonl line. `final` marks the line written at exit.
std::string stats_json_line(const TapSnapshot& snapshot, bool final);

}  // namespace taprec
