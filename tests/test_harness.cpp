// The test harness itself: a process a test starts never outlives it (tests/support/daemon_run),
// whether the test fails with an exception or the test process dies outright.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "daemon_run.hpp"

using namespace test_support;

namespace {

// Whether `pid` is gone (reaped, by us or by init) within `seconds`.
bool gone_within(pid_t pid, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// The pid a shell child printed as the first line of its log, once it is there.
pid_t first_pid_in(const std::string& log) {
    for (int i = 0; i < 250; ++i) {
        const std::string text = read_file(log);
        if (text.find('\n') != std::string::npos) return pid_t(std::stol(text));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
}

}  // namespace

TEST_CASE("a failing test kills the process it started and everything that process started",
          "[fast][harness]") {
    TempDir dir;
    const std::string log = dir.path() + "/child.log";
    const std::string sh = require_program("sh", "dash");
    pid_t child = -1, grandchild = -1;
    try {
        // A child that starts a grandchild in its process group, as the daemon starts hooks.
        ChildProcess process({sh, "-c", "sleep 1000 & echo $!; wait"}, log);
        child = process.pid();
        grandchild = first_pid_in(log);
        throw std::runtime_error("a REQUIRE failed");
    } catch (const std::runtime_error&) {
    }
    REQUIRE(child > 0);
    REQUIRE(grandchild > 0);
    CHECK(gone_within(child, 5));
    CHECK(gone_within(grandchild, 5));
}

TEST_CASE("a test process that dies takes the process it started with it", "[fast][harness]") {
    TempDir dir;
    const std::string log = dir.path() + "/child.log";
    const std::string sleep = require_program("sleep", "coreutils");
    int pids[2];
    REQUIRE(::pipe(pids) == 0);
    const pid_t test = ::fork();
    if (test == 0) {
        // A test process that starts a child and dies without unwinding (a crash, SIGKILL).
        ChildProcess process({sleep, "1000"}, log);
        const pid_t pid = process.pid();
        (void)!::write(pids[1], &pid, sizeof pid);
        ::_exit(0);
    }
    ::close(pids[1]);
    pid_t child = -1;
    REQUIRE(::read(pids[0], &child, sizeof child) == sizeof child);
    ::close(pids[0]);
    int status = 0;
    ::waitpid(test, &status, 0);
    REQUIRE(child > 0);
    CHECK(gone_within(child, 5));  // PR_SET_PDEATHSIG: SIGKILL when its parent died
}

TEST_CASE("a program that is missing fails at once, naming its Debian package", "[fast][harness]") {
    CHECK_THROWS_WITH(require_program("taprec-no-such-program", "taprec-no-such-package"),
                      Catch::Contains("taprec-no-such-package") && Catch::Contains("scripts/install-deps"));
    CHECK(require_program("sh", "dash").ends_with("/sh"));
}
