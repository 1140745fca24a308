// The ring every pipeline edge uses: PacketRefs, with the producer's timestamp watermark.
#pragma once

#include "drivers/packet_ref.hpp"
#include "ring/spsc_ring.hpp"

namespace taprec {

using PacketRing = SpscRing<PacketRef>;

// Packets are handled this many at a time on every stage (DPDK's customary burst).
inline constexpr size_t burst_size = 32;

}  // namespace taprec
