#include "writer/block_write_thread.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace taprec {

int write_all_at(int fd, const std::byte* data, size_t size, uint64_t offset) noexcept {
    size_t done = 0;
    while (done < size) {
        const ssize_t w = ::pwrite(fd, data + done, size - done, off_t(offset + done));
        if (w > 0) {
            done += size_t(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        return w < 0 ? errno : ENOSPC;
    }
    return 0;
}

namespace {

// "writer:uplink" makes "blocks:uplink": what top and the logs call the thread (15 bytes at most).
std::string name_beside_creator() {
    char name[16] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof name);
    const std::string creator = name;
    const size_t colon = creator.find(':');
    return ("blocks" + (colon == std::string::npos ? std::string() : creator.substr(colon))).substr(0, 15);
}

}  // namespace

BlockWriteThread::BlockWriteThread() : thread_([this] { run(); }) {
    ::pthread_setname_np(thread_.native_handle(), name_beside_creator().c_str());
}

BlockWriteThread::~BlockWriteThread() {
    while (in_flight() != 0) wait_oldest();
    // The thread sleeps until started_ moves: one step past the last write, with stopping_ set.
    stopping_.store(true, std::memory_order_relaxed);
    started_.fetch_add(1, std::memory_order_release);
    started_.notify_one();
    thread_.join();
}

void BlockWriteThread::start(int fd, const std::byte* data, size_t size, uint64_t offset) noexcept {
    const uint64_t n = started_.load(std::memory_order_relaxed);
    writes_[n % capacity] = Write{fd, data, size, offset, 0};
    started_.store(n + 1, std::memory_order_release);
    started_.notify_one();
}

int BlockWriteThread::wait_oldest() noexcept {
    for (uint64_t e; (e = ended_.load(std::memory_order_acquire)) == taken_;) ended_.wait(e);
    return writes_[taken_++ % capacity].result;
}

void BlockWriteThread::run() noexcept {
    for (;;) {
        const uint64_t next = ended_.load(std::memory_order_relaxed);  // this thread's own count
        const uint64_t started = started_.load(std::memory_order_acquire);
        if (next == started) {
            started_.wait(started, std::memory_order_acquire);
            continue;
        }
        if (stopping_.load(std::memory_order_relaxed)) return;
        Write& w = writes_[next % capacity];
        w.result = write_all_at(w.fd, w.data, w.size, w.offset);
        ended_.store(next + 1, std::memory_order_release);
        ended_.notify_one();
    }
}

}  // namespace taprec
