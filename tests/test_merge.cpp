// OrderedMerge: random interleavings, bursts and empty inputs; output must be every packet
// exactly once, in timestamp order, ties in input order, and late only when a producer's
// watermark lied.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "ring/ordered_merge.hpp"

using namespace taprec;

namespace {

PacketRef make_packet(uint64_t ts, uint64_t id, uint16_t port) {
    return PacketRef{nullptr, reinterpret_cast<void*>(id), ts, 64, 64, port, 0};
}

struct Stream {
    std::vector<PacketRef> packets;  // in the order the producer pushes them
    size_t pushed = 0;
};

uint64_t id_of(const PacketRef& p) { return reinterpret_cast<uint64_t>(p.buffer); }

}  // namespace

TEST_CASE("merge of random ordered inputs is ordered, complete and stable", "[fast][merge]") {
    std::mt19937_64 rng(GENERATE(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    const size_t inputs = 1 + rng() % 4;
    std::vector<std::unique_ptr<PacketRing>> rings;
    std::vector<PacketRing*> ring_ptrs;
    std::vector<Stream> streams(inputs);
    uint64_t next_id = 1;
    for (size_t i = 0; i < inputs; ++i) {
        rings.push_back(std::make_unique<PacketRing>(128));
        ring_ptrs.push_back(rings.back().get());
        const size_t count = (rng() % 5 == 0) ? 0 : rng() % 3000;  // some inputs stay empty
        uint64_t ts = 1'000'000 + rng() % 1000;
        for (size_t k = 0; k < count; ++k) {
            ts += rng() % 4 == 0 ? 0 : rng() % 50;  // many equal timestamps
            streams[i].packets.push_back(make_packet(ts, next_id++, uint16_t(i & 1)));
        }
    }
    OrderedMerge merge(ring_ptrs);
    std::vector<PacketRef> out;
    std::array<PacketRef, 64> burst;
    bool all_done = false;
    while (!merge.finished()) {
        // Producers: random bursts, each followed by its watermark (the last timestamp pushed).
        for (size_t i = 0; i < inputs && !all_done; ++i) {
            Stream& s = streams[i];
            if (rng() % 3 == 0) continue;
            const size_t n = std::min<size_t>(rng() % 40, s.packets.size() - s.pushed);
            const size_t pushed = rings[i]->push_burst(std::span(s.packets.data() + s.pushed, n));
            s.pushed += pushed;
            if (s.pushed > 0) rings[i]->publish_watermark(s.packets[s.pushed - 1].ts_ns);
            if (s.pushed == s.packets.size() && rng() % 2 == 0) rings[i]->finish();
        }
        const size_t want = 1 + rng() % burst.size();
        const size_t n = merge.pop_ordered(std::span(burst.data(), want));
        out.insert(out.end(), burst.begin(), burst.begin() + n);
        if (!all_done) {
            all_done = true;
            for (size_t i = 0; i < inputs; ++i)
                if (streams[i].pushed != streams[i].packets.size() ||
                    rings[i]->watermark() != PacketRing::finished_watermark)
                    all_done = false;
        }
    }
    size_t total = 0;
    for (const Stream& s : streams) total += s.packets.size();
    REQUIRE(out.size() == total);

    // Every id exactly once.
    std::vector<uint64_t> ids;
    for (const PacketRef& p : out) ids.push_back(id_of(p));
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
    if (total != 0) {
        CHECK(ids.front() == 1);
        CHECK(ids.back() == total);
    }

    // Ordered by timestamp; on ties, by input (ids grow with the input index), then FIFO.
    size_t disorder = 0;
    for (size_t k = 1; k < out.size(); ++k) {
        if (out[k].ts_ns < out[k - 1].ts_ns) ++disorder;
        if (out[k].ts_ns == out[k - 1].ts_ns && id_of(out[k]) < id_of(out[k - 1])) ++disorder;
    }
    CHECK(disorder == 0);
    CHECK(merge.late_count(0) == 0);
    CHECK(merge.late_count(1) == 0);
}

TEST_CASE("a silent input holds the merge only until its watermark passes", "[fast][merge]") {
    PacketRing a(64), b(64);
    OrderedMerge merge({&a, &b});
    std::array<PacketRef, 8> out;

    const PacketRef a1 = make_packet(100, 1, 0);
    a.push_burst(std::span(&a1, 1));
    a.publish_watermark(100);
    CHECK(merge.pop_ordered(out) == 0);  // b might still deliver something older

    b.publish_watermark(99);
    CHECK(merge.pop_ordered(out) == 0);
    b.publish_watermark(100);  // a tie: a goes first, so a1 may go
    REQUIRE(merge.pop_ordered(out) == 1);
    CHECK(id_of(out[0]) == 1);

    // b breaks its promise: its packet is older than one already emitted. Written, counted late.
    const PacketRef b1 = make_packet(50, 2, 1);
    b.push_burst(std::span(&b1, 1));
    a.finish();
    REQUIRE(merge.pop_ordered(out) == 1);
    CHECK(id_of(out[0]) == 2);
    CHECK(merge.late_count(1) == 1);
    CHECK(merge.late_count(0) == 0);
    b.finish();
    CHECK(merge.pop_ordered(out) == 0);
    CHECK(merge.finished());
}

TEST_CASE("frontier is the oldest timestamp any input can still deliver", "[fast][merge]") {
    PacketRing a(64), b(64);
    OrderedMerge merge({&a, &b});
    std::array<PacketRef, 8> out;
    const PacketRef a1 = make_packet(300, 1, 0);
    a.push_burst(std::span(&a1, 1));
    a.publish_watermark(300);
    b.publish_watermark(200);
    CHECK(merge.pop_ordered(out) == 0);
    CHECK(merge.frontier_ns() == 200);
    b.finish();
    CHECK(merge.pop_ordered(out) == 1);
    CHECK(merge.frontier_ns() == 300);
}

TEST_CASE("one input passes straight through, with a frontier that never runs ahead of the ring",
          "[fast][merge]") {
    PacketRing a(64);
    OrderedMerge merge({&a});
    std::array<PacketRef, 4> out;
    std::vector<PacketRef> in;
    for (uint64_t i = 0; i < 6; ++i) in.push_back(make_packet(100 + 10 * i, i + 1, 0));
    a.push_burst(std::span(in));
    a.publish_watermark(150);
    a.finish();  // the producer is done, but two packets still wait after the first pop
    REQUIRE(merge.pop_ordered(out) == 4);
    CHECK(id_of(out[0]) == 1);
    CHECK(id_of(out[3]) == 4);
    // Not the producer's watermark (150): the packet at 140 still waits in the ring.
    CHECK(merge.frontier_ns() <= 140);
    CHECK(merge.frontier_ns() >= 130);
    CHECK_FALSE(merge.finished());
    REQUIRE(merge.pop_ordered(out) == 2);
    CHECK(id_of(out[1]) == 6);
    CHECK(merge.finished());

    // A producer that breaks its order: the packet goes out, counted late.
    PacketRing b(64);
    OrderedMerge single({&b});
    const std::array<PacketRef, 2> disorder{make_packet(200, 1, 1), make_packet(150, 2, 1)};
    b.push_burst(std::span(disorder));
    REQUIRE(single.pop_ordered(out) == 2);
    CHECK(single.late_count(1) == 1);
    b.publish_watermark(180);
    CHECK(single.pop_ordered(out) == 0);
    CHECK(single.frontier_ns() == 180);
}

TEST_CASE("a packet a worker emitted late is late at the writer too, and counted there as inherited",
          "[fast][merge]") {
    // Worker: two inputs, b's packet breaks b's promise and goes out late.
    PacketRing a(64), b(64);
    OrderedMerge worker({&a, &b});
    std::array<PacketRef, 8> out;
    const PacketRef a1 = make_packet(100, 1, 0);
    a.push_burst(std::span(&a1, 1));
    a.finish();
    b.publish_watermark(100);
    REQUIRE(worker.pop_ordered(out) == 1);
    const PacketRef b1 = make_packet(50, 2, 1);
    b.push_burst(std::span(&b1, 1));
    b.finish();
    REQUIRE(worker.pop_ordered(out) == 1);
    CHECK(worker.late_count(1) == 1);
    CHECK(worker.first_late_count(1) == 1);
    CHECK((out[0].flags & PacketRef::late) != 0);

    // Writer, one input (the pass-through path) and two inputs (the merging path): the worker's
    // late packet is late again, but not the writer's doing.
    for (const bool two_workers : {false, true}) {
        PacketRing w1(64), w2(64);
        std::vector<PacketRing*> inputs{&w1};
        if (two_workers) inputs.push_back(&w2);
        OrderedMerge writer(inputs);
        const std::array<PacketRef, 2> from_worker{make_packet(100, 1, 0), out[0]};
        w1.push_burst(std::span(from_worker));
        w1.finish();
        w2.finish();
        std::array<PacketRef, 8> written;
        REQUIRE(writer.pop_ordered(written) == 2);
        CHECK(writer.late_count(1) == 1);
        CHECK(writer.first_late_count(1) == 0);
    }
    // A packet the writer's own merge makes late counts as its own.
    std::array<PacketRef, 8> written;
    PacketRing x(64), y(64);
    OrderedMerge fresh({&x, &y});
    const PacketRef x1 = make_packet(100, 1, 0), y1 = make_packet(40, 2, 1);
    x.push_burst(std::span(&x1, 1));
    x.finish();
    y.publish_watermark(100);
    REQUIRE(fresh.pop_ordered(written) == 1);
    y.push_burst(std::span(&y1, 1));
    y.finish();
    REQUIRE(fresh.pop_ordered(written) == 1);
    CHECK(fresh.first_late_count(1) == 1);
}
