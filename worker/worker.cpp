#include "worker/worker.hpp"

#include <array>

#include "ring/hand_on.hpp"

namespace taprec {

Worker::Worker(WorkerSetup setup)
    : setup_(std::move(setup)), merge_(setup_.rx_to_worker), estimator_(setup_.tcp_flows) {}


StepResult Worker::step(bool) noexcept {
    counters_.loops.add(1);
    PacketRing& out = *setup_.worker_to_writer;
    // Up to a few bursts a step: two ports feed this worker, so on a shared core one burst a
    // round would fall behind them.
    bool worked = false;
    for (int round = 0; round < bursts_per_step; ++round) {
        // A tap that must not lose packets takes a burst only when the writer's ring can hold it.
        if (setup_.wait_for_room && out.write_available() < burst_size) break;
        std::array<PacketRef, burst_size> burst;
        const size_t n = merge_.pop_ordered(burst);
        if (n == 0) break;
        worked = true;
        counters_.received.add(n);
        const size_t kept = process(std::span(burst.data(), n));
        const size_t dropped =
            hand_on(out, std::span(burst.data(), kept), [this](std::span<const PacketRef> rest) {
                for (const PacketRef& p : rest) counters_.dropped_ring[p.port].add(1);
                setup_.buffers.release(rest);
            });
        counters_.handed_on.add(kept - dropped);
        if (n < burst_size) break;
    }
    // Only a watermark that moved is stored: a store of the same value still takes the line
    // away from the writer, whose merge loads it before every pop of this ring.
    const uint64_t frontier = merge_.frontier_ns();
    if (frontier != published_watermark_) {
        out.publish_watermark(frontier);
        published_watermark_ = frontier;
    }
    settle_estimator();
    // Late packets are counted as the merge finds them; published once a step.
    if (worked)
        for (uint16_t port = 0; port < max_ports_per_tap; ++port)
            counters_.late[port].set(merge_.late_count(port));
    if (worked) return StepResult::worked;
    if (!merge_.finished()) {
        counters_.idle_polls.add(1);
        return StepResult::idle;
    }
    for (uint16_t port = 0; port < max_ports_per_tap; ++port)
        counters_.late[port].set(merge_.late_count(port));
    out.finish();
    return StepResult::finished;
}

// An ACK that came out of the merge before data of the same time from the other port waits in
// the estimator until that port's input has moved past its time (tcp_loss_estimator.hpp).
// Input k of the merge is port k: the tap wires ring(a,i), ring(b,i) in that order.
void Worker::settle_estimator() noexcept {
    if (!estimator_.enabled()) return;
    for (size_t k = 0; k < merge_.input_count() && k < max_ports_per_tap; ++k)
        estimator_.settle(static_cast<uint16_t>(k), merge_.input_frontier_ns(k));
}

size_t Worker::process(std::span<PacketRef> burst) noexcept {
    std::array<PacketRef, burst_size> rejected;
    size_t n_rejected = 0;
    size_t kept = 0;
    const PacketFilter* filter = setup_.filter;
    // Capture quality is about the wire, so the estimator sees every packet, filtered or not.
    estimator_.observe_burst(burst, setup_.link_type);
    for (PacketRef& p : burst) {
        if (filter != nullptr && !filter->accepts(p)) {
            counters_.filtered[p.port].add(1);
            rejected[n_rejected++] = p;
            continue;
        }
        if (p.caplen > setup_.snaplen) [[unlikely]] {
            p.caplen = setup_.snaplen;
            counters_.truncated[p.port].add(1);
        }
        burst[kept++] = p;
    }
    if (n_rejected != 0) setup_.buffers.release(std::span(rejected.data(), n_rejected));
    return kept;
}

}  // namespace taprec
