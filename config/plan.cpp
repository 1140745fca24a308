#include "config/plan.hpp"

#include <net/if_arp.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "config/limits.hpp"
#include "config/units.hpp"
#include "config/dpdk_device.hpp"

namespace taprec {

namespace {

// A net_pcap vdev that replays a file: one queue, no RSS, lossless.
bool is_replay(const PortConfig& port) {
    if (port.driver != DriverKind::dpdk) return false;
    const DpdkDevice device = parse_dpdk_device(port.device);
    return device.driver == "net_pcap" && device.arg("rx_pcap").has_value();
}

// The workers a tap gets without RSS: what it says, else one per pinned worker core, else one.
uint32_t workers_without_rss(const Config& config, const TapConfig& tap) {
    if (tap.workers) return *tap.workers;
    return config.threads.workers.empty() ? 1u : uint32_t(config.threads.workers.size());
}

// RX queues a DPDK port asks for: the tap's workers, or (auto) one per core it may use. A device
// that offers fewer, or no symmetric RSS, gets fewer at start, and the workers follow it.
uint16_t queues_asked(const Config& config, const TapConfig& tap, const PortConfig& port,
                      const MachineFacts& machine) {
    if (port.driver != DriverKind::dpdk || is_replay(port)) return 1;
    const uint32_t cores = config.threads.workers.empty() ? std::max(1u, machine.cpus)
                                                          : uint32_t(config.threads.workers.size());
    return uint16_t(std::min(tap.workers.value_or(cores), limits::max_workers));
}

PortPlan plan_port(const Config& config, const TapConfig& tap, const PortConfig& port,
                   const PortConfig* peer, const std::string& key, const MachineFacts& machine) {
    PortPlan p;
    p.key = key;
    p.config = port;
    p.timestamps = tap.timestamps;
    if (peer != nullptr && peer->driver == DriverKind::dpdk) p.peer_device = peer->device;
    p.ports_in_tap = peer != nullptr ? 2 : 1;
    p.workers_given = tap.workers.has_value();
    if (port.driver == DriverKind::pcap && !port.interface.empty()) {
        // A name the facts lack (libpcap's own devices such as any, an interface's altname) is
        // left to the driver, which asks the kernel when it opens it.
        const auto type = machine.interface_types.find(port.interface);
        if (type != machine.interface_types.end())
            p.live_reader = type->second == ARPHRD_ETHER ? LiveReader::tpacket_ring : LiveReader::libpcap;
    }
    if (port.driver != DriverKind::dpdk) return p;
    p.replay = is_replay(port);
    p.queues = queues_asked(config, tap, port, machine);
    p.workers_without_rss = workers_without_rss(config, tap);
    p.workers = std::max<uint32_t>(p.queues, p.workers_without_rss);
    p.rx_descriptors = config.dpdk.rx_descriptors;
    p.ring_capacity = config.ring_capacity;
    // A replay's rx thread waits for free mbufs and must see them all: no per-thread cache.
    p.cache = p.replay ? 0 : mbuf_cache_size;
    if (config.dpdk.mbufs_per_port && uint64_t(p.cache) * 3 / 2 > *config.dpdk.mbufs_per_port) p.cache = 0;
    p.budget = mbufs_held_at_once(p.rx_descriptors, p.queues, p.workers, p.ring_capacity, p.cache);
    p.mbufs_auto = !config.dpdk.mbufs_per_port;
    p.mbufs = config.dpdk.mbufs_per_port
                  ? *config.dpdk.mbufs_per_port
                  : uint32_t(std::min<uint64_t>(pool_size_for(p.budget.total()), limits::max_mbufs_per_port));
    return p;
}

// A port whose device arguments fix its queues takes them, and the workers, from the queue plan;
// its pool is sized for them.
void apply_queue_plan(const TapQueuePlan& queues, size_t index, PortPlan& p) {
    if (p.config.driver != DriverKind::dpdk) return;
    const DeviceQueues device = device_queues_from_args(p.config.device);
    p.steering = queues.ports[index].steering;
    p.by_queue = queues.by_queue;
    if (!device.fixed && !device.memif_client) return;
    p.queues_fixed_by_args = true;
    p.queues = queues.ports[index].queues;
    p.workers = std::max(queues.workers, uint32_t(p.queues));
    p.workers_without_rss = queues.workers;
    p.budget = mbufs_held_at_once(p.rx_descriptors, p.queues, p.workers, p.ring_capacity, p.cache);
    if (p.mbufs_auto)
        p.mbufs = uint32_t(std::min<uint64_t>(pool_size_for(p.budget.total()), limits::max_mbufs_per_port));
}

bool is_net_pcap(const PortConfig& port) {
    return port.driver == DriverKind::dpdk && parse_dpdk_device(port.device).driver == "net_pcap";
}

// The clock the drivers will choose for this tap (drivers/dpdk_port's choose_clock, pcap_source).
std::string tap_clock(const TapConfig& tap) {
    const bool dpdk = tap.a.driver == DriverKind::dpdk;
    if (!dpdk) return "libpcap's stamps (the kernel's on a live interface, the file's on a replay)";
    const bool all_net_pcap = is_net_pcap(tap.a) && (!tap.b || is_net_pcap(*tap.b));
    switch (tap.timestamps) {
    case TimestampSource::software: return "the TSC, read per burst and anchored to CLOCK_REALTIME";
    case TimestampSource::hardware:
        return all_net_pcap ? "net_pcap's own stamps (the file's time, in microseconds)"
                            : "the NIC's RX timestamps (refused at start by a NIC without them)";
    case TimestampSource::automatic: break;
    }
    return all_net_pcap ? "net_pcap's own stamps (the file's time, in microseconds)"
                        : "the TSC, read per burst and anchored to CLOCK_REALTIME";
}

DpdkPlan plan_dpdk(const Config& config, const std::vector<TapPlan>& taps) {
    DpdkPlan d;
    d.no_huge = eal_option_given(config.dpdk.eal, "--no-huge");
    d.in_memory = eal_option_given(config.dpdk.eal, "--in-memory");
    d.mbuf_bytes = d.no_huge ? mbuf_footprint_no_huge_bytes : mbuf_footprint_bytes;
    uint64_t pool_bytes = 0;
    for (const TapPlan& tap : taps)
        for (const PortPlan& port : tap.ports) {
            if (port.config.driver != DriverKind::dpdk) continue;
            d.used = true;
            pool_bytes += uint64_t(port.mbufs) * d.mbuf_bytes;
        }
    if (!d.used) return d;
    d.memory_mib = eal_base_mib + (pool_bytes + (1 << 20) - 1) / (1 << 20);
    d.hugepages_2m = d.no_huge ? 0 : (d.memory_mib + 1) / 2;
    return d;
}

constexpr size_t label_width = 16;

void heading(std::ostream& out, const std::string& text) { out << text << '\n'; }

// Padding by hand rather than std::setw leaves the caller's stream flags alone.
std::string padded(const std::string& label, size_t width) {
    return label.size() >= width ? label + " " : label + std::string(width - label.size(), ' ');
}

void row(std::ostream& out, const std::string& label, const std::string& value) {
    out << "  " << padded(label, label_width) << value << '\n';
}

// A setting that is a section of its own, aligned with the rows.
void top_row(std::ostream& out, const std::string& label, const std::string& value) {
    out << padded(label, label_width + 2) << value << '\n';
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty()) out += separator;
        out += part;
    }
    return out;
}

