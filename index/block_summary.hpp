// BlockSummary: what one block of a pcap file holds, as `taprec query` needs it to skip the
// block: its time span, the IP protocols (exactly, 256 bits), and the addresses (IPv4, IPv6) and
// ports in a Bloom filter. The filter can answer "maybe" for a key the block lacks (the false
// positive rate is measured in bench/query and written in README), never "no" for one it holds.
//
// The filter starts at max_bloom_bits and is folded in halves when the block is sealed while it
// stays sparse: bit = hash & (bits - 1), so a folded filter answers for the same keys, and a
// block of a quiet link costs a few dozen bytes instead of 4 KiB.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace taprec::block_index {

inline constexpr uint32_t max_bloom_bits = 32768;
inline constexpr uint32_t min_bloom_bits = 256;
inline constexpr int bloom_hashes = 3;

// Facts about the packets of a block besides their keys.
enum BlockFlag : uint32_t {
    has_ipv4 = 1u << 0,
    has_ipv6 = 1u << 1,
    has_arp = 1u << 2,   // ARP or RARP
    has_vlan = 1u << 3,  // at least one 802.1Q / 802.1ad tag
    // A frame whose headers could not be read as far as a filter might look (cut short, a link
    // type the index does not know): no key is trusted to be missing, the block must be read.
    must_read = 1u << 4,
};

// The keys, hashed; the query hashes the addresses and ports of a filter the same way.
// Inline: the writer hashes up to four keys a packet.
// murmur3's finalizer: every input bit moves every output bit.
inline uint64_t mix_key(uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}
inline uint64_t ipv4_key(const uint8_t* address) noexcept {  // 4 bytes, network order
    uint32_t v;
    std::memcpy(&v, address, 4);
    return mix_key(uint64_t{v} ^ 0x4000000000000004ULL);
}
inline uint64_t ipv6_key(const uint8_t* address) noexcept {  // 16 bytes
    uint64_t a, b;
    std::memcpy(&a, address, 8);
    std::memcpy(&b, address + 8, 8);
    return mix_key(mix_key(a ^ 0x6000000000000006ULL) ^ b);
}
inline uint64_t port_key(uint16_t port) noexcept { return mix_key(uint64_t{port} | 0x5000000000000000ULL); }

struct BlockSummary {
    uint64_t offset = 0;    // file offset of the block's first record
    uint64_t end = 0;       // file offset just past its last record
    uint64_t first_ns = 0;  // time of the record at `offset` (checks the index fits the file)
    uint64_t min_ns = 0;    // earliest and latest time in the block (late packets included)
    uint64_t max_ns = 0;
    uint32_t packets = 0;
    uint32_t flags = 0;
    std::array<uint64_t, 4> protocols{};  // bit n: some packet carries IP protocol n
    uint32_t bloom_bits = max_bloom_bits;
    std::array<uint64_t, max_bloom_bits / 64> bloom{};
    // seen_flow()'s memory, two ways a set; `rest` always has bit 63 set, so a cleared way never
    // matches. 2048 flows in 32 KiB: a block repeats the flows of a busy link many times, and a
    // miss costs four key hashes and twelve bit sets, so the table is sized for the flows, not
    // for L1: one way of 256 missed 16 % of the echo bench's packets (500 connections) and a
    // table smaller than the flows a link cycles through (bench/loss sends 1024) misses them all.
    static constexpr int recent_flow_set_bits = 10;
    struct RecentFlowSet {
        uint64_t addresses[2];
        uint64_t rest[2];
    };
    std::array<RecentFlowSet, size_t{1} << recent_flow_set_bits> recent_flows{};

