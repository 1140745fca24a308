#include "config/mbuf_budget.hpp"

#include "config/limits.hpp"

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

}  // namespace taprec
