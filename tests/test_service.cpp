// Running as a service: the systemd units pass `systemd-analyze verify` as `meson install` puts
// them; sd_notify READY, WATCHDOG and STOPPING arrive on a notify socket the test opens itself;
// user: drops privileges; the Prometheus textfile is replaced atomically.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "config/helpers.hpp"
#include "daemon/signals.hpp"
#include "daemon/wakeup.hpp"
#include "daemon/watchdog.hpp"
#include "daemon_run.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr) throw std::runtime_error(std::string(name) + " is not set (run under meson test)");
    return value;
}

// Runs a shell command; returns its exit status and output (stdout and stderr).
int shell(const std::string& command, std::string& output) {
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return -1;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) output += buf;
    const int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// The socket systemd would give the daemon: NOTIFY_SOCKET names it, datagrams are the messages.
class NotifySocket {
public:
    explicit NotifySocket(const std::string& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("cannot bind " + path);
        timeval timeout{0, 100'000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        reader_ = std::thread([this] {
            char buf[4096];
            while (!stop_.load()) {
                const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
                if (n <= 0) continue;
                std::lock_guard lock(mutex_);
                messages_.emplace_back(buf, size_t(n));
            }
        });
    }
    ~NotifySocket() {
        stop_.store(true);
        reader_.join();
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    std::vector<std::string> messages() {
        std::this_thread::sleep_for(200ms);  // what is still in the socket
        std::lock_guard lock(mutex_);
        return messages_;
    }

private:
    std::string path_;
    int fd_ = -1;
    std::thread reader_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<std::string> messages_;
};

size_t index_of(const std::vector<std::string>& messages, const std::string& part, size_t from = 0) {
    for (size_t i = from; i < messages.size(); ++i)
        if (messages[i].find(part) != std::string::npos) return i;
    return messages.size();
}

size_t count_of(const std::vector<std::string>& messages, const std::string& part) {
    size_t n = 0;
    for (const std::string& m : messages) n += m.find(part) != std::string::npos;
    return n;
}

// A replay at recorded pace (icmp-echo.pcap lasts 4 s): long enough to watch, stopped by SIGTERM.
std::string paced_config(const std::string& out, const std::string& extra = "") {
    return "taps:\n"
           "  - name: svc\n"
           "    a: {driver: pcap, file: \"" + test_data("icmp-echo.pcap") + "\", speed: realtime}\n"
           "    b: {driver: pcap, file: \"" + test_data("icmp-echo.pcap") + "\", speed: realtime}\n"
           "threads: {idle: sleep}\n"
           "output: {directory: " + out + "}\n"
           "stats: {interval: 200ms" + extra + "}\n";
}

std::string all(const std::vector<std::string>& messages) {
    std::string out;
    for (const std::string& m : messages) out += "[" + m + "]\n";
    return out;
}

}  // namespace

