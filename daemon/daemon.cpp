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

#include "drivers/clock_now.hpp"
#include "daemon/log.hpp"
#include "stats/human_rate.hpp"
#include "daemon/run_as.hpp"
#include "daemon/signals.hpp"
#include "daemon/tap_pipeline.hpp"
#include "daemon/watchdog.hpp"
#include "drivers/dpdk_eal.hpp"
#include "stats/prometheus.hpp"

namespace taprec {
namespace {

uint64_t total_drops(const PortSnapshot& p) {
    return p.nic_missed + p.nic_nombuf + p.nic_errors + p.dropped_ring + p.dropped_writer;
}

// One status line for one tap: rates over the last interval, then totals that matter.
std::string status_line(const TapSnapshot& now, const TapSnapshot& before) {
    const double seconds = double(now.time_ns - before.time_ns) / 1e9;
    std::string line = "tap " + now.tap + ":";
    for (size_t p = 0; p < now.ports.size(); ++p) {
        if (!now.ports[p].present) continue;
        const double pps =
            seconds > 0 ? double(now.ports[p].received - before.ports[p].received) / seconds : 0;
        line += std::string(" ") + (p == 0 ? "a" : "b") + " " + human_rate(pps, "pps");
    }
    const double bps = seconds > 0
                           ? 8.0 * double(now.written_bytes() - before.written_bytes()) / seconds
                           : 0;
    uint64_t drops = 0;
    for (const PortSnapshot& p : now.ports) drops += total_drops(p);
    line += ", written " + human_rate(bps, "bit/s") + ", " + std::to_string(now.written()) +
            " packets in " + std::to_string(now.files) + " files, drops " + std::to_string(drops);
    return line;
}

std::string summary_line(const TapSnapshot& s, const TapPipeline& tap) {
    uint64_t received = 0, filtered = 0, nic = 0, ring = 0, writer = 0;
    for (const PortSnapshot& p : s.ports) {
        received += p.received;
        filtered += p.filtered;
        nic += p.nic_missed + p.nic_nombuf + p.nic_errors;
        ring += p.dropped_ring;
        writer += p.dropped_writer;
    }
    return "tap " + s.tap + ": received " + std::to_string(received) + ", written " +
           std::to_string(s.written()) + " in " + std::to_string(s.files) + " files under " +
           tap.directory().tap_dir() + ", filtered " + std::to_string(filtered) +
           ", dropped " + std::to_string(nic + ring + writer) + " (nic " + std::to_string(nic) +
           ", ring " + std::to_string(ring) + ", writer " + std::to_string(writer) + ")";
}

void append_stats(const TapPipeline& tap, const TapSnapshot& s, bool final) {
    try {
        tap.directory().append_meta_line("stats.jsonl", stats_json_line(s, final));
    } catch (const std::exception& e) {
        log_warning(std::string("stats: ") + e.what());
    }
}

// stats.prometheus_textfile: written to a temporary file in the same folder, then renamed over
// the old one, so node_exporter never reads half a file. Returns what failed, or "".
std::string write_prometheus(const std::string& path, const std::vector<TapSnapshot>& snapshots,
                             bool final) {
    const std::string text = prometheus_text(snapshots, final);
    const size_t slash = path.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash);
    // A leading dot and no .prom suffix: the textfile collector skips the temporary file.
    std::string temp = folder + "/.taprec-prom-XXXXXX";
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) return "cannot create a file in " + folder + ": " + std::strerror(errno);
    // mkstemp makes 0600; node_exporter runs as another user and must read it.
    ::fchmod(fd, 0644);
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const std::string error = std::strerror(errno);
            ::close(fd);
            ::unlink(temp.c_str());
            return "cannot write " + temp + ": " + error;
        }
        done += size_t(n);
    }
    ::close(fd);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string error = std::strerror(errno);
        ::unlink(temp.c_str());
        return "cannot rename " + temp + " to " + path + ": " + error;
    }
    return "";
}

// Writes the Prometheus file when one is configured; logs a failure once, and its recovery.
class PrometheusExport {
public:
    explicit PrometheusExport(std::string path) : path_(std::move(path)) {}

    void write(const std::vector<TapSnapshot>& snapshots, bool final) {
        if (path_.empty()) return;
        const std::string error = write_prometheus(path_, snapshots, final);
        if (!error.empty() && !failing_)
            log_warning("stats.prometheus_textfile: " + error + "; metrics are stale until it works");
        else if (error.empty() && failing_)
            log_info("stats.prometheus_textfile: writing " + path_ + " again");
        failing_ = !error.empty();
    }

private:
    std::string path_;
    bool failing_ = false;
};

