#include "drivers/dpdk_mempool.hpp"

#include <stdexcept>

#include "drivers/dpdk_api.hpp"
#include "ring/packet_ring.hpp"

namespace taprec {

MbufBudget mbufs_held_at_once(uint32_t rx_descriptors, uint16_t queues, uint32_t workers,
                              uint32_t ring_capacity, uint32_t cache_size) {
    MbufBudget b;
    b.descriptors = uint64_t(rx_descriptors) * queues;
    b.rx_to_worker = uint64_t(workers) * ring_capacity;
    b.worker_to_writer = uint64_t(workers) * ring_capacity;
    // rx thread, each worker (its burst and its merge heads), the writer (its burst and heads).
    b.bursts = uint64_t(burst_size) * (1 + 2 * workers + 2);
    // Threads that allocate or free this port's mbufs: the rx thread, the workers (filtered and
    // dropped packets), the writer. A cache holds up to 1.5 x its size before it flushes.
    b.caches = uint64_t(cache_size) * 3 / 2 * (2 + workers);
    return b;
}

std::string MbufBudget::explain(uint32_t rx_descriptors, uint16_t queues, uint32_t workers,
                                uint32_t ring_capacity) const {
    return std::to_string(rx_descriptors) + " rx descriptors x " + std::to_string(queues) +
           " queue" + (queues == 1 ? "" : "s") + " + " + std::to_string(workers) +
           " rx_to_worker and " + std::to_string(workers) + " worker_to_writer ring" +
           (workers == 1 ? "" : "s") + " of " + std::to_string(ring_capacity) + " + " +
           std::to_string(bursts + caches) + " in bursts and caches";
}

uint64_t pool_size_for(uint64_t needed) {
    uint64_t size = 1;
    while (size - 1 < needed) size <<= 1;
    return size - 1;
}

std::string check_pool_size(const std::string& what, uint32_t mbufs_per_port,
                            const MbufBudget& budget, uint32_t rx_descriptors, uint16_t queues,
                            uint32_t workers, uint32_t ring_capacity) {
    const uint64_t needed = budget.total();
    if (mbufs_per_port >= needed) return {};
    const std::string shortfall =
        "dpdk.mbufs_per_port: " + std::to_string(mbufs_per_port) + " mbufs for " + what +
        ", but up to " + std::to_string(needed) + " can be held at once (" +
        budget.explain(rx_descriptors, queues, workers, ring_capacity) + ")";
    const std::string enough = "set dpdk.mbufs_per_port to " + std::to_string(pool_size_for(needed));
    const uint64_t fixed = budget.descriptors + budget.bursts + budget.caches;
    if (mbufs_per_port < fixed)
        throw std::runtime_error(shortfall + ", and not even the rx descriptors, bursts and "
                                 "caches fit, so the port would starve; " + enough);
    // The ring size that would make the configured pool enough, if there is one.
    std::string ring_hint;
    for (uint64_t cap = ring_capacity / 2; cap >= 1024; cap /= 2) {
        if (fixed + 2 * workers * cap <= mbufs_per_port) {
            ring_hint = ", or lower ring_capacity to " + std::to_string(cap);
            break;
        }
    }
    return shortfall + "; if the writer falls that far behind, the pool runs dry and the NIC "
           "counts what it cannot receive as nic_nombuf; to rule that out, " + enough + ring_hint;
}

rte_mempool* create_port_pool(const std::string& name, uint32_t mbufs, uint32_t cache_size,
                              int socket, const std::string& what) {
    rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), mbufs, cache_size, 0,
                                                RTE_PKTMBUF_HEADROOM + mbuf_data_room, socket);
    if (pool != nullptr) return pool;
    const uint64_t mib = (uint64_t(mbufs) * mbuf_footprint_bytes + (1 << 20) - 1) >> 20;
    throw std::runtime_error(
        what + ": cannot allocate " + std::to_string(mbufs) + " mbufs (about " +
        std::to_string(mib) + " MiB): " + rte_strerror(rte_errno) +
        "; reserve more hugepages (scripts/hugepages), give EAL more memory (\"-m\" in "
        "dpdk.eal with --no-huge), or lower dpdk.mbufs_per_port");
}

}  // namespace taprec