TEST_CASE("meson install puts the units, the binary and the example; systemd-analyze verify "
          "passes on them", "[fast][service]") {
    TempDir dir;
    const std::string destdir = dir.path() + "/root";
    std::string output;
    REQUIRE(shell("meson install --no-rebuild --quiet -C '" + env("TAPREC_BUILD_ROOT") +
                      "' --destdir '" + destdir + "'",
                  output) == 0);
    INFO(output);
    std::string found;
    shell("cd '" + destdir + "' && find . -type f | sort", found);
    INFO(found);
    auto installed = [&](const std::string& suffix) {
        for (size_t at = found.find(suffix); at != std::string::npos; at = found.find(suffix, at + 1))
            if (at + suffix.size() == found.size() || found[at + suffix.size()] == '\n') {
                const size_t start = found.rfind('\n', at);
                return destdir + "/" + found.substr(start == std::string::npos ? 2 : start + 3,
                                                    at + suffix.size() - (start == std::string::npos ? 2 : start + 3));
            }
        return std::string();
    };
    const std::string binary = installed("/bin/taprec");
    const std::string unit = installed("/lib/systemd/system/taprec.service");
    const std::string template_unit = installed("/lib/systemd/system/taprec@.service");
    REQUIRE(!binary.empty());
    REQUIRE(!unit.empty());
    REQUIRE(!template_unit.empty());
    CHECK(found.find("./etc/taprec/taprec.yaml.example\n") != std::string::npos);
    // The helpers at the paths taprec's messages name, executable, and the man page.
    for (const char* helper : {"hugepages", "bind-nic"}) {
        const std::string path = destdir + taprec::helper_path(helper);
        INFO(path);
        CHECK(::access(path.c_str(), X_OK) == 0);
        CHECK(read_file(path) == read_file(env("TAPREC_SOURCE_ROOT") + "/scripts/" + helper));
    }
    CHECK(!installed("/share/man/man8/taprec.8").empty());
    CHECK(read_file(destdir + "/etc/taprec/taprec.yaml.example") ==
          read_file(env("TAPREC_SOURCE_ROOT") + "/config/examples/taprec.yaml"));

    // verify needs the ExecStart binary to exist: point the units at the installed one.
    const std::string installed_bin = binary.substr(destdir.size());
    const std::string prefix = installed_bin.substr(0, installed_bin.size() - std::string("/bin/taprec").size());
    for (const auto& [source, name] : {std::pair{unit, std::string("taprec.service")},
                                       std::pair{template_unit, std::string("taprec@uplink.service")}}) {
        std::string text = read_file(source);
        INFO(name << ":\n" << text);
        CHECK(text.find("@bindir@") == std::string::npos);
        CHECK(text.find("@libexecdir@") == std::string::npos);
        CHECK(text.find("@sysconfdir@") == std::string::npos);
        for (const char* line : {"Type=notify\n", "Restart=on-failure\n", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID\n",
                                 "ProtectSystem=strict\n", "ReadWritePaths=/var/lib/taprec\n", "NoNewPrivileges=yes\n",
                                 "PrivateTmp=yes\n", "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_IPC_LOCK",
                                 "LimitMEMLOCK=infinity\n", "ExecStartPre=-+" })
            CHECK(text.find(line) != std::string::npos);
        CHECK(text.find(name == "taprec.service" ? "--config /etc/taprec/taprec.yaml\n"
                                                 : "--config /etc/taprec/%i.yaml\n") != std::string::npos);
        text = replace_all(text, prefix + "/bin/taprec", binary);
        const std::string copy = dir.path() + "/" + name;
        write_file(copy, text);
        std::string verify;
        const int status = shell("systemd-analyze verify '" + copy + "'", verify);
        INFO("systemd-analyze verify: " << verify);
        CHECK(status == 0);
        CHECK(verify.empty());  // warnings (an unknown key, a bad value) are failures too
    }
}

