#include "drivers/pcap_source.hpp"

#include <pcap/pcap.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <thread>

#include "pipeline/clock_now.hpp"
#include "drivers/packet_arena.hpp"
#include "drivers/pcap_file_map.hpp"
#include "drivers/tpacket_source.hpp"

namespace taprec {
namespace {

// libpcap hands nanoseconds in tv_usec once the handle was opened with nanosecond precision.
uint64_t header_ns(const pcap_pkthdr& h) noexcept {
    return uint64_t(h.ts.tv_sec) * 1'000'000'000u + uint64_t(h.ts.tv_usec);
}

bool is_pcapng(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return false;
    unsigned char magic[4] = {};
    const size_t n = std::fread(magic, 1, 4, f);
    std::fclose(f);
    return n == 4 && magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a;
}

// A port read through libpcap (a live interface, a pcapng file), or a classic pcap file walked in
// place in a read-only mapping of it (drivers/pcap_file_map): its packets point into the mapping,
// so a replay copies nothing before the writer's one copy into the output block.
class PcapSource final : public PacketSource {
public:
    PcapSource(const PortConfig& port, const PcapSourceOptions& options) : port_(port) {
        if (port.file.empty()) {
            arena_.emplace(options.arena_bytes);
            open_live(options.snaplen);
            link_type_ = pcap_datalink(handle_);
            return;
        }
        // libpcap opens every file first: it refuses what it cannot read in its own words, and
        // says what link type the file's LINKTYPE value stands for.
        char err[PCAP_ERRBUF_SIZE] = {};
        handle_ = pcap_open_offline_with_tstamp_precision(port.file.c_str(),
                                                          PCAP_TSTAMP_PRECISION_NANO, err);
        if (handle_ == nullptr)
            throw std::runtime_error("pcap file " + port.file + ": " + err +
                                     "; give a readable pcap or pcapng file");
        link_type_ = pcap_datalink(handle_);
        pcapng_ = is_pcapng(port.file);
        next_record_offset_ = 24;  // after the pcap file header
        if (!pcapng_ && map_file()) {
            pcap_close(handle_);
            handle_ = nullptr;
            return;
        }
        arena_.emplace(options.arena_bytes);
    }

    ~PcapSource() override {
        if (handle_ != nullptr) pcap_close(handle_);
    }

    std::string describe() const override {
        if (!port_.file.empty())
            return "pcap file " + port_.file +
                   (port_.speed == ReplaySpeed::realtime ? " (realtime)" : " (max speed)");
        return describe_live_interface(port_.interface, LiveReader::libpcap);
    }
    uint16_t queue_count() const override { return 1; }
    bool has_rss() const override { return false; }
    int link_type() const override { return link_type_; }

    size_t rx_burst(uint16_t, std::span<PacketRef> out) noexcept override {
        if (at_end_.load(std::memory_order_relaxed)) return 0;
        if (port_.file.empty()) return rx_live(out);
        return records_ ? rx_mapped(out) : rx_file(out);
    }
    bool at_end() const noexcept override { return at_end_.load(std::memory_order_acquire); }
    std::string error() const override { return at_end() ? error_ : std::string(); }

    uint64_t idle_clock_ns() const noexcept override {
        // The kernel hands packets over a block at a time, a block at the latest when its timeout
        // (live_block_timeout_ms) passes: packets up to that old may still be on their way to us.
        if (port_.file.empty()) return live_idle_clock_ns();
        if (port_.speed == ReplaySpeed::realtime && replay_started_)
            return first_ts_ns_ + (monotonic_now_ns() - replay_start_mono_ns_);
        return 0;
    }
    bool can_block() const noexcept override { return port_.file.empty(); }
    int wait_fd() const noexcept override {
        return port_.file.empty() ? pcap_get_selectable_fd(handle_) : -1;
    }
    void wait_for_packets(std::chrono::microseconds max) noexcept override {
        pollfd pfd{pcap_get_selectable_fd(handle_), POLLIN, 0};
        ::poll(&pfd, 1, static_cast<int>(max.count() / 1000));
    }
    bool is_wire() const noexcept override {
        return port_.file.empty() || port_.speed == ReplaySpeed::realtime;
    }

    void release(std::span<const PacketRef> packets) noexcept override {
        if (records_) return;  // they point into the mapping, which lives as long as this source
        for (const PacketRef& p : packets) PacketArena::free(p.buffer);
    }

    void refresh_counters() noexcept override {
        if (!port_.file.empty()) return;
        pcap_stat st{};
        if (pcap_stats(handle_, &st) == 0) {
            kernel_dropped_.store(st.ps_drop, std::memory_order_relaxed);
            interface_dropped_.store(st.ps_ifdrop, std::memory_order_relaxed);
        }
    }

