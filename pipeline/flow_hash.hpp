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

// The one symmetric hash: of an ordered pair, so the same in both directions. A multiply and a
// fold per word, then splitmix64's finaliser for the avalanche. The ports go in as a word of their
// own, first: xored into an address word unmixed they would cancel against its bits (an IPv4
// address fills bits 32-63, where a port would sit), and distinct flows would share a hash.
inline uint64_t endpoint_pair_hash(const EndpointPair& pair, uint8_t protocol) noexcept {
    constexpr uint64_t k = 0x9e3779b97f4a7c15ULL;
    const uint64_t words[5] = {
        (uint64_t(pair.low_port) << 32) | (uint64_t(pair.high_port) << 16) | protocol,
        pair.low_addr.high, pair.low_addr.low, pair.high_addr.high, pair.high_addr.low};
    uint64_t h = k;
    for (uint64_t w : words) {
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

uint32_t symmetric_flow_hash(std::span<const std::byte> frame, int link_type) noexcept;

}  // namespace taprec
