// Reading captures back for the tests, through libpcap (an independent reader).
#pragma once

#include <cstdint>
#include <string>
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

}  // namespace test_support
