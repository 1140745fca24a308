// The mbuf pool of one DPDK port: how many mbufs the pipeline can hold at once, and the pool.
//
// The pool is checked at start against everything that can hold this port's mbufs at the same
// time: the RX descriptors, the rings, a burst in the hands of every stage, and the per-thread
// mempool caches. A pool that cannot cover the descriptors, bursts and caches would starve the
// NIC with every ring empty: that is an error. A pool smaller than the worst case (every ring
// full at once) runs dry only when the writer falls that far behind; the NIC then counts what it
// could not receive as rx_nombuf (nic_nombuf in stats.jsonl), so it is a warning that says how
// to rule it out, and the daemon runs: the design's own example (two workers, 65536-slot rings,
// 262143 mbufs) is such a configuration.
#pragma once

#include <cstdint>
#include <string>

struct rte_mempool;

namespace taprec {

// Bytes of packet data in one mbuf; longer frames arrive as chains (scattered RX).
inline constexpr uint32_t mbuf_data_room = 2048;
// Per-thread mempool cache on a wire port (0 on a replayed file, see DpdkPort).
inline constexpr uint32_t mbuf_cache_size = 256;
// Bytes one mbuf costs in memory, all told (struct rte_mbuf, headroom, data room, pool header),
// rounded up; used to size EAL memory with --no-huge and to check free hugepages.
inline constexpr uint64_t mbuf_footprint_bytes = 2560;

struct MbufBudget {
    uint64_t descriptors = 0;        // rx_descriptors x queues: filled by the NIC at all times
    uint64_t rx_to_worker = 0;       // this port's rings to the workers
    uint64_t worker_to_writer = 0;   // the workers' rings to the writer (all this port's, at worst)
    uint64_t bursts = 0;             // a burst in hand at each stage, and the merges' heads
    uint64_t caches = 0;             // mbufs parked in per-thread mempool caches
    uint64_t total() const { return descriptors + rx_to_worker + worker_to_writer + bursts + caches; }
    std::string explain(uint32_t rx_descriptors, uint16_t queues, uint32_t workers,
                        uint32_t ring_capacity) const;
};

MbufBudget mbufs_held_at_once(uint32_t rx_descriptors, uint16_t queues, uint32_t workers,
                              uint32_t ring_capacity, uint32_t cache_size);

// The smallest 2^n - 1 (a mempool's best size) that is at least `needed`.
uint64_t pool_size_for(uint64_t needed);

// Empty when the pool covers the worst case; otherwise a warning naming `what`, with the number
// of mbufs that would do. Throws std::runtime_error when the pool would starve the NIC.
std::string check_pool_size(const std::string& what, uint32_t mbufs_per_port,
                            const MbufBudget& budget, uint32_t rx_descriptors, uint16_t queues,
                            uint32_t workers, uint32_t ring_capacity);

// Creates the pool on `socket`; throws std::runtime_error saying what memory to add.
rte_mempool* create_port_pool(const std::string& name, uint32_t mbufs, uint32_t cache_size,
                              int socket, const std::string& what);

}  // namespace taprec
