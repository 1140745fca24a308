#include "writer/pending_hooks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

namespace taprec {

std::vector<std::string> read_pending_hooks(const OutputDirectory& directory) {
    std::ifstream in(directory.meta_dir() + "/" + pending_hooks_file);
    std::vector<std::string> names;
    // A name is one published file in the tap folder: anything else (a path, an empty line) is
    // not something this daemon wrote, and is not run.
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line.find('/') == std::string::npos && line[0] != '.')
            names.push_back(line);
    return names;
}

void write_pending_hooks(const OutputDirectory& directory, const std::vector<std::string>& paths) {
    const std::string path = directory.meta_dir() + "/" + pending_hooks_file;
    if (paths.empty()) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            throw std::system_error(errno, std::generic_category(), "remove " + path);
        return;
    }
    std::string text;
    for (const std::string& p : paths) text += file_name(p) + "\n";
    const std::string temporary = path + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + temporary);
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int saved = errno;
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()) || !synced ||
        ::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = n < 0 ? saved : (errno != 0 ? errno : ENOSPC);
        ::unlink(temporary.c_str());
        throw std::system_error(error, std::generic_category(), "write " + path);
    }
}

}  // namespace taprec
