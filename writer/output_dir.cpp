#include "writer/output_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <system_error>

#include "writer/placeholder.hpp"

namespace taprec {
namespace {

void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST) {
        struct stat st{};
        if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
        throw std::system_error(ENOTDIR, std::generic_category(), path);
    }
    throw std::system_error(errno, std::generic_category(), "create folder " + path);
}

// mkdir -p
void make_dirs(const std::string& path) {
    for (size_t i = 1; i <= path.size(); ++i)
        if (i == path.size() || path[i] == '/') make_dir(path.substr(0, i));
}

bool exists(const std::string& path) {
    struct stat st{};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string with_sequence(const std::string& stem, unsigned sequence) {
    return sequence == 0 ? stem + ".pcap" : stem + "-" + std::to_string(sequence) + ".pcap";
}

}  // namespace

OutputDirectory::OutputDirectory(const std::string& root, const std::string& tap,
                                 const std::string& pattern)
    : tap_(tap),
      pattern_(pattern),
      tap_dir_(root + "/" + tap),
      partial_dir_(tap_dir_ + "/.partial"),
      meta_dir_(tap_dir_ + "/.meta") {
    make_dirs(tap_dir_);
    make_dir(partial_dir_);
    make_dir(meta_dir_);
    if (::access(tap_dir_.c_str(), W_OK) != 0)
        throw std::system_error(errno, std::generic_category(), "write to " + tap_dir_);
}

bool OutputDirectory::taken(const std::string& name) const {
    // .partial first: the publisher thread may be renaming the file from there meanwhile, and
    // a file moved after the first look is found by the second.
    return exists(partial_dir_ + "/" + name) || exists(tap_dir_ + "/" + name);
}

std::string OutputDirectory::stem_for(uint64_t first_ts_ns) const {
    const std::string pattern = with_placeholder(pattern_, "{tap}", tap_);
    const time_t seconds = static_cast<time_t>(first_ts_ns / 1'000'000'000u);
    tm utc{};
    gmtime_r(&seconds, &utc);
    char stem[512];
    const size_t n = std::strftime(stem, sizeof stem, pattern.c_str(), &utc);
    return n == 0 ? tap_ : std::string(stem, n);
}

std::string OutputDirectory::name_for(uint64_t first_ts_ns) {
    std::string stem = stem_for(first_ts_ns);
    unsigned sequence = stem == last_stem_ ? last_sequence_ + 1 : 0;
    // Files of an earlier run keep their names.
    while (taken(with_sequence(stem, sequence))) ++sequence;
    last_stem_ = std::move(stem);
    last_sequence_ = sequence;
    return with_sequence(last_stem_, sequence);
}

std::string OutputDirectory::publish(const std::string& name) const {
    const std::string from = partial_path(name);
    std::string target = name;
    const std::string stem = name.substr(0, name.size() - 5);  // without ".pcap"
    for (unsigned sequence = 1;; ++sequence) {
        const std::string to = tap_dir_ + "/" + target;
        if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
            return to;
        if (errno != EEXIST)
            throw std::system_error(errno, std::generic_category(), "publish " + from);
        target = with_sequence(stem, sequence);
    }
}

void OutputDirectory::append_meta_line(const char* file, const std::string& line) const {
    const std::string path = meta_dir_ + "/" + file;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
    const std::string text = line + "\n";
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int saved = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()))
        throw std::system_error(n < 0 ? saved : ENOSPC, std::generic_category(), "append " + path);
}

}  // namespace taprec
