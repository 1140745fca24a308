// A classic pcap file (libpcap's format, not pcapng) read in place: MappedFile maps it read-only,
// PcapRecordReader walks its records where they lie, so replaying it copies nothing.
//
// The reader reads exactly what libpcap 1.10 reads (lengths, timestamps, and its words for a
// damaged record), so a replay does not depend on which reader ran; tests/test_pcap_file_map and
// the pcap_reader fuzz target hold the two side by side. Files it cannot read that way (pcapng,
// versions before 2.4, the link types whose headers libpcap rewrites) are left to libpcap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace taprec {

// The 24-byte file header, in host byte order.
struct PcapFileHeader {
    bool swapped = false;      // written in the other byte order than this host's
    bool nanoseconds = false;  // magic a1b23c4d: the fraction of a second is in ns, not us
    uint16_t version_major = 0;
    uint16_t version_minor = 0;
    uint32_t snaplen = 0;   // as written
    uint32_t linktype = 0;  // LINKTYPE_* value (the field's low 26 bits; the rest is FCS info)

    // The largest caplen a record may have: libpcap's MAXIMUM_SNAPLEN, its limit for every link
    // type this reader takes.
    static constexpr uint32_t max_caplen = 262144;
    // libpcap's reading of snaplen: 0 or above INT_MAX means max_caplen. A longer record (up to
    // max_caplen) is cut to this many bytes.
    uint32_t snapshot() const noexcept;
};

// The file header at the start of `file`, or nullopt when `file` does not start with a whole
// header carrying one of the two classic magics (a1b2c3d4, a1b23c4d) in either byte order.
std::optional<PcapFileHeader> parse_pcap_file_header(std::span<const std::byte> file) noexcept;

// One record, as libpcap hands it over.
struct PcapRecord {
    const std::byte* data;  // caplen bytes, inside the file's bytes
    uint64_t ts_ns;         // nanoseconds since the epoch, computed as libpcap's pcap_pkthdr gives them
    uint32_t caplen;        // bytes at data: the record's captured length, cut to the snapshot
    uint32_t len;           // the length on the wire, as written (may be below caplen in a damaged file)
};

// Walks the records of a classic pcap file held in memory. Never reads outside `file`.
class PcapRecordReader {
public:
    // nullopt when the file is not one this reader takes byte for byte as libpcap does: no
    // classic header, a version other than 2.4 (older ones swap caplen and len), or a link type
    // whose pseudo-header libpcap rewrites or whose length limit differs. The bytes must outlive
    // the reader and every record it hands out.
    static std::optional<PcapRecordReader> open(std::span<const std::byte> file) noexcept;

    enum class Step {
        record,   // `record` holds the next one
        end,      // the file ended cleanly after the last whole record
        damaged,  // the record at offset() cannot be read: damage() says why; stays damaged
    };
    Step next(PcapRecord& record) noexcept;

    const PcapFileHeader& header() const noexcept { return header_; }
    // Byte offset of the next record to read (of the damaged one once next() said so).
    uint64_t offset() const noexcept { return offset_; }
    // Why the record at offset() cannot be read, in libpcap's words; "" unless damaged.
    std::string damage() const { return damage_; }

private:
    PcapRecordReader(std::span<const std::byte> file, const PcapFileHeader& header) noexcept;
    Step fail(const char* format, uint64_t expected, uint64_t got) noexcept;

    std::span<const std::byte> file_;
    PcapFileHeader header_;
    uint32_t snapshot_;
    uint64_t offset_;
    char damage_[160] = {};
};

// A whole file mapped read-only (MAP_PRIVATE) for the life of the object, read ahead as it is
// walked front to back. An empty file has no mapping and no bytes. The size is the file's at
// mapping time: what is appended later is not seen, and a file cut shorter meanwhile faults
// (SIGBUS) where fread would have read a short file: replay files that are complete.
class MappedFile {
public:
    // Maps the regular file open on `fd` (which may be closed afterwards); nullopt when it cannot
    // be mapped (a pipe, a device, a failed mmap).
    static std::optional<MappedFile> map(int fd) noexcept;

    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&&) = delete;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    std::span<const std::byte> bytes() const noexcept { return {base_, size_}; }

private:
    MappedFile(const std::byte* base, size_t size) noexcept : base_(base), size_(size) {}

    const std::byte* base_ = nullptr;
    size_t size_ = 0;
};

}  // namespace taprec
