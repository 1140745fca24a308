// The libpcap driver on a live interface: a veth pair inside a network namespace made for the
// test; frames sent on one end are recorded from the other, byte for byte.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "daemon_run.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

int sh(const std::string& command) { return std::system(command.c_str()); }

// A namespace with a veth pair, both ends up, IPv6 off so the kernel sends nothing of its own.
class VethNamespace {
public:
    VethNamespace() : name_("taprec-test-" + std::to_string(getpid())) {
        ok_ = sh("ip netns add " + name_ + " 2>/dev/null") == 0 &&
              sh(exec() + "sysctl -qw net.ipv6.conf.all.disable_ipv6=1") == 0 &&
              sh(exec() + "sysctl -qw net.ipv6.conf.default.disable_ipv6=1") == 0 &&
              sh(exec() + "ip link add cap0 type veth peer name send0") == 0 &&
              sh(exec() + "ip link set cap0 up") == 0 && sh(exec() + "ip link set send0 up") == 0;
    }
    ~VethNamespace() { sh("ip netns del " + name_ + " 2>/dev/null"); }
    bool ok() const { return ok_; }
    std::string exec() const { return "ip netns exec " + name_ + " "; }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    bool ok_ = false;
};

std::string pcap_send_binary() {
    const char* bin = std::getenv("TAPREC_PCAP_SEND");
    return bin == nullptr ? "" : bin;
}

}  // namespace

// Runs taprec inside the namespace on `config`: `traffic` once the daemon has had time to open
// its ports, then SIGTERM. `traffic` gets the daemon's pid.
RunResult run_in_namespace(const VethNamespace& ns, const TempDir& dir, const std::string& config,
                           const std::function<void(pid_t)>& traffic) {
    const std::string wrapper = dir.path() + "/run-in-ns.sh";
    write_file(wrapper, "#!/bin/sh\nexec " + ns.exec() + taprec_binary() + " \"$@\"\n");
    sh("chmod +x " + wrapper);
    const std::string saved = taprec_binary();
    setenv("TAPREC_BIN", wrapper.c_str(), 1);
    RunResult run;
    try {
        run = run_taprec({"--config", config}, [&](pid_t pid) {
            std::this_thread::sleep_for(1500ms);  // the daemon opens the interface
            traffic(pid);
            kill(pid, SIGTERM);
        });
    } catch (...) {
        setenv("TAPREC_BIN", saved.c_str(), 1);
        throw;
    }
    setenv("TAPREC_BIN", saved.c_str(), 1);
    return run;
}

std::string live_config(const TempDir& dir, const std::string& interface) {
    return "taps:\n"
           "  - name: live\n"
           "    a: {driver: pcap, interface: " + interface + "}\n"
           "threads: {idle: sleep}\n"
           "output:\n"
           "  directory: " + dir.path() + "/out\n"
           "stats: {interval: 1s}\n";
}

// live_config() written to DIR/c.yaml; returns its path.
std::string write_live_config(const TempDir& dir, const std::string& interface) {
    const std::string path = dir.path() + "/c.yaml";
    write_file(path, live_config(dir, interface));
    return path;
}

// `taprec --check` on `config` inside the namespace: its output.
std::string check_in_namespace(const VethNamespace& ns, const std::string& config) {
    std::string out;
    FILE* p = ::popen((ns.exec() + taprec_binary() + " --config " + config + " --check 2>&1").c_str(), "r");
    if (p == nullptr) return out;
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, p)) out.append(buffer, n);
    ::pclose(p);
    return out;
}

// Runs taprec on `interface` while `capture` is sent once on `send_on`, then stops it.
RunResult record_one_send(const VethNamespace& ns, const TempDir& dir, const std::string& interface,
                          const std::string& send_on, const std::string& capture) {
    const std::string config = write_live_config(dir, interface);
    return run_in_namespace(ns, dir, config, [&](pid_t) {
        sh(ns.exec() + pcap_send_binary() + " " + send_on + " " + capture + " > " + dir.path() +
           "/sent.txt");
        std::this_thread::sleep_for(1000ms);
    });
}

// Packets of `output` whose bytes differ from the same packet of `input` (same count assumed).
size_t frames_differing(const std::vector<Packet>& output, const Capture& input) {
    size_t differing = 0;
    for (size_t i = 0; i < output.size() && i < input.packets.size(); ++i)
        if (output[i].bytes != input.packets[i].bytes) ++differing;
    return differing;
}

// pcap_send's "sent=N failed=M seconds=S": N.
uint64_t frames_sent(const std::string& report) {
    const size_t at = report.find("sent=");
    return at == std::string::npos ? 0 : std::stoull(report.substr(at + 5));
}

