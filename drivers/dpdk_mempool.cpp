#include "drivers/dpdk_mempool.hpp"

#include <stdexcept>

#include "drivers/dpdk_api.hpp"

namespace taprec {

std::string check_pool_size(const std::string& what, const PortPlan& plan, uint16_t queues,
                            uint32_t workers) {
    const MbufBudget budget =
        mbufs_held_at_once(plan.rx_descriptors, queues, workers, plan.ring_capacity, plan.cache);
    const uint64_t needed = budget.total();
    if (plan.mbufs >= needed) return {};
    std::string warning =
        "dpdk.mbufs_per_port: " + std::to_string(plan.mbufs) + " mbufs for " + what +
        ", but up to " + std::to_string(needed) + " can be held at once (" +
        budget.explain(plan.rx_descriptors, queues, workers, plan.ring_capacity) +
        "); if the writer falls that far behind, the pool runs dry and the NIC counts what it "
        "cannot receive as nic_nombuf; to rule that out, set dpdk.mbufs_per_port to " +
        std::to_string(pool_size_for(needed));
    // The ring size that would make the configured pool enough, if there is one.
    for (uint64_t cap = plan.ring_capacity / 2; cap >= 1024; cap /= 2) {
        if (budget.fixed() + 2 * workers * cap <= plan.mbufs) {
            warning += ", or lower ring_capacity to " + std::to_string(cap);
            break;
        }
    }
    return warning;
}

rte_mempool* create_port_pool(const std::string& name, uint32_t mbufs, uint32_t cache_size,
                              int socket, const std::string& what) {
    rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), mbufs, cache_size, 0,
                                                RTE_PKTMBUF_HEADROOM + mbuf_data_room, socket);
    if (pool != nullptr) return pool;
    throw std::runtime_error(
        what + ": cannot allocate " + std::to_string(mbufs) + " mbufs: " + rte_strerror(rte_errno) +
        "; the plan (taprec --check) says how much memory EAL gets; reserve the hugepages "
        "--hugepages-needed prints, or lower dpdk.mbufs_per_port");
}

}  // namespace taprec
