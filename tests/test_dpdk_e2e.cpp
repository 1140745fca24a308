// The DPDK driver end to end through the real daemon, without a NIC or hugepages: net_pcap vdevs
// replay the real captures (input equals output), net_memif carries dpdk-testpmd's traffic (every
// packet testpmd sent is written or counted), and set-up errors say what to do.
// Each run has its own --file-prefix, so these tests run in parallel with anything else.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "daemon_run.hpp"

using namespace test_support;

namespace {

std::string prefix(const std::string& what) {
    return "taprec-test-" + what + "-" + std::to_string(getpid());
}

std::string dpdk_section(const std::string& what, uint32_t mbufs = 4095, bool no_huge = true) {
    return "dpdk:\n"
           "  eal: [" + std::string(no_huge ? "\"--no-huge\", " : "") + "\"--file-prefix\", \"" +
           prefix(what) + "\"]\n"
           "  mbufs_per_port: " + std::to_string(mbufs) + "\n"
           "  rx_descriptors: 256\n";
}

std::string output_section(const std::string& dir) {
    return "threads: {idle: sleep}\n"
           "ring_capacity: 1024\n"
           "output:\n"
           "  directory: " + dir + "\n"
           "  format: pcap-ns\n"
           "  snaplen: 262144\n"
           "  rotate: {bytes: 0, seconds: 0}\n"
           "stats:\n"
           "  interval: 1s\n";
}

uint64_t free_hugepages() {
    std::ifstream in("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    uint64_t n = 0;
    in >> n;
    return n;
}

// A configuration with one tap whose port a is `device`; the rest small and valid.
RunResult run_with_device(const TempDir& dir, const std::string& what, const std::string& device,
                          uint32_t mbufs = 4095, bool no_huge = true) {
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config, dpdk_section(what, mbufs, no_huge) +
                           "taps:\n  - name: t\n    a: {driver: dpdk, device: \"" + device +
                           "\"}\n    workers: 1\n" + output_section(dir.path() + "/out"));
    RunResult run = run_taprec({"--config", config}, {}, 60);
    // A run that failed before EAL was up leaves EAL's run folder for that prefix behind.
    std::filesystem::remove_all("/var/run/dpdk/" + prefix(what));
    return run;
}

}  // namespace

