#include "writer/partial_repair.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "drivers/pcap_file_map.hpp"
#include "index/index_file.hpp"
#include "stats/json.hpp"
#include "writer/pcap_file.hpp"

namespace taprec {
namespace {

using pcap_format::magic_microseconds;
using pcap_format::magic_nanoseconds;

uint32_t swap32(uint32_t v) { return __builtin_bswap32(v); }

struct Scan {
    bool pcap = false;       // a pcap file header we can read
    bool cut_header = false; // shorter than a file header, and what there is could start one
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
    unsigned char header[PcapFile::file_header_size] = {};
    if (::pread(fd, header, sizeof header, 0) != ssize_t(sizeof header)) {
        // Killed between creating the file and writing its header: nothing was in it yet.
        const size_t have = size_t(std::min<uint64_t>(scan.size, 4));
        for (const uint32_t m : {magic_microseconds, magic_nanoseconds, swap32(magic_microseconds),
                                 swap32(magic_nanoseconds)})
            scan.cut_header = scan.cut_header || std::memcmp(header, &m, have) == 0;
        return scan;
    }
    const std::optional<PcapFileHeader> file_header =
        parse_pcap_file_header(std::as_bytes(std::span(header)));
    if (!file_header) return scan;
    scan.pcap = true;
    scan.nanosecond = file_header->nanoseconds;
    const bool swapped = file_header->swapped;
    auto field = [&](const unsigned char* p) {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return swapped ? swap32(v) : v;
    };
    const uint64_t max_caplen = std::max<uint64_t>(file_header->snaplen, PcapFile::max_record_data);

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

// The time of a leftover's first record (0 when it has none or is no pcap file): the order the
// writer made the leftovers in. There may be several (closed files wait in .partial for the
// publisher's thread), and their names do not sort in that order: "NAME-1.pcap" < "NAME.pcap".
uint64_t first_record_ns(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    unsigned char head[PcapFile::file_header_size + PcapFile::record_header_size] = {};
    const ssize_t n = ::pread(fd, head, sizeof head, 0);
    ::close(fd);
    if (n != ssize_t(sizeof head)) return 0;
    const std::optional<PcapFileHeader> header = parse_pcap_file_header(
        std::as_bytes(std::span(head).first<PcapFile::file_header_size>()));
    if (!header) return 0;
    uint32_t seconds, fraction;
    std::memcpy(&seconds, head + PcapFile::file_header_size, 4);
    std::memcpy(&fraction, head + PcapFile::file_header_size + 4, 4);
    if (header->swapped) {
        seconds = swap32(seconds);
        fraction = swap32(fraction);
    }
    return uint64_t(seconds) * 1'000'000'000u +
           (header->nanoseconds ? fraction : uint64_t(fraction) * 1000u);
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
    if (!scan.pcap && scan.cut_header) {
        ::close(fd);
        ::unlink(path.c_str());
        result.notices.push_back({NoticeLevel::info, "leftover " + path + " was cut within its " +
                                                         "file header (" + std::to_string(scan.size) +
                                                         " bytes), no packet in it; removed"});
        return;
    }
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
    // Its block index holds only blocks written before the crash (true of the cut file; a query
    // reads the rest in full): published with it, under its name.
    const std::string writing_index = directory.meta_dir() + "/" + block_index::writing_index_name(name);
    const std::string meta_index = directory.meta_dir() + "/" + block_index::index_name(name);
    const bool has_index = ::rename(writing_index.c_str(), meta_index.c_str()) == 0;
    // Names of a .partial file are unique in the tap folder when made; publish() still takes the
    // next sequence number should a file of that name have appeared since.
    std::string published;
    try {
        published = directory.publish(name);
    } catch (const std::exception& e) {
        result.notices.push_back({NoticeLevel::error, std::string(e.what()) + "; left in .partial"});
        return;
    }
    const std::string file = file_name(published);
    if (has_index && file != name)
        ::rename(meta_index.c_str(), (directory.meta_dir() + "/" + block_index::index_name(file)).c_str());
    const std::string line = "{\"file\":" + json_string(file) +
                             ",\"first_ns\":" + std::to_string(scan.first_ns) +
                             ",\"last_ns\":" + std::to_string(scan.last_ns) +
                             ",\"packets\":" + std::to_string(scan.packets) +
                             ",\"bytes\":" + std::to_string(scan.valid_end) +
                             ",\"repaired\":true,\"cut_bytes\":" + std::to_string(cut) +
                             ",\"name\":" + json_string(file) + "}";
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

// The "file" names of index.jsonl; cuts back a last line without its newline (the only damage
// an O_APPEND write can suffer, and only from a power loss or a full disk).
std::vector<std::string> indexed_files(const std::string& index_path, RepairResult& result) {
    std::vector<std::string> names;
    const int fd = ::open(index_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return names;
    std::string text;
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, size_t(n));
    if (!text.empty() && text.back() != '\n') {
        const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if (::ftruncate(fd, off_t(keep)) == 0) {
            result.notices.push_back({NoticeLevel::warning,
                                      index_path + ": its last line was incomplete (" +
                                          std::to_string(text.size() - keep) + " bytes); cut"});
            text.resize(keep);
        }
    }
    ::close(fd);
    // Lines are written by the writer and by this file, always {"file":NAME,"first_ns":...
    // with NAME as json_string() made it; that JSON form is what is kept and compared. (The
    // same NAME as "name" comes last, so this start stays as it was.)
    const std::string prefix = "{\"file\":", suffix = ",\"first_ns\":";
    for (size_t start = 0; start < text.size();) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (text.compare(start, prefix.size(), prefix) == 0) {
            const size_t name_start = start + prefix.size();
            const size_t name_end = text.find(suffix, name_start);
            if (name_end != std::string::npos && name_end < end)
                names.push_back(text.substr(name_start, name_end - name_start));
        }
        start = end + 1;
    }
    std::sort(names.begin(), names.end());
    return names;
}

void index_unlisted(const OutputDirectory& directory, RepairResult& result) {
    const std::string index_path = directory.meta_dir() + "/index.jsonl";
    const std::vector<std::string> indexed = indexed_files(index_path, result);
    for (const std::string& name : leftovers(directory.tap_dir())) {
        if (name.size() < 5 || name.compare(name.size() - 5, 5, ".pcap") != 0 || name[0] == '.')
            continue;
        if (std::binary_search(indexed.begin(), indexed.end(), json_string(name))) continue;
        const std::string path = directory.tap_dir() + "/" + name;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        const Scan scan = scan_file(fd);
        ::close(fd);
        if (!scan.pcap) continue;  // not ours: someone else's file in the folder
        const std::string line = "{\"file\":" + json_string(name) +
                                 ",\"first_ns\":" + std::to_string(scan.first_ns) +
                                 ",\"last_ns\":" + std::to_string(scan.last_ns) +
                                 ",\"packets\":" + std::to_string(scan.packets) +
                                 ",\"bytes\":" + std::to_string(scan.size) +
                                 ",\"recovered\":true,\"name\":" + json_string(name) + "}";
        try {
            directory.append_meta_line("index.jsonl", line);
        } catch (const std::exception& e) {
            result.notices.push_back({NoticeLevel::error, e.what()});
            continue;
        }
        result.notices.push_back({NoticeLevel::warning,
                                  "published file " + path + " had no line in " + index_path +
                                      " (the daemon stopped between the two); added one with " +
                                      std::to_string(scan.packets) + " packets"});
    }
}

}  // namespace

RepairResult repair_partials(const OutputDirectory& directory) {
    RepairResult result;
    // Published files first: the files repaired below get their index lines as they go.
    index_unlisted(directory, result);
    // Oldest first, as the writer closed them, so index.jsonl keeps capture order.
    std::vector<std::pair<uint64_t, std::string>> ordered;
    for (std::string& name : leftovers(directory.partial_dir()))
        ordered.emplace_back(first_record_ns(directory.partial_path(name)), std::move(name));
    std::sort(ordered.begin(), ordered.end());
    for (const auto& [first_ns, name] : ordered) repair_one(directory, name, result);
    // Indexes of files being written that are gone (removed or set aside above).
    for (const std::string& name : leftovers(directory.meta_dir()))
        if (name.ends_with(".idx.partial")) ::unlink((directory.meta_dir() + "/" + name).c_str());
    return result;
}

}  // namespace taprec
