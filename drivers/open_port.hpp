// open_port(): the one place that turns a port's configuration into a driver.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "config/plan.hpp"
#include "pipeline/packet_source.hpp"

namespace taprec {

struct PortOptions {
    uint32_t snaplen = 262144;
    uint16_t queues = 1;            // RX queues wanted (the tap's workers) where the driver has RSS
    TimestampSource timestamps = TimestampSource::automatic;
    // The port's slice of the plan: a dpdk port's queues, pool, descriptors; a live pcap port's
    // reader.
    const PortPlan* plan = nullptr;
};

// Throws std::runtime_error with a message that names the port and says what to do.
std::unique_ptr<PacketSource> open_port(const PortConfig& port, const PortOptions& options);

}  // namespace taprec
