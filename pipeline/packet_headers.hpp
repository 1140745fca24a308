// parse_headers(): the L2-L4 fields the pipeline looks at, from the raw bytes of a frame.
//
// One parser for every stage that needs to look inside a packet: the software flow hash of the
// rx thread and the TCP loss estimator of the workers. It never reads past `frame`, never
// allocates, and gives up (leaving fields unset) on anything it does not understand.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <cstring>

#include <pcap/dlt.h>

namespace taprec {

// An IPv4 or IPv6 address as one 128-bit number: its bytes in network order read big-endian, so
// numbers order as the bytes do, and an IPv4 address is the top 32 bits (the first 4 bytes).
// Whole words because every reader compares or hashes them as words: bytes stored one by one and
// read back as words would stall each load on store forwarding (profiled in the estimator).
struct IpAddress {
    uint64_t high = 0;
    uint64_t low = 0;

    static IpAddress ipv4(uint32_t address) noexcept { return {uint64_t(address) << 32, 0}; }
    std::array<uint8_t, 16> bytes() const noexcept {
        std::array<uint8_t, 16> b{};
        for (int i = 0; i < 8; ++i) {
            b[size_t(i)] = uint8_t(high >> (56 - 8 * i));
            b[size_t(8 + i)] = uint8_t(low >> (56 - 8 * i));
        }
        return b;
    }
    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend bool operator<(const IpAddress& x, const IpAddress& y) noexcept {
        return x.high != y.high ? x.high < y.high : x.low < y.low;
    }
};

struct PacketHeaders {
    enum class Network : uint8_t { none, ipv4, ipv6 };

    Network network = Network::none;
    uint8_t protocol = 0;            // IP protocol of the transport header (after extension headers)
    bool fragment = false;           // part of a fragmented datagram
    bool later_fragment = false;     // not the first fragment: no transport header
    bool has_ports = false;          // src_port/dst_port valid (TCP, UDP, SCTP, first fragment)
    bool has_tcp = false;            // the tcp_* fields are valid
    IpAddress src_addr;
    IpAddress dst_addr;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    std::array<uint8_t, 6> src_mac{};
    std::array<uint8_t, 6> dst_mac{};
    bool has_macs = false;

    uint32_t tcp_seq = 0;
    uint32_t tcp_ack = 0;
    uint8_t tcp_flags = 0;
    uint32_t tcp_payload = 0;        // payload bytes by the IP length (not the captured length)

