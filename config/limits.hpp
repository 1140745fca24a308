// Every bound on a configuration value, in one place: validate_config() enforces them, the plan
// and the pipeline size themselves by them, and messages quote them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace taprec {

// Packets are handled this many at a time on every stage (DPDK's customary burst).
inline constexpr size_t burst_size = 32;

namespace limits {
// Workers of one tap, and so RX queues of one port: the pipeline's per-tap tables
// (drivers/dpdk_port's per-queue clocks, the writer's merge) are this wide.
inline constexpr uint32_t max_workers = 64;
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
// A DPDK mempool's size is a uint32_t; 2^n - 1 is its best size.
inline constexpr uint32_t max_mbufs_per_port = UINT32_MAX;
}  // namespace limits

}  // namespace taprec
