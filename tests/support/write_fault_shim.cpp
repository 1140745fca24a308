// write_fault_shim: LD_PRELOAD into a daemon under test to make one of its block writes slow or
// fail, at a chosen place, which no file system does on demand. Big writes (64 KiB and more: the
// pcap blocks, not index entries or stats lines) are counted from 1:
//   TAPREC_TEST_SLOW_WRITE=N   the Nth sleeps 300 ms before writing
//   TAPREC_TEST_FAIL_WRITE=M   the Mth fails with ENOSPC, writing nothing
// Test-only; built beside the tests, never installed.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

namespace {

std::atomic<int> big_writes{0};

int env(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? -1 : std::atoi(value);
}

}  // namespace

extern "C" ssize_t pwrite64(int fd, const void* buffer, size_t n, off_t offset) {
    if (n >= 64 * 1024) {
        const int k = ++big_writes;
        if (k == env("TAPREC_TEST_SLOW_WRITE")) ::usleep(300'000);
        if (k == env("TAPREC_TEST_FAIL_WRITE")) {
            errno = ENOSPC;
            return -1;
        }
    }
    return static_cast<ssize_t>(::syscall(SYS_pwrite64, fd, buffer, n, offset));
}
