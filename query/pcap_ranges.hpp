// PcapRanges: the records of chosen byte ranges of a classic pcap file, read with pread (not a
// mapping: a file cut while it is read gives a short read, never SIGBUS) in large chunks.
// Each range starts at a record and holds whole records (index entries, or a whole file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taprec {

struct PcapHeaderInfo {
    bool swapped = false;      // written in the other byte order
    bool nanoseconds = false;
    uint32_t link_type = 0;
};

// The classic pcap header of the file open on `fd`; nullopt when it has none.
std::optional<PcapHeaderInfo> read_pcap_header(int fd);

struct ByteRange {
    uint64_t begin = 0;
    uint64_t end = 0;
};

struct PcapRecordView {
    uint64_t offset = 0;   // of the record header in the file
    uint64_t ts_ns = 0;
    uint32_t caplen = 0;
    uint32_t len = 0;
    const char* data = nullptr;  // caplen bytes, valid until the next call of next()
};

class PcapRanges {
public:
    PcapRanges(int fd, PcapHeaderInfo header, std::vector<ByteRange> ranges);
    // The next record, false at the end or at damage (then damage() says what and where).
    bool next(PcapRecordView& record);
    const std::string& damage() const noexcept { return damage_; }
    uint64_t bytes_read() const noexcept { return bytes_read_; }

private:
    const char* bytes_at(uint64_t offset, size_t n, uint64_t limit);

    int fd_;
    PcapHeaderInfo header_;
    std::vector<ByteRange> ranges_;
    size_t range_ = 0;
    uint64_t position_ = 0;
    std::vector<char> buffer_;
    uint64_t buffer_offset_ = 0;
    size_t buffer_length_ = 0;
    uint64_t bytes_read_ = 0;
    uint64_t read_end_ = 0;  // ranges only move forward: what lies below was read
    std::string damage_;
};

}  // namespace taprec
