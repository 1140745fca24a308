// `taprec query`: the recorded packets in [from, to] matching a BPF filter, as one pcap-ns file
// in time order with the bytes as stored; the block index narrows the files and blocks read,
// libpcap's filter decides each packet. `taprec index FILE...` (re)builds the block index of
// published files.
#pragma once

#include <string_view>
#include <vector>

namespace taprec {

// `args` follow "query". Returns the exit status: 0 (also with no match), 1 runtime failure,
// 2 bad usage, filter, time or folder.
int run_query_command(const std::vector<std::string_view>& args);

// `args` follow "index". 0 when every file was indexed, 1 when one failed, 2 bad usage.
int run_index_command(const std::vector<std::string_view>& args);

}  // namespace taprec
