#include "writer/pcap_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "drivers/packet_source.hpp"

namespace taprec {
namespace {

constexpr uint32_t magic_microseconds = 0xa1b2c3d4;
constexpr uint32_t magic_nanoseconds = 0xa1b23c4d;

template <typename T>
std::byte* put(std::byte* p, T value) noexcept {
    std::memcpy(p, &value, sizeof value);  // pcap is written in the host's byte order
    return p + sizeof value;
}

}  // namespace

PcapFile::PcapFile(std::byte* buffer, size_t block_size, bool nanosecond, uint32_t snaplen,
                   int link_type)
    : buffer_(buffer),
      block_size_(block_size),
      nanosecond_(nanosecond),
      snaplen_(snaplen),
      link_type_(link_type) {}

PcapFile::~PcapFile() {
    if (fd_ >= 0) ::close(fd_);
}

void PcapFile::open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "create " + path);
    used_ = 0;
    flushed_size_ = 0;
    packets_ = 0;
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

void PcapFile::append(const PacketRef& packet, const PacketSource& source,
                      FlushResult& flushed) noexcept {
    const size_t record = record_header_size + packet.caplen;
    if (used_ + record > block_size_) flush(flushed);
    std::byte* p = buffer_ + used_;
    const uint64_t seconds = packet.ts_ns / 1'000'000'000u;
    const uint64_t fraction = packet.ts_ns % 1'000'000'000u;
    p = put<uint32_t>(p, static_cast<uint32_t>(seconds));
    p = put<uint32_t>(p, static_cast<uint32_t>(nanosecond_ ? fraction : fraction / 1000));
    p = put<uint32_t>(p, packet.caplen);
    p = put<uint32_t>(p, packet.wire_len);
    if (packet.flags & PacketRef::multi_segment) [[unlikely]]
        source.copy_out(packet, p);
    else
        std::memcpy(p, packet.data, packet.caplen);
    used_ += record;
    ++packets_;
    ++buffered_packets_[packet.port];
    buffered_bytes_[packet.port] += packet.caplen;
}

void PcapFile::flush(FlushResult& flushed) noexcept {
    size_t done = 0;
    while (done < used_) {
        const ssize_t n = ::write(fd_, buffer_ + done, used_ - done);
        if (n > 0) {
            done += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        // A full disk or an I/O error: cut the file back to its last whole record so it stays
        // valid, and count what the buffer held as lost by the writer.
        flushed.error = n < 0 ? errno : ENOSPC;
        if (ftruncate(fd_, static_cast<off_t>(flushed_size_)) == 0) {}
        for (size_t port = 0; port < max_ports_per_tap; ++port)
            flushed.lost[port] += buffered_packets_[port];
        packets_ -= buffered_packets_[0] + buffered_packets_[1];
        used_ = 0;
        buffered_packets_ = {};
        buffered_bytes_ = {};
        if (flushed_size_ == 0) write_file_header();  // the header went with the lost block
        return;
    }
    flushed_size_ += used_;
    used_ = 0;
    for (size_t port = 0; port < max_ports_per_tap; ++port) {
        flushed.written[port] += buffered_packets_[port];
        flushed.written_bytes[port] += buffered_bytes_[port];
    }
    buffered_packets_ = {};
    buffered_bytes_ = {};
}

void PcapFile::close(FlushResult& flushed, bool sync) noexcept {
    if (fd_ < 0) return;
    flush(flushed);
    if (sync) ::fsync(fd_);
    ::close(fd_);
    fd_ = -1;
}

}  // namespace taprec
