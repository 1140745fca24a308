// Worker: one per core and per tap. Merges its share of both directions (ring(a,i), ring(b,i))
// into one time-ordered stream, applies the filter and snaplen, counts, and hands the result to
// the writer on its worker_to_writer ring.
#pragma once

#include <atomic>
#include <vector>

#include "config/config.hpp"
#include "pipeline/buffer_return.hpp"
#include "ring/ordered_merge.hpp"
#include "pipeline/poll_stage.hpp"
#include "stats/stage_counters.hpp"
#include "worker/packet_filter.hpp"
#include "worker/tcp_loss_estimator.hpp"

namespace taprec {

struct WorkerSetup {
    // ring(a,i) [, ring(b,i)], in that order: this worker consumes them. Input k carries port k
    // (the TCP loss estimator takes input k's frontier as port k's).
    std::vector<PacketRing*> rx_to_worker;
    PacketRing* worker_to_writer = nullptr; // this worker produces it
    BufferReturn buffers;                   // where filtered and dropped packets go back
    const PacketFilter* filter = nullptr;
    uint32_t snaplen = 0;
    int link_type = 1;                      // DLT_* of the tap's ports, for parsing headers
    uint32_t tcp_flows = 0;                 // TCP loss estimator table size; 0 turns it off
    bool wait_for_room = false;             // the tap replays files at full speed: never drop
};

class Worker final : public PollStage {
public:
    explicit Worker(WorkerSetup setup);

    // One merged burst (see PollStage); finished once every input ring has finished and been
    // drained, after finishing worker_to_writer.
    StepResult step(bool may_block) noexcept override;

    const WorkerCounters& counters() const noexcept { return counters_; }
    const TcpLossCounters& tcp_loss() const noexcept { return estimator_.counters(); }

private:
    // Filter and cut one ordered burst in place; returns how many packets remain.
    size_t process(std::span<PacketRef> burst) noexcept;
    void settle_estimator() noexcept;

    static constexpr int bursts_per_step = 8;

    WorkerSetup setup_;
    OrderedMerge merge_;
    TcpLossEstimator estimator_;
    uint64_t published_watermark_ = 0;  // what worker_to_writer's watermark holds
    WorkerCounters counters_;
};

}  // namespace taprec