std::string cores(const std::vector<int>& list) {
    if (list.empty()) return "unpinned";
    std::vector<std::string> parts;
    for (int core : list) parts.push_back(std::to_string(core));
    return join(parts, ", ");
}

// argv as one would type it: arguments with spaces, or empty ones, in quotes.
std::string command_line(const std::vector<std::string>& argv) {
    std::vector<std::string> parts;
    for (const auto& arg : argv) {
        const bool plain = !arg.empty() && arg.find_first_of(" \t\"'") == std::string::npos;
        parts.push_back(plain ? arg : "\"" + arg + "\"");
    }
    return join(parts, " ");
}

std::string describe_port(const PortPlan& plan) {
    const PortConfig& port = plan.config;
    if (port.driver == DriverKind::dpdk) return "dpdk device " + port.device;
    if (!port.file.empty()) {
        return "pcap file " + port.file + ", speed " + std::string(name_of(port.speed));
    }
    return describe_live_interface(port.interface, plan.live_reader);
}

std::string tap_directory(const Config& config, const TapConfig& tap) {
    std::string directory = config.output.directory;
    while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
    if (directory != "/") directory += '/';
    return directory + tap.name + "/";
}

std::string rotation(const RotateConfig& rotate) {
    std::vector<std::string> triggers;
    if (rotate.bytes != 0) triggers.push_back(format_size(rotate.bytes));
    if (rotate.seconds != 0) triggers.push_back(std::to_string(rotate.seconds) + "s");
    if (rotate.packets != 0) triggers.push_back(std::to_string(rotate.packets) + " packets");
    if (triggers.empty()) return "never: one file per run (SIGHUP starts a new one)";
    std::string text = "at " + join(triggers, " or ");
    if (triggers.size() > 1) text += ", whichever comes first";
    return text;
}

