// `taprec --check` approves only what the run does: a catalogue of configurations the run refuses,
// each refused by --check first, with exit 2 and FILE:LINE: KEY; and the defaults (with
// --no-huge, as taprec's own messages recommend) start and record exactly.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "daemon_run.hpp"

using namespace test_support;

namespace {

struct Refusal {
    std::string what;
    std::string config;    // the file's text; DIR is replaced by the test's folder
    std::string located;   // "LINE: KEY" as --check and the run print it after "FILE:"
    std::string says;      // a part of the message
};

std::string pcap_port(const std::string& port) {
    return "taps:\n"
           "  - name: t\n"
           "    a: " + port + "\n"
           "threads: {idle: sleep}\n"
           "output:\n"
           "  directory: DIR/out\n";
}

std::string dpdk_port(const std::string& device, const std::string& dpdk_extra = "") {
    return "dpdk:\n"
           "  eal: [\"--no-huge\"]\n" + dpdk_extra +
           "taps:\n"
           "  - name: t\n"
           "    a: {driver: dpdk, device: \"" + device + "\"}\n"
           "output:\n"
           "  directory: DIR/out\n";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

std::vector<Refusal> catalogue() {
    const std::string icmp = "{driver: pcap, file: \"" + test_data("icmp-echo.pcap") + "\"}";
    const std::string ftp = test_data("ftp-ipv4.pcap");
    const std::string mixed = test_data("multi-interface.pcapng");
    return {
        {"an output folder under /proc", replace_all(pcap_port(icmp), "DIR/out", "/proc/x"),
         "6: output.directory", "cannot create a folder in /proc"},
        {"an output folder under /sys/kernel", replace_all(pcap_port(icmp), "DIR/out", "/sys/kernel/x"),
         "6: output.directory", "/sys/kernel"},
        {"an output folder that is a file", replace_all(pcap_port(icmp), "DIR/out", "DIR/c.yaml/out"),
         "6: output.directory", "is not a folder"},
        {"a capture file that is not there", pcap_port("{driver: pcap, file: \"DIR/missing.pcap\"}"),
         "3: taps[0].a.file", "missing.pcap"},
        {"a pcapng file whose interfaces libpcap cannot read",
         pcap_port("{driver: pcap, file: \"" + mixed + "\"}"), "3: taps[0].a.file",
         "different from the type of the first interface"},
        {"a live interface that does not exist", pcap_port("{driver: pcap, interface: taprecnone0}"),
         "3: taps[0].a.interface", "no network interface taprecnone0"},
        {"a filter that does not compile", pcap_port(icmp) + "  filter: \"tcp and ((\"\n",
         "7: output.filter", "does not compile"},
        {"two captures of different link types",
         "taps:\n  - name: t\n    a: {driver: pcap, file: \"" + ftp + "\"}\n"
         "    b: {driver: pcap, file: \"" + test_data("nsec-le-tcp-handshake.pcap") + "\"}\n"
         "output:\n  directory: DIR/out\n",
         "4: taps[0].b.file", "link type"},
        {"workers: 100 (the pipeline runs 64 at most)",
         "taps:\n  - name: t\n    a: " + icmp + "\n    workers: 100\noutput:\n  directory: DIR/out\n",
         "4: taps[0].workers", "from 1 to 64"},
        {"a worker pinned to a core this machine does not have",
         replace_all(pcap_port(icmp), "{idle: sleep}", "{idle: sleep, workers: [1000]}"),
         "4: threads.workers[0]", "1000"},
        {"a user that does not exist", pcap_port(icmp) + "user: taprec-no-such-user\n", "7: user",
         "taprec-no-such-user"},
        {"two net_pcap replays of different link types",
         "dpdk:\n  eal: [\"--no-huge\"]\ntaps:\n  - name: t\n"
         "    a: {driver: dpdk, device: \"net_pcap0,rx_pcap=" + ftp + "\"}\n"
         "    b: {driver: dpdk, device: \"net_pcap1,rx_pcap=" + test_data("nsec-le-tcp-handshake.pcap") +
         "\"}\noutput:\n  directory: DIR/out\n",
         "6: taps[0].b.device", "link type"},
        {"a net_pcap rx_pcap file that is not there", dpdk_port("net_pcap0,rx_pcap=DIR/missing.pcap"),
         "5: taps[0].a.device", "missing.pcap"},
        {"a net_pcap rx_pcap pcapng whose interfaces libpcap cannot read",
         dpdk_port("net_pcap0,rx_pcap=" + mixed), "5: taps[0].a.device",
         "different from the type of the first interface"},
        {"a PCI address with no device", dpdk_port("0000:77:00.0"), "5: taps[0].a.device",
         "no PCI device 0000:77:00.0"},
        {"a device that is neither PCI nor a vdev", dpdk_port("eth1"), "5: taps[0].a.device",
         "neither a PCI address"},
        {"two rx_pcap files on one port", dpdk_port("net_pcap0,rx_pcap=" + ftp + ",rx_pcap=" + ftp),
         "5: taps[0].a.device", "more than one rx_pcap"},
        {"one device for both ports",
         "dpdk:\n  eal: [\"--no-huge\"]\ntaps:\n  - name: t\n    a: {driver: dpdk, device: net_null0}\n"
         "    b: {driver: dpdk, device: net_null0}\noutput:\n  directory: DIR/out\n",
         "6: taps[0].b.device", "configured for two ports"},
        {"a pool that would starve the port", dpdk_port("net_null0", "  mbufs_per_port: 1023\n"),
         "3: dpdk.mbufs_per_port", "would starve"},
        {"-m in dpdk.eal below what the pools need, under --no-huge",
         replace_all(dpdk_port("net_null0"), "\"--no-huge\"]", "\"--no-huge\", \"-m\", \"300\"]"),
         "2: dpdk.eal", "-m 300 in dpdk.eal"},
        {"more memory than the machine has, under --no-huge",
         dpdk_port("net_null0", "  mbufs_per_port: 4294967295\n"), "3: dpdk.mbufs_per_port",
         "of memory are available"},
    };
}

}  // namespace

TEST_CASE("--check refuses first, naming the line, every configuration the run refuses",
          "[fast][check]") {
    const std::vector<Refusal> refusals = catalogue();
    REQUIRE(refusals.size() >= 15);
    for (const Refusal& r : refusals) {
        TempDir dir;
        const std::string config = dir.path() + "/c.yaml";
        write_file(config, replace_all(r.config, "DIR", dir.path()));
        INFO(r.what << "\n" << read_file(config));
        const std::string located = config + ":" + r.located + ": ";

        const RunResult check = run_taprec({"--config", config, "--check"}, {}, 20);
        INFO("--check said:\n" << check.output);
        CHECK(check.exit_code == 2);
        CHECK(contains(check.output, located));
        CHECK(contains(check.output, r.says));
        CHECK_FALSE(contains(check.output, "configuration OK"));

        // The run refuses it the same way, before capturing anything.
        const RunResult run = run_taprec({"--config", config}, {}, 20);
        INFO("the run said:\n" << run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, located));
        CHECK(list_dir(dir.path() + "/out/t").empty());
    }
}

