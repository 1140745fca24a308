#include "drivers/open_port.hpp"

#include <stdexcept>

#include "drivers/pcap_source.hpp"

namespace taprec {

std::unique_ptr<PacketSource> open_port(const PortConfig& port, const PortOptions& options) {
    switch (port.driver) {
    case DriverKind::pcap: {
        PcapSourceOptions pcap;
        pcap.snaplen = options.snaplen;
        return open_pcap_source(port, pcap);
    }
    case DriverKind::dpdk:
        throw std::runtime_error("dpdk port " + port.device +
                                 ": this build has no DPDK driver yet; use driver: pcap");
    }
    throw std::runtime_error("unknown driver");
}

}  // namespace taprec
