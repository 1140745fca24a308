#include "daemon_run.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace test_support {

std::string test_data(const std::string& name) {
    const char* dir = std::getenv("TAPREC_TEST_DATA");
    if (dir == nullptr) throw std::runtime_error("TAPREC_TEST_DATA is not set (run under meson test)");
    return std::string(dir) + "/" + name;
}

std::string taprec_binary() {
    const char* bin = std::getenv("TAPREC_BIN");
    if (bin == nullptr) throw std::runtime_error("TAPREC_BIN is not set (run under meson test)");
    return bin;
}

FileSizeLimit::FileSizeLimit(uint64_t bytes) {
    rlimit before{};
    ::getrlimit(RLIMIT_FSIZE, &before);
    soft_before_ = before.rlim_cur;
    hard_ = before.rlim_max;
    handler_before_ = ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{rlim_t(bytes), before.rlim_max};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("setrlimit RLIMIT_FSIZE failed");
}

FileSizeLimit::~FileSizeLimit() {
    const rlimit before{rlim_t(soft_before_), rlim_t(hard_)};
    ::setrlimit(RLIMIT_FSIZE, &before);
    ::signal(SIGXFSZ, handler_before_);
}

void ScopedEnv::set(const char* name, const std::string& value) {
    const char* before = std::getenv(name);
    saved_.push_back({name, before != nullptr, before != nullptr ? before : ""});
    ::setenv(name, value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
        if (it->was_set) ::setenv(it->name.c_str(), it->value.c_str(), 1);
        else ::unsetenv(it->name.c_str());
    }
}

TempDir::TempDir() {
    char pattern[] = "/tmp/taprec-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

std::string require_program(const std::string& program, const std::string& debian_package) {
    const char* path_env = std::getenv("PATH");
    std::string path = path_env != nullptr ? path_env : "/usr/bin:/bin";
    path += ":/usr/sbin:/sbin";
    size_t begin = 0;
    while (begin <= path.size()) {
        const size_t end = std::min(path.find(':', begin), path.size());
        const std::string candidate = path.substr(begin, end - begin) + "/" + program;
        if (end > begin && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        begin = end + 1;
    }
    throw std::runtime_error(program + " is not installed: it comes with the Debian package " +
                             debian_package + "; run scripts/install-deps");
}

ChildProcess::ChildProcess(const std::vector<std::string>& args, const std::string& log_path,
                           bool stdin_pipe) {
    if (args.empty()) throw std::invalid_argument("ChildProcess: no program");
    // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
    std::vector<std::string> strings = args;
    std::vector<char*> argv;
    for (std::string& s : strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) throw std::runtime_error("cannot create " + log_path);
    int pipe_fds[2] = {-1, -1};
    if (stdin_pipe && ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        ::close(log_fd);
        throw std::runtime_error("pipe failed");
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // the test died before prctl took effect
        ::signal(SIGPIPE, SIG_DFL);
        if (stdin_pipe) ::dup2(pipe_fds[0], STDIN_FILENO);
        ::dup2(log_fd, STDOUT_FILENO);
        ::dup2(log_fd, STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(log_fd);
    if (stdin_pipe) ::close(pipe_fds[0]);
    if (pid < 0) {
        if (stdin_pipe) ::close(pipe_fds[1]);
        throw std::runtime_error("fork failed");
    }
    ::setpgid(pid, pid);  // also here: the test may signal the group before the child ran
    pid_ = pid;
    stdin_fd_ = pipe_fds[1];
}

ChildProcess::~ChildProcess() {
    close_stdin();
    if (!reaped_) {
        kill_group();
        ::waitpid(pid_, &status_, 0);
    }
}

void ChildProcess::kill_group() {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
}

bool ChildProcess::write_stdin(const std::string& text) {
    size_t done = 0;
    while (stdin_fd_ >= 0 && done < text.size()) {
        // MSG_NOSIGNAL is for sockets; a pipe's SIGPIPE is avoided by blocking it around write.
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        const ssize_t n = ::write(stdin_fd_, text.data() + done, text.size() - done);
        const int error = errno;
        if (n < 0 && error == EPIPE) {
            timespec none{0, 0};
            sigtimedwait(&block, nullptr, &none);  // consume the pending SIGPIPE
        }
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        if (n < 0 && error == EINTR) continue;
        if (n <= 0) return false;
        done += size_t(n);
    }
    return stdin_fd_ >= 0;
}

void ChildProcess::close_stdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
}

int ChildProcess::wait(int timeout_seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (!reaped_) {
        if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
            reaped_ = true;
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            kill_group();
            ::waitpid(pid_, &status_, 0);
            reaped_ = true;
            timed_out_ = true;
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // The child is gone; anything it started in its group goes with it.
    ::kill(-pid_, SIGKILL);
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

RunResult run_taprec(const std::vector<std::string>& args,
                     const std::function<void(pid_t)>& while_running, int timeout_seconds) {
    char log_path[] = "/tmp/taprec-test-log-XXXXXX";
    const int log_fd = mkstemp(log_path);
    if (log_fd < 0) throw std::runtime_error("mkstemp failed");
    close(log_fd);
    struct RemoveLog {
        const char* path;
        ~RemoveLog() { unlink(path); }
    } remove_log{log_path};

    std::vector<std::string> argv = {taprec_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess daemon(argv, log_path);
    if (while_running) while_running(daemon.pid());

    RunResult result;
    result.exit_code = daemon.wait(timeout_seconds);
    if (daemon.timed_out()) result.output = "(timed out)\n";
    result.output += read_file(log_path);
    return result;
}

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<std::string> published_files(const std::string& tap_dir) {
    std::vector<std::string> files;
    for (const std::string& line : read_lines(tap_dir + "/.meta/index.jsonl"))
        files.push_back(tap_dir + "/" + parse_json(line).at("file").text);
    return files;
}

std::vector<Packet> published_packets(const std::string& tap_dir) {
    std::vector<Packet> packets;
    for (const std::string& file : published_files(tap_dir)) {
        Capture c = read_capture(file);
        if (!c.error.empty()) throw std::runtime_error(file + ": " + c.error);
        packets.insert(packets.end(), c.packets.begin(), c.packets.end());
    }
    return packets;
}

Json final_stats(const std::string& tap_dir) {
    const std::vector<std::string> lines = read_lines(tap_dir + "/.meta/stats.jsonl");
    if (lines.empty()) throw std::runtime_error("no stats.jsonl lines in " + tap_dir);
    return parse_json(lines.back());
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string file_port_config(const std::string& capture, const std::string& out,
                             const std::string& speed, const std::string& output_extra,
                             const std::string& stats_interval) {
    return "taps:\n"
           "  - name: w\n"
           "    a: {driver: pcap, file: \"" + capture + "\", speed: " + speed + "}\n"
           "threads: {idle: sleep}\n"
           "output:\n"
           "  directory: " + out + "\n" + output_extra +
           "stats:\n"
           "  interval: " + stats_interval + "\n";
}

int first_allowed_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) return cpu;
    return 0;
}

bool invariant_holds(const Json& stats, const std::string& port) {
    const std::string p = "ports." + port + ".";
    const uint64_t received = stats.u64(p + "received");
    const uint64_t accounted = stats.u64(p + "written") + stats.u64(p + "filtered") +
                               stats.u64(p + "dropped_ring") + stats.u64(p + "dropped_writer");
    return received == accounted && stats.at(p + "in_flight").number == 0;
}

}  // namespace test_support
