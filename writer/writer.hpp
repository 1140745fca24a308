// Writer: one per tap. Merges the workers' ordered streams (k-way), copies each packet once into
// a large file buffer, rotates and publishes files, and gives the buffers back to the drivers.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "pipeline/buffer_return.hpp"
#include "index/index_file.hpp"
#include "ring/ordered_merge.hpp"
#include "pipeline/poll_stage.hpp"
#include "stats/stage_counters.hpp"
#include "stats/tap_snapshot.hpp"
#include "writer/notices.hpp"
#include "writer/output_dir.hpp"
#include "writer/pcap_file.hpp"
#include "writer/publisher.hpp"

namespace taprec {

struct WriterSetup {
    std::vector<PacketRing*> worker_to_writer;  // one per worker; this thread consumes them
    std::array<PacketSource*, max_ports_per_tap> sources{};
    OutputDirectory* directory = nullptr;
    OutputConfig output;
    int link_type = 1;
    // 1 MiB (stenotype's block): large enough that write() is never per packet, small enough
    // that one write() does not hold a core that the tap's pollers share for milliseconds.
    size_t block_size = size_t{1} << 20;
    // Bumped by the control thread on SIGHUP: publish the current file now, start a new one.
    const std::atomic<uint64_t>* rotate_generation = nullptr;
    // Every counter so far; index.jsonl records per port how much the drops and the per_file
    // counters (stats/counter_table.hpp) grew while a file was open. Called once per file.
    std::function<TapSnapshot()> totals_so_far;
    // Told the path of each published file (on_rotate hooks, retention). Called on the writer's
    // publisher thread (writer/publisher.hpp), in publication order.
    std::function<void(const std::string&)> published;
    // A packet stamped more than this ahead of the wall clock is a bogus stamp or a clock step:
    // it is written with the newest sane timestamp instead and counted as clamped.
    uint64_t max_future_ns = uint64_t{60} * 1'000'000'000u;
    // A quiet link fills a block slowly (1 MiB of a 10 pps link is a quarter of an hour): what
    // waits longer than this is handed to the kernel, so a crash of the daemon loses at most
    // that much, and `written` keeps up with the link. O_DIRECT files write whole blocks only.
    uint64_t max_unwritten_ns = 1'000'000'000u;
};

// The writer's counters beyond the per-stage ones of stats/stage_counters.hpp.
struct alignas(cache_line_size) WriterFileCounters {
    PerPort<Counter> clamped;  // timestamps too far ahead of the clock, rewritten
    Counter sync_errors;       // sync: close, and fsync failed
};

class Writer final : public PollStage {
public:
    explicit Writer(WriterSetup setup);
    ~Writer();

    // One merged burst written, rotations due done (see PollStage); finished once every worker
    // has finished and everything is written and published. A rotation hands the closed file to
    // the publisher's thread, which syncs, renames and records it while this one writes the next.
    StepResult step(bool may_block) noexcept override;

    const WriterCounters& counters() const noexcept { return counters_; }
    const WriterFileCounters& file_counters() const noexcept { return file_counters_; }
    // Lines for the operator (failed writes, and when they succeed again; clamped timestamps).
    std::vector<Notice> take_notices() { return notices_.take(); }

private:
    void write_burst(std::span<const PacketRef> burst, uint64_t now_ns) noexcept;
    void publish_late_counts() noexcept;
    void note_unwritten(const FlushResult& flushed, uint64_t now_ns) noexcept;
    void flush_unwritten() noexcept;
    void open_file(uint64_t first_ts_ns, uint64_t now_ns) noexcept;
    void close_and_publish() noexcept;
    void account(const FlushResult& flushed) noexcept;
    uint64_t clamp(const PacketRef& p, uint64_t now_ns) noexcept;
    [[gnu::always_inline]] inline bool rotation_due(const PacketRef& next) const noexcept;
    // The block index follows the file: seal what reached it, drop what a failed write lost.
    void index_written() noexcept;
    // O_DIRECT: the block written on the file's write thread has reached the disk: count it.
    void collect_finished_writes() noexcept;
    // Once per packet: inlined into write_burst().
    [[gnu::always_inline]] inline void index_record() noexcept;
    void open_index() noexcept;
    PublisherSetup publisher_setup();

    static constexpr int bursts_per_step = 16;

    WriterSetup setup_;
    OrderedMerge merge_;
    BufferReturn buffers_;
    std::byte* block_ = nullptr;
    PcapFile file_;
    block_index::BlockIndexer index_;  // the open file's .meta/NAME.idx.partial
    bool index_failure_logged_ = false;
    uint64_t seen_write_failures_ = 0;  // file_.write_failures() when the index last followed

    // The file being written.
    std::string name_;
    uint64_t first_ts_ns_ = 0;
    uint64_t last_ts_ns_ = 0;
    uint64_t deadline_ns_ = 0;  // wall clock time of the next time rotation
    uint64_t unwritten_since_ns_ = 0;  // wall clock time the oldest unwritten packet was buffered
    uint64_t seen_rotate_generation_ = 0;
    uint64_t retry_open_ns_ = 0;  // after a failed create, drop (counted) until then
    uint64_t newest_ts_ns_ = 0;   // the newest timestamp written: what a clamped stamp becomes
    bool clamp_logged_ = false;
    bool direct_refusal_logged_ = false;
    // Writes failing (full disk): logged once when they start failing and once when they work
    // again, not per block.
    bool writes_failing_ = false;
    uint64_t dropped_when_failing_ = 0;

    Notices notices_;
    WriterCounters counters_;
    WriterFileCounters file_counters_;
    Publisher publisher_;  // last: its thread stops (after publishing all) before the rest goes
};

}  // namespace taprec
