#include "drivers/dpdk_port.hpp"

#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <array>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include "config/limits.hpp"
#include "drivers/af_packet_sockets.hpp"
#include "drivers/dpdk_api.hpp"
#include "drivers/dpdk_clock.hpp"
#include "config/dpdk_device.hpp"
#include "drivers/dpdk_eal.hpp"
#include "drivers/dpdk_mempool.hpp"
#include "drivers/dpdk_replay.hpp"
#include "drivers/dpdk_queues.hpp"
#include "drivers/dpdk_rss.hpp"
#include "config/queue_plan.hpp"

namespace taprec {
namespace {

constexpr uint16_t max_burst = 64;
constexpr uint16_t max_queues = limits::max_workers;
constexpr uint32_t tx_descriptors = 512;     // unused: a tap port never sends; some PMDs want one
constexpr uint64_t replay_stall_ns = 1'000'000'000;  // EOF fallback, see DpdkPort::on_empty_poll

// The tap's other port, when it is a DPDK port already opened by EAL.
std::optional<rte_eth_dev_info> device_info(const std::string& device) {
    uint16_t port_id;
    rte_eth_dev_info info{};
    if (device.empty() ||
        rte_eth_dev_get_port_by_name(parse_dpdk_device(device).name.c_str(), &port_id) != 0 ||
        rte_eth_dev_info_get(port_id, &info) != 0)
        return std::nullopt;
    return info;
}

// The bytes the mbuf chain really holds, at most pkt_len. They can be fewer: Debian's 22.11
// net_pcap sets pkt_len to a record's full length but copies only its length mod 65536 into the
// chain (a uint16_t in eth_pcap_rx_jumbo), so an 80 KB frame carries 14,530 bytes. Writing
// pkt_len bytes would put whatever follows in the file; this makes it a truncated record instead.
uint32_t captured_bytes(const rte_mbuf* m) noexcept {
    if (m->nb_segs == 1) [[likely]]
        return std::min<uint32_t>(m->pkt_len, m->data_len);
    uint32_t sum = 0;
    for (const rte_mbuf* s = m; s != nullptr; s = s->next) sum += s->data_len;
    return std::min(sum, m->pkt_len);
}

// Registers the calling thread with EAL once, so it gets an lcore id and with it a mempool cache
// (the rx threads and the writer are plain std::threads). Without it, mbufs still come and go
// through the pool's ring, only slower.
void register_thread_once() noexcept {
    thread_local bool done = false;
    if (done) [[likely]]
        return;
    done = true;
    if (rte_lcore_id() == LCORE_ID_ANY) rte_thread_register();
}

class DpdkPort final : public PacketSource {
public:
    DpdkPort(const PortConfig& port, const PortOptions& options, const PortPlan& plan)
        : device_(parse_dpdk_device(port.device)) {
        const std::string tap_key = plan.key.substr(0, plan.key.find('.'));
        what_ = "port " + device_.name;
        if (rte_eth_dev_get_port_by_name(device_.name.c_str(), &port_id_) != 0)
            throw std::runtime_error("dpdk device " + port.device + ": no such DPDK port");
        rte_eth_dev_info info{};
        if (int rc = rte_eth_dev_info_get(port_id_, &info); rc != 0)
            throw std::runtime_error(what_ + ": cannot read device info: " + rte_strerror(-rc));
        driver_ = info.driver_name != nullptr ? info.driver_name : "?";

        // Replayed capture file (net_pcap rx_pcap=): lossless, ends at the end of the file.
        if (const auto file = device_.arg("rx_pcap"); device_.driver == "net_pcap" && file) {
            replay_ = true;
            replay_file_ = *file;
            try {
                scan_ = scan_capture_file(*file);
            } catch (const std::exception& e) {
                throw std::runtime_error("dpdk device " + port.device + ": " + e.what());
            }
            infinite_ = device_.arg("infinite_rx").value_or("0") != "0";
        }
        link_type_ = replay_ ? scan_.link_type : DLT_EN10MB;

        // Queues: every RX queue the device has is polled (queue_plan.hpp); queue i feeds worker
        // i where both ports of the tap steer flows alike.
        const std::optional<rte_eth_dev_info> peer_info = device_info(plan.peer_device);
        const PortQueueSetup queues = settle_queues(plan, port.device, what_, info, peer_info);
        queues_ = queues.queues;
        rss_ = queues.rss;
        by_queue_ = queues.by_queue;
        steering_ = queues.steering;
        const uint32_t workers = queues.workers;

        nb_rxd_ = static_cast<uint16_t>(std::min<uint32_t>(plan.rx_descriptors, UINT16_MAX));
        uint16_t nb_txd = tx_descriptors;
        rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &nb_rxd_, &nb_txd);
        PortPlan adjusted = plan;
        adjusted.rx_descriptors = nb_rxd_;
        // A replay waits for free mbufs rather than dropping (see rx_burst): a short pool only
        // slows it down.
        std::string pool_warning = check_pool_size(what_, adjusted, queues_, workers);
        if (!replay_) setup_warning_ = std::move(pool_warning);
        int socket = rte_eth_dev_socket_id(port_id_);
        if (socket < 0) socket = SOCKET_ID_ANY;
        pool_ = create_port_pool("taprec_p" + std::to_string(port_id_), plan.mbufs, plan.cache,
                                 socket, what_);
        segs_per_frame_ = std::max<uint32_t>(1, (std::max(scan_.max_caplen, 1u) + mbuf_data_room - 1) /
                                                    mbuf_data_room);