TEST_CASE("the defaults with --no-huge start, say what they use, and record a TAP exactly",
          "[dpdk][check]") {
    TempDir dir;
    const Capture input = read_capture(test_data("ftp-ipv4.pcap"));
    const auto [a, b] = split_directions(input);
    REQUIRE(!a.packets.empty());
    REQUIRE(!b.packets.empty());
    write_capture(dir.path() + "/a.pcap", a);
    write_capture(dir.path() + "/b.pcap", b);
    const std::string config = dir.path() + "/taprec.yaml";
    // Nothing but the ports, the folder and --no-huge: every other value is the default.
    write_file(config, "dpdk:\n"
                       "  eal: [\"--no-huge\"]\n"
                       "taps:\n"
                       "  - name: t\n"
                       "    a: {driver: dpdk, device: \"net_pcap0,rx_pcap=" + dir.path() + "/a.pcap\"}\n"
                       "    b: {driver: dpdk, device: \"net_pcap1,rx_pcap=" + dir.path() + "/b.pcap\"}\n"
                       "output:\n"
                       "  directory: " + dir.path() + "/out\n");

    const RunResult check = run_taprec({"--config", config, "--check"}, {}, 20);
    INFO(check.output);
    REQUIRE(check.exit_code == 0);
    // Two auto pools of 262143 mbufs, a 4 KiB page each under --no-huge, and EAL's 256 MiB.
    CHECK(contains(check.output, "pool 262143 mbufs (1024 MiB, auto"));
    CHECK(contains(check.output, "memory          2304 MiB (--no-huge: EAL -m 2304"));

    const RunResult run = run_taprec({"--config", config}, {}, 120);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(contains(run.output, " -m 2304 "));

    const std::string tap = dir.path() + "/out/t";
    std::vector<Packet> out = published_packets(tap);
    std::vector<Packet> expected = input.packets;
    // net_pcap keeps microseconds; ftp-ipv4.pcap has no more. Packets of one timestamp may come
    // from either port first, so compare in (time, bytes) order.
    auto by_time = [](const Packet& x, const Packet& y) {
        return std::tie(x.ts_ns, x.bytes) < std::tie(y.ts_ns, y.bytes);
    };
    std::sort(out.begin(), out.end(), by_time);
    std::sort(expected.begin(), expected.end(), by_time);
    CHECK(out == expected);
    const Json stats = final_stats(tap);
    CHECK(stats.u64("ports.a.written") == a.packets.size());
    CHECK(stats.u64("ports.b.written") == b.packets.size());
    CHECK(stats.u64("ports.a.nic_nombuf") + stats.u64("ports.b.nic_nombuf") == 0);
    CHECK(invariant_holds(stats, "a"));
    CHECK(invariant_holds(stats, "b"));
}

