// TapPipeline: one tap's ports, rings and threads, wired as DESIGN.md draws them:
//
//   port a --rx thread--> rx_to_worker(a,i) --+
//                                              +--> worker i --worker_to_writer(i)--> writer
//   port b --rx thread--> rx_to_worker(b,i) --+
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "config/plan.hpp"
#include "config/thread_plan.hpp"
#include "daemon/watchdog.hpp"
#include "pipeline/packet_source.hpp"
#include "rx/rx_poller.hpp"
#include "stats/counter_table.hpp"
#include "stats/tap_snapshot.hpp"
#include "worker/worker.hpp"
#include "writer/janitor.hpp"
#include "writer/writer.hpp"

namespace taprec {

class TapPipeline {
public:
    // Opens the ports (each with its slice of `plan`) and the output folder and compiles the
    // filter; throws std::runtime_error with a message naming what failed. Starts no thread.
    TapPipeline(const Config& config, const TapConfig& tap, const TapPlan& plan,
                const std::atomic<uint64_t>& rotate_generation);
    ~TapPipeline();

    // Starts the threads plan_tap_loops() lays out (config/thread_plan.hpp). `finished` is
    // called once, on the writer's thread, after finished() turns true.
    void start(const TapCores& cores, std::function<void()> finished = {});
    // The threads start() made, in the words --check uses.
    std::string thread_layout() const { return describe_tap_loops(loops_); }
    // Stop polling the ports; the rest of the pipeline drains on its own.
    void request_stop() noexcept { stop_rx_.store(true, std::memory_order_relaxed); }
    // True once the writer has published its last file.
    bool finished() const noexcept { return writer_done_.load(std::memory_order_acquire); }
    void join();

    const std::string& name() const noexcept { return tap_.name; }
    uint32_t worker_count() const noexcept { return static_cast<uint32_t>(workers_.size()); }
    size_t port_count() const noexcept { return sources_.size(); }
    const PacketSource& source(size_t port) const { return *sources_[port]; }
    // Which RX queue of which port feeds which worker, one line per worker (or one for all when
    // the software hash spreads them), for the start-up log.
    std::vector<std::string> queue_mapping() const;
    const OutputDirectory& directory() const noexcept { return *directory_; }
    // Fatal port errors not yet logged. Logs the writer's and the janitor's notices itself
    // (daemon/log.hpp), in their order, so the control thread's 100 ms poll of this carries
    // them all.
    std::vector<std::string> take_errors();
    // A port ended on an error (a damaged file, an interface gone): the run is a failure.
    bool has_port_error() const;

    // Every counter of the table (stats/counter_table.hpp) as it stands now.
    TapSnapshot snapshot() const;
    // Every stage's heartbeat, writer first, then workers, then rx (a loop beats for each of its
    // stages: each step counts).
    std::vector<Heartbeat> heartbeats() const;

private:
    // What the pipeline has counted so far for one row of the counter table, at `index` (a port,
    // a worker, or 0).
    uint64_t live_value(CounterId id, size_t index) const;

    int open_ports(const Config& config, const TapConfig& tap, const TapPlan& plan);
    void open_output(const Config& config);
    bool all_ports_wait_on_fd() const;
    void wait_idle(IdleWait& idle);
    static constexpr int poll_timeout_ms = 100;  // an idle link wakes the loop 10 times a second
    PollStage* stage(const StageRef& s) const;
    size_t done_index(const StageRef& s) const;
    void stage_finished(const StageRef& s);
    void run_loop(const TapLoop& loop);
    void finish_run();

    TapConfig tap_;
    IdlePolicy idle_policy_ = IdlePolicy::sleep;
    std::vector<std::unique_ptr<PacketSource>> sources_;
    std::unique_ptr<PacketFilter> filter_;
    std::unique_ptr<OutputDirectory> directory_;
    // rx_to_worker_[port][worker], worker_to_writer_[worker]
    std::vector<std::vector<std::unique_ptr<PacketRing>>> rx_to_worker_;
    std::vector<std::unique_ptr<PacketRing>> worker_to_writer_;
    std::vector<std::unique_ptr<RxPoller>> rx_pollers_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<Janitor> janitor_;  // hooks and retention, off the writer thread
    std::unique_ptr<Writer> writer_;
    std::vector<TapLoop> loops_;  // what start() runs, a thread each
    std::vector<std::thread> threads_;
    // thread_done_[i]: threads_[i] returned from its loop; set by that thread, read by heartbeats().
    std::unique_ptr<std::atomic<bool>[]> thread_done_;
    std::vector<bool> port_error_reported_;
    void report_rollover(bool final);
    std::vector<bool> rollover_reported_;
    uint64_t rollover_checked_ns_ = 0;  // monotonic

    std::atomic<bool> stop_rx_{false};
    std::atomic<bool> writer_done_{false};
    std::function<void()> on_finished_;
};

}  // namespace taprec
