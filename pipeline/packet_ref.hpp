// PacketRef: what travels through the rings, from a driver's rx burst to the writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace taprec {

// A reference to one received packet; the bytes stay in the driver's buffer (an rte_mbuf for
// DPDK, an arena chunk for libpcap, the mapping of a replayed pcap file) until the thread that
// ends the packet's life hands the reference back with PacketSource::release(): the writer once
// it copied the bytes into a file buffer, or the rx thread or a worker that drops or filters it.
// Whoever holds a PacketRef owns that buffer: it must either pass the reference on or release
// it, exactly once. The type cannot say so (the lock-free rings move PacketRefs as trivially
// copyable values), so the functions that take one say it: hand_on(), BufferReturn::release().
struct PacketRef {
    const std::byte* data;  // first byte of the frame (first segment for a multi-segment mbuf)
    void* buffer;           // the driver's handle for release()
    uint64_t ts_ns;         // nanoseconds since the Unix epoch, on the tap's one clock
    uint32_t caplen;        // bytes captured (all segments together)
    uint32_t wire_len;      // length of the frame on the wire
    uint16_t port;          // index of the port within its tap: 0 = a, 1 = b
    uint16_t flags;         // PacketRef::multi_segment, ...

    static constexpr uint16_t multi_segment = 1;  // bytes span a chain; see PacketSource::copy_out
    // Emitted late by a merge (older than a packet it had already emitted). A later merge sees
    // the packet late again; the flag lets it tell the lateness it made from the one it inherited.
    static constexpr uint16_t late = 2;
    // A driver that chains segments puts at least this much in the first one (DPDK: the mbuf
    // data room), so headers can be read at `data` without walking the chain.
    static constexpr uint32_t min_first_segment = 1024;

    // The bytes at `data` that are safe to read in place: enough for every header.
    std::span<const std::byte> head() const noexcept {
        return {data, (flags & multi_segment) && caplen > min_first_segment ? min_first_segment
                                                                          : caplen};
    }
};

}  // namespace taprec
