// Fuzz target: the capture file reader. The input is a capture file (pcap or pcapng, any byte
// order); it is opened the way the daemon opens a `driver: pcap, file:` port and drained with
// rx_burst() until at_end(), releasing every burst as the writer would.
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>

#include "drivers/packet_ref.hpp"
#include "drivers/pcap_source.hpp"

namespace {

// One memory file for the whole run, rewritten per input: libpcap wants a path.
int capture_fd() {
    static const int fd = [] {
        const int f = ::memfd_create("fuzz-capture", MFD_CLOEXEC);
        if (f < 0) std::abort();
        return f;
    }();
    return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const int fd = capture_fd();
    if (::ftruncate(fd, 0) != 0) std::abort();
    for (size_t done = 0; done < size;) {
        const ssize_t n = ::pwrite(fd, data + done, size - done, off_t(done));
        if (n <= 0) std::abort();
        done += size_t(n);
    }
    taprec::PortConfig port;
    port.driver = taprec::DriverKind::pcap;
    port.file = "/proc/self/fd/" + std::to_string(fd);
    port.speed = taprec::ReplaySpeed::max;
    taprec::PcapSourceOptions options;
    options.arena_bytes = size_t{4} << 20;  // room for a few of the largest records
    std::unique_ptr<taprec::PacketSource> source;
    try {
        source = taprec::open_pcap_source(port, options);
    } catch (const std::exception&) {
        return 0;  // refused with a message: the expected outcome for most inputs
    }
    (void)source->describe();
    (void)source->link_type();
    std::array<taprec::PacketRef, 32> burst;
    // Bounded: a source that neither delivers nor ends would hang the daemon; fail loudly here.
    for (int idle = 0; !source->at_end();) {
        const size_t n = source->rx_burst(0, burst);
        for (size_t i = 0; i < n; ++i) {
            const taprec::PacketRef& p = burst[i];
            if (p.caplen > p.wire_len && p.wire_len != 0) std::abort();
            volatile std::byte sink{};
            for (std::byte b : p.head()) sink = b;
        }
        source->release({burst.data(), n});
        idle = n == 0 ? idle + 1 : 0;
        if (idle > 1000) std::abort();
    }
    (void)source->error();
    return 0;
}
