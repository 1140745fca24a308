// precondition: runs a test executable only where what it needs is there, else exits 77, which
// meson counts as a SKIP (a Catch2 v2 case cannot skip itself; a WARN and return would pass).
//
//   precondition CONDITION -- PROGRAM [ARGS...]
//
//   root          the test runs as root (network namespaces, mounts, dropping privileges)
//   no-hugepages  no 2 MiB hugepage is free (the "EAL without hugepages" refusal can be seen)
//
// The cases behind a condition are hidden in their executable (a Catch2 tag starting with '.'),
// so a plain run of the executable leaves them out, and each case asserts its condition too.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace {

constexpr int exit_skip = 77;

unsigned long free_hugepages() {
    std::ifstream in("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    unsigned long n = 0;
    in >> n;
    return n;
}

// "" when `condition` holds, else why not.
std::string unmet(const std::string& condition) {
    if (condition == "root")
        return ::geteuid() == 0 ? "" : "needs root (run the suite as root to include it)";
    if (condition == "no-hugepages")
        return free_hugepages() == 0 ? ""
                                     : "needs a machine with no free hugepages (" +
                                           std::to_string(free_hugepages()) + " are free here)";
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
