#include "drivers/flow_hash.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "drivers/packet_headers.hpp"

namespace taprec {
namespace {

uint64_t mix(uint64_t x) noexcept {  // splitmix64 finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint32_t hash_of(const std::array<uint8_t, 16>& src_addr, uint16_t src_port,
                 const std::array<uint8_t, 16>& dst_addr, uint16_t dst_port,
                 uint8_t protocol) noexcept {
    EndpointPair pair;
    order_endpoints(src_addr, src_port, dst_addr, dst_port, pair);
    return static_cast<uint32_t>(endpoint_pair_hash(pair, protocol));
}

}  // namespace

bool order_endpoints(const std::array<uint8_t, 16>& src_addr, uint16_t src_port,
                     const std::array<uint8_t, 16>& dst_addr, uint16_t dst_port,
                     EndpointPair& pair) noexcept {
    const bool src_is_low = std::tie(src_addr, src_port) <= std::tie(dst_addr, dst_port);
    pair.low_addr = src_is_low ? src_addr : dst_addr;
    pair.high_addr = src_is_low ? dst_addr : src_addr;
    pair.low_port = src_is_low ? src_port : dst_port;
    pair.high_port = src_is_low ? dst_port : src_port;
    return src_is_low;
}

// Ordering the endpoints first is what makes the hash the same in both directions.
uint64_t endpoint_pair_hash(const EndpointPair& pair, uint8_t protocol) noexcept {
    uint64_t words[5];
    std::memcpy(words, pair.low_addr.data(), 16);
    std::memcpy(words + 2, pair.high_addr.data(), 16);
    words[4] = (uint64_t(pair.low_port) << 32) | (uint64_t(pair.high_port) << 16) | protocol;
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint64_t w : words) h = mix(h ^ w);
    return h;
}

uint32_t symmetric_flow_hash(std::span<const std::byte> frame, int link_type) noexcept {
    const PacketHeaders h = parse_headers(frame, link_type);
    if (h.network == PacketHeaders::Network::none) {
        if (!h.has_macs) return 0;
        // Not IP: keep each pair of stations together.
        std::array<uint8_t, 16> src{}, dst{};
        std::copy(h.src_mac.begin(), h.src_mac.end(), src.begin());
        std::copy(h.dst_mac.begin(), h.dst_mac.end(), dst.begin());
        return hash_of(src, 0, dst, 0, 0);
    }
    // Fragments hash on addresses alone, so all fragments of a datagram stay together.
    if (h.fragment) return hash_of(h.src_addr, 0, h.dst_addr, 0, 0);
    if (h.has_ports) return hash_of(h.src_addr, h.src_port, h.dst_addr, h.dst_port, h.protocol);
    return hash_of(h.src_addr, 0, h.dst_addr, 0, h.protocol);
}

}  // namespace taprec
