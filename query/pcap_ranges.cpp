#include "query/pcap_ranges.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "drivers/pcap_format.hpp"

namespace taprec {
namespace {

constexpr size_t chunk_size = size_t{4} << 20;
constexpr uint32_t max_caplen = 262144;  // libpcap's largest snapshot

uint32_t load32(const char* p, bool swapped) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

}  // namespace

std::optional<PcapHeaderInfo> read_pcap_header(int fd) {
    char h[pcap_format::file_header_size];
    if (::pread(fd, h, sizeof h, 0) != ssize_t(sizeof h)) return std::nullopt;
    uint32_t magic;
    std::memcpy(&magic, h, 4);
    PcapHeaderInfo info;
    for (const bool swapped : {false, true}) {
        const uint32_t m = swapped ? __builtin_bswap32(magic) : magic;
        if (m != pcap_format::magic_microseconds && m != pcap_format::magic_nanoseconds) continue;
        info.swapped = swapped;
        info.nanoseconds = m == pcap_format::magic_nanoseconds;
        info.link_type = load32(h + 20, swapped) & 0x03ffffff;
        return info;
    }
    return std::nullopt;
}

PcapRanges::PcapRanges(int fd, PcapHeaderInfo header, std::vector<ByteRange> ranges)
    : fd_(fd), header_(header), ranges_(std::move(ranges)) {
    if (!ranges_.empty()) position_ = ranges_[0].begin;
}

const char* PcapRanges::bytes_at(uint64_t offset, size_t n, uint64_t limit) {
    if (offset >= buffer_offset_ && offset + n <= buffer_offset_ + buffer_length_)
        return buffer_.data() + (offset - buffer_offset_);
    const size_t want = size_t(std::min<uint64_t>(limit - offset, std::max(chunk_size, n)));
    if (want < n) return nullptr;
    if (buffer_.size() < want) buffer_.resize(want);
    size_t have = 0;
    while (have < want) {
        const ssize_t r = ::pread(fd_, buffer_.data() + have, want - have, off_t(offset + have));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        have += size_t(r);
    }
    // A record across the chunk's end is read again from its start: counted once.
    const uint64_t new_from = std::max(offset, read_end_);
    if (offset + have > new_from) bytes_read_ += offset + have - new_from;
    read_end_ = std::max(read_end_, offset + have);
    buffer_offset_ = offset;
    buffer_length_ = have;
    return have >= n ? buffer_.data() : nullptr;
}

bool PcapRanges::next(PcapRecordView& record) {
    while (range_ < ranges_.size()) {
        const ByteRange& range = ranges_[range_];
        if (position_ >= range.end) {
            if (++range_ < ranges_.size()) position_ = ranges_[range_].begin;
            continue;
        }
        const char* head = bytes_at(position_, pcap_format::record_header_size, range.end);
        if (head == nullptr) {
            damage_ = "a record header at byte " + std::to_string(position_) + " is cut short";
            return false;
        }
        const uint32_t seconds = load32(head, header_.swapped);
        const uint32_t fraction = load32(head + 4, header_.swapped);
        const uint32_t caplen = load32(head + 8, header_.swapped);
        const uint32_t len = load32(head + 12, header_.swapped);
        if (caplen > max_caplen ||
            position_ + pcap_format::record_header_size + caplen > range.end) {
            damage_ = "the record at byte " + std::to_string(position_) + " (" +
                      std::to_string(caplen) + " bytes) runs past the end";
            return false;
        }
        const char* p = bytes_at(position_, pcap_format::record_header_size + caplen, range.end);
        if (p == nullptr) {
            damage_ = "the file ends inside the record at byte " + std::to_string(position_);
            return false;
        }
        record.offset = position_;
        record.ts_ns = uint64_t(seconds) * 1'000'000'000u +
                       (header_.nanoseconds ? fraction : uint64_t(fraction) * 1000);
        record.caplen = caplen;
        record.len = len;
        record.data = p + pcap_format::record_header_size;
        position_ += pcap_format::record_header_size + caplen;
        return true;
    }
    return false;
}

}  // namespace taprec
