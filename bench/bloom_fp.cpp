// The block index's Bloom filter (index/block_summary): its size after folding and its false
// positive rate for blocks holding n distinct keys (addresses and ports), probed with 1,000,000
// keys the block does not hold. A 1 MiB block of real traffic holds tens (one busy flow) to a few
// thousand (a scan, many short flows) distinct keys.
#include <cstdint>
#include <cstdio>
#include <random>

#include "index/block_summary.hpp"

namespace bi = taprec::block_index;

int main() {
    std::mt19937_64 random(17);
    std::printf("| distinct keys in the block | filter bytes | false positives per absent key |\n");
    std::printf("|---|---|---|\n");
    for (const int n : {10, 100, 300, 1000, 2000, 4000, 8000, 16000}) {
        static bi::BlockSummary s;
        s.clear();
        // Addresses 10.0.x.y counted up, so probes (other addresses) are known to be absent.
        for (int i = 0; i < n; ++i) {
            const uint8_t a[4] = {10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
            s.add_key(bi::ipv4_key(a));
        }
        s.fold();
        uint64_t hits = 0;
        constexpr int probes = 1'000'000;
        for (int i = 0; i < probes; ++i) {
            const uint32_t r = uint32_t(random());
            const uint8_t a[4] = {172, uint8_t(r >> 16), uint8_t(r >> 8), uint8_t(r)};
            hits += s.may_hold(bi::ipv4_key(a));
        }
        std::printf("| %d | %u | %.4f %% |\n", n, s.bloom_bits / 8, 100.0 * double(hits) / probes);
    }
}
