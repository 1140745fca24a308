#include "drivers/af_packet_sockets.hpp"

#include <dirent.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace taprec {

AfPacketSockets::AfPacketSockets(int ifindex) {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return;
    while (const dirent* entry = ::readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
        int domain = 0;
        socklen_t length = sizeof domain;
        if (::getsockopt(int(fd), SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0 || domain != AF_PACKET)
            continue;
        sockaddr_ll address{};
        length = sizeof address;
        if (::getsockname(int(fd), reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
            address.sll_ifindex != ifindex)
            continue;
        // Only the PMD's: its fanout group id is (pid ^ ifindex) & 0xffff (rte_eth_af_packet.c);
        // a libpcap socket on the same interface keeps its own counters to itself.
        int fanout = 0;
        length = sizeof fanout;
        if (::getsockopt(int(fd), SOL_PACKET, PACKET_FANOUT, &fanout, &length) != 0 ||
            (fanout & 0xffff) != ((::getpid() ^ ifindex) & 0xffff))
            continue;
        fds_.push_back(int(fd));
    }
    ::closedir(dir);
    rolled_seen_.assign(fds_.size(), 0);
}

AfPacketCounts AfPacketSockets::take() noexcept {
    AfPacketCounts counts;
    for (size_t i = 0; i < fds_.size(); ++i) {
        tpacket_stats stats{};
        socklen_t length = sizeof stats;
        if (::getsockopt(fds_[i], SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0)
            counts.dropped += stats.tp_drops;
        tpacket_rollover_stats rollover{};
        length = sizeof rollover;
        if (::getsockopt(fds_[i], SOL_PACKET, PACKET_ROLLOVER_STATS, &rollover, &length) == 0 &&
            rollover.tp_all >= rolled_seen_[i]) {
            counts.rolled_over += rollover.tp_all - rolled_seen_[i];
            rolled_seen_[i] = rollover.tp_all;
        }
    }
    return counts;
}

}  // namespace taprec
