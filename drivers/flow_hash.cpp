#include "drivers/flow_hash.hpp"

#include <algorithm>
#include <array>
#include <cstring>

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

struct Endpoint {
    std::array<uint8_t, 16> addr{};
    uint16_t port = 0;
    auto operator<=>(const Endpoint&) const = default;
};

// Order the two endpoints first: that is what makes the hash the same in both directions.
uint32_t hash_pair(Endpoint x, Endpoint y, uint8_t protocol) noexcept {
    if (y < x) std::swap(x, y);
    uint64_t words[5];
    std::memcpy(words, x.addr.data(), 16);
    std::memcpy(words + 2, y.addr.data(), 16);
    words[4] = (uint64_t(x.port) << 32) | (uint64_t(y.port) << 16) | protocol;
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint64_t w : words) h = mix(h ^ w);
    return static_cast<uint32_t>(h);
}

}  // namespace

uint32_t symmetric_flow_hash(std::span<const std::byte> frame, int link_type) noexcept {
    const PacketHeaders h = parse_headers(frame, link_type);
    Endpoint src, dst;
    if (h.network == PacketHeaders::Network::none) {
        if (!h.has_macs) return 0;
        // Not IP: keep each pair of stations together.
        std::copy(h.src_mac.begin(), h.src_mac.end(), src.addr.begin());
        std::copy(h.dst_mac.begin(), h.dst_mac.end(), dst.addr.begin());
        return hash_pair(src, dst, 0);
    }
    src.addr = h.src_addr;
    dst.addr = h.dst_addr;
    // Fragments hash on addresses alone, so all fragments of a datagram stay together.
    if (h.fragment) return hash_pair(src, dst, 0);
    if (h.has_ports) {
        src.port = h.src_port;
        dst.port = h.dst_port;
    }
    return hash_pair(src, dst, h.protocol);
}

}  // namespace taprec
