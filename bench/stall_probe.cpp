// stall_probe: how long this core is taken away from a thread that never yields. A poller that
// does not run cannot empty its receive ring: any stall longer than ring slots / packet rate
// loses frames, whatever the poller does. Spins on the TSC for the given seconds and prints one
// line of JSON: the longest gap between two reads and how many gaps passed each threshold.
//   stall_probe [SECONDS]       (pin it with taskset -c CORE)
#include <x86intrin.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::strtod(argv[1], nullptr) : 3.0;
    constexpr std::array<double, 5> thresholds_us{50, 200, 500, 1000, 5000};
    std::array<uint64_t, thresholds_us.size()> over{};
    const auto wall_start = std::chrono::steady_clock::now();
    const uint64_t tsc_start = __rdtsc();
    // Calibrate the TSC against the steady clock over the first 100 ms.
    while (std::chrono::steady_clock::now() - wall_start < std::chrono::milliseconds(100)) {}
    const double ticks_per_us =
        double(__rdtsc() - tsc_start) /
        double(std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - wall_start).count());
    std::array<uint64_t, thresholds_us.size()> threshold_ticks{};
    for (size_t i = 0; i < thresholds_us.size(); ++i)
        threshold_ticks[i] = uint64_t(thresholds_us[i] * ticks_per_us);
    const uint64_t end = __rdtsc() + uint64_t(seconds * 1e6 * ticks_per_us);
    uint64_t last = __rdtsc(), longest = 0;
    while (last < end) {
        const uint64_t now = __rdtsc();
        const uint64_t gap = now - last;
        last = now;
        if (gap < threshold_ticks[0]) continue;
        longest = gap > longest ? gap : longest;
        for (size_t i = 0; i < thresholds_us.size(); ++i)
            if (gap >= threshold_ticks[i]) ++over[i];
    }
    std::printf("{\"seconds\":%.1f,\"longest_us\":%.0f", seconds, double(longest) / ticks_per_us);
    for (size_t i = 0; i < thresholds_us.size(); ++i)
        std::printf(",\"over_%.0f_us\":%llu", thresholds_us[i], (unsigned long long)over[i]);
    std::printf("}\n");
}
