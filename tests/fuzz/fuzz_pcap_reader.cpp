// Fuzz target: the capture file reader. The input is a capture file (pcap or pcapng, any byte
// order); it is opened the way the daemon opens a `driver: pcap, file:` port and drained with
// rx_burst() until at_end(), releasing every burst as the writer would. libpcap reads the same
// file alongside as the oracle: the port (which walks classic pcap files itself, in a mapping)
// must deliver exactly libpcap's packets and end with libpcap's complaint, if it has one.
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "pipeline/packet_ref.hpp"
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

// libpcap's reading of the same file, one packet at a time.
class Oracle {
public:
    explicit Oracle(const std::string& path) {
        char err[PCAP_ERRBUF_SIZE] = {};
        handle_ = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                          err);
    }
    ~Oracle() {
        if (handle_ != nullptr) pcap_close(handle_);
    }
    bool opened() const { return handle_ != nullptr; }

    // The port's next packet must be libpcap's next one (the port raises the wire length to
    // caplen where a record claims less).
    void expect(const taprec::PacketRef& p) {
        pcap_pkthdr* h;
        const u_char* bytes;
        if (pcap_next_ex(handle_, &h, &bytes) != 1) std::abort();
        const uint64_t ts_ns = uint64_t(h->ts.tv_sec) * 1'000'000'000u + uint64_t(h->ts.tv_usec);
        if (p.ts_ns != ts_ns || p.caplen != h->caplen || p.wire_len != std::max(h->len, h->caplen) ||
            std::memcmp(p.data, bytes, h->caplen) != 0)
            std::abort();
    }

    // The port ended with `error`: libpcap ends there too, with the same reason.
    void expect_end(const std::string& error) {
        pcap_pkthdr* h;
        const u_char* bytes;
        const int rc = pcap_next_ex(handle_, &h, &bytes);
        if (error.empty() ? rc != PCAP_ERROR_BREAK
                          : rc != PCAP_ERROR || error.find(pcap_geterr(handle_)) == std::string::npos)
            std::abort();
    }

private:
    pcap_t* handle_ = nullptr;
};

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
    Oracle oracle(port.file);
    std::unique_ptr<taprec::PacketSource> source;
    try {
        source = taprec::open_pcap_source(port, options);
    } catch (const std::exception&) {
        if (oracle.opened()) std::abort();
        return 0;  // refused with a message: the expected outcome for most inputs
    }
    if (!oracle.opened()) std::abort();
    (void)source->describe();
    (void)source->link_type();
    std::array<taprec::PacketRef, 32> burst;
    // Bounded: a source that neither delivers nor ends would hang the daemon; fail loudly here.
    for (int idle = 0; !source->at_end();) {
        const size_t n = source->rx_burst(0, burst);
        for (size_t i = 0; i < n; ++i) {
            const taprec::PacketRef& p = burst[i];
            if (p.caplen > p.wire_len && p.wire_len != 0) std::abort();
            oracle.expect(p);  // reads every byte: ASan sees a read past the mapping
        }
        source->release({burst.data(), n});
        idle = n == 0 ? idle + 1 : 0;
        if (idle > 1000) std::abort();
    }
    oracle.expect_end(source->error());
    return 0;
}