TEST_CASE("live capture on a veth records every frame sent, byte for byte, from the ring in place",
          "[.root][netns]") {
    REQUIRE(geteuid() == 0);  // run by meson through tests/support/precondition root
    VethNamespace ns;
    REQUIRE(ns.ok());
    TempDir dir;
    const std::string capture = test_data("ftp-ipv4.pcap");
    const RunResult run = record_one_send(ns, dir, "cap0", "send0", capture);
    INFO(run.output);
    INFO(read_file(dir.path() + "/sent.txt"));
    REQUIRE(run.exit_code == 0);
    // What --check approves is what runs: the plan's reader is the one the run opened.
    const std::string reader = "pcap interface cap0 (TPACKET_V3 ring, 128 MiB, read in place)";
    CHECK(contains(check_in_namespace(ns, dir.path() + "/c.yaml"), "port a          " + reader));
    CHECK(contains(run.output, "a: " + reader));

    const Capture input = read_capture(capture);
    const std::vector<Packet> output = published_packets(dir.path() + "/out/live");
    REQUIRE(output.size() == input.packets.size());
    CHECK(frames_differing(output, input) == 0);
    const Json stats = final_stats(dir.path() + "/out/live");
    CHECK(stats.u64("ports.a.received") == input.packets.size());
    CHECK(stats.u64("ports.a.nic_missed") == 0);
    CHECK(invariant_holds(stats, "a"));
}

// The kernel hands a block over when it is full or 100 ms old: frames that arrived just before
// SIGTERM are still in the block it is filling, and must be recorded, not closed away unseen.
TEST_CASE("frames that arrived just before the stop are recorded", "[.root][netns]") {
    REQUIRE(geteuid() == 0);
    REQUIRE(std::thread::hardware_concurrency() >= 2);
    VethNamespace ns;
    REQUIRE(ns.ok());
    // Threads of their own: the rx thread sees the stop within its 50 ms wait, often before the
    // block timeout (one thread for every stage happens to wait for the block in its poll()).
    // Where its wait falls is chance, so the stop comes several times: without the wait for
    // the block, about one run in three lost every frame.
    const std::string capture = test_data("ftp-ipv4.pcap");
    const size_t frames = read_capture(capture).packets.size();
    for (int attempt = 0; attempt < 4; ++attempt) {
        TempDir dir;
        const std::string config = dir.path() + "/c.yaml";
        std::string text = live_config(dir, "cap0");
        text.replace(text.find("threads: {idle: sleep}"), 22,
                     "threads: {rx: [0], workers: [1], writer: 1, idle: sleep}");
        write_file(config, text);
        const RunResult run = run_in_namespace(ns, dir, config, [&](pid_t) {
            sh(ns.exec() + pcap_send_binary() + " send0 " + capture + " > /dev/null");
        });
        INFO("attempt " << attempt << "\n" << run.output);
        REQUIRE(run.exit_code == 0);
        REQUIRE(published_packets(dir.path() + "/out/live").size() == frames);
        REQUIRE(final_stats(dir.path() + "/out/live").u64("ports.a.received") == frames);
    }
}

// The ring replaces libpcap's reader for Ethernet interfaces: its files must be the ones libpcap
// would have made. tcpdump (libpcap) records the same interface at the same time; VLAN-tagged
// frames check that the tag the kernel took out is put back as libpcap puts it.
TEST_CASE("frames and stamps from the ring are libpcap's: tcpdump beside it records the same",
          "[.root][netns]") {
    REQUIRE(geteuid() == 0);
    const std::string tcpdump = require_program("tcpdump", "tcpdump");
    VethNamespace ns;
    REQUIRE(ns.ok());
    TempDir dir;
    const std::string config = write_live_config(dir, "cap0");
    const std::string reference = dir.path() + "/tcpdump.pcap";
    ChildProcess recorder({require_program("ip", "iproute2"), "netns", "exec", ns.name(), tcpdump, "-i", "cap0", "-n", "-U",
                           "--time-stamp-precision=nano", "-w", reference},
                          dir.path() + "/tcpdump.log");
    for (int i = 0; i < 100 && !contains(read_file(dir.path() + "/tcpdump.log"), "listening on"); ++i)
        std::this_thread::sleep_for(50ms);
    INFO(read_file(dir.path() + "/tcpdump.log"));
    REQUIRE(contains(read_file(dir.path() + "/tcpdump.log"), "listening on"));
    std::string sent;
    const RunResult run = run_in_namespace(ns, dir, config, [&](pid_t) {
        for (const char* name : {"ftp-ipv4.pcap", "vlan-http-session.pcap"})
            sh(ns.exec() + pcap_send_binary() + " send0 " + test_data(name) + " >> " + dir.path() +
               "/sent.txt");
        std::this_thread::sleep_for(1000ms);
    });
    kill(recorder.pid(), SIGINT);
    recorder.wait(10);
    INFO(run.output);
    INFO(read_file(dir.path() + "/sent.txt"));
    REQUIRE(run.exit_code == 0);

    const std::vector<Packet> ours = published_packets(dir.path() + "/out/live");
    const std::vector<Packet> theirs = read_capture(reference).packets;
    REQUIRE(theirs.size() == 95 + 94);  // every frame sent, and nothing else
    REQUIRE(ours.size() == theirs.size());
    size_t differing_bytes = 0, differing_stamps = 0, tagged = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
        if (ours[i].bytes != theirs[i].bytes) ++differing_bytes;
        if (ours[i].ts_ns != theirs[i].ts_ns) ++differing_stamps;
        if (theirs[i].bytes.size() > 13 && theirs[i].bytes[12] == 0x81 && theirs[i].bytes[13] == 0x00)
            ++tagged;
    }
    CHECK(tagged == 94);
    CHECK(differing_bytes == 0);
    CHECK(differing_stamps == 0);
}

