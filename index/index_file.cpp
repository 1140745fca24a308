#include "index/index_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace taprec::block_index {
namespace {

constexpr char file_magic[8] = {'T', 'A', 'P', 'R', 'I', 'D', 'X', '1'};
constexpr uint32_t file_version = 1;
constexpr size_t file_header_size = 16;
constexpr uint32_t entry_magic = 0x4b4c4254;  // "TBLK"
constexpr size_t entry_head_size = 96;
constexpr size_t file_header_of_pcap = 24;

uint32_t fnv1a(const char* data, size_t n) noexcept {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; ++i) h = (h ^ uint8_t(data[i])) * 16777619u;
    return h;
}

template <typename T>
void put(std::string& out, T value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
T get(const char* p) noexcept {
    T value;
    std::memcpy(&value, p, sizeof value);
    return value;
}

int write_all(int fd, const char* data, size_t n) noexcept {
    while (n != 0) {
        const ssize_t w = ::write(fd, data, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : ENOSPC;
        data += w;
        n -= size_t(w);
    }
    return 0;
}

}  // namespace

std::string index_name(const std::string& pcap_name) {
    const bool pcap = pcap_name.size() > 5 && pcap_name.ends_with(".pcap");
    return (pcap ? pcap_name.substr(0, pcap_name.size() - 5) : pcap_name) + ".idx";
}

std::string writing_index_name(const std::string& pcap_name) {
    return index_name(pcap_name) + ".partial";
}

std::string published_index_path(const std::string& pcap_path) {
    const size_t slash = pcap_path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : pcap_path.substr(0, slash);
    const std::string name = slash == std::string::npos ? pcap_path : pcap_path.substr(slash + 1);
    return dir + "/.meta/" + index_name(name);
}

BlockIndexer::BlockIndexer() {
    entry_.reserve(entry_head_size + max_bloom_bits / 8 + 4);
    for (HeldEntry& entry : held_) entry.bytes.reserve(entry_.capacity());
}

BlockIndexer::~BlockIndexer() { close(); }

int BlockIndexer::open(const std::string& path, uint32_t mode, bool exclusive, uint32_t link_type) {
    close();
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
    fd_ = ::open(path.c_str(), flags, mode & 07777);
    if (fd_ < 0) return errno;
    ::fchmod(fd_, mode & 07777);
    link_type_ = link_type;
    summary_.clear();
    held_first_ = held_count_ = 0;
    std::string header(file_magic, sizeof file_magic);
    put<uint32_t>(header, file_version);
    put<uint32_t>(header, 0);
    if (const int error = write_all(fd_, header.data(), header.size()); error != 0) {
        close();
        return error;
    }
    return 0;
}

void BlockIndexer::build_entry(std::string& out) noexcept {
    summary_.fold();
    out.clear();
    const BlockSummary& s = summary_;
    put<uint32_t>(out, entry_magic);
    put<uint32_t>(out, uint32_t(entry_head_size + s.bloom_bits / 8 + 4));
    for (const uint64_t v : {s.offset, s.end, s.first_ns, s.min_ns, s.max_ns}) put<uint64_t>(out, v);
    put<uint32_t>(out, s.packets);
    put<uint32_t>(out, s.flags);
    for (const uint64_t v : s.protocols) put<uint64_t>(out, v);
    put<uint32_t>(out, s.bloom_bits);
    put<uint32_t>(out, 0);
    out.append(reinterpret_cast<const char*>(s.bloom.data()), s.bloom_bits / 8);
    put<uint32_t>(out, fnv1a(out.data(), out.size()));
    summary_.clear();
}

int BlockIndexer::append_entry(const std::string& entry) noexcept {
    if (const int error = write_all(fd_, entry.data(), entry.size()); error != 0) {
        close();  // what it holds stays true; the rest of the pcap file is unindexed
        return error;
    }
    return 0;
}

int BlockIndexer::seal() noexcept {
    if (fd_ < 0 || summary_.packets == 0) return 0;
    build_entry(entry_);
    return append_entry(entry_);
}

int BlockIndexer::follow(uint64_t handed, uint64_t confirmed) noexcept {
    if (fd_ < 0) return 0;
    // All slots held (more blocks in flight than any writer keeps): the records stay pending
    // and join the next entry, rather than an entry going out before its bytes are in the file.
    if (summary_.packets != 0 && summary_.end <= handed && held_count_ != held_.size()) {
        HeldEntry& entry = held_[(held_first_ + held_count_++) % held_.size()];
        entry.end = summary_.end;
        build_entry(entry.bytes);
    }
    while (held_count_ != 0 && held_[held_first_].end <= confirmed)
        if (const int error = write_oldest_held(); error != 0) return error;
    return 0;
}

int BlockIndexer::write_oldest_held() noexcept {
    const int error = append_entry(held_[held_first_].bytes);
    held_first_ = (held_first_ + 1) % held_.size();
    --held_count_;
    return error;
}

void BlockIndexer::discard() noexcept {
    summary_.clear();
    held_first_ = held_count_ = 0;
}

void BlockIndexer::close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool IndexContents::may_hold(const IndexedBlock& block, uint64_t key) const noexcept {
    const uint32_t h1 = uint32_t(key), h2 = uint32_t(key >> 32) | 1u;
    const uint64_t* bits = bloom_words.data() + block.bloom_at;
    for (int i = 0; i < bloom_hashes; ++i) {
        const uint32_t bit = (h1 + uint32_t(i) * h2) & (block.bloom_bits - 1);
        if ((bits[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
    }
    return true;
}

IndexContents read_index(const std::string& path) {
    IndexContents index;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return index;
    std::string bytes;
    struct stat st{};
    if (::fstat(fd, &st) == 0) bytes.reserve(size_t(st.st_size));
    char buffer[1 << 16];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) bytes.append(buffer, size_t(n));
    ::close(fd);
    if (bytes.size() < file_header_size || std::memcmp(bytes.data(), file_magic, 8) != 0 ||
        get<uint32_t>(bytes.data() + 8) != file_version) {
        index.damage = "no index header";
        return index;
    }
    index.found = true;
    size_t at = file_header_size;
    uint64_t expected_offset = file_header_of_pcap;
    while (at < bytes.size()) {
        const char* p = bytes.data() + at;
        const size_t left = bytes.size() - at;
        const std::string where = "entry " + std::to_string(index.blocks.size()) + " at byte " +
                                  std::to_string(at);
        if (left < entry_head_size + 4 || get<uint32_t>(p) != entry_magic) {
            index.damage = where + (left < entry_head_size + 4 ? " is cut short" : " has no entry mark");
            break;
        }
        const uint32_t size = get<uint32_t>(p + 4);
        const uint32_t bloom_bits = get<uint32_t>(p + 88);
        if (bloom_bits < 64 || bloom_bits > max_bloom_bits || (bloom_bits & (bloom_bits - 1)) != 0 ||
            size != entry_head_size + bloom_bits / 8 + 4) {
            index.damage = where + " has impossible sizes";
            break;
        }
        if (left < size) {
            index.damage = where + " is cut short";
            break;
        }
        if (get<uint32_t>(p + size - 4) != fnv1a(p, size - 4)) {
            index.damage = where + " fails its checksum";
            break;
        }
        IndexedBlock b;
        b.offset = get<uint64_t>(p + 8);
        b.end = get<uint64_t>(p + 16);
        b.first_ns = get<uint64_t>(p + 24);
        b.min_ns = get<uint64_t>(p + 32);
        b.max_ns = get<uint64_t>(p + 40);
        b.packets = get<uint32_t>(p + 48);
        b.flags = get<uint32_t>(p + 52);
        for (size_t i = 0; i < 4; ++i) b.protocols[i] = get<uint64_t>(p + 56 + 8 * i);
        b.bloom_bits = bloom_bits;
        if (b.offset != expected_offset || b.end <= b.offset || b.packets == 0 ||
            b.min_ns > b.max_ns) {
            index.damage = where + " does not follow the entry before it";
            break;
        }
        b.bloom_at = index.bloom_words.size();
        index.bloom_words.resize(b.bloom_at + bloom_bits / 64);
        std::memcpy(index.bloom_words.data() + b.bloom_at, p + entry_head_size, bloom_bits / 8);
        index.blocks.push_back(b);
        expected_offset = b.end;
        at += size;
    }
    return index;
}

}  // namespace taprec::block_index
