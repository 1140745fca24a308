// Symmetric software flow hash: what the rx thread uses to pick a worker when the port has no RSS,
// and what the TCP loss estimator keys its flow table with.
//
// Both directions of a connection must reach the same worker (DESIGN.md "Flow affinity"), so the
// hash of (src, dst, sport, dport) equals the hash of (dst, src, dport, sport). IP fragments hash
// on addresses only, so the fragments of one datagram stay together even without ports.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "pipeline/packet_headers.hpp"

namespace taprec {

// The two endpoints of a conversation in one fixed order, the lower (address, port) first: both
// directions of a connection give the same pair.
struct EndpointPair {
    IpAddress low_addr;
    IpAddress high_addr;
    uint16_t low_port = 0;
    uint16_t high_port = 0;
};

// Orders (src, dst) into `pair`; returns whether the source is the lower endpoint. The order is
// that of the address bytes, then the port. Inline, with the hash: the loss estimator calls both
// for every TCP packet.
inline bool order_endpoints(const IpAddress& src_addr, uint16_t src_port, const IpAddress& dst_addr,
                            uint16_t dst_port, EndpointPair& pair) noexcept {
    const bool src_is_low = src_addr.high != dst_addr.high ? src_addr.high < dst_addr.high
                            : src_addr.low != dst_addr.low ? src_addr.low < dst_addr.low
                                                           : src_port <= dst_port;
    pair.low_addr = src_is_low ? src_addr : dst_addr;
    pair.high_addr = src_is_low ? dst_addr : src_addr;
    pair.low_port = src_is_low ? src_port : dst_port;
    pair.high_port = src_is_low ? dst_port : src_port;
    return src_is_low;
}

// The one symmetric hash: of an ordered pair, so the same in both directions. wyhash's step: each
// pair of words is multiplied out to 128 bits and folded, three such products side by side (a few
// cycles of latency where a chain of word-at-a-time rounds took forty: the estimator computes it
// for every TCP packet), then one more for the avalanche. The ports go in as a word of their own:
// an IPv4 address fills bits 32-63, where they would cancel against its bits.
__extension__ using uint128 = unsigned __int128;  // GCC and Clang on 64-bit targets

inline uint64_t fold_multiply(uint64_t a, uint64_t b) noexcept {
    const uint128 product = static_cast<uint128>(a) * b;
    return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

inline uint64_t endpoint_pair_hash(const EndpointPair& pair, uint8_t protocol) noexcept {
    // wyhash's secret: odd constants with balanced bits.
    constexpr uint64_t s0 = 0xa0761d6478bd642fULL, s1 = 0xe7037ed1a0b428dbULL,
                       s2 = 0x8ebc6af09c88c6e3ULL, s3 = 0x589965cc75374cc3ULL;
    const uint64_t ports = (uint64_t(pair.low_port) << 32) | (uint64_t(pair.high_port) << 16) | protocol;
    const uint64_t h = fold_multiply(pair.low_addr.high ^ s0, pair.high_addr.high ^ s1) ^
                       fold_multiply(pair.low_addr.low ^ s2, pair.high_addr.low ^ s3) ^
                       fold_multiply(ports ^ s1, s2);
    return fold_multiply(h ^ s0, s3);
}

uint32_t symmetric_flow_hash(std::span<const std::byte> frame, int link_type) noexcept;

}  // namespace taprec
