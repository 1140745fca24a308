#include "worker/tcp_loss_estimator.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <tuple>

namespace taprec {
namespace {

// Sequence arithmetic modulo 2^32 (RFC 1982 style): a is after b.
bool after(uint32_t a, uint32_t b) noexcept { return int32_t(a - b) > 0; }

// Two 64-bit compares: std::array's == calls memcmp, which the profile showed per packet.
bool same_address(const std::array<uint8_t, 16>& x, const std::array<uint8_t, 16>& y) noexcept {
    uint64_t a[2], b[2];
    std::memcpy(a, x.data(), 16);
    std::memcpy(b, y.data(), 16);
    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
}

uint64_t mix(uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

}  // namespace

TcpLossEstimator::TcpLossEstimator(uint32_t max_flows) {
    if (max_flows == 0) return;
    const uint64_t size = std::bit_ceil(uint64_t(std::max<uint32_t>(max_flows, probe_limit)));
    table_.resize(size);  // once, at start: observe() never allocates
    mask_ = size - 1;
}

TcpLossEstimator::Flow* TcpLossEstimator::find_or_add(const Flow& key, uint64_t hash,
                                                      uint64_t ts_ns) noexcept {
    Flow* oldest = nullptr;
    for (size_t i = 0; i < probe_limit; ++i) {
        Flow& slot = table_[(hash + i) & mask_];
        if (slot.last_seen_ns == 0) {
            slot = key;
            return &slot;
        }
        if (slot.low_port == key.low_port && slot.high_port == key.high_port &&
            same_address(slot.low_addr, key.low_addr) && same_address(slot.high_addr, key.high_addr))
            return &slot;
        if (oldest == nullptr || slot.last_seen_ns < oldest->last_seen_ns) oldest = &slot;
    }
    counters_.evictions.add(1);
    *oldest = key;
    (void)ts_ns;
    return oldest;
}

void TcpLossEstimator::observe(const PacketHeaders& h, uint16_t port, uint64_t ts_ns) noexcept {
    if (!h.has_tcp || table_.empty()) return;
    // Order the endpoints so both directions find one entry; side 0 is the lower endpoint.
    const bool src_is_low = std::tie(h.src_addr, h.src_port) <= std::tie(h.dst_addr, h.dst_port);
    Flow key;
    key.low_addr = src_is_low ? h.src_addr : h.dst_addr;
    key.high_addr = src_is_low ? h.dst_addr : h.src_addr;
    key.low_port = src_is_low ? h.src_port : h.dst_port;
    key.high_port = src_is_low ? h.dst_port : h.src_port;
    uint64_t words[4];
    std::memcpy(words, key.low_addr.data(), 16);
    std::memcpy(words + 2, key.high_addr.data(), 16);
    const uint64_t hash = mix(words[0] ^ mix(words[1] ^ mix(words[2] ^ mix(
                              words[3] ^ (uint64_t(key.low_port) << 16 | key.high_port)))));
    Flow* flow = find_or_add(key, hash, ts_ns);
    flow->last_seen_ns = ts_ns == 0 ? 1 : ts_ns;

    Direction& sender = flow->side[src_is_low ? 0 : 1];
    Direction& receiver = flow->side[src_is_low ? 1 : 0];
    sender.port = uint8_t(port & 1);
    on_segment(sender, h);
    if ((h.tcp_flags & PacketHeaders::tcp_ack_flag) && !(h.tcp_flags & PacketHeaders::tcp_rst))
        on_ack(sender, receiver, h.tcp_ack);
}

// The sender's own sequence space: advance what was seen, remember a hole it jumped over.
void TcpLossEstimator::on_segment(Direction& sender, const PacketHeaders& h) noexcept {
    const uint32_t flags = h.tcp_flags;
    const uint32_t end = h.tcp_seq + h.tcp_payload + ((flags & PacketHeaders::tcp_syn) ? 1 : 0) +
                         ((flags & PacketHeaders::tcp_fin) ? 1 : 0);
    if (!sender.seq_valid || (flags & PacketHeaders::tcp_syn)) {
        // First sight of this side (a connection seen mid-stream, or a new one): start here.
        sender = Direction{end, 0, 0, sender.highest_ack, true, sender.ack_valid, false, sender.port};
        return;
    }
    if (sender.hole_open && !after(h.tcp_seq, sender.hole_start) && !after(sender.hole_end, end))
        sender.hole_open = false;  // the missing data arrived after all (reordered)
    if (!after(end, sender.seen_end)) return;  // retransmission or keep-alive: nothing new
    if (after(h.tcp_seq, sender.seen_end) && !sender.hole_open) {
        sender.hole_start = sender.seen_end;
        sender.hole_end = h.tcp_seq;
        sender.hole_open = true;
    }
    sender.seen_end = end;
}

// `acker` acknowledges the data of `data_side` up to `ack`.
void TcpLossEstimator::on_ack(Direction& acker, Direction& data_side, uint32_t ack) noexcept {
    if (acker.ack_valid && !after(ack, acker.highest_ack)) return;  // not advancing
    acker.highest_ack = ack;
    acker.ack_valid = true;
    if (!data_side.seq_valid) return;  // nothing seen of that side yet: no judgement
    const uint16_t port = data_side.port;
    counters_.acks[port].add(1);
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

}  // namespace taprec