        const PortClockChoice clock =
            choose_port_clock(options.timestamps, tap_key, what_, info, peer_info);
        clock_ = clock.clock;
        if (clock.timestamp_offload) rx_offloads_ |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
        try {
            configure(info, socket);
        } catch (...) {
            rte_mempool_free(pool_);
            throw;
        }
        if (driver_ == "net_af_packet") {
            af_packet_ = AfPacketSockets(int(info.if_index));
            refresh_counters();
        }
        describe_ = describe_port();
    }

    ~DpdkPort() override {
        rte_eth_dev_stop(port_id_);
        rte_eth_dev_close(port_id_);
        rte_mempool_free(pool_);
    }

    std::string describe() const override { return describe_; }
    std::string setup_warning() const override { return setup_warning_; }
    uint16_t queue_count() const override { return queues_; }
    bool has_rss() const override { return by_queue_; }
    int link_type() const override { return link_type_; }
    bool is_wire() const noexcept override { return !replay_; }

    size_t rx_burst(uint16_t queue, std::span<PacketRef> out) noexcept override {
        if (at_end_.load(std::memory_order_relaxed)) return 0;
        register_thread_once();
        if (clock_ == PortClock::device_ticks && queue == 0) steer_device_clock(rte_rdtsc());
        const uint16_t want = static_cast<uint16_t>(std::min<size_t>(out.size(), max_burst));
        // A replay never drops: it waits until the pool holds a whole burst of the file's largest
        // frames, since net_pcap reads a record before it knows whether it has an mbuf for it.
        if (replay_ && rte_mempool_avail_count(pool_) < uint32_t(want) * segs_per_frame_) return 0;
        std::array<rte_mbuf*, max_burst> mbufs;
        const uint16_t n = rte_eth_rx_burst(port_id_, queue, mbufs.data(), want);
        if (n == 0) {
            on_empty_poll();
            return 0;
        }
        idle_since_tsc_ = 0;
        uint64_t ts = clock_ == PortClock::tsc ? tsc_.to_ns(rte_rdtsc()) : 0;
        uint64_t& last = last_ts_[queue % max_queues];
        for (uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = mbufs[i];
            if (clock_ != PortClock::tsc) {
                // A packet without the driver's stamp keeps its predecessor's, so the queue stays
                // in order on one clock.
                if (m->ol_flags & ts_flag_) last = driver_ns(*RTE_MBUF_DYNFIELD(m, ts_offset_, uint64_t*));
                ts = last;
            }
            out[i] = PacketRef{rte_pktmbuf_mtod(m, const std::byte*), m, ts, captured_bytes(m),
                               m->pkt_len, 0,
                               m->nb_segs > 1 ? PacketRef::multi_segment : uint16_t(0)};
        }
        return n;
    }

    bool at_end() const noexcept override { return at_end_.load(std::memory_order_acquire); }
    std::string error() const override { return at_end() ? error_ : std::string(); }

