// The plan: everything a run will use, computed by one pure function from the configuration and
// the machine's facts. `taprec --check` prints it and checks it against the machine
// (daemon/preflight); the run executes it: each DPDK port receives its slice (PortPlan), EAL its
// memory. Nothing here touches a device, so every number is testable on a box without a NIC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/mbuf_budget.hpp"
#include "config/queue_plan.hpp"
#include "config/thread_plan.hpp"

namespace taprec {

// What the plan needs to know about the machine; the daemon reads it (daemon/machine_facts),
// tests write it.
struct MachineFacts {
    uint32_t cpus = 1;               // cores this process may run on
    uint64_t free_hugepage_bytes = 0;
    bool hugetlbfs_mounted = false;
    uint64_t available_memory_bytes = 0;  // MemAvailable: what --no-huge can take
    // The hardware type (ARPHRD_*) of each network interface of this network namespace.
    std::map<std::string, uint16_t> interface_types;
};

// How the pcap driver reads a live interface: an Ethernet interface from its own TPACKET_V3 ring,
// in place (drivers/tpacket_source); anything else (lo, tun, libpcap's own devices such as any)
// through libpcap (drivers/pcap_source). The same socket and frames either way.
// none: not a live port, or a name the machine's facts lack, which the driver settles at open.
enum class LiveReader : uint8_t { none, tpacket_ring, libpcap };
// The ring: the kernel's burst buffer and the room for packets in flight together (what libpcap's
// 64 MiB ring and the 64 MiB arena its packets were copied into were), in 1 MiB blocks.
inline constexpr size_t live_ring_bytes = size_t{128} << 20;
inline constexpr uint32_t live_ring_block_bytes = uint32_t{1} << 20;
// "pcap interface cap0 (TPACKET_V3 ring, 128 MiB, read in place)": the words --check prints for
// a live port and the run logs once it is open.
std::string describe_live_interface(const std::string& interface, LiveReader reader,
                                    size_t ring_bytes = live_ring_bytes);

// One port of a tap, as the run will set it up.
struct PortPlan {
    std::string key;            // "taps[0].a", for messages
    PortConfig config;
    std::string peer_device;    // the tap's other port's dpdk device, "" if none or not dpdk
    TimestampSource timestamps = TimestampSource::automatic;
    LiveReader live_reader = LiveReader::none;  // a pcap interface: how it is read
    // DPDK only from here.
    bool replay = false;        // net_pcap with rx_pcap: a file, lossless, no mempool cache
    uint16_t queues = 1;        // RX queues asked for; a device that offers fewer gets fewer
    uint32_t workers = 1;       // the workers this port feeds at most
    uint32_t workers_without_rss = 1;  // ... when the device gives one queue (software hash)
    bool workers_given = false; // taps[].workers is a number: a device offering fewer queues is an error
    // Where the device arguments fix the queues (net_af_packet qpairs=, net_af_xdp queue_count=,
    // a net_memif client): every one is polled, and the queue plan says who steers them. A NIC's
    // RSS queues are known only once DPDK opens it: the port settles them at start.
    bool queues_fixed_by_args = false;
    QueueSteering steering = QueueSteering::single;
    bool by_queue = false;      // queue i of every port feeds worker i
    size_t ports_in_tap = 1;
    uint32_t rx_descriptors = 0;
    uint32_t ring_capacity = 0;
    uint32_t cache = 0;         // per-thread mempool cache
    uint32_t mbufs = 0;         // the pool
    bool mbufs_auto = false;    // sized by the plan (no dpdk.mbufs_per_port)
    MbufBudget budget;          // what the pipeline can hold at once
};

struct TapPlan {
    std::string name;
    std::vector<PortPlan> ports;  // a, then b
    uint32_t workers = 1;         // at most; auto follows the ports' RSS queues at start
    bool workers_auto = false;
    uint32_t ring_capacity = 0;
    std::string directory;        // DIRECTORY/NAME/
    std::string clock;            // where the tap's timestamps come from, in words
    TapQueuePlan queues;          // every RX queue polled and the worker each feeds
    std::vector<TapLoop> loops;   // its threads and their stages (with `workers` workers)
    // workers: auto on a NIC (here or in an earlier tap): its queues decide the workers at
    // start, so `loops` holds for `workers` workers and the run logs the real ones.
    bool loops_settled_at_start = false;
};

struct DpdkPlan {
    bool used = false;          // some port has driver dpdk
    bool no_huge = false;       // "--no-huge" in dpdk.eal
    bool in_memory = false;     // "--in-memory": hugepages through memfd, no mount needed
    uint64_t mbuf_bytes = 0;    // one mbuf's memory on this kind of page
    uint64_t memory_mib = 0;    // EAL memory: every pool plus eal_base_mib (EAL's -m)
    uint64_t hugepages_2m = 0;  // 2 MiB pages to reserve (0 under --no-huge)
};

struct RunPlan {
    std::vector<TapPlan> taps;
    DpdkPlan dpdk;
};

// Pure. For a Config that passed validate_config().
RunPlan make_plan(const Config& config, const MachineFacts& machine);

// What the plan itself rules out, before any device is asked: a pool that would starve its port.
std::vector<ConfigError> plan_errors(const Config& config, const RunPlan& plan);

// The plan in the words of the configuration file, defaults and sizes filled in.
void print_plan(const Config& config, const RunPlan& plan, std::ostream& out);

// Whether EAL was given `option` in dpdk.eal ("--no-huge", "-m", ...; "--x=v" and "-m512" count).
bool eal_option_given(const std::vector<std::string>& eal, std::string_view option);

}  // namespace taprec
