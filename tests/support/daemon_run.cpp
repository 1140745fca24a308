#include "daemon_run.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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

extern char** environ;

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

RunResult run_taprec(const std::vector<std::string>& args,
                     const std::function<void(pid_t)>& while_running, int timeout_seconds) {
    char log_path[] = "/tmp/taprec-test-log-XXXXXX";
    const int log_fd = mkstemp(log_path);
    if (log_fd < 0) throw std::runtime_error("mkstemp failed");

    std::vector<std::string> argv_strings = {taprec_binary()};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(log_fd);
    if (rc != 0) throw std::runtime_error("cannot start " + argv_strings[0]);

    if (while_running) while_running(pid);

    RunResult result;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (true) {
        const pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            result.output = "(timed out)\n";
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    result.output += read_file(log_path);
    unlink(log_path);
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

bool invariant_holds(const Json& stats, const std::string& port) {
    const std::string p = "ports." + port + ".";
    const uint64_t received = stats.u64(p + "received");
    const uint64_t accounted = stats.u64(p + "written") + stats.u64(p + "filtered") +
                               stats.u64(p + "dropped_ring") + stats.u64(p + "dropped_writer");
    return received == accounted && stats.at(p + "in_flight").number == 0;
}

}  // namespace test_support
