// The frames taprec-gen sends and bench/seqcheck reads back: Ethernet, IPv4, UDP, and a payload
// that says which TAP direction the frame travelled and its sequence number in that direction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bench {

inline constexpr uint32_t payload_magic = 0x54505247;  // "TPRG"
inline constexpr size_t header_bytes = 14 + 20 + 8;    // Ethernet + IPv4 + UDP
inline constexpr size_t payload_offset = header_bytes;
inline constexpr size_t tag_bytes = 16;                // magic, direction, flow, sequence
inline constexpr size_t min_frame = 60;                // Ethernet minimum without FCS

struct Tag {
    uint8_t direction;   // 0 = a (client to server), 1 = b (server to client)
    uint16_t flow;
    uint64_t sequence;   // per direction, from 0
};

inline uint16_t checksum16(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
}

// Flow `flow`'s client (10.0.F.F, port P) and server (10.1.0.1:4789). The client port is the
// flow number scrambled (a bijection onto 1024..65535 for the 65536 flows a uint16_t names, up to
// 64512): ports that moved in step with the address bits would cancel out in a Toeplitz hash
// with the symmetric key (period 16 bits), putting every flow on one RSS queue.
inline uint32_t client_ip(uint16_t flow) { return uint32_t(10) << 24 | uint32_t(flow >> 8) << 8 | (flow & 0xff); }
inline constexpr uint32_t server_ip = uint32_t(10) << 24 | uint32_t(1) << 16 | 1;
inline uint16_t client_port(uint16_t flow) { return uint16_t(1024 + (uint32_t(flow) * 40507u) % 64512u); }
inline constexpr uint16_t server_port = 4789;

// Write a whole frame of `length` bytes for flow `flow` in `direction`; both directions of a
// flow carry the same 5-tuple reversed, so symmetric RSS puts them on one worker.
inline void build_frame(uint8_t* f, size_t length, const Tag& tag) {
    std::memset(f, 0, length);
    const uint8_t client_mac[6] = {0x02, 0, 0, 0, 0, 1}, server_mac[6] = {0x02, 0, 0, 0, 0, 2};
    const bool a = tag.direction == 0;
    std::memcpy(f, a ? server_mac : client_mac, 6);
    std::memcpy(f + 6, a ? client_mac : server_mac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t* ip = f + 14;
    const uint16_t ip_len = uint16_t(length - 14);
    ip[0] = 0x45;
    ip[2] = uint8_t(ip_len >> 8);
    ip[3] = uint8_t(ip_len);
    ip[8] = 64;
    ip[9] = 17;
    const uint32_t client = client_ip(tag.flow);
    const uint8_t client_bytes[4] = {uint8_t(client >> 24), uint8_t(client >> 16), uint8_t(client >> 8), uint8_t(client)};
    const uint8_t server_bytes[4] = {uint8_t(server_ip >> 24), uint8_t(server_ip >> 16), uint8_t(server_ip >> 8),
                                     uint8_t(server_ip)};
    std::memcpy(ip + 12, a ? client_bytes : server_bytes, 4);
    std::memcpy(ip + 16, a ? server_bytes : client_bytes, 4);
    const uint16_t csum = checksum16(ip, 20);
    ip[10] = uint8_t(csum >> 8);
    ip[11] = uint8_t(csum);
    uint8_t* udp = ip + 20;
    const uint16_t sport = a ? client_port(tag.flow) : server_port;
    const uint16_t dport = a ? server_port : client_port(tag.flow);
    udp[0] = uint8_t(sport >> 8);
    udp[1] = uint8_t(sport);
    udp[2] = uint8_t(dport >> 8);
    udp[3] = uint8_t(dport);
    const uint16_t udp_len = uint16_t(ip_len - 20);
    udp[4] = uint8_t(udp_len >> 8);
    udp[5] = uint8_t(udp_len);
    uint8_t* payload = f + payload_offset;
    std::memcpy(payload, &payload_magic, 4);
    payload[4] = tag.direction;
    std::memcpy(payload + 6, &tag.flow, 2);
    std::memcpy(payload + 8, &tag.sequence, 8);
    // The rest of the payload repeats the sequence's low byte: a corrupted frame shows.
    for (size_t i = payload_offset + tag_bytes; i < length; ++i) f[i] = uint8_t(tag.sequence + i);
}

// Read the tag back; false when the frame is not one of ours or its filler is corrupted.
inline bool read_frame(const uint8_t* f, size_t caplen, size_t wire_len, Tag& tag, bool& corrupt) {
    corrupt = false;
    if (caplen < payload_offset + tag_bytes) return false;
    uint32_t magic;
    std::memcpy(&magic, f + payload_offset, 4);
    if (magic != payload_magic) return false;
    tag.direction = f[payload_offset + 4];
    std::memcpy(&tag.flow, f + payload_offset + 6, 2);
    std::memcpy(&tag.sequence, f + payload_offset + 8, 8);
    const size_t ip_len = size_t(f[16] << 8 | f[17]);
    if (ip_len + 14 != wire_len) corrupt = true;
    for (size_t i = payload_offset + tag_bytes; i < caplen; ++i)
        if (f[i] != uint8_t(tag.sequence + i)) {
            corrupt = true;
            break;
        }
    return true;
}

}  // namespace bench
