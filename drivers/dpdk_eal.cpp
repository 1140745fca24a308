#include "drivers/dpdk_eal.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>

#include "drivers/dpdk_api.hpp"
#include "drivers/dpdk_clock.hpp"
#include "drivers/dpdk_mempool.hpp"

namespace taprec {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<DpdkRuntime> g_runtime;  // set once by start_dpdk, on the control thread

// Memory EAL needs besides the mempools: its own heap, descriptor rings, memif regions.
constexpr uint64_t eal_base_mb = 256;
constexpr uint64_t hugepage_hint_pages = 512;

bool given(const std::vector<std::string>& eal, std::initializer_list<std::string_view> options) {
    for (const std::string& arg : eal) {
        for (std::string_view opt : options) {
            if (arg == opt) return true;
            if (opt.starts_with("--") && arg.starts_with(std::string(opt) + "=")) return true;
            // Short options glued to their value: -l0, -m512.
            if (opt.size() == 2 && !arg.starts_with("--") && arg.starts_with(opt)) return true;
        }
    }
    return false;
}

std::vector<const PortConfig*> dpdk_ports(const Config& config) {
    std::vector<const PortConfig*> ports;
    for (const TapConfig& tap : config.taps) {
        if (tap.a.driver == DriverKind::dpdk) ports.push_back(&tap.a);
        if (tap.b && tap.b->driver == DriverKind::dpdk) ports.push_back(&*tap.b);
    }
    return ports;
}

std::string join(const std::vector<std::string>& args) {
    std::string out;
    for (const std::string& a : args) out += (out.empty() ? "" : " ") + a;
    return out;
}

std::string read_line(const fs::path& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// Free hugepage memory of every size, in bytes.
uint64_t free_hugepage_bytes() {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
        const std::string name = entry.path().filename();  // hugepages-2048kB
        const uint64_t kb = std::strtoull(name.c_str() + name.find('-') + 1, nullptr, 10);
        total += std::strtoull(read_line(entry.path() / "free_hugepages").c_str(), nullptr, 10) *
                 kb * 1024;
    }
    return total;
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
               " is bound to no driver; run scripts/bind-nic " + d.name;
    const std::string driver = fs::read_symlink(link, ec).filename();
    if (!dpdk_can_use(driver))
        return "dpdk device " + d.text + ": PCI device " + d.name + " is bound to the kernel driver " +
               driver + "; run scripts/bind-nic " + d.name + " to hand it to vfio-pci";
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
    const DpdkRuntime* runtime = g_runtime.get();
    std::string run_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    // EAL keeps its run folder (config, mp socket) for secondary processes; the primary is
    // leaving, so nothing can attach any more.
    if (runtime != nullptr && !run_dir.empty()) {
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

EalPlan plan_eal(const Config& config, int first_core, int pid) {
    EalPlan plan;
    const std::vector<std::string>& user = config.dpdk.eal;
    const std::vector<const PortConfig*> ports = dpdk_ports(config);
    for (const PortConfig* port : ports) plan.devices.push_back(parse_dpdk_device(port->device));
    plan.no_huge = given(user, {"--no-huge"});
    plan.in_memory = given(user, {"--in-memory"});
    const uint64_t pool_bytes = uint64_t(config.dpdk.mbufs_per_port) * mbuf_footprint_bytes;
    plan.memory_mb = eal_base_mb + (pool_bytes * ports.size() + (1 << 20) - 1) / (1 << 20);

    std::vector<std::string>& args = plan.args;
    if (!given(user, {"-l", "-c", "--lcores"})) args.insert(args.end(), {"-l", std::to_string(first_core)});
    if (!given(user, {"--file-prefix"})) {
        plan.file_prefix = "taprec-" + std::to_string(pid);
        plan.own_prefix = true;
        args.insert(args.end(), {"--file-prefix", plan.file_prefix});
    }
    if (plan.no_huge && !given(user, {"-m", "--socket-mem"}))
        args.insert(args.end(), {"-m", std::to_string(plan.memory_mb)});
    if (!plan.no_huge && !given(user, {"--huge-unlink", "--in-memory"})) args.push_back("--huge-unlink");
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

std::string check_dpdk_machine(const EalPlan& plan) {
    std::set<std::string> names;
    for (const DpdkDevice& d : plan.devices) {
        if (!names.insert(d.name).second)
            return "dpdk device " + d.name + " is configured for two ports; each port needs its own "
                   "device (a vdev name such as net_pcap0 must be unique too: net_pcap1, ...)";
        if (d.is_pci) {
            if (std::string e = check_pci(d); !e.empty()) return e;
            continue;
        }
        if (!vdev_name_ok(d)) return vdev_shape_error(d);
        if (d.driver == "net_pcap" && d.arg_count("rx_pcap") > 1)
            return "dpdk device " + d.text + ": more than one rx_pcap; give each port one file "
                   "(a second file is a second port, e.g. port b)";
    }
    if (!plan.no_huge) {
        const uint64_t free_mb = free_hugepage_bytes() >> 20;
        if (free_mb == 0)
            return "DPDK needs hugepages and none are free: run scripts/hugepages " +
                   std::to_string(hugepage_hint_pages) +
                   " (as root), or add \"--no-huge\" to dpdk.eal to run without them";
        std::ifstream mounts("/proc/mounts");
        std::string line;
        bool mounted = false;
        while (std::getline(mounts, line)) mounted = mounted || line.find(" hugetlbfs ") != std::string::npos;
        // --in-memory maps hugepages through memfd and needs no mount.
        if (!mounted && !plan.in_memory)
            return "hugepages are reserved but no hugetlbfs is mounted: run scripts/hugepages " +
                   std::to_string(hugepage_hint_pages) + " (it mounts /dev/hugepages), or add "
                   "\"--no-huge\" to dpdk.eal";
        if (free_mb < plan.memory_mb)
            return "DPDK needs about " + std::to_string(plan.memory_mb) + " MiB but only " +
                   std::to_string(free_mb) + " MiB of hugepages are free: run scripts/hugepages " +
                   std::to_string((plan.memory_mb + 1) / 2) +
                   " (2 MiB pages), lower dpdk.mbufs_per_port, or add \"--no-huge\" to dpdk.eal";
    }
    return "";
}

const DpdkRuntime* dpdk_runtime() noexcept { return g_runtime.get(); }

int start_dpdk(const Config& config, const DpdkLog& log) {
    if (dpdk_ports(config).empty() || g_runtime != nullptr) return 0;
    auto runtime = std::make_unique<DpdkRuntime>();
    runtime->config = config;
    runtime->plan = plan_eal(config, first_allowed_core(), static_cast<int>(getpid()));
    const EalPlan& plan = runtime->plan;
    if (std::string e = check_dpdk_machine(plan); !e.empty()) {
        log(true, e + "; nothing was started");
        return 2;
    }
    for (const DpdkDevice& d : plan.devices) {
        const auto file = d.arg("rx_pcap");
        if (d.driver != "net_pcap" || !file) continue;
        try {
            runtime->replays[*file] = scan_capture_file(*file);
        } catch (const std::exception& e) {
            log(true, "dpdk device " + d.text + ": " + e.what() + "; nothing was started");
            return 2;
        }
    }

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
    if (rc < 0) {
        const int err = rte_errno;
        std::string msg = "DPDK EAL failed to start (" + std::string(rte_strerror(err)) +
                          ") with arguments: " + join(plan.args);
        if (err == ENODEV)
            msg = "dpdk: a device did not come up as a DPDK port: EAL does not know its driver "
                  "(see EAL's message above); vdev drivers include net_pcap, net_memif, "
                  "net_af_packet, net_af_xdp, net_null and net_ring; EAL arguments: " +
                  join(plan.args);
        else if (!plan.no_huge && (err == EACCES || err == ENOMEM))
            msg += "; if hugepages are missing run scripts/hugepages " +
                   std::to_string(hugepage_hint_pages) + " or add \"--no-huge\" to dpdk.eal";
        else
            msg += "; EAL's own message above says why; check dpdk.eal";
        log(true, msg + "; nothing was started");
        // A prefix of our own (taprec-PID) is no other process's: leave no run folder behind.
        if (plan.own_prefix && err != EALREADY) {
            std::error_code ec;
            fs::remove_all(rte_eal_get_runtime_dir(), ec);
        }
        return err == EINVAL || err == ENODEV || err == EACCES || err == ENOMEM ? 2 : 1;
    }
    g_runtime = std::move(runtime);
    std::atexit(cleanup_eal);
    TscClock::calibrate(50);

    for (const DpdkDevice& d : plan.devices) {
        uint16_t port_id;
        if (rte_eth_dev_get_port_by_name(d.name.c_str(), &port_id) == 0) continue;
        if (d.is_pci)
            log(true, "dpdk device " + d.text + " did not come up as a DPDK port; bind it to a "
                      "DPDK driver with scripts/bind-nic " + d.name + "; nothing was started");
        else
            log(true, "dpdk device \"" + d.text + "\" did not come up as a DPDK port: check the "
                      "driver name (net_pcap, net_memif, net_af_packet, net_af_xdp, net_null, "
                      "net_ring) and its arguments; DPDK's message above says why; nothing was "
                      "started");
        return 2;
    }
    log(false, "dpdk: EAL started: " + join(plan.args) + "; TSC " +
                   std::to_string(TscClock::tsc_hz() / 1'000'000) + " MHz");
    return 0;
}

}  // namespace taprec
