#include "daemon/daemon.hpp"

#include <fcntl.h>
#include <systemd/sd-daemon.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/clock_now.hpp"
#include "daemon/log.hpp"
#include "stats/counter_table.hpp"
#include "stats/human_rate.hpp"
#include "stats/json.hpp"
#include "daemon/run_as.hpp"
#include "daemon/signals.hpp"
#include "daemon/tap_pipeline.hpp"
#include "daemon/prometheus_export.hpp"
#include "daemon/wakeup.hpp"
#include "daemon/watchdog.hpp"
#include "drivers/dpdk_eal.hpp"

namespace taprec {
namespace {

// One status line for one tap: rates over the last interval, then totals that matter.
std::string status_line(const TapSnapshot& now, const TapSnapshot& before) {
    const double seconds = double(now.time_ns - before.time_ns) / 1e9;
    std::string line = "tap " + now.tap + ":";
    for (size_t p = 0; p < now.ports.size(); ++p) {
        if (!now.ports[p].present) continue;
        const double pps =
            seconds > 0 ? double(now.ports[p].received - before.ports[p].received) / seconds : 0;
        line += std::string(" ") + port_name(p) + " " + human_rate(pps, "pps");
    }
    const double bps = seconds > 0
                           ? 8.0 * double(written_bytes(now) - written_bytes(before)) / seconds
                           : 0;
    line += ", written " + human_rate(bps, "bit/s") + ", " + std::to_string(written(now)) +
            " packets in " + std::to_string(now.files) + " files, drops " +
            std::to_string(tap_drops(now));
    return line;
}

// The run in one line: what came in, where it went, and each counter that adds into drops.
std::string summary_line(const TapSnapshot& s, const TapPipeline& tap) {
    const CounterSpec& received = counter_spec(CounterId::received);
    const CounterSpec& filtered = counter_spec(CounterId::filtered);
    std::string drops;
    for (const CounterSpec& c : counter_table)
        if (c.drop)
            drops += std::string(drops.empty() ? "" : ", ") + c.name + " " +
                     std::to_string(counter_sum(c, s));
    return "tap " + s.tap + ": received " + std::to_string(counter_sum(received, s)) +
           ", written " + std::to_string(written(s)) + " in " + std::to_string(s.files) +
           " files under " + tap.directory().tap_dir() + ", filtered " +
           std::to_string(counter_sum(filtered, s)) + ", dropped " +
           std::to_string(tap_drops(s)) + " (" + drops + ")";
}

void append_stats(const TapPipeline& tap, const TapSnapshot& s, bool final) {
    try {
        tap.directory().append_meta_line("stats.jsonl", stats_json_line(s, final));
    } catch (const std::exception& e) {
        log_warning(std::string("stats: ") + e.what());
    }
}

std::vector<Heartbeat> all_heartbeats(const std::vector<std::unique_ptr<TapPipeline>>& taps) {
    std::vector<Heartbeat> beats;
    for (const auto& tap : taps) {
        std::vector<Heartbeat> more = tap->heartbeats();
        beats.insert(beats.end(), more.begin(), more.end());
    }
    return beats;
}


// A warning when, over the last interval, the TCP acknowledgements prove the sensor is missing
// more than `threshold_percent` of the segments before they reach it (a SPAN port or TAP that
// drops): every counter of the sensor itself may still say zero.
void warn_upstream_loss(const TapSnapshot& now, const TapSnapshot& before, const StatsConfig& stats) {
    const uint32_t threshold_percent = stats.loss_warn_percent;
    const uint64_t min_acks = stats.loss_warn_min_acks;  // fewer say more about chance than the link
    if (threshold_percent == 0) return;
    for (size_t p = 0; p < now.ports.size(); ++p) {
        if (!now.ports[p].present) continue;
        const uint64_t acks = now.ports[p].tcp_acks - before.ports[p].tcp_acks;
        const uint64_t gaps = now.ports[p].tcp_ack_gaps - before.ports[p].tcp_ack_gaps;
        const double percent = upstream_loss_percent(gaps, acks);
        if (acks < min_acks || percent < double(threshold_percent)) continue;
        char line[256];
        std::snprintf(line, sizeof line,
                      "tap %s port %s: upstream loss estimate %.2f%% over the last interval (%llu of "
                      "%llu ACKs cover data never seen): packets are lost before they reach the "
                      "sensor; check the SPAN port or TAP",
                      now.tap.c_str(), port_name(p), percent, (unsigned long long)gaps,
                      (unsigned long long)acks);
        log_warning(line);
    }
}

using Taps = std::vector<std::unique_ptr<TapPipeline>>;

// EAL (when the plan has DPDK ports), then every tap's ports and folders, from the plan.
// Returns the daemon's exit status when something refused, else 0.
int open_taps(const Config& config, const RunPlan& plan, const SignalFlags& signals, Taps& taps) {
    try {
        if (const std::string line = start_dpdk(config, plan); !line.empty()) log_info(line);
    } catch (const DpdkStartError& e) {
        log_error(std::string(e.what()) + "; nothing was started");
        return e.exit_status;
    }
    try {
        for (size_t t = 0; t < config.taps.size(); ++t)
            taps.push_back(std::make_unique<TapPipeline>(config, config.taps[t], plan.taps[t],
                                                         signals.rotations));
    } catch (const std::exception& e) {
        log_error(std::string(e.what()) + "; nothing was started");
        return 2;
    }
    return 0;
}

// The ports are open and the folders exist: from here on an ordinary user will do. Throws.
void become_run_as_user(const Config& config, const Taps& taps) {
    RunAs run_as;
    const std::vector<ConfigError> errors = resolve_run_as(config, run_as);
    if (!errors.empty()) throw std::runtime_error(errors.front().to_string());
    std::vector<std::string> folders;
    for (const auto& tap : taps)
        folders.insert(folders.end(), {tap->directory().tap_dir(), tap->directory().partial_dir(),
                                       tap->directory().meta_dir()});
    drop_privileges(run_as, folders);
    if (!run_as.change) return;
    const std::string& prom = config.stats.prometheus_textfile;
    if (!prom.empty()) {
        const size_t slash = prom.find_last_of('/');
        folders.push_back(slash == std::string::npos ? "." : prom.substr(0, std::max<size_t>(slash, 1)));
    }
    // Folders above a tap folder were not handed over: each must let the user through.
    for (const std::string& folder : folders)
        if (::access(folder.c_str(), W_OK | X_OK) != 0)
            throw std::runtime_error(
                "as " + (config.user.empty() ? "group " + config.group : config.user) +
                ", cannot write into " + folder + " (" + std::strerror(errno) +
                "); every folder above it must be searchable by that user, and the folder "
                "itself writable");
    log_info("running as uid " + std::to_string(::getuid()) + ", gid " + std::to_string(::getgid()));
}

void start_taps(const Config& config, const Taps& taps, Wakeup& tap_finished) {
    std::vector<size_t> ports;
    std::vector<uint32_t> workers;
    for (const auto& tap : taps) {
        ports.push_back(tap->port_count());
        workers.push_back(tap->worker_count());
    }
    const std::vector<TapCores> cores = assign_cores(config.threads, ports, workers);
    for (size_t t = 0; t < taps.size(); ++t) {
        taps[t]->start(cores[t], [&tap_finished] { tap_finished.notify(); });
        std::string ports;
        for (size_t p = 0; p < taps[t]->port_count(); ++p)
            ports += std::string(p == 0 ? " " : ", ") + port_name(p) + ": " +
                     taps[t]->source(p).describe();
        log_info("tap " + taps[t]->name() + ":" + ports + "; " +
                 std::to_string(taps[t]->worker_count()) + " workers; files in " +
                 taps[t]->directory().tap_dir());
        for (const std::string& line : taps[t]->queue_mapping()) log_info("tap " + taps[t]->name() + ": " + line);
        log_info("tap " + taps[t]->name() + ": threads: " + taps[t]->thread_layout());
        for (size_t p = 0; p < taps[t]->port_count(); ++p)
            if (const std::string w = taps[t]->source(p).setup_warning(); !w.empty())
                log_warning("tap " + taps[t]->name() + ": " + w);
    }
}

// The control thread while the taps run: READY=1, the watchdog, signals, errors and the
// statistics every interval, until every tap has published its last file.
class ControlLoop {
public:
    ControlLoop(const Config& config, const Taps& taps, const SignalFlags& signals,
                Wakeup& tap_finished)
        : config_(config), taps_(taps), signals_(signals), tap_finished_(tap_finished),
          prometheus_(config.stats.prometheus_textfile) {
        for (const auto& tap : taps) previous_.push_back(tap->snapshot());
        next_stats_ns_ = monotonic_now_ns() + config.stats.interval_ns;
    }

