// Multi-queue end to end on net_af_packet (issue 18): two ports with qpairs=2 on veth pairs in
// a network namespace made for the test, two workers, the two directions of a real capture sent
// one per veth. Every queue must be polled (the kernel's fanout spreads each port's packets over
// both sockets), queue i of both ports must feed worker i, and every connection must reach one
// worker in both directions, as the rx threads' flow records show.
//
// Needs root and network namespaces: without them it exits 77 (meson: SKIP).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <pcap/dlt.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <thread>

#include "daemon_run.hpp"
#include "flow_affinity.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

int sh(const std::string& command) { return std::system(command.c_str()); }

// A namespace with one veth pair per TAP direction (cap_X taprec's end, send_X the wire's),
// IPv6 off so the kernel sends nothing of its own. Removed with everything in it.
class TapNamespace {
public:
    TapNamespace() : name_("taprec-mq-" + std::to_string(getpid())) {
        ok_ = sh("ip netns add " + name_ + " 2>/dev/null") == 0 &&
              sh(exec() + "sysctl -qw net.ipv6.conf.all.disable_ipv6=1") == 0 &&
              sh(exec() + "sysctl -qw net.ipv6.conf.default.disable_ipv6=1") == 0;
        for (const char* d : {"a", "b"})
            ok_ = ok_ &&
                  sh(exec() + "ip link add cap_" + d + " type veth peer name send_" + d) == 0 &&
                  sh(exec() + "ip link set cap_" + d + " up") == 0 &&
                  sh(exec() + "ip link set send_" + d + " up") == 0;
    }
    ~TapNamespace() { sh("ip netns del " + name_ + " 2>/dev/null"); }
    bool ok() const { return ok_; }
    std::string exec() const { return "ip netns exec " + name_ + " "; }

private:
    std::string name_;
    bool ok_ = false;
};

TapNamespace* g_namespace = nullptr;

// Points TAPREC_BIN at a wrapper that runs taprec inside the namespace with its rx threads
// keeping flow records in `records`; returns the binary to restore afterwards.
std::string run_taprec_in_namespace(const std::string& dir, const std::string& records) {
    const std::string wrapper = dir + "/run-in-ns.sh";
    write_file(wrapper, "#!/bin/sh\nTAPREC_FLOW_RECORD=" + records + " exec " +
                            g_namespace->exec() + taprec_binary() + " \"$@\"\n");
    sh("chmod +x " + wrapper);
    const std::string saved_bin = taprec_binary();
    setenv("TAPREC_BIN", wrapper.c_str(), 1);
    return saved_bin;
}

}  // namespace

TEST_CASE("net_af_packet qpairs=2: every queue polled, queue i feeds worker i, one worker per "
          "connection", "[netns][dpdk]") {
    TempDir dir;
    const Capture original = read_capture(test_data("tcp-echo-494conns.pcap"));
    REQUIRE(original.packets.size() > 1000);
    const auto [a, b] = split_directions(original);
    write_capture(dir.path() + "/a.pcap", a);
    write_capture(dir.path() + "/b.pcap", b);

    const std::string records = dir.path() + "/flows";
    std::filesystem::create_directories(records);
    const std::string prefix = "taprec-test-mq-" + std::to_string(getpid());
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config,
               multiqueue_config(dir.path(), prefix, "mq",
                   "    a: {driver: dpdk, device: \"net_af_packet0,iface=cap_a,qpairs=2,framecnt=2048\"}\n"
                   "    b: {driver: dpdk, device: \"net_af_packet1,iface=cap_b,qpairs=2,framecnt=2048\"}\n"
                   "    workers: 2\n"));
    // The daemon runs inside the namespace, and its rx threads keep flow records.
    const std::string saved_bin = run_taprec_in_namespace(dir.path(), records);

    const std::string tap_dir = dir.path() + "/out/mq";
    const std::string sender = env("TAPREC_PCAP_SEND");
    int send_status = -1;
    bool started = false, all_received = false;
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        // Started once the first stats line is written (ports open, threads polling).
        for (int i = 0; i < 300 && !started; ++i) {
            started = !read_lines(tap_dir + "/.meta/stats.jsonl").empty();
            std::this_thread::sleep_for(50ms);
        }
        if (started) {
            // Both directions at once, paced so a socket's ring of 2048 frames never fills (a
            // full queue would roll packets over to the other one: the next test case).
            const std::string send = g_namespace->exec() + sender;
            send_status = sh("(" + send + " send_a " + dir.path() + "/a.pcap --pps 5000 & " + send +
                             " send_b " + dir.path() + "/b.pcap --pps 5000; wait) > " + dir.path() +
                             "/sent.txt 2>&1");
            const uint64_t total = original.packets.size();
            for (int i = 0; i < 200 && !all_received; ++i) {
                all_received = received_so_far(tap_dir) >= total;
                std::this_thread::sleep_for(50ms);
            }
        }
        kill(pid, SIGTERM);
    });
    setenv("TAPREC_BIN", saved_bin.c_str(), 1);
    std::filesystem::remove_all("/var/run/dpdk/" + prefix);
    INFO(run.output);
    INFO(read_file(dir.path() + "/sent.txt"));
    REQUIRE(started);
    REQUIRE(send_status == 0);
    REQUIRE(run.exit_code == 0);
    CHECK(all_received);

    // Both ports run on both queues, each queue feeding its own worker.
    CHECK_THAT(run.output, Catch::Contains("net_af_packet0 (net_af_packet; ") &&
                               Catch::Contains("2 queues, one per worker by the kernel's symmetric fanout hash"));
    CHECK_THAT(run.output, Catch::Contains("worker 0 <- a queue 0, b queue 0") &&
                               Catch::Contains("worker 1 <- a queue 1, b queue 1"));

    const Json stats = final_stats(tap_dir);
    for (const char* port : {"a", "b"}) {
        INFO("port " << port);
        CHECK(invariant_holds(stats, port));
        CHECK(stats.u64(std::string("ports.") + port + ".nic_missed") == 0);
        CHECK(stats.u64(std::string("ports.") + port + ".in_flight") == 0);
    }
    CHECK(stats.u64("ports.a.received") == a.packets.size());
    CHECK(stats.u64("ports.b.received") == b.packets.size());
    CHECK_THAT(run.output, !Catch::Contains("moved by the kernel to another queue"));

    const std::vector<Packet> output = published_packets(tap_dir);
    CHECK(same_packets_in_connection_order(a, b, output, DLT_EN10MB) == "");

    // Flow affinity, from what each rx thread recorded: every connection on exactly one worker,
    // the worker its queue's number, and both workers given a share.
    const FlowRecords flows = read_flow_records(records, "mq");
    CHECK(flows.packets == original.packets.size());
    CHECK(flows.lines_queue_not_worker == 0);
    CHECK(split_connections(flows) == 0);
    const std::vector<size_t> shares = connections_per_worker(flows, 2);
    INFO("connections on worker 0: " << shares[0] << ", on worker 1: " << shares[1]);
    CHECK(shares[0] > 0);
    CHECK(shares[1] > 0);
    CHECK(shares[0] + shares[1] == flows.workers.size());
}

