#include "rx/rx_poller.hpp"

#include <array>
#include <chrono>

#include "pipeline/clock_now.hpp"
#include "pipeline/flow_hash.hpp"
#include "ring/hand_on.hpp"
#include "pipeline/idle_wait.hpp"

namespace taprec {

RxPoller::RxPoller(RxPollerSetup setup)
    : setup_(std::move(setup)),
      spread_by_hash_(setup_.rx_to_worker.size() > 1 &&
                      !(setup_.source->has_rss() &&
                        setup_.source->queue_count() == setup_.rx_to_worker.size())),
      link_type_(setup_.source->link_type()),
      wait_for_room_(!setup_.source->is_wire()),
      queue_count_(setup_.source->queue_count()) {
    if (!setup_.flow_record_path.empty())
        flow_record_ = std::make_unique<FlowRecord>(setup_.flow_record_path, link_type_);
}

void RxPoller::run() noexcept { run_stage(*this, setup_.idle); }

StepResult RxPoller::step(bool may_block) noexcept {
    PacketSource& source = *setup_.source;
    counters_.loops.add(1);
    if (setup_.stop->load(std::memory_order_relaxed) || source.at_end()) {
        finish();
        return StepResult::finished;
    }
    size_t received = 0;
    for (uint16_t q = 0; q < queue_count_; ++q) {
        if (wait_for_room_ && !room_for_burst(q)) continue;
        const size_t n = source.rx_burst(q, burst_);
        if (n == 0) continue;
        received += n;
        dispatch(q, std::span(burst_.data(), n));
    }
    if (received != 0) {
        if (++bursts_since_refresh_ == 4096) {
            bursts_since_refresh_ = 0;
            source.refresh_counters();
        }
        return StepResult::worked;
    }
    // Idle: promise the workers nothing older than the port's clock minus the window, so a
    // silent direction does not hold the other one back for longer than that.
    if (const uint64_t now = source.idle_clock_ns(); now > setup_.reorder_window_ns)
        publish_watermark(now - setup_.reorder_window_ns);
    if (source.can_block()) {
        // Before a sleep, so an idle port's counters are fresh, but not before every short nap.
        if (const uint64_t now = monotonic_now_ns(); now - refreshed_ns_ >= idle_refresh_ns) {
            refreshed_ns_ = now;
            source.refresh_counters();
            // Sharing a loop, this stage never waits on the port, where its errors show.
            if (!may_block) source.look_for_error();
        }
        if (may_block) source.wait_for_packets(std::chrono::milliseconds(50));
    }
    return StepResult::idle;
}

// A producer that must not lose packets takes a burst only when it is sure to place all of it.
bool RxPoller::room_for_burst(uint16_t queue) const noexcept {
    const auto& rings = setup_.rx_to_worker;
    if (!spread_by_hash_) return rings[rings.size() == 1 ? 0 : queue]->write_available() >= burst_size;
    for (const PacketRing* ring : rings)
        if (ring->write_available() < burst_size) return false;
    return true;
}

void RxPoller::finish() noexcept {
    PacketSource& source = *setup_.source;
    // Stopped: take what a wire had already accepted, so a packet that reached the sensor is in
    // a file or counted, not left behind in the NIC's ring. Bounded, since a live link goes on
    // delivering. A replayed file simply stops where it is.
    if (source.is_wire() && !source.at_end()) source.hand_over_partial_batch();
    for (int pass = 0; pass < max_drain_passes && source.is_wire() && !source.at_end(); ++pass) {
        size_t received = 0;
        for (uint16_t q = 0; q < queue_count_; ++q) {
            const size_t n = source.rx_burst(q, burst_);
            received += n;
            if (n != 0) dispatch(q, std::span(burst_.data(), n));
        }
        if (received == 0) break;
    }
    source.refresh_counters();
    if (flow_record_) flow_record_->write();
    for (PacketRing* ring : setup_.rx_to_worker) ring->finish();
}

void RxPoller::dispatch(uint16_t queue, std::span<PacketRef> burst) noexcept {
    uint64_t bytes = 0;
    uint64_t newest = watermark_ns_;
    // A stamp far in the future (a bogus hardware stamp, a clock step) would hold the merge back
    // until the clock caught up with it, so it is set back to the port's clock here, where
    // packets are stamped, and counted. The bound from the last clock reading only grows stale
    // downwards (clocks move on), so the clock is read again only for a stamp beyond it: about
    // once a second, not once a burst. A replay has no clock to check against (0).
    bool clock_read = false;
    uint64_t clock = 0;
    for (PacketRef& p : burst) {
        p.port = setup_.port_index;
        bytes += p.wire_len;
        if (p.ts_ns > sane_until_ns_) [[unlikely]] {
            if (!clock_read) {
                clock_read = true;
                clock = setup_.source->idle_clock_ns();
                if (clock != 0) sane_until_ns_ = clock + max_future_ns;
            }
            if (clock != 0 && p.ts_ns > sane_until_ns_) {
                p.ts_ns = clock;
                counters_.clamped.add(1);
            }
        }
        newest = std::max(newest, p.ts_ns);
    }
    counters_.received.add(burst.size());
    counters_.bytes.add(bytes);

    const auto& rings = setup_.rx_to_worker;
    if (!spread_by_hash_) {
        const uint32_t worker = rings.size() == 1 ? 0 : queue;
        if (flow_record_) [[unlikely]] flow_record_->add(burst, queue, worker);
        hand_on_to(*rings[worker], burst);
    } else {
        // Keep each worker's share in arrival order: one pass into per-worker bursts.
        const size_t workers = rings.size();
        std::array<std::array<PacketRef, burst_size>, 64> shares;
        std::array<uint8_t, 64> counts{};
        for (const PacketRef& p : burst) {
            const uint32_t h = symmetric_flow_hash(p.head(), link_type_);
            const size_t w = h % workers;
            shares[w][counts[w]++] = p;
        }
        if (flow_record_) [[unlikely]]
            for (size_t w = 0; w < workers; ++w)
                flow_record_->add(std::span(shares[w].data(), counts[w]), queue, uint32_t(w));
        for (size_t w = 0; w < workers; ++w)
            if (counts[w] != 0) hand_on_to(*rings[w], std::span(shares[w].data(), counts[w]));
    }
    publish_watermark(newest);
}

void RxPoller::hand_on_to(PacketRing& ring, std::span<const PacketRef> burst) noexcept {
    const size_t dropped = hand_on(ring, burst, [this](std::span<const PacketRef> rest) {
        setup_.source->release(rest);
    });
    if (dropped != 0) counters_.dropped_ring.add(dropped);
}

void RxPoller::publish_watermark(uint64_t ts_ns) noexcept {
    if (ts_ns <= watermark_ns_) return;
    watermark_ns_ = ts_ns;
    for (PacketRing* ring : setup_.rx_to_worker) ring->publish_watermark(ts_ns);
}

}  // namespace taprec