TEST_CASE("sd_notify: READY once running, WATCHDOG while threads move, STOPPING at the end",
          "[fast][service]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, paced_config(dir.path() + "/out"));

    SECTION("with the watchdog") {
        NotifySocket socket(dir.path() + "/notify");
        ScopedEnv env;
        env.set("NOTIFY_SOCKET", dir.path() + "/notify");
        env.set("WATCHDOG_USEC", "300000");  // a WATCHDOG=1 every 100 ms
        const RunResult run = run_taprec({"--config", config}, [](pid_t pid) {
            std::this_thread::sleep_for(1500ms);
            kill(pid, SIGTERM);
        });
        const std::vector<std::string> messages = socket.messages();
        INFO(run.output << all(messages));
        REQUIRE(run.exit_code == 0);
        const size_t ready = index_of(messages, "READY=1");
        REQUIRE(ready < messages.size());
        CHECK(index_of(messages, "WATCHDOG=1") > ready);  // systemd's timer starts at READY
        CHECK(count_of(messages, "WATCHDOG=1") >= 5);  // about 13 in 1.5 s
        const size_t status = index_of(messages, "STATUS=tap svc: a ", ready);
        CHECK(status < messages.size());
        CHECK(messages[status].find("drops 0") != std::string::npos);
        const size_t stopping = index_of(messages, "STOPPING=1", ready);
        REQUIRE(stopping < messages.size());
        CHECK(count_of(messages, "STOPPING=1") == 1);
        CHECK(index_of(messages, "READY=1", ready + 1) == messages.size());
    }
    SECTION("WATCHDOG_PID of another process: no watchdog, the rest as before") {
        NotifySocket socket(dir.path() + "/notify");
        ScopedEnv env;
        env.set("NOTIFY_SOCKET", dir.path() + "/notify");
        env.set("WATCHDOG_USEC", "300000");
        env.set("WATCHDOG_PID", std::to_string(::getpid()));  // the test's, not the daemon's
        const RunResult run = run_taprec({"--config", config}, [](pid_t pid) {
            std::this_thread::sleep_for(800ms);
            kill(pid, SIGTERM);
        });
        const std::vector<std::string> messages = socket.messages();
        INFO(run.output << all(messages));
        REQUIRE(run.exit_code == 0);
        CHECK(index_of(messages, "READY=1") < messages.size());
        CHECK(count_of(messages, "WATCHDOG=1") == 0);
        CHECK(index_of(messages, "STOPPING=1") < messages.size());
    }
    SECTION("a replay that ends on its own still says READY then STOPPING") {
        write_file(config, replace_all(paced_config(dir.path() + "/out"), "speed: realtime", "speed: max"));
        NotifySocket socket(dir.path() + "/notify");
        ScopedEnv env;
        env.set("NOTIFY_SOCKET", dir.path() + "/notify");
        const RunResult run = run_taprec({"--config", config});
        const std::vector<std::string> messages = socket.messages();
        INFO(run.output << all(messages));
        REQUIRE(run.exit_code == 0);
        const size_t ready = index_of(messages, "READY=1");
        CHECK(ready < messages.size());
        CHECK(index_of(messages, "STOPPING=1", ready) < messages.size());
    }
}

TEST_CASE("the watchdog's progress check: a running thread must move, a finished one need not",
          "[fast][service]") {
    using taprec::Heartbeat;
    taprec::ProgressCheck check;
    check.remember({{"writer:t", 10, true, false}, {"wk0:t", 5, true, false}, {"rxa:t", 7, true, false}});
    CHECK(check.stuck_threads({{"writer:t", 11, true, false}, {"wk0:t", 9, true, false},
                               {"rxa:t", 8, true, false}})
              .empty());
    // wk0 stopped moving: it is named; the rest moved.
    CHECK(check.stuck_threads({{"writer:t", 12, true, false}, {"wk0:t", 9, true, false},
                               {"rxa:t", 9, true, false}}) == std::vector<std::string>{"wk0:t"});
    // rxa reached the end of its file: finished threads are fine; wk0 moves again.
    CHECK(check.stuck_threads({{"writer:t", 13, true, false}, {"wk0:t", 10, true, false},
                               {"rxa:t", 9, true, true}})
              .empty());
    // A thread seen for the first time counts once it has started.
    CHECK(check.stuck_threads({{"writer:t", 14, true, false}, {"wk0:t", 11, true, false},
                               {"rxa:t", 9, true, true}, {"rxb:t", 0, false, false}}) ==
          std::vector<std::string>{"rxb:t"});
}

