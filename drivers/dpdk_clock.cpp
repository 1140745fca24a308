#include "drivers/dpdk_clock.hpp"

#include <stdexcept>

#include <algorithm>
#include <ctime>

#include "drivers/dpdk_api.hpp"

namespace taprec {
namespace {

__extension__ using u128 = unsigned __int128;

// Set once by calibrate(), before any port exists; read-only afterwards.
uint64_t g_tsc_hz = 0;
uint64_t g_mult = 0;  // nanoseconds per tick << 32

uint64_t mult_for(uint64_t ns, uint64_t ticks) noexcept {
    return ticks == 0 ? 0 : uint64_t((u128(ns) << 32) / ticks);
}

uint64_t scale(uint64_t ticks, uint64_t mult) noexcept { return uint64_t((u128(ticks) * mult) >> 32); }

void sleep_ms(uint32_t ms) {
    timespec t{time_t(ms / 1000), long(ms % 1000) * 1'000'000};
    while (nanosleep(&t, &t) != 0) {}
}

// A TSC and CLOCK_REALTIME pair read as close together as we can: the tighter of a few tries.
void read_pair(uint64_t& tsc, uint64_t& ns) noexcept {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; ++i) {
        const uint64_t t0 = rte_rdtsc();
        const uint64_t now = realtime_now_ns();
        const uint64_t t1 = rte_rdtsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
            tsc = t0 + (t1 - t0) / 2;
            ns = now;
        }
    }
}

constexpr int64_t step_threshold_ns = 100'000'000;

}  // namespace

std::string_view name_of(PortClock clock) {
    switch (clock) {
    case PortClock::tsc: return "TSC";
    case PortClock::epoch_usec: return "driver, microseconds";
    case PortClock::epoch_nsec: return "driver, nanoseconds";
    case PortClock::device_ticks: return "NIC clock";
    }
    return "?";
}

PortClock rx_timestamp_unit(std::string_view driver_name) {
    // net_pcap copies the pcap record's time: microseconds since the epoch in 22.11 (it reads
    // with microsecond precision), whatever the file's own precision.
    if (driver_name == "net_pcap") return PortClock::epoch_usec;
    return PortClock::device_ticks;
}

