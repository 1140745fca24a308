#include "writer/partial_repair.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "stats/json.hpp"
#include "writer/pcap_file.hpp"

namespace taprec {
namespace {

constexpr uint32_t magic_us = 0xa1b2c3d4;
constexpr uint32_t magic_ns = 0xa1b23c4d;

uint32_t swap32(uint32_t v) { return __builtin_bswap32(v); }

struct Scan {
    bool pcap = false;       // a pcap file header we can read
    bool nanosecond = false;
    uint64_t valid_end = 0;  // bytes up to the end of the last whole record
    uint64_t size = 0;
    uint64_t packets = 0;
    uint64_t first_ns = 0;
    uint64_t last_ns = 0;
};

// Walk the records up to the first one that is incomplete or impossible. A record with a
// wire length of 0 ends the walk too: a file system that lost the data of an extended file
// shows zeros there, and no frame on a wire is 0 bytes long.
Scan scan_file(int fd) {
    Scan scan;
    struct stat st{};
    if (::fstat(fd, &st) != 0) return scan;
    scan.size = uint64_t(st.st_size);
    unsigned char header[PcapFile::file_header_size];
    if (::pread(fd, header, sizeof header, 0) != ssize_t(sizeof header)) return scan;
    uint32_t magic;
    std::memcpy(&magic, header, 4);
    const bool swapped = magic == swap32(magic_us) || magic == swap32(magic_ns);
    if (swapped) magic = swap32(magic);
    if (magic != magic_us && magic != magic_ns) return scan;
    scan.pcap = true;
    scan.nanosecond = magic == magic_ns;
    auto field = [&](const unsigned char* p) {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return swapped ? swap32(v) : v;
    };
    const uint64_t max_caplen = std::max<uint64_t>(field(header + 16), PcapFile::max_record_data);

    // Read in large chunks (a leftover may be a GiB of small records); only the record headers
    // are looked at, so a record's data need not be in the chunk.
    std::vector<unsigned char> chunk(size_t{1} << 20);
    uint64_t chunk_offset = 0;
    size_t chunk_bytes = 0;
    uint64_t offset = PcapFile::file_header_size;
    scan.valid_end = offset;
    while (offset + PcapFile::record_header_size <= scan.size) {
        if (offset < chunk_offset || offset + PcapFile::record_header_size > chunk_offset + chunk_bytes) {
            const ssize_t n = ::pread(fd, chunk.data(), chunk.size(), off_t(offset));
            if (n < ssize_t(PcapFile::record_header_size)) break;
            chunk_offset = offset;
            chunk_bytes = size_t(n);
        }
        const unsigned char* rh = chunk.data() + (offset - chunk_offset);
        const uint32_t seconds = field(rh), fraction = field(rh + 4);
        const uint32_t caplen = field(rh + 8), wire_len = field(rh + 12);
        if (caplen > max_caplen || wire_len == 0 || caplen > wire_len) break;
        const uint64_t end = offset + PcapFile::record_header_size + caplen;
        if (end > scan.size) break;
        const uint64_t ts = uint64_t(seconds) * 1'000'000'000u +
                            (scan.nanosecond ? fraction : uint64_t(fraction) * 1000u);
        if (scan.packets == 0) scan.first_ns = ts;
        scan.last_ns = ts;
        ++scan.packets;
        offset = end;
        scan.valid_end = end;
    }
    return scan;
}

std::vector<std::string> leftovers(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return names;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        struct stat st{};
        if (name == "." || name == ".." || ::lstat((dir + "/" + name).c_str(), &st) != 0) continue;
        if (S_ISREG(st.st_mode)) names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

void set_aside(const OutputDirectory& directory, const std::string& name, const std::string& why,
               RepairResult& result) {
    const std::string corrupt = directory.partial_dir() + "/corrupt";
    if (::mkdir(corrupt.c_str(), 0750) != 0 && errno != EEXIST) {
        result.notices.push_back({NoticeLevel::error, "leftover " + directory.partial_path(name) +
                                                          " " + why + ", and " + corrupt +
                                                          " cannot be created: " +
                                                          std::strerror(errno) + "; left in place"});
        return;
    }
    const std::string to = corrupt + "/" + name;
    if (::renameat2(AT_FDCWD, directory.partial_path(name).c_str(), AT_FDCWD, to.c_str(),
                    RENAME_NOREPLACE) != 0) {
        result.notices.push_back({NoticeLevel::error, "leftover " + directory.partial_path(name) +
                                                          " " + why + ", and moving it to " + to +
                                                          " failed: " + std::strerror(errno) +
                                                          "; left in place"});
        return;
    }
    result.notices.push_back({NoticeLevel::warning, "leftover " + directory.partial_path(name) +
                                                        " " + why + "; set aside as " + to});
}

void repair_one(const OutputDirectory& directory, const std::string& name, RepairResult& result) {
    const std::string path = directory.partial_path(name);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        result.notices.push_back({NoticeLevel::error, "leftover " + path + " cannot be opened: " +
                                                          std::strerror(errno) + "; left in place"});
        return;
    }
    const Scan scan = scan_file(fd);
    if (!scan.pcap) {
        ::close(fd);
        set_aside(directory, name, "is not a pcap file (" + std::to_string(scan.size) + " bytes)",
                  result);
        return;
    }
    if (scan.packets == 0) {
        ::close(fd);
        ::unlink(path.c_str());
        result.notices.push_back({NoticeLevel::info, "leftover " + path + " held no whole packet (" +
                                                         std::to_string(scan.size) +
                                                         " bytes); removed"});
        return;
    }
    const uint64_t cut = scan.size - scan.valid_end;
    if (cut != 0 && ::ftruncate(fd, off_t(scan.valid_end)) != 0) {
        const int error = errno;
        ::close(fd);
        set_aside(directory, name, std::string("cannot be cut back: ") + std::strerror(error),
                  result);
        return;
    }
    ::fsync(fd);
    ::close(fd);
    // Names of a .partial file are unique in the tap folder when made; publish() still takes the
    // next sequence number should a file of that name have appeared since.
    std::string published;
    try {
        published = directory.publish(name);
    } catch (const std::exception& e) {
        result.notices.push_back({NoticeLevel::error, std::string(e.what()) + "; left in .partial"});
        return;
    }
    const std::string file = published.substr(published.rfind('/') + 1);
    const std::string line = "{\"file\":" + json_string(file) +
                             ",\"first_ns\":" + std::to_string(scan.first_ns) +
                             ",\"last_ns\":" + std::to_string(scan.last_ns) +
                             ",\"packets\":" + std::to_string(scan.packets) +
                             ",\"bytes\":" + std::to_string(scan.valid_end) +
                             ",\"repaired\":true,\"cut_bytes\":" + std::to_string(cut) + "}";
    try {
        directory.append_meta_line("index.jsonl", line);
    } catch (const std::exception& e) {
        result.notices.push_back({NoticeLevel::error, e.what()});
    }
    result.published.push_back(published);
    result.notices.push_back(
        {NoticeLevel::warning,
         "leftover " + path + " from an earlier run: " +
             (cut == 0 ? std::string("complete")
                       : "cut " + std::to_string(cut) + " bytes of an incomplete record") +
             "; published as " + published + " with " + std::to_string(scan.packets) + " packets"});
}

}  // namespace

RepairResult repair_partials(const OutputDirectory& directory) {
    RepairResult result;
    for (const std::string& name : leftovers(directory.partial_dir()))
        repair_one(directory, name, result);
    return result;
}

}  // namespace taprec
