#include "daemon/daemon.hpp"

#include <systemd/sd-daemon.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/log.hpp"
#include "daemon/signals.hpp"
#include "daemon/tap_pipeline.hpp"
#include "drivers/dpdk_eal.hpp"

namespace taprec {
namespace {

uint64_t monotonic_now_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

std::string human_rate(double per_second, const char* unit) {
    char buf[64];
    if (per_second >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2f G%s", per_second / 1e9, unit);
    else if (per_second >= 1e6)
        std::snprintf(buf, sizeof buf, "%.2f M%s", per_second / 1e6, unit);
    else if (per_second >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1f k%s", per_second / 1e3, unit);
    else
        std::snprintf(buf, sizeof buf, "%.0f %s", per_second, unit);
    return buf;
}

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

    const std::vector<TapCores> cores = assign_cores(config, taps);
    for (size_t t = 0; t < taps.size(); ++t) {
        taps[t]->start(cores[t]);
        std::string ports;
        for (size_t p = 0; p < taps[t]->port_count(); ++p)
            ports += std::string(p == 0 ? " a: " : ", b: ") + taps[t]->source(p).describe();
        log_info("tap " + taps[t]->name() + ":" + ports + "; " +
                 std::to_string(taps[t]->worker_count()) + " workers; files in " +
                 taps[t]->directory().tap_dir());
    }
    sd_notify(0, "READY=1\nSTATUS=capturing");

    std::vector<TapSnapshot> previous;
    for (const auto& tap : taps) previous.push_back(tap->snapshot());
    const uint64_t interval_ns = config.stats.interval_ns;
    uint64_t next_stats_ns = monotonic_now_ns() + interval_ns;
    uint64_t seen_rotations = 0;
    bool stopping = false;

    auto all_finished = [&] {
        for (const auto& tap : taps)
            if (!tap->finished()) return false;
        return true;
    };
    while (!all_finished()) {
        timespec tick{0, 50'000'000};
        nanosleep(&tick, nullptr);
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
        for (size_t t = 0; t < taps.size(); ++t) {
            TapSnapshot now = taps[t]->snapshot();
            append_stats(*taps[t], now, false);
            status += (t == 0 ? "" : " | ") + status_line(now, previous[t]);
            previous[t] = std::move(now);
        }
        if (log_is_interactive())
            log_status_line(status);
        else
            log_info(status);
        sd_notifyf(0, "STATUS=%s", status.c_str());
    }
    for (const auto& tap : taps) tap->join();
    if (!stopping) sd_notify(0, "STOPPING=1");

    int status = 0;
    for (const auto& tap : taps) {
        for (const std::string& error : tap->take_errors()) log_error(error);
        const TapSnapshot final = tap->snapshot();
        append_stats(*tap, final, true);
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
    return status;
}

}  // namespace taprec