TEST_CASE("net_pcap replays come out packet for packet", "[dpdk]") {
    // Every Ethernet-or-other capture libpcap reads as one stream; each file is a tap of its own,
    // all in one daemon run.
    const std::vector<std::string> captures{
        "ftp-ipv4.pcap", "ftp-ipv6.pcap", "vlan-http-session.pcap", "ipv4-fragments-nfs.pcap",
        "ipv6-fragmented-dns.pcap", "icmp-echo.pcap", "tcp-snaplen96.pcap",
        "loopback-oversized-frames.pcap", "bigtcp-ipv4-80KB-frame.pcap",
        "nsec-le-tcp-handshake.pcap", "nsec-be-http-loopback.pcap", "usec-be-pptp.pcap",
        "ftp-ipv4.pcapng", "ftp-ipv4-nsec.pcap"};
    TempDir dir;
    std::string taps = "taps:\n";
    for (size_t i = 0; i < captures.size(); ++i)
        taps += "  - name: t" + std::to_string(i) + "\n    a: {driver: dpdk, device: \"net_pcap" +
                std::to_string(i) + ",rx_pcap=" + test_data(captures[i]) + "\"}\n    workers: 1\n";
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config, dpdk_section("replay") + taps + output_section(dir.path() + "/out"));

    const RunResult run = run_taprec({"--config", config}, {}, 120);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("timestamps: driver, microseconds"));

    std::vector<std::string> mismatches;  // "FILE #N: what differs", to say exactly what broke
    for (size_t i = 0; i < captures.size(); ++i) {
        const Capture input = read_capture(test_data(captures[i]));
        const std::string tap_dir = dir.path() + "/out/t" + std::to_string(i);
        const std::vector<std::string> files = published_files(tap_dir);
        if (files.size() != 1) {
            mismatches.push_back(captures[i] + ": " + std::to_string(files.size()) + " files");
            continue;
        }
        const Capture output = read_capture(files[0]);
        if (output.link_type != input.link_type) mismatches.push_back(captures[i] + ": link type");
        if (output.packets.size() != input.packets.size()) {
            mismatches.push_back(captures[i] + ": " + std::to_string(output.packets.size()) + " of " +
                                 std::to_string(input.packets.size()) + " packets");
            continue;
        }
        for (size_t p = 0; p < input.packets.size(); ++p) {
            const Packet& in = input.packets[p];
            const Packet& out = output.packets[p];
            // net_pcap keeps microseconds of the record's time, and only its captured bytes: a
            // record cut by the capture's snaplen comes out with wire length = captured length.
            // Debian's 22.11 net_pcap copies a frame over 64 KiB only up to its length mod 65536
            // (see captured_bytes in drivers/dpdk_port.cpp): taprec writes it as a truncated
            // record, the bytes it got, with the frame's full length as wire length.
            uint32_t caplen = in.caplen;
            if (caplen > 65535) caplen %= 65536;
            const std::vector<unsigned char> bytes(in.bytes.begin(), in.bytes.begin() + caplen);
            const std::string where = captures[i] + " #" + std::to_string(p) + ": ";
            if (out.ts_ns != in.ts_ns / 1000 * 1000)
                mismatches.push_back(where + "ts " + std::to_string(out.ts_ns) + " for " + std::to_string(in.ts_ns));
            if (out.caplen != caplen || out.bytes != bytes)
                mismatches.push_back(where + "caplen " + std::to_string(out.caplen) + " for " +
                                     std::to_string(caplen) + " or bytes differ");
            if (out.wire_len != in.caplen)
                mismatches.push_back(where + "wire length " + std::to_string(out.wire_len));
        }
        const Json stats = final_stats(tap_dir);
        if (stats.u64("ports.a.received") != input.packets.size() ||
            stats.u64("ports.a.written") != input.packets.size() ||
            stats.u64("ports.a.nic_nombuf") != 0 || !invariant_holds(stats, "a"))
            mismatches.push_back(captures[i] + ": stats.jsonl does not account for every packet");
    }
    CHECK(mismatches == std::vector<std::string>{});
}

TEST_CASE("a damaged replayed file ends the run with exit 1 after its readable records", "[dpdk]") {
    TempDir dir;
    const RunResult run =
        run_with_device(dir, "damaged", "net_pcap0,rx_pcap=" + test_data("corrupt-fuzz-record.pcap"));
    INFO(run.output);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.output, Catch::Contains("damaged record"));
    const Capture input = read_capture(test_data("corrupt-fuzz-record.pcap"));
    CHECK(published_packets(dir.path() + "/out/t").size() == input.packets.size());
}