    uint64_t idle_clock_ns() const noexcept override {
        switch (clock_) {
        case PortClock::tsc: return tsc_.peek_ns(rte_rdtsc());
        case PortClock::device_ticks: return realtime_now_ns();
        default: return replay_ ? 0 : realtime_now_ns();  // file time has no "now"
        }
    }

    void refresh_counters() noexcept override {
        rte_eth_stats st{};
        if (rte_eth_stats_get(port_id_, &st) != 0) return;
        stats_ = st;
        if (af_packet_.count() != 0) {
            const AfPacketCounts c = af_packet_.take();
            af_packet_dropped_ += c.dropped;
            rolled_over_.store(rolled_over_.load(std::memory_order_relaxed) + c.rolled_over,
                               std::memory_order_relaxed);
        }
        missed_.store(st.imissed + af_packet_dropped_, std::memory_order_relaxed);
        errors_.store(st.ierrors, std::memory_order_relaxed);
        nombuf_.store(st.rx_nombuf, std::memory_order_relaxed);
    }

    void release(std::span<const PacketRef> packets) noexcept override {
        register_thread_once();
        std::array<rte_mbuf*, max_burst> mbufs;
        while (!packets.empty()) {
            const size_t n = std::min<size_t>(packets.size(), max_burst);
            for (size_t i = 0; i < n; ++i) mbufs[i] = static_cast<rte_mbuf*>(packets[i].buffer);
            rte_pktmbuf_free_bulk(mbufs.data(), static_cast<unsigned>(n));
            packets = packets.subspan(n);
        }
    }

    void copy_out(const PacketRef& packet, std::byte* dst) const noexcept override {
        uint32_t left = packet.caplen;  // the worker may have cut it to the snaplen
        for (const rte_mbuf* m = static_cast<const rte_mbuf*>(packet.buffer); m != nullptr && left != 0;
             m = m->next) {
            const uint32_t n = std::min<uint32_t>(left, m->data_len);
            std::memcpy(dst, rte_pktmbuf_mtod(m, const std::byte*), n);
            dst += n;
            left -= n;
        }
    }

    NicCounters nic_counters() const override {
        NicCounters c;
        c.missed = missed_.load(std::memory_order_relaxed);
        c.errors = errors_.load(std::memory_order_relaxed);
        c.nombuf = nombuf_.load(std::memory_order_relaxed);
        c.rolled_over = rolled_over_.load(std::memory_order_relaxed);
        const ClockSteeringCounters& clock =
            clock_ == PortClock::device_ticks ? device_clock_.counters() : tsc_.counters();
        c.clock_steers = clock.steers.get();
        c.clock_corrected_ns = clock.corrected_ns.get();
        c.clock_steps = clock.steps.get();
        return c;
    }

private:
    void configure(const rte_eth_dev_info& info, int socket) {
        rte_eth_conf conf{};
        std::vector<uint8_t> key;
        if (rss_) {
            key = symmetric_rss_key(info.hash_key_size);
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = key.data();
            conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(key.size());
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hash_types(info.flow_type_rss_offloads);
        }
        scatter_ = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) != 0;
        if (scatter_) rx_offloads_ |= RTE_ETH_RX_OFFLOAD_SCATTER;
        conf.rxmode.offloads = rx_offloads_;

