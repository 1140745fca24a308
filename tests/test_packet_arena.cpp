// PacketArena: the byte ring libpcap packets are copied into. What matters to the pipeline: room
// is refused, never overwritten, while packets are in flight; freed room comes back in ring order
// whatever order packets are freed in; and an empty arena starts again at the front, so a light
// load keeps reusing the same few cache lines.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "drivers/packet_arena.hpp"

using taprec::PacketArena;

TEST_CASE("a freed arena hands out its first bytes again", "[fast][arena]") {
    PacketArena arena(64 * 1024);
    std::byte* first = arena.allocate(60);
    REQUIRE(first != nullptr);
    std::byte* second = arena.allocate(60);
    REQUIRE(second != nullptr);
    CHECK(second > first);
    PacketArena::free(first);
    PacketArena::free(second);
    CHECK(arena.allocate(100) == first);
}

TEST_CASE("a packet still in flight keeps the arena from starting again", "[fast][arena]") {
    PacketArena arena(64 * 1024);
    std::byte* held = arena.allocate(60);
    std::byte* freed = arena.allocate(60);
    PacketArena::free(freed);
    std::byte* next = arena.allocate(60);
    CHECK(next > freed);  // `held` is still at the front
    PacketArena::free(held);
    PacketArena::free(next);
}

TEST_CASE("a full arena refuses room until the oldest packet is freed", "[fast][arena]") {
    PacketArena arena(16 * 1024);  // 1,500-byte packets take 1,600 bytes with their header
    std::vector<std::byte*> held;
    while (std::byte* p = arena.allocate(1500)) {
        std::memset(p, int(held.size()), 1500);
        held.push_back(p);
    }
    REQUIRE(held.size() == 10);
    // Freeing a younger packet gives nothing back: room returns in ring order.
    PacketArena::free(held[5]);
    CHECK(arena.allocate(1500) == nullptr);
    PacketArena::free(held[0]);
    std::byte* again = arena.allocate(1500);
    REQUIRE(again != nullptr);
    // Nothing still held was overwritten.
    for (size_t i = 1; i < held.size(); ++i) {
        if (i == 5) continue;
        CHECK(std::to_integer<int>(held[i][0]) == int(i));
        CHECK(std::to_integer<int>(held[i][1499]) == int(i));
    }
    PacketArena::free(again);
    for (size_t i = 1; i < held.size(); ++i)
        if (i != 5) PacketArena::free(held[i]);
    CHECK(arena.bytes_in_use() == 0);
}

TEST_CASE("packets wrap around the end of the arena without splitting", "[fast][arena]") {
    PacketArena arena(8 * 1024);
    std::byte* const base = arena.allocate(1000);  // 1,088 bytes a chunk with its header
    PacketArena::free(base);
    std::vector<std::byte*> live;
    for (int round = 0; round < 50; ++round) {
        std::byte* p = arena.allocate(1000);
        REQUIRE(p != nullptr);
        CHECK(p >= base);
        CHECK(p + 1000 <= base + arena.capacity());
        live.push_back(p);
        if (live.size() == 4) {  // keep a backlog so the arena is never empty and must wrap
            PacketArena::free(live.front());
            live.erase(live.begin());
        }
    }
    for (std::byte* p : live) PacketArena::free(p);
    CHECK(arena.bytes_in_use() == 0);
}

TEST_CASE("a packet larger than a quarter of the arena is refused", "[fast][arena]") {
    PacketArena arena(16 * 1024);
    CHECK(arena.allocate(4096) == nullptr);
    CHECK(arena.allocate(2048) != nullptr);
}
