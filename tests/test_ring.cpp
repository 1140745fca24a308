// SpscRing under two threads: order kept, nothing lost or duplicated when there is room, every
// refused item counted when there is not.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "ring/spsc_ring.hpp"

using taprec::SpscRing;

namespace {

constexpr uint64_t item_count = 10'000'000;

}  // namespace

TEST_CASE("ring keeps order and loses nothing when the producer waits for room", "[fast][ring]") {
    SpscRing<uint64_t> ring(4096);
    std::thread producer([&] {
        std::array<uint64_t, 32> burst;
        uint64_t next = 0;
        while (next < item_count) {
            const size_t n = std::min<uint64_t>(burst.size(), item_count - next);
            for (size_t i = 0; i < n; ++i) burst[i] = next + i;
            size_t pushed = 0;
            while (pushed < n) pushed += ring.push_burst(std::span(burst.data() + pushed, n - pushed));
            next += n;
        }
        ring.finish();
    });
    uint64_t expected = 0;
    uint64_t out_of_order = 0;
    std::array<uint64_t, 64> got;
    while (true) {
        const uint64_t watermark = ring.watermark();
        const size_t n = ring.pop_burst(got);
        for (size_t i = 0; i < n; ++i) {
            if (got[i] != expected) ++out_of_order;
            expected = got[i] + 1;
        }
        if (n == 0 && watermark == SpscRing<uint64_t>::finished_watermark) break;
    }
    producer.join();
    CHECK(out_of_order == 0);
    CHECK(expected == item_count);
}

TEST_CASE("ring that is full refuses items, and refused plus received is everything",
          "[fast][ring]") {
    SpscRing<uint64_t> ring(1024);
    std::atomic<uint64_t> refused{0};
    std::thread producer([&] {
        std::array<uint64_t, 32> burst;
        uint64_t local_refused = 0;
        for (uint64_t next = 0; next < item_count; next += burst.size()) {
            for (size_t i = 0; i < burst.size(); ++i) burst[i] = next + i;
            local_refused += burst.size() - ring.push_burst(burst);
        }
        refused = local_refused;
        ring.finish();
    });
    uint64_t received = 0;
    uint64_t last = 0;
    bool first = true;
    uint64_t not_increasing = 0;
    std::array<uint64_t, 16> got;  // a slow consumer, so the ring overflows
    while (true) {
        const uint64_t watermark = ring.watermark();
        const size_t n = ring.pop_burst(got);
        for (size_t i = 0; i < n; ++i) {
            if (!first && got[i] <= last) ++not_increasing;
            last = got[i];
            first = false;
        }
        // Pause now and then: the producer outruns a ring of 1024 for certain.
        if ((received >> 16) != ((received + n) >> 16))
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        received += n;
        if (n == 0 && watermark == SpscRing<uint64_t>::finished_watermark) break;
    }
    producer.join();
    CHECK(refused.load() > 0);
    CHECK(not_increasing == 0);
    CHECK(received + refused.load() == item_count);
}
