// What the daemon refuses or avoids for the sensor's safety (issue 8): a configuration or output
// path others could change when run as root, files readable by everyone, hooks through a shell,
// and network sockets.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "daemon_run.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

std::string config_for(const std::string& capture, const std::string& out, const std::string& speed,
                       const std::string& output_extra = "") {
    return file_port_config(capture, out, speed, output_extra);
}

// Inodes of the sockets a process holds open.
std::set<std::string> socket_inodes(pid_t pid) {
    std::set<std::string> inodes;
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(fd_dir.c_str());
    if (d == nullptr) return inodes;
    while (dirent* e = ::readdir(d)) {
        char target[256];
        const ssize_t n = ::readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        const std::string link(target, size_t(n));
        if (link.rfind("socket:[", 0) == 0) inodes.insert(link.substr(8, link.size() - 9));
    }
    ::closedir(d);
    return inodes;
}

// Inodes of every TCP, UDP and raw IP socket in the process's network namespace.
std::set<std::string> inet_socket_inodes(pid_t pid) {
    std::set<std::string> inodes;
    for (const char* table : {"tcp", "tcp6", "udp", "udp6", "raw", "raw6"}) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string field;
            for (int i = 0; i < 10 && fields >> field; ++i) {
            }
            if (fields) inodes.insert(field);  // the 10th column is the inode
        }
    }
    return inodes;
}

// Runs the daemon on `config`, looks at its sockets `after` it started, then stops it: none may be
// a TCP, UDP or raw IP socket.
void check_no_network_socket(const std::string& config, std::chrono::milliseconds after) {
    std::set<std::string> sockets, inet;
    bool looked = false;
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        std::this_thread::sleep_for(after);
        sockets = socket_inodes(pid);
        inet = inet_socket_inodes(pid);
        looked = ::kill(pid, 0) == 0;
        ::kill(pid, SIGTERM);
    });
    INFO(run.output);
    REQUIRE(looked);
    CHECK(run.exit_code == 0);
    for (const std::string& inode : sockets) {
        INFO("socket inode " << inode);
        CHECK(inet.count(inode) == 0);
    }
}

}  // namespace

TEST_CASE("run as root: a configuration or output path others can change is refused",
          "[.root][fast][security]") {
    REQUIRE(geteuid() == 0);  // run by meson through tests/support/precondition root
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string out = dir.path() + "/out";
    write_file(config, config_for(test_data("icmp-echo.pcap"), out, "max"));
    SECTION("a world-writable configuration file") {
        REQUIRE(::chmod(config.c_str(), 0666) == 0);
        const RunResult run = run_taprec({"--config", config, "--check"});
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, config + ": refused while running as root: " + config +
                                       " is writable by every user (mode 0666); run chmod o-w"));
    }
    SECTION("a configuration file owned by another user") {
        REQUIRE(::chown(config.c_str(), 65534, 65534) == 0);
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, config + " is owned by uid 65534, not root; run chown root"));
        CHECK(::access(out.c_str(), F_OK) != 0);  // nothing started
    }
    SECTION("a configuration file in a folder everyone can write (no sticky bit)") {
        REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
        const RunResult run = run_taprec({"--config", config, "--check"});
        ::chmod(dir.path().c_str(), 0700);
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, dir.path() + " is writable by every user and not sticky"));
    }
    SECTION("a world-writable output folder") {
        REQUIRE(::mkdir(out.c_str(), 0777) == 0);
        REQUIRE(::chmod(out.c_str(), 0777) == 0);
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, "output.directory: refused while running as root: " + out +
                                       " is writable by every user (mode 0777)"));
    }
    SECTION("a sticky world-writable output root (a tmpfs) is fine, a tap folder in it made by "
            "another user is not") {
        REQUIRE(::mkdir(out.c_str(), 0777) == 0);
        REQUIRE(::chmod(out.c_str(), 01777) == 0);
        const RunResult fine = run_taprec({"--config", config, "--check"});
        INFO(fine.output);
        CHECK(fine.exit_code == 0);
        REQUIRE(::mkdir((out + "/w").c_str(), 0755) == 0);
        REQUIRE(::chown((out + "/w").c_str(), 65533, 65533) == 0);
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, out + "/w is owned by uid 65533, not root"));
    }
    SECTION("an output folder owned by another user than root or `user:`") {
        REQUIRE(::mkdir(out.c_str(), 0755) == 0);
        REQUIRE(::chown(out.c_str(), 65533, 65533) == 0);
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, out + " is owned by uid 65533, not root"));
    }
    SECTION("sticky /tmp above, root-owned files: accepted") {
        const RunResult run = run_taprec({"--config", config, "--check"});
        INFO(run.output);
        CHECK(run.exit_code == 0);
    }
}

