#include "config/queue_plan.hpp"

#include <algorithm>
#include <charconv>
#include <thread>

#include "config/dpdk_device.hpp"

namespace taprec {
namespace {

constexpr uint32_t max_queues = 64;  // RX queues a port may have (DpdkPort keeps per-queue state)

uint32_t arg_number(const DpdkDevice& device, std::string_view key, uint32_t fallback) {
    const auto text = device.arg(key);
    if (!text) return fallback;
    uint32_t n = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    return ec == std::errc() && end == text->data() + text->size() && n > 0 ? n : fallback;
}

std::string queue_list(uint16_t queues) {
    return queues == 1 ? "queue 0" : "queues 0-" + std::to_string(queues - 1);
}

const char* port_letter(size_t p) { return p == 0 ? "a" : "b"; }

}  // namespace

std::string_view name_of(QueueSteering steering) {
    switch (steering) {
    case QueueSteering::single: return "nothing (one queue)";
    case QueueSteering::nic_rss: return "the NIC's symmetric RSS";
    case QueueSteering::kernel_fanout: return "the kernel's symmetric fanout hash";
    case QueueSteering::peer: return "the memif peer's choice";
    case QueueSteering::unsteered: return "no flow steering";
    }
    return "?";
}

DeviceQueues device_queues_from_args(const std::string& text) {
    const DpdkDevice device = parse_dpdk_device(text);
    DeviceQueues d;
    d.driver = device.is_pci ? "PCI NIC" : device.driver;
    if (device.is_pci) {
        d.max_rx_queues = 0;
        d.rss = true;
    } else if (device.driver == "net_af_packet") {
        d.max_rx_queues = arg_number(device, "qpairs", 1);
        d.fixed = true;
    } else if (device.driver == "net_af_xdp") {
        d.max_rx_queues = arg_number(device, "queue_count", 1);
        d.fixed = true;
    } else if (device.driver == "net_memif") {
        d.max_rx_queues = 255;  // ETH_MEMIF_MAX_NUM_Q_PAIRS
        d.memif_client = device.arg("role").value_or("server") == "client";
    }
    return d;
}

TapQueuePlan plan_tap_queues(const Config& config, size_t tap_index,
                             const std::array<std::optional<DeviceQueues>, 2>& devices,
                             uint32_t cores) {
    const TapConfig& tap = config.taps[tap_index];
    const std::string workers_key = "taps[" + std::to_string(tap_index) + "].workers";
    TapQueuePlan plan;
    plan.port_count = tap.b ? 2 : 1;
    const uint32_t requested = tap.workers ? *tap.workers : std::min(cores, max_queues);

    // A NIC spreads by RSS only where every port of the tap can, so queue i means the same flows.
    bool all_rss = true;
    uint32_t rss_offered = max_queues;
    for (size_t p = 0; p < plan.port_count; ++p) {
        const auto& d = devices[p];
        all_rss = all_rss && d && d->rss;
        if (d && d->rss && d->max_rx_queues != 0) rss_offered = std::min(rss_offered, d->max_rx_queues);
    }
    for (size_t p = 0; p < plan.port_count; ++p) {
        const auto& d = devices[p];
        PortQueues& q = plan.ports[p];
        if (!d) continue;
        if (d->fixed) {
            if (d->max_rx_queues > max_queues) {
                const std::string key = "taps[" + std::to_string(tap_index) + "]." + port_letter(p) + ".device";
                plan.error = config.error(key, d->driver + " has " + std::to_string(d->max_rx_queues) +
                                                   " queues but taprec polls at most " +
                                                   std::to_string(max_queues) + " per port; set " +
                                                   (d->driver == "net_af_packet" ? "qpairs" : "queue_count") +
                                                   " to " + std::to_string(max_queues) + " or fewer");
                return plan;
            }
            q.queues = static_cast<uint16_t>(std::clamp<uint32_t>(d->max_rx_queues, 1, UINT16_MAX));
            q.steering = q.queues == 1 ? QueueSteering::single
                         : d->driver == "net_af_packet" ? QueueSteering::kernel_fanout
                                                        : QueueSteering::unsteered;
        } else if (d->memif_client) {
            // Only when asked for: the memif server must then offer as many (see README).
            q.queues = static_cast<uint16_t>(tap.workers ? std::min(*tap.workers, max_queues) : 1);
            q.steering = q.queues == 1 ? QueueSteering::single : QueueSteering::peer;
        } else if (all_rss && requested > 1) {
            if (tap.workers && requested > rss_offered) {
                plan.error = config.error(
                    workers_key, std::to_string(requested) + " queues requested but port " +
                                     port_letter(p) + " (" + d->driver + ") offers " +
                                     std::to_string(rss_offered) + "; set workers to " +
                                     std::to_string(rss_offered) + " or fewer");
                return plan;
            }
            q.queues = static_cast<uint16_t>(std::min(requested, rss_offered));
            q.steering = q.queues == 1 ? QueueSteering::single : QueueSteering::nic_rss;
        }
    }

    // Queue i feeds worker i where every port steers alike over the same number of queues.
    const PortQueues& a = plan.ports[0];
    bool alike = a.queues > 1 && a.steering != QueueSteering::unsteered;
    for (size_t p = 1; p < plan.port_count; ++p)
        alike = alike && plan.ports[p].queues == a.queues && plan.ports[p].steering == a.steering;
    if (alike && tap.workers && *tap.workers > a.queues) {
        const std::string hint = a.steering == QueueSteering::kernel_fanout
                                     ? " or qpairs=" + std::to_string(*tap.workers) + " on every net_af_packet port"
                                     : "";
        plan.error = config.error(
            workers_key, std::to_string(*tap.workers) + " workers but the ports have " +
                             std::to_string(a.queues) + " RX queues each (" +
                             std::string(name_of(a.steering)) + "), so a worker would get no queue; "
                             "set workers to " + std::to_string(a.queues) + hint);
        return plan;
    }
    plan.by_queue = alike && (!tap.workers || *tap.workers == a.queues);
    plan.workers = plan.by_queue ? a.queues
                   : tap.workers  ? *tap.workers
                                  : (config.threads.workers.empty() ? 1u
                                                                    : uint32_t(config.threads.workers.size()));
    return plan;
}

std::vector<std::string> describe_queue_mapping(const TapQueuePlan& plan) {
    std::vector<std::string> lines;
    if (plan.by_queue) {
        for (uint32_t w = 0; w < plan.workers; ++w) {
            std::string line = "worker " + std::to_string(w) + " <- ";
            for (size_t p = 0; p < plan.port_count; ++p)
                line += std::string(p == 0 ? "" : ", ") + port_letter(p) + " queue " + std::to_string(w);
            lines.push_back(line);
        }
        return lines;
    }
    std::string line = plan.workers == 1 ? "worker 0 <- " : "workers 0-" + std::to_string(plan.workers - 1) + " <- ";
    if (plan.workers > 1) line += "software flow hash of ";
    for (size_t p = 0; p < plan.port_count; ++p)
        line += std::string(p == 0 ? "" : ", ") + port_letter(p) + " " + queue_list(plan.ports[p].queues);
    lines.push_back(line);
    return lines;
}

namespace {

uint32_t worker_cores(const Config& config) {
    return config.threads.workers.empty() ? std::max(1u, std::thread::hardware_concurrency())
                                          : uint32_t(config.threads.workers.size());
}

std::string offer(const PortConfig& port) {
    if (port.driver != DriverKind::dpdk) return "pcap driver: 1 queue";
    const DeviceQueues d = device_queues_from_args(port.device);
    if (d.max_rx_queues == 0) return d.driver + ": its RSS queues, as many as it offers (read when DPDK opens it)";
    if (d.fixed) return d.driver + ": " + std::to_string(d.max_rx_queues) + " queue" +
                        (d.max_rx_queues == 1 ? "" : "s") + ", fixed when the device is created, all polled";
    if (d.memif_client) return d.driver + " client: 1 queue, or one per worker when workers is set";
    if (d.driver == "net_memif") return d.driver + " server: 1 queue (a client sets the rings; see README)";
    return d.driver + ": 1 queue";
}

}  // namespace

TapQueuePlan plan_tap_queues_from_args(const Config& config, size_t t, uint32_t cores) {
    const TapConfig& tap = config.taps[t];
    std::array<std::optional<DeviceQueues>, 2> devices;
    const PortConfig* ports[2] = {&tap.a, tap.b ? &*tap.b : nullptr};
    for (size_t p = 0; p < 2; ++p)
        if (ports[p] != nullptr && ports[p]->driver == DriverKind::dpdk)
            devices[p] = device_queues_from_args(ports[p]->device);
    return plan_tap_queues(config, t, devices, cores);
}

void print_tap_queues(const TapConfig& tap, const TapQueuePlan& plan, std::ostream& out) {
    out << "queues of tap " << tap.name << '\n';
    const PortConfig* ports[2] = {&tap.a, tap.b ? &*tap.b : nullptr};
    for (size_t p = 0; p < plan.port_count; ++p)
        out << "  port " << port_letter(p) << "          offers " << offer(*ports[p]) << "; polled: "
            << plan.ports[p].queues << ", steered by " << name_of(plan.ports[p].steering) << '\n';
    for (const std::string& line : describe_queue_mapping(plan)) out << "  " << line << '\n';
}

std::vector<ConfigError> check_queue_plans(const Config& config) {
    std::vector<ConfigError> errors;
    for (size_t t = 0; t < config.taps.size(); ++t)
        if (const TapQueuePlan plan = plan_tap_queues_from_args(config, t, worker_cores(config));
            plan.error)
            errors.push_back(*plan.error);
    return errors;
}

void print_queue_plans(const Config& config, std::ostream& out) {
    for (size_t t = 0; t < config.taps.size(); ++t)
        print_tap_queues(config.taps[t], plan_tap_queues_from_args(config, t, worker_cores(config)), out);
}

}  // namespace taprec
