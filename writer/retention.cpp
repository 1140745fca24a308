#include "writer/retention.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <utility>

namespace taprec {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

size_t end_of_digits(std::string_view s, size_t from) {
    while (from < s.size() && is_digit(s[from])) ++from;
    return from;
}

// <0, 0 or >0 as the digit runs a and b compare as numbers, however long.
int compare_numbers(std::string_view a, std::string_view b) {
    a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
    b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b);
}

}  // namespace

bool name_before(std::string_view a, std::string_view b) {
    // Without ".pcap": "X" must end before "X-1" goes on ('.' sorts after '-').
    const std::string_view a_stem = ends_with(a, ".pcap") ? a.substr(0, a.size() - 5) : a;
    const std::string_view b_stem = ends_with(b, ".pcap") ? b.substr(0, b.size() - 5) : b;
    size_t i = 0, j = 0;
    while (i < a_stem.size() && j < b_stem.size()) {
        if (is_digit(a_stem[i]) && is_digit(b_stem[j])) {
            const size_t i_end = end_of_digits(a_stem, i), j_end = end_of_digits(b_stem, j);
            const int order =
                compare_numbers(a_stem.substr(i, i_end - i), b_stem.substr(j, j_end - j));
            if (order != 0) return order < 0;
            i = i_end;
            j = j_end;
        } else {
            if (a_stem[i] != b_stem[j]) return a_stem[i] < b_stem[j];
            ++i;
            ++j;
        }
    }
    if (i == a_stem.size() && j == b_stem.size()) return a < b;  // alike but for leading zeros
    return i == a_stem.size();  // what ends first comes first: X before X-1
}

std::vector<StoredFile> list_published(const std::string& tap_dir) {
    std::vector<StoredFile> files;
    DIR* d = ::opendir(tap_dir.c_str());
    if (d == nullptr) return files;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.empty() || name[0] == '.' || !ends_with(name, ".pcap")) continue;
        struct stat st{};
        if (::lstat((tap_dir + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        files.push_back({name, uint64_t(st.st_size),
                         int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec});
    }
    ::closedir(d);
    std::sort(files.begin(), files.end(), [](const StoredFile& x, const StoredFile& y) {
        return x.mtime_ns != y.mtime_ns ? x.mtime_ns < y.mtime_ns : name_before(x.name, y.name);
    });
    return files;
}

PublicationOrder::PublicationOrder(const std::vector<StoredFile>& earlier_runs) {
    for (const StoredFile& f : earlier_runs) position_.emplace(f.name, earlier_run);
}

void PublicationOrder::published(const std::string& name) {
    // Also over a position given when the file was seen before it was announced: announcements
    // come in publication order, and a repaired leftover published at start is this run's first.
    position_[name] = next_position_++;
}

std::vector<StoredFile> PublicationOrder::oldest_first(std::vector<StoredFile> listed) {
    std::unordered_map<std::string, uint64_t> still_listed;
    std::vector<std::pair<uint64_t, size_t>> order;  // position, index in `listed`
    order.reserve(listed.size());
    for (size_t i = 0; i < listed.size(); ++i) {
        const auto known = position_.find(listed[i].name);
        const uint64_t position = known != position_.end() ? known->second : next_position_++;
        still_listed.emplace(listed[i].name, position);
        order.emplace_back(position, i);
    }
    position_ = std::move(still_listed);
    std::sort(order.begin(), order.end());  // the earlier runs' files keep their listed order
    std::vector<StoredFile> sorted;
    sorted.reserve(listed.size());
    for (const auto& [position, i] : order) sorted.push_back(std::move(listed[i]));
    return sorted;
}

uint64_t partial_bytes(const std::string& partial_dir) {
    uint64_t total = 0;
    DIR* d = ::opendir(partial_dir.c_str());
    if (d == nullptr) return 0;
    while (dirent* e = ::readdir(d)) {
        struct stat st{};
        if (e->d_name[0] == '.') continue;
        if (::lstat((partial_dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
            total += uint64_t(st.st_size);
    }
    ::closedir(d);
    return total;
}

std::optional<DiskSpace> disk_space(const std::string& dir) {
    struct statvfs vfs{};
    if (::statvfs(dir.c_str(), &vfs) != 0 || vfs.f_blocks == 0) return std::nullopt;
    return DiskSpace{uint64_t(vfs.f_blocks) * vfs.f_frsize, uint64_t(vfs.f_bavail) * vfs.f_frsize};
}

RetentionDecision plan_retention(const std::vector<StoredFile>& files, uint64_t in_progress_bytes,
                                 const std::optional<DiskSpace>& disk,
                                 const RetentionConfig& retention) {
    RetentionDecision decision;
    auto need = [&](size_t count, const char* reason) {
        if (count > decision.delete_count) {
            decision.delete_count = count;
            decision.reason = reason;
        }
    };
    if (retention.max_files != 0 && files.size() > retention.max_files)
        need(files.size() - retention.max_files, "max_files");
    if (retention.max_bytes != 0) {
        uint64_t kept = in_progress_bytes;
        for (const StoredFile& f : files) kept += f.bytes;
        size_t count = 0;
        while (kept > retention.max_bytes && count < files.size()) kept -= files[count++].bytes;
        need(count, "max_bytes");
    }
    if (retention.min_free_percent != 0 && disk) {
        const uint64_t wanted = disk->total_bytes / 100 * retention.min_free_percent;
        uint64_t available = disk->available_bytes;
        size_t count = 0;
        while (available < wanted && count < files.size()) available += files[count++].bytes;
        decision.min_free_unreachable = available < wanted;
        need(count, "min_free_percent");
    }
    return decision;
}

}  // namespace taprec
