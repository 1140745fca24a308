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

// `link_type` is the DLT_* of the frame (Ethernet, Linux SLL, raw IP).
PacketHeaders parse_headers(std::span<const std::byte> frame, int link_type) noexcept;

}  // namespace taprec
