// The queue plan of a tap: which RX queues each port has, and which worker each queue feeds.
//
// taprec polls every RX queue a device has: a queue left unpolled loses its packets without a
// count (net_af_packet with qpairs=N opens N sockets in one fanout group whatever the application
// configures). Queue i of port a and queue i of port b feed worker i when both ports put a
// connection's two directions on the same queue index (a NIC's symmetric RSS, the kernel's
// symmetric fanout hash for net_af_packet, a net_memif peer that chooses the queue by a
// symmetric hash) and have as many queues as there are workers; otherwise the rx thread spreads
// the packets of every queue over the workers with the symmetric software hash. Pure data from
// facts about the devices, so `--check` (from the device arguments) and the daemon (from DPDK's
// device info) print and run the same plan.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace taprec {

// Who puts each flow on a queue.
enum class QueueSteering : uint8_t {
    single,         // one queue
    nic_rss,        // a NIC's RSS with taprec's symmetric Toeplitz key
    kernel_fanout,  // net_af_packet qpairs=N: the kernel's PACKET_FANOUT_HASH, a symmetric flow hash
    peer,           // net_memif: the peer picks the queue (bench/taprec_gen by a symmetric hash)
    unsteered,      // several queues nothing keeps a connection's two directions together on
};
std::string_view name_of(QueueSteering steering);

// What a device offers, from DPDK's device info or (for --check) from the device arguments.
struct DeviceQueues {
    std::string driver;          // "net_af_packet", "net_memif", a PCI NIC's PMD, "" for pcap
    uint32_t max_rx_queues = 1;  // 0: not known before DPDK opens the device (a PCI NIC)
    bool fixed = false;          // created with exactly max_rx_queues, each must be polled
    bool rss = false;            // a NIC that spreads by a key
    // net_memif with role=client: taprec's queue count sets the rings (the server must have as
    // many). As the server taprec keeps one queue: DPDK 22.11's memif server reads a queue the
    // client opened no ring for through ring 0's memory, which would duplicate its packets.
    bool memif_client = false;
};

// From a dpdk port's `device:` string alone (no EAL): qpairs= of net_af_packet, queue_count= of
// net_af_xdp, any number for a net_memif client, one for the other vdevs, unknown for a PCI NIC.
DeviceQueues device_queues_from_args(const std::string& device);

struct PortQueues {
    uint16_t queues = 1;  // RX queues configured and polled
    QueueSteering steering = QueueSteering::single;
};

struct TapQueuePlan {
    std::array<PortQueues, 2> ports;
    size_t port_count = 1;
    uint32_t workers = 1;
    bool by_queue = false;  // queue i of every port feeds worker i; else the software hash
    std::optional<ConfigError> error;  // the plan cannot run as configured: FILE:LINE: KEY
};

// `devices[p]` is nullopt for a port of the pcap driver. `cores`: the worker cores an `auto`
// tap may use (threads.workers, else the online cores).
TapQueuePlan plan_tap_queues(const Config& config, size_t tap_index,
                             const std::array<std::optional<DeviceQueues>, 2>& devices,
                             uint32_t cores);

// One line per worker: "worker 0 <- a queue 0, b queue 0" or, spread by the software hash,
// "workers 0-1 <- software flow hash of a queues 0-1, b queue 0".
std::vector<std::string> describe_queue_mapping(const TapQueuePlan& plan);

// The tap's queue plan from the device arguments alone (no EAL): what make_plan and --check use.
TapQueuePlan plan_tap_queues_from_args(const Config& config, size_t tap_index, uint32_t cores);
// Per port the queues the device offers and how many are polled, then the mapping to workers.
void print_tap_queues(const TapConfig& tap, const TapQueuePlan& plan, std::ostream& out);

// `--check`: the plan of every tap from the device arguments alone (no EAL): its errors, and per
// port the queues the device offers and the mapping, printed after the configuration's plan.
std::vector<ConfigError> check_queue_plans(const Config& config);
void print_queue_plans(const Config& config, std::ostream& out);

}  // namespace taprec