std::string retention(const RetentionConfig& retention) {
    std::vector<std::string> limits;
    if (retention.max_bytes != 0) limits.push_back("at most " + format_size(retention.max_bytes));
    if (retention.max_files != 0) limits.push_back("at most " + std::to_string(retention.max_files) + " files");
    if (retention.min_free_percent != 0) {
        limits.push_back(std::to_string(retention.min_free_percent) + "% of the disk free");
    }
    if (limits.empty()) return "keep every file";
    return "keep " + join(limits, ", ") + "; oldest deleted first";
}

std::string mib(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

// What one DPDK port is given: queues, descriptors, its pool and why that size.
std::string port_resources(const PortPlan& p, const DpdkPlan& dpdk) {
    std::string text = std::to_string(p.queues) + (p.queues == 1 ? " queue" : p.queues_fixed_by_args ? " queues" : " queues at most") +
                       " of " + std::to_string(p.rx_descriptors) + " descriptors; pool " +
                       std::to_string(p.mbufs) + " mbufs (" + mib(uint64_t(p.mbufs) * dpdk.mbuf_bytes);
    text += p.mbufs_auto ? ", auto: " + std::to_string(p.budget.total()) + " can be held at once"
                         : ", dpdk.mbufs_per_port";
    return text + ")" + (p.cache == 0 ? ", no per-thread cache" : "");
}

void print_tap(std::ostream& out, const Config& config, const TapPlan& plan, const DpdkPlan& dpdk) {
    const TapConfig& tap = *std::find_if(config.taps.begin(), config.taps.end(),
                                         [&](const TapConfig& t) { return t.name == plan.name; });
    heading(out, "tap " + tap.name);
    for (const PortPlan& port : plan.ports) {
        const std::string label = &port == &plan.ports.front() ? "port a" : "port b";
        row(out, label, describe_port(port));
        if (port.config.driver == DriverKind::dpdk) row(out, "", port_resources(port, dpdk));
    }
    if (plan.ports.size() == 1) row(out, "port b", "none (single-output TAP or SPAN)");
    row(out, "workers", plan.workers_auto ? "auto: " + std::to_string(plan.workers) +
                                                " at most (as many as the ports offer)"
                                          : std::to_string(plan.workers));
    row(out, "rings", std::to_string(plan.workers * plan.ports.size()) + " rx_to_worker and " +
                          std::to_string(plan.workers) + " worker_to_writer of " +
                          std::to_string(plan.ring_capacity) + " packets");
    row(out, "threads", describe_tap_loops(plan.loops) +
                            (plan.loops_settled_at_start
                                 ? " (with " + std::to_string(plan.workers) +
                                       " workers; the run logs the threads for the workers the ports give)"
                                 : ""));
    row(out, "timestamps", std::string(name_of(tap.timestamps)) + ": " + plan.clock);
    row(out, "reorder", format_duration(tap.reorder_window_ns));
    row(out, "files", plan.directory + "  (in progress: .partial/, index and stats: .meta/)");
}

// Each tap's threads, with the cores of `threads` handed out as the run hands them out.
void plan_threads(const Config& config, std::vector<TapPlan>& taps) {
    std::vector<size_t> ports;
    std::vector<uint32_t> workers;
    for (const TapPlan& tap : taps) {
        ports.push_back(tap.ports.size());
        workers.push_back(tap.workers);
    }
    const std::vector<TapCores> cores = assign_cores(config.threads, ports, workers);
    bool settled = true;  // every worker count so far is known now
    for (size_t t = 0; t < taps.size(); ++t) {
        // workers: auto on a NIC: as many as its RSS queues, which only DPDK can say; and the
        // cores of later taps follow the workers of earlier ones.
        for (const PortPlan& p : taps[t].ports)
            if (taps[t].workers_auto && p.config.driver == DriverKind::dpdk && !p.queues_fixed_by_args)
                settled = false;
        taps[t].loops_settled_at_start = !settled;
        const bool live = std::all_of(taps[t].ports.begin(), taps[t].ports.end(), [](const PortPlan& p) {
            return p.config.driver == DriverKind::pcap && !p.config.interface.empty();
        });
        taps[t].loops = plan_tap_loops(taps[t].name, cores[t], ports[t], workers[t], live);
    }
}

std::string run_as(const Config& config) {
    if (config.user.empty() && config.group.empty()) return "the starting user (no user: or group: given)";
    std::string who;
    if (!config.user.empty()) who = "user " + config.user;
    if (!config.group.empty()) who += (who.empty() ? "group " : ", group ") + config.group;
    else who += ", its own group";
    return who + ", once the ports are open";
}

}  // namespace