TEST_CASE("net_af_packet: a full queue's drops are counted, and so is fanout rollover, which "
          "the flow records show as a connection split between workers", "[netns][dpdk]") {
    TempDir dir;
    // One connection, so every packet hashes to one socket and the other one has room.
    const Capture original = read_capture(test_data("vlan-http-session.pcap"));
    const std::string records = dir.path() + "/flows";
    std::filesystem::create_directories(records);
    const std::string prefix = "taprec-test-mqr-" + std::to_string(getpid());
    const std::string config = dir.path() + "/taprec.yaml";
    // 16 frames per socket, and the rx thread on the sender's core: the sender fills a socket
    // in a fraction of its time slice while the rx thread waits for the core.
    write_file(config,
               multiqueue_config(dir.path(), prefix, "full",
                   "    a: {driver: dpdk, device: \"net_af_packet0,iface=cap_a,qpairs=2,framecnt=16\"}\n"
                   "    workers: 2\n",
                   "{rx: [0], idle: sleep}"));
    const std::string saved_bin = run_taprec_in_namespace(dir.path(), records);
    const std::string tap_dir = dir.path() + "/out/full";
    int send_status = -1;
    bool started = false;
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        for (int i = 0; i < 300 && !started; ++i) {
            started = !read_lines(tap_dir + "/.meta/stats.jsonl").empty();
            std::this_thread::sleep_for(50ms);
        }
        if (started)
            send_status = sh(g_namespace->exec() + "taskset -c 0 " + env("TAPREC_PCAP_SEND") +
                             " send_a " + test_data("vlan-http-session.pcap") + " --loops 50 > " +
                             dir.path() + "/sent.txt 2>&1");
        std::this_thread::sleep_for(1s);  // the counters are read at the next idle poll
        kill(pid, SIGTERM);
    });
    setenv("TAPREC_BIN", saved_bin.c_str(), 1);
    std::filesystem::remove_all("/var/run/dpdk/" + prefix);
    const std::string sent_text = read_file(dir.path() + "/sent.txt");
    INFO(run.output);
    INFO(sent_text);
    REQUIRE(started);
    REQUIRE(send_status == 0);
    REQUIRE(run.exit_code == 0);
    std::smatch m;
    REQUIRE(std::regex_search(sent_text, m, std::regex("sent=(\\d+) failed=0")));
    const uint64_t sent = std::stoull(m[1]);
    CHECK(sent == 50 * original.packets.size());

    // Every frame the kernel took is received or counted: a full socket's drops are nic_missed.
    const Json stats = final_stats(tap_dir);
    CHECK(stats.u64("ports.a.received") + stats.u64("ports.a.nic_missed") == sent);
    CHECK(invariant_holds(stats, "a"));

    // The rollover count, and the records: the connection reached both workers exactly when
    // packets were moved.
    uint64_t moved = 0;
    if (std::regex_search(run.output, m, std::regex("port a: (\\d+) packets were moved by the kernel")))
        moved = std::stoull(m[1]);
    const FlowRecords flows = read_flow_records(records, "full");
    CHECK(flows.packets == stats.u64("ports.a.received"));
    CHECK(flows.workers.size() == 1);
    CHECK(moved > 0);
    CHECK(split_connections(flows) == (moved > 0 ? 1u : 0u));
}

int main(int argc, char** argv) {
    if (geteuid() != 0) {
        std::fprintf(stderr, "SKIP: needs root to make a network namespace\n");
        return 77;
    }
    TapNamespace ns;
    if (!ns.ok()) {
        std::fprintf(stderr, "SKIP: cannot make a network namespace with veth pairs here\n");
        return 77;
    }
    g_namespace = &ns;
    return Catch::Session().run(argc, argv);
}
