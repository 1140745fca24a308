// The clocks a DPDK port can stamp packets with, all turned into nanoseconds since the Unix epoch.
//
// One clock per tap (DESIGN.md "drivers/"): the TSC read once per burst, or the RX timestamp the
// driver puts in the mbuf's dynamic field, whose unit depends on the driver.
#pragma once

#include <cstdint>
#include <string_view>

#include "drivers/clock_now.hpp"  // realtime_now_ns(), which the clocks below are anchored to

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

// A NIC's own clock in ticks to nanoseconds since the epoch: rate and anchor measured once
// against CLOCK_REALTIME with rte_eth_read_clock.
class DeviceClock {
public:
    DeviceClock() = default;
    // Returns false when the port cannot read its clock.
    bool calibrate(uint16_t port_id);
    uint64_t to_ns(uint64_t ticks) const noexcept;

private:
    uint64_t anchor_ticks_ = 0;
    uint64_t anchor_ns_ = 0;
    uint64_t mult_ = 0;  // nanoseconds per tick << 32
};

}  // namespace taprec
