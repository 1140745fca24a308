#include "writer/pcap_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "pipeline/packet_source.hpp"

namespace taprec {
namespace {

using pcap_format::magic_microseconds;
using pcap_format::magic_nanoseconds;

template <typename T>
std::byte* put(std::byte* p, T value) noexcept {
    std::memcpy(p, &value, sizeof value);  // pcap is written in the host's byte order
    return p + sizeof value;
}

}  // namespace

PcapFile::PcapFile(std::byte* buffer, size_t block_size, bool nanosecond, uint32_t snaplen,
                   int link_type, std::byte* spare_blocks)
    : buffer_(buffer),
      block_size_(block_size),
      nanosecond_(nanosecond),
      snaplen_(snaplen),
      link_type_(link_type) {
    if (spare_blocks == nullptr) return;
    blocks_[0] = buffer;
    for (size_t i = 1; i < blocks_.size(); ++i) blocks_[i] = spare_blocks + (i - 1) * block_size;
}

PcapFile::~PcapFile() {
    background_.reset();  // a write in flight ends before its descriptor closes
    if (fd_ >= 0) ::close(fd_);
}

static bool aligned_for_direct(const std::byte* p) noexcept {
    return reinterpret_cast<uintptr_t>(p) % PcapFile::direct_alignment == 0;
}

void PcapFile::open(const std::string& path, bool direct, uint32_t file_mode) {
    const bool spares = blocks_[0] != nullptr;
    const mode_t mode = file_mode & 07777;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "create " + path);
    // The umask may have taken bits away (systemd's UMask=, a shell's 077); the configuration
    // says what the files are, so they get exactly that.
    ::fchmod(fd_, mode);
    // O_DIRECT is set after creating the file: a file system that refuses it (tmpfs) then fails
    // the fcntl, and the file is written through the page cache instead.
    direct_ = direct && block_size_ % direct_alignment == 0 && aligned_for_direct(buffer_) &&
              (!spares || aligned_for_direct(blocks_[1])) &&
              ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_DIRECT) == 0;
    try {
        // Made once, for the first file O_DIRECT takes (where it refuses, never).
        if (direct_ && !staging_)
            staging_ = std::make_unique<std::byte[]>(record_header_size + max_record_data);
        if (direct_ && spares && !background_) background_ = std::make_unique<BlockWriteThread>();
    } catch (...) {
        ::close(std::exchange(fd_, -1));  // nothing is left open
        throw;
    }
    used_ = 0;
    handed_size_ = 0;
    confirmed_size_ = 0;
    confirmed_split_head_ = 0;
    file_packets_ = {};
    buffered_packets_ = {};
    buffered_bytes_ = {};
    write_file_header();
}

void PcapFile::write_file_header() noexcept {
    std::byte* p = buffer_;
    p = put<uint32_t>(p, nanosecond_ ? magic_nanoseconds : magic_microseconds);
    p = put<uint16_t>(p, 2);
    p = put<uint16_t>(p, 4);
    p = put<int32_t>(p, 0);   // thiszone: timestamps are UTC
    p = put<uint32_t>(p, 0);  // sigfigs
    p = put<uint32_t>(p, snaplen_);
    p = put<uint32_t>(p, static_cast<uint32_t>(link_type_));
    used_ = file_header_size;
}

// The one copy of a packet's bytes: straight from its buffer, or through its driver for a chain.
static void copy_packet(const PacketRef& packet, const PacketSource* source, std::byte* dst,
                        size_t n) noexcept {
    if ((packet.flags & PacketRef::multi_segment) && source != nullptr) [[unlikely]]
        source->copy_out(packet, dst);
    else
        std::memcpy(dst, packet.data, n);
}

// What append() leaves to a call: a full block, a chained packet.
void PcapFile::append_slow(const PacketRef& packet, const PacketSource* source,
                           FlushResult& flushed) noexcept {
    const size_t record = record_header_size + packet.caplen;
    if (used_ + record > block_size_) {
        if (direct_) {
            append_split(packet, source, flushed);
            return;
        }
        flush(flushed);
    }
    std::byte* p = buffer_ + used_;
    p = put_record_header(p, packet, nanosecond_);
    copy_packet(packet, source, p, packet.caplen);
    last_frame_ = {p, packet.caplen};
    used_ += record;
    ++file_packets_[packet.port];
    ++records_kept_;
    ++buffered_packets_[packet.port];
    buffered_bytes_[packet.port] += packet.caplen;
}

// O_DIRECT: fill the block to its last byte with the head of this record, write the whole block,
// and start the next block with the record's tail. The record counts as buffered in the next
// block, since only that write completes it.
void PcapFile::append_split(const PacketRef& packet, const PacketSource* source,
                            FlushResult& flushed) noexcept {
    if (background_ && background_->in_flight() == BlockWriteThread::capacity) {
        end_oldest_write(flushed, packet.port);  // its block is the next buffer
        if (!direct_) return;  // it failed: this record went with the blocks after it
    }
    const size_t caplen = std::min<size_t>(packet.caplen, max_record_data);
    const size_t record = record_header_size + caplen;
    std::byte* p = put_record_header(staging_.get(), packet, nanosecond_);
    copy_packet(packet, source, p, caplen);
    const size_t head = block_size_ - used_;
    std::memcpy(buffer_ + used_, staging_.get(), head);
    write_full_block(flushed, head, packet.port);
    if (!direct_) return;  // the write failed, and the record with it
    last_frame_ = {staging_.get() + record_header_size, caplen};
    std::memcpy(buffer_, staging_.get() + head, record - head);
    used_ = record - head;
    ++file_packets_[packet.port];
    ++records_kept_;
    buffered_packets_[packet.port] = 1;
    buffered_bytes_[packet.port] = caplen;
}

