// The kernel's counters of the AF_PACKET sockets DPDK's net_af_packet PMD opened for one
// interface (one socket per queue, in one fanout group).
//
// DPDK 22.11's PMD reports neither of the two ways such a socket loses or moves packets: a full
// ring drops (tp_drops, not in its imissed), and PACKET_FANOUT_FLAG_ROLLOVER, which the PMD sets,
// moves a packet whose socket is nearly full to another socket of the group, that is to another
// queue and worker: its connection is then no longer on one worker. Both are read here from the
// sockets themselves, found by the interface they are bound to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace taprec {

struct AfPacketCounts {
    uint64_t dropped = 0;      // PACKET_STATISTICS tp_drops
    uint64_t rolled_over = 0;  // PACKET_ROLLOVER_STATS tp_all
};

class AfPacketSockets {
public:
    AfPacketSockets() = default;
    // The AF_PACKET sockets net_af_packet opened in this process for interface `ifindex`.
    explicit AfPacketSockets(int ifindex);
    size_t count() const noexcept { return fds_.size(); }
    // Since the last call (the kernel resets tp_drops when read; rollover counts are cumulative
    // and are differenced here). A few system calls: call it now and then, never per packet.
    AfPacketCounts take() noexcept;

private:
    std::vector<int> fds_;
    std::vector<uint64_t> rolled_seen_;
};

}  // namespace taprec
