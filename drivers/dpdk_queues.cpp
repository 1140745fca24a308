#include "drivers/dpdk_queues.hpp"

#include <algorithm>
#include <stdexcept>

#include "config/limits.hpp"
#include "drivers/dpdk_rss.hpp"

namespace taprec {
namespace {

bool rss_capable(const rte_eth_dev_info& info) {
    return info.max_rx_queues > 1 && rss_hash_types(info.flow_type_rss_offloads) != 0;
}

}  // namespace

DeviceQueues device_queues(const std::string& device, const rte_eth_dev_info& info) {
    DeviceQueues d = device_queues_from_args(device);
    d.driver = info.driver_name != nullptr ? info.driver_name : "?";
    d.max_rx_queues = info.max_rx_queues;
    d.fixed = d.driver == "net_af_packet" || d.driver == "net_af_xdp";
    d.rss = !d.fixed && d.driver != "net_memif" && rss_capable(info);
    return d;
}

PortQueueSetup settle_queues(const PortPlan& plan, const std::string& device_string,
                             const std::string& what, const rte_eth_dev_info& info,
                             const std::optional<rte_eth_dev_info>& peer_info) {
    PortQueueSetup setup;
    setup.workers = plan.workers_without_rss;
    const DeviceQueues device = device_queues(device_string, info);
    if (plan.queues_fixed_by_args) {
        // The device arguments fixed the queues and the plan sized the pool for them; a device
        // that opened with another count would leave queues unpolled or pool-starved.
        if (device.fixed && device.max_rx_queues != plan.queues)
            throw std::runtime_error(what + " (" + device.driver + ") opened " +
                                     std::to_string(device.max_rx_queues) + " RX queues, but " +
                                     plan.key + "'s device arguments ask for " +
                                     std::to_string(plan.queues) + "; please report this");
        setup.queues = plan.queues;
        setup.by_queue = plan.by_queue;
        setup.steering = plan.steering;
        setup.workers = plan.workers;
        return setup;
    }
    // A NIC: symmetric RSS only when both ports of the tap can, so queue i means the same flows on
    // both; otherwise one queue and the rx thread's software hash.
    const bool has_peer = plan.ports_in_tap == 2;
    const bool peer_ok = !has_peer || (peer_info && rss_capable(*peer_info));
    const uint32_t requested = plan.queues;
    if (requested > 1 && rss_capable(info) && peer_ok) {
        uint32_t offered = info.max_rx_queues;
        if (peer_info) offered = std::min<uint32_t>(offered, peer_info->max_rx_queues);
        if (plan.workers_given && requested > offered) {
            const std::string tap_key = plan.key.substr(0, plan.key.find('.'));
            throw std::runtime_error(tap_key + ".workers: " + std::to_string(requested) +
                                     " queues requested but " + what + " offers " +
                                     std::to_string(offered) + "; set workers to " +
                                     std::to_string(offered) + " or fewer");
        }
        setup.queues = static_cast<uint16_t>(
            std::min({requested, offered, uint32_t(limits::max_workers)}));
        setup.rss = setup.queues > 1;
    }
    setup.by_queue = setup.rss;
    setup.steering = setup.rss ? QueueSteering::nic_rss : QueueSteering::single;
    if (setup.rss) setup.workers = setup.queues;
    return setup;
}

}  // namespace taprec
