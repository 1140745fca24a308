#include "drivers/open_port.hpp"

#include <stdexcept>

#include "drivers/dpdk_port.hpp"
#include "drivers/pcap_source.hpp"

namespace taprec {

std::unique_ptr<PacketSource> open_port(const PortConfig& port, const PortOptions& options) {
    switch (port.driver) {
    case DriverKind::pcap: {
        PcapSourceOptions pcap;
        pcap.snaplen = options.snaplen;
        if (options.plan != nullptr) pcap.reader = options.plan->live_reader;
        return open_pcap_source(port, pcap);
    }
    case DriverKind::dpdk:
        return open_dpdk_port(port, options);
    }
    throw std::runtime_error("unknown driver");
}

}  // namespace taprec
