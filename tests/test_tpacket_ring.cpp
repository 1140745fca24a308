// TpacketRing: a TPACKET_V3 ring walked in place, here over blocks laid out in ordinary memory
// as the kernel lays them out. What the pipeline relies on: packets come out in ring order with
// the kernel's stamps and lengths, VLAN tags where libpcap puts them, and a block goes back to
// the kernel exactly when the last of its packets is released, by any thread, in any order.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "drivers/tpacket_ring.hpp"

using taprec::PacketRef;
using taprec::TpacketRing;

namespace {

struct FakeFrame {
    std::vector<std::byte> bytes;
    uint32_t wire_len = 0;  // 0: as many as bytes
    uint32_t sec = 0;
    uint32_t nsec = 0;
    uint32_t status = 0;  // TP_STATUS_VLAN_VALID, ...
    uint16_t vlan_tci = 0;
    uint16_t vlan_tpid = 0;
};

std::vector<std::byte> frame_of(size_t size, uint8_t seed) {
    std::vector<std::byte> f(size);
    for (size_t i = 0; i < size; ++i) f[i] = std::byte(uint8_t(seed + i));
    return f;
}

// Blocks as the kernel fills them: a block descriptor, then packets each with its header, the
// link-layer address and PACKET_RESERVE's 4 bytes before the frame.
class FakeRing {
public:
    static constexpr uint32_t block_size = 16384;
    static constexpr uint32_t mac_offset = 80;  // TPACKET_ALIGN(48 + 20) + 4, rounded up

    explicit FakeRing(uint32_t blocks) : memory_(size_t{block_size} * blocks / 8), blocks_(blocks) {}

    TpacketRing::Geometry geometry() {
        return {reinterpret_cast<std::byte*>(memory_.data()), block_size, blocks_};
    }
    tpacket_block_desc* block(uint32_t i) {
        return reinterpret_cast<tpacket_block_desc*>(reinterpret_cast<std::byte*>(memory_.data()) +
                                                     size_t{i} * block_size);
    }
    uint32_t status(uint32_t i) {
        return std::atomic_ref(block(i)->hdr.bh1.block_status).load(std::memory_order_acquire);
    }

    // The kernel closes block i with these frames.
    void fill(uint32_t i, const std::vector<FakeFrame>& frames) {
        REQUIRE(status(i) == TP_STATUS_KERNEL);
        tpacket_block_desc* b = block(i);
        std::byte* base = reinterpret_cast<std::byte*>(b);
        uint32_t offset = 64;
        b->version = TPACKET_V3;
        b->hdr.bh1.num_pkts = static_cast<uint32_t>(frames.size());
        b->hdr.bh1.offset_to_first_pkt = offset;
        for (size_t k = 0; k < frames.size(); ++k) {
            const FakeFrame& f = frames[k];
            auto* h = reinterpret_cast<tpacket3_hdr*>(base + offset);
            std::memset(h, 0xee, mac_offset);  // what a tag must not be built from
            const uint32_t next = (mac_offset + uint32_t(f.bytes.size()) + 15) & ~15u;
            REQUIRE(offset + next <= block_size);
            h->tp_next_offset = k + 1 == frames.size() ? 0 : next;
            h->tp_sec = f.sec;
            h->tp_nsec = f.nsec;
            h->tp_snaplen = uint32_t(f.bytes.size());
            h->tp_len = f.wire_len != 0 ? f.wire_len : uint32_t(f.bytes.size());
            h->tp_status = TP_STATUS_USER | f.status;
            h->tp_mac = mac_offset;
            h->tp_net = mac_offset + 14;
            h->hv1.tp_rxhash = 0;
            h->hv1.tp_vlan_tci = f.vlan_tci;
            h->hv1.tp_vlan_tpid = f.vlan_tpid;
            std::memcpy(base + offset + mac_offset, f.bytes.data(), f.bytes.size());
            offset += next;
        }
        b->hdr.bh1.blk_len = offset;
        b->hdr.bh1.seq_num = next_seq_++;  // as the kernel's prb_open_block numbers blocks
        std::atomic_ref(b->hdr.bh1.block_status).store(TP_STATUS_USER, std::memory_order_release);
    }

private:
    std::vector<uint64_t> memory_;  // 8-byte aligned, as the kernel's pages are
    uint32_t blocks_;
    uint64_t next_seq_ = 1;
};

std::vector<FakeFrame> frames(size_t count, uint8_t seed, size_t size = 60) {
    std::vector<FakeFrame> out;
    for (size_t i = 0; i < count; ++i) {
        FakeFrame f;
        f.bytes = frame_of(size + i, uint8_t(seed + i));
        f.sec = 1700000000 + uint32_t(seed);
        f.nsec = uint32_t(i) * 1000 + 7;
        out.push_back(std::move(f));
    }
    return out;
}

bool same_bytes(const PacketRef& p, const std::vector<std::byte>& expected) {
    return p.caplen == expected.size() && std::memcmp(p.data, expected.data(), p.caplen) == 0;
}

}  // namespace