bool eal_option_given(const std::vector<std::string>& eal, std::string_view opt) {
    for (const std::string& arg : eal) {
        if (arg == opt) return true;
        if (opt.starts_with("--") && arg.starts_with(std::string(opt) + "=")) return true;
        // Short options glued to their value: -l0, -m512.
        if (opt.size() == 2 && !arg.starts_with("--") && arg.starts_with(opt)) return true;
    }
    return false;
}

std::string describe_live_interface(const std::string& interface, LiveReader reader,
                                    size_t ring_bytes) {
    const std::string name = "pcap interface " + interface;
    switch (reader) {
    case LiveReader::tpacket_ring:
        return name + " (TPACKET_V3 ring, " + std::to_string(ring_bytes >> 20) + " MiB, read in place)";
    case LiveReader::libpcap: return name + " (through libpcap)";
    case LiveReader::none: break;
    }
    return name + " (its TPACKET_V3 ring if the kernel calls it Ethernet, else libpcap)";
}

RunPlan make_plan(const Config& config, const MachineFacts& machine) {
    RunPlan plan;
    for (size_t t = 0; t < config.taps.size(); ++t) {
        const TapConfig& tap = config.taps[t];
        const std::string key = "taps[" + std::to_string(t) + "]";
        TapPlan tp;
        tp.name = tap.name;
        tp.ports.push_back(plan_port(config, tap, tap.a, tap.b ? &*tap.b : nullptr, key + ".a", machine));
        if (tap.b) tp.ports.push_back(plan_port(config, tap, *tap.b, &tap.a, key + ".b", machine));
        tp.workers_auto = !tap.workers;
        tp.workers = workers_without_rss(config, tap);
        const uint32_t cores = config.threads.workers.empty() ? std::max(1u, machine.cpus)
                                                              : uint32_t(config.threads.workers.size());
        tp.queues = plan_tap_queues_from_args(config, t, cores);
        for (size_t i = 0; i < tp.ports.size(); ++i) apply_queue_plan(tp.queues, i, tp.ports[i]);
        for (const PortPlan& p : tp.ports) tp.workers = std::max(tp.workers, p.queues == 1 ? 0u : p.workers);
        tp.ring_capacity = config.ring_capacity;
        tp.directory = tap_directory(config, tap);
        tp.clock = tap_clock(tap);
        plan.taps.push_back(std::move(tp));
    }
    plan_threads(config, plan.taps);
    plan.dpdk = plan_dpdk(config, plan.taps);
    return plan;
}

