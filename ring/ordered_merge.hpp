// OrderedMerge: k rings, each ordered by timestamp on its own, merged into one ordered stream.
//
// The rule (DESIGN.md "Ordering"): the smallest head may go out once no input can still deliver
// an older packet. An input with a head can't (it is ordered); an empty input can't deliver
// anything older than the watermark its producer last published. Producers of live ports publish
// "now minus reorder_window" when idle, which is how a silent direction stops holding the other
// back; a replayed file publishes the timestamp of its last packet, so a replay merges exactly.
// Equal timestamps go out in input order (port a before port b, worker 0 before worker 1).
// A packet older than one already emitted still goes out, and is counted late: never dropped.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "ring/packet_ring.hpp"

namespace taprec {

class OrderedMerge {
public:
    explicit OrderedMerge(std::vector<PacketRing*> inputs) {
        inputs_.reserve(inputs.size());
        for (PacketRing* ring : inputs) inputs_.push_back(Input{ring});
    }

    // Fill out with the next packets in order; returns how many. Ownership of every emitted
    // PacketRef passes to the caller.
    size_t pop_ordered(std::span<PacketRef> out) noexcept {
        if (inputs_.size() == 1) return pop_only_input(out);
        for (size_t i = 0; i < inputs_.size(); ++i)
            if (inputs_[i].empty()) refill(inputs_[i]);
        size_t n = 0;
        while (n < out.size()) {
            uint64_t bound;
            const size_t k = smallest_head(bound);
            if (k == no_input) break;
            // A run from input k: while the others stay as they are, every head of k up to
            // their bound may go out without looking at them again (only k moves).
            Input& in = inputs_[k];
            if (in.head().ts_ns > bound) break;
            do {
                const uint64_t ts = in.head().ts_ns;
                out[n] = in.head();
                if (ts < last_emitted_ns_) [[unlikely]]
                    count_late(out[n]);
                else
                    last_emitted_ns_ = ts;
                ++n;
                if (++in.begin == in.end) refill(in);
            } while (n < out.size() && !in.empty() && in.head().ts_ns <= bound);
        }
        return n;
    }

    // True once every input has finished and everything it delivered has been emitted.
    bool finished() const noexcept {
        return std::all_of(inputs_.begin(), inputs_.end(),
                           [](const Input& in) { return in.empty() && in.finished(); });
    }

    // No packet this merge emits from now on will be older than this (late packets aside): the
    // watermark to publish downstream.
    uint64_t frontier_ns() const noexcept {
        uint64_t frontier = PacketRing::finished_watermark;
        for (size_t k = 0; k < inputs_.size(); ++k) frontier = std::min(frontier, input_frontier_ns(k));
        return frontier;
    }
    // The same for input k alone: it will deliver nothing older than this (its staged head, or
    // the watermark its producer published), though it may still deliver a packet at this time.
    uint64_t input_frontier_ns(size_t k) const noexcept {
        const Input& in = inputs_[k];
        return in.empty() ? in.watermark : in.head().ts_ns;
    }

    // Packets of `port` this merge emitted older than one it had emitted before them, and of
    // those, the ones no earlier merge had emitted late (a writer's merge sees a worker's late
    // packets late again).
    uint64_t late_count(uint16_t port) const noexcept { return late_by_port_[port & 1]; }
    uint64_t first_late_count(uint16_t port) const noexcept { return first_late_by_port_[port & 1]; }
    size_t input_count() const noexcept { return inputs_.size(); }

private:
    static constexpr size_t no_input = SIZE_MAX;
    static constexpr size_t stage_size = 2 * burst_size;

    struct Input {
        PacketRing* ring;
        uint64_t watermark = 0;
        uint32_t begin = 0;
        uint32_t end = 0;
        std::array<PacketRef, stage_size> staged{};

        bool empty() const noexcept { return begin == end; }
        bool finished() const noexcept { return watermark == PacketRing::finished_watermark; }
        const PacketRef& head() const noexcept { return staged[begin]; }
    };

    // Load the watermark before popping: if the ring is then empty, nothing older than the
    // watermark can still be in it.
    static void refill(Input& in) noexcept {
        in.watermark = in.ring->watermark();
        in.begin = 0;
        in.end = static_cast<uint32_t>(in.ring->pop_burst(std::span(in.staged)));
    }

    // One input is already in order: its packets go straight from the ring to `out`, without
    // the staging copy and the per-packet comparisons (a one-port tap, a writer with one worker).
    // Nothing stays staged, so the input's watermark is its frontier: the watermark loaded before
    // the pop, or, when the pop filled `out` and more may wait in the ring, the newest packet
    // popped (what waits is no older than that).
    size_t pop_only_input(std::span<PacketRef> out) noexcept {
        Input& in = inputs_[0];
        const uint64_t watermark = in.ring->watermark();
        const size_t n = in.ring->pop_burst(out);
        for (size_t i = 0; i < n; ++i) {
            const uint64_t ts = out[i].ts_ns;
            if (ts < last_emitted_ns_) [[unlikely]]
                count_late(out[i]);
            else
                last_emitted_ns_ = ts;
        }
        in.watermark = n != 0 && n == out.size() ? std::min(watermark, out[n - 1].ts_ns) : watermark;
        return n;
    }

    void count_late(PacketRef& packet) noexcept {
        ++late_by_port_[packet.port & 1];
        if (!(packet.flags & PacketRef::late)) ++first_late_by_port_[packet.port & 1];
        packet.flags |= PacketRef::late;
    }

    // The input with the smallest head (the first of equal ones), and in `bound` the newest
    // timestamp it may emit before another input must be looked at: every other input j can
    // deliver nothing older than its frontier (its head, or its watermark when empty), and on a
    // tie j goes first when j < k. One pass: the inputs before a new smallest hold it to their
    // frontiers minus one, the inputs after it to their frontiers.
    size_t smallest_head(uint64_t& bound) const noexcept {
        size_t best = no_input;
        uint64_t before = PacketRing::finished_watermark;  // the least frontier of inputs so far
        bool blocked = false;  // an input before `best` stands at 0: nothing of it may go yet
        bound = PacketRing::finished_watermark;
        for (size_t i = 0; i < inputs_.size(); ++i) {
            const Input& in = inputs_[i];
            const uint64_t frontier = in.empty() ? in.watermark : in.head().ts_ns;
            if (!in.empty() && (best == no_input || frontier < inputs_[best].head().ts_ns)) {
                best = i;
                blocked = i != 0 && before == 0;
                bound = i == 0 || blocked ? PacketRing::finished_watermark : before - 1;
            } else {
                bound = std::min(bound, frontier);
            }
            before = std::min(before, frontier);
        }
        if (blocked) return no_input;
        return best;
    }

    std::vector<Input> inputs_;
    uint64_t last_emitted_ns_ = 0;
    std::array<uint64_t, 2> late_by_port_{};
    std::array<uint64_t, 2> first_late_by_port_{};
};

}  // namespace taprec
