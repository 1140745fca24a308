// hand_on(): give a burst to the next stage's ring.
#pragma once

#include <span>

#include "ring/idle_wait.hpp"
#include "ring/packet_ring.hpp"

namespace taprec {

// A ring never blocks a producer that models a wire: what does not fit goes to drop(rest), which
// must release and count it at once. A producer that is not a wire (a file replayed at full
// speed) waits for room instead, since nothing upstream can lose the packet meanwhile.
// Returns how many packets were dropped.
template <typename Drop>
size_t hand_on(PacketRing& ring, std::span<const PacketRef> burst, bool wait_for_room,
               IdleWait& idle, Drop&& drop) noexcept {
    size_t pushed = ring.push_burst(burst);
    if (pushed == burst.size()) [[likely]]
        return 0;
    if (wait_for_room) {
        while (pushed < burst.size()) {
            idle.wait();
            pushed += ring.push_burst(burst.subspan(pushed));
        }
        idle.reset();
        return 0;
    }
    const auto rest = burst.subspan(pushed);
    drop(rest);
    return rest.size();
}

}  // namespace taprec
