#include "drivers/flow_hash.hpp"

#include <pcap/dlt.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace taprec {
namespace {

constexpr uint16_t ethertype_ipv4 = 0x0800;
constexpr uint16_t ethertype_ipv6 = 0x86dd;
constexpr uint16_t ethertype_vlan = 0x8100;
constexpr uint16_t ethertype_qinq = 0x88a8;
constexpr uint8_t proto_tcp = 6;
constexpr uint8_t proto_udp = 17;
constexpr uint8_t proto_sctp = 132;

uint16_t load_be16(const std::byte* p) noexcept {
    return uint16_t((uint16_t(p[0]) << 8) | uint16_t(p[1]));
}

uint64_t mix(uint64_t x) noexcept {  // splitmix64 finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// An endpoint: address bytes (IPv4 in the first 4) and port.
struct Endpoint {
    std::array<std::byte, 16> addr{};
    uint16_t port = 0;
    auto operator<=>(const Endpoint&) const = default;
};

uint32_t hash_pair(Endpoint x, Endpoint y, uint8_t proto) noexcept {
    if (y < x) std::swap(x, y);
    uint64_t words[5];
    std::memcpy(words, x.addr.data(), 16);
    std::memcpy(words + 2, y.addr.data(), 16);
    words[4] = (uint64_t(x.port) << 32) | (uint64_t(y.port) << 16) | proto;
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint64_t w : words) h = mix(h ^ w);
    return static_cast<uint32_t>(h);
}

bool has_ports(uint8_t proto) noexcept {
    return proto == proto_tcp || proto == proto_udp || proto == proto_sctp;
}

uint32_t hash_ipv4(std::span<const std::byte> ip) noexcept {
    if (ip.size() < 20) return 0;
    const size_t ihl = size_t(uint8_t(ip[0]) & 0x0f) * 4;
    const uint8_t proto = uint8_t(ip[9]);
    const bool fragment = (load_be16(&ip[6]) & 0x3fff) != 0;  // MF set or an offset
    Endpoint src, dst;
    std::memcpy(src.addr.data(), &ip[12], 4);
    std::memcpy(dst.addr.data(), &ip[16], 4);
    if (!fragment && has_ports(proto) && ihl >= 20 && ip.size() >= ihl + 4) {
        src.port = load_be16(&ip[ihl]);
        dst.port = load_be16(&ip[ihl + 2]);
    }
    return hash_pair(src, dst, fragment ? 0 : proto);
}

uint32_t hash_ipv6(std::span<const std::byte> ip) noexcept {
    if (ip.size() < 40) return 0;
    Endpoint src, dst;
    std::memcpy(src.addr.data(), &ip[8], 16);
    std::memcpy(dst.addr.data(), &ip[24], 16);
    uint8_t next = uint8_t(ip[6]);
    size_t offset = 40;
    // Walk extension headers to the transport header; a fragment header means no ports.
    for (int hops = 0; hops < 8; ++hops) {
        if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
            if (ip.size() < offset + 8) return hash_pair(src, dst, 0);
            next = uint8_t(ip[offset]);
            offset += (size_t(uint8_t(ip[offset + 1])) + 1) * 8;
            continue;
        }
        if (next == 44) return hash_pair(src, dst, 0);  // fragment
        break;
    }
    if (has_ports(next) && ip.size() >= offset + 4) {
        src.port = load_be16(&ip[offset]);
        dst.port = load_be16(&ip[offset + 2]);
    }
    return hash_pair(src, dst, next);
}

uint32_t hash_l3(uint16_t ethertype, std::span<const std::byte> payload) noexcept {
    if (ethertype == ethertype_ipv4) return hash_ipv4(payload);
    if (ethertype == ethertype_ipv6) return hash_ipv6(payload);
    return 0;
}

uint32_t hash_ethernet(std::span<const std::byte> frame) noexcept {
    if (frame.size() < 14) return 0;
    size_t offset = 12;
    uint16_t ethertype = load_be16(&frame[offset]);
    while ((ethertype == ethertype_vlan || ethertype == ethertype_qinq) &&
           frame.size() >= offset + 6) {
        offset += 4;
        ethertype = load_be16(&frame[offset]);
    }
    offset += 2;
    if (ethertype == ethertype_ipv4 || ethertype == ethertype_ipv6)
        return hash_l3(ethertype, frame.subspan(offset));
    // Not IP: keep each pair of stations together.
    Endpoint a, b;
    std::memcpy(a.addr.data(), &frame[0], 6);
    std::memcpy(b.addr.data(), &frame[6], 6);
    return hash_pair(a, b, 0);
}

}  // namespace

uint32_t symmetric_flow_hash(std::span<const std::byte> frame, int link_type) noexcept {
    switch (link_type) {
    case DLT_EN10MB:
        return hash_ethernet(frame);
    case DLT_LINUX_SLL:
        if (frame.size() < 16) return 0;
        return hash_l3(load_be16(&frame[14]), frame.subspan(16));
    case DLT_RAW:
    case 228:  // LINKTYPE_IPV4
    case 229:  // LINKTYPE_IPV6
        if (frame.empty()) return 0;
        return (uint8_t(frame[0]) >> 4) == 6 ? hash_ipv6(frame) : hash_ipv4(frame);
    default:
        return 0;
    }
}

}  // namespace taprec
