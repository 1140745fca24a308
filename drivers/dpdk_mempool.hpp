// The mbuf pool of one DPDK port. Its size comes from the plan (config/plan, PortPlan::mbufs);
// the arithmetic of what a pipeline holds at once is config/mbuf_budget.
//
// Errors: setup failures throw std::runtime_error naming the port and what to do; a warning (the
// run goes on) is a returned string, "" for none. That is the style of every drivers/dpdk_* file.
#pragma once

#include <cstdint>
#include <string>

#include "config/mbuf_budget.hpp"
#include "config/plan.hpp"

struct rte_mempool;

namespace taprec {

// "" when the port's pool covers the worst case (every ring full at once); otherwise a warning
// naming `what`, with the number of mbufs that would do. A pool that would starve the port is
// plan_errors()' business, found by --check and the start before EAL runs.
std::string check_pool_size(const std::string& what, const PortPlan& plan, uint16_t queues,
                            uint32_t workers);

// Creates the pool on `socket`; throws std::runtime_error saying what memory to add.
rte_mempool* create_port_pool(const std::string& name, uint32_t mbufs, uint32_t cache_size,
                              int socket, const std::string& what);

}  // namespace taprec
