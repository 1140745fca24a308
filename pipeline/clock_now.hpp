// The host clocks in nanoseconds: CLOCK_REALTIME (timestamps, file names, wall-clock rotation)
// and CLOCK_MONOTONIC (intervals). Both are vDSO reads, no system call: fine once per burst.
#pragma once

#include <time.h>

#include <cstdint>

namespace taprec {

inline uint64_t clock_ns(clockid_t clock) noexcept {
    timespec ts;
    clock_gettime(clock, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}
inline uint64_t realtime_now_ns() noexcept { return clock_ns(CLOCK_REALTIME); }
inline uint64_t monotonic_now_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }
// CLOCK_REALTIME to the last timer tick (a few ms): a read of the vDSO page without the TSC
// arithmetic of the precise clock. For per-round decisions that count in seconds (rotation
// deadlines, clamping), where the precise clock cost 3 % of a saturated one-core loop.
inline uint64_t realtime_coarse_ns() noexcept { return clock_ns(CLOCK_REALTIME_COARSE); }

}  // namespace taprec
