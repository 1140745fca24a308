#include "worker/packet_filter.hpp"

#include <stdexcept>

namespace taprec {

PacketFilter::PacketFilter(const std::string& expression, int link_type, uint32_t snaplen) {
    if (expression.empty()) return;
    pcap_t* dead = pcap_open_dead(link_type, static_cast<int>(snaplen));
    if (dead == nullptr) throw std::invalid_argument("cannot compile a filter for link type " +
                                                     std::to_string(link_type));
    if (pcap_compile(dead, &program_, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        std::string message = pcap_geterr(dead);
        pcap_close(dead);
        throw std::invalid_argument(message);
    }
    pcap_close(dead);
    enabled_ = true;
}

PacketFilter::~PacketFilter() {
    if (enabled_) pcap_freecode(&program_);
}

}  // namespace taprec