std::vector<ConfigError> plan_errors(const Config& config, const RunPlan& plan) {
    std::vector<ConfigError> errors;
    for (const TapPlan& tap : plan.taps)
        if (tap.queues.error) errors.push_back(*tap.queues.error);
    for (const TapPlan& tap : plan.taps)
        for (const PortPlan& p : tap.ports) {
            if (p.config.driver != DriverKind::dpdk || p.mbufs >= p.budget.fixed()) continue;
            errors.push_back(config.error(
                "dpdk.mbufs_per_port",
                std::to_string(p.mbufs) + " mbufs for " + p.key + " (" + p.config.device +
                    "), but not even the rx descriptors, bursts and caches fit (" +
                    std::to_string(p.budget.fixed()) + "), so the port would starve; set "
                    "dpdk.mbufs_per_port to " + std::to_string(pool_size_for(p.budget.total())) +
                    " or leave it out (auto)"));
        }
    return errors;
}

void print_plan(const Config& config, const RunPlan& plan, std::ostream& out) {
    top_row(out, "config", config.path);
    for (size_t t = 0; t < plan.taps.size(); ++t) {
        print_tap(out, config, plan.taps[t], plan.dpdk);
        print_tap_queues(config.taps[t], plan.taps[t].queues, out);
    }

    heading(out, "threads");
    row(out, "rx", cores(config.threads.rx));
    row(out, "workers", cores(config.threads.workers));
    row(out, "writer", config.threads.writer ? std::to_string(*config.threads.writer) : "unpinned");
    row(out, "idle", std::string(name_of(config.threads.idle)));

    if (config.dpdk.present || plan.dpdk.used) {
        heading(out, "dpdk");
        row(out, "eal", config.dpdk.eal.empty() ? "(none extra)" : command_line(config.dpdk.eal));
        row(out, "mbufs_per_port", config.dpdk.mbufs_per_port
                                       ? std::to_string(*config.dpdk.mbufs_per_port)
                                       : "auto (each port's pool is sized above)");
        row(out, "rx_descriptors", std::to_string(config.dpdk.rx_descriptors));
        if (plan.dpdk.used)
            row(out, "memory", std::to_string(plan.dpdk.memory_mib) + " MiB (" +
                                   (plan.dpdk.no_huge
                                        ? "--no-huge: EAL -m " + std::to_string(plan.dpdk.memory_mib) +
                                              ", 4 KiB pages, one mbuf a page)"
                                        : std::to_string(plan.dpdk.hugepages_2m) +
                                              " hugepages of 2 MiB; --hugepages-needed prints it)"));
    }

    top_row(out, "ring capacity", std::to_string(config.ring_capacity) + " packets per ring");

    const OutputConfig& output = config.output;
    heading(out, "output");
    row(out, "name", output.name + ".pcap");
    row(out, "format", output.format == OutputFormat::pcap_ns ? "pcap-ns (nanosecond timestamps)"
                                                               : "pcap (microsecond timestamps)");
    row(out, "snaplen", std::to_string(output.snaplen) + " bytes");
    row(out, "filter", output.filter.empty() ? "(none)" : "\"" + output.filter + "\"");
    row(out, "rotate", rotation(output.rotate));
    row(out, "retention", retention(output.retention));
    row(out, "on_rotate", output.on_rotate.empty() ? "(none)" : command_line(output.on_rotate));
    if (!output.on_rotate.empty()) {
        row(out, "hooks", "at most " + std::to_string(output.on_rotate_max) + " at once, the rest "
                          "queued; " + (output.on_rotate_timeout_ns == 0
                                            ? std::string("no time limit")
                                            : "killed after " + format_duration(output.on_rotate_timeout_ns)));
    }
    row(out, "sync", output.sync == SyncPolicy::close ? "close (fsync each file before publishing)"
                                                      : "none (the kernel writes back)");
    row(out, "direct_io", output.direct_io ? "true (O_DIRECT where the file system allows)" : "false");
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(output.file_mode));
    row(out, "file_mode", mode);

    heading(out, "stats");
    row(out, "interval", format_duration(config.stats.interval_ns));
    row(out, "prometheus", config.stats.prometheus_textfile.empty() ? "(none)"
                                                                    : config.stats.prometheus_textfile);
    row(out, "tcp loss", config.stats.tcp_flows == 0
                             ? std::string("estimator off")
                             : std::to_string(config.stats.tcp_flows) + " flows per worker, warn at " +
                                   std::to_string(config.stats.loss_warn_percent) + "% over " +
                                   std::to_string(config.stats.loss_warn_min_acks) +
                                   " ACKs or more");

    top_row(out, "run as", run_as(config));
}

}  // namespace taprec
