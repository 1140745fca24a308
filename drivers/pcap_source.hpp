// PcapSource: a port read through libpcap, either a live interface (Ethernet ones are read from
// the kernel's ring in place by drivers/tpacket_source instead) or a capture file replayed
// at full speed or at the speed it was recorded. A classic pcap file is read in place from a
// read-only mapping instead (drivers/pcap_file_map), with no copy.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "config/plan.hpp"
#include "pipeline/packet_source.hpp"

namespace taprec {

struct PcapSourceOptions {
    uint32_t snaplen = 262144;           // live capture: bytes kept per frame
    size_t arena_bytes = size_t{64} << 20;  // room for packets in flight (not for a mapped file)
    // A live interface: as the plan says (PortPlan::live_reader); none: by its hardware type.
    LiveReader reader = LiveReader::none;
};

// Opens the port; throws std::runtime_error with a message naming the file or interface and what
// to do. Takes a file path relative to the current directory.
std::unique_ptr<PacketSource> open_pcap_source(const PortConfig& port,
                                               const PcapSourceOptions& options);

}  // namespace taprec
