// SpscRing: the bounded single-producer single-consumer ring between two pipeline stages.
//
// One thread pushes, one thread pops; that is why no lock is needed (Boost.Lockfree spsc_queue).
// A ring never blocks its producer: push_burst() takes what fits and says how much that was; the
// producer releases and counts the rest (see hand_on() in ring/hand_on.hpp).
#pragma once

#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

namespace taprec {

inline constexpr size_t cache_line_size = 64;

template <typename T>
class SpscRing {
public:
    explicit SpscRing(size_t capacity) : queue_(capacity) {}
    SpscRing(const SpscRing&) = delete;
    SpscRing& operator=(const SpscRing&) = delete;

    // Producer: append as many of items as fit, in order; returns how many.
    size_t push_burst(std::span<const T> items) noexcept {
        return queue_.push(items.data(), items.size());
    }
    // Consumer: take up to out.size() items in order; returns how many.
    size_t pop_burst(std::span<T> out) noexcept { return queue_.pop(out.data(), out.size()); }

    size_t read_available() const noexcept { return queue_.read_available(); }
    size_t write_available() const noexcept { return queue_.write_available(); }

    // The producer's promise about what it will push next: no item with a timestamp below the
    // watermark is still to come (DESIGN.md "Ordering"). finished_watermark means the producer has
    // stopped for good. Stored after the items it covers, so a consumer that loads the watermark
    // and then finds the ring empty knows nothing older is in transit.
    static constexpr uint64_t finished_watermark = std::numeric_limits<uint64_t>::max();
    void publish_watermark(uint64_t ts_ns) noexcept {
        watermark_.store(ts_ns, std::memory_order_release);
    }
    uint64_t watermark() const noexcept { return watermark_.load(std::memory_order_acquire); }
    void finish() noexcept { publish_watermark(finished_watermark); }

private:
    boost::lockfree::spsc_queue<T> queue_;
    // Written by the producer once per burst, read by the consumer when the ring is empty.
    alignas(cache_line_size) std::atomic<uint64_t> watermark_{0};
};

}  // namespace taprec
