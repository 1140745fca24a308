#include "drivers/tpacket_source.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "drivers/tpacket_ring.hpp"
#include "pipeline/clock_now.hpp"

namespace taprec {
namespace {

// A socket, closed however the constructor ends.
class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    Socket& operator=(Socket&&) = delete;
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

// ARPHRD_* of `interface` in this process's network namespace, asked through any socket `fd`;
// nothing for a name that is no interface here (libpcap's own devices, such as any).
std::optional<uint16_t> hardware_type(int fd, const std::string& interface) {
    ifreq request{};
    std::strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFHWADDR, &request) != 0) return std::nullopt;
    return request.ifr_hwaddr.sa_family;
}

// One of the interface's sysfs statistics, kept open: each read at offset 0 is a fresh value, with
// no path to walk. 0 when the driver does not keep it.
class InterfaceStatistic {
public:
    InterfaceStatistic(const std::string& interface, const char* name)
        : fd_(::open(("/sys/class/net/" + interface + "/statistics/" + name).c_str(),
                     O_RDONLY | O_CLOEXEC)) {}
    ~InterfaceStatistic() {
        if (fd_ >= 0) ::close(fd_);
    }
    InterfaceStatistic(const InterfaceStatistic&) = delete;
    InterfaceStatistic& operator=(const InterfaceStatistic&) = delete;

    uint64_t read() const noexcept {
        char text[32];
        const ssize_t n = fd_ < 0 ? -1 : ::pread(fd_, text, sizeof text - 1, 0);
        if (n <= 0) return 0;
        text[n] = '\0';
        return std::strtoull(text, nullptr, 10);
    }

private:
    int fd_;
};

// The ring's memory, unmapped however the constructor ends.
struct RingMapping {
    std::byte* base = nullptr;
    size_t bytes = 0;
    RingMapping() = default;
    RingMapping(const RingMapping&) = delete;
    RingMapping& operator=(const RingMapping&) = delete;
    ~RingMapping() {
        if (base != nullptr) ::munmap(base, bytes);
    }
};

class TpacketSource final : public PacketSource {
public:
    TpacketSource(const PortConfig& port, const TpacketOptions& options, Socket socket)
        : port_(port), fd_(std::move(socket)) {
        const uint32_t block_size = options.block_size;
        const uint32_t block_count =
            static_cast<uint32_t>(std::max<size_t>(2, options.ring_bytes / block_size));
        set_option(PACKET_VERSION, int{TPACKET_V3}, "TPACKET_V3");
        // Room before each frame to put a VLAN tag back (see TpacketRing).
        set_option(PACKET_RESERVE, unsigned{4}, "PACKET_RESERVE");
        tpacket_req3 request{};
        request.tp_block_size = block_size;
        request.tp_block_nr = block_count;
        request.tp_frame_size = TPACKET_ALIGNMENT << 7;  // only checked by the kernel for V3
        request.tp_frame_nr = block_size / request.tp_frame_size * block_count;
        request.tp_retire_blk_tov = live_block_timeout_ms;
        set_option(PACKET_RX_RING, request, "a receive ring of " +
                                                std::to_string(options.ring_bytes >> 20) + " MiB");
        const size_t bytes = size_t{block_size} * block_count;
        void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                            fd_.get(), 0);
        if (base == MAP_FAILED) fail("mapping its receive ring");
        mapping_.base = static_cast<std::byte*>(base);
        mapping_.bytes = bytes;
        ring_.emplace(TpacketRing::Geometry{mapping_.base, block_size, block_count});

        // Bound last: packets start to arrive from here on, straight into the ring.
        sockaddr_ll address{};
        address.sll_family = AF_PACKET;
        address.sll_protocol = htons(ETH_P_ALL);
        address.sll_ifindex = static_cast<int>(::if_nametoindex(port_.interface.c_str()));
        if (address.sll_ifindex == 0 ||
            ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            fail("binding to it");
        packet_mreq promiscuous{};
        promiscuous.mr_ifindex = address.sll_ifindex;
        promiscuous.mr_type = PACKET_MR_PROMISC;
        if (::setsockopt(fd_.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &promiscuous,
                         sizeof promiscuous) != 0)
            fail("switching it to promiscuous mode");
        interface_drops_at_open_ = interface_drops();
    }

    std::string describe() const override {
        return describe_live_interface(port_.interface, LiveReader::tpacket_ring, mapping_.bytes);
    }
    uint16_t queue_count() const override { return 1; }
    bool has_rss() const override { return false; }
    int link_type() const override { return 1; }  // DLT_EN10MB

    size_t rx_burst(uint16_t, std::span<PacketRef> out) noexcept override {
        const size_t n = ring_->take(out);
        if (n != 0) nap_.packets_arrived();
        return n;
    }
    bool at_end() const noexcept override { return at_end_.load(std::memory_order_acquire); }
    std::string error() const override { return at_end() ? error_ : std::string(); }

    uint64_t idle_clock_ns() const noexcept override { return live_idle_clock_ns(); }
    bool can_block() const noexcept override { return true; }
    int wait_fd() const noexcept override { return fd_.get(); }
    std::chrono::microseconds nap_instead_of_poll() noexcept override {
        return ring_->last_filled_block_held() ? nap_.take() : std::chrono::microseconds(0);
    }

