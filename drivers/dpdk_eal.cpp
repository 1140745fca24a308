#include "drivers/dpdk_eal.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>

#include "config/helpers.hpp"
#include "drivers/dpdk_api.hpp"
#include "drivers/dpdk_clock.hpp"

namespace taprec {
namespace {

namespace fs = std::filesystem;

// The running EAL's plan (for its cleanup at exit), or nullptr: set once by start_dpdk, on the
// control thread. The ports get their own slice of the plan, never this.
std::unique_ptr<EalPlan> g_eal;

bool given(const std::vector<std::string>& eal, std::initializer_list<std::string_view> options) {
    for (std::string_view opt : options)
        if (eal_option_given(eal, opt)) return true;
    return false;
}

// Every dpdk port of the plan, with its configuration key, in configuration order.
std::vector<const PortPlan*> dpdk_ports(const RunPlan& plan) {
    std::vector<const PortPlan*> ports;
    for (const TapPlan& tap : plan.taps)
        for (const PortPlan& port : tap.ports)
            if (port.config.driver == DriverKind::dpdk) ports.push_back(&port);
    return ports;
}

std::vector<const PortConfig*> dpdk_ports(const Config& config) {
    std::vector<const PortConfig*> ports;
    for (const TapConfig& tap : config.taps) {
        if (tap.a.driver == DriverKind::dpdk) ports.push_back(&tap.a);
        if (tap.b && tap.b->driver == DriverKind::dpdk) ports.push_back(&*tap.b);
    }
    return ports;
}

std::string hugepages_command(uint64_t pages) {
    return helper_path("hugepages") + " " + std::to_string(pages);
}

std::string join(const std::vector<std::string>& args) {
    std::string out;
    for (const std::string& a : args) out += (out.empty() ? "" : " ") + a;
    return out;
}

// Kernel drivers that hand a NIC to DPDK, and NICs whose kernel driver DPDK shares (bifurcated).
bool dpdk_can_use(const std::string& driver) {
    static const std::set<std::string> usable{"vfio-pci", "uio_pci_generic", "igb_uio", "mlx5_core",
                                              "mlx4_core"};
    return usable.count(driver) != 0;
}

std::string check_pci(const DpdkDevice& d) {
    const fs::path dev = fs::path("/sys/bus/pci/devices") / d.name;
    std::error_code ec;
    if (!fs::exists(dev, ec))
        return "dpdk device " + d.text + ": no PCI device " + d.name +
               " on this machine; list the NICs with `dpdk-devbind.py --status`";
    const fs::path link = dev / "driver";
    if (!fs::exists(link, ec))
        return "dpdk device " + d.text + ": PCI device " + d.name +
               " is bound to no driver; run " + helper_path("bind-nic") + " " + d.name;
    const std::string driver = fs::read_symlink(link, ec).filename();
    if (!dpdk_can_use(driver))
        return "dpdk device " + d.text + ": PCI device " + d.name + " is bound to the kernel driver " +
               driver + "; run " + helper_path("bind-nic") + " " + d.name + " to hand it to vfio-pci";
    return "";
}

bool vdev_name_ok(const DpdkDevice& d) {
    return !d.driver.empty() && d.driver.size() < d.name.size() &&
           d.driver.find('_') != std::string::npos && d.driver.back() != '_';
}

std::string vdev_shape_error(const DpdkDevice& d) {
    return "dpdk device \"" + d.text + "\" is neither a PCI address (0000:3b:00.0) nor a vdev " +
           "(DRIVER<N>[,key=value...], e.g. net_pcap0,rx_pcap=FILE or net_memif0,role=server); "
           "fix taps[].a/b.device";
}

void cleanup_eal() {
    std::string run_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    // EAL keeps its run folder (config, mp socket) for secondary processes; the primary is
    // leaving, so nothing can attach any more.
    if (g_eal != nullptr && !run_dir.empty()) {
        std::error_code ec;
        fs::remove_all(run_dir, ec);
    }
}

int first_allowed_core() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) return c;
    return 0;
}

}  // namespace

