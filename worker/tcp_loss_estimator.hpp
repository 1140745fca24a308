// TcpLossEstimator: loss upstream of the sensor, told by the TCP acknowledgements it records.
//
// A receiver that acknowledges bytes the sensor never saw proves a segment crossed the wire
// without being captured (a SPAN port or a TAP that dropped it before us). Per direction of each
// connection it keeps the end of the data seen so far and at most one hole in it; an advancing
// ACK that covers a hole, or goes beyond everything seen, counts one gap, however many ACKs cover
// it afterwards (Zeek's capture-loss counts the same way). Retransmissions and keep-alives are
// at or below what was seen and count nothing. Sequence numbers compare modulo 2^32.
//
// Ties are not loss. The two directions of a TAP come from two ports, and the merge puts equal
// timestamps a before b, so an ACK can come out before the data it acknowledges when both carry
// the same time (microsecond clocks tie often). So an ACK past unseen bytes is only judged once
// the port those bytes come on can no longer deliver anything at the ACK's time or earlier: a
// later packet from that port, or that port's watermark (settle()) passing it. Until then it
// waits in a small fixed queue per port; when the queue is full its oldest entry is judged at
// once, as it would have been without the wait.
//
// Both directions of a connection reach the same worker (symmetric RSS or hash), so each worker
// keeps its own table: fixed size, allocated once, replaced oldest-first when full (counted).
// The table outgrows the caches (~96 B a flow; on huge pages, pipeline/huge_array.hpp), so the
// worker hands it whole bursts: the headers of the burst are parsed and their flows' slots
// prefetched first, then the packets are observed in order, and the misses of a burst overlap
// instead of coming one per packet.
#pragma once

#include <cstdint>
#include <array>
#include <memory>
#include <span>
#include <vector>

#include "config/limits.hpp"  // burst_size
#include "pipeline/flow_hash.hpp"
#include "pipeline/huge_array.hpp"
#include "pipeline/packet_headers.hpp"
#include "pipeline/packet_ref.hpp"
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
    // ACKs past unseen bytes that may wait for their port, per port.
    static constexpr uint32_t pending_capacity = 256;

    // `max_flows` is rounded up to a power of two; 0 makes observe() a no-op.
    explicit TcpLossEstimator(uint32_t max_flows);

    // Look at one packet that arrived on `port` at `ts_ns`; anything but TCP is ignored. Packets
    // come in merge order: each port's own packets in timestamp order.
    void observe(const PacketHeaders& h, uint16_t port, uint64_t ts_ns) noexcept;
    // The same as observe() on each packet of `burst` in turn (parsed as `link_type`), with the
    // burst's flow slots prefetched before the first is observed.
    void observe_burst(std::span<const PacketRef> burst, int link_type) noexcept;

    // `port` will deliver nothing older than `floor_ns` any more (its merge input's head or
    // watermark): judge the waiting ACKs older than that.
    void settle(uint16_t port, uint64_t floor_ns) noexcept;
    // Judge every waiting ACK (the ports have finished).
    void settle_all() noexcept;

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
        EndpointPair key;          // side 0 is the lower endpoint
        uint32_t generation = 0;   // which occupant of the slot: a waiting ACK checks it
        uint64_t last_seen_ns = 0; // 0: the slot is free
        Direction side[2];
    };
    // An ACK past bytes not seen yet, waiting until their port has moved past ts_ns.
    struct PendingAck {
        uint64_t ts_ns;
        uint32_t slot;
        uint32_t generation;
        uint32_t ack;
        uint8_t data_side;  // the side whose bytes it acknowledges
    };
    struct PendingQueue {  // a FIFO ring; entries arrive in their port's time order
        std::array<PendingAck, pending_capacity> entries;
        uint32_t head = 0;
        uint32_t tail = 0;
        bool empty() const noexcept { return head == tail; }
        bool full() const noexcept { return tail - head == pending_capacity; }
        PendingAck& front() noexcept { return entries[head % pending_capacity]; }
    };
    // What observe() needs of a TCP packet, its flow's key and hash computed: a burst's worth is
    // taken before the first is observed, so that their slots can be prefetched.
    struct Segment {
        EndpointPair key;
        uint64_t hash;
        uint64_t ts_ns;
        uint32_t seq;
        uint32_t ack;
        uint32_t payload;
        uint8_t flags;
        uint8_t port;
        bool src_is_low;
        bool tcp;  // false: anything else, which only moves its port on
    };
    static constexpr size_t probe_limit = 8;
    // Where a flow's probe starts: the hash's high half. The rx thread picks the worker from the
    // low bits of the same hash (h % workers), so with W workers the low bits of every flow a
    // worker sees agree, and a table indexed by them would use 1/W of its slots.
    static uint64_t home_slot(uint64_t hash) noexcept { return hash >> 32 | hash << 32; }
    static constexpr size_t prefetch_ahead = 4;  // frames whose headers are fetched ahead

    static void segment_of(const PacketHeaders& h, uint16_t port, uint64_t ts_ns,
                           Segment& s) noexcept;
    static bool read_ethernet_ipv4(std::span<const std::byte> frame, uint16_t port, uint64_t ts_ns,
                                   Segment& s) noexcept;
    // Inlined into both readers: a call passing nine arguments cost as much as its body.
    [[gnu::always_inline]] static inline void set_tcp(Segment& s, const IpAddress& src, uint16_t src_port, const IpAddress& dst,
                        uint16_t dst_port, uint32_t seq, uint32_t ack, uint8_t flags,
                        uint32_t payload) noexcept;
    void prefetch_slot(uint64_t hash) const noexcept;
    void observe_segment(const Segment& s) noexcept;
    // Inlined into observe_segment(), once per TCP packet: the calls cost as much as the bodies.
    [[gnu::always_inline]] inline Flow* find_or_add(const EndpointPair& key, uint64_t hash) noexcept;
    [[gnu::always_inline]] inline void on_segment(Direction& sender, const Segment& s) noexcept;
    [[gnu::always_inline]] inline void on_ack(Flow& flow, int acker_side, uint32_t ack,
                                              uint64_t ts_ns) noexcept;
    static bool acknowledges_unseen(const Direction& data_side, uint32_t ack) noexcept;
    void judge(Direction& data_side, uint32_t ack) noexcept;
    void judge_front(PendingQueue& queue) noexcept;

    HugeArray<Flow> table_;
    uint64_t mask_ = 0;
    uint32_t next_generation_ = 1;
    std::array<PendingQueue, max_ports_per_tap> pending_{};
    // observe_burst()'s scratch: a member, since a local would be zeroed (its keys have
    // initialisers) at every call, 2 KiB a burst.
    std::array<Segment, burst_size> segments_;
    TcpLossCounters counters_;
};

}  // namespace taprec