std::vector<Heartbeat> all_heartbeats(const std::vector<std::unique_ptr<TapPipeline>>& taps) {
    std::vector<Heartbeat> beats;
    for (const auto& tap : taps) {
        std::vector<Heartbeat> more = tap->heartbeats();
        beats.insert(beats.end(), more.begin(), more.end());
    }
    return beats;
}

// sd_notify WATCHDOG=1 every third of WatchdogSec, only when every thread moved since the last
// time: a thread stuck for a whole WatchdogSec gets the daemon restarted.
class Watchdog {
public:
    Watchdog() {
        uint64_t usec = 0;
        // > 0 when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process.
        if (sd_watchdog_enabled(0, &usec) > 0 && usec != 0) period_ns_ = usec * 1000 / 3;
    }

    // Called once READY=1 went out: systemd's timer starts then.
    void start(const std::vector<Heartbeat>& beats, uint64_t now_ns) {
        if (period_ns_ == 0) return;
        progress_.remember(beats);
        sd_notify(0, "WATCHDOG=1");
        next_ns_ = now_ns + period_ns_;
        log_info("watchdog: every " + std::to_string(period_ns_ / 1'000'000) +
                 " ms while every thread makes progress");
    }

    void poll(const std::vector<std::unique_ptr<TapPipeline>>& taps, uint64_t now_ns) {
        if (next_ns_ == 0 || now_ns < next_ns_) return;
        next_ns_ = now_ns + period_ns_;
        const std::vector<std::string> stuck = progress_.stuck_threads(all_heartbeats(taps));
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

private:
    uint64_t period_ns_ = 0;
    uint64_t next_ns_ = 0;  // 0: not started
    ProgressCheck progress_;
    bool reported_ = false;
};

// A warning when, over the last interval, the TCP acknowledgements prove the sensor is missing
// more than `threshold_percent` of the segments before they reach it (a SPAN port or TAP that
// drops): every counter of the sensor itself may still say zero.
void warn_upstream_loss(const TapSnapshot& now, const TapSnapshot& before, uint32_t threshold_percent) {
    constexpr uint64_t min_acks = 100;  // fewer say more about chance than about the link
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
                      now.tap.c_str(), p == 0 ? "a" : "b", percent, (unsigned long long)gaps,
                      (unsigned long long)acks);
        log_warning(line);
    }
}

// Cores for each tap's threads: the `threads` lists are handed out in order across taps.
std::vector<TapCores> assign_cores(const Config& config,
                                   const std::vector<std::unique_ptr<TapPipeline>>& taps) {
    std::vector<TapCores> cores(taps.size());
    size_t next_rx = 0, next_worker = 0;
    for (size_t t = 0; t < taps.size(); ++t) {
        for (size_t p = 0; p < taps[t]->port_count(); ++p, ++next_rx)
            cores[t].rx.push_back(config.threads.rx.empty()
                                      ? -1
                                      : config.threads.rx[next_rx % config.threads.rx.size()]);
        for (uint32_t w = 0; w < taps[t]->worker_count(); ++w, ++next_worker)
            cores[t].workers.push_back(
                config.threads.workers.empty()
                    ? -1
                    : config.threads.workers[next_worker % config.threads.workers.size()]);
        cores[t].writer = config.threads.writer.value_or(-1);
    }
    return cores;
}

}  // namespace

