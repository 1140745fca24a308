// The threads of a run: which stages of a tap (each port's rx, each worker, the writer) share a
// thread, and on which core. One pure function decides it for `taprec --check` and for the run,
// from `threads` and the tap's shape.
//
// Stages pinned to the same core run as one loop of tasks there, in pipeline order (DESIGN.md
// "Cores"): threads pinned to one core only take turns, each turn a context switch, and a loop
// hands a burst on while it is still in cache. An unpinned stage gets a thread of its own, which
// the scheduler places. A tap whose every stage is on one core, or unpinned with ports the loop
// can sleep on (live interfaces), is one loop that sleeps in poll() on its ports when idle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace taprec {

// Which cores a tap's stages go to; -1 leaves a stage unpinned.
struct TapCores {
    std::vector<int> rx;       // per port
    std::vector<int> workers;  // per worker
    int writer = -1;
};

// The `threads` lists handed out in order across taps: tap t's ports take the next entries of
// threads.rx, its workers the next of threads.workers (each list wraps around).
std::vector<TapCores> assign_cores(const ThreadsConfig& threads, const std::vector<size_t>& ports_per_tap,
                                   const std::vector<uint32_t>& workers_per_tap);

struct StageRef {
    enum class Kind : uint8_t { rx, worker, writer };
    Kind kind;
    uint32_t index = 0;  // the port (rx) or the worker
    bool operator==(const StageRef&) const = default;
};

// One thread of a tap.
struct TapLoop {
    std::string name;              // its thread name: "writer:T", "wk0:T", "rxa:T", "cpu1:T", "tap:T"
    int core = -1;                 // -1: unpinned
    std::vector<StageRef> stages;  // in pipeline order: rx, workers, writer
    // Every stage of the tap: idle, it sleeps in poll() on the ports when they all have a
    // descriptor (else as threads.idle says).
    bool whole_tap = false;
};

// "rxa:T", "wk0:T", "writer:T": a stage's name (its thread's, when it has one to itself; the
// watchdog's heartbeats always name stages).
std::string stage_thread_name(const std::string& tap, const StageRef& stage);

// ports_wait_on_fd: every port offers a descriptor to sleep on (live interfaces).
std::vector<TapLoop> plan_tap_loops(const std::string& tap, const TapCores& cores, size_t ports,
                                    uint32_t workers, bool ports_wait_on_fd);

// "rxa and wk0 as one loop on core 0 (cpu0:t); writer on core 1 (writer:t)": what --check prints
// and the run logs, with the thread names top shows (the watchdog names stages: rxa:t, wk0:t).
std::string describe_tap_loops(const std::vector<TapLoop>& loops);

}  // namespace taprec
