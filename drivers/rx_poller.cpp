#include "drivers/rx_poller.hpp"

#include <array>
#include <chrono>

#include "drivers/flow_hash.hpp"
#include "ring/hand_on.hpp"
#include "ring/idle_wait.hpp"

namespace taprec {

RxPoller::RxPoller(RxPollerSetup setup)
    : setup_(std::move(setup)),
      spread_by_hash_(setup_.rx_to_worker.size() > 1 &&
                      !(setup_.source->has_rss() &&
                        setup_.source->queue_count() == setup_.rx_to_worker.size())),
      link_type_(setup_.source->link_type()),
      wait_for_room_(!setup_.source->is_wire()) {}

void RxPoller::run() noexcept {
    PacketSource& source = *setup_.source;
    IdleWait idle(setup_.idle);
    std::array<PacketRef, burst_size> burst;
    uint32_t bursts_since_refresh = 0;
    const uint16_t queues = source.queue_count();

    while (!setup_.stop->load(std::memory_order_relaxed)) {
        counters_.loops.add(1);
        size_t received = 0;
        for (uint16_t q = 0; q < queues; ++q) {
            const size_t n = source.rx_burst(q, burst);
            if (n == 0) continue;
            received += n;
            dispatch(q, std::span(burst.data(), n));
        }
        if (received != 0) {
            idle.reset();
            if (++bursts_since_refresh == 4096) {
                bursts_since_refresh = 0;
                source.refresh_counters();
            }
            continue;
        }
        if (source.at_end()) break;
        // Idle: promise the workers nothing older than the port's clock minus the window, so a
        // silent direction does not hold the other one back for longer than that.
        if (const uint64_t now = source.idle_clock_ns(); now > setup_.reorder_window_ns)
            publish_watermark(now - setup_.reorder_window_ns);
        if (source.can_block()) {
            source.refresh_counters();
            source.wait_for_packets(std::chrono::milliseconds(50));
        } else {
            idle.wait();
        }
    }
    source.refresh_counters();
    for (PacketRing* ring : setup_.rx_to_worker) ring->finish();
}

void RxPoller::dispatch(uint16_t queue, std::span<PacketRef> burst) noexcept {
    uint64_t bytes = 0;
    uint64_t newest = watermark_ns_;
    // A stamp far in the future (a bogus hardware stamp, a clock step) would hold the merge back
    // until the clock caught up with it, so it is set back to the port's clock here, where
    // packets are stamped, and counted. A replay has no clock to check against (0).
    const uint64_t clock = setup_.source->idle_clock_ns();
    const uint64_t latest_sane = clock == 0 ? UINT64_MAX : clock + max_future_ns;
    for (PacketRef& p : burst) {
        p.port = setup_.port_index;
        bytes += p.wire_len;
        if (p.ts_ns > latest_sane) [[unlikely]] {
            p.ts_ns = clock;
            counters_.clamped.add(1);
        }
        newest = std::max(newest, p.ts_ns);
    }
    counters_.received.add(burst.size());
    counters_.bytes.add(bytes);

    const auto& rings = setup_.rx_to_worker;
    if (!spread_by_hash_) {
        hand_on_to(*rings[rings.size() == 1 ? 0 : queue], burst);
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
        for (size_t w = 0; w < workers; ++w)
            if (counts[w] != 0) hand_on_to(*rings[w], std::span(shares[w].data(), counts[w]));
    }
    publish_watermark(newest);
}

void RxPoller::hand_on_to(PacketRing& ring, std::span<const PacketRef> burst) noexcept {
    IdleWait idle(setup_.idle);
    const size_t dropped = hand_on(ring, burst, wait_for_room_, idle,
                                   [this](std::span<const PacketRef> rest) {
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
