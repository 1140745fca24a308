#include "drivers/tpacket_ring.hpp"

#include <linux/if_ether.h>

#include <algorithm>
#include <cstring>

namespace taprec {
namespace {

uint32_t block_status(const tpacket_block_desc* block) noexcept {
    return std::atomic_ref(const_cast<tpacket_block_desc*>(block)->hdr.bh1.block_status)
        .load(std::memory_order_acquire);
}

// The kernel takes the VLAN tag out of the frame and into the header (as a NIC that strips it
// would); libpcap puts it back where it was, and so does this, in the room PACKET_RESERVE left
// before the frame. Returns the frame's first byte.
std::byte* restore_vlan_tag(std::byte* frame, const tpacket3_hdr& h, uint32_t& caplen,
                            uint32_t& wire_len) noexcept {
    constexpr uint32_t mac_addresses = 12;
    if (!((h.tp_status & TP_STATUS_VLAN_VALID) || h.hv1.tp_vlan_tci != 0) || caplen < mac_addresses)
        return frame;
    std::byte* tagged = frame - 4;
    std::memmove(tagged, frame, mac_addresses);
    const uint16_t tpid = (h.tp_status & TP_STATUS_VLAN_TPID_VALID) || h.hv1.tp_vlan_tpid != 0
                              ? h.hv1.tp_vlan_tpid
                              : uint16_t{ETH_P_8021Q};
    const uint16_t tci = static_cast<uint16_t>(h.hv1.tp_vlan_tci);
    const std::byte tag[4] = {std::byte(tpid >> 8), std::byte(tpid & 0xff), std::byte(tci >> 8),
                              std::byte(tci & 0xff)};
    std::memcpy(tagged + mac_addresses, tag, 4);
    caplen += 4;
    wire_len += 4;
    return tagged;
}

}  // namespace

TpacketRing::TpacketRing(Geometry geometry)
    : geometry_(geometry), holds_(std::make_unique<BlockHold[]>(geometry.block_count)) {
    for (uint32_t i = 0; i < geometry_.block_count; ++i) {
        holds_[i].packets.store(0, std::memory_order_relaxed);
        holds_[i].block = block(i);
    }
}

tpacket_block_desc* TpacketRing::block(uint32_t index) const noexcept {
    return reinterpret_cast<tpacket_block_desc*>(geometry_.base +
                                                 size_t{index} * geometry_.block_size);
}

bool TpacketRing::ready() const noexcept { return walking_ || filled(current_); }

// The kernel has filled block `index` since it was last walked. TP_STATUS_USER alone does not
// say so: a block handed out on the ring's last lap keeps it until its last packet is released,
// and when the ring is full the kernel waits at that very block (a frozen queue) while the walk
// arrives there. Each block the kernel opens gets the next sequence number.
bool TpacketRing::filled(uint32_t index) const noexcept {
    const tpacket_block_desc* b = block(index);
    return (block_status(b) & TP_STATUS_USER) != 0 && b->hdr.bh1.seq_num != holds_[index].walked_seq;
}

bool TpacketRing::last_filled_block_held() const noexcept {
    const uint32_t previous = current_ == 0 ? geometry_.block_count - 1 : current_ - 1;
    return block_status(block(previous)) != TP_STATUS_KERNEL;
}

bool TpacketRing::kernel_filling_packets() const noexcept {
    tpacket_block_desc* b = block(current_);
    return block_status(b) == TP_STATUS_KERNEL &&
           std::atomic_ref(b->hdr.bh1.num_pkts).load(std::memory_order_relaxed) != 0;
}

size_t TpacketRing::blocks_held() const noexcept {
    size_t held = 0;
    for (uint32_t i = 0; i < geometry_.block_count; ++i)
        if (holds_[i].packets.load(std::memory_order_relaxed) != 0) ++held;
    return held;
}

// Skips blocks the kernel closed empty; false when the next block is still the kernel's.
bool TpacketRing::open_next_block() noexcept {
    for (;;) {
        if (!filled(current_)) return false;
        tpacket_block_desc* b = block(current_);
        holds_[current_].walked_seq = b->hdr.bh1.seq_num;
        left_in_block_ = b->hdr.bh1.num_pkts;
        handed_out_ = 0;
        holds_[current_].packets.store(rx_bias, std::memory_order_relaxed);
        walking_ = true;
        if (left_in_block_ != 0) {
            const auto* start = reinterpret_cast<const std::byte*>(b);
            next_packet_ = start + b->hdr.bh1.offset_to_first_pkt;
            prefetched_until_ = next_packet_;
            block_end_ = start + std::min(b->hdr.bh1.blk_len, geometry_.block_size);
            return true;
        }
        finish_block();
    }
}

// Each packet's place is in the header of the one before it, so a walk through memory the
// kernel wrote on another core would wait for one cache miss after another. The packets lie one
// after the other, though: the lines ahead of the walk are requested before it needs them, which
// also brings the frames the worker reads and the writer copies.
void TpacketRing::prefetch_ahead() noexcept {
    const std::byte* until = std::min(next_packet_ + prefetch_distance, block_end_);
    for (; prefetched_until_ < until; prefetched_until_ += 64) __builtin_prefetch(prefetched_until_);
}

void TpacketRing::finish_block() noexcept {
    walking_ = false;
    give_back(holds_[current_], rx_bias - handed_out_);
    current_ = current_ + 1 == geometry_.block_count ? 0 : current_ + 1;
}

void TpacketRing::give_back(BlockHold& hold, uint32_t count) noexcept {
    if (hold.packets.fetch_sub(count, std::memory_order_acq_rel) == count)
        std::atomic_ref(hold.block->hdr.bh1.block_status)
            .store(TP_STATUS_KERNEL, std::memory_order_release);
}

size_t TpacketRing::take(std::span<PacketRef> out) noexcept {
    size_t n = 0;
    while (n < out.size()) {
        if (!walking_ && !open_next_block()) break;
        auto* h = reinterpret_cast<tpacket3_hdr*>(const_cast<std::byte*>(next_packet_));
        prefetch_ahead();
        if (--left_in_block_ != 0) {
            next_packet_ += h->tp_next_offset;
            __builtin_prefetch(next_packet_);
        }
        uint32_t caplen = h->tp_snaplen;
        uint32_t wire_len = h->tp_len;
        const std::byte* frame =
            restore_vlan_tag(reinterpret_cast<std::byte*>(h) + h->tp_mac, *h, caplen, wire_len);
        out[n++] = PacketRef{frame,
                             &holds_[current_],
                             uint64_t{h->tp_sec} * 1'000'000'000u + h->tp_nsec,
                             caplen,
                             std::max(wire_len, caplen),
                             0,
                             0};
        ++handed_out_;
        if (left_in_block_ == 0) finish_block();
    }
    return n;
}

void TpacketRing::release(std::span<const PacketRef> packets) noexcept {
    // Packets of one block travel together, so a burst is a few runs: one atomic per run.
    size_t i = 0;
    while (i < packets.size()) {
        void* const buffer = packets[i].buffer;
        size_t run = 1;
        while (i + run < packets.size() && packets[i + run].buffer == buffer) ++run;
        give_back(*static_cast<BlockHold*>(buffer), static_cast<uint32_t>(run));
        i += run;
    }
}

}  // namespace taprec