int run_daemon(const Config& config) {
    static SignalFlags signals;
    install_signal_handlers(signals);
    if (const int status = start_dpdk(config, [](bool error, const std::string& line) {
            error ? log_error(line) : log_info(line);
        });
        status != 0)
        return status;

    std::vector<std::unique_ptr<TapPipeline>> taps;
    try {
        for (const TapConfig& tap : config.taps)
            taps.push_back(std::make_unique<TapPipeline>(config, tap, signals.rotations));
    } catch (const std::exception& e) {
        log_error(std::string(e.what()) + "; nothing was started");
        return 2;
    }

    // The ports are open and the folders exist: from here on an ordinary user will do.
    try {
        RunAs run_as;
        const std::vector<ConfigError> errors = resolve_run_as(config, run_as);
        if (!errors.empty()) throw std::runtime_error(errors.front().to_string());
        std::vector<std::string> folders;
        for (const auto& tap : taps)
            folders.insert(folders.end(), {tap->directory().tap_dir(), tap->directory().partial_dir(),
                                           tap->directory().meta_dir()});
        drop_privileges(run_as, folders);
        if (run_as.change) {
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
            log_info("running as uid " + std::to_string(::getuid()) + ", gid " +
                     std::to_string(::getgid()));
        }
    } catch (const std::exception& e) {
        log_error(std::string(e.what()) + "; nothing was started");
        return 1;
    }

    const std::vector<TapCores> cores = assign_cores(config, taps);
    for (size_t t = 0; t < taps.size(); ++t) {
        taps[t]->start(cores[t]);
        std::string ports;
        for (size_t p = 0; p < taps[t]->port_count(); ++p)
            ports += std::string(p == 0 ? " a: " : ", b: ") + taps[t]->source(p).describe();
        log_info("tap " + taps[t]->name() + ":" + ports + "; " +
                 std::to_string(taps[t]->worker_count()) + " workers; files in " +
                 taps[t]->directory().tap_dir());
        for (const std::string& line : taps[t]->queue_mapping()) log_info("tap " + taps[t]->name() + ": " + line);
        for (size_t p = 0; p < taps[t]->port_count(); ++p)
            if (const std::string w = taps[t]->source(p).setup_warning(); !w.empty())
                log_warning("tap " + taps[t]->name() + ": " + w);
    }

    std::vector<TapSnapshot> previous;
    for (const auto& tap : taps) previous.push_back(tap->snapshot());
    const uint64_t interval_ns = config.stats.interval_ns;
    uint64_t next_stats_ns = monotonic_now_ns() + interval_ns;
    uint64_t seen_rotations = 0;
    bool stopping = false;
    bool ready = false;
    Watchdog watchdog;
    PrometheusExport prometheus(config.stats.prometheus_textfile);

    auto all_finished = [&] {
        for (const auto& tap : taps)
            if (!tap->finished()) return false;
        return true;
    };
    while (!all_finished()) {
        // READY=1 once every thread has entered its loop (the ports were opened before).
        if (!ready) {
            const std::vector<Heartbeat> beats = all_heartbeats(taps);
            bool all_started = true;
            for (const Heartbeat& beat : beats) all_started = all_started && beat.started;
            if (all_started) {
                ready = true;
                sd_notify(0, "READY=1\nSTATUS=capturing");
                watchdog.start(beats, monotonic_now_ns());
            }
        }
        timespec tick{0, ready ? 100'000'000 : 1'000'000};  // signals, errors, stats: 10 times a second
        nanosleep(&tick, nullptr);
        watchdog.poll(taps, monotonic_now_ns());
        if (!stopping && signals.stop.load(std::memory_order_relaxed)) {
            stopping = true;
            log_info("stopping: draining the rings and publishing the last files");
            sd_notify(0, "STOPPING=1");
            for (const auto& tap : taps) tap->request_stop();
        }
        if (const uint64_t r = signals.rotations.load(std::memory_order_relaxed);
            r != seen_rotations) {
            seen_rotations = r;
            log_info("SIGHUP: publishing the current files and starting new ones");
        }
        for (const auto& tap : taps)
            for (const std::string& error : tap->take_errors()) log_error(error);
        if (monotonic_now_ns() < next_stats_ns) continue;
        next_stats_ns += interval_ns;
        std::string status;
        std::vector<TapSnapshot> snapshots;
        for (size_t t = 0; t < taps.size(); ++t) {
            TapSnapshot now = taps[t]->snapshot();
            append_stats(*taps[t], now, false);
            status += (t == 0 ? "" : " | ") + status_line(now, previous[t]);
            warn_upstream_loss(now, previous[t], config.stats.loss_warn_percent);
            snapshots.push_back(now);
            previous[t] = std::move(now);
        }
        prometheus.write(snapshots, false);
        if (log_is_interactive())
            log_status_line(status);
        else
            log_info(status);
        sd_notifyf(0, "STATUS=%s", status.c_str());
    }
    for (const auto& tap : taps) tap->join();
    // A replay can end before the first look at the threads: they did all run.
    if (!ready) sd_notify(0, "READY=1");
    if (!stopping) sd_notify(0, "STOPPING=1");

    int status = 0;
    std::vector<TapSnapshot> final_snapshots;
    for (const auto& tap : taps) {
        for (const std::string& error : tap->take_errors()) log_error(error);
        const TapSnapshot final = tap->snapshot();
        append_stats(*tap, final, true);
        final_snapshots.push_back(final);
        log_info(summary_line(final, *tap));
        for (size_t p = 0; p < final.ports.size(); ++p) {
            if (final.ports[p].present && final.ports[p].in_flight() != 0) {
                log_error("tap " + tap->name() + " port " + (p == 0 ? "a" : "b") + ": " +
                          std::to_string(final.ports[p].in_flight()) +
                          " packets unaccounted for at exit; please report this");
                status = 1;
            }
        }
        if (tap->has_port_error()) status = 1;
    }
    prometheus.write(final_snapshots, true);
    return status;
}

}  // namespace taprec
