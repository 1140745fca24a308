#include "drivers/pcap_file_map.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "drivers/pcap_format.hpp"

namespace taprec {
namespace {

using pcap_format::file_header_size;
using pcap_format::magic_microseconds;
using pcap_format::magic_nanoseconds;
constexpr uint32_t record_header_size = pcap_format::record_header_size;

// LINKTYPE_* values (equal to the DLT_* values on Linux) this reader leaves to libpcap.
constexpr uint32_t linktype_pflog = 117;
constexpr uint32_t linktype_linux_sll = 113;
constexpr uint32_t linktype_usb_linux = 189;
constexpr uint32_t linktype_usb_linux_mmapped = 220;
constexpr uint32_t linktype_dbus = 231;
constexpr uint32_t linktype_nflog = 239;
constexpr uint32_t linktype_usbpcap = 249;
constexpr uint32_t linktype_linux_sll2 = 276;
constexpr uint32_t linktype_ebhscr = 279;

uint32_t load32(const std::byte* p, bool swapped) noexcept {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return swapped ? __builtin_bswap32(v) : v;
}

uint16_t load16(const std::byte* p, bool swapped) noexcept {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return swapped ? __builtin_bswap16(v) : v;
}

// Whether libpcap hands this link type's records over exactly as they are in the file. It
// rewrites the pseudo-headers of some when the file is in the other byte order, and the length
// of some Linux USB records in any file; a few link types allow records above max_caplen.
bool read_as_written(uint32_t linktype, bool swapped) noexcept {
    switch (linktype) {
    case linktype_usb_linux_mmapped:
    case linktype_dbus:
    case linktype_usbpcap:
    case linktype_ebhscr:
        return false;
    case linktype_pflog:
    case linktype_linux_sll:
    case linktype_linux_sll2:
    case linktype_usb_linux:
    case linktype_nflog:
        return !swapped;
    default:
        return true;
    }
}

}  // namespace

uint32_t PcapFileHeader::snapshot() const noexcept {
    return snaplen == 0 || snaplen > uint32_t(INT_MAX) ? max_caplen : snaplen;
}

std::optional<PcapFileHeader> parse_pcap_file_header(std::span<const std::byte> file) noexcept {
    if (file.size() < file_header_size) return std::nullopt;
    const std::byte* p = file.data();
    PcapFileHeader h;
    uint32_t magic = load32(p, false);
    if (magic != magic_microseconds && magic != magic_nanoseconds) {
        magic = __builtin_bswap32(magic);
        if (magic != magic_microseconds && magic != magic_nanoseconds) return std::nullopt;
        h.swapped = true;
    }
    h.nanoseconds = magic == magic_nanoseconds;
    h.version_major = load16(p + 4, h.swapped);
    h.version_minor = load16(p + 6, h.swapped);
    h.snaplen = load32(p + 16, h.swapped);
    h.linktype = load32(p + 20, h.swapped) & 0x03ffffff;
    return h;
}

std::optional<PcapRecordReader> PcapRecordReader::open(std::span<const std::byte> file) noexcept {
    const std::optional<PcapFileHeader> header = parse_pcap_file_header(file);
    if (!header || header->version_major != 2 || header->version_minor != 4 ||
        !read_as_written(header->linktype, header->swapped))
        return std::nullopt;
    return PcapRecordReader(file, *header);
}

PcapRecordReader::PcapRecordReader(std::span<const std::byte> file,
                                   const PcapFileHeader& header) noexcept
    : file_(file), header_(header), snapshot_(header.snapshot()), offset_(file_header_size) {}

PcapRecordReader::Step PcapRecordReader::fail(const char* format, uint64_t expected,
                                              uint64_t got) noexcept {
    std::snprintf(damage_, sizeof damage_, format, static_cast<unsigned long long>(expected),
                  static_cast<unsigned long long>(got));
    return Step::damaged;
}

PcapRecordReader::Step PcapRecordReader::next(PcapRecord& record) noexcept {
    if (damage_[0] != '\0') [[unlikely]]
        return Step::damaged;
    // offset_ never passes the end: a record is only stepped over once all of it is there.
    const uint64_t left = file_.size() - offset_;
    if (left < record_header_size) [[unlikely]] {
        if (left == 0) return Step::end;
        return fail("truncated dump file; tried to read %llu header bytes, only got %llu",
                    record_header_size, left);
    }
    const std::byte* h = file_.data() + offset_;
    const bool swapped = header_.swapped;
    const uint32_t sec = load32(h, swapped);
    const uint32_t frac = load32(h + 4, swapped);
    const uint32_t caplen = load32(h + 8, swapped);
    const uint32_t len = load32(h + 12, swapped);

    // libpcap's checks and words, in its order.
    if (caplen > PcapFileHeader::max_caplen) [[unlikely]] {
        if (caplen > snapshot_)
            return fail("invalid packet capture length %llu, bigger than snaplen of %llu", caplen,
                        snapshot_);
        return fail("invalid packet capture length %llu, bigger than maximum of %llu", caplen,
                    PcapFileHeader::max_caplen);
    }
    const uint64_t body = left - record_header_size;
    uint32_t delivered = caplen;
    if (caplen > snapshot_) [[unlikely]] {
        // Longer than the file's snaplen but not beyond the limit: libpcap hands over the first
        // snapshot bytes and skips the rest.
        if (body < snapshot_)
            return fail("truncated dump file; tried to read %llu captured bytes, only got %llu",
                        snapshot_, body);
        delivered = snapshot_;
    }
    if (body < caplen) [[unlikely]]
        return fail("truncated dump file; tried to read %llu captured bytes, only got %llu", caplen,
                    body);

    // libpcap 1.10 reads the stamp into signed 32-bit fields, but its byte swap yields unsigned
    // ones: a second or fraction with the top bit set (past 2038, or damage) is negative in a
    // file of this host's byte order and positive in the other. The sums wrap as libpcap's
    // timeval does when taprec turns it into nanoseconds (drivers/pcap_source.cpp).
    const uint64_t seconds = swapped ? uint64_t(sec) : uint64_t(int64_t(int32_t(sec)));
    const uint64_t fraction = swapped ? uint64_t(frac) : uint64_t(int64_t(int32_t(frac)));
    record.data = h + record_header_size;
    record.ts_ns = seconds * 1'000'000'000u + (header_.nanoseconds ? fraction : fraction * 1000u);
    record.caplen = delivered;
    record.len = len;
    offset_ += record_header_size + caplen;
    return Step::record;
}

std::optional<MappedFile> MappedFile::map(int fd) noexcept {
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) > SIZE_MAX)
        return std::nullopt;
    const size_t size = size_t(st.st_size);
    if (size == 0) return MappedFile(nullptr, 0);  // mmap refuses a length of 0
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return std::nullopt;
    // Read ahead hard and drop pages behind: a replay walks the file once, front to back.
    ::madvise(p, size, MADV_SEQUENTIAL);
    return MappedFile(static_cast<const std::byte*>(p), size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept : base_(other.base_), size_(other.size_) {
    other.base_ = nullptr;
    other.size_ = 0;
}

MappedFile::~MappedFile() {
    if (base_ != nullptr) ::munmap(const_cast<std::byte*>(base_), size_);
}

}  // namespace taprec
