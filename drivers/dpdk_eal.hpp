// Starting DPDK's EAL from the configuration: the daemon builds the EAL arguments it needs, so
// `dpdk.eal` stays an escape hatch (STYLE.md "Configuration").
//
//   -l CORE                the main lcore only: the first core this process may run on. The rx
//                          threads are plain threads calling rte_eth_rx_burst, one per queue set.
//   --file-prefix taprec-PID   so that several taprec (and tests) run side by side
//   --no-pci | -a PCI...   only the NICs the configuration names
//   --vdev DEVICE...       every device that is not a PCI address
//   -m MB                  with --no-huge: sized from the mempools
//   --huge-unlink          with hugepages: no hugepage files left behind by a crash
//   --log-level notice     EAL's info lines are not the daemon's log
//   dpdk.eal               last, so it can override any of the above
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "drivers/dpdk_device.hpp"
#include "drivers/dpdk_replay.hpp"

namespace taprec {

struct EalPlan {
    std::vector<std::string> args;      // without argv[0]
    std::vector<DpdkDevice> devices;    // every dpdk port's device, in configuration order
    bool no_huge = false;
    bool in_memory = false;  // --in-memory: hugepages through memfd, no hugetlbfs mount needed
    uint64_t memory_mb = 0;             // what the mempools need, with room for EAL itself
    std::string file_prefix;
    bool own_prefix = false;            // taprec chose the prefix (and removes its run dir)
};

// Pure: builds the arguments; `first_core` is the main lcore, `pid` names the file prefix.
EalPlan plan_eal(const Config& config, int first_core, int pid);

// What the ports need once the EAL runs: the configuration and what start found out.
struct DpdkRuntime {
    Config config;
    EalPlan plan;
    std::map<std::string, CaptureScan> replays;  // by rx_pcap path
};

// The running EAL's runtime, or nullptr before start_dpdk() succeeded.
const DpdkRuntime* dpdk_runtime() noexcept;

// Message sink: (is_error, line).
using DpdkLog = std::function<void(bool, const std::string&)>;

// Starts the EAL when any port uses driver dpdk; returns the daemon's exit status on failure
// (2: configuration or machine set-up, with what to run; 1: EAL failed at run time), else 0.
// Checks before starting what EAL would report badly: free hugepages, PCI devices bound to a
// DPDK-capable driver, readable rx_pcap files; after, that each device became a port.
int start_dpdk(const Config& config, const DpdkLog& log);

// Checks without EAL: returns "" or the error message (what the daemon logs before exit 2).
std::string check_dpdk_machine(const EalPlan& plan);

}  // namespace taprec
