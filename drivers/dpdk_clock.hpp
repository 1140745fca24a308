// The clocks a DPDK port can stamp packets with, all turned into nanoseconds since the Unix epoch.
//
// One clock per tap (DESIGN.md "drivers/"): the TSC read once per burst, or the RX timestamp the
// driver puts in the mbuf's dynamic field, whose unit depends on the driver.
#pragma once

#include <rte_ethdev.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"  // TimestampSource

#include "pipeline/clock_now.hpp"  // realtime_now_ns(), which the clocks below are anchored to
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

struct PortClockChoice {
    PortClock clock = PortClock::tsc;
    bool timestamp_offload = false;  // RTE_ETH_RX_OFFLOAD_TIMESTAMP must be turned on
};
// taps[].timestamps for one port: auto takes net_pcap's own stamps only when both ports are
// net_pcap (one clock for both directions), else the TSC; hardware asks the NIC's clock and
// throws, naming `tap_key` and `what`, where the port has none; software is the TSC.
PortClockChoice choose_port_clock(TimestampSource timestamps, const std::string& tap_key,
                                  const std::string& what, const rte_eth_dev_info& info,
                                  const std::optional<rte_eth_dev_info>& peer_info);

// What steering a clock to CLOCK_REALTIME corrected; written by the rx thread that steers.
struct ClockSteeringCounters {
    Counter steers;        // re-anchorings that slewed the rate
    Counter corrected_ns;  // the sum of |clock - CLOCK_REALTIME| each of them closed
    Counter steps;         // jumps instead (more than 100 ms off: someone set the clock)
};

// A free-running counter (a NIC's clock, in its ticks) mapped to nanoseconds since the epoch and
// kept on CLOCK_REALTIME: each steer() takes a (ticks, CLOCK_REALTIME) pair read together and
// continues from where the mapping is, at the rate realtime really ran over the last period plus
// what closes the remaining error within `close_within_ns`, so the time it hands out stays
// continuous and increasing while it converges; it steps only when the two differ by more than
// 100 ms (someone set the clock). A start rate measured over a short window (20 ms) is off by
// tens of ppm, and an oscillator drifts by as much: left alone that is milliseconds within
// minutes. Both the TSC and a NIC's clock are kept this way. Pure arithmetic, so a test can
// drive it with a simulated clock.
class SteeredClock {
public:
    void start(uint64_t ticks, uint64_t real_ns, uint64_t mult) noexcept;
    uint64_t to_ns(uint64_t ticks) const noexcept;
    void steer(uint64_t ticks, uint64_t real_ns, uint64_t close_within_ns) noexcept;
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

// TSC to CLOCK_REALTIME nanoseconds. Starts from a rate measured against CLOCK_REALTIME when
// DPDK starts (rte_get_tsc_hz is only rounded to 10 MHz, 3 ms of drift a second), then is
// steered to CLOCK_REALTIME about once a second (SteeredClock). One per rx thread: not thread
// safe.
class TscClock {
public:
    TscClock();
    // Nanoseconds for a TSC value read just now; may re-anchor.
    uint64_t to_ns(uint64_t tsc) noexcept;
    // Nanoseconds for a TSC value, without re-anchoring.
    uint64_t peek_ns(uint64_t tsc) const noexcept { return clock_.to_ns(tsc); }
    uint64_t now_ns() noexcept;
    const ClockSteeringCounters& counters() const noexcept { return clock_.counters(); }

    // Measure the TSC rate against CLOCK_REALTIME over `ms` milliseconds; called once at start.
    static void calibrate(uint32_t ms);
    static uint64_t tsc_hz() noexcept;

private:
    SteeredClock clock_;
    uint64_t next_resync_tsc_ = 0;
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
