#include "pipeline/flow_hash.hpp"

#include "pipeline/packet_headers.hpp"

namespace taprec {
namespace {

uint32_t hash_of(const IpAddress& src_addr, uint16_t src_port, const IpAddress& dst_addr,
                 uint16_t dst_port, uint8_t protocol) noexcept {
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
        const auto station = [](const std::array<uint8_t, 6>& mac) {
            uint64_t v = 0;
            for (uint8_t b : mac) v = v << 8 | b;
            return IpAddress{v << 16, 0};
        };
        return hash_of(station(h.src_mac), 0, station(h.dst_mac), 0, 0);
    }
    // Fragments hash on addresses alone, so all fragments of a datagram stay together.
    if (h.fragment) return hash_of(h.src_addr, 0, h.dst_addr, 0, 0);
    if (h.has_ports) return hash_of(h.src_addr, h.src_port, h.dst_addr, h.dst_port, h.protocol);
    return hash_of(h.src_addr, 0, h.dst_addr, 0, h.protocol);
}

}  // namespace taprec