        // The largest MTU the port takes. Without scattered RX a frame must fit one mbuf, except
        // on net_pcap, which chains mbufs itself.
        const uint32_t overhead = (info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu)
                                      ? info.max_rx_pktlen - info.max_mtu
                                      : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
        uint32_t mtu = info.max_mtu;
        if (info.max_rx_pktlen > overhead) mtu = std::min(mtu, info.max_rx_pktlen - overhead);
        if (!scatter_ && driver_ != "net_pcap") mtu = std::min(mtu, mbuf_data_room - overhead);
        mtu = std::max<uint32_t>(mtu, info.min_mtu);
        conf.rxmode.mtu = mtu;
        int rc = rte_eth_dev_configure(port_id_, queues_, 1, &conf);
        if (rc != 0 && mtu != RTE_ETHER_MTU) {
            conf.rxmode.mtu = mtu = RTE_ETHER_MTU;
            rc = rte_eth_dev_configure(port_id_, queues_, 1, &conf);
        }
        if (rc != 0)
            throw std::runtime_error(what_ + ": cannot configure " + std::to_string(queues_) +
                                     " RX queue(s): " + rte_strerror(-rc));
        mtu_ = mtu;
        uint16_t nb_txd = tx_descriptors;
        rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &nb_rxd_, &nb_txd);
        rte_eth_rxconf rxconf = info.default_rxconf;
        rxconf.offloads = conf.rxmode.offloads;
        for (uint16_t q = 0; q < queues_; ++q) {
            rc = rte_eth_rx_queue_setup(port_id_, q, nb_rxd_, static_cast<unsigned>(socket), &rxconf,
                                        pool_);
            if (rc != 0)
                throw std::runtime_error(what_ + ": cannot set up RX queue " + std::to_string(q) +
                                         " with " + std::to_string(nb_rxd_) + " descriptors: " +
                                         rte_strerror(-rc) + "; check dpdk.rx_descriptors");
        }
        rc = rte_eth_tx_queue_setup(port_id_, 0, nb_txd, static_cast<unsigned>(socket), nullptr);
        if (rc != 0)
            throw std::runtime_error(what_ + ": cannot set up its TX queue: " + rte_strerror(-rc));

        if (rss_ && info.reta_size > 0) {
            std::vector<rte_eth_rss_reta_entry64> reta(std::max<size_t>(1, info.reta_size / RTE_ETH_RETA_GROUP_SIZE));
            for (uint32_t i = 0; i < info.reta_size; ++i) {
                auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
                group.mask |= uint64_t(1) << (i % RTE_ETH_RETA_GROUP_SIZE);
                group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = reta_queue(i, queues_);
            }
            rte_eth_dev_rss_reta_update(port_id_, reta.data(), info.reta_size);
        }

