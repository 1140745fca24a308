// SteeredClock (drivers/dpdk_clock): a NIC clock kept on CLOCK_REALTIME. A simulated NIC whose
// oscillator is 40 ppm fast and wanders, calibrated badly at start (as 20 ms of jittery reads
// give), steered once a second against a realtime read with jitter: its error stays bounded
// over ten minutes, where the start calibration alone drifts by milliseconds; time never goes
// back; the counters say what was corrected; a set clock is a step.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>

#include "drivers/dpdk_clock.hpp"

using taprec::SteeredClock;

namespace {

constexpr uint64_t epoch_ns = 1'700'000'000'000'000'000ull;
constexpr uint64_t second = 1'000'000'000;

// The NIC: ticks at about 1 GHz, 40 ppm fast, wandering by +-5 ppm over ten minutes.
struct SimulatedNic {
    double ppm_at(double t_s) const { return 40.0 + 5.0 * std::sin(t_s / 100.0); }
    // Ticks after t_ns of true time: the integral of the rate.
    uint64_t ticks_at(uint64_t t_ns) const {
        const double t = double(t_ns) / 1e9;
        const double integral_ppm = 40.0 * t - 500.0 * (std::cos(t / 100.0) - 1.0);
        return uint64_t(double(t_ns) + integral_ppm * 1e3) + 1'000'000;  // ticks start at 1e6
    }
};

// Read jitter of a few hundred ns, deterministic.
int64_t jitter(uint64_t i) { return int64_t((i * 2654435761u) % 601) - 300; }

int64_t error_ns(const SteeredClock& clock, const SimulatedNic& nic, uint64_t t_ns) {
    return int64_t(clock.to_ns(nic.ticks_at(t_ns)) - (epoch_ns + t_ns));
}

// What the start calibration gives: the rate over 20 ms read 3 us off.
void start_badly(SteeredClock& clock, const SimulatedNic& nic) {
    const uint64_t t0 = 0, t1 = 20'000'000;
    const uint64_t ticks0 = nic.ticks_at(t0), ticks1 = nic.ticks_at(t1);
    clock.start(ticks1, epoch_ns + t1, SteeredClock::mult_for(t1 - t0 + 3'000, ticks1 - ticks0));
}

}  // namespace

TEST_CASE("a NIC clock steered once a second stays within a few microseconds of realtime for ten "
          "minutes; calibrated once it drifts by milliseconds", "[fast][clock]") {
    const SimulatedNic nic;
    SteeredClock steered, calibrated_once;
    start_badly(steered, nic);
    start_badly(calibrated_once, nic);
    int64_t worst = 0;
    uint64_t previous_ns = 0;
    uint64_t steers = 0;
    for (uint64_t s = 1; s <= 600; ++s) {
        // Packets stamped through the second, every 10 ms: time only moves forward.
        for (uint64_t t = (s - 1) * second + 20'000'000; t < s * second; t += 10'000'000) {
            const uint64_t ns = steered.to_ns(nic.ticks_at(t));
            REQUIRE(ns >= previous_ns);
            previous_ns = ns;
            if (s > 5) worst = std::max<int64_t>(worst, std::abs(error_ns(steered, nic, t)));
        }
        const uint64_t t = s * second + 20'000'000;
        steered.steer(nic.ticks_at(t), epoch_ns + t + uint64_t(jitter(s)), second);
        ++steers;
    }
    INFO("worst error after the first 5 s: " << worst << " ns");
    CHECK(worst < 2'000);
    // Without steering: 150 ppm of calibration error and 40 ppm of oscillator over 600 s.
    CHECK(std::abs(error_ns(calibrated_once, nic, 600 * second)) > 10'000'000);
    CHECK(steered.counters().steers.get() == steers);
    CHECK(steered.counters().steps.get() == 0);
    // The first corrections close the calibration's error, 150 us after a second.
    CHECK(steered.counters().corrected_ns.get() > 100'000);
}

TEST_CASE("a steered clock steps when CLOCK_REALTIME is set by more than 100 ms, and counts it",
          "[fast][clock]") {
    const SimulatedNic nic;
    SteeredClock clock;
    start_badly(clock, nic);
    for (uint64_t s = 1; s <= 10; ++s) {
        const uint64_t t = s * second;
        clock.steer(nic.ticks_at(t), epoch_ns + t, second);
    }
    const uint64_t set_by = 30 * second;  // someone set the clock half a minute forward
    const uint64_t t = 11 * second;
    clock.steer(nic.ticks_at(t), epoch_ns + t + set_by, second);
    CHECK(clock.counters().steps.get() == 1);
    CHECK(std::abs(int64_t(clock.to_ns(nic.ticks_at(t)) - (epoch_ns + t + set_by))) < 1'000);
}