void TscClock::calibrate(uint32_t ms) {
    uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
    read_pair(t0, n0);
    sleep_ms(ms);
    read_pair(t1, n1);
    g_mult = mult_for(n1 - n0, t1 - t0);
    g_tsc_hz = (n1 > n0) ? uint64_t(u128(t1 - t0) * 1'000'000'000u / (n1 - n0)) : rte_get_tsc_hz();
    if (g_mult == 0) {
        g_tsc_hz = rte_get_tsc_hz();
        g_mult = mult_for(1'000'000'000u, g_tsc_hz);
    }
}

uint64_t TscClock::tsc_hz() noexcept { return g_tsc_hz != 0 ? g_tsc_hz : rte_get_tsc_hz(); }

TscClock::TscClock() {
    uint64_t tsc = 0, real = 0;
    read_pair(tsc, real);
    clock_.start(tsc, real, g_mult != 0 ? g_mult : mult_for(1'000'000'000u, rte_get_tsc_hz()));
    next_resync_tsc_ = tsc + tsc_hz();
}

uint64_t TscClock::to_ns(uint64_t tsc) noexcept {
    if (tsc >= next_resync_tsc_) [[unlikely]] {
        uint64_t now_tsc = 0, real = 0;
        read_pair(now_tsc, real);
        next_resync_tsc_ = now_tsc + tsc_hz();
        clock_.steer(now_tsc, real, 1'000'000'000);
    }
    return clock_.to_ns(tsc);
}

uint64_t TscClock::now_ns() noexcept { return to_ns(rte_rdtsc()); }

uint64_t SteeredClock::mult_for(uint64_t ns, uint64_t ticks) noexcept {
    return taprec::mult_for(ns, ticks);
}

void SteeredClock::start(uint64_t ticks, uint64_t real_ns, uint64_t mult) noexcept {
    anchor_ticks_ = last_ticks_ = ticks;
    anchor_ns_ = last_real_ns_ = real_ns;
    mult_ = mult;
}

// Stamps may be older than the anchor (the NIC stamped them before the last steer read it).
uint64_t SteeredClock::to_ns(uint64_t ticks) const noexcept {
    if (ticks >= anchor_ticks_) return anchor_ns_ + scale(ticks - anchor_ticks_, mult_);
    return anchor_ns_ - scale(anchor_ticks_ - ticks, mult_);
}

void SteeredClock::steer(uint64_t ticks, uint64_t real_ns, uint64_t close_within_ns) noexcept {
    if (ticks <= last_ticks_) return;  // no time passed on the clock: nothing to measure
    const uint64_t mapped = to_ns(ticks);
    const int64_t error = int64_t(real_ns - mapped);
    const uint64_t magnitude = uint64_t(error < 0 ? -error : error);
    // The rate CLOCK_REALTIME really ran at over the last period, in ns per tick.
    const uint64_t measured =
        real_ns > last_real_ns_ ? mult_for(real_ns - last_real_ns_, ticks - last_ticks_) : 0;
    last_ticks_ = ticks;
    last_real_ns_ = real_ns;
    if (magnitude > uint64_t(step_threshold_ns) || measured == 0) {
        anchor_ticks_ = ticks;
        anchor_ns_ = real_ns;
        counters_.steps.add(1);
        return;
    }
    // Continue from where we are, at the measured rate plus what closes the gap within
    // close_within_ns (that many ticks at the measured rate); bounded so the rate never comes
    // near 0 (time must keep increasing).
    const uint64_t close_ticks = std::max<uint64_t>(1, uint64_t((u128(close_within_ns) << 32) / measured));
    const int64_t correction = int64_t((u128(magnitude) << 32) / close_ticks);
    int64_t mult = int64_t(measured) + (error < 0 ? -correction : correction);
    if (mult < int64_t(measured / 2)) mult = int64_t(measured / 2);
    anchor_ticks_ = ticks;
    anchor_ns_ = mapped;
    mult_ = uint64_t(mult);
    counters_.steers.add(1);
    counters_.corrected_ns.add(magnitude);
}

bool DeviceClock::calibrate(uint16_t port_id) {
    port_id_ = port_id;
    uint64_t c0 = 0, c1 = 0;
    if (rte_eth_read_clock(port_id, &c0) != 0) return false;
    const uint64_t n0 = realtime_now_ns();
    sleep_ms(20);
    if (rte_eth_read_clock(port_id, &c1) != 0) return false;
    const uint64_t n1 = realtime_now_ns();
    if (c1 <= c0) return false;
    const uint64_t mult = mult_for(n1 - n0, c1 - c0);
    clock_.start(c1, n1, mult);
    return mult != 0;
}

void DeviceClock::steer() noexcept {
    // The tighter of a few (clock, realtime) pairs, as for the TSC.
    uint64_t best = UINT64_MAX, ticks = 0, real = 0;
    for (int i = 0; i < 3; ++i) {
        uint64_t c = 0;
        const uint64_t r0 = realtime_now_ns();
        if (rte_eth_read_clock(port_id_, &c) != 0) return;
        const uint64_t r1 = realtime_now_ns();
        if (r1 - r0 < best) {
            best = r1 - r0;
            ticks = c;
            real = r0 + (r1 - r0) / 2;
        }
    }
    clock_.steer(ticks, real, steer_period_ns);
}

PortClockChoice choose_port_clock(TimestampSource timestamps, const std::string& tap_key,
                                  const std::string& what, const rte_eth_dev_info& info,
                                  const std::optional<rte_eth_dev_info>& peer_info) {
    const std::string_view driver = info.driver_name != nullptr ? info.driver_name : "?";
    const bool net_pcap = driver == "net_pcap";
    const bool peer_net_pcap = !peer_info || std::string_view(peer_info->driver_name) == "net_pcap";
    PortClockChoice choice;
    switch (timestamps) {
    case TimestampSource::software: break;
    case TimestampSource::automatic:
        // The driver's own stamps only where both ports of the tap have the same kind (two
        // net_pcap ports); a NIC's clock is only used when asked for.
        if (net_pcap && peer_net_pcap) choice.clock = rx_timestamp_unit(driver);
        break;
    case TimestampSource::hardware:
        if (net_pcap) {
            choice.clock = rx_timestamp_unit(driver);
        } else if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) {
            choice.clock = rx_timestamp_unit(driver);
            choice.timestamp_offload = true;
        } else {
            throw std::runtime_error(tap_key + ".timestamps: hardware, but " + what + " (" +
                                     std::string(driver) + ") has no RX timestamp offload; set "
                                     "timestamps to auto or software");
        }
        break;
    }
    return choice;
}

}  // namespace taprec
