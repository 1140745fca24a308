// DpdkPort: a PacketSource over one DPDK ethdev port (a PCI NIC or any vdev).
//
// Zero copy: each PacketRef points into its rte_mbuf (PacketRef::buffer is the rte_mbuf*), which
// travels through the rings to the writer; the writer's copy into its file block is the only
// copy, and release() frees the mbufs in bulk. Frames longer than one mbuf arrive as chains
// (scattered RX) and are flagged PacketRef::multi_segment; copy_out() walks the chain.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "drivers/open_port.hpp"
#include "pipeline/packet_source.hpp"

namespace taprec {

// Needs start_dpdk() to have succeeded and options.plan, the port's slice of the plan.
// Configures and starts the port: RX queues (symmetric RSS when the tap has several workers and
// both its ports can), promiscuous mode, the largest MTU the port allows, scattered RX, and the
// mempool the plan sized. Throws std::runtime_error with a message that names the port and says
// what to do (the error style of every drivers/dpdk_* file: setup throws, checks return data).
std::unique_ptr<PacketSource> open_dpdk_port(const PortConfig& port, const PortOptions& options);

}  // namespace taprec
