#include "worker/tcp_loss_estimator.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include <pcap/dlt.h>

namespace taprec {
namespace {

constexpr uint8_t tcp_protocol = 6;

// Sequence arithmetic modulo 2^32 (RFC 1982 style): a is after b.
bool after(uint32_t a, uint32_t b) noexcept { return int32_t(a - b) > 0; }

// Branch-free: one test for the whole key.
bool same_pair(const EndpointPair& x, const EndpointPair& y) noexcept {
    return ((x.low_addr.high ^ y.low_addr.high) | (x.low_addr.low ^ y.low_addr.low) |
            (x.high_addr.high ^ y.high_addr.high) | (x.high_addr.low ^ y.high_addr.low) |
            uint64_t((x.low_port ^ y.low_port) | (x.high_port ^ y.high_port))) == 0;
}

}  // namespace

TcpLossEstimator::TcpLossEstimator(uint32_t max_flows) {
    if (max_flows == 0) return;
    const uint64_t size = std::bit_ceil(uint64_t(std::max<uint32_t>(max_flows, probe_limit)));
    table_ = HugeArray<Flow>(size);  // once, at start: observe() never allocates
    mask_ = size - 1;
}

TcpLossEstimator::Flow* TcpLossEstimator::find_or_add(const EndpointPair& key,
                                                      uint64_t hash) noexcept {
    Flow* oldest = nullptr;
    for (size_t i = 0; i < probe_limit; ++i) {
        Flow& slot = table_[(home_slot(hash) + i) & mask_];
        if (slot.last_seen_ns == 0) {
            oldest = &slot;
            break;
        }
        if (same_pair(slot.key, key)) return &slot;
        if (oldest == nullptr || slot.last_seen_ns < oldest->last_seen_ns) oldest = &slot;
    }
    if (oldest->last_seen_ns != 0) counters_.evictions.add(1);
    *oldest = Flow{};
    oldest->key = key;
    oldest->generation = next_generation_++;  // ACKs waiting for the previous occupant lapse
    return oldest;
}

// A TCP segment's fields, however its headers were read: its flow's key and hash, and the rest.
inline void TcpLossEstimator::set_tcp(Segment& s, const IpAddress& src, uint16_t src_port,
                               const IpAddress& dst, uint16_t dst_port, uint32_t seq, uint32_t ack,
                               uint8_t flags, uint32_t payload) noexcept {
    s.tcp = true;
    s.src_is_low = order_endpoints(src, src_port, dst, dst_port, s.key);
    s.hash = endpoint_pair_hash(s.key, tcp_protocol);
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.payload = payload;
}

void TcpLossEstimator::segment_of(const PacketHeaders& h, uint16_t port, uint64_t ts_ns,
                                  Segment& s) noexcept {
    s.ts_ns = ts_ns;
    s.port = uint8_t(port & 1);
    s.tcp = h.has_tcp;
    if (s.tcp)
        set_tcp(s, h.src_addr, h.src_port, h.dst_addr, h.dst_port, h.tcp_seq, h.tcp_ack, h.tcp_flags,
                h.tcp_payload);
}


// The slot the probe starts at, both of the cache lines a Flow can span.
void TcpLossEstimator::prefetch_slot(uint64_t hash) const noexcept {
    const Flow* slot = &table_[home_slot(hash) & mask_];
    __builtin_prefetch(slot, 1);
    __builtin_prefetch(reinterpret_cast<const char*>(slot) + sizeof(Flow) - 1, 1);
}

void TcpLossEstimator::observe(const PacketHeaders& h, uint16_t port, uint64_t ts_ns) noexcept {
    if (table_.empty()) return;
    Segment s;
    segment_of(h, port, ts_ns, s);
    observe_segment(s);
}

// Ethernet, untagged IPv4: most frames of a link, read at fixed offsets straight into the
// Segment. Exactly what parse_headers() then segment_of() make of such a frame (the fuzz target
// and the real-capture tests compare the two); false for any other frame, which they then take.
bool TcpLossEstimator::read_ethernet_ipv4(std::span<const std::byte> frame, uint16_t port,
                                          uint64_t ts_ns, Segment& s) noexcept {
    constexpr size_t l3 = 14;
    const FrameReader r(frame);
    if (r.size() < l3 + 20 || r.be16(12) != 0x0800 || (r.u8(l3) >> 4) != 4) return false;
    const size_t ihl = size_t(r.u8(l3) & 0x0f) * 4;
    if (ihl < 20) return false;
    s.ts_ns = ts_ns;
    s.port = uint8_t(port & 1);
    s.tcp = false;
    if (r.u8(l3 + 9) != tcp_protocol || (r.be16(l3 + 6) & 0x3fff) != 0) return true;  // or a fragment
    const size_t l4 = l3 + ihl;
    if (r.size() < l4 + 20) return true;
    const size_t header_len = size_t(r.u8(l4 + 12) >> 4) * 4;
    if (header_len < 20) return true;
    const uint16_t total = r.be16(l3 + 2);
    const size_t end = total == 0 ? r.size() : l3 + total;  // 0: TSO / BIG TCP, the frame is the datagram
    set_tcp(s, IpAddress::ipv4(r.be32(l3 + 12)), r.be16(l4), IpAddress::ipv4(r.be32(l3 + 16)),
            r.be16(l4 + 2), r.be32(l4 + 4), r.be32(l4 + 8), r.u8(l4 + 13),
            end > l4 + header_len ? uint32_t(end - l4 - header_len) : 0);
    return true;
}

void TcpLossEstimator::observe_burst(std::span<const PacketRef> burst, int link_type) noexcept {
    if (table_.empty()) return;
    while (!burst.empty()) {
        const size_t n = std::min(burst.size(), segments_.size());
        for (size_t i = 0; i < std::min(n, prefetch_ahead); ++i) __builtin_prefetch(burst[i].data);
        for (size_t i = 0; i < n; ++i) {
            // The headers a few packets on: the worker is the first to read a frame's bytes.
            if (i + prefetch_ahead < n) __builtin_prefetch(burst[i + prefetch_ahead].data);
            const PacketRef& p = burst[i];
            if (link_type != DLT_EN10MB || !read_ethernet_ipv4(p.head(), p.port, p.ts_ns, segments_[i]))
                segment_of(parse_headers(p.head(), link_type), p.port, p.ts_ns, segments_[i]);
            if (segments_[i].tcp) prefetch_slot(segments_[i].hash);
        }
        for (size_t i = 0; i < n; ++i) observe_segment(segments_[i]);
        burst = burst.subspan(n);
    }
}

void TcpLossEstimator::observe_segment(const Segment& s) noexcept {
    // Any packet from this port, TCP or not, proves it has moved on to ts_ns.
    if (!pending_[s.port].empty()) settle(s.port, s.ts_ns);
    if (!s.tcp) return;
    Flow* flow = find_or_add(s.key, s.hash);
    flow->last_seen_ns = s.ts_ns == 0 ? 1 : s.ts_ns;

    const int sender = s.src_is_low ? 0 : 1;
    flow->side[sender].port = s.port;
    on_segment(flow->side[sender], s);
    if ((s.flags & PacketHeaders::tcp_ack_flag) && !(s.flags & PacketHeaders::tcp_rst))
        on_ack(*flow, sender, s.ack, s.ts_ns);
}

// The sender's own sequence space: advance what was seen, remember a hole it jumped over.
void TcpLossEstimator::on_segment(Direction& sender, const Segment& s) noexcept {
    const uint32_t flags = s.flags;
    const uint32_t end = s.seq + s.payload + ((flags & PacketHeaders::tcp_syn) ? 1 : 0) +
                         ((flags & PacketHeaders::tcp_fin) ? 1 : 0);
    if (!sender.seq_valid || (flags & PacketHeaders::tcp_syn)) {
        // First sight of this side (a connection seen mid-stream, or a new one): start here.
        sender = Direction{end, 0, 0, sender.highest_ack, true, sender.ack_valid, false, sender.port};
        return;
    }
    if (sender.hole_open && !after(s.seq, sender.hole_start) && !after(sender.hole_end, end))
        sender.hole_open = false;  // the missing data arrived after all (reordered)
    if (!after(end, sender.seen_end)) return;  // retransmission or keep-alive: nothing new
    if (after(s.seq, sender.seen_end) && !sender.hole_open) {
        sender.hole_start = sender.seen_end;
        sender.hole_end = s.seq;
        sender.hole_open = true;
    }
    sender.seen_end = end;
}

// The side `acker_side` of `flow` acknowledges the other side's data up to `ack`.
void TcpLossEstimator::on_ack(Flow& flow, int acker_side, uint32_t ack, uint64_t ts_ns) noexcept {
    Direction& acker = flow.side[acker_side];
    Direction& data_side = flow.side[1 - acker_side];
    if (acker.ack_valid && !after(ack, acker.highest_ack)) return;  // not advancing
    acker.highest_ack = ack;
    acker.ack_valid = true;
    if (!data_side.seq_valid) return;  // nothing seen of that side yet: no judgement
    counters_.acks[data_side.port].add(1);
    // Bytes not seen yet may still come from their port at this very time: wait for it.
    if (!acknowledges_unseen(data_side, ack)) return;
    PendingQueue& queue = pending_[data_side.port];
    if (queue.full()) [[unlikely]] {
        judge_front(queue);
    }
    queue.entries[queue.tail++ % pending_capacity] =
        PendingAck{ts_ns, uint32_t(&flow - table_.data()), flow.generation, ack,
                   uint8_t(1 - acker_side)};
}

bool TcpLossEstimator::acknowledges_unseen(const Direction& data_side, uint32_t ack) noexcept {
    return (data_side.hole_open && !after(data_side.hole_end, ack)) ||
           after(ack, data_side.seen_end);
}

void TcpLossEstimator::judge(Direction& data_side, uint32_t ack) noexcept {
    const uint16_t port = data_side.port;
    if (data_side.hole_open && !after(data_side.hole_end, ack)) {
        counters_.gaps[port].add(1);
        counters_.gap_bytes[port].add(data_side.hole_end - data_side.hole_start);
        data_side.hole_open = false;
    }
    if (after(ack, data_side.seen_end)) {
        counters_.gaps[port].add(1);
        counters_.gap_bytes[port].add(ack - data_side.seen_end);
        data_side.seen_end = ack;  // each hole counts once, however many ACKs cover it
    }
}

void TcpLossEstimator::judge_front(PendingQueue& queue) noexcept {
    const PendingAck& p = queue.front();
    Flow& flow = table_[p.slot];
    if (flow.generation == p.generation && flow.last_seen_ns != 0) judge(flow.side[p.data_side], p.ack);
    ++queue.head;
}

void TcpLossEstimator::settle(uint16_t port, uint64_t floor_ns) noexcept {
    PendingQueue& queue = pending_[port & 1];
    while (!queue.empty() && queue.front().ts_ns < floor_ns) judge_front(queue);
}

void TcpLossEstimator::settle_all() noexcept {
    for (PendingQueue& queue : pending_)
        while (!queue.empty()) judge_front(queue);
}

}  // namespace taprec
