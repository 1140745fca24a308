// The block index of one pcap file (DESIGN.md "Files"): DIRECTORY/TAP/.meta/NAME.idx for a
// published NAME.pcap, .meta/NAME.idx.partial for the file being written in .partial/.
//
//   header  "TAPRIDX1", u32 version, u32 0
//   entry*  u32 'TBLK', u32 size, u64 offset, end, first_ns, min_ns, max_ns, u32 packets,
//           u32 flags, u64 protocols[4], u32 bloom_bits, u32 0, bloom_bits/8 bytes of filter,
//           u32 FNV-1a of the entry before it
//
// Host byte order, like the pcap files taprec writes. Entries are appended, one write() each,
// only after the block they describe was written to the pcap file, so a reader of a file still
// being written may trust the bytes up to the end of the last whole entry; the checksum finds an
// entry read while it was being appended (or damaged), and the reader stops there.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "index/block_summary.hpp"

namespace taprec::block_index {

// NAME.pcap -> NAME.idx
std::string index_name(const std::string& pcap_name);
// NAME.pcap -> NAME.idx.partial: in .meta/, the index of .partial/NAME.pcap while it is written
// (.partial/ holds capture files only), renamed to NAME.idx just before the file is published.
std::string writing_index_name(const std::string& pcap_name);
// DIR/NAME.pcap -> DIR/.meta/NAME.idx: where the index of a published file is.
std::string published_index_path(const std::string& pcap_path);

// Writes the index of one pcap file as its blocks are written: add() each record, seal() once
// the records added so far are in the file, discard() when their write failed. The writer calls
// follow() instead of seal(): records handed to a write still in flight are held as one entry,
// written when their block is confirmed.
class BlockIndexer {
public:
    BlockIndexer();
    ~BlockIndexer();
    BlockIndexer(const BlockIndexer&) = delete;
    BlockIndexer& operator=(const BlockIndexer&) = delete;

    // Create the index file (exclusive: it must not exist) with `mode`; returns 0 or an errno.
    int open(const std::string& path, uint32_t mode, bool exclusive, uint32_t link_type);
    bool is_open() const noexcept { return fd_ >= 0; }
    // One record: its frame bytes, its time as the file stores it, where it lies.
    void add(std::span<const std::byte> frame, uint64_t ts_ns, uint64_t record_offset,
             uint64_t record_size) noexcept {
        if (fd_ < 0) return;
        summary_.add_record(ts_ns, record_offset, record_size);
        add_frame_keys(frame, link_type_, summary_);
    }
    uint32_t pending_packets() const noexcept { return summary_.packets; }
    uint64_t pending_bytes() const noexcept { return summary_.end - summary_.offset; }
    // Append the pending records as one entry. Returns 0, or the errno of a failed write (the
    // index then stops growing: what it has stays true, the rest of the file is unindexed).
    int seal() noexcept;
    // The pcap file's bytes up to `handed` were handed to the kernel, and up to `confirmed` are in
    // it: hold the pending records of [.., handed) as one entry, write held entries once
    // `confirmed` covers them. Returns 0, or the errno of a failed write (as seal()).
    int follow(uint64_t handed, uint64_t confirmed) noexcept;
    // Drop the pending records and the held entries: their writes failed.
    void discard() noexcept;
    void close() noexcept;

private:
    // The pending records as one entry, into `out`; clears them.
    void build_entry(std::string& out) noexcept;
    int append_entry(const std::string& entry) noexcept;
    int write_oldest_held() noexcept;

    BlockSummary summary_;
    std::string entry_;
    // Entries for records in flight, oldest first from held_[held_first_]; each with the file
    // offset just past its last record. A writer keeps two blocks in flight at most.
    struct HeldEntry {
        std::string bytes;
        uint64_t end = 0;
    };
    std::array<HeldEntry, 4> held_;
    size_t held_first_ = 0, held_count_ = 0;
    uint32_t link_type_ = 1;
    int fd_ = -1;
};

// An index read back; blocks keep their filters in one array.
struct IndexedBlock {
    uint64_t offset = 0, end = 0, first_ns = 0, min_ns = 0, max_ns = 0;
    uint32_t packets = 0, flags = 0;
    std::array<uint64_t, 4> protocols{};
    uint32_t bloom_bits = 0;
    size_t bloom_at = 0;  // index of its first word in IndexContents::bloom_words

    bool has_protocol(uint8_t p) const noexcept { return (protocols[p / 64] >> (p % 64)) & 1u; }
};

struct IndexContents {
    bool found = false;    // the file exists and starts with the header
    std::string damage;    // "" when every byte read was a whole, valid entry
    std::vector<IndexedBlock> blocks;  // in file order, contiguous from the first record
    std::vector<uint64_t> bloom_words;

    bool may_hold(const IndexedBlock& block, uint64_t key) const noexcept;
    // Bytes of the pcap file the entries cover (24, the file header, when none).
    uint64_t covered_end() const noexcept { return blocks.empty() ? 24 : blocks.back().end; }
};

// Read an index. A missing file gives found=false; an entry that is cut, fails its checksum or
// does not follow the one before ends the reading with `damage` saying where (for a file still
// being written, a cut last entry is one being appended).
IndexContents read_index(const std::string& path);

}  // namespace taprec::block_index