// Loopback is not Ethernet to the kernel (ARPHRD_LOOPBACK): libpcap reads it, and keeps one copy
// of each frame, which the interface shows twice (sent and received).
TEST_CASE("an interface that is not Ethernet is read through libpcap", "[.root][netns]") {
    REQUIRE(geteuid() == 0);
    VethNamespace ns;
    REQUIRE(ns.ok());
    REQUIRE(sh(ns.exec() + "ip link set lo up") == 0);
    TempDir dir;
    const std::string capture = test_data("ftp-ipv4.pcap");
    const RunResult run = record_one_send(ns, dir, "lo", "lo", capture);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string reader = "pcap interface lo (through libpcap)";
    CHECK(contains(check_in_namespace(ns, dir.path() + "/c.yaml"), "port a          " + reader));
    CHECK(contains(run.output, "a: " + reader));
    CHECK(!contains(run.output, "TPACKET_V3 ring"));
    const Capture input = read_capture(capture);
    const std::vector<Packet> output = published_packets(dir.path() + "/out/live");
    REQUIRE(output.size() == input.packets.size());
    CHECK(frames_differing(output, input) == 0);
}

TEST_CASE("libpcap's 'any' device is read through libpcap, as --check says", "[.root][netns]") {
    REQUIRE(geteuid() == 0);
    VethNamespace ns;
    REQUIRE(ns.ok());
    TempDir dir;
    const std::string capture = test_data("ftp-ipv4.pcap");
    const RunResult run = record_one_send(ns, dir, "any", "send0", capture);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    // No interface is called any: the plan leaves it to the driver, which finds no Ethernet.
    CHECK(contains(check_in_namespace(ns, dir.path() + "/c.yaml"), "pcap interface any (its TPACKET_V3 ring"));
    CHECK(contains(run.output, "a: pcap interface any (through libpcap)"));
    const std::vector<std::string> files = published_files(dir.path() + "/out/live");
    REQUIRE(files.size() == 1);
    const Capture output = read_capture(files[0]);
    CHECK(output.link_type == 113);  // LINUX_SLL: libpcap's cooked header for any
    // Both ends of the veth pair are in the namespace: each frame is seen leaving and arriving.
    CHECK(output.packets.size() >= read_capture(capture).packets.size());
}

// While the daemon is stopped the kernel goes on filling the ring; what does not fit is dropped
// by the kernel, and must be counted: every frame sent is either recorded or in nic_missed.
TEST_CASE("a full ring drops what does not fit and counts every frame it dropped",
          "[.root][netns]") {
    REQUIRE(geteuid() == 0);
    VethNamespace ns;
    REQUIRE(ns.ok());
    TempDir dir;
    const std::string config = write_live_config(dir, "cap0");
    // ~170 MB of ~750-byte frames: more than the 128 MiB ring holds.
    const std::string capture = test_data("vlan-http-session.pcap");
    uint64_t sent = 0;
    const RunResult run = run_in_namespace(ns, dir, config, [&](pid_t pid) {
        kill(pid, SIGSTOP);
        sh(ns.exec() + pcap_send_binary() + " send0 " + capture + " --loops 2400 > " + dir.path() +
           "/sent.txt");
        kill(pid, SIGCONT);
        sent = frames_sent(read_file(dir.path() + "/sent.txt"));
        std::this_thread::sleep_for(2000ms);
    });
    INFO(run.output);
    INFO(read_file(dir.path() + "/sent.txt"));
    REQUIRE(run.exit_code == 0);
    REQUIRE(sent == 94 * 2400);
    const Json stats = final_stats(dir.path() + "/out/live");
    const uint64_t received = stats.u64("ports.a.received");
    const uint64_t missed = stats.u64("ports.a.nic_missed");
    CHECK(missed > 0);
    CHECK(received + missed == sent);
    CHECK(invariant_holds(stats, "a"));
    CHECK(published_packets(dir.path() + "/out/live").size() == received);
}