    void wait_for_packets(std::chrono::microseconds max) noexcept override {
        if (ring_->ready()) return;
        if (ring_->last_filled_block_held()) {
            std::this_thread::sleep_for(std::min(max, nap_.take()));
            return;
        }
        pollfd pfd{fd_.get(), POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(max.count() / 1000)) > 0 &&
            (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
            end_on_socket_error();
    }

    void look_for_error() noexcept override {
        pollfd pfd{fd_.get(), POLLIN, 0};
        if (::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
            end_on_socket_error();
    }

    void hand_over_partial_batch() noexcept override {
        // The kernel closes a block with packets in it once the block timeout passes.
        const uint64_t deadline = monotonic_now_ns() + (live_block_timeout_ms + 20) * 1'000'000ull;
        while (!ring_->ready() && ring_->kernel_filling_packets() && monotonic_now_ns() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }

    void release(std::span<const PacketRef> packets) noexcept override {
        TpacketRing::release(packets);
    }

    // The kernel's counters cost a system call and two sysfs reads. The rx thread reads them
    // when it refreshes (now and then, and when it stops); the control thread, which asks for
    // each counter in turn, reads them again when its copy is older than counters_max_age_ns.
    void refresh_counters() noexcept override {
        std::lock_guard lock(counters_mutex_);
        read_counters();
    }
    NicCounters nic_counters() const override {
        std::lock_guard lock(counters_mutex_);
        if (monotonic_now_ns() - counters_read_ns_ > counters_max_age_ns) read_counters();
        return counters_;
    }

private:
    template <typename T>
    void set_option(int option, const T& value, const std::string& what) {
        if (::setsockopt(fd_.get(), SOL_PACKET, option, &value, sizeof value) != 0)
            fail("setting up " + what);
    }

    [[noreturn]] void fail(const std::string& step) const {
        const int error = errno;
        std::string message = "pcap interface " + port_.interface + ": " + step + ": " +
                              std::strerror(error);
        if (error == EPERM || error == EACCES)
            message += "; run as root or grant CAP_NET_RAW and CAP_NET_ADMIN";
        else if (error == ENODEV || error == ENXIO)
            message += "; check the name with `ip link`";
        else if (error == ENOMEM || error == EAGAIN)
            message += "; the kernel could not give the ring that much memory";
        throw std::runtime_error(message);
    }

    // The kernel reports ENETDOWN both when the interface goes down and when it is deleted. Down
    // is a link flap a sensor outlives: the socket stays bound and captures again once the link
    // is up (reading SO_ERROR cleared the error). Deleted ends the port, in libpcap's words.
    void end_on_socket_error() noexcept {
        int error = 0;
        socklen_t length = sizeof error;
        if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error == 0)
            return;
        if (error == ENETDOWN && ::if_nametoindex(port_.interface.c_str()) != 0) return;
        error_ = "pcap interface " + port_.interface + ": " +
                 (error == ENETDOWN ? std::string("The interface disappeared") : std::strerror(error));
        at_end_.store(true, std::memory_order_release);
    }

    void read_counters() const noexcept {
        tpacket_stats_v3 stats{};
        socklen_t length = sizeof stats;
        // Read and reset by the kernel, so summed here.
        if (::getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0)
            ring_dropped_ += stats.tp_drops;
        const uint64_t nic = interface_drops();
        counters_.missed =
            ring_dropped_ + (nic > interface_drops_at_open_ ? nic - interface_drops_at_open_ : 0);
        counters_read_ns_ = monotonic_now_ns();
    }

    static constexpr uint64_t counters_max_age_ns = 100'000'000;

    // What the NIC lost before the kernel saw it, as libpcap's ps_ifdrop counts it.
    uint64_t interface_drops() const noexcept {
        return rx_missed_errors_.read() + rx_fifo_errors_.read();
    }

    PortConfig port_;
    Socket fd_;
    RingMapping mapping_;  // after fd_: unmapped before the socket closes
    InterfaceStatistic rx_missed_errors_{port_.interface, "rx_missed_errors"};
    InterfaceStatistic rx_fifo_errors_{port_.interface, "rx_fifo_errors"};
    std::optional<TpacketRing> ring_;
    BlindNap nap_;  // rx thread only
    std::atomic<bool> at_end_{false};
    std::string error_;
    uint64_t interface_drops_at_open_ = 0;
    mutable std::mutex counters_mutex_;
    mutable uint64_t ring_dropped_ = 0;  // PACKET_STATISTICS tp_drops, summed
    mutable NicCounters counters_;
    mutable uint64_t counters_read_ns_ = 0;
};

}  // namespace

std::map<std::string, uint16_t> interface_hardware_types() {
    std::map<std::string, uint16_t> types;
    // A datagram socket needs no privilege, and asks the namespace the capture will run in
    // (sysfs may show another one: nsenter without remounting /sys).
    Socket socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (socket.get() < 0) return types;
    struct if_nameindex* names = ::if_nameindex();
    if (names == nullptr) return types;
    for (const struct if_nameindex* n = names; n->if_index != 0; ++n)
        if (const std::optional<uint16_t> type = hardware_type(socket.get(), n->if_name))
            types[n->if_name] = *type;
    ::if_freenameindex(names);
    return types;
}

std::unique_ptr<PacketSource> open_tpacket_source(const PortConfig& port,
                                                  const TpacketOptions& options) {
    Socket socket(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (socket.get() < 0) {
        const int error = errno;
        throw std::runtime_error("pcap interface " + port.interface + ": opening a packet socket: " +
                                 std::strerror(error) +
                                 (error == EPERM ? "; run as root or grant CAP_NET_RAW and CAP_NET_ADMIN"
                                                 : ""));
    }
    if (hardware_type(socket.get(), port.interface) != ARPHRD_ETHER) return nullptr;  // libpcap's
    return std::make_unique<TpacketSource>(port, options, std::move(socket));
}

}  // namespace taprec