        if (clock_ != PortClock::tsc) {
            if (rte_mbuf_dyn_rx_timestamp_register(&ts_offset_, &ts_flag_) != 0)
                throw std::runtime_error(what_ + ": cannot register the RX timestamp field: " +
                                         std::string(rte_strerror(rte_errno)));
        }
        rc = rte_eth_dev_start(port_id_);
        if (rc != 0) throw std::runtime_error(what_ + ": cannot start: " + rte_strerror(-rc));
        promiscuous_ = rte_eth_promiscuous_enable(port_id_) == 0;
        if (clock_ == PortClock::device_ticks && !device_clock_.calibrate(port_id_)) {
            rte_eth_dev_stop(port_id_);
            throw std::runtime_error(what_ + ": the NIC cannot read its clock to convert its "
                                     "timestamps; set the tap's timestamps to software or auto");
        }
        // The first steer a whole period after the calibration: a rate measured over less is noise.
        next_steer_tsc_ = rte_rdtsc() + TscClock::tsc_hz();
        refresh_counters();
    }

    std::string describe_port() const {
        rte_eth_link link{};
        char link_text[RTE_ETH_LINK_MAX_STR_LEN] = "link unknown";
        if (rte_eth_link_get_nowait(port_id_, &link) == 0)
            rte_eth_link_to_str(link_text, sizeof link_text, &link);
        std::string s = "dpdk " + device_.name + " (" + driver_;
        if (replay_)
            s += ", replaying " + replay_file_ + ": " + std::to_string(scan_.records) + " records";
        s += "; " + std::string(link_text) + "; " + std::to_string(queues_) +
             (queues_ == 1 ? " queue" : " queues") +
             (by_queue_ ? ", one per worker by " + std::string(name_of(steering_)) : ", software flow hash") +
             "; MTU " + std::to_string(mtu_) + (scatter_ ? ", scattered rx" : "") +
             (promiscuous_ ? ", promiscuous" : "") + "; timestamps: " + std::string(name_of(clock_)) +
             ")";
        return s;
    }

    uint64_t driver_ns(uint64_t value) const noexcept {
        switch (clock_) {
        case PortClock::epoch_usec: return value * 1000;
        case PortClock::epoch_nsec: return value;
        case PortClock::device_ticks: return device_clock_.to_ns(value);
        default: return value;
        }
    }

    // Counters now and then while idle; for a replay, the end-of-file rule (dpdk_replay.hpp):
    // every record accounted for, or (should the driver lose one without counting it) no
    // progress for replay_stall_ns of empty polls.
    // Once a second, from the thread that polls queue 0, busy or idle, keep the NIC clock on
    // CLOCK_REALTIME (dpdk_clock.hpp, SteeredClock).
    void steer_device_clock(uint64_t now_tsc) noexcept {
        if (now_tsc < next_steer_tsc_) return;
        next_steer_tsc_ = now_tsc + TscClock::tsc_hz() * (DeviceClock::steer_period_ns / 1'000'000) / 1000;
        device_clock_.steer();
    }

    void on_empty_poll() noexcept {
        const uint64_t now = rte_rdtsc();
        if (!replay_) {
            if (now >= next_refresh_tsc_) {
                next_refresh_tsc_ = now + TscClock::tsc_hz() / 10;
                refresh_counters();
            }
            return;
        }
        refresh_counters();
        if (infinite_) return;
        const bool done = replay_exhausted(scan_.records, stats_.ipackets, stats_.rx_nombuf,
                                           stats_.ierrors);
        if (!done) {
            if (idle_since_tsc_ == 0 || stats_.ipackets != idle_ipackets_) {
                idle_since_tsc_ = now;
                idle_ipackets_ = stats_.ipackets;
                return;
            }
            if (now - idle_since_tsc_ < TscClock::tsc_hz() * replay_stall_ns / 1'000'000'000) return;
            error_ = "rx_pcap " + replay_file_ + ": net_pcap stopped after " +
                     std::to_string(stats_.ipackets) + " of " + std::to_string(scan_.records) +
                     " records";
        } else if (!scan_.damage.empty()) {
            error_ = "rx_pcap " + replay_file_ + ": damaged record after " +
                     std::to_string(scan_.records) + " packets: " + scan_.damage;
        }
        at_end_.store(true, std::memory_order_release);
    }

    DpdkDevice device_;
    std::string what_;
    std::string driver_;
    std::string describe_;
    std::string setup_warning_;
    uint16_t port_id_ = 0;
    rte_mempool* pool_ = nullptr;
    uint16_t queues_ = 1;
    bool rss_ = false;       // the NIC's RSS is configured with the symmetric key
    bool by_queue_ = false;  // queue i feeds worker i (TapQueuePlan::by_queue)
    QueueSteering steering_ = QueueSteering::single;
    bool scatter_ = false;
    bool promiscuous_ = false;
    uint32_t mtu_ = 0;
    uint16_t nb_rxd_ = 0;
    uint64_t rx_offloads_ = 0;
    int link_type_ = DLT_EN10MB;

    bool replay_ = false;
    bool infinite_ = false;
    std::string replay_file_;
    CaptureScan scan_;
    uint32_t segs_per_frame_ = 1;

    PortClock clock_ = PortClock::tsc;
    int ts_offset_ = -1;
    uint64_t ts_flag_ = 0;
    DeviceClock device_clock_;

    // rx thread only.
    TscClock tsc_;
    std::array<uint64_t, max_queues> last_ts_{};
    uint64_t next_refresh_tsc_ = 0;
    uint64_t idle_since_tsc_ = 0;
    uint64_t next_steer_tsc_ = 0;
    uint64_t idle_ipackets_ = 0;
    rte_eth_stats stats_{};
    std::string error_;  // written before at_end_ is released

    std::atomic<bool> at_end_{false};
    alignas(64) std::atomic<uint64_t> missed_{0};
    std::atomic<uint64_t> errors_{0};
    std::atomic<uint64_t> nombuf_{0};
    std::atomic<uint64_t> rolled_over_{0};
    AfPacketSockets af_packet_;     // net_af_packet: the kernel's counters of its sockets
    uint64_t af_packet_dropped_ = 0;
};

}  // namespace

std::unique_ptr<PacketSource> open_dpdk_port(const PortConfig& port, const PortOptions& options) {
    if (!dpdk_started() || options.plan == nullptr)
        throw std::runtime_error("dpdk device " + port.device + ": DPDK is not started; the daemon "
                                 "starts it from the plan when the configuration has dpdk ports");
    return std::make_unique<DpdkPort>(port, options, *options.plan);
}

}  // namespace taprec
