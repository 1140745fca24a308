// PcapFile: one pcap file being written, through one large aligned buffer: a write() per block of
// many packets, never per packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "drivers/buffer_return.hpp"
#include "drivers/packet_ref.hpp"

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
    static constexpr size_t file_header_size = 24;
    static constexpr size_t record_header_size = 16;

    // buffer: block_size bytes the caller owns (aligned for O_DIRECT), shared by successive files.
    PcapFile(std::byte* buffer, size_t block_size, bool nanosecond, uint32_t snaplen,
             int link_type);
    ~PcapFile();
    PcapFile(const PcapFile&) = delete;
    PcapFile& operator=(const PcapFile&) = delete;

    // Create `path` (must not exist) and buffer the file header. Throws std::system_error.
    void open(const std::string& path);
    bool is_open() const noexcept { return fd_ >= 0; }

    // Bytes the file will have once everything buffered is flushed.
    uint64_t size() const noexcept { return flushed_size_ + used_; }
    uint64_t packets() const noexcept { return packets_; }

    // Buffer one record; flushes first when the buffer lacks room, and reports that flush.
    // `source` copies multi-segment packets.
    void append(const PacketRef& packet, const PacketSource& source, FlushResult& flushed) noexcept;
    // Write out everything buffered.
    void flush(FlushResult& flushed) noexcept;
    // Flush, optionally fsync, and close. The caller publishes the file.
    void close(FlushResult& flushed, bool sync) noexcept;

private:
    void write_file_header() noexcept;

    std::byte* buffer_;
    size_t block_size_;
    bool nanosecond_;
    uint32_t snaplen_;
    int link_type_;
    int fd_ = -1;
    size_t used_ = 0;
    uint64_t flushed_size_ = 0;  // bytes known to be in the file
    uint64_t packets_ = 0;
    // Records sitting in the buffer, per port: what a flush turns into written, or into lost.
    std::array<uint64_t, max_ports_per_tap> buffered_packets_{};
    std::array<uint64_t, max_ports_per_tap> buffered_bytes_{};
};

}  // namespace taprec
