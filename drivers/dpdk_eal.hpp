// Starting DPDK's EAL from the plan: the daemon builds the EAL arguments it needs, so
// `dpdk.eal` stays an escape hatch (STYLE.md "Configuration").
//
//   -l CORE                the main lcore only: the first core this process may run on. The rx
//                          threads are plain threads calling rte_eth_rx_burst, one per queue set.
//   --file-prefix taprec-PID   so that several taprec (and tests) run side by side
//   --no-pci | -a PCI...   only the NICs the configuration names
//   --vdev DEVICE...       every device that is not a PCI address
//   -m MB                  with --no-huge: the plan's memory (every pool, and EAL's own share)
//   --huge-unlink          with hugepages: no hugepage files left behind by a crash
//   --log-level notice     EAL's info lines are not the daemon's log
//   dpdk.eal               last, so it can override any of the above
//
// Errors (every drivers/dpdk_* file): setup throws (here DpdkStartError, which carries the exit
// status); checks return what they find as data, configuration errors or warning strings.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/plan.hpp"
#include "config/dpdk_device.hpp"

namespace taprec {

struct EalPlan {
    std::vector<std::string> args;      // without argv[0]
    std::vector<DpdkDevice> devices;    // every dpdk port's device, in configuration order
    std::string file_prefix;
    bool own_prefix = false;            // taprec chose the prefix (and removes its run dir)
};

// Pure: builds the arguments; `first_core` is the main lcore, `pid` names the file prefix.
EalPlan plan_eal(const Config& config, const DpdkPlan& dpdk, int first_core, int pid);

// What start_dpdk would refuse, found without EAL, each as FILE:LINE: KEY: device strings that
// are neither PCI nor vdev, duplicate devices, PCI devices absent or bound to a kernel driver,
// net_pcap files that cannot be read through their first record, and memory: free hugepages (and
// hugetlbfs mounted) for the plan, or with --no-huge the memory available. --check and the start
// both run it (daemon/preflight).
std::vector<ConfigError> check_dpdk_machine(const Config& config, const RunPlan& plan,
                                            const MachineFacts& machine);

struct DpdkStartError : std::runtime_error {
    DpdkStartError(int status, const std::string& what) : std::runtime_error(what), exit_status(status) {}
    int exit_status;  // 2: configuration or machine set-up; 1: EAL failed at run time
};

// Starts the EAL when the plan has DPDK ports (else does nothing and returns ""); returns the
// line to log. Throws DpdkStartError; every device then did come up as a DPDK port.
std::string start_dpdk(const Config& config, const RunPlan& plan);

// Whether start_dpdk() succeeded in this process.
bool dpdk_started() noexcept;

}  // namespace taprec