TEST_CASE("net_memif: every packet dpdk-testpmd sent is written or counted as dropped", "[dpdk]") {
    TempDir dir;
    const std::string socket = dir.path() + "/memif.sock";
    const std::string config = dir.path() + "/taprec.yaml";
    // Two workers behind one queue (the software flow hash), and a pool that covers the NIC but
    // not every ring full at once: the daemon runs, and says how to rule out nic_nombuf drops.
    write_file(config, dpdk_section("memif", 4095) +
                           "taps:\n  - name: m\n    a: {driver: dpdk, device: \"net_memif0,role=server,"
                           "socket=" + socket + "\"}\n    workers: 2\n" +
                           output_section(dir.path() + "/out"));
    const std::string testpmd_log = dir.path() + "/testpmd.log";
    const std::string testpmd = require_program("dpdk-testpmd", "dpdk-dev");
    int testpmd_status = -1;

    const RunResult run = run_taprec(
        {"--config", config},
        [&](pid_t pid) {
            // testpmd as the memif client, its own process and file prefix, two lcores (main and
            // one forwarding). Interactive commands on stdin make the run bounded: 2 s of
            // txonly, stop (prints the counts), 1 s for taprec to drain the memif ring, quit.
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            ChildProcess client({testpmd, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
                                 "--file-prefix", prefix("testpmd"),
                                 "--vdev", "net_memif0,role=client,socket=" + socket, "--", "-i",
                                 "--total-num-mbufs=8192"},
                                testpmd_log, true);
            REQUIRE(client.write_stdin("set fwd txonly\nstart\n"));
            std::this_thread::sleep_for(std::chrono::seconds(3));  // connect, then send
            REQUIRE(client.write_stdin("stop\n"));
            std::this_thread::sleep_for(std::chrono::seconds(1));
            REQUIRE(client.write_stdin("quit\n"));
            client.close_stdin();
            testpmd_status = client.wait(60);
            std::filesystem::remove_all("/var/run/dpdk/" + prefix("testpmd"));
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            kill(pid, SIGINT);
        },
        90);
    const std::string log = read_file(testpmd_log);
    INFO(run.output);
    INFO(log);
    REQUIRE(testpmd_status == 0);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("dpdk.mbufs_per_port: 4095 mbufs for"));
    CHECK_THAT(run.output, Catch::Contains("set dpdk.mbufs_per_port to 8191"));

    std::smatch m;
    REQUIRE(std::regex_search(log, m, std::regex("Accumulated forward statistics[^]*?TX-packets:\\s*(\\d+)")));
    const uint64_t sent = std::stoull(m[1]);
    CHECK(sent > 0);

    const std::string tap_dir = dir.path() + "/out/m";
    const Json stats = final_stats(tap_dir);
    CHECK(stats.at("final").boolean);
    const uint64_t received = stats.u64("ports.a.received");
    const uint64_t written = stats.u64("ports.a.written");
    const uint64_t dropped = stats.u64("ports.a.dropped_ring") + stats.u64("ports.a.dropped_writer") +
                             stats.u64("ports.a.filtered");
    CHECK(stats.u64("ports.a.nic_nombuf") == 0);  // memif leaves what it cannot take in its ring
    // memif has no NIC between testpmd's TX ring and our rx_burst: what testpmd enqueued, we
    // received; what we received is in a file or counted at the stage that dropped it.
    CHECK(received == sent);
    CHECK(written + dropped == received);
    CHECK(invariant_holds(stats, "a"));
    size_t in_files = 0;
    for (const std::string& file : published_files(tap_dir)) in_files += read_capture(file).packets.size();
    CHECK(in_files == written);
}

TEST_CASE("set-up errors exit 2 with what to do", "[dpdk]") {
    TempDir dir;
    SECTION("a device string that is neither PCI nor a vdev") {
        const RunResult run = run_with_device(dir, "bad", "eth1");
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.output, Catch::Contains("neither a PCI address"));
    }
    SECTION("a vdev driver DPDK does not have") {
        const RunResult run = run_with_device(dir, "nodriver", "net_bogus0,x=1");
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.output, Catch::Contains("did not come up as a DPDK port"));
    }
    SECTION("a PCI NIC that is not there") {
        const RunResult run = run_with_device(dir, "nopci", "0000:77:00.0");
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.output, Catch::Contains("dpdk-devbind.py --status"));
    }
    SECTION("a missing vdev file") {
        const RunResult run = run_with_device(dir, "nofile", "net_pcap0,rx_pcap=" + dir.path() + "/missing.pcap");
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.output, Catch::Contains("missing.pcap"));
        CHECK_THAT(run.output, Catch::Contains("give an existing, readable pcap file"));
    }
    SECTION("too few mbufs for the rings") {
        const RunResult run = run_with_device(dir, "fewmbufs", "net_null0", 1023);
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.output, Catch::Contains("dpdk.mbufs_per_port: 1023 mbufs"));
        CHECK_THAT(run.output, Catch::Contains("set dpdk.mbufs_per_port to 4095"));
    }
}

TEST_CASE("no free hugepages and no --no-huge: exit 2 with what to do", "[.no_hugepages][dpdk]") {
    // Run by meson through tests/support/precondition no-hugepages.
    REQUIRE(free_hugepages() == 0);
    TempDir dir;
    const RunResult run = run_with_device(dir, "nohuge", "net_null0", 4095, false);
    INFO(run.output);
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.output, Catch::Contains("hugepages"));
    CHECK_THAT(run.output, Catch::Contains("--no-huge"));
}
