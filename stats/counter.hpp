// Counter: a statistic written by exactly one thread and read by the stats thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace taprec {

// The owner adds with a plain load and store (no locked instruction on the hot path); readers on
// other threads see a value that is at most one update old.
class Counter {
public:
    void add(uint64_t n) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(uint64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
    uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

}  // namespace taprec
