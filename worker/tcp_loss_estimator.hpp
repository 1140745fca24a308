// TcpLossEstimator: loss upstream of the sensor, told by the TCP acknowledgements it records.
//
// A receiver that acknowledges bytes the sensor never saw proves a segment crossed the wire
// without being captured (a SPAN port or a TAP that dropped it before us). Per direction of each
// connection it keeps the end of the data seen so far and at most one hole in it; an advancing
// ACK that covers a hole, or goes beyond everything seen, counts one gap, however many ACKs cover
// it afterwards (Zeek's capture-loss counts the same way). Retransmissions and keep-alives are
// at or below what was seen and count nothing. Sequence numbers compare modulo 2^32.
//
// Both directions of a connection reach the same worker (symmetric RSS or hash), so each worker
// keeps its own table: fixed size, allocated once, replaced oldest-first when full (counted).
#pragma once

#include <cstdint>
#include <array>
#include <memory>
#include <vector>

#include "drivers/packet_headers.hpp"
#include "stats/stage_counters.hpp"

namespace taprec {

struct alignas(cache_line_size) TcpLossCounters {
    // Per port that carried the data acknowledged.
    PerPort<Counter> acks;       // ACKs that advance
    PerPort<Counter> gaps;       // holes acknowledged without being seen
    PerPort<Counter> gap_bytes;  // their size
    Counter evictions;           // flows dropped from a full table
};

class TcpLossEstimator {
public:
    // `max_flows` is rounded up to a power of two; 0 makes observe() a no-op.
    explicit TcpLossEstimator(uint32_t max_flows);

    // Look at one packet that arrived on `port` at `ts_ns`; anything but TCP is ignored.
    void observe(const PacketHeaders& h, uint16_t port, uint64_t ts_ns) noexcept;

    bool enabled() const noexcept { return !table_.empty(); }
    const TcpLossCounters& counters() const noexcept { return counters_; }

private:
    struct Direction {
        uint32_t seen_end = 0;    // end of the data seen from this side (next expected seq)
        uint32_t hole_start = 0;  // [hole_start, hole_end): skipped data not seen (yet)
        uint32_t hole_end = 0;
        uint32_t highest_ack = 0; // highest ACK this side sent
        bool seq_valid = false;
        bool ack_valid = false;
        bool hole_open = false;
        uint8_t port = 0;         // the port this side's packets arrive on
    };
    struct Flow {
        std::array<uint8_t, 16> low_addr{};   // the lower endpoint: side 0
        std::array<uint8_t, 16> high_addr{};
        uint16_t low_port = 0;
        uint16_t high_port = 0;
        uint64_t last_seen_ns = 0;            // 0: the slot is free
        Direction side[2];
    };
    static constexpr size_t probe_limit = 8;

    Flow* find_or_add(const Flow& key, uint64_t hash, uint64_t ts_ns) noexcept;
    void on_segment(Direction& sender, const PacketHeaders& h) noexcept;
    void on_ack(Direction& receiver, Direction& sender, uint32_t ack) noexcept;

    std::vector<Flow> table_;
    uint64_t mask_ = 0;
    TcpLossCounters counters_;
};

}  // namespace taprec
