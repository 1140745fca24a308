// Running the real taprec binary from a test, and looking at what it left behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "capture_files.hpp"
#include "mini_json.hpp"

namespace test_support {

// $TAPREC_TEST_DATA/NAME: the captures copied into tests/data (see its README).
std::string test_data(const std::string& name);
std::string taprec_binary();

// A fresh folder under /tmp, removed when the object goes away.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// While it lives, files this process (and the daemons it starts) writes may not grow past
// `bytes` (RLIMIT_FSIZE): writes beyond fail with EFBIG, as on a full disk, but at a chosen
// offset. SIGXFSZ is ignored meanwhile, as a process that counts the loss must.
class FileSizeLimit {
public:
    explicit FileSizeLimit(uint64_t bytes);
    ~FileSizeLimit();
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;

private:
    uint64_t soft_before_ = 0, hard_ = 0;
    void (*handler_before_)(int) = nullptr;
};

// Environment variables for the daemons run_taprec starts, each as it was again when the object
// goes away.
class ScopedEnv {
public:
    ScopedEnv() = default;
    ScopedEnv(const char* name, const std::string& value) { set(name, value); }
    ~ScopedEnv();
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    void set(const char* name, const std::string& value);

private:
    struct Saved {
        std::string name;
        bool was_set = false;
        std::string value;
    };
    std::vector<Saved> saved_;
};

// The lowest-numbered CPU this process may run on: a core a test can pin the daemon's threads to.
int first_allowed_cpu();

void write_file(const std::string& path, const std::string& text);
bool contains(const std::string& text, const std::string& part);

// The configuration most end-to-end tests run: one tap `w` whose port a replays `capture`
// (speed: max or realtime), files in `out`; `output_extra` adds lines under output: (indented).
std::string file_port_config(const std::string& capture, const std::string& out,
                             const std::string& speed, const std::string& output_extra = "",
                             const std::string& stats_interval = "100ms");
std::string read_file(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);

// The full path of `program` in PATH; throws, naming the Debian package that provides it and
// scripts/install-deps, when it is missing (a test fails at once, not later by a signal).
std::string require_program(const std::string& program, const std::string& debian_package);

// A process a test starts: in a process group of its own, stdout and stderr to `log_path`, and
// optionally stdin from a pipe the test writes to. It cannot outlive the test however the test
// ends: the child asks the kernel for SIGKILL when the test process dies (PR_SET_PDEATHSIG), and
// the destructor (run also when a REQUIRE throws) kills its whole group and reaps it.
class ChildProcess {
public:
    ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                 bool stdin_pipe = false);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    // Writes to the child's stdin; false when it is closed (the child exited), never SIGPIPE.
    bool write_stdin(const std::string& text);
    void close_stdin();
    // Waits up to `timeout_seconds`; the exit status, or -1 when it was killed by a signal or
    // did not exit in time (then its group is killed).
    int wait(int timeout_seconds);
    bool timed_out() const { return timed_out_; }

private:
    void kill_group();
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    bool reaped_ = false;
    bool timed_out_ = false;
    int status_ = 0;
};

struct RunResult {
    int exit_code = -1;  // -1 when killed by a signal or timed out
    std::string output;  // stdout and stderr together
};

// Run taprec with `args`; `while_running` (if given) is called with the pid once started and
// may send signals. Kills the daemon after `timeout_seconds`, or at once when `while_running`
// throws (a failed REQUIRE): no daemon outlives its test (see ChildProcess).
RunResult run_taprec(const std::vector<std::string>& args,
                     const std::function<void(pid_t)>& while_running = {},
                     int timeout_seconds = 60);

// The published files of DIR/TAP in the order index.jsonl lists them.
std::vector<std::string> published_files(const std::string& tap_dir);
// The packets of all published files, in that order.
std::vector<Packet> published_packets(const std::string& tap_dir);
// Names of the entries of a folder (without . and ..), sorted.
std::vector<std::string> list_dir(const std::string& dir);
// The last line of .meta/stats.jsonl, parsed.
Json final_stats(const std::string& tap_dir);

// The accounting invariant of DESIGN.md for one port of a final stats line.
bool invariant_holds(const Json& stats, const std::string& port);

}  // namespace test_support
