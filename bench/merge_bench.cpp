// merge_bench: packets per second through the two-input worker merge and the k-way writer merge,
// against the ceiling of the same rings without a merge, and allocations per packet.
//   build/bench/merge_bench [packets]
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "ring/ordered_merge.hpp"

namespace {

std::atomic<uint64_t> allocations{0};

}  // namespace

void* operator new(size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

using namespace taprec;

struct Result {
    double mpps;
    double allocations_per_packet;
    uint64_t checksum;  // keeps the compiler from dropping the work
};

// One thread plays every producer and the consumer, so the number is the merge's own cost (and
// the rings'), not the scheduler's. Inputs interleave: input i holds timestamps i, i+k, i+2k...
Result run(size_t inputs, uint64_t packets, bool merge_enabled) {
    std::vector<std::unique_ptr<PacketRing>> rings;
    std::vector<PacketRing*> ptrs;
    for (size_t i = 0; i < inputs; ++i) {
        rings.push_back(std::make_unique<PacketRing>(4096));
        ptrs.push_back(rings.back().get());
    }
    OrderedMerge merge(ptrs);
    std::array<PacketRef, burst_size> in{};
    std::array<PacketRef, burst_size> out{};
    std::vector<uint64_t> next_ts(inputs);
    for (size_t i = 0; i < inputs; ++i) next_ts[i] = 1'000'000 + i;
    uint64_t emitted = 0, checksum = 0;
    const uint64_t allocations_before = allocations.load();
    const auto start = std::chrono::steady_clock::now();
    while (emitted < packets) {
        for (size_t i = 0; i < inputs; ++i) {
            for (PacketRef& p : in) {
                p.ts_ns = next_ts[i];
                next_ts[i] += inputs;
                p.port = uint16_t(i & 1);
            }
            rings[i]->push_burst(in);
            rings[i]->publish_watermark(next_ts[i] - inputs);
        }
        for (size_t round = 0; round < inputs; ++round) {
            size_t n;
            if (merge_enabled) {
                n = merge.pop_ordered(out);
            } else {
                n = rings[round]->pop_burst(out);
            }
            for (size_t k = 0; k < n; ++k) checksum += out[k].ts_ns;
            emitted += n;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const uint64_t allocated = allocations.load() - allocations_before;
    return {double(emitted) / seconds / 1e6, double(allocated) / double(emitted), checksum};
}

}  // namespace

int main(int argc, char** argv) {
    const uint64_t packets = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 50'000'000;
    std::printf("%-28s %10s %10s %12s\n", "case", "Mpps", "vs rings", "allocs/pkt");
    for (size_t inputs : {2, 4, 8}) {
        const Result ceiling = run(inputs, packets, false);
        const Result merged = run(inputs, packets, true);
        char name[64];
        std::snprintf(name, sizeof name, "%zu-input merge%s", inputs,
                      inputs == 2 ? " (worker)" : " (writer)");
        std::printf("%-28s %10.1f %10.2f %12.3g\n", name, merged.mpps, merged.mpps / ceiling.mpps,
                    merged.allocations_per_packet);
        std::printf("%-28s %10.1f %10s %12.3g\n", "  same rings, no merge", ceiling.mpps, "1.00",
                    ceiling.allocations_per_packet);
        if (merged.checksum == 0) return 1;
    }
    return 0;
}