TEST_CASE("packets come out in ring order, in place, with the kernel's stamps and lengths",
          "[fast][tpacket]") {
    FakeRing kernel(4);
    TpacketRing ring(kernel.geometry());
    const std::vector<FakeFrame> first = frames(5, 10);
    std::vector<FakeFrame> second = frames(3, 50, 200);
    second[1].wire_len = 1514;  // cut short by a snaplen
    kernel.fill(0, first);
    kernel.fill(1, second);

    std::vector<PacketRef> got;
    PacketRef burst[4];
    while (const size_t n = ring.take(burst)) got.insert(got.end(), burst, burst + n);
    REQUIRE(got.size() == 8);
    for (size_t i = 0; i < 8; ++i) {
        const FakeFrame& f = i < 5 ? first[i] : second[i - 5];
        INFO("packet " << i);
        CHECK(same_bytes(got[i], f.bytes));
        CHECK(got[i].ts_ns == uint64_t(f.sec) * 1'000'000'000u + f.nsec);
        CHECK(got[i].wire_len == (f.wire_len != 0 ? f.wire_len : f.bytes.size()));
        const auto* in_ring = reinterpret_cast<const std::byte*>(kernel.block(0));
        CHECK((got[i].data > in_ring && got[i].data < in_ring + 4 * FakeRing::block_size));
    }
    CHECK(kernel.status(0) == TP_STATUS_USER);  // held by the packets in flight
    CHECK(ring.blocks_held() == 2);
    TpacketRing::release(got);
    CHECK(kernel.status(0) == TP_STATUS_KERNEL);
    CHECK(kernel.status(1) == TP_STATUS_KERNEL);
    CHECK(ring.blocks_held() == 0);
}

TEST_CASE("a block goes back to the kernel when its last packet is released, in any order",
          "[fast][tpacket]") {
    FakeRing kernel(2);
    TpacketRing ring(kernel.geometry());
    kernel.fill(0, frames(4, 1));
    kernel.fill(1, frames(2, 2));
    PacketRef got[6];
    REQUIRE(ring.take(got) == 6);
    // Out of order, across blocks, as the writer and the workers release them.
    TpacketRing::release(std::span(&got[5], 1));
    TpacketRing::release(std::span(&got[2], 2));
    CHECK(kernel.status(0) == TP_STATUS_USER);
    CHECK(kernel.status(1) == TP_STATUS_USER);
    TpacketRing::release(std::span(&got[4], 1));
    CHECK(kernel.status(1) == TP_STATUS_KERNEL);  // a later block may go back first
    TpacketRing::release(std::span(&got[0], 1));
    CHECK(kernel.status(0) == TP_STATUS_USER);
    TpacketRing::release(std::span(&got[1], 1));
    CHECK(kernel.status(0) == TP_STATUS_KERNEL);

    // The next lap of the ring reads the refilled blocks.
    const std::vector<FakeFrame> lap = frames(3, 90);
    kernel.fill(0, lap);
    REQUIRE(ring.take(got) == 3);
    CHECK(same_bytes(got[0], lap[0].bytes));
    CHECK(same_bytes(got[2], lap[2].bytes));
    TpacketRing::release(std::span(got, 3));
    CHECK(kernel.status(0) == TP_STATUS_KERNEL);
}

TEST_CASE("a block the rx thread is still walking stays out of the kernel's hands",
          "[fast][tpacket]") {
    FakeRing kernel(2);
    TpacketRing ring(kernel.geometry());
    kernel.fill(0, frames(6, 3));
    PacketRef got[2];
    REQUIRE(ring.take(got) == 2);
    TpacketRing::release(std::span(got, 2));
    CHECK(kernel.status(0) == TP_STATUS_USER);  // four packets not yet handed out
    CHECK(ring.ready());
    PacketRef rest[8];
    REQUIRE(ring.take(rest) == 4);
    CHECK(!ring.ready());
    TpacketRing::release(std::span(rest, 4));
    CHECK(kernel.status(0) == TP_STATUS_KERNEL);
}

// A full ring: the kernel stops at the block the pipeline still holds from the last lap (the
// queue is frozen) and the walk arrives there too. That block is the pipeline's, not new.
TEST_CASE("a block still held from the ring's last lap is not read again when the walk wraps",
          "[fast][tpacket]") {
    FakeRing kernel(2);
    TpacketRing ring(kernel.geometry());
    kernel.fill(0, frames(3, 1));
    PacketRef first[3];
    REQUIRE(ring.take(first) == 3);  // held: the merge waits for the other direction
    kernel.fill(1, frames(2, 2));
    PacketRef second[2];
    REQUIRE(ring.take(second) == 2);
    TpacketRing::release(std::span(second, 2));
    CHECK(kernel.status(0) == TP_STATUS_USER);
    CHECK(!ring.ready());
    PacketRef none[4];
    CHECK(ring.take(none) == 0);
    CHECK(ring.blocks_held() == 1);
    TpacketRing::release(std::span(first, 3));
    CHECK(kernel.status(0) == TP_STATUS_KERNEL);
    const std::vector<FakeFrame> lap = frames(4, 9);
    kernel.fill(0, lap);
    PacketRef again[4];
    REQUIRE(ring.take(again) == 4);
    CHECK(same_bytes(again[0], lap[0].bytes));
    TpacketRing::release(std::span(again, 4));
}

TEST_CASE("a VLAN tag the kernel took out of the frame is put back, as libpcap does",
          "[fast][tpacket]") {
    FakeRing kernel(1);
    TpacketRing ring(kernel.geometry());
    std::vector<FakeFrame> tagged = frames(3, 20, 80);
    tagged[0].status = TP_STATUS_VLAN_VALID;
    tagged[0].vlan_tci = 0x0123;  // no TPID from the kernel: 802.1Q
    tagged[1].status = TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID;
    tagged[1].vlan_tci = 0x0fff;
    tagged[1].vlan_tpid = 0x88a8;
    tagged[1].wire_len = 1000;
    kernel.fill(0, tagged);
    PacketRef got[3];
    REQUIRE(ring.take(got) == 3);

    auto expect_tag = [](const PacketRef& p, const FakeFrame& f, uint8_t t0, uint8_t t1,
                         uint8_t c0, uint8_t c1) {
        REQUIRE(p.caplen == f.bytes.size() + 4);
        CHECK(std::memcmp(p.data, f.bytes.data(), 12) == 0);  // the MAC addresses
        const uint8_t tag[4] = {t0, t1, c0, c1};
        CHECK(std::memcmp(p.data + 12, tag, 4) == 0);
        CHECK(std::memcmp(p.data + 16, f.bytes.data() + 12, f.bytes.size() - 12) == 0);
    };
    expect_tag(got[0], tagged[0], 0x81, 0x00, 0x01, 0x23);
    CHECK(got[0].wire_len == tagged[0].bytes.size() + 4);
    expect_tag(got[1], tagged[1], 0x88, 0xa8, 0x0f, 0xff);
    CHECK(got[1].wire_len == 1004);
    CHECK(same_bytes(got[2], tagged[2].bytes));  // untagged, untouched
    TpacketRing::release(std::span(got, 3));
}

TEST_CASE("an empty block is given back and skipped", "[fast][tpacket]") {
    FakeRing kernel(3);
    TpacketRing ring(kernel.geometry());
    kernel.fill(0, {});
    const std::vector<FakeFrame> after = frames(2, 7);
    kernel.fill(1, after);
    PacketRef got[4];
    REQUIRE(ring.take(got) == 2);
    CHECK(same_bytes(got[0], after[0].bytes));
    CHECK(kernel.status(0) == TP_STATUS_KERNEL);
    TpacketRing::release(std::span(got, 2));
}

TEST_CASE("the ring says when the socket's poll cannot be trusted", "[fast][tpacket]") {
    FakeRing kernel(3);
    TpacketRing ring(kernel.geometry());
    CHECK(!ring.ready());
    CHECK(!ring.last_filled_block_held());  // nothing filled yet: poll() sleeps until it is
    kernel.fill(0, frames(2, 1));
    CHECK(ring.ready());
    PacketRef got[2];
    REQUIRE(ring.take(got) == 2);
    CHECK(!ring.ready());
    // Block 0 is held by the pipeline: the kernel's poll reports it as readable.
    CHECK(ring.last_filled_block_held());
    TpacketRing::release(std::span(got, 2));
    CHECK(!ring.last_filled_block_held());
}

TEST_CASE("threads releasing one block at once give it back exactly once, after the last",
          "[fast][tpacket]") {
    constexpr size_t threads = 4;
    constexpr size_t per_thread = 12;
    FakeRing kernel(1);
    TpacketRing ring(kernel.geometry());
    for (int round = 0; round < 300; ++round) {
        kernel.fill(0, frames(threads * per_thread + 1, uint8_t(round), 64));
        std::vector<PacketRef> got(threads * per_thread + 1);
        REQUIRE(ring.take(got) == got.size());
        std::atomic<bool> go{false};
        std::vector<std::thread> pool;
        for (size_t t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                while (!go.load()) {
                }
                // Interleaved packets, one or two at a time.
                for (size_t i = t; i < threads * per_thread; i += threads)
                    TpacketRing::release(std::span(&got[i], 1));
            });
        go.store(true);
        for (std::thread& th : pool) th.join();
        REQUIRE(kernel.status(0) == TP_STATUS_USER);  // the last packet is still held
        TpacketRing::release(std::span(&got.back(), 1));
        REQUIRE(kernel.status(0) == TP_STATUS_KERNEL);
    }
}

TEST_CASE("naps while the socket is blind start short after packets and double up to 20 ms",
          "[fast][tpacket]") {
    using std::chrono::microseconds;
    taprec::BlindNap nap;
    CHECK(nap.take() == microseconds(1000));
    CHECK(nap.take() == microseconds(2000));
    CHECK(nap.take() == microseconds(4000));
    CHECK(nap.take() == microseconds(8000));
    CHECK(nap.take() == microseconds(16000));
    CHECK(nap.take() == microseconds(20000));
    CHECK(nap.take() == microseconds(20000));
    nap.packets_arrived();
    CHECK(nap.take() == microseconds(1000));
}
