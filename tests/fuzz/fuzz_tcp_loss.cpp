// Fuzz target: the TCP loss estimator on a sequence of packets, each parsed with parse_headers()
// and observed as a worker does. Input: one byte picking the link type, then records of
// [u16 frame length][u8 port and time step][frame]. A small flow table makes eviction reachable.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <pcap/dlt.h>

#include "pipeline/packet_headers.hpp"
#include "worker/tcp_loss_estimator.hpp"

namespace {
constexpr std::array<int, 3> link_types = {DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const int link_type = link_types[data[0] % link_types.size()];
    taprec::TcpLossEstimator estimator(data[0] & 0x80 ? 4 : 64);
    uint64_t ts_ns = 1'000'000'000;
    size_t offset = 1;
    while (offset + 3 <= size) {
        const size_t length = size_t(data[offset]) << 8 | data[offset + 1];
        const uint8_t control = data[offset + 2];
        offset += 3;
        const size_t take = length < size - offset ? length : size - offset;
        const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data + offset),
                                               take);
        offset += take;
        ts_ns += uint64_t(control >> 1) * 1000;
        estimator.observe(taprec::parse_headers(frame, link_type), control & 1, ts_ns);
    }
    estimator.settle_all();  // what the worker does once its ports have finished
    (void)estimator.counters().gaps[0].get();
    return 0;
}
