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
#include <span>

namespace taprec {

// The two endpoints of a conversation in one fixed order, the lower (address, port) first: both
// directions of a connection give the same pair.
struct EndpointPair {
    std::array<uint8_t, 16> low_addr{};
    std::array<uint8_t, 16> high_addr{};
    uint16_t low_port = 0;
    uint16_t high_port = 0;
};

// Orders (src, dst) into `pair`; returns whether the source is the lower endpoint.
bool order_endpoints(const std::array<uint8_t, 16>& src_addr, uint16_t src_port,
                     const std::array<uint8_t, 16>& dst_addr, uint16_t dst_port,
                     EndpointPair& pair) noexcept;

// The one symmetric hash: of an ordered pair, so the same in both directions.
uint64_t endpoint_pair_hash(const EndpointPair& pair, uint8_t protocol) noexcept;

uint32_t symmetric_flow_hash(std::span<const std::byte> frame, int link_type) noexcept;

}  // namespace taprec
