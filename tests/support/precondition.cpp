// precondition: runs a test executable only where what it needs is there, else exits 77, which
// meson counts as a SKIP (a Catch2 v2 case cannot skip itself; a WARN and return would pass).
//
//   precondition CONDITION -- PROGRAM [ARGS...]
//
//   root          the test runs as root (network namespaces, mounts, dropping privileges)
//   no-hugepages  no 2 MiB hugepage is free (the "EAL without hugepages" refusal can be seen)
//   o-direct      /tmp (where the tests' folders are) takes O_DIRECT writes
//
// The cases behind a condition are hidden in their executable (a Catch2 tag starting with '.'),
// so a plain run of the executable leaves them out, and each case asserts its condition too.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <cstdlib>
#include <string>

namespace {

constexpr int exit_skip = 77;

unsigned long free_hugepages() {
    std::ifstream in("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    unsigned long n = 0;
    in >> n;
    return n;
}

// "" when a 4 KiB O_DIRECT write to a new file in /tmp works, else why not.
std::string direct_write_refused() {
    char path[] = "/tmp/taprec-o-direct-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return std::string("cannot create a file in /tmp: ") + std::strerror(errno);
    ::unlink(path);
    std::string why;
    void* block = std::aligned_alloc(4096, 4096);
    std::memset(block, 0, 4096);
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_DIRECT) != 0 || ::write(fd, block, 4096) != 4096)
        why = std::string("the file system of /tmp refuses O_DIRECT: ") + std::strerror(errno);
    std::free(block);
    ::close(fd);
    return why;
}

// "" when `condition` holds, else why not.
std::string unmet(const std::string& condition) {
    if (condition == "root")
        return ::geteuid() == 0 ? "" : "needs root (run the suite as root to include it)";
    if (condition == "no-hugepages")
        return free_hugepages() == 0 ? ""
                                     : "needs a machine with no free hugepages (" +
                                           std::to_string(free_hugepages()) + " are free here)";
    if (condition == "o-direct") return direct_write_refused();
    return "unknown condition '" + condition + "'";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4 || std::strcmp(argv[2], "--") != 0) {
        std::fprintf(stderr, "usage: precondition CONDITION -- PROGRAM [ARGS...]\n");
        return 2;
    }
    const std::string condition = argv[1];
    if (const std::string why = unmet(condition); !why.empty()) {
        std::printf("SKIP: %s\n", why.c_str());
        return why.starts_with("unknown") ? 2 : exit_skip;
    }
    ::execv(argv[3], argv + 3);
    std::fprintf(stderr, "precondition: cannot run %s: %s\n", argv[3], std::strerror(errno));
    return 1;
}