    NicCounters nic_counters() const override {
        NicCounters c;
        c.missed = kernel_dropped_.load(std::memory_order_relaxed) +
                   interface_dropped_.load(std::memory_order_relaxed);
        c.nombuf = nombuf_.load(std::memory_order_relaxed);
        return c;
    }

private:
    void open_live(uint32_t snaplen) {
        char err[PCAP_ERRBUF_SIZE] = {};
        const std::string& name = port_.interface;
        handle_ = pcap_create(name.c_str(), err);
        if (handle_ == nullptr) throw std::runtime_error("pcap interface " + name + ": " + err);
        pcap_set_snaplen(handle_, static_cast<int>(snaplen));
        pcap_set_promisc(handle_, 1);
        pcap_set_timeout(handle_, live_block_timeout_ms);
        pcap_set_buffer_size(handle_, 64 << 20);  // the kernel ring: the burst buffer before us
        pcap_set_tstamp_precision(handle_, PCAP_TSTAMP_PRECISION_NANO);
        const int rc = pcap_activate(handle_);
        if (rc < 0) {
            std::string msg = "pcap interface " + name + ": " + pcap_geterr(handle_);
            if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
                msg += "; check the name with `ip link`";
            else if (rc == PCAP_ERROR_PERM_DENIED)
                msg += "; run as root or grant CAP_NET_RAW and CAP_NET_ADMIN";
            pcap_close(handle_);
            handle_ = nullptr;
            throw std::runtime_error(msg);
        }
        if (pcap_setnonblock(handle_, 1, err) != 0)
            throw std::runtime_error("pcap interface " + name + ": " + err);
    }

    // Maps the file libpcap has open when PcapRecordReader reads it as libpcap would and agrees
    // with libpcap on its header; false leaves it to libpcap (a pipe, an old version, ...).
    bool map_file() {
        std::optional<MappedFile> mapping = MappedFile::map(fileno(pcap_file(handle_)));
        if (!mapping) return false;
        std::optional<PcapRecordReader> records = PcapRecordReader::open(mapping->bytes());
        if (!records || records->header().swapped != (pcap_is_swapped(handle_) != 0) ||
            records->header().snapshot() != uint32_t(pcap_snapshot(handle_)))
            return false;
        mapping_.emplace(std::move(*mapping));
        records_.emplace(*records);
        return true;
    }

    struct LiveBurst {
        PcapSource* self;
        std::span<PacketRef> out;
        size_t n;
    };

    static void on_live_packet(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
        auto* burst = reinterpret_cast<LiveBurst*>(user);
        if (burst->self->copy_in(*h, bytes, burst->out[burst->n])) ++burst->n;
    }

    size_t rx_live(std::span<PacketRef> out) noexcept {
        LiveBurst burst{this, out, 0};
        const int rc = pcap_dispatch(handle_, static_cast<int>(out.size()), on_live_packet,
                                     reinterpret_cast<u_char*>(&burst));
        if (rc == PCAP_ERROR) [[unlikely]]
            end_with_error("pcap interface " + port_.interface + ": " + pcap_geterr(handle_));
        return burst.n;
    }

    size_t rx_file(std::span<PacketRef> out) noexcept {
        size_t n = 0;
        while (n < out.size()) {
            if (!pending_) {
                if (!holding_) {
                    pcap_pkthdr* h;
                    const u_char* bytes;
                    const int rc = pcap_next_ex(handle_, &h, &bytes);
                    if (rc != 1) {
                        end_of_file(rc);
                        break;
                    }
                    ++records_read_;
                    next_record_offset_ += 16 + h->caplen;
                    held_header_ = *h;
                    held_bytes_ = bytes;  // valid until the next pcap_next_ex
                    holding_ = true;
                }
                if (!copy_in(held_header_, held_bytes_, pending_packet_)) {
                    // A wire loses the packet (counted); a file at full speed waits for room.
                    if (is_wire()) {
                        holding_ = false;
                        continue;
                    }
                    break;
                }
                holding_ = false;
                pending_ = true;
            }
            if (port_.speed == ReplaySpeed::realtime && !due(pending_packet_.ts_ns)) break;
            out[n++] = pending_packet_;
            pending_ = false;
        }
        return n;
    }

