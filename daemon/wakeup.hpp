// Wakeup: how a tap's last thread, or a signal handler (SignalFlags::wake_fd), tells the control
// thread to look now, so a run ends as soon as its last file is published and a SIGTERM acts at
// once, while the control thread otherwise looks only when it has something due (a replay of a
// few million packets took 0.42 s, 0.1 s of it the wait for the next 100 ms look). An eventfd:
// notify() is one write(2), and wait_for() wakes for it, for a signal (EINTR), or at the timeout.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace taprec {

class Wakeup {
public:
    // Without an eventfd (the process is out of descriptors) notify() does nothing and wait_for()
    // sleeps the whole timeout (poll() skips a negative descriptor): the run still ends, at the
    // control thread's next look, as it did before this class.
    Wakeup() noexcept : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
    ~Wakeup() {
        if (fd_ >= 0) ::close(fd_);
    }
    Wakeup(const Wakeup&) = delete;
    Wakeup& operator=(const Wakeup&) = delete;

    // For a signal handler, which may only write(2) to it; -1 without an eventfd.
    int fd() const noexcept { return fd_; }

    void notify() noexcept {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);  // only fails when full
    }
    // Sleep until notify(), a signal, or `timeout_ms`; consumes the notifications.
    void wait_for(int timeout_ms) noexcept {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) > 0) {
            uint64_t count;
            [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof count);
        }
    }

private:
    int fd_;
};

}  // namespace taprec
