// Worker: one per core and per tap. Merges its share of both directions (ring(a,i), ring(b,i))
// into one time-ordered stream, applies the filter and snaplen, counts, and hands the result to
// the writer on its worker_to_writer ring.
#pragma once

#include <atomic>
#include <vector>

#include "config/config.hpp"
#include "drivers/buffer_return.hpp"
#include "ring/ordered_merge.hpp"
#include "stats/stage_counters.hpp"
#include "worker/packet_filter.hpp"

namespace taprec {

struct WorkerSetup {
    std::vector<PacketRing*> rx_to_worker;  // ring(a,i) [, ring(b,i)]: this worker consumes them
    PacketRing* worker_to_writer = nullptr; // this worker produces it
    BufferReturn buffers;                   // where filtered and dropped packets go back
    const PacketFilter* filter = nullptr;
    uint32_t snaplen = 0;
    bool wait_for_room = false;             // the tap replays files at full speed: never drop
    IdlePolicy idle = IdlePolicy::sleep;
};

class Worker {
public:
    explicit Worker(WorkerSetup setup);

    // The thread body: returns once every input ring has finished and been drained, after
    // finishing worker_to_writer.
    void run() noexcept;

    const WorkerCounters& counters() const noexcept { return counters_; }

private:
    // Filter and cut one ordered burst in place; returns how many packets remain.
    size_t process(std::span<PacketRef> burst) noexcept;

    WorkerSetup setup_;
    OrderedMerge merge_;
    WorkerCounters counters_;
};

}  // namespace taprec
