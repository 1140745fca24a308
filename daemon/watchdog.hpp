// The systemd watchdog (WatchdogSec=): WATCHDOG=1 goes out only while every pipeline thread makes
// progress, so one stuck thread lets systemd's timer run out and systemd restarts the daemon.
// A thread proves progress by its stage's `loops` counter, which moves on every iteration of its
// loop, idle ones included.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace taprec {

// One thread's proof of life.
struct Heartbeat {
    std::string thread;     // the thread's name, e.g. "wk0:uplink"
    uint64_t loops = 0;
    bool started = false;   // has entered its loop (or already finished)
    bool finished = false;  // returned from its loop normally: no longer expected to move
};

// Remembers each thread's `loops` between two checks.
class ProgressCheck {
public:
    // Where every thread is now; the next check compares against it.
    void remember(const std::vector<Heartbeat>& beats);
    // The threads that are still running but whose counter has not moved since the last call (or
    // remember()); empty when every thread progressed or finished. Remembers the new values.
    std::vector<std::string> stuck_threads(const std::vector<Heartbeat>& beats);

private:
    std::map<std::string, uint64_t> last_loops_;
};

// sd_notify WATCHDOG=1 every third of WatchdogSec, only when every thread moved since the last
// time: a thread stuck for a whole WatchdogSec gets the daemon restarted. Control thread only.
class Watchdog {
public:
    // Enabled when systemd set WATCHDOG_USEC for this process (WATCHDOG_PID, if set, is ours).
    Watchdog();

    // Called once READY=1 went out: systemd's timer starts then.
    void start(const std::vector<Heartbeat>& beats, uint64_t now_ns);
    // Called often; when a period is over, checks every thread's heartbeat (taken only then).
    void poll(uint64_t now_ns, const std::function<std::vector<Heartbeat>()>& heartbeats);
    // When poll() has something to do next (monotonic ns); 0 when never (no WatchdogSec).
    uint64_t next_due_ns() const noexcept { return next_ns_; }

private:
    uint64_t period_ns_ = 0;
    uint64_t next_ns_ = 0;  // 0: not started
    ProgressCheck progress_;
    bool reported_ = false;
};

}  // namespace taprec
