// preflight(): every check against the machine the start makes before capturing, without a
// running driver: capture files (pcap ports and net_pcap rx_pcap) read through their first
// record, and both of a tap's files have one link type; live interfaces exist; pinned cores can
// be pinned to; the output folder can be created and written; the filter compiles; the plan's
// pools fit and its memory is there; PCI devices are present and bound (drivers/dpdk_eal's
// check_dpdk_machine). main.cpp runs it for --check and for the run alike, so --check refuses
// what the run would refuse, with FILE:LINE: KEY.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/plan.hpp"

namespace taprec {

std::vector<ConfigError> preflight(const Config& config, const RunPlan& plan,
                                   const MachineFacts& machine);

// This machine's facts for the plan: cores, free hugepages and hugetlbfs, available memory.
MachineFacts read_machine_facts();

// What would not stop the run but will not work as configured, one line each for --check and
// the start-up log: an on_rotate program that is missing or not executable (every published
// file then logs a failed hook; the design's own example names /usr/local/bin/ids-feed, so it
// is not an error).
std::vector<std::string> preflight_warnings(const Config& config);

}  // namespace taprec
