// TpacketRing: the blocks of a TPACKET_V3 receive ring (an AF_PACKET socket's mmap), walked in
// place. Packets are handed on as PacketRefs into the ring itself; a block goes back to the
// kernel once the last of its packets is released, by whichever thread releases it. Nothing is
// copied before the writer's one copy into its file block.
//
// Why: libpcap walks the same ring but hands each packet to a callback and returns the block at
// once, so a recorder must copy every packet out first (taprec's PacketArena did). Holding the
// block instead costs ring room for the packets in flight (drivers/tpacket_source sizes it).
//
// The socket itself is drivers/tpacket_source; this class only needs the mapped blocks, so tests
// can build blocks in ordinary memory.
#pragma once

#include <linux/if_packet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "pipeline/packet_ref.hpp"

namespace taprec {

// How long a thread naps instead of poll() while the socket cannot tell it when the next block
// fills (TpacketRing::last_filled_block_held): short after packets came, so a busy link is read
// promptly, and doubling with each nap that found nothing, so a slow one (a block per block
// timeout, 100 ms) costs a few wake-ups a block instead of dozens. The longest nap is short
// against the time the 128 MiB ring takes to fill: 20 ms of 10 Gbit/s is a fifth of it.
class BlindNap {
public:
    static constexpr std::chrono::microseconds shortest{1000};
    static constexpr std::chrono::microseconds longest{20000};

    void packets_arrived() noexcept { next_ = shortest; }
    // The nap to take now; the next one is twice as long, up to `longest`.
    std::chrono::microseconds take() noexcept {
        const std::chrono::microseconds nap = next_;
        next_ = std::min(next_ * 2, longest);
        return nap;
    }

private:
    std::chrono::microseconds next_ = shortest;
};

class TpacketRing {
public:
    struct Geometry {
        std::byte* base = nullptr;  // first block
        uint32_t block_size = 0;
        uint32_t block_count = 0;
    };
    explicit TpacketRing(Geometry geometry);
    TpacketRing(const TpacketRing&) = delete;
    TpacketRing& operator=(const TpacketRing&) = delete;

    // rx thread: up to out.size() packets, from the block being walked and the ones the kernel
    // has filled after it. Each PacketRef must reach release() exactly once.
    size_t take(std::span<PacketRef> out) noexcept;
    // rx thread: packets are waiting (a filled block, or the rest of one being walked).
    bool ready() const noexcept;
    // rx thread: the block the kernel filled last is still held by the pipeline. The socket then
    // polls readable although nothing new waits (the kernel's poll looks at that block), so a
    // thread that wants to sleep must nap instead of poll().
    bool last_filled_block_held() const noexcept;
    // rx thread: the kernel is filling the next block and has put packets in it (it hands it
    // over when it is full or its timeout passes).
    bool kernel_filling_packets() const noexcept;

    // Any thread: hand packets back; the last one out of a block returns it to the kernel.
    static void release(std::span<const PacketRef> packets) noexcept;

    // Blocks the pipeline holds now (for tests).
    size_t blocks_held() const noexcept;

private:
    // One per block, on its own cache line: the rx thread and the releasing threads touch it.
    struct alignas(64) BlockHold {
        std::atomic<uint32_t> packets;  // outstanding PacketRefs, plus `rx_bias` while walked
        tpacket_block_desc* block;
        uint64_t walked_seq = 0;  // the kernel's seq_num of the block when last walked (rx thread)
    };
    // Held by the rx thread while it walks a block, so a block cannot go back to the kernel while
    // packets of it are still to be handed out.
    static constexpr uint32_t rx_bias = 1u << 30;

    tpacket_block_desc* block(uint32_t index) const noexcept;
    bool filled(uint32_t index) const noexcept;
    bool open_next_block() noexcept;
    void finish_block() noexcept;
    void prefetch_ahead() noexcept;
    static void give_back(BlockHold& hold, uint32_t count) noexcept;

    Geometry geometry_;
    std::unique_ptr<BlockHold[]> holds_;
    // Walk state (rx thread only).
    uint32_t current_ = 0;          // index of the block being walked, or next to be
    bool walking_ = false;
    uint32_t left_in_block_ = 0;    // packets of the current block not yet looked at
    uint32_t handed_out_ = 0;       // packets of the current block handed out
    const std::byte* next_packet_ = nullptr;
    const std::byte* block_end_ = nullptr;         // end of what the kernel wrote in the block
    const std::byte* prefetched_until_ = nullptr;  // lines before this were prefetched
    static constexpr size_t prefetch_distance = 2048;
};

}  // namespace taprec
