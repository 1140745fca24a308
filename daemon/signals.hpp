// Signals: the handlers only store to atomics; the control thread acts on them.
#pragma once

#include <atomic>
#include <cstdint>

namespace taprec {

struct SignalFlags {
    std::atomic<bool> stop{false};         // SIGINT, SIGTERM: drain, publish, exit 0
    std::atomic<uint64_t> rotations{0};    // SIGHUP: each one publishes the current files
};

// Route SIGINT, SIGTERM and SIGHUP to `flags` (which must outlive the process); ignore SIGPIPE.
void install_signal_handlers(SignalFlags& flags);

}  // namespace taprec
