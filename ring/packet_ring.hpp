// The ring every pipeline edge uses: PacketRefs, with the producer's timestamp watermark.
#pragma once

#include "config/limits.hpp"  // burst_size
#include "pipeline/packet_ref.hpp"
#include "ring/spsc_ring.hpp"

namespace taprec {

using PacketRing = SpscRing<PacketRef>;

}  // namespace taprec
