// HookRunner: output.on_rotate, run for each published file without a shell: argv as
// configured, every "{path}" replaced by the file's path. At most max_running at once; the rest
// wait in a bounded queue (what does not fit is counted and logged, never blocks anyone). A hook
// that fails is logged with its exit status; one that outlives the timeout is killed. A file
// gone before its hook starts (retention) is skipped and counted. Hooks write to /dev/null.
//
// Owned and driven by one thread (the janitor): enqueue() and poll() are never called at once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "stats/counter.hpp"
#include "writer/notices.hpp"

namespace taprec {

struct HookCounters {
    Counter started;
    Counter failed;     // exited non-zero, killed by a signal, or could not be started
    Counter timed_out;  // killed after on_rotate_timeout (also counted failed)
    Counter overflow;   // published files whose hook was never run: the queue was full
    Counter skipped;    // files gone (retention) before their hook could start
};

class HookRunner {
public:
    static constexpr size_t max_queued = 4096;

    HookRunner(std::vector<std::string> argv, uint32_t max_running, uint64_t timeout_ns,
               Notices& notices);
    ~HookRunner();  // leaves running hooks running; they are not the daemon's to kill at exit

    bool enabled() const noexcept { return !argv_.empty(); }
    void enqueue(const std::string& path);
    // Reap what finished, kill what timed out, start what the limit allows. now: CLOCK_MONOTONIC.
    void poll(uint64_t now_ns);
    size_t running() const noexcept { return running_.size(); }
    size_t queued() const noexcept { return queue_.size(); }
    // At a stop: the files whose hook is still running (first) or never started; the queue is
    // emptied. The caller records them so that they run (again) at the next start.
    std::vector<std::string> take_unfinished();

    const HookCounters& counters() const noexcept { return counters_; }

private:
    struct Running {
        pid_t pid;
        std::string path;
        uint64_t started_ns;
        bool killed;
    };
    void start(const std::string& path, uint64_t now_ns);

    std::vector<std::string> argv_;
    uint32_t max_running_;
    uint64_t timeout_ns_;
    Notices& notices_;
    std::deque<std::string> queue_;
    std::vector<Running> running_;
    bool overflow_logged_ = false;
    HookCounters counters_;
};

}  // namespace taprec
