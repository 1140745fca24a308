#include "pipeline/flow_hash.hpp"

#include <algorithm>

#include "pipeline/packet_headers.hpp"

namespace taprec {
namespace {

uint32_t hash_of(const std::array<uint8_t, 16>& src_addr, uint16_t src_port,
                 const std::array<uint8_t, 16>& dst_addr, uint16_t dst_port,
                 uint8_t protocol) noexcept {
    EndpointPair pair;
    order_endpoints(src_addr, src_port, dst_addr, dst_port, pair);
    return static_cast<uint32_t>(endpoint_pair_hash(pair, protocol));
}

}  // namespace

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
