// PcapFile: one pcap file being written, through one large aligned buffer: a write() per block of
// many packets, never per packet.
//
// Buffered mode flushes when the next record does not fit. O_DIRECT mode (open(path, true)) needs
// every write aligned in offset and size, so it fills each block to the last byte, splitting the
// record that crosses the boundary, and writes whole blocks; the file's last, short block is
// written as its aligned part with O_DIRECT and the tail after clearing O_DIRECT. Given spare
// blocks, O_DIRECT mode queues each full block on a BlockWriteThread and fills the next (a
// disk's writes overlap the copying); the records of a block count as written when its write
// has ended.
// Either way a failed write cuts the file back to its last whole record, so a file on disk is
// always a valid pcap file, and the records lost are reported: with blocks in flight, those of
// every block from the failed one on, and of the block being filled (a record split over two
// blocks goes with the block that ends it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "drivers/pcap_format.hpp"
#include "pipeline/buffer_return.hpp"
#include "pipeline/packet_ref.hpp"
#include "writer/block_write_thread.hpp"

namespace taprec {

class PacketSource;

// What one flush did: the packets (per port) that reached the kernel, and those lost to an error.
struct FlushResult {
    std::array<uint64_t, max_ports_per_tap> written{};
    std::array<uint64_t, max_ports_per_tap> written_bytes{};
    std::array<uint64_t, max_ports_per_tap> lost{};
    int error = 0;  // errno of a failed write, 0 if none
};

class PcapFile {
public:
    static constexpr size_t file_header_size = pcap_format::file_header_size;
    static constexpr size_t record_header_size = pcap_format::record_header_size;
    static constexpr size_t max_record_data = 262144;  // the largest snaplen

    // Blocks the write thread may hold while the buffer fills: the caller gives spare_blocks of
    // this many block_size blocks, or none.
    static constexpr size_t spare_blocks_for_write_thread = BlockWriteThread::capacity;

    // buffer: block_size bytes the caller owns (aligned for O_DIRECT), shared by successive files.
    // spare_blocks: spare_blocks_for_write_thread more such blocks, one after the other, or null:
    // O_DIRECT files are then written on a BlockWriteThread.
    PcapFile(std::byte* buffer, size_t block_size, bool nanosecond, uint32_t snaplen,
             int link_type, std::byte* spare_blocks = nullptr);
    ~PcapFile();
    PcapFile(const PcapFile&) = delete;
    PcapFile& operator=(const PcapFile&) = delete;

    // Create `path` (must not exist) with exactly `mode` (output.file_mode), whatever the umask,
    // and buffer the file header. Throws std::system_error.
    // direct: write with O_DIRECT; quietly buffered when the file system refuses it (see direct()).
    void open(const std::string& path, bool direct = false, uint32_t mode = 0640);
    bool is_open() const noexcept { return fd_ >= 0; }
    // True while the open file is written with O_DIRECT.
    bool direct() const noexcept { return direct_; }

    // Bytes the file will have once everything buffered is flushed.
    uint64_t size() const noexcept { return handed_size_ + used_; }
    // Bytes handed to the kernel (or the block write thread), and of them, those whose write has
    // ended: the file holds them. What the block index follows, with write_events().
    uint64_t handed_size() const noexcept { return handed_size_; }
    uint64_t confirmed_size() const noexcept { return confirmed_size_; }
    // Changes whenever bytes are handed over, reach the file, or are lost to a failed write.
    uint64_t write_events() const noexcept { return write_events_; }
    uint64_t write_failures() const noexcept { return write_failures_; }
    bool write_in_flight() const noexcept { return background_ && background_->in_flight() != 0; }
    uint64_t packets() const noexcept { return file_packets_[0] + file_packets_[1]; }
    // The records of one port in the file (those lost to a failed write taken away again): what
    // index.jsonl says per port.
    uint64_t packets(uint16_t port) const noexcept { return file_packets_[port]; }
    // Records append() kept (counting up over files): one that did not move it was lost with a
    // failed write, even where packets() moved (the loss took others away with it).
    uint64_t records_kept() const noexcept { return records_kept_; }
    // Packets in the buffer, not yet handed to the kernel.
    uint64_t unwritten_packets() const noexcept { return buffered_packets_[0] + buffered_packets_[1]; }

