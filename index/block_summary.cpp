#include "index/block_summary.hpp"

#include <bit>
#include <utility>
#include <cstring>

namespace taprec::block_index {
namespace {

// LINKTYPE_* values of pcap file headers (and the DLT_RAW values some writers use instead).
constexpr uint32_t linktype_null = 0;
constexpr uint32_t linktype_ethernet = 1;
constexpr uint32_t dlt_raw_linux = 12;
constexpr uint32_t dlt_raw_bsd = 14;
constexpr uint32_t linktype_raw = 101;
constexpr uint32_t linktype_loop = 108;
constexpr uint32_t linktype_linux_sll = 113;
constexpr uint32_t linktype_ipv4 = 228;
constexpr uint32_t linktype_ipv6 = 229;
constexpr uint32_t linktype_linux_sll2 = 276;

constexpr uint16_t ethertype_ipv4 = 0x0800;
constexpr uint16_t ethertype_arp = 0x0806;
constexpr uint16_t ethertype_rarp = 0x8035;
constexpr uint16_t ethertype_ipv6 = 0x86dd;
constexpr int max_vlan_tags = 8;
constexpr int max_ipv6_extensions = 8;

class Frame {
public:
    explicit Frame(std::span<const std::byte> bytes) : bytes_(bytes) {}
    bool has(size_t offset, size_t n) const noexcept {
        return offset <= bytes_.size() && n <= bytes_.size() - offset;
    }
    uint8_t u8(size_t offset) const noexcept { return uint8_t(bytes_[offset]); }
    uint16_t be16(size_t offset) const noexcept { return uint16_t(u8(offset) << 8 | u8(offset + 1)); }
    const uint8_t* at(size_t offset) const noexcept {
        return reinterpret_cast<const uint8_t*>(bytes_.data()) + offset;
    }
    std::span<const std::byte> bytes() const noexcept { return bytes_; }

private:
    std::span<const std::byte> bytes_;
};

void add_ports(const Frame& f, size_t offset, BlockSummary& s) noexcept {
    if (!f.has(offset, 4)) {
        s.flags |= must_read;
        return;
    }
    s.add_key(port_key(f.be16(offset)));
    s.add_key(port_key(f.be16(offset + 2)));
}

void ipv4(const Frame& f, size_t l3, BlockSummary& s) noexcept { detail::add_ipv4_keys(f.bytes(), l3, s); }

// libpcap's ip6 primitives read the next header at 6 (or after one fragment header) and the
// ports right after the fixed header; the chain of extension headers is walked too, every next
// header value kept, so `ip6 proto 0` and a filter that walks the chain both find their block.
void ipv6(const Frame& f, size_t l3, BlockSummary& s) noexcept {
    s.flags |= has_ipv6;
    if (!f.has(l3, 40)) {
        s.flags |= must_read;
        return;
    }
    s.add_key(ipv6_key(f.at(l3 + 8)));
    s.add_key(ipv6_key(f.at(l3 + 24)));
    const uint8_t first = f.u8(l3 + 6);
    s.add_protocol(first);
    if (detail::carries_ports(first)) add_ports(f, l3 + 40, s);
    uint8_t next = first;
    size_t at = l3 + 40;
    int extensions = 0;
    for (;; ++extensions) {
        const bool hop_routing_options = next == 0 || next == 43 || next == 60 || next == 135 ||
                                         next == 139 || next == 140;
        if (!hop_routing_options && next != 44 && next != 51) break;
        if (extensions == max_ipv6_extensions || !f.has(at, 4)) {
            s.flags |= must_read;
            return;
        }
        size_t length = (size_t(f.u8(at + 1)) + 1) * 8;
        if (next == 51) length = (size_t(f.u8(at + 1)) + 2) * 4;
        const bool later_fragment = next == 44 && (f.be16(at + 2) & 0xfff8) != 0;
        if (next == 44) length = 8;
        next = f.u8(at);
        s.add_protocol(next);
        at += length;
        if (later_fragment) return;  // no transport header in this fragment
    }
    if (extensions != 0 && detail::carries_ports(next)) add_ports(f, at, s);
}

// ARP/RARP: libpcap's `host` reads the sender and target protocol addresses at 14 and 24.
void arp(const Frame& f, size_t l3, BlockSummary& s) noexcept {
    s.flags |= has_arp;
    if (!f.has(l3, 28)) {
        s.flags |= must_read;
        return;
    }
    s.add_key(ipv4_key(f.at(l3 + 14)));
    s.add_key(ipv4_key(f.at(l3 + 24)));
}

void network(const Frame& f, uint16_t ethertype, size_t l3, BlockSummary& s) noexcept {
    if (ethertype == ethertype_ipv4) ipv4(f, l3, s);
    else if (ethertype == ethertype_ipv6) ipv6(f, l3, s);
    else if (ethertype == ethertype_arp || ethertype == ethertype_rarp) arp(f, l3, s);
    // Any other ethertype: none of the primitives the query narrows by can match it.
}

bool is_vlan(uint16_t ethertype) noexcept {
    return ethertype == 0x8100 || ethertype == 0x88a8 || ethertype == 0x9100;
}

void ethernet(const Frame& f, BlockSummary& s) noexcept {
    if (!f.has(0, 14)) {
        s.flags |= must_read;
        return;
    }
    size_t type_at = 12;
    uint16_t ethertype = f.be16(type_at);
    // The keys of the innermost header: a filter's `vlan` moves libpcap's offsets one tag in,
    // so whatever it then reads is at most as deep as this.
    for (int tags = 0; is_vlan(ethertype); ++tags) {
        s.flags |= has_vlan;
        if (tags == max_vlan_tags || !f.has(type_at + 4, 2)) {
            s.flags |= must_read;
            return;
        }
        type_at += 4;
        ethertype = f.be16(type_at);
    }
    network(f, ethertype, type_at + 2, s);
}

void raw_ip(const Frame& f, size_t l3, BlockSummary& s) noexcept {
    if (!f.has(l3, 1)) return;
    const uint8_t version = f.u8(l3) >> 4;
    if (version == 4) ipv4(f, l3, s);
    else if (version == 6) ipv6(f, l3, s);
}

}  // namespace

void BlockSummary::clear() noexcept {
    offset = end = first_ns = min_ns = max_ns = 0;
    packets = flags = 0;
    protocols = {};
    std::memset(bloom.data(), 0, bloom_bits / 8);
    bloom_bits = max_bloom_bits;
    recent_flows = {};
}

void BlockSummary::fold() noexcept {
    while (bloom_bits > min_bloom_bits) {
        const uint32_t half_words = bloom_bits / 128;
        uint32_t set = 0;
        for (uint32_t i = 0; i < half_words; ++i)
            set += uint32_t(std::popcount(bloom[i] | bloom[i + half_words]));
        if (uint64_t{set} * 16 > bloom_bits / 2) return;
        for (uint32_t i = 0; i < half_words; ++i) {
            bloom[i] |= bloom[i + half_words];
            bloom[i + half_words] = 0;
        }
        bloom_bits /= 2;
    }
}

void add_other_frame_keys(std::span<const std::byte> bytes, uint32_t link_type,
                          BlockSummary& s) noexcept {
    const Frame f(bytes);
    switch (link_type) {
    case linktype_ethernet:
        ethernet(f, s);
        break;
    case linktype_linux_sll:
        if (!f.has(0, 16) || is_vlan(f.be16(14))) s.flags |= must_read;
        else network(f, f.be16(14), 16, s);
        break;
    case linktype_linux_sll2:
        if (!f.has(0, 20) || is_vlan(f.be16(0))) s.flags |= must_read;
        else network(f, f.be16(0), 20, s);
        break;
    case linktype_raw:
    case dlt_raw_linux:
    case dlt_raw_bsd:
        raw_ip(f, 0, s);
        break;
    case linktype_ipv4:
        ipv4(f, 0, s);
        break;
    case linktype_ipv6:
        ipv6(f, 0, s);
        break;
    case linktype_null:
    case linktype_loop: {
        if (!f.has(0, 4)) {
            s.flags |= must_read;
            break;
        }
        // The address family, in the byte order of the host that wrote it (NULL) or network
        // order (LOOP): either is accepted, as libpcap accepts BSD's three IPv6 values.
        uint32_t family = uint32_t(f.be16(0)) << 16 | f.be16(2);
        if (family > 0xffff) family = __builtin_bswap32(family);
        if (family == 2) ipv4(f, 4, s);
        else if (family == 10 || family == 24 || family == 28 || family == 30) ipv6(f, 4, s);
        break;
    }
    default:
        s.flags |= must_read;
        break;
    }
}

}  // namespace taprec::block_index