    void run() {
        while (!all_finished()) {
            notify_ready_once_started();
            // When the statistics or the watchdog are due, at least once a second (a port's error
            // or the writer's notices are logged by then), and at once when a tap finishes or a
            // signal comes. Each look costs a wake-up (~0.1 ms on a VM), which a quiet link
            // would otherwise pay ten times a second.
            tap_finished_.wait_for(ready_ ? ms_until_due() : 1);
            watchdog_.poll(monotonic_now_ns(), [&] { return all_heartbeats(taps_); });
            handle_signals();
            for (const auto& tap : taps_)
                for (const std::string& error : tap->take_errors()) log_error(error);
            if (monotonic_now_ns() >= next_stats_ns_) write_interval_stats();
        }
        for (const auto& tap : taps_) tap->join();
        // A replay can end before the first look at the threads: they did all run.
        if (!ready_) sd_notify(0, "READY=1");
        if (!stopping_) sd_notify(0, "STOPPING=1");
    }

    // The final statistics and summary; the daemon's exit status.
    int finish() {
        int status = 0;
        std::vector<TapSnapshot> final_snapshots;
        for (const auto& tap : taps_) {
            for (const std::string& error : tap->take_errors()) log_error(error);
            const TapSnapshot final = tap->snapshot();
            append_stats(*tap, final, true);
            final_snapshots.push_back(final);
            log_info(summary_line(final, *tap));
            for (size_t p = 0; p < final.ports.size(); ++p) {
                if (final.ports[p].present && final.ports[p].in_flight() != 0) {
                    log_error("tap " + tap->name() + " port " + port_name(p) + ": " +
                              std::to_string(final.ports[p].in_flight()) +
                              " packets unaccounted for at exit; please report this");
                    status = 1;
                }
            }
            if (tap->has_port_error()) status = 1;
        }
        prometheus_.write(final_snapshots, true);
        return status;
    }

private:
    int ms_until_due() const {
        const uint64_t now = monotonic_now_ns();
        uint64_t due = std::min(next_stats_ns_, now + max_look_interval_ns);
        if (const uint64_t watchdog = watchdog_.next_due_ns(); watchdog != 0) due = std::min(due, watchdog);
        return due <= now ? 0 : static_cast<int>((due - now + 999'999) / 1'000'000);
    }

    static constexpr uint64_t max_look_interval_ns = 1'000'000'000;

    bool all_finished() const {
        for (const auto& tap : taps_)
            if (!tap->finished()) return false;
        return true;
    }

    // READY=1 once every thread has entered its loop (the ports were opened before).
    void notify_ready_once_started() {
        if (ready_) return;
        const std::vector<Heartbeat> beats = all_heartbeats(taps_);
        for (const Heartbeat& beat : beats)
            if (!beat.started) return;
        ready_ = true;
        sd_notify(0, "READY=1\nSTATUS=capturing");
        watchdog_.start(beats, monotonic_now_ns());
    }

    void handle_signals() {
        if (!stopping_ && signals_.stop.load(std::memory_order_relaxed)) {
            stopping_ = true;
            log_info("stopping: draining the rings and publishing the last files");
            sd_notify(0, "STOPPING=1");
            for (const auto& tap : taps_) tap->request_stop();
        }
        if (const uint64_t r = signals_.rotations.load(std::memory_order_relaxed);
            r != seen_rotations_) {
            seen_rotations_ = r;
            log_info("SIGHUP: publishing the current files and starting new ones");
        }
    }

    void write_interval_stats() {
        // The next interval from the one due; one that fell behind (a slow disk) does not
        // come back to back to catch up.
        next_stats_ns_ = std::max(next_stats_ns_ + config_.stats.interval_ns,
                                  monotonic_now_ns() + config_.stats.interval_ns / 2);
        std::string status;
        std::vector<TapSnapshot> snapshots;
        for (size_t t = 0; t < taps_.size(); ++t) {
            TapSnapshot now = taps_[t]->snapshot();
            append_stats(*taps_[t], now, false);
            status += (t == 0 ? "" : " | ") + status_line(now, previous_[t]);
            warn_upstream_loss(now, previous_[t], config_.stats);
            snapshots.push_back(now);
            previous_[t] = std::move(now);
        }
        prometheus_.write(snapshots, false);
        if (log_is_interactive())
            log_status_line(status);
        else
            log_info(status);
        sd_notifyf(0, "STATUS=%s", status.c_str());
    }

    const Config& config_;
    const Taps& taps_;
    const SignalFlags& signals_;
    Wakeup& tap_finished_;
    std::vector<TapSnapshot> previous_;
    uint64_t next_stats_ns_ = 0;
    uint64_t seen_rotations_ = 0;
    bool stopping_ = false;
    bool ready_ = false;
    Watchdog watchdog_;
    PrometheusExport prometheus_;
};

}  // namespace

int run_daemon(const Config& config, const RunPlan& plan) {
    static SignalFlags signals;
    install_signal_handlers(signals);
    // Before the taps: it outlives the threads that notify it. Static: a signal handler on any
    // thread may write to it until the process ends, so its descriptor is never closed and
    // reused for something else.
    static Wakeup tap_finished;
    signals.wake_fd.store(tap_finished.fd());
    Taps taps;
    if (const int status = open_taps(config, plan, signals, taps); status != 0) return status;
    try {
        become_run_as_user(config, taps);
    } catch (const std::exception& e) {
        log_error(std::string(e.what()) + "; nothing was started");
        return 1;
    }
    start_taps(config, taps, tap_finished);
    ControlLoop loop(config, taps, signals, tap_finished);
    loop.run();
    return loop.finish();
}

}  // namespace taprec
