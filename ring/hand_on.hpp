// hand_on(): give a burst to the next stage's ring.
#pragma once

#include <span>

#include "ring/packet_ring.hpp"

namespace taprec {

// A ring never blocks its producer: what does not fit goes to drop(rest), which must release and
// count it at once. A producer that must not lose packets (a file replayed at full speed) checks
// for room for a whole burst before it takes one, so nothing reaches drop() for it.
// Returns how many packets were dropped.
template <typename Drop>
size_t hand_on(PacketRing& ring, std::span<const PacketRef> burst, Drop&& drop) noexcept {
    const size_t pushed = ring.push_burst(burst);
    if (pushed == burst.size()) [[likely]]
        return 0;
    const auto rest = burst.subspan(pushed);
    drop(rest);
    return rest.size();
}

}  // namespace taprec
