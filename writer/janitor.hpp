// Janitor: one per tap, its own thread, so the writer never waits on a process or a directory
// scan. The writer's publisher thread (writer/publisher.hpp) hands it each published file on
// writer_to_janitor (a small SPSC ring; the publisher produces, the janitor consumes); the janitor runs the on_rotate hooks (HookRunner) and
// applies retention after each publish and every second, deleting this run's files in the order
// they came on the ring (after the files found at start). With no hook running it sleeps until a
// file is published (or the next retention pass), so an idle sensor is not woken 50 times a second.
#pragma once

#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "ring/spsc_ring.hpp"
#include "writer/hook_runner.hpp"
#include "writer/notices.hpp"
#include "writer/output_dir.hpp"
#include "writer/retention.hpp"

namespace taprec {

struct alignas(cache_line_size) RetentionCounters {
    Counter deleted_files;
    Counter deleted_bytes;
};

class Janitor {
public:
    Janitor(const OutputDirectory& directory, const OutputConfig& output);
    ~Janitor();
    Janitor(const Janitor&) = delete;
    Janitor& operator=(const Janitor&) = delete;

    void start();
    // Publisher thread: a file was published. Never blocks; when the ring is full the file gets no
    // hook (counted as hook overflow) and retention still finds it on its next scan.
    void file_published(const std::string& path) noexcept;
    // After the writer's last publish: run what is queued (for at most stop_grace), apply
    // retention a last time, record the hooks still unfinished in .meta/hooks-pending for the
    // next start (which runs them before its own), and end the thread. join() waits for that.
    void finish() noexcept {
        finishing_.store(true, std::memory_order_release);
        wake();
    }
    void join();

    const HookCounters& hook_counters() const noexcept { return hooks_.counters(); }
    const RetentionCounters& retention_counters() const noexcept { return retention_counters_; }
    uint64_t ring_overflow() const noexcept { return ring_overflow_.get(); }
    std::vector<Notice> take_notices() { return notices_.take(); }

    // Apply retention once, now (also what the thread does each second).
    void apply_retention();

    static constexpr uint64_t retention_period_ns = 1'000'000'000;
    static constexpr uint64_t hook_poll_ns = 20'000'000;
    static constexpr uint64_t stop_grace_ns = 5'000'000'000;

private:
    void run() noexcept;
    void record_unfinished_hooks() noexcept;
    void wake() noexcept;
    // Until woken or `max_ns` passed.
    void sleep(uint64_t max_ns) noexcept;

    const OutputDirectory& directory_;
    RetentionConfig retention_;
    bool retention_enabled_;
    PublicationOrder publication_order_;  // of the files retention may delete
    Notices notices_;
    HookRunner hooks_;
    bool min_free_warned_ = false;
    boost::lockfree::spsc_queue<std::string> writer_to_janitor_{256};
    alignas(cache_line_size) Counter ring_overflow_;  // written by the publisher thread
    RetentionCounters retention_counters_;
    std::atomic<bool> finishing_{false};
    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    bool woken_ = false;  // guarded by wake_mutex_
    std::thread thread_;
};

}  // namespace taprec
