#include "pipeline/packet_source.hpp"

#include <cstring>

namespace taprec {

// Drivers that never set PacketRef::multi_segment keep this: their bytes are contiguous.
void PacketSource::copy_out(const PacketRef& packet, std::byte* dst) const noexcept {
    std::memcpy(dst, packet.data, packet.caplen);
}

}  // namespace taprec
