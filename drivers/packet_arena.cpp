#include "drivers/packet_arena.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <new>
#include <stdexcept>

namespace taprec {

PacketArena::PacketArena(size_t capacity_bytes)
    : capacity_(std::bit_ceil(std::max(capacity_bytes, size_t{4096}))) {
    // Anonymous memory, touched only as far as the backlog ever reached: a large arena costs
    // nothing until it is needed.
    void* p = mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("cannot map a packet arena of " +
                                                  std::to_string(capacity_) + " bytes");
    base_ = static_cast<std::byte*>(p);
}

PacketArena::~PacketArena() {
    if (base_ != nullptr) munmap(base_, capacity_);
}

PacketArena::ChunkHeader* PacketArena::header_at(uint64_t offset) noexcept {
    return reinterpret_cast<ChunkHeader*>(base_ + (offset & (capacity_ - 1)));
}

void PacketArena::reclaim() noexcept {
    while (tail_ != head_) {
        ChunkHeader* h = header_at(tail_);
        if (h->freed.load(std::memory_order_acquire) == 0) break;
        tail_ += h->size;
    }
}

size_t PacketArena::bytes_in_use() noexcept {
    reclaim();
    return head_ - tail_;
}

std::byte* PacketArena::allocate(uint32_t size) noexcept {
    const size_t need = header_size + ((size_t{size} + 63) & ~size_t{63});
    if (need > max_allocation()) [[unlikely]]
        return nullptr;
    reclaim();
    // Empty: start again at the front. Packets are usually written and freed within a round or
    // two, so the arena's working set stays as small as the backlog, hot in cache and without
    // page faults, and the far end is touched only when a backlog really builds up.
    if (tail_ == head_) head_ = tail_ = 0;
    const size_t to_end = capacity_ - (head_ & (capacity_ - 1));
    // A chunk never wraps: if it does not fit before the end, pad to the end and start at 0.
    const size_t total = need <= to_end ? need : to_end + need;
    if (capacity_ - (head_ - tail_) < total) return nullptr;
    if (need > to_end) {
        ChunkHeader* pad = new (header_at(head_)) ChunkHeader{static_cast<uint32_t>(to_end), {}};
        pad->freed.store(1, std::memory_order_relaxed);
        head_ += to_end;
    }
    ChunkHeader* h = new (header_at(head_)) ChunkHeader{static_cast<uint32_t>(need), {}};
    head_ += need;
    return reinterpret_cast<std::byte*>(h) + header_size;
}

void PacketArena::free(void* data) noexcept {
    auto* h = reinterpret_cast<ChunkHeader*>(static_cast<std::byte*>(data) - header_size);
    h->freed.store(1, std::memory_order_release);
}

}  // namespace taprec