    // Buffer one record; flushes first when the buffer lacks room, and reports that flush.
    // `source` copies multi-segment packets; it may be null when every packet is contiguous.
    // Inline: once per packet; a record that fits the block and is one segment takes this path.
    void append(const PacketRef& packet, const PacketSource* source, FlushResult& flushed) noexcept {
        const size_t record = record_header_size + packet.caplen;
        if (used_ + record > block_size_ || (packet.flags & PacketRef::multi_segment)) [[unlikely]] {
            append_slow(packet, source, flushed);
            return;
        }
        std::byte* p = put_record_header(buffer_ + used_, packet, nanosecond_);
        std::memcpy(p, packet.data, packet.caplen);
        last_frame_ = {p, packet.caplen};
        used_ += record;
        ++file_packets_[packet.port];
        ++records_kept_;
        ++buffered_packets_[packet.port];
        buffered_bytes_[packet.port] += packet.caplen;
    }
    // Write out everything buffered (after the block in flight, waiting for it).
    void flush(FlushResult& flushed) noexcept;
    // The blocks in flight whose writes have ended: count their records written (or lost).
    // Never blocks. Returns whether it took any.
    bool collect_finished_writes(FlushResult& flushed) noexcept {
        bool any = false;
        while (background_ && background_->oldest_finished()) {
            end_oldest_write(flushed, -1);
            any = true;
        }
        return any;
    }
    // Flush, optionally fsync, and close. The caller publishes the file. Returns the errno of a
    // failed fsync, else 0.
    int close(FlushResult& flushed, bool sync) noexcept;
    // Flush, and give the still-open descriptor to the caller, who syncs and closes it (the
    // writer's Publisher, off the writer's thread). The object is closed for the next open().
    int release(FlushResult& flushed) noexcept;

    // The bytes of the frame append() last took, where it copied them (valid until the next call).
    std::span<const std::byte> last_frame() const noexcept { return last_frame_; }

    static constexpr size_t direct_alignment = 4096;

private:
    void write_file_header() noexcept;
    // A write failed: cut the file back to its last whole record, count what the buffer held
    // (plus `extra_port`'s record, if any) as lost, and continue in buffered mode.
    void cut_back(FlushResult& flushed, int error, int extra_port) noexcept;
    // Wait for the oldest block in flight; its records are written, or, when its write failed,
    // lost with those of every later block and `extra_port`'s record.
    void end_oldest_write(FlushResult& flushed, int extra_port) noexcept;
    // The full buffer, whose last `split_head` bytes begin a record it does not end: queued on
    // the block write thread (the next block becomes the buffer), or written here.
    void write_full_block(FlushResult& flushed, size_t split_head, int extra_port) noexcept;
    void append_split(const PacketRef& packet, const PacketSource* source,
                      FlushResult& flushed) noexcept;
    void append_slow(const PacketRef& packet, const PacketSource* source, FlushResult& flushed) noexcept;
    // The 16-byte record header (pcap keeps the host's byte order); returns where the data goes.
    static std::byte* put_record_header(std::byte* p, const PacketRef& packet, bool nanosecond) noexcept {
        const uint64_t seconds = packet.ts_ns / 1'000'000'000u;
        const uint64_t fraction = packet.ts_ns % 1'000'000'000u;
        const uint32_t header[4] = {static_cast<uint32_t>(seconds),
                                    static_cast<uint32_t>(nanosecond ? fraction : fraction / 1000),
                                    packet.caplen, packet.wire_len};
        std::memcpy(p, header, sizeof header);
        return p + sizeof header;
    }
    // The buffer's records reached the file: counted written in `flushed`.
    void count_written(FlushResult& flushed) noexcept;

    std::byte* buffer_;  // blocks_[filling_]
    // With spare blocks: the buffer and the spares; those in flight precede blocks_[filling_].
    std::array<std::byte*, spare_blocks_for_write_thread + 1> blocks_{};
    size_t filling_ = 0;
    size_t block_size_;
    bool nanosecond_;
    uint32_t snaplen_;
    int link_type_;
    int fd_ = -1;
    bool direct_ = false;
    std::unique_ptr<std::byte[]> staging_;  // O_DIRECT: one whole record, to split it
    std::unique_ptr<BlockWriteThread> background_;  // O_DIRECT with spare blocks
    size_t used_ = 0;
    uint64_t handed_size_ = 0;     // bytes before the buffer's: written, or in flight
    uint64_t confirmed_size_ = 0;  // bytes known to be in the file
    // O_DIRECT: of the confirmed bytes, the head of a record split over their end whose tail is
    // not confirmed: cutting back to the last whole record removes them too.
    size_t confirmed_split_head_ = 0;
    std::array<uint64_t, max_ports_per_tap> file_packets_{};
    uint64_t records_kept_ = 0;
    // Records sitting in the buffer, per port: what a flush turns into written, or into lost.
    std::array<uint64_t, max_ports_per_tap> buffered_packets_{};
    std::array<uint64_t, max_ports_per_tap> buffered_bytes_{};
    // The blocks in flight, oldest first from in_flight_[oldest_]: their records, and the head
    // of the record split over their end.
    struct BlockInFlight {
        std::array<uint64_t, max_ports_per_tap> packets{};
        std::array<uint64_t, max_ports_per_tap> bytes{};
        size_t split_head = 0;
    };
    std::array<BlockInFlight, BlockWriteThread::capacity> in_flight_{};
    size_t oldest_ = 0;
    uint64_t write_events_ = 0;
    uint64_t write_failures_ = 0;
    std::span<const std::byte> last_frame_;
};

}  // namespace taprec
