// Symmetric software flow hash: what the rx thread uses to pick a worker when the port has no RSS.
//
// Both directions of a connection must reach the same worker (DESIGN.md "Flow affinity"), so the
// hash of (src, dst, sport, dport) equals the hash of (dst, src, dport, sport). IP fragments hash
// on addresses only, so the fragments of one datagram stay together even without ports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace taprec {

uint32_t symmetric_flow_hash(std::span<const std::byte> frame, int link_type) noexcept;

}  // namespace taprec
