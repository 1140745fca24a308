#include "drivers/dpdk_rss.hpp"

#include "drivers/dpdk_api.hpp"

namespace taprec {

std::vector<uint8_t> symmetric_rss_key(uint32_t size) {
    if (size == 0) size = default_rss_key_size;
    std::vector<uint8_t> key(size);
    for (uint32_t i = 0; i < size; ++i) key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
    return key;
}

uint64_t rss_hash_types(uint64_t offered) {
    const uint64_t wanted = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_SCTP;
    return wanted & offered;
}

uint16_t reta_queue(uint32_t entry, uint16_t queues) {
    return static_cast<uint16_t>(entry % queues);
}

}  // namespace taprec