TEST_CASE("relative paths resolve against the configuration file's folder, not the working "
          "directory", "[fast][check]") {
    TempDir dir;
    ::mkdir((dir.path() + "/captures").c_str(), 0755);
    write_capture(dir.path() + "/captures/icmp.pcap", read_capture(test_data("icmp-echo.pcap")));
    const std::string config = dir.path() + "/c.yaml";
    // The test runs in meson's build folder: neither path exists relative to it.
    write_file(config, "taps:\n"
                       "  - name: t\n"
                       "    a: {driver: pcap, file: captures/icmp.pcap}\n"
                       "  - name: d\n"
                       "    a: {driver: dpdk, device: \"net_pcap0,rx_pcap=captures/icmp.pcap\"}\n"
                       "dpdk: {eal: [\"--no-huge\"], mbufs_per_port: 4095, rx_descriptors: 256}\n"
                       "ring_capacity: 1024\n"
                       "threads: {idle: sleep}\n"
                       "output:\n"
                       "  directory: out\n"
                       "stats: {prometheus_textfile: taprec.prom}\n");
    const RunResult check = run_taprec({"--config", config, "--check"}, {}, 20);
    INFO(check.output);
    REQUIRE(check.exit_code == 0);
    CHECK(contains(check.output, "pcap file " + dir.path() + "/captures/icmp.pcap"));
    CHECK(contains(check.output, "rx_pcap=" + dir.path() + "/captures/icmp.pcap"));
    CHECK(contains(check.output, dir.path() + "/out/t/"));
    const RunResult run = run_taprec({"--config", config}, {}, 60);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(published_packets(dir.path() + "/out/t").size() == 10);
    CHECK(published_packets(dir.path() + "/out/d").size() == 10);
    CHECK(contains(read_file(dir.path() + "/taprec.prom"), "taprec_"));
}