void PcapFile::write_full_block(FlushResult& flushed, size_t split_head, int extra_port) noexcept {
    ++write_events_;
    if (background_) {  // O_DIRECT files only: append_split is their path
        BlockInFlight& block =
            in_flight_[(oldest_ + background_->in_flight()) % BlockWriteThread::capacity];
        background_->start(fd_, buffer_, block_size_, handed_size_);
        block.packets = std::exchange(buffered_packets_, {});
        block.bytes = std::exchange(buffered_bytes_, {});
        block.split_head = split_head;
        handed_size_ += block_size_;
        // The next block is free: at most `capacity` are in flight, of capacity + 1.
        filling_ = (filling_ + 1) % blocks_.size();
        buffer_ = blocks_[filling_];
        return;
    }
    if (const int error = write_all_at(fd_, buffer_, block_size_, handed_size_); error != 0) {
        cut_back(flushed, error, extra_port);
        return;
    }
    handed_size_ += block_size_;
    confirmed_size_ = handed_size_;
    confirmed_split_head_ = split_head;
    count_written(flushed);
}

void PcapFile::end_oldest_write(FlushResult& flushed, int extra_port) noexcept {
    // The oldest write's result, and its block's records, taken off the queue together.
    auto take_oldest = [&](int& error) {
        error = background_->wait_oldest();
        const BlockInFlight block = std::exchange(in_flight_[oldest_], {});
        oldest_ = (oldest_ + 1) % BlockWriteThread::capacity;
        return block;
    };
    auto lose = [&](const BlockInFlight& block) {
        for (size_t port = 0; port < max_ports_per_tap; ++port) {
            flushed.lost[port] += block.packets[port];
            file_packets_[port] -= block.packets[port];
        }
    };
    int error = 0;
    const BlockInFlight block = take_oldest(error);
    ++write_events_;
    if (error == 0) {
        confirmed_size_ += block_size_;
        confirmed_split_head_ = block.split_head;
        for (size_t port = 0; port < max_ports_per_tap; ++port) {
            flushed.written[port] += block.packets[port];
            flushed.written_bytes[port] += block.bytes[port];
        }
        return;
    }
    // The blocks after it may reach the file, but the cut below takes them away again.
    lose(block);
    for (int ignored = 0; background_->in_flight() != 0;) lose(take_oldest(ignored));
    cut_back(flushed, error, extra_port);
}

void PcapFile::count_written(FlushResult& flushed) noexcept {
    for (size_t port = 0; port < max_ports_per_tap; ++port) {
        flushed.written[port] += buffered_packets_[port];
        flushed.written_bytes[port] += buffered_bytes_[port];
    }
    buffered_packets_ = {};
    buffered_bytes_ = {};
}

void PcapFile::cut_back(FlushResult& flushed, int error, int extra_port) noexcept {
    // A full disk or an I/O error: cut the file back to its last whole record so it stays
    // valid, and count what the buffer held as lost by the writer.
    flushed.error = error;
    ++write_failures_;
    ++write_events_;
    handed_size_ = confirmed_size_ = confirmed_size_ - confirmed_split_head_;
    confirmed_split_head_ = 0;
    if (ftruncate(fd_, static_cast<off_t>(handed_size_)) == 0) {}
    if (direct_) {
        // The cut leaves the file at an unaligned size: finish it through the page cache.
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_DIRECT);
        direct_ = false;
    }
    for (size_t port = 0; port < max_ports_per_tap; ++port) {
        flushed.lost[port] += buffered_packets_[port];
        file_packets_[port] -= buffered_packets_[port];
    }
    if (extra_port >= 0) ++flushed.lost[size_t(extra_port)];
    used_ = 0;
    buffered_packets_ = {};
    buffered_bytes_ = {};
    if (handed_size_ == 0) {
        // The header went with the lost block. It goes back at once: a file closed now (the
        // failure found by its last flush) must still be a pcap file.
        write_file_header();
        if (write_all_at(fd_, buffer_, used_, 0) == 0) {
            handed_size_ = confirmed_size_ = used_;
            used_ = 0;
        }
    }
}

void PcapFile::flush(FlushResult& flushed) noexcept {
    while (write_in_flight()) end_oldest_write(flushed, -1);
    // O_DIRECT: the aligned part as it is, then the tail once O_DIRECT is off (only at close: in
    // O_DIRECT mode the buffer is otherwise written only when full).
    const size_t aligned = direct_ ? used_ & ~(direct_alignment - 1) : 0;
    int error = write_all_at(fd_, buffer_, aligned, handed_size_);
    if (error == 0 && aligned != used_) {
        if (direct_) {
            ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_DIRECT);
            direct_ = false;
        }
        error = write_all_at(fd_, buffer_ + aligned, used_ - aligned, handed_size_ + aligned);
    }
    if (error != 0) {
        cut_back(flushed, error, -1);
        return;
    }
    if (used_ != 0) ++write_events_;
    handed_size_ += used_;
    confirmed_size_ = handed_size_;
    confirmed_split_head_ = 0;
    used_ = 0;
    count_written(flushed);
}

int PcapFile::close(FlushResult& flushed, bool sync) noexcept {
    const int fd = release(flushed);
    if (fd < 0) return 0;
    int error = 0;
    if (sync && ::fsync(fd) != 0) error = errno;
    ::close(fd);
    return error;
}

int PcapFile::release(FlushResult& flushed) noexcept {
    if (fd_ < 0) return -1;
    flush(flushed);
    direct_ = false;
    return std::exchange(fd_, -1);
}

}  // namespace taprec
