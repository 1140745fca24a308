#include "writer/writer.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <system_error>

#include "pipeline/clock_now.hpp"
#include "stats/json.hpp"
#include "stats/tap_snapshot.hpp"

namespace taprec {
namespace {

constexpr uint64_t ns_per_second = 1'000'000'000u;
constexpr uint64_t retry_open_after_ns = ns_per_second;

std::byte* allocate_block(size_t size) {
    // 4 KiB alignment: what O_DIRECT asks of buffers, and whole pages for the page cache.
    void* p = std::aligned_alloc(4096, size);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<std::byte*>(p);
}

}  // namespace

Writer::Writer(WriterSetup setup)
    : setup_(std::move(setup)),
      merge_(setup_.worker_to_writer),
      buffers_(setup_.sources),
      // O_DIRECT: spare blocks, filled while the last ones are written (block_write_thread.hpp)
      block_(allocate_block(setup_.block_size *
                            (1 + (setup_.output.direct_io ? PcapFile::spare_blocks_for_write_thread : 0)))),
      file_(block_, setup_.block_size, setup_.output.format == OutputFormat::pcap_ns,
            setup_.output.snaplen, setup_.link_type,
            setup_.output.direct_io ? block_ + setup_.block_size : nullptr),
      publisher_(publisher_setup()) {}

PublisherSetup Writer::publisher_setup() {
    PublisherSetup p;
    p.directory = setup_.directory;
    p.sync = setup_.output.sync == SyncPolicy::close;
    for (size_t port = 0; port < max_ports_per_tap; ++port) p.ports[port] = setup_.sources[port] != nullptr;
    p.published = setup_.published;
    p.files = &counters_.files;
    p.sync_errors = &file_counters_.sync_errors;
    p.notices = &notices_;
    return p;
}

Writer::~Writer() {
    std::free(block_);
}


StepResult Writer::step(bool) noexcept {
    counters_.loops.add(1);
    const uint64_t now = realtime_coarse_ns();
    if (setup_.rotate_generation != nullptr) [[likely]] {
        const uint64_t generation = setup_.rotate_generation->load(std::memory_order_relaxed);
        if (generation != seen_rotate_generation_) {
            seen_rotate_generation_ = generation;
            close_and_publish();
        }
    }
    if (file_.is_open() && deadline_ns_ != 0 && now >= deadline_ns_) close_and_publish();
    if (file_.write_in_flight()) collect_finished_writes();
    // Up to a few bursts a step: every worker feeds this one writer.
    bool worked = false;
    for (int round = 0; round < bursts_per_step; ++round) {
        std::array<PacketRef, burst_size> burst;
        const size_t n = merge_.pop_ordered(burst);
        if (n == 0) break;
        worked = true;
        write_burst(std::span(burst.data(), n), now);
        if (n < burst_size) break;
    }
    if (unwritten_since_ns_ != 0 && now - unwritten_since_ns_ >= setup_.max_unwritten_ns)
        [[unlikely]] flush_unwritten();
    if (worked) return StepResult::worked;
    if (!merge_.finished()) return StepResult::idle;
    close_and_publish();
    publisher_.drain();  // finished means published: the janitor's last pass and exit 0 follow
    publish_late_counts();
    return StepResult::finished;
}


void Writer::index_record() noexcept {
    if (!index_.is_open()) return;
    const std::span<const std::byte> frame = file_.last_frame();
    const uint64_t record = PcapFile::record_header_size + frame.size();
    // The time as the file keeps it: a microsecond file loses the nanoseconds.
    const uint64_t ts = setup_.output.format == OutputFormat::pcap_ns ? last_ts_ns_
                                                                       : last_ts_ns_ - last_ts_ns_ % 1000;
    index_.add(frame, ts, file_.size() - record, record);
}

bool Writer::rotation_due(const PacketRef& next) const noexcept {
    const RotateConfig& rotate = setup_.output.rotate;
    if (file_.packets() == 0) return false;
    if (rotate.packets != 0 && file_.packets() >= rotate.packets) return true;
    return rotate.bytes != 0 &&
           file_.size() + PcapFile::record_header_size + next.caplen > rotate.bytes;
}

void Writer::write_burst(std::span<const PacketRef> burst, uint64_t now_ns) noexcept {
    FlushResult flushed;
    const uint64_t latest_sane_ns = now_ns + setup_.max_future_ns;
    // The frames a few packets on, while this one is copied: the writer's copy is the first read
    // of a frame's payload, on another core than the one that received it.
    constexpr size_t ahead = 4;
    for (size_t i = 0; i < std::min(burst.size(), ahead); ++i) __builtin_prefetch(burst[i].data);
    for (size_t i = 0; i < burst.size(); ++i) {
        if (i + ahead < burst.size()) __builtin_prefetch(burst[i + ahead].data);
        PacketRef p = burst[i];
        if (p.ts_ns > latest_sane_ns) [[unlikely]]
            p.ts_ns = clamp(p, now_ns);
        if (file_.is_open() && rotation_due(p)) close_and_publish();
        if (!file_.is_open()) open_file(p.ts_ns, now_ns);
        if (!file_.is_open()) [[unlikely]] {
            counters_.dropped_writer[p.port].add(1);
            continue;
        }
        const uint64_t events_before = file_.write_events();
        const uint64_t kept_before = file_.records_kept();
        file_.append(p, setup_.sources[p.port], flushed);
        if (file_.write_events() != events_before) [[unlikely]]
            index_written();
        last_ts_ns_ = p.ts_ns;
        if (file_.records_kept() != kept_before) [[likely]]  // else lost with a failed write
            index_record();
        newest_ts_ns_ = std::max(newest_ts_ns_, p.ts_ns);
    }
    account(flushed);
    note_unwritten(flushed, now_ns);
    buffers_.release(burst);
    publish_late_counts();
}

void Writer::note_unwritten(const FlushResult& flushed, uint64_t now_ns) noexcept {
    const bool flushed_some =
        (flushed.written[0] | flushed.written[1] | flushed.lost[0] | flushed.lost[1]) != 0;
    if (!file_.is_open() || file_.unwritten_packets() == 0)
        unwritten_since_ns_ = 0;
    else if (unwritten_since_ns_ == 0 || flushed_some)
        unwritten_since_ns_ = now_ns;
}

void Writer::flush_unwritten() noexcept {
    unwritten_since_ns_ = 0;
    if (!file_.is_open() || file_.direct()) return;  // a partial block would end O_DIRECT
    FlushResult flushed;
    file_.flush(flushed);
    index_written();
    account(flushed);
}

void Writer::collect_finished_writes() noexcept {
    FlushResult flushed;
    if (!file_.collect_finished_writes(flushed)) return;
    index_written();
    account(flushed);
}

void Writer::index_written() noexcept {
    const uint64_t failures = file_.write_failures();
    const bool failed = failures != seen_write_failures_;
    seen_write_failures_ = failures;
    if (!index_.is_open()) return;
    int error = 0;
    if (failed) [[unlikely]] {
        error = index_.follow(0, file_.confirmed_size());  // the blocks before the cut stay indexed
        index_.discard();
    } else {
        error = index_.follow(file_.handed_size(), file_.confirmed_size());
    }
    if (error != 0 && !index_failure_logged_) {
        index_failure_logged_ = true;
        notices_.add(NoticeLevel::warning,
                     "block index of " + setup_.directory->partial_path(name_) +
                         " cannot be written: " + std::strerror(error) +
                         "; taprec query reads the rest of this file in full (logged once)");
    }
}

void Writer::open_index() noexcept {
    if (!setup_.output.index) return;
    const std::string path =
        setup_.directory->meta_dir() + "/" + block_index::writing_index_name(name_);
    if (const int error = index_.open(path, setup_.output.file_mode, true, uint32_t(setup_.link_type));
        error != 0 && !index_failure_logged_) {
        index_failure_logged_ = true;
        notices_.add(NoticeLevel::warning, "block index " + path + " cannot be created: " +
                                               std::strerror(error) +
                                               "; taprec query reads such files in full (logged once)");
    }
}

// A timestamp far ahead of the wall clock (a clock step, a bogus hardware stamp) would name the
// file years ahead and hold back every later packet in ordering; it becomes the newest sane
// timestamp instead (the clock now when nothing was written yet), so names and order stay true.
uint64_t Writer::clamp(const PacketRef& p, uint64_t now_ns) noexcept {
    file_counters_.clamped[p.port].add(1);
    const uint64_t replacement = newest_ts_ns_ != 0 ? newest_ts_ns_ : now_ns;
    if (!clamp_logged_) {
        clamp_logged_ = true;
        notices_.add(NoticeLevel::warning,
                     std::string("port ") + port_name(p.port) + ": packet timestamp " +
                         std::to_string(p.ts_ns) + " ns is " +
                         std::to_string((p.ts_ns - now_ns) / ns_per_second) +
                         " s ahead of the clock; such packets are written with the newest sane "
                         "timestamp and counted as clamped (logged once)");
    }
    return replacement;
}

void Writer::publish_late_counts() noexcept {
    for (uint16_t port = 0; port < max_ports_per_tap; ++port) {
        counters_.late[port].set(merge_.late_count(port));
        counters_.late_here[port].set(merge_.first_late_count(port));
    }
}

void Writer::account(const FlushResult& flushed) noexcept {
    uint64_t lost = 0;
    for (size_t port = 0; port < max_ports_per_tap; ++port) {
        if (flushed.written[port] != 0) {
            counters_.written[port].add(flushed.written[port]);
            counters_.written_bytes[port].add(flushed.written_bytes[port]);
        }
        if (flushed.lost[port] != 0) counters_.dropped_writer[port].add(flushed.lost[port]);
        lost += flushed.lost[port];
    }
    if (flushed.error != 0) [[unlikely]] {
        counters_.write_errors.add(1);
        dropped_when_failing_ += lost;
        if (!writes_failing_) {
            writes_failing_ = true;
            notices_.add(NoticeLevel::error,
                         "write to " + setup_.directory->partial_dir() + "/" + name_ + " failed: " +
                             std::strerror(flushed.error) + "; the file is cut back to its last "
                             "whole record, packets are counted as dropped_writer, and every "
                             "block is tried again until writes succeed");
        }
    } else if (writes_failing_ && (flushed.written[0] | flushed.written[1]) != 0) [[unlikely]] {
        writes_failing_ = false;
        notices_.add(NoticeLevel::info, "writes succeed again; " +
                                            std::to_string(dropped_when_failing_) +
                                            " packets were counted as dropped_writer meanwhile");
        dropped_when_failing_ = 0;
    }
}

void Writer::open_file(uint64_t first_ts_ns, uint64_t now_ns) noexcept {
    if (now_ns < retry_open_ns_) return;
    try {
        name_ = setup_.directory->name_for(first_ts_ns);
        file_.open(setup_.directory->partial_path(name_), setup_.output.direct_io,
                   setup_.output.file_mode);
    } catch (const std::exception& e) {
        if (retry_open_ns_ == 0)
            notices_.add(NoticeLevel::error, std::string(e.what()) + "; packets are counted as "
                                             "dropped_writer until it works (tried every second)");
        retry_open_ns_ = now_ns + retry_open_after_ns;
        return;
    }
    if (setup_.output.direct_io && !file_.direct() && !direct_refusal_logged_) {
        direct_refusal_logged_ = true;
        notices_.add(NoticeLevel::warning, "output.direct_io: the file system of " +
                                               setup_.directory->partial_dir() +
                                               " refuses O_DIRECT; writing through the page cache");
    }
    retry_open_ns_ = 0;
    open_index();
    first_ts_ns_ = first_ts_ns;
    last_ts_ns_ = first_ts_ns;
    // Time rotation follows the wall clock, aligned to the interval: 300 s publishes at :00, :05.
    const uint64_t interval = setup_.output.rotate.seconds * ns_per_second;
    deadline_ns_ = interval == 0 ? 0 : (now_ns / interval + 1) * interval;
}

// What makes the file public (fsync, close, renames, the index.jsonl line, hooks) is the
// publisher's: here only the last block is written, so the next packet can open the next file.
void Writer::close_and_publish() noexcept {
    if (!file_.is_open()) return;
    unwritten_since_ns_ = 0;
    FlushResult flushed;
    ClosedFile closed;
    closed.fd = file_.release(flushed);
    index_written();
    closed.indexed = index_.is_open();
    index_.close();
    account(flushed);
    closed.name = std::move(name_);
    closed.first_ns = first_ts_ns_;
    closed.last_ns = last_ts_ns_;
    closed.packets = file_.packets();
    closed.bytes = file_.size();
    for (uint16_t port = 0; port < max_ports_per_tap; ++port)
        closed.port_packets[port] = file_.packets(port);
    // The counts of this file's index.jsonl line end here, and the next file's start here: the
    // workers count ahead of the writer, so a snapshot when the next file opens would miss what
    // they counted in between, and the per-file counts would no longer add up to the totals.
    if (closed.packets != 0 && setup_.totals_so_far) closed.totals = setup_.totals_so_far();
    publisher_.hand_over(closed);
}

}  // namespace taprec
