// Fuzz target: the TCP loss estimator on a sequence of packets, each parsed with parse_headers()
// and observed one at a time, and the same packets observed in bursts as a worker does, which
// must count the same (else abort). Input: one byte picking the link type and the burst size,
// then records of [u16 frame length][u8 port and time step][frame]. A small flow table makes
// eviction reachable.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include <pcap/dlt.h>

#include "pipeline/packet_headers.hpp"
#include "worker/tcp_loss_estimator.hpp"

namespace {
constexpr std::array<int, 3> link_types = {DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const int link_type = link_types[data[0] % link_types.size()];
    const uint32_t flows = data[0] & 0x80 ? 4 : 64;
    taprec::TcpLossEstimator estimator(flows), in_bursts(flows);
    const size_t burst = 1 + (data[0] >> 2) % 40;  // past one chunk of burst_size too
    std::vector<taprec::PacketRef> refs;
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
        refs.push_back(taprec::PacketRef{frame.data(), nullptr, ts_ns, uint32_t(frame.size()),
                                         uint32_t(frame.size()), uint16_t(control & 1), 0});
    }
    for (size_t at = 0; at < refs.size(); at += burst)
        in_bursts.observe_burst(std::span(refs).subspan(at, std::min(burst, refs.size() - at)),
                                link_type);
    estimator.settle_all();  // what the worker does once its ports have finished
    in_bursts.settle_all();
    const taprec::TcpLossCounters& a = estimator.counters();
    const taprec::TcpLossCounters& b = in_bursts.counters();
    for (int port = 0; port < 2; ++port)
        if (a.acks[port].get() != b.acks[port].get() || a.gaps[port].get() != b.gaps[port].get() ||
            a.gap_bytes[port].get() != b.gap_bytes[port].get())
            std::abort();
    if (a.evictions.get() != b.evictions.get()) std::abort();
    return 0;
}