TEST_CASE("the control thread wakes when a tap finishes, not at its next look",
          "[fast][service]") {
    // A replay used to end at the control thread's next 100 ms look; the tap now wakes it. The
    // timeout here is a minute: only a lost wakeup comes near it.
    taprec::Wakeup wakeup;
    const auto start = std::chrono::steady_clock::now();
    std::thread tap([&] {
        std::this_thread::sleep_for(20ms);
        wakeup.notify();
    });
    wakeup.wait_for(60'000);
    tap.join();
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    // A notification before the wait is not lost either.
    wakeup.notify();
    const auto again = std::chrono::steady_clock::now();
    wakeup.wait_for(60'000);
    CHECK(std::chrono::steady_clock::now() - again < 30s);
}

TEST_CASE("a signal wakes the control thread whichever thread it interrupts", "[fast][service]") {
    // The control thread looks only when something is due (up to a second apart); SIGTERM must
    // not wait for that. Here the signal goes to another thread (this one blocks it), so only the
    // handler's write to the eventfd can end the wait, which is a minute long.
    static taprec::SignalFlags flags;
    taprec::install_signal_handlers(flags);
    taprec::Wakeup wakeup;
    flags.wake_fd.store(wakeup.fd());
    sigset_t hup, previous;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    REQUIRE(pthread_sigmask(SIG_BLOCK, &hup, &previous) == 0);
    const auto start = std::chrono::steady_clock::now();
    std::thread other([&] {
        sigset_t open;
        sigemptyset(&open);
        sigaddset(&open, SIGHUP);
        pthread_sigmask(SIG_UNBLOCK, &open, nullptr);
        std::this_thread::sleep_for(20ms);
        pthread_kill(pthread_self(), SIGHUP);
    });
    wakeup.wait_for(60'000);
    other.join();
    const auto waited = std::chrono::steady_clock::now() - start;
    flags.wake_fd.store(-1);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    CHECK(flags.rotations.load() == 1);
    CHECK(waited < 30s);
}

TEST_CASE("user: hands the tap folders over and runs as that user", "[.root][fast][service]") {
    REQUIRE(::geteuid() == 0);  // run by meson through tests/support/precondition root
    TempDir dir;
    ::chmod(dir.path().c_str(), 0755);  // mkdtemp's 0700 would keep the user out
    const std::string out = dir.path() + "/out";
    ::mkdir(out.c_str(), 0755);
    const std::string prom_dir = dir.path() + "/prom";
    ::mkdir(prom_dir.c_str(), 0755);
    REQUIRE(::chown(prom_dir.c_str(), 65534, 65534) == 0);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, replace_all(paced_config(out, ", prometheus_textfile: " + prom_dir + "/t.prom"),
                                   "speed: realtime", "speed: max") + "user: nobody\n");
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(run.output.find("running as uid 65534") != std::string::npos);
    struct stat st{};
    for (const std::string& path : {out + "/svc", out + "/svc/.meta/stats.jsonl", out + "/svc/.partial",
                                    published_files(out + "/svc").at(0), prom_dir + "/t.prom"}) {
        INFO(path);
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK(st.st_uid == 65534);
    }
    CHECK(invariant_holds(final_stats(out + "/svc"), "a"));

    SECTION("a second run finds the first run's files writable") {
        const RunResult again = run_taprec({"--config", config});
        INFO(again.output);
        CHECK(again.exit_code == 0);
        CHECK(read_lines(out + "/svc/.meta/stats.jsonl").size() >= 2);
    }
    SECTION("a folder the user cannot reach stops the start with a clear error") {
        ::chmod(dir.path().c_str(), 0700);
        const RunResult blocked = run_taprec({"--config", config});
        INFO(blocked.output);
        CHECK(blocked.exit_code == 1);
        CHECK(blocked.output.find("as nobody, cannot write into " + out + "/svc") != std::string::npos);
        ::chmod(dir.path().c_str(), 0755);
    }
}

TEST_CASE("an unknown user is a configuration error", "[fast][service]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, paced_config(dir.path() + "/out") + "user: no-such-user-taprec\n");
    const RunResult run = run_taprec({"--config", config, "--check"});
    INFO(run.output);
    CHECK(run.exit_code == 2);
    CHECK(run.output.find("c.yaml:8: user: \"no-such-user-taprec\" is not a user on this machine") !=
          std::string::npos);
}

TEST_CASE("the Prometheus textfile is replaced whole each interval and says when capture ended",
          "[fast][service]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string prom = dir.path() + "/metrics/taprec.prom";
    ::mkdir((dir.path() + "/metrics").c_str(), 0755);
    write_file(config, paced_config(dir.path() + "/out", ", prometheus_textfile: " + prom));
    std::string seen_while_running;
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        // A reader polling the file never sees it missing or cut short.
        const auto until = std::chrono::steady_clock::now() + 1200ms;
        bool appeared = false;
        while (std::chrono::steady_clock::now() < until) {
            const std::string text = read_file(prom);
            if (!text.empty()) {
                appeared = true;
                seen_while_running = text;
                if (text.find("taprec_capturing{tap=\"svc\"} 1\n") == std::string::npos) break;
            } else if (appeared) {
                seen_while_running = "(vanished)";
                break;
            }
            std::this_thread::sleep_for(5ms);
        }
        kill(pid, SIGTERM);
    });
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(seen_while_running.find("taprec_capturing{tap=\"svc\"} 1\n") != std::string::npos);
    CHECK(seen_while_running.ends_with("\n"));
    const std::string text = read_file(prom);
    CHECK(text.find("taprec_capturing{tap=\"svc\"} 0\n") != std::string::npos);
    const Json last = final_stats(dir.path() + "/out/svc");
    CHECK(text.find("taprec_port_received_packets_total{tap=\"svc\",port=\"b\",direction=\"b_to_a\"} " +
                    std::to_string(last.u64("ports.b.received")) + "\n") != std::string::npos);
    CHECK(text.find("taprec_written_packets_total{tap=\"svc\"} " + std::to_string(last.u64("written")) +
                    "\n") != std::string::npos);
    CHECK(list_dir(dir.path() + "/metrics") == std::vector<std::string>{"taprec.prom"});  // no temp files left
    struct stat st{};
    REQUIRE(::stat(prom.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);  // node_exporter reads it as another user
}

TEST_CASE("the man page renders without a warning and describes every configuration key of the "
          "README", "[fast][service]") {
    const std::string root = env("TAPREC_SOURCE_ROOT");
    const std::string page = root + "/man/taprec.8";
    require_program("groff", "groff-base");
    std::string output;
    // -ww: every warning; -z: no output but the warnings.
    CHECK(shell("groff -man -ww -z -Tutf8 '" + page + "'", output) == 0);
    CHECK(output.empty());
    INFO(output);
    const std::string man = read_file(page);
    // The keys of the README's configuration table: `key` at the start of a table row, and
    // the `.x` continuations on that row ("`threads.rx`, `.workers`").
    std::vector<std::string> keys;
    bool in_configuration = false;
    for (const std::string& line : read_lines(root + "/README.md")) {
        if (line.starts_with("## ")) in_configuration = line == "## Configuration";
        if (!in_configuration || !line.starts_with("| `")) continue;
        const std::string cell = line.substr(2, line.find(" |", 2) - 2);
        std::string parent;
        for (size_t at = cell.find('`'); at != std::string::npos; at = cell.find('`', at + 1)) {
            const size_t end = cell.find('`', at + 1);
            std::string key = cell.substr(at + 1, end - at - 1);
            if (key.starts_with(".")) key = parent + key;
            else parent = key.substr(0, key.find('.'));
            keys.push_back(key);
            at = end;
        }
    }
    CHECK(keys.size() >= 25);
    // A key is described where it stands as a whole word (output.on_rotate is not
    // output.on_rotate_max).
    auto mentions = [&](const std::string& key) {
        for (size_t at = man.find(key); at != std::string::npos; at = man.find(key, at + 1)) {
            const char after = at + key.size() < man.size() ? man[at + key.size()] : '\n';
            if (!std::isalnum(static_cast<unsigned char>(after)) && after != '_' && after != '.') return true;
        }
        return false;
    };
    for (const std::string& key : keys) {
        INFO(key);
        CHECK(mentions(key));
    }
    for (const char* option : {"\\-\\-check", "\\-\\-hugepages\\-needed", "\\-\\-config"}) {
        INFO(option);
        CHECK(man.find(option) != std::string::npos);
    }
}
