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
#include "drivers/buffer_return.hpp"
#include "ring/ordered_merge.hpp"
#include "stats/stage_counters.hpp"
#include "writer/output_dir.hpp"
#include "writer/pcap_file.hpp"

namespace taprec {

struct WriterSetup {
    std::vector<PacketRing*> worker_to_writer;  // one per worker; this thread consumes them
    std::array<PacketSource*, max_ports_per_tap> sources{};
    OutputDirectory* directory = nullptr;
    OutputConfig output;
    int link_type = 1;
    IdlePolicy idle = IdlePolicy::sleep;
    size_t block_size = size_t{4} << 20;
    // Bumped by the control thread on SIGHUP: publish the current file now, start a new one.
    const std::atomic<uint64_t>* rotate_generation = nullptr;
    // Packets lost per port so far at every stage: recorded per file in the index.
    std::function<PerPort<uint64_t>()> drops_so_far;
};

class Writer {
public:
    explicit Writer(WriterSetup setup);
    ~Writer();

    // The thread body: returns once every worker has finished and everything is written and
    // published.
    void run() noexcept;

    const WriterCounters& counters() const noexcept { return counters_; }
    // The last error worth telling the operator (file creation, publishing), for the log.
    std::string take_error();

private:
    void write_burst(std::span<const PacketRef> burst, uint64_t now_ns) noexcept;
    void open_file(uint64_t first_ts_ns, uint64_t now_ns) noexcept;
    void close_and_publish() noexcept;
    void account(const FlushResult& flushed) noexcept;
    bool rotation_due(const PacketRef& next) const noexcept;

    WriterSetup setup_;
    OrderedMerge merge_;
    BufferReturn buffers_;
    std::byte* block_ = nullptr;
    PcapFile file_;

    // The file being written.
    std::string name_;
    uint64_t first_ts_ns_ = 0;
    uint64_t last_ts_ns_ = 0;
    uint64_t deadline_ns_ = 0;  // wall clock time of the next time rotation
    PerPort<uint64_t> file_packets_{};
    PerPort<uint64_t> drops_at_open_{};
    uint64_t seen_rotate_generation_ = 0;
    uint64_t retry_open_ns_ = 0;  // after a failed create, drop (counted) until then

    std::mutex error_mutex_;  // the writer's cold path and the control thread only
    std::string error_;
    WriterCounters counters_;
};

}  // namespace taprec
