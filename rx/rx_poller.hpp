// RxPoller: the rx thread of one port. Polls each RX queue in bursts, stamps the port index, and
// hands each packet to the worker that owns its flow through that worker's rx_to_worker ring.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "rx/flow_record.hpp"
#include "pipeline/packet_source.hpp"
#include "ring/packet_ring.hpp"
#include "pipeline/poll_stage.hpp"
#include "stats/stage_counters.hpp"

namespace taprec {

struct RxPollerSetup {
    PacketSource* source = nullptr;
    uint16_t port_index = 0;                   // 0 = a, 1 = b
    std::vector<PacketRing*> rx_to_worker;     // one per worker; this thread is their producer
    uint64_t reorder_window_ns = 0;
    IdlePolicy idle = IdlePolicy::sleep;
    const std::atomic<bool>* stop = nullptr;   // set by the control thread: stop polling
    std::string flow_record_path;              // debugging: see rx/flow_record.hpp; "" = off
};

class RxPoller final : public PollStage {
public:
    explicit RxPoller(RxPollerSetup setup);

    // The thread body: returns when stop is set or the port has ended; either way every ring it
    // feeds is finished on the way out, so the workers can drain and stop.
    void run() noexcept;
    // One poll of every queue (see PollStage).
    StepResult step(bool may_block) noexcept override;

    const RxCounters& counters() const noexcept { return counters_; }

private:
    void dispatch(uint16_t queue, std::span<PacketRef> burst) noexcept;
    bool room_for_burst(uint16_t queue) const noexcept;
    void finish() noexcept;
    void hand_on_to(PacketRing& ring, std::span<const PacketRef> burst) noexcept;
    void publish_watermark(uint64_t ts_ns) noexcept;

    static constexpr uint64_t max_future_ns = 1'000'000'000;  // stamps are taken before we look
    static constexpr int max_drain_passes = 4096;  // at stop: 4096 bursts per queue at most

    RxPollerSetup setup_;
    bool spread_by_hash_;   // no RSS to keep flows together: the software hash picks the worker
    int link_type_;
    bool wait_for_room_;    // not a wire: take a burst only when all of it will fit
    uint16_t queue_count_;
    uint32_t bursts_since_refresh_ = 0;
    uint64_t refreshed_ns_ = 0;  // monotonic: the last refresh_counters() of an idle step
    static constexpr uint64_t idle_refresh_ns = 100'000'000;
    std::array<PacketRef, burst_size> burst_;
    uint64_t watermark_ns_ = 0;
    uint64_t sane_until_ns_ = 0;  // stamps up to this are sane by the last clock reading
    RxCounters counters_;
    std::unique_ptr<FlowRecord> flow_record_;  // null unless TAPREC_FLOW_RECORD is set
};

}  // namespace taprec
