// PacketArena: the packet buffers of a driver that must copy (libpcap hands out bytes that are
// only valid until its next call).
//
// A byte ring: the rx thread carves chunks at the head; whichever thread ends a packet's life (the
// writer, a worker, the rx thread itself: see PacketSource::release) frees its chunk, in any order,
// by flagging it; the rx thread advances the tail over flagged chunks when it needs room. One
// allocating thread, and each chunk freed once by the one thread that holds it, so a flag per
// chunk is all the synchronisation there is, however many threads free at once.
// Chunks start on cache lines, so a freeing thread's flag and the rx thread's next copy never
// share one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace taprec {

class PacketArena {
public:
    // Rounded up to a power of two, so a position in the ring is a mask, not a division.
    explicit PacketArena(size_t capacity_bytes);
    ~PacketArena();
    PacketArena(const PacketArena&) = delete;
    PacketArena& operator=(const PacketArena&) = delete;

    // rx thread: room for `size` bytes, or nullptr when the arena is full of packets in flight.
    // The handle for free() is the returned pointer.
    std::byte* allocate(uint32_t size) noexcept;
    // Any thread, the allocator's included, once per chunk, by the thread that holds it: give the
    // chunk back. Static: the chunk's header says all there is to know.
    static void free(void* data) noexcept;

    size_t capacity() const noexcept { return capacity_; }
    // rx thread: bytes currently held by packets in flight (after reclaiming what can be).
    size_t bytes_in_use() noexcept;
    // Largest packet allocate() can ever satisfy.
    size_t max_allocation() const noexcept { return capacity_ / 4; }

private:
    struct alignas(64) ChunkHeader {
        uint32_t size;                 // bytes from this header to the next, a multiple of 64
        std::atomic<uint32_t> freed;   // set by the thread that frees, read by the allocator
    };
    static constexpr size_t header_size = 64;

    ChunkHeader* header_at(uint64_t offset) noexcept;
    void reclaim() noexcept;

    std::byte* base_ = nullptr;
    size_t capacity_ = 0;
    uint64_t head_ = 0;  // next free byte, counted since the arena was last empty (position: the low bits)
    uint64_t tail_ = 0;  // oldest chunk still held
};

}  // namespace taprec
