// PacketFilter: the output's BPF filter (libpcap syntax), compiled once at start.
#pragma once

#include <pcap/pcap.h>

#include <string>

#include "drivers/packet_ref.hpp"

namespace taprec {

class PacketFilter {
public:
    // An empty expression accepts everything. Throws std::invalid_argument carrying libpcap's
    // message when the expression does not compile for this link type.
    PacketFilter(const std::string& expression, int link_type, uint32_t snaplen);
    ~PacketFilter();
    PacketFilter(const PacketFilter&) = delete;
    PacketFilter& operator=(const PacketFilter&) = delete;

    bool enabled() const noexcept { return enabled_; }
    bool accepts(const PacketRef& p) const noexcept {
        pcap_pkthdr h{};
        h.caplen = p.caplen;
        h.len = p.wire_len;
        return pcap_offline_filter(&program_, &h, reinterpret_cast<const u_char*>(p.data)) != 0;
    }

private:
    bool enabled_ = false;
    bpf_program program_{};
};

}  // namespace taprec
