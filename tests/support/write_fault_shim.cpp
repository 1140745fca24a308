// write_fault_shim: LD_PRELOAD into a daemon under test to make one of its block writes slow or
// fail, at a chosen place, which no file system does on demand. Big writes (64 KiB and more: the
// pcap blocks, not index entries or stats lines) are counted from 1:
//   TAPREC_TEST_SLOW_WRITE=N   the Nth waits TAPREC_TEST_SLOW_MS (default 300) before writing
//   TAPREC_TEST_FAIL_WRITE=M   the Mth fails with ENOSPC, writing nothing
// Test-only; built beside the tests, never installed. The daemon calls pwrite64: meson builds with
// 64-bit file offsets, under which <unistd.h> names pwrite so (and this file's too).
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace {

using Pwrite = ssize_t (*)(int, const void*, size_t, off_t);

std::atomic<int> big_writes{0};

// A setting of the test: a whole number, or -1 when unset. Anything else ends the daemon loudly,
// so a mistyped test cannot pass without its fault.
long setting(const char* name, long unset) {
    const char* text = std::getenv(name);
    if (text == nullptr) return unset;
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (end == text || *end != '\0') {
        std::fprintf(stderr, "write_fault_shim: %s=%s is not a number\n", name, text);
        std::abort();
    }
    return value;
}

ssize_t faulty_write(const char* real_name, int fd, const void* buffer, size_t n, off_t offset) {
    static const Pwrite real = reinterpret_cast<Pwrite>(::dlsym(RTLD_NEXT, real_name));
    if (n >= 64 * 1024) {
        const long k = ++big_writes;
        if (k == setting("TAPREC_TEST_SLOW_WRITE", -1))
            ::usleep(useconds_t(setting("TAPREC_TEST_SLOW_MS", 300) * 1000));
        if (k == setting("TAPREC_TEST_FAIL_WRITE", -1)) {
            errno = ENOSPC;
            return -1;
        }
    }
    return real(fd, buffer, n, offset);
}

}  // namespace

extern "C" ssize_t pwrite64(int fd, const void* buffer, size_t n, off_t offset) {
    return faulty_write("pwrite64", fd, buffer, n, offset);
}
