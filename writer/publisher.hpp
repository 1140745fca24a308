// Publisher: one per tap, its own thread, so a rotation costs the writer thread one last write()
// and nothing more. The writer closes a file by handing its still-open descriptor and its
// numbers over (ClosedFile, through a fixed ring of slots: no lock, no allocation on the writer's
// side); the publisher then does, in the order the files were closed, what makes one public:
// fsync (output.sync: close), close, .meta/NAME.idx.partial renamed to NAME.idx, the rename out
// of .partial/ (OutputDirectory::publish), the index.jsonl line, and the hand-over to the
// janitor (hooks, retention). Meanwhile the writer has opened the next file and goes on writing.
//
// Everything the writer's thread guaranteed still holds, for one thread does it all in order:
// a file appears complete and with its index, index.jsonl lines come in publication order,
// retention and hooks see a file only once it is published, and a file closed but not yet
// renamed is, after a crash, just a file of .partial that the next start repairs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "ring/spsc_ring.hpp"
#include "stats/counter.hpp"
#include "stats/stage_counters.hpp"
#include "stats/tap_snapshot.hpp"
#include "writer/notices.hpp"
#include "writer/output_dir.hpp"

namespace taprec {

// A file the writer has written to its end and closed for writing: still open, still in .partial.
struct ClosedFile {
    int fd = -1;          // the publisher syncs (when asked) and closes it
    std::string name;     // NAME.pcap in .partial/
    bool indexed = false; // .meta/NAME.idx.partial holds its block index
    uint64_t first_ns = 0, last_ns = 0;
    uint64_t packets = 0, bytes = 0;
    PerPort<uint64_t> port_packets{};
    // Every counter as the writer closed the file: index.jsonl's per-file counts are the growth
    // from one file's totals to the next, so the lines add up to the totals.
    TapSnapshot totals;
};

struct PublisherSetup {
    OutputDirectory* directory = nullptr;
    bool sync = false;  // output.sync: close
    PerPort<bool> ports{};  // the tap's ports: index.jsonl has a member for each
    // Told the path of each published file, on the publisher's thread (Janitor::file_published).
    std::function<void(const std::string&)> published;
    Counter* files = nullptr;        // published files
    Counter* sync_errors = nullptr;  // failed fsyncs
    Notices* notices = nullptr;
};

class Publisher {
public:
    // Files closed and not yet published, at most: each holds a descriptor open. A writer that
    // gets this far ahead (a disk that takes seconds per fsync) waits for the oldest.
    static constexpr size_t capacity = 64;
    // Test only: a delay before each publish, in milliseconds, read once at start, so a test can
    // show that a slow publish (a slow disk's fsync) does not hold the writer.
    static constexpr const char* test_delay_variable = "TAPREC_TEST_PUBLISH_DELAY_MS";

    explicit Publisher(PublisherSetup setup);
    // Publishes whatever was handed over, then ends the thread.
    ~Publisher();
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    // Writer thread: queue `file` (moved from) for publishing. Waits only when `capacity` files
    // are unpublished (counted in full_waits()).
    void hand_over(ClosedFile& file) noexcept;
    // Writer thread: return once every file handed over is published.
    void drain() noexcept;

    // Files handed over and not yet published (any thread).
    uint64_t pending() const noexcept {
        return handed_.load(std::memory_order_acquire) - published_.load(std::memory_order_acquire);
    }
    uint64_t full_waits() const noexcept { return full_waits_.get(); }

private:
    void run() noexcept;
    void publish(ClosedFile& file) noexcept;
    std::string index_line(const ClosedFile& file, const std::string& published) const;
    void wake() noexcept;

    PublisherSetup setup_;
    uint64_t delay_ms_ = 0;
    TapSnapshot totals_at_last_publish_;  // publisher thread only
    std::array<ClosedFile, capacity> slots_;
    // Counts, not indexes: slot i % capacity. handed_ is the writer's, published_ the publisher's.
    alignas(cache_line_size) std::atomic<uint64_t> handed_{0};
    alignas(cache_line_size) std::atomic<uint64_t> published_{0};
    // What the publisher's thread sleeps on (a futex, no lock): bumped by each hand-over and by
    // the stop.
    alignas(cache_line_size) std::atomic<uint32_t> wakeups_{0};
    std::atomic<bool> stopping_{false};
    Counter full_waits_;
    std::thread thread_;
};

}  // namespace taprec