    static constexpr uint8_t tcp_fin = 0x01, tcp_syn = 0x02, tcp_rst = 0x04, tcp_ack_flag = 0x10;
};

// Big-endian fields of a frame at byte offsets; the caller checks has() (or the size) first.
// What parse_headers() and the estimator's fixed-offset path read frames with.
class FrameReader {
public:
    explicit FrameReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
    bool has(size_t offset, size_t n) const noexcept {
        return offset <= bytes_.size() && n <= bytes_.size() - offset;
    }
    uint8_t u8(size_t offset) const noexcept { return uint8_t(bytes_[offset]); }
    uint16_t be16(size_t offset) const noexcept {
        return uint16_t(uint16_t(u8(offset)) << 8 | u8(offset + 1));
    }
    // One load each, byte-swapped.
    uint32_t be32(size_t offset) const noexcept {
        uint32_t v;
        std::memcpy(&v, bytes_.data() + offset, 4);
        return __builtin_bswap32(v);
    }
    uint64_t be64(size_t offset) const noexcept {
        uint64_t v;
        std::memcpy(&v, bytes_.data() + offset, 8);
        return __builtin_bswap64(v);
    }
    void copy(size_t offset, uint8_t* dst, size_t n) const noexcept {
        std::memcpy(dst, bytes_.data() + offset, n);
    }
    size_t size() const noexcept { return bytes_.size(); }

private:
    std::span<const std::byte> bytes_;
};

// `link_type` is the DLT_* of the frame (Ethernet, Linux SLL, raw IP). Inline: the workers call it
// for every packet and read a few of its fields, so the compiler drops the stores of the rest.
inline PacketHeaders parse_headers(std::span<const std::byte> frame, int link_type) noexcept;

namespace packet_headers_detail {

inline constexpr uint16_t ethertype_ipv4 = 0x0800;
inline constexpr uint16_t ethertype_ipv6 = 0x86dd;
inline constexpr uint16_t ethertype_vlan = 0x8100;
inline constexpr uint16_t ethertype_qinq = 0x88a8;
inline constexpr uint16_t ethertype_qinq_old = 0x9100;
inline constexpr uint16_t ethertype_mpls = 0x8847;
inline constexpr uint16_t ethertype_mpls_multicast = 0x8848;
inline constexpr uint8_t proto_tcp = 6;
inline constexpr uint8_t proto_udp = 17;
inline constexpr uint8_t proto_sctp = 132;
inline constexpr int max_vlan_tags = 4;
inline constexpr int max_mpls_labels = 8;
inline constexpr int max_ipv6_extensions = 8;


inline bool has_ports(uint8_t protocol) noexcept {
    return protocol == proto_tcp || protocol == proto_udp || protocol == proto_sctp;
}

// The transport header at `offset`; `ip_payload_end` bounds the TCP payload by the IP length.
inline void parse_transport(const FrameReader& r, size_t offset, size_t ip_payload_end, PacketHeaders& h) {
    if (h.later_fragment || !has_ports(h.protocol) || !r.has(offset, 4)) return;
    h.src_port = r.be16(offset);
    h.dst_port = r.be16(offset + 2);
    h.has_ports = true;
    if (h.protocol != proto_tcp || h.fragment || !r.has(offset, 20)) return;
    const size_t header_len = size_t(r.u8(offset + 12) >> 4) * 4;
    if (header_len < 20) return;
    h.tcp_seq = r.be32(offset + 4);
    h.tcp_ack = r.be32(offset + 8);
    h.tcp_flags = r.u8(offset + 13);
    h.tcp_payload = ip_payload_end > offset + header_len ? uint32_t(ip_payload_end - offset - header_len) : 0;
    h.has_tcp = true;
}

inline void parse_ipv4(const FrameReader& r, size_t offset, PacketHeaders& h) {
    if (!r.has(offset, 20) || (r.u8(offset) >> 4) != 4) return;
    const size_t ihl = size_t(r.u8(offset) & 0x0f) * 4;
    if (ihl < 20) return;
    h.network = PacketHeaders::Network::ipv4;
    h.src_addr = IpAddress::ipv4(r.be32(offset + 12));
    h.dst_addr = IpAddress::ipv4(r.be32(offset + 16));
    h.protocol = r.u8(offset + 9);
    const uint16_t flags_offset = r.be16(offset + 6);
    const bool more_fragments = (flags_offset & 0x2000) != 0;
    const uint16_t fragment_offset = flags_offset & 0x1fff;
    h.fragment = more_fragments || fragment_offset != 0;
    h.later_fragment = fragment_offset != 0;
    // A total length of 0 is TSO/BIG TCP: the frame is the datagram.
    const uint16_t total = r.be16(offset + 2);
    const size_t end = total == 0 ? r.size() : offset + total;
    parse_transport(r, offset + ihl, end, h);
}

inline void parse_ipv6(const FrameReader& r, size_t offset, PacketHeaders& h) {
    if (!r.has(offset, 40) || (r.u8(offset) >> 4) != 6) return;
    h.network = PacketHeaders::Network::ipv6;
    h.src_addr = {r.be64(offset + 8), r.be64(offset + 16)};
    h.dst_addr = {r.be64(offset + 24), r.be64(offset + 32)};
    const uint16_t payload = r.be16(offset + 4);
    const size_t end = payload == 0 ? r.size() : offset + 40 + payload;  // 0: jumbogram
    uint8_t next = r.u8(offset + 6);
    size_t at = offset + 40;
    for (int i = 0; i < max_ipv6_extensions; ++i) {
        if (next == 0 || next == 43 || next == 60 || next == 135 || next == 139 || next == 140) {
            if (!r.has(at, 8)) return;  // hop-by-hop, routing, dest options, mobility, HIP, shim6
            next = r.u8(at);
            at += (size_t(r.u8(at + 1)) + 1) * 8;
            continue;
        }
        if (next == 44) {  // fragment
            if (!r.has(at, 8)) return;
            const uint16_t offset_flags = r.be16(at + 2);
            h.fragment = true;
            h.later_fragment = (offset_flags & 0xfff8) != 0;
            next = r.u8(at);
            at += 8;
            continue;
        }
        if (next == 51) {  // authentication header: length in 4-byte units, minus 2
            if (!r.has(at, 8)) return;
            next = r.u8(at);
            at += (size_t(r.u8(at + 1)) + 2) * 4;
            continue;
        }
        break;
    }
    h.protocol = next;
    parse_transport(r, at, end, h);
}

inline void parse_network(const FrameReader& r, uint16_t ethertype, size_t offset, PacketHeaders& h) {
    if (ethertype == ethertype_ipv4) parse_ipv4(r, offset, h);
    else if (ethertype == ethertype_ipv6) parse_ipv6(r, offset, h);
}

// MPLS: skip the label stack, then guess the payload from the IP version nibble.
inline void parse_mpls(const FrameReader& r, size_t offset, PacketHeaders& h) {
    for (int i = 0; i < max_mpls_labels; ++i) {
        if (!r.has(offset, 4)) return;
        const bool bottom = (r.u8(offset + 2) & 0x01) != 0;
        offset += 4;
        if (bottom) break;
    }
    if (!r.has(offset, 1)) return;
    const uint8_t version = r.u8(offset) >> 4;
    if (version == 4) parse_ipv4(r, offset, h);
    else if (version == 6) parse_ipv6(r, offset, h);
}

inline void parse_ethernet(const FrameReader& r, PacketHeaders& h) {
    if (!r.has(0, 14)) return;
    r.copy(0, h.dst_mac.data(), 6);
    r.copy(6, h.src_mac.data(), 6);
    h.has_macs = true;
    size_t offset = 12;
    uint16_t ethertype = r.be16(offset);
    for (int i = 0; i < max_vlan_tags; ++i) {
        if (ethertype != ethertype_vlan && ethertype != ethertype_qinq &&
            ethertype != ethertype_qinq_old)
            break;
        if (!r.has(offset, 6)) return;
        offset += 4;
        ethertype = r.be16(offset);
    }
    offset += 2;
    if (ethertype == ethertype_mpls || ethertype == ethertype_mpls_multicast)
        parse_mpls(r, offset, h);
    else
        parse_network(r, ethertype, offset, h);
}

}  // namespace packet_headers_detail

inline PacketHeaders parse_headers(std::span<const std::byte> frame, int link_type) noexcept {
    using namespace packet_headers_detail;
    PacketHeaders h;
    const FrameReader r(frame);
    switch (link_type) {
    case DLT_EN10MB:
        parse_ethernet(r, h);
        break;
    case DLT_LINUX_SLL:
        if (r.has(0, 16)) parse_network(r, r.be16(14), 16, h);
        break;
    case DLT_RAW:
    case 228:  // LINKTYPE_IPV4
    case 229:  // LINKTYPE_IPV6
        if (r.has(0, 1)) {
            if ((r.u8(0) >> 4) == 6) parse_ipv6(r, 0, h);
            else parse_ipv4(r, 0, h);
        }
        break;
    case DLT_NULL:
    case DLT_LOOP:
        // BSD loopback: a 4-byte address family in either byte order.
        if (r.has(0, 5)) {
            if ((r.u8(4) >> 4) == 6) parse_ipv6(r, 4, h);
            else if ((r.u8(4) >> 4) == 4) parse_ipv4(r, 4, h);
        }
        break;
    default:
        break;
    }
    return h;
}


}  // namespace taprec
