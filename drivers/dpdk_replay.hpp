// A capture file that a net_pcap vdev replays (rx_pcap=FILE), read once with libpcap at start.
//
// net_pcap has no end-of-file signal: with infinite_rx=0 its rx_burst simply returns 0 once the
// file is exhausted. So taprec counts the file's records first, and the port ends when the
// driver has accounted for all of them (see ReplayEnd).
#pragma once

#include <cstdint>
#include <string>

namespace taprec {

struct CaptureScan {
    uint64_t records = 0;      // records libpcap can read, up to the first damaged one
    uint32_t max_caplen = 0;
    int link_type = 0;         // DLT_*
    std::string damage;        // libpcap's complaint about a damaged record, "" if none
};

// Throws std::runtime_error naming the file and what to do when libpcap cannot open it.
CaptureScan scan_capture_file(const std::string& path);

// The end-of-file rule for a net_pcap replay with infinite_rx=0: the port has ended once
// rx_burst returns nothing and the driver's statistics account for every record of the file:
// delivered (ipackets) + failed to buffer (rx_nombuf) + discarded (ierrors) >= records.
inline bool replay_exhausted(uint64_t records, uint64_t ipackets, uint64_t nombuf,
                             uint64_t ierrors) noexcept {
    return ipackets + nombuf + ierrors >= records;
}

}  // namespace taprec
