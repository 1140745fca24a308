// BlockWriteThread: block writes on a thread of its own, in order, so the writer fills the next
// block while a disk takes the last ones. An O_DIRECT write() returns only when the device has
// the data, so without it the writer's thread alternates between copying and waiting, and a
// disk's rate is never reached (dd, which copies nothing, reaches it). A thread rather than
// native AIO: the pwrite blocks wherever the file system decides to (allocating an appended
// block included), and only that thread waits. Two blocks may be queued: the thread starts
// the next write the moment one ends, instead of idling the disk for the two thread wake-ups a
// hand-over costs (one queued block measured 0.63-0.81 of dd on this VM's disk).
//
// The owner (the writer's thread) queues a block with start() and takes results, oldest first,
// with oldest_finished() / wait_oldest(); a block's memory is the thread's until then. No lock:
// two counters, each written by one side, which the other sleeps on (futex).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

namespace taprec {

class BlockWriteThread {
public:
    static constexpr size_t capacity = 2;  // blocks queued or being written

    BlockWriteThread();
    ~BlockWriteThread();  // waits for the writes queued, then stops the thread
    BlockWriteThread(const BlockWriteThread&) = delete;
    BlockWriteThread& operator=(const BlockWriteThread&) = delete;

    // Queue a pwrite() of all of [data, data+size) at `offset` of `fd`. Only while
    // in_flight() < capacity.
    void start(int fd, const std::byte* data, size_t size, uint64_t offset) noexcept;
    // Writes queued whose result was not taken yet.
    size_t in_flight() const noexcept {
        return size_t(started_.load(std::memory_order_relaxed) - taken_);
    }
    // The oldest write in flight has ended (its result is ready for wait_oldest()). Never blocks.
    bool oldest_finished() const noexcept {
        return in_flight() != 0 && ended_.load(std::memory_order_acquire) != taken_;
    }
    // Wait for the oldest write in flight to end: 0, or the errno that stopped it (ENOSPC for a
    // write that made no progress). Its block is the owner's again.
    int wait_oldest() noexcept;

private:
    void run() noexcept;

    struct Write {
        int fd = -1;
        const std::byte* data = nullptr;
        size_t size = 0;
        uint64_t offset = 0;
        int result = 0;  // written by the thread before `ended_` passes it
    };
    std::array<Write, capacity> writes_{};
    // Writes started (owner) and ended (thread), counting from 0; the owner also counts the
    // results it took. A slot is the thread's from started_ until ended_ passes it.
    std::atomic<uint64_t> started_{0};
    std::atomic<uint64_t> ended_{0};
    uint64_t taken_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// pwrite() all of [data, data+size) at `offset`, retrying short writes and EINTR: 0, or the
// errno that stopped it (ENOSPC for a write that made no progress).
int write_all_at(int fd, const std::byte* data, size_t size, uint64_t offset) noexcept;

}  // namespace taprec
