// The fixed numbers of the classic pcap file format (libpcap's, not pcapng), for every part of
// taprec that reads or writes it: the replay reader (drivers/pcap_file_map), the writer
// (writer/pcap_file) and the repair of leftovers (writer/partial_repair). bench/seqcheck keeps
// its own on purpose: the judge of the daemon's files shares none of its code.
#pragma once

#include <cstddef>
#include <cstdint>

namespace taprec::pcap_format {

inline constexpr uint32_t magic_microseconds = 0xa1b2c3d4;
inline constexpr uint32_t magic_nanoseconds = 0xa1b23c4d;  // the fraction of a second is in ns
inline constexpr size_t file_header_size = 24;
inline constexpr size_t record_header_size = 16;

}  // namespace taprec::pcap_format
