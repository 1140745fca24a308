// PacketFilter: the output's BPF filter (libpcap syntax), compiled once at start, run by libpcap's
// interpreter (pcap_offline_filter).
//
// Why not DPDK's rte_bpf (cBPF -> eBPF with rte_bpf_convert, then its JIT)? bench/filter_throughput
// measured its JIT 2-3x faster than libpcap on real captures, but DPDK 22.11 gives wrong
// verdicts for filters that load through the IP header length (e.g. "tcp[tcpflags] & tcp-syn
// != 0": 20 of 95 packets of ftp-ipv4.pcap differ), its JIT crashed on bench-web-mixed.pcap, and
// rte_bpf_convert allocates with rte_malloc, so it needs an EAL that a pcap-only tap never starts.
// A filter that is fast and wrong loses packets silently; libpcap stays until the bench passes.
#pragma once

#include <pcap/pcap.h>

#include <string>

#include "pipeline/packet_ref.hpp"

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