EalPlan plan_eal(const Config& config, const DpdkPlan& dpdk, int first_core, int pid) {
    EalPlan plan;
    const std::vector<std::string>& user = config.dpdk.eal;
    for (const PortConfig* port : dpdk_ports(config)) plan.devices.push_back(parse_dpdk_device(port->device));

    std::vector<std::string>& args = plan.args;
    if (!given(user, {"-l", "-c", "--lcores"})) args.insert(args.end(), {"-l", std::to_string(first_core)});
    if (!given(user, {"--file-prefix"})) {
        plan.file_prefix = "taprec-" + std::to_string(pid);
        plan.own_prefix = true;
        args.insert(args.end(), {"--file-prefix", plan.file_prefix});
    }
    if (dpdk.no_huge && !given(user, {"-m", "--socket-mem"}))
        args.insert(args.end(), {"-m", std::to_string(dpdk.memory_mib)});
    if (!dpdk.no_huge && !given(user, {"--huge-unlink", "--in-memory"})) args.push_back("--huge-unlink");
    if (!given(user, {"--log-level"})) args.push_back("--log-level=notice");
    bool any_pci = false;
    for (const DpdkDevice& d : plan.devices) any_pci = any_pci || d.is_pci;
    if (!any_pci) {
        if (!given(user, {"--no-pci", "-a", "--allow", "-b", "--block"})) args.push_back("--no-pci");
    } else {
        for (const DpdkDevice& d : plan.devices)
            if (d.is_pci) args.insert(args.end(), {"-a", d.name});
    }
    for (const DpdkDevice& d : plan.devices)
        if (!d.is_pci) args.insert(args.end(), {"--vdev", d.text});
    args.insert(args.end(), user.begin(), user.end());
    return plan;
}

namespace {

// The device of one port, or "" when the start would accept it.
std::string device_problem(const DpdkDevice& d) {
    if (d.is_pci) return check_pci(d);
    if (!vdev_name_ok(d)) return vdev_shape_error(d);
    if (d.driver == "net_pcap" && d.arg_count("rx_pcap") > 1)
        return "dpdk device " + d.text + ": more than one rx_pcap; give each port one file "
               "(a second file is a second port, e.g. port b)";
    return "";
}

// The MiB of "-m MB" (or "-mMB") in dpdk.eal, 0 when not given.
uint64_t eal_memory_given(const std::vector<std::string>& eal) {
    for (size_t i = 0; i < eal.size(); ++i) {
        if (eal[i] == "-m" && i + 1 < eal.size()) return std::strtoull(eal[i + 1].c_str(), nullptr, 10);
        if (eal[i].starts_with("-m") && eal[i].size() > 2) return std::strtoull(eal[i].c_str() + 2, nullptr, 10);
    }
    return 0;
}

// The memory the plan needs against what the machine has, as an error on the key that would
// change it; none when it fits.
void check_memory(const Config& config, const DpdkPlan& dpdk, const MachineFacts& machine,
                  std::vector<ConfigError>& errors) {
    const uint64_t free_mib = machine.free_hugepage_bytes >> 20;
    const std::string need = "the plan needs " + std::to_string(dpdk.memory_mib) + " MiB";
    // With --no-huge the pools' size is the key to change; with hugepages, the reservation
    // (dpdk.eal says whether there are hugepages at all).
    const std::string pools = config.dpdk.mbufs_per_port ? "dpdk.mbufs_per_port" : "dpdk.eal";
    auto fail = [&](const std::string& key, const std::string& message) {
        errors.push_back(config.error(key, message));
    };
    if (dpdk.no_huge) {
        if (const uint64_t given_mib = eal_memory_given(config.dpdk.eal); given_mib != 0) {
            if (given_mib < dpdk.memory_mib)
                fail("dpdk.eal", "-m " + std::to_string(given_mib) + " in dpdk.eal, but " + need +
                                     " (every pool and EAL's own share); leave -m out and taprec "
                                     "passes what the plan needs, or lower dpdk.mbufs_per_port");
            return;
        }
        const uint64_t available_mib = machine.available_memory_bytes >> 20;
        if (machine.available_memory_bytes == 0 || available_mib >= dpdk.memory_mib) return;
        fail(config.dpdk.mbufs_per_port ? "dpdk.mbufs_per_port" : "ring_capacity",
             "--no-huge: " + need + " (EAL -m " + std::to_string(dpdk.memory_mib) + ") but only " +
                 std::to_string(available_mib) + " MiB of memory are available; lower "
                 "dpdk.mbufs_per_port or ring_capacity");
        return;
    }
    if (free_mib == 0)
        fail("dpdk.eal", "DPDK needs hugepages and none are free: " + need + "; run " +
                             hugepages_command(dpdk.hugepages_2m) + " (as root), or add "
                             "\"--no-huge\" to dpdk.eal to run without them");
    else if (!machine.hugetlbfs_mounted && !dpdk.in_memory)
        fail("dpdk.eal", "hugepages are reserved but no hugetlbfs is mounted: run " +
                             hugepages_command(dpdk.hugepages_2m) + " (it mounts /dev/hugepages), "
                             "or add \"--no-huge\" to dpdk.eal");
    else if (free_mib < dpdk.memory_mib)
        fail(pools, need + " of hugepages but only " + std::to_string(free_mib) + " MiB are free: run " +
                        hugepages_command(dpdk.hugepages_2m) + " (2 MiB pages), lower "
                        "dpdk.mbufs_per_port, or add \"--no-huge\" to dpdk.eal");
}

}  // namespace

