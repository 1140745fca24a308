// How many mbufs one DPDK port's pipeline can hold at once, and what they cost in memory: plain
// arithmetic, so the plan (config/plan) sizes pools and EAL memory without a running DPDK.
//
// Everything that can hold a port's mbufs at the same time: the RX descriptors, the rings, a
// burst in the hands of every stage, and the per-thread mempool caches. A pool that cannot cover
// the descriptors, bursts and caches would starve the NIC with every ring empty (an error of the
// plan). A pool smaller than the worst case (every ring full at once) runs dry only when the
// writer falls that far behind; the NIC then counts what it could not receive as rx_nombuf
// (nic_nombuf in stats.jsonl), so that is a warning saying how to rule it out.
#pragma once

#include <cstdint>
#include <string>

namespace taprec {

// Bytes of packet data in one mbuf; longer frames arrive as chains (scattered RX).
inline constexpr uint32_t mbuf_data_room = 2048;
// Per-thread mempool cache on a wire port (0 on a replayed file, see DpdkPort).
inline constexpr uint32_t mbuf_cache_size = 256;
// Bytes one mbuf costs in memory, all told (struct rte_mbuf, headroom, data room, pool header),
// rounded up, on hugepages: objects pack into 2 MiB pages.
inline constexpr uint64_t mbuf_footprint_bytes = 2560;
// Under --no-huge EAL's pages are 4 KiB and a mempool object (2,368 bytes) may not cross a page:
// each mbuf takes a page of its own (measured: two pools of 262,143 need -m 2400, not 1536).
inline constexpr uint64_t mbuf_footprint_no_huge_bytes = 4096;
// Memory EAL needs besides the mempools: its own heap, descriptor rings, memif regions.
inline constexpr uint64_t eal_base_mib = 256;

struct MbufBudget {
    uint64_t descriptors = 0;        // rx_descriptors x queues: filled by the NIC at all times
    uint64_t rx_to_worker = 0;       // this port's rings to the workers
    uint64_t worker_to_writer = 0;   // the workers' rings to the writer (all this port's, at worst)
    uint64_t bursts = 0;             // a burst in hand at each stage, and the merges' heads
    uint64_t caches = 0;             // mbufs parked in per-thread mempool caches
    uint64_t total() const { return descriptors + rx_to_worker + worker_to_writer + bursts + caches; }
    // What the NIC needs with every ring empty: less than this starves the port.
    uint64_t fixed() const { return descriptors + bursts + caches; }
    std::string explain(uint32_t rx_descriptors, uint16_t queues, uint32_t workers,
                        uint32_t ring_capacity) const;
};

MbufBudget mbufs_held_at_once(uint32_t rx_descriptors, uint16_t queues, uint32_t workers,
                              uint32_t ring_capacity, uint32_t cache_size);

// The smallest 2^n - 1 (a mempool's best size) that is at least `needed`.
uint64_t pool_size_for(uint64_t needed);

}  // namespace taprec
