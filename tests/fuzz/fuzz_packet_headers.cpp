// Fuzz target: parse_headers(), the L2-L4 parsing of the rx threads and workers. The first input
// byte picks the link type among those the pipeline handles; the rest is the frame.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <pcap/dlt.h>

#include "pipeline/packet_headers.hpp"

namespace {
constexpr std::array<int, 7> link_types = {DLT_EN10MB, DLT_LINUX_SLL, DLT_RAW, 228, 229,
                                           DLT_NULL,   DLT_LOOP};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const int link_type = link_types[data[0] % link_types.size()];
    // A copy of exactly the frame's size, so ASan sees any read past its end.
    const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data + 1), size - 1);
    const taprec::PacketHeaders h = taprec::parse_headers(frame, link_type);
    if (h.has_tcp && !h.has_ports) __builtin_trap();
    if (h.later_fragment && h.has_ports) __builtin_trap();
    return 0;
}