    void clear() noexcept;
    void add_key(uint64_t key) noexcept {
        const uint32_t h1 = uint32_t(key), h2 = uint32_t(key >> 32) | 1u;
        for (int i = 0; i < bloom_hashes; ++i) {
            const uint32_t bit = (h1 + uint32_t(i) * h2) & (bloom_bits - 1);
            bloom[bit / 64] |= uint64_t{1} << (bit % 64);
        }
    }
    bool may_hold(uint64_t key) const noexcept {
        const uint32_t h1 = uint32_t(key), h2 = uint32_t(key >> 32) | 1u;
        for (int i = 0; i < bloom_hashes; ++i) {
            const uint32_t bit = (h1 + uint32_t(i) * h2) & (bloom_bits - 1);
            if ((bloom[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
        }
        return true;
    }
    void add_protocol(uint8_t protocol) noexcept {
        protocols[protocol / 64] |= uint64_t{1} << (protocol % 64);
    }
    bool has_protocol(uint8_t protocol) const noexcept {
        return (protocols[protocol / 64] >> (protocol % 64)) & 1u;
    }
    // Record one packet's time (as stored in the file) at `record_offset`, `record_size` bytes.
    void add_record(uint64_t ts_ns, uint64_t record_offset, uint64_t record_size) noexcept {
        if (packets == 0) {
            offset = record_offset;
            first_ns = min_ns = max_ns = ts_ns;
        }
        min_ns = ts_ns < min_ns ? ts_ns : min_ns;
        max_ns = ts_ns > max_ns ? ts_ns : max_ns;
        end = record_offset + record_size;
        ++packets;
    }
    // An IPv4 flow (addresses, protocol, ports; both directions alike) whose keys this block
    // holds already: a block of a busy link repeats its flows many times, and a repeat costs a
    // compare instead of four hashes.
    // Returns true when it was there; remembers it otherwise.
    bool seen_flow(uint64_t addresses, uint64_t rest) noexcept {
        const size_t set = size_t(((addresses * 0x9e3779b97f4a7c15ULL) ^ (rest * 0xc2b2ae3d27d4eb4fULL)) >>
                                  (64 - recent_flow_set_bits));
        RecentFlowSet& ways = recent_flows[set];
        if ((ways.addresses[0] == addresses && ways.rest[0] == rest) ||
            (ways.addresses[1] == addresses && ways.rest[1] == rest))
            return true;
        // The newer way moves over; the older one leaves.
        ways.addresses[1] = ways.addresses[0];
        ways.rest[1] = ways.rest[0];
        ways.addresses[0] = addresses;
        ways.rest[0] = rest;
        return false;
    }
    // Halve the filter while it stays sparse (at most a sixteenth of its bits set: a false
    // positive rate of about (1/16)^3 = 0.02 % per key; bench/query measures it).
    void fold() noexcept;
};

// Add the keys of one frame (`link_type`: LINKTYPE_* of the file) to `summary`. Conservative
// by construction: every address, port and protocol that libpcap's filters for host, port,
// portrange, proto, tcp/udp/..., ip, ip6, arp and vlan could read in this frame is added, and a
// frame cut short of where they could read marks the block must_read.
// The writer calls it for every packet, so the common frame (Ethernet, untagged IPv4) is handled
// inline; the rest (add_other_frame_keys) behind a call.
inline void add_frame_keys(std::span<const std::byte> frame, uint32_t link_type,
                           BlockSummary& summary) noexcept;
void add_other_frame_keys(std::span<const std::byte> frame, uint32_t link_type,
                          BlockSummary& summary) noexcept;

namespace detail {

inline uint16_t be16(const std::byte* p) noexcept { return uint16_t(uint16_t(p[0]) << 8 | uint16_t(p[1])); }
inline bool carries_ports(uint8_t protocol) noexcept {
    return protocol == 6 || protocol == 17 || protocol == 132;
}

// seen_flow()'s key of an IPv4 flow with ports: addresses and ports as the frame holds them,
// put in one order (both directions alike), and the protocol.
inline bool seen_ipv4_flow(BlockSummary& s, uint32_t source, uint32_t destination,
                           uint16_t source_port, uint16_t destination_port, uint8_t protocol) noexcept {
    if (source > destination || (source == destination && source_port > destination_port)) {
        std::swap(source, destination);
        std::swap(source_port, destination_port);
    }
    return s.seen_flow(uint64_t{source} << 32 | destination,
                       uint64_t{source_port} << 16 | destination_port | uint64_t{protocol} << 32 |
                           uint64_t{1} << 63);
}

// The keys of an IPv4 header at `ip` (`ports`: the header's protocol carries ports and this is
// the first or only fragment; `ports_at`: where they are, null when the frame was cut before).
inline void insert_ipv4_keys(BlockSummary& s, const std::byte* ip, uint8_t protocol, bool ports,
                             const std::byte* ports_at) noexcept {
    s.flags |= has_ipv4;
    s.add_protocol(protocol);
    s.add_key(ipv4_key(reinterpret_cast<const uint8_t*>(ip + 12)));
    s.add_key(ipv4_key(reinterpret_cast<const uint8_t*>(ip + 16)));
    if (!ports) return;
    if (ports_at == nullptr) {
        s.flags |= must_read;
        return;
    }
    s.add_key(port_key(be16(ports_at)));
    s.add_key(port_key(be16(ports_at + 2)));
}

// libpcap reads an IPv4 header without checking its version: the protocol at 9, the addresses
// at 12 and 16, and the ports (unfragmented, or first fragment) after 4 * IHL, whatever IHL says.
// `l3` is the header's offset in `frame`.
inline void add_ipv4_keys(std::span<const std::byte> frame, size_t l3, BlockSummary& s) noexcept {
    if (frame.size() < l3 + 20) [[unlikely]] {
        s.flags |= has_ipv4 | must_read;
        return;
    }
    const std::byte* ip = frame.data() + l3;
    const uint8_t protocol = uint8_t(ip[9]);
    const bool ports = carries_ports(protocol) && (be16(ip + 6) & 0x1fff) == 0;
    const size_t ports_at = l3 + size_t(uint8_t(ip[0]) & 0x0f) * 4;
    const bool ports_captured = ports_at + 4 <= frame.size();
    if (ports && ports_captured) [[likely]] {
        uint32_t source, destination;
        uint16_t source_port, destination_port;
        std::memcpy(&source, ip + 12, 4);
        std::memcpy(&destination, ip + 16, 4);
        std::memcpy(&source_port, frame.data() + ports_at, 2);
        std::memcpy(&destination_port, frame.data() + ports_at + 2, 2);
        if (seen_ipv4_flow(s, source, destination, source_port, destination_port, protocol)) return;
    }
    insert_ipv4_keys(s, ip, protocol, ports, ports_captured ? frame.data() + ports_at : nullptr);
}

// Ethernet, untagged IPv4 with a 20-byte header, the ports captured: what most frames of a link
// are, read at fixed offsets. The same keys as add_ipv4_keys(frame, 14, s) (a test compares
// them); false for any other frame, which add_ipv4_keys or add_other_frame_keys then takes.
inline bool add_common_ethernet_ipv4_keys(std::span<const std::byte> frame, BlockSummary& s) noexcept {
    constexpr size_t ip = 14, ports = ip + 20;
    if (frame.size() < ports + 4) return false;
    const std::byte* f = frame.data();
    // Ethertype 0x0800 then version 4, IHL 5: bytes 08 00 45.
    if (f[12] != std::byte{0x08} || f[13] != std::byte{0x00} || f[14] != std::byte{0x45}) return false;
    const uint8_t protocol = uint8_t(f[ip + 9]);
    if (!carries_ports(protocol) || (be16(f + ip + 6) & 0x1fff) != 0) return false;
    uint64_t addresses;  // source then destination, as stored
    uint32_t port_pair;
    std::memcpy(&addresses, f + ip + 12, 8);
    std::memcpy(&port_pair, f + ports, 4);
    if (seen_ipv4_flow(s, uint32_t(addresses), uint32_t(addresses >> 32), uint16_t(port_pair),
                       uint16_t(port_pair >> 16), protocol))
        return true;
    insert_ipv4_keys(s, f + ip, protocol, true, f + ports);
    return true;
}

}  // namespace detail

inline void add_frame_keys(std::span<const std::byte> frame, uint32_t link_type,
                           BlockSummary& summary) noexcept {
    constexpr uint32_t linktype_ethernet = 1;
    if (link_type == linktype_ethernet && detail::add_common_ethernet_ipv4_keys(frame, summary))
        [[likely]] return;
    add_other_frame_keys(frame, link_type, summary);
}

}  // namespace taprec::block_index
