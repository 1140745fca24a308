// Signals: the handlers only store to atomics; the control thread acts on them.
#pragma once

#include <atomic>
#include <cstdint>

namespace taprec {

struct SignalFlags {
    std::atomic<bool> stop{false};         // SIGINT, SIGTERM: drain, publish, exit 0
    std::atomic<uint64_t> rotations{0};    // SIGHUP: each one publishes the current files
    // An eventfd the handler writes to, so the control thread wakes at once whichever thread the
    // signal interrupted; -1 for none.
    std::atomic<int> wake_fd{-1};
};

// Route SIGINT, SIGTERM and SIGHUP to `flags` (which must outlive the process); ignore SIGPIPE.
void install_signal_handlers(SignalFlags& flags);

}  // namespace taprec
