// Symmetric RSS: the NIC spreads flows over RX queues so that both directions of a connection
// hash alike, which is what makes queue i of port a and queue i of port b the same flows.
//
// DPDK 22.11 has no symmetric hash function in rte_eth_rss_conf (only through rte_flow), so the
// portable way is a Toeplitz key made of one 16-bit word repeated: 0x6d5a repeated gives
// hash(src, dst, sport, dport) == hash(dst, src, dport, sport) (Woo and Park, "Scalable TCP
// Session Monitoring with Symmetric Receive-side Scaling", 2012).
#pragma once

#include <cstdint>
#include <vector>

namespace taprec {

inline constexpr uint32_t default_rss_key_size = 40;

// The symmetric key, `size` bytes (the size the NIC asks for, 40 when it does not say).
std::vector<uint8_t> symmetric_rss_key(uint32_t size);

// The RSS hash types taprec asks for: IPv4/IPv6 addresses and TCP/UDP/SCTP ports, masked by what
// the port offers. 0 when the port offers none of them (then it cannot keep flows together).
uint64_t rss_hash_types(uint64_t offered);

// Redirection table entry i -> queue i % queues on every port, so equal hashes give equal queues
// on the two ports of a tap (as long as their tables have sizes that are multiples of `queues`).
uint16_t reta_queue(uint32_t entry, uint16_t queues);

}  // namespace taprec
