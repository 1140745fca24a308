#include "daemon/watchdog.hpp"

#include <systemd/sd-daemon.h>

#include "daemon/log.hpp"

namespace taprec {

void ProgressCheck::remember(const std::vector<Heartbeat>& beats) {
    for (const Heartbeat& beat : beats) last_loops_[beat.thread] = beat.loops;
}

std::vector<std::string> ProgressCheck::stuck_threads(const std::vector<Heartbeat>& beats) {
    std::vector<std::string> stuck;
    for (const Heartbeat& beat : beats) {
        const auto [last, first_seen] = last_loops_.try_emplace(beat.thread, beat.loops);
        // A thread seen for the first time has nothing to compare with: it must have started.
        const bool moved = first_seen ? beat.started : last->second != beat.loops;
        if (!beat.finished && !moved) stuck.push_back(beat.thread);
        last->second = beat.loops;
    }
    return stuck;
}

Watchdog::Watchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec != 0) period_ns_ = usec * 1000 / 3;
}

void Watchdog::start(const std::vector<Heartbeat>& beats, uint64_t now_ns) {
    if (period_ns_ == 0) return;
    progress_.remember(beats);
    sd_notify(0, "WATCHDOG=1");
    next_ns_ = now_ns + period_ns_;
    log_info("watchdog: every " + std::to_string(period_ns_ / 1'000'000) +
             " ms while every thread makes progress");
}

void Watchdog::poll(uint64_t now_ns, const std::function<std::vector<Heartbeat>()>& heartbeats) {
    if (next_ns_ == 0 || now_ns < next_ns_) return;
    next_ns_ = now_ns + period_ns_;
    const std::vector<std::string> stuck = progress_.stuck_threads(heartbeats());
    if (stuck.empty()) {
        sd_notify(0, "WATCHDOG=1");
        if (reported_) log_info("watchdog: every thread makes progress again");
        reported_ = false;
        return;
    }
    if (reported_) return;
    reported_ = true;
    std::string names;
    for (const std::string& thread : stuck) names += (names.empty() ? "" : ", ") + thread;
    log_error("watchdog: no progress in " + std::to_string(period_ns_ / 1'000'000) +
              " ms from thread " + names +
              "; no WATCHDOG=1 until it moves, so systemd restarts taprec after WatchdogSec");
}

}  // namespace taprec