TEST_CASE("capture files are created 0640, or as output.file_mode says, whatever the umask",
          "[fast][security]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    for (const auto& [setting, expected] :
         std::vector<std::pair<std::string, mode_t>>{{"", 0640}, {"  file_mode: \"0600\"\n", 0600}}) {
        const std::string out = dir.path() + "/out" + std::to_string(expected);
        write_file(config, config_for(test_data("icmp-echo.pcap"), out, "max",
                                      setting + "  rotate: {bytes: 0, seconds: 0, packets: 4}\n"));
        const mode_t saved = ::umask(077);  // the daemon inherits it; the mode must still hold
        const RunResult run = run_taprec({"--config", config});
        ::umask(saved);
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        const std::vector<std::string> files = published_files(out + "/w");
        REQUIRE(files.size() == 3);
        for (const std::string& f : files) {
            struct stat st{};
            REQUIRE(::stat(f.c_str(), &st) == 0);
            CHECK((st.st_mode & 07777) == expected);
        }
    }
}

TEST_CASE("a hook's arguments reach it literally: no shell sees ';', '$(...)' or backquotes",
          "[fast][security]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string log = dir.path() + "/args.txt";
    const std::string pwned = dir.path() + "/pwned";
    // /bin/sh here is the hook program itself, given the hostile strings as $1..$3: "$@" prints
    // them without evaluating them. A shell between taprec and the hook would run the touch.
    write_file(config, config_for(test_data("icmp-echo.pcap"), dir.path() + "/out", "max",
                                  "  on_rotate: [\"/bin/sh\", \"-c\", \"printf '%s\\\\n' \\\"$@\\\" > " +
                                      log + "\", \"hook\", \"x; touch " + pwned + "\", \"$(touch " +
                                      pwned + ")\", \"`touch " + pwned + "`\", \"{path}\"]\n"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::vector<std::string> args = read_lines(log);
    REQUIRE(args.size() == 4);
    CHECK(args[0] == "x; touch " + pwned);
    CHECK(args[1] == "$(touch " + pwned + ")");
    CHECK(args[2] == "`touch " + pwned + "`");
    CHECK(args[3] == published_files(dir.path() + "/out/w").at(0));
    CHECK(::access(pwned.c_str(), F_OK) != 0);
}

TEST_CASE("the running daemon holds no TCP, UDP or raw IP socket: it listens on nothing",
          "[fast][security]") {
    TempDir dir;
    // A replay paced in real time keeps the daemon running for a look at its sockets.
    Capture c = retimed(read_capture(test_data("icmp-echo.pcap")), 1'700'000'000'000'000'000ull,
                        300'000'000);
    const std::string capture = dir.path() + "/slow.pcap";
    write_capture(capture, c);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, dir.path() + "/out", "realtime"));
    check_no_network_socket(config, 1000ms);
}

TEST_CASE("with DPDK too: no TCP, UDP or raw IP socket (telemetry is a unix socket)",
          "[dpdk][security]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, "dpdk:\n  eal: [\"--no-huge\", \"--file-prefix\", \"taprec-test-security-" +
                           std::to_string(getpid()) + "\"]\n  mbufs_per_port: 4095\n"
                           "  rx_descriptors: 256\n"
                           "taps:\n  - name: w\n    a: {driver: dpdk, device: \"net_pcap0,rx_pcap=" +
                           test_data("icmp-echo.pcap") + "\"}\n"
                           "threads: {idle: sleep}\nring_capacity: 1024\n"
                           "output: {directory: " + dir.path() + "/out}\n");
    check_no_network_socket(config, 1500ms);
}
