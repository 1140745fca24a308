// A DPDK port's RX queues, settled when the device is open: the plan's where the device arguments
// fixed them (net_af_packet, net_af_xdp, a net_memif client), else a NIC's symmetric RSS queues as
// many as both ports of the tap offer, else one queue and the rx thread's software hash.
// Error style (setup): throws std::runtime_error naming the port and what to change.
#pragma once

#include <rte_ethdev.h>

#include <cstdint>
#include <optional>
#include <string>

#include "config/plan.hpp"
#include "config/queue_plan.hpp"

namespace taprec {

struct PortQueueSetup {
    uint16_t queues = 1;
    bool rss = false;       // the NIC's RSS, configured with the symmetric key
    bool by_queue = false;  // queue i feeds worker i
    QueueSteering steering = QueueSteering::single;
    uint32_t workers = 1;   // the workers this port feeds, as TapPipeline resolves them
};

// `what`: "port NAME" for messages.
PortQueueSetup settle_queues(const PortPlan& plan, const std::string& device, const std::string& what,
                             const rte_eth_dev_info& info,
                             const std::optional<rte_eth_dev_info>& peer_info);

// What DPDK says the device offers. net_af_packet and net_af_xdp open their queues (sockets)
// when the device is created: each one gets traffic whether or not it is set up, so all are.
DeviceQueues device_queues(const std::string& device, const rte_eth_dev_info& info);

}  // namespace taprec
