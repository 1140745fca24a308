// Reading captures back for the tests, through libpcap (an independent reader).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace test_support {

struct Packet {
    uint64_t ts_ns = 0;
    uint32_t caplen = 0;
    uint32_t wire_len = 0;
    std::vector<unsigned char> bytes;

    bool operator==(const Packet&) const = default;
};

struct Capture {
    int link_type = -1;
    uint32_t snaplen = 0;
    std::vector<Packet> packets;
    std::string error;  // libpcap's complaint if the file ended badly; "" when clean
};

// Every packet of a pcap or pcapng file, timestamps in nanoseconds.
Capture read_capture(const std::string& path);

// Write a nanosecond pcap file (for scenarios the real captures do not have, such as a gap).
void write_capture(const std::string& path, const Capture& capture);

// The two directions a TAP would deliver: each connection's packets split by which endpoint sent
// them (the lower (address, port) goes to a), non-IP frames by MAC address.
std::pair<Capture, Capture> split_directions(const Capture& capture);

// The packets of `capture` re-timed: the first at start_ns, then one every spacing_ns.
Capture retimed(Capture capture, uint64_t start_ns, uint64_t spacing_ns);

}  // namespace test_support
