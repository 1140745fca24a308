#include "index/index_file.hpp"
#include "writer/janitor.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "pipeline/clock_now.hpp"
#include "writer/pending_hooks.hpp"

namespace taprec {
namespace {

std::string mib(uint64_t bytes) {
    return std::to_string(bytes / (1024 * 1024)) + "." +
           std::to_string(bytes % (1024 * 1024) * 10 / (1024 * 1024)) + " MiB";
}

}  // namespace

Janitor::Janitor(const OutputDirectory& directory, const OutputConfig& output)
    : directory_(directory),
      retention_(output.retention),
      retention_enabled_(output.retention.max_bytes != 0 || output.retention.max_files != 0 ||
                         output.retention.min_free_percent != 0),
      publication_order_(retention_enabled_ ? list_published(directory.tap_dir())
                                            : std::vector<StoredFile>{}),
      hooks_(output.on_rotate, output.on_rotate_max, output.on_rotate_timeout_ns, notices_) {
    if (!hooks_.enabled()) return;
    // The last stop's unfinished hooks go first: their files are older than any of this run's.
    const std::vector<std::string> recorded = read_pending_hooks(directory_);
    for (const std::string& name : recorded) hooks_.enqueue(directory_.tap_dir() + "/" + name);
    if (!recorded.empty())
        notices_.add(NoticeLevel::info,
                     "on_rotate: " + std::to_string(recorded.size()) + " files whose hook the last "
                     "stop left unfinished get it now, first " + recorded.front() + " (.meta/" +
                     pending_hooks_file + ")");
}

Janitor::~Janitor() {
    finish();
    join();
}

void Janitor::start() {
    thread_ = std::thread([this] { run(); });
}

void Janitor::join() {
    if (thread_.joinable()) thread_.join();
}

void Janitor::file_published(const std::string& path) noexcept {
    try {
        if (!writer_to_janitor_.push(path)) ring_overflow_.add(1);
    } catch (...) {
        ring_overflow_.add(1);  // no memory for the path: the same as no room
    }
    wake();  // once a file, not once a packet: the lock costs nothing here
}

void Janitor::wake() noexcept {
    {
        std::lock_guard lock(wake_mutex_);
        woken_ = true;
    }
    wake_cv_.notify_one();
}

void Janitor::sleep(uint64_t max_ns) noexcept {
    std::unique_lock lock(wake_mutex_);
    wake_cv_.wait_for(lock, std::chrono::nanoseconds(max_ns), [this] { return woken_; });
    woken_ = false;
}

void Janitor::apply_retention() {
    if (!retention_enabled_) return;
    const std::vector<StoredFile> files =
        publication_order_.oldest_first(list_published(directory_.tap_dir()));
    const RetentionDecision decision =
        plan_retention(files, partial_bytes(directory_.partial_dir()),
                       disk_space(directory_.tap_dir()), retention_);
    uint64_t deleted = 0, bytes = 0;
    for (size_t i = 0; i < decision.delete_count; ++i) {
        if (::unlink((directory_.tap_dir() + "/" + files[i].name).c_str()) != 0) continue;
        ::unlink((directory_.meta_dir() + "/" + block_index::index_name(files[i].name)).c_str());
        ++deleted;
        bytes += files[i].bytes;
    }
    if (deleted != 0) {
        retention_counters_.deleted_files.add(deleted);
        retention_counters_.deleted_bytes.add(bytes);
        notices_.add(NoticeLevel::info, "retention: deleted the " + std::to_string(deleted) +
                                            " oldest files (" + mib(bytes) + ", from " +
                                            files[0].name + ") for " + decision.reason);
    }
    if (decision.min_free_unreachable && !min_free_warned_) {
        notices_.add(NoticeLevel::warning,
                     "retention: " + directory_.tap_dir() + " is below min_free_percent " +
                         std::to_string(retention_.min_free_percent) +
                         " with no published file of this tap left to delete; capture goes on");
    }
    min_free_warned_ = decision.min_free_unreachable;
}

void Janitor::run() noexcept {
    uint64_t next_retention_ns = 0;
    uint64_t stop_by_ns = 0;
    std::string path;
    while (true) {
        const bool finishing = finishing_.load(std::memory_order_acquire);
        bool published = false;
        try {
            while (writer_to_janitor_.pop(path)) {
                if (retention_enabled_) publication_order_.published(file_name(path));
                hooks_.enqueue(path);
                published = true;
            }
            const uint64_t now = monotonic_now_ns();
            hooks_.poll(now);
            if (published || now >= next_retention_ns) {
                apply_retention();
                next_retention_ns = now + retention_period_ns;
            }
            if (finishing) {
                // The writer has published its last file (its step drained the publisher), and
                // it is in the ring by now.
                if (stop_by_ns == 0) stop_by_ns = now + stop_grace_ns;
                if (writer_to_janitor_.read_available() == 0 &&
                    ((hooks_.running() == 0 && hooks_.queued() == 0) || now >= stop_by_ns))
                    break;
            }
        } catch (const std::exception& e) {
            notices_.add(NoticeLevel::error, std::string("janitor: ") + e.what());
        }
        // Running hooks are watched (exit, timeout) every 20 ms; otherwise nothing happens
        // before the next publish or retention pass.
        const bool watching = finishing || hooks_.running() != 0 || hooks_.queued() != 0;
        const uint64_t now = monotonic_now_ns();
        const uint64_t until_retention = next_retention_ns > now ? next_retention_ns - now : 0;
        sleep(watching ? hook_poll_ns : std::max(until_retention, hook_poll_ns));
    }
    record_unfinished_hooks();
}

// At the stop, after the grace: what is still running is left to finish, and with what never
// started it is recorded for the next start (at least once; a running one may run twice).
void Janitor::record_unfinished_hooks() noexcept {
    if (!hooks_.enabled()) return;
    try {
        const size_t running = hooks_.running();
        const std::vector<std::string> unfinished = hooks_.take_unfinished();
        write_pending_hooks(directory_, unfinished);
        if (unfinished.empty()) return;
        notices_.add(NoticeLevel::warning,
                     "on_rotate: stopping with " + std::to_string(unfinished.size()) +
                         " files whose hook did not finish (" + std::to_string(running) +
                         " still running, left to finish), first " + file_name(unfinished.front()) +
                         "; recorded in .meta/" + pending_hooks_file + ", they run at the next start");
    } catch (const std::exception& e) {
        notices_.add(NoticeLevel::error, std::string("on_rotate: cannot record the unfinished "
                                                     "hooks for the next start: ") + e.what());
    }
}

}  // namespace taprec
