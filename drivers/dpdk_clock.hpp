// The clocks a DPDK port can stamp packets with, all turned into nanoseconds since the Unix epoch.
//
// One clock per tap (DESIGN.md "drivers/"): the TSC read once per burst, or the RX timestamp the
// driver puts in the mbuf's dynamic field, whose unit depends on the driver.
#pragma once

#include <cstdint>
#include <string_view>

#include "drivers/clock_now.hpp"  // realtime_now_ns(), which the clocks below are anchored to
#include "stats/counter.hpp"

namespace taprec {

enum class PortClock {
    tsc,          // the host's TSC, read per burst, converted and anchored to CLOCK_REALTIME
    epoch_usec,   // dynamic field holds microseconds since the epoch (Debian 22.11 net_pcap)
    epoch_nsec,   // dynamic field holds nanoseconds since the epoch
    device_ticks, // dynamic field holds the NIC's clock; converted with a rate measured at start
};

std::string_view name_of(PortClock clock);

// The unit of the RX timestamp dynamic field for a driver, as far as taprec knows it;
// device_ticks for drivers not listed.
PortClock rx_timestamp_unit(std::string_view driver_name);

// TSC to CLOCK_REALTIME nanoseconds. Starts from a rate measured against CLOCK_REALTIME when
// DPDK starts (rte_get_tsc_hz is only rounded to 10 MHz, 3 ms of drift a second), then re-anchors
// about once a second, slewing the rate so the time it hands out stays continuous and
// increasing while it converges on CLOCK_REALTIME. Steps only when they differ by more than 100 ms
// (someone set the clock). One per rx thread: not thread safe.
class TscClock {
public:
    TscClock();
    // Nanoseconds for a TSC value read just now; may re-anchor.
    uint64_t to_ns(uint64_t tsc) noexcept;
    // Nanoseconds for a TSC value, without re-anchoring.
    uint64_t peek_ns(uint64_t tsc) const noexcept;
    uint64_t now_ns() noexcept;

    // Measure the TSC rate against CLOCK_REALTIME over `ms` milliseconds; called once at start.
    static void calibrate(uint32_t ms);
    static uint64_t tsc_hz() noexcept;

private:
    void resync(uint64_t tsc) noexcept;

    uint64_t anchor_tsc_ = 0;
    uint64_t anchor_ns_ = 0;
    uint64_t mult_ = 0;             // nanoseconds per tick << 32
    uint64_t next_resync_tsc_ = 0;
    uint64_t last_sync_tsc_ = 0;    // the last pair read together, to measure the rate
    uint64_t last_sync_real_ns_ = 0;
};

// What steering a clock to CLOCK_REALTIME corrected; written by the rx thread that steers.
struct ClockSteeringCounters {
    Counter steers;        // re-anchorings that slewed the rate
    Counter corrected_ns;  // the sum of |clock - CLOCK_REALTIME| each of them closed
    Counter steps;         // jumps instead (more than 100 ms off: someone set the clock)
};

// A free-running counter (a NIC's clock, in its ticks) mapped to nanoseconds since the epoch and
// kept on CLOCK_REALTIME: each steer() takes a (ticks, CLOCK_REALTIME) pair read together and
// continues from where the mapping is, at the rate realtime really ran over the last period plus
// what closes the remaining error over the next one, so the time it hands out stays continuous
// and increasing while it converges (the rule TscClock follows). A start rate measured over a
// short window (20 ms) is off by tens of ppm, and a NIC oscillator drifts by as much: left alone
// that is milliseconds within minutes. Pure arithmetic, so a test can drive it with a simulated
// clock.
class SteeredClock {
public:
    void start(uint64_t ticks, uint64_t real_ns, uint64_t mult) noexcept;
    uint64_t to_ns(uint64_t ticks) const noexcept;
    void steer(uint64_t ticks, uint64_t real_ns) noexcept;
    const ClockSteeringCounters& counters() const noexcept { return counters_; }

    static uint64_t mult_for(uint64_t ns, uint64_t ticks) noexcept;  // ns per tick << 32

private:
    uint64_t anchor_ticks_ = 0;
    uint64_t anchor_ns_ = 0;
    uint64_t mult_ = 0;  // nanoseconds per tick << 32
    uint64_t last_ticks_ = 0;  // the last pair read together, to measure the rate
    uint64_t last_real_ns_ = 0;
    ClockSteeringCounters counters_;
};

// A NIC's own clock in ticks to nanoseconds since the epoch: rate and anchor measured against
// CLOCK_REALTIME with rte_eth_read_clock at start (over 20 ms), then steered to it about once a
// second by the rx thread (steer()).
class DeviceClock {
public:
    static constexpr uint64_t steer_period_ns = 1'000'000'000;

    DeviceClock() = default;
    // Returns false when the port cannot read its clock.
    bool calibrate(uint16_t port_id);
    // Read the NIC clock and CLOCK_REALTIME together and steer towards it.
    void steer() noexcept;
    uint64_t to_ns(uint64_t ticks) const noexcept { return clock_.to_ns(ticks); }
    const ClockSteeringCounters& counters() const noexcept { return clock_.counters(); }

private:
    uint16_t port_id_ = 0;
    SteeredClock clock_;
};

}  // namespace taprec
