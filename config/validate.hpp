// Step two of three: impossible values and combinations in a parsed Config, found without
// touching a device or a file. Step three, checks against the devices, belongs to the daemon.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/config.hpp"

namespace taprec {

// The bounds validate_config() enforces, for the daemon and the plan to quote.
namespace limits {
inline constexpr uint32_t max_workers = 1024;
inline constexpr uint32_t min_ring_capacity = 64;
inline constexpr uint32_t max_ring_capacity = uint32_t{1} << 26;
inline constexpr uint32_t min_snaplen = 64;
inline constexpr uint32_t max_snaplen = 262144;  // libpcap's MAXIMUM_SNAPLEN
inline constexpr uint32_t max_min_free_percent = 99;
inline constexpr uint64_t min_stats_interval_ns = 100'000'000;     // 100ms
inline constexpr uint64_t max_reorder_window_ns = 10'000'000'000;  // 10s
inline constexpr uint64_t min_rotate_bytes = 64 * 1024;
inline constexpr int max_core = 1023;
// A NIC's RX ring size is a uint16_t in DPDK (rte_eth_rx_queue_setup's nb_rx_desc).
inline constexpr uint32_t min_rx_descriptors = 1;
inline constexpr uint32_t max_rx_descriptors = 65535;
inline constexpr uint32_t max_on_rotate_max = 64;
}  // namespace limits

// Every problem found, each naming the key and what to change; empty when the config is usable.
// Meant for a Config whose parse succeeded: after parse errors it would repeat them.
std::vector<ConfigError> validate_config(const Config& config);

// Every pinned core (threads.rx, .workers, .writer) that is not in `available`, the cores a
// thread of this process can be pinned to, each as an error naming its key. The daemon's
// preflight asks the machine; taking the set as an argument keeps this testable on any box.
// An empty `available` checks nothing (the machine could not say).
std::vector<ConfigError> check_cores_available(const Config& config, std::span<const int> available);

}  // namespace taprec