    // The file in place: no copy, no arena, so nothing ever waits for buffer room.
    size_t rx_mapped(std::span<PacketRef> out) noexcept {
        size_t n = 0;
        while (n < out.size()) {
            if (!pending_) {
                PcapRecord r;
                const PcapRecordReader::Step step = records_->next(r);
                if (step != PcapRecordReader::Step::record) [[unlikely]] {
                    end_of_mapped_file(step);
                    break;
                }
                ++records_read_;
                // See copy_in() for the wire length.
                pending_packet_ = PacketRef{r.data, nullptr, r.ts_ns, r.caplen,
                                            std::max(r.len, r.caplen), 0, 0};
                pending_ = true;
            }
            if (port_.speed == ReplaySpeed::realtime && !due(pending_packet_.ts_ns)) break;
            out[n++] = pending_packet_;
            pending_ = false;
        }
        return n;
    }

    // Realtime replay: a record is due once as much time has passed since the first record as
    // separates it from the first record in the file.
    bool due(uint64_t ts_ns) noexcept {
        const uint64_t now = monotonic_now_ns();
        if (!replay_started_) {
            replay_started_ = true;
            first_ts_ns_ = ts_ns;
            replay_start_mono_ns_ = now;
        }
        if (ts_ns <= first_ts_ns_) return true;
        return now - replay_start_mono_ns_ >= ts_ns - first_ts_ns_;
    }

    void end_of_file(int rc) noexcept {
        if (rc == PCAP_ERROR) {
            const uint64_t offset = pcapng_ ? uint64_t(std::ftell(pcap_file(handle_)))
                                            : next_record_offset_;
            end_with_error(unreadable_record(offset, pcap_geterr(handle_)));
            return;
        }
        at_end_.store(true, std::memory_order_release);
    }

    void end_of_mapped_file(PcapRecordReader::Step step) noexcept {
        if (step == PcapRecordReader::Step::damaged) {
            end_with_error(unreadable_record(records_->offset(), records_->damage()));
            return;
        }
        at_end_.store(true, std::memory_order_release);
    }

    std::string unreadable_record(uint64_t offset, const std::string& reason) const {
        return "pcap file " + port_.file + ": unreadable record at byte offset " +
               std::to_string(offset) + ", after " + std::to_string(records_read_) +
               " good packets: " + reason +
               "; the packets before it were captured, the rest of the file is skipped";
    }

    void end_with_error(std::string message) noexcept {
        error_ = std::move(message);
        at_end_.store(true, std::memory_order_release);
    }

    // One copy, out of libpcap's buffer into the arena. False when the arena is full: a wire
    // counts the packet as lost for want of a buffer.
    bool copy_in(const pcap_pkthdr& h, const u_char* bytes, PacketRef& ref) noexcept {
        std::byte* dst = arena_->allocate(h.caplen);
        if (dst == nullptr) [[unlikely]] {
            if (is_wire()) nombuf_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        std::memcpy(dst, bytes, h.caplen);
        // A damaged file can claim fewer bytes on the wire than it captured (found by
        // tests/fuzz/fuzz_pcap_reader); the frame was at least as long as what was captured, and
        // records with caplen > len are what repair and IDSes take for the end of a file.
        ref = PacketRef{dst, dst, header_ns(h), h.caplen, std::max(h.len, h.caplen), 0, 0};
        return true;
    }

    PortConfig port_;
    int link_type_ = 0;
    // A classic pcap file: its mapping (which the packets in flight point into) and the walk.
    std::optional<MappedFile> mapping_;
    std::optional<PcapRecordReader> records_;
    // Everything else: libpcap and the buffers its packets are copied into.
    std::optional<PacketArena> arena_;
    pcap_t* handle_ = nullptr;
    bool pcapng_ = false;
    std::atomic<bool> at_end_{false};
    std::string error_;

    // File replay state (rx thread only).
    uint64_t records_read_ = 0;
    uint64_t next_record_offset_ = 0;
    bool pending_ = false;  // pending_packet_ is in the arena but not due yet
    PacketRef pending_packet_{};
    bool holding_ = false;  // held_* was read from the file but has no arena room yet
    pcap_pkthdr held_header_{};
    const u_char* held_bytes_ = nullptr;
    bool replay_started_ = false;
    uint64_t first_ts_ns_ = 0;
    uint64_t replay_start_mono_ns_ = 0;

    std::atomic<uint64_t> kernel_dropped_{0};
    std::atomic<uint64_t> interface_dropped_{0};
    std::atomic<uint64_t> nombuf_{0};
};

}  // namespace

std::unique_ptr<PacketSource> open_pcap_source(const PortConfig& port,
                                               const PcapSourceOptions& options) {
    // The plan chose the reader (config/plan.cpp); the ring still checks the interface is
    // Ethernet when it opens it, and leaves it to libpcap if it is not (anything renamed since).
    if (!port.interface.empty() && options.reader != LiveReader::libpcap)
        if (std::unique_ptr<PacketSource> source = open_tpacket_source(port, TpacketOptions{}))
            return source;
    return std::make_unique<PcapSource>(port, options);
}

}  // namespace taprec
