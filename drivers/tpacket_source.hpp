// TpacketSource: a live Ethernet interface of the pcap driver, read from the kernel's TPACKET_V3
// ring in place (drivers/tpacket_ring) rather than through libpcap's callback and a copy.
// The same socket, ring layout, timestamps and frames as libpcap's (VLAN tags put back, both
// directions of the interface), so the files are the same; other link types stay with libpcap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "config/plan.hpp"
#include "pipeline/clock_now.hpp"
#include "pipeline/packet_source.hpp"

namespace taprec {

// The kernel hands a live port's packets over a block at a time, a block at the latest when it
// is this old: few wake-ups at low rates (what makes libpcap cheap), at the price of that delay.
// libpcap's live handles use it as their timeout too.
inline constexpr int live_block_timeout_ms = 100;

// A live port's clock when it is idle (PacketSource::idle_clock_ns): a packet may still be on its
// way to us in a block the kernel has not handed over, for up to the block timeout.
inline uint64_t live_idle_clock_ns() noexcept {
    return realtime_now_ns() - (live_block_timeout_ms + 10) * 1'000'000ull;
}

struct TpacketOptions {
    size_t ring_bytes = live_ring_bytes;  // config/plan.hpp: what --check says
    uint32_t block_size = live_ring_block_bytes;
};

// The hardware type (ARPHRD_*) of every network interface of this process's network namespace,
// by name: what the plan chooses a live port's reader by (MachineFacts::interface_types).
std::map<std::string, uint16_t> interface_hardware_types();

// The port, or nullptr when the interface is not Ethernet (libpcap reads it then). Throws
// std::runtime_error naming the interface and what to do.
std::unique_ptr<PacketSource> open_tpacket_source(const PortConfig& port,
                                                  const TpacketOptions& options);

}  // namespace taprec
