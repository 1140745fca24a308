// BufferReturn: hands PacketRefs back to the port each came from, a burst at a time. Each worker
// and the writer has its own (a copy: it holds only the ports' pointers) and calls it from its own
// thread; PacketSource::release() says why several may run at once.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "config/limits.hpp"  // burst_size
#include "pipeline/packet_source.hpp"
#include "pipeline/port.hpp"

namespace taprec {

class BufferReturn {
public:
    BufferReturn() = default;
    explicit BufferReturn(std::array<PacketSource*, max_ports_per_tap> sources) : sources_(sources) {}

    // Release every packet in `packets` (any length, any mix of ports). Takes ownership: the
    // caller must not touch them again.
    void release(std::span<const PacketRef> packets) noexcept {
        while (!packets.empty()) {
            const size_t n = std::min(packets.size(), burst_size);
            std::array<std::array<PacketRef, burst_size>, max_ports_per_tap> by_port;
            std::array<size_t, max_ports_per_tap> count{};
            for (size_t i = 0; i < n; ++i) {
                const uint16_t port = packets[i].port;
                by_port[port][count[port]++] = packets[i];
            }
            for (size_t p = 0; p < max_ports_per_tap; ++p)
                if (count[p] != 0) sources_[p]->release(std::span(by_port[p].data(), count[p]));
            packets = packets.subspan(n);
        }
    }

private:
    std::array<PacketSource*, max_ports_per_tap> sources_{};
};

}  // namespace taprec
