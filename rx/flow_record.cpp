#include "rx/flow_record.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>

#include "pipeline/packet_headers.hpp"

namespace taprec {
namespace {

std::string hex(std::span<const uint8_t> bytes) {
    std::string out;
    char two[3];
    for (uint8_t b : bytes) {
        std::snprintf(two, sizeof two, "%02x", b);
        out += two;
    }
    return out;
}

}  // namespace

std::string connection_key(std::span<const std::byte> frame, int link_type) {
    const PacketHeaders h = parse_headers(frame, link_type);
    if (h.network == PacketHeaders::Network::none) {
        if (!h.has_macs) return "other";
        std::string x = hex(h.src_mac), y = hex(h.dst_mac);
        if (y < x) std::swap(x, y);
        std::string key = "mac ";
        key.append(x).append(" ").append(y);
        return key;
    }
    const size_t length = h.network == PacketHeaders::Network::ipv4 ? 4 : 16;
    const std::array<uint8_t, 16> src = h.src_addr.bytes(), dst = h.dst_addr.bytes();
    std::string x = hex(std::span(src.data(), length));
    std::string y = hex(std::span(dst.data(), length));
    // Fragments without ports belong with their datagram's addresses (as the software hash has it).
    if (h.has_ports && !h.fragment) {
        x.append(":").append(std::to_string(h.src_port));
        y.append(":").append(std::to_string(h.dst_port));
    }
    if (y < x) std::swap(x, y);
    std::string key = std::to_string(h.fragment ? 0 : h.protocol);
    key.append(" ").append(x).append(" ").append(y);
    return key;
}

FlowRecord::FlowRecord(std::string path, int link_type) : path_(std::move(path)), link_type_(link_type) {}

void FlowRecord::add(std::span<const PacketRef> burst, uint16_t queue, uint32_t worker) {
    for (const PacketRef& p : burst) {
        Seen& seen = flows_[connection_key(p.head(), link_type_)];
        seen.workers |= uint64_t(1) << (worker % 64);
        seen.queues |= uint64_t(1) << (queue % 64);
        ++seen.packets;
    }
}

void FlowRecord::write() const {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& [key, seen] : flows_) {
        char masks[96];
        std::snprintf(masks, sizeof masks, " workers=%llx queues=%llx packets=%llu",
                      (unsigned long long)seen.workers, (unsigned long long)seen.queues,
                      (unsigned long long)seen.packets);
        out << key << masks << '\n';
    }
}

}  // namespace taprec