// A TAP's link can flap. The kernel tells the socket the interface went down (ENETDOWN, as when
// it is deleted: test_bad_input); the port must outlive it and capture again once it is up.
TEST_CASE("an interface that goes down and up again is captured again", "[.root][netns]") {
    REQUIRE(geteuid() == 0);
    VethNamespace ns;
    REQUIRE(ns.ok());
    TempDir dir;
    const std::string config = write_live_config(dir, "cap0");
    const std::string capture = test_data("ftp-ipv4.pcap");
    const std::string send = ns.exec() + pcap_send_binary() + " send0 " + capture + " >> " +
                             dir.path() + "/sent.txt";
    const RunResult run = run_in_namespace(ns, dir, config, [&](pid_t) {
        sh(send);
        std::this_thread::sleep_for(500ms);
        sh(ns.exec() + "ip link set cap0 down");
        std::this_thread::sleep_for(500ms);
        sh(ns.exec() + "ip link set cap0 up");
        std::this_thread::sleep_for(1000ms);  // veth carrier
        sh(send);
        std::this_thread::sleep_for(1000ms);
    });
    INFO(run.output);
    INFO(read_file(dir.path() + "/sent.txt"));
    REQUIRE(run.exit_code == 0);
    const size_t frames = read_capture(capture).packets.size();
    CHECK(published_packets(dir.path() + "/out/live").size() == 2 * frames);
}

// Both directions of a TAP, on two interfaces, with every stage on a thread of its own: the rx
// threads sleep in the ring's own wait (a poll, or a nap while the merge holds the block the
// kernel filled last), and the merge gets both directions into one stream.
TEST_CASE("a two-port tap with pinned threads records both directions in time order",
          "[.root][netns]") {
    REQUIRE(geteuid() == 0);
    REQUIRE(std::thread::hardware_concurrency() >= 2);
    VethNamespace ns;
    REQUIRE(ns.ok());
    REQUIRE(sh(ns.exec() + "ip link add cap1 type veth peer name send1") == 0);
    REQUIRE(sh(ns.exec() + "ip link set cap1 up") == 0);
    REQUIRE(sh(ns.exec() + "ip link set send1 up") == 0);
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config,
               "taps:\n"
               "  - name: live\n"
               "    a: {driver: pcap, interface: cap0}\n"
               "    b: {driver: pcap, interface: cap1}\n"
               "threads: {rx: [0, 0], workers: [1], writer: 1, idle: sleep}\n"
               "output:\n"
               "  directory: " + dir.path() + "/out\n"
               "stats: {interval: 1s}\n");
    const std::string v4 = test_data("ftp-ipv4.pcap");
    const std::string v6 = test_data("ftp-ipv6.pcap");
    const RunResult run = run_in_namespace(ns, dir, config, [&](pid_t) {
        for (int wave = 0; wave < 2; ++wave) {  // the second after the rings went quiet
            sh(ns.exec() + pcap_send_binary() + " send0 " + v4 + " >> " + dir.path() + "/sent.txt & " +
               ns.exec() + pcap_send_binary() + " send1 " + v6 + " >> " + dir.path() +
               "/sent.txt; wait");
            std::this_thread::sleep_for(700ms);
        }
    });
    INFO(run.output);
    INFO(read_file(dir.path() + "/sent.txt"));
    REQUIRE(run.exit_code == 0);
    const size_t expected = 2 * (read_capture(v4).packets.size() + read_capture(v6).packets.size());
    const std::vector<Packet> output = published_packets(dir.path() + "/out/live");
    CHECK(output.size() == expected);
    size_t out_of_order = 0;
    for (size_t i = 1; i < output.size(); ++i)
        if (output[i].ts_ns < output[i - 1].ts_ns) ++out_of_order;
    CHECK(out_of_order == 0);
    const Json stats = final_stats(dir.path() + "/out/live");
    CHECK(invariant_holds(stats, "a"));
    CHECK(invariant_holds(stats, "b"));
}
