#include "daemon/signals.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace taprec {
namespace {

SignalFlags* flags_for_handler = nullptr;

extern "C" void on_signal(int signal) {
    static_assert(std::atomic<bool>::is_always_lock_free);
    static_assert(std::atomic<uint64_t>::is_always_lock_free);
    static_assert(std::atomic<int>::is_always_lock_free);
    if (flags_for_handler == nullptr) return;
    if (signal == SIGHUP)
        flags_for_handler->rotations.fetch_add(1, std::memory_order_relaxed);
    else
        flags_for_handler->stop.store(true, std::memory_order_relaxed);
    if (const int fd = flags_for_handler->wake_fd.load(std::memory_order_relaxed); fd >= 0) {
        const int saved = errno;  // the interrupted code may be about to read it
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
        errno = saved;
    }
}

}  // namespace

void install_signal_handlers(SignalFlags& flags) {
    flags_for_handler = &flags;
    struct sigaction action{};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGHUP, &action, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace taprec
