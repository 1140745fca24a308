// TpacketSource: a live Ethernet interface of the pcap driver, read from the kernel's TPACKET_V3
// ring in place (drivers/tpacket_ring) rather than through libpcap's callback and a copy.
// The same socket, ring layout, timestamps and frames as libpcap's (VLAN tags put back, both
// directions of the interface), so the files are the same; other link types stay with libpcap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "config/config.hpp"
#include "pipeline/packet_source.hpp"

namespace taprec {

// The kernel hands a live port's packets over a block at a time, a block at the latest when it
// is this old: few wake-ups at low rates (what makes libpcap cheap), at the price of that delay.
// libpcap's live handles use it as their timeout too.
inline constexpr int live_block_timeout_ms = 100;

struct TpacketOptions {
    size_t ring_bytes = size_t{64} << 20;  // the burst buffer before us, and room for packets in flight
    uint32_t block_size = uint32_t{1} << 20;
};

// The port, or nullptr when the interface is not Ethernet (libpcap reads it then). Throws
// std::runtime_error naming the interface and what to do.
std::unique_ptr<PacketSource> open_tpacket_source(const PortConfig& port,
                                                  const TpacketOptions& options);

}  // namespace taprec
