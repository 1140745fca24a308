// PacketSource: the one interface every poll-mode driver implements (libpcap, DPDK).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "pipeline/packet_ref.hpp"

namespace taprec {

// Counters the hardware (or the kernel, for libpcap) keeps about packets that never reached us.
struct NicCounters {
    uint64_t missed = 0;  // no room in the NIC's or the kernel's ring: `nic_missed`
    uint64_t errors = 0;  // bad frames the NIC discarded: `nic_errors`
    uint64_t nombuf = 0;  // no buffer to receive into: `nic_nombuf`
    // Received, but not on the queue that owns their flow: the kernel's fanout rollover moved them
    // off a full queue (net_af_packet), so their connection was seen by two workers.
    uint64_t rolled_over = 0;
    // The port clock's steering to CLOCK_REALTIME (DPDK ports that stamp with the TSC or the NIC).
    uint64_t clock_steers = 0;
    uint64_t clock_corrected_ns = 0;
    uint64_t clock_steps = 0;
};

// One port of a tap. Threads: rx_burst() and wait_for_packets() are called by the one rx thread
// that polls a queue; release() by every pipeline thread (see release()); the rest by the
// control thread.
class PacketSource {
public:
    virtual ~PacketSource() = default;

    // What the plan and the logs call this port, e.g. "pcap file a.pcap".
    virtual std::string describe() const = 0;
    // A warning about how the port was set up that the daemon logs at start, or "": a setting
    // that lets the port lose packets under load (counted, but avoidable).
    virtual std::string setup_warning() const { return {}; }
    // RX queues this port delivers on; queue i of port a and queue i of port b carry the same
    // flows when has_rss() (symmetric RSS); otherwise there is one queue and the rx thread
    // spreads packets over workers with the symmetric software hash.
    virtual uint16_t queue_count() const = 0;
    virtual bool has_rss() const = 0;
    // DLT_* link type of every frame this port delivers.
    virtual int link_type() const = 0;

    // Receive up to out.size() packets from `queue` into out[0..n); returns n. Every PacketRef is
    // complete but for `port`, which the caller sets. Never blocks, never throws.
    virtual size_t rx_burst(uint16_t queue, std::span<PacketRef> out) noexcept = 0;
    // True once the port will deliver nothing more (the end of a replayed file, or a fatal error,
    // see error()); rx_burst() returns 0 from then on.
    virtual bool at_end() const noexcept = 0;
    // A description of the fatal error that ended the port, or "" if it ended normally.
    virtual std::string error() const = 0;

    // The tap's clock now, as this port sees it when it is idle: a packet still to come will carry
    // a later timestamp, give or take the tap's reorder_window. 0 when the port has no such clock
    // (a file replayed at full speed). Lets a merge stop waiting for a silent direction.
    virtual uint64_t idle_clock_ns() const noexcept = 0;
    // Read the counters that cost a system call (kernel or NIC statistics); called by the rx
    // thread now and then, never per packet.
    virtual void refresh_counters() noexcept {}
    // True when wait_for_packets() really sleeps in the kernel until traffic arrives (libpcap live):
    // then the rx thread calls it instead of applying its own idle policy.
    virtual bool can_block() const noexcept { return false; }
    virtual void wait_for_packets(std::chrono::microseconds /*max*/) noexcept {}
    // Without waiting, what wait_for_packets() would notice besides packets: an interface gone.
    // For an rx stage that shares its thread's loop with other stages and so never waits here.
    virtual void look_for_error() noexcept {}
    // A file descriptor that polls readable when packets wait (libpcap live), or -1: lets one
    // thread sleep on every port of a tap at once.
    virtual int wait_fd() const noexcept { return -1; }
    // Asked by the thread about to sleep in poll() on wait_fd(): 0, or how long to nap instead,
    // because wait_fd() polls readable although nothing new waits (a TPACKET_V3 ring whose last
    // filled block the pipeline still holds: the kernel's poll looks only at that block). The
    // port takes the answer as the nap taken (see BlindNap).
    virtual std::chrono::microseconds nap_instead_of_poll() noexcept { return {}; }
    // Called once by the rx thread when it stops, before its last reads: a port that hands
    // packets over in batches (the TPACKET_V3 block the kernel is still filling) waits, bounded
    // by the batch's timeout, until what arrived before the stop has been handed over, so it is
    // recorded rather than lost uncounted with the socket.
    virtual void hand_over_partial_batch() noexcept {}
    // True when the port models a wire that cannot wait: a full ring drops. A file replayed at
    // `speed: max` is not a wire, so its rx thread waits for room instead of dropping.
    virtual bool is_wire() const noexcept { return true; }

    // Take back the buffers of `packets`; the caller owned them (PacketRef) and no longer does.
    // Called by whichever pipeline thread ends a packet's life: the writer once it copied it, a
    // worker for what the filter rejects or a full worker_to_writer ring refuses, the rx thread
    // for what a full rx_to_worker ring refuses. So several threads call it at once, each with
    // packets no other thread holds, concurrently with rx_burst(): an implementation must be
    // safe for that (DPDK: rte_pktmbuf_free_bulk; PacketArena: a flag per chunk). Never throws.
    virtual void release(std::span<const PacketRef> packets) noexcept = 0;
    // Copy all bytes of a PacketRef::multi_segment packet into dst (caplen bytes).
    virtual void copy_out(const PacketRef& packet, std::byte* dst) const noexcept;

    virtual NicCounters nic_counters() const = 0;
};

}  // namespace taprec