std::vector<ConfigError> check_dpdk_machine(const Config& config, const RunPlan& plan,
                                            const MachineFacts& machine) {
    std::vector<ConfigError> errors;
    if (!plan.dpdk.used) return errors;
    std::set<std::string> names;
    for (const PortPlan* port : dpdk_ports(plan)) {
        const DpdkDevice d = parse_dpdk_device(port->config.device);
        std::string problem = device_problem(d);
        if (problem.empty() && !names.insert(d.name).second)
            problem = "dpdk device " + d.name + " is configured for two ports; each port needs its "
                      "own device (a vdev name such as net_pcap0 must be unique too: net_pcap1, ...)";
        if (!problem.empty()) errors.push_back(config.error(port->key + ".device", problem));
    }
    check_memory(config, plan.dpdk, machine, errors);
    return errors;
}

bool dpdk_started() noexcept { return g_eal != nullptr; }

namespace {

// rte_eal_init with the plan's arguments; throws DpdkStartError saying why it failed.
void init_eal(const EalPlan& plan, const DpdkPlan& dpdk) {
    // rte_eal_init pins the calling thread to the main lcore, and every thread started from it
    // afterwards would inherit that one core; the daemon's threads choose their own cores.
    cpu_set_t affinity;
    const bool saved = pthread_getaffinity_np(pthread_self(), sizeof affinity, &affinity) == 0;
    std::vector<std::string> storage{"taprec"};
    storage.insert(storage.end(), plan.args.begin(), plan.args.end());
    std::vector<char*> argv;
    for (std::string& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = rte_eal_init(static_cast<int>(storage.size()), argv.data());
    if (saved) pthread_setaffinity_np(pthread_self(), sizeof affinity, &affinity);
    if (rc >= 0) return;
    const int err = rte_errno;
    std::string msg = "DPDK EAL failed to start (" + std::string(rte_strerror(err)) +
                      ") with arguments: " + join(plan.args);
    if (err == ENODEV)
        msg = "dpdk: a device did not come up as a DPDK port: EAL does not know its driver "
              "(see EAL's message above); vdev drivers include net_pcap, net_memif, "
              "net_af_packet, net_af_xdp, net_null and net_ring; EAL arguments: " +
              join(plan.args);
    else if (!dpdk.no_huge && (err == EACCES || err == ENOMEM))
        msg += "; if hugepages are missing run " + hugepages_command(dpdk.hugepages_2m) +
               " or add \"--no-huge\" to dpdk.eal";
    else
        msg += "; EAL's own message above says why; check dpdk.eal";
    // A prefix of our own (taprec-PID) is no other process's: leave no run folder behind.
    if (plan.own_prefix && err != EALREADY) {
        std::error_code ec;
        fs::remove_all(rte_eal_get_runtime_dir(), ec);
    }
    throw DpdkStartError(err == EINVAL || err == ENODEV || err == EACCES || err == ENOMEM ? 2 : 1, msg);
}

// After EAL: each configured device must have become a port.
void check_ports_up(const EalPlan& plan) {
    for (const DpdkDevice& d : plan.devices) {
        uint16_t port_id;
        if (rte_eth_dev_get_port_by_name(d.name.c_str(), &port_id) == 0) continue;
        if (d.is_pci)
            throw DpdkStartError(2, "dpdk device " + d.text + " did not come up as a DPDK port; "
                                    "bind it to a DPDK driver with " + helper_path("bind-nic") +
                                    " " + d.name);
        throw DpdkStartError(2, "dpdk device \"" + d.text + "\" did not come up as a DPDK port: "
                                "check the driver name (net_pcap, net_memif, net_af_packet, "
                                "net_af_xdp, net_null, net_ring) and its arguments; DPDK's message "
                                "above says why");
    }
}

}  // namespace

std::string start_dpdk(const Config& config, const RunPlan& plan) {
    if (!plan.dpdk.used || g_eal != nullptr) return "";
    auto eal = std::make_unique<EalPlan>(plan_eal(config, plan.dpdk, first_allowed_core(),
                                                  static_cast<int>(getpid())));
    init_eal(*eal, plan.dpdk);
    g_eal = std::move(eal);
    std::atexit(cleanup_eal);
    TscClock::calibrate(50);
    check_ports_up(*g_eal);
    return "dpdk: EAL started: " + join(g_eal->args) + "; " + std::to_string(plan.dpdk.memory_mib) +
           " MiB planned" + (plan.dpdk.no_huge ? " (--no-huge)" : " of hugepages") + "; TSC " +
           std::to_string(TscClock::tsc_hz() / 1'000'000) + " MHz";
}

}  // namespace taprec
