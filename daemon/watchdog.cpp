#include "daemon/watchdog.hpp"

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

}  // namespace taprec
