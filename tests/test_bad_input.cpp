// A catalogue of bad input and faults, each with the outcome it must have (issue 8): an exit
// status and a message naming the file, line and key, or a counter. Nothing here may crash the
// daemon, lose a packet without counting it, or leave a broken file.
//
// Covered elsewhere, not repeated: a hook that hangs (test_ids_feed: "on_rotate ... a hanging hook
// stalls nothing"), a full disk (test_ids_feed: "a full disk"), a capture whose record header lies
// about its length (test_e2e_pcap: "a corrupt capture"), a pcapng mixing link types
// (test_e2e_pcap), fuzzed inputs (tests/fuzz, replayed by the fuzz_replay_* tests).
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "daemon_run.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

int sh(const std::string& command) { return std::system(command.c_str()); }

std::string replay_config(const std::string& capture, const std::string& out,
                          const std::string& output_extra = "") {
    return file_port_config(capture, out, "max", output_extra);
}

// Writes `c` as DIR/NAME, replays it through the daemon (which must exit 0) and reads back what
// it published.
std::vector<Packet> replay_through_daemon(const TempDir& dir, const std::string& name, const Capture& c) {
    const std::string capture = dir.path() + "/" + name;
    write_capture(capture, c);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, replay_config(capture, dir.path() + "/out"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    return published_packets(dir.path() + "/out/w");
}

Packet frame(size_t caplen, uint32_t wire_len, uint64_t ts_ns, unsigned char fill = 0x5a) {
    Packet p;
    p.ts_ns = ts_ns;
    p.caplen = uint32_t(caplen);
    p.wire_len = wire_len;
    p.bytes.assign(caplen, fill);
    return p;
}

// An Ethernet + IPv4 + TCP frame whose headers lie: IHL, total length and data offset are given.
Packet lying_tcp(uint8_t ihl, uint16_t total_length, uint8_t data_offset, uint64_t ts_ns) {
    Packet p = frame(14 + 20 + 20, 54, ts_ns, 0);
    p.bytes[12] = 0x08;  // IPv4
    p.bytes[14] = uint8_t(0x40 | (ihl & 0x0f));
    p.bytes[16] = uint8_t(total_length >> 8);
    p.bytes[17] = uint8_t(total_length);
    p.bytes[23] = 6;  // TCP
    p.bytes[14 + 20 + 12] = uint8_t(data_offset << 4);
    p.bytes[14 + 20 + 13] = 0x10;  // ACK
    return p;
}

}  // namespace

TEST_CASE("every class of configuration mistake: exit 2, FILE:LINE: KEY and what to do",
          "[fast][bad_input]") {
    TempDir dir;
    const std::string capture = test_data("icmp-echo.pcap");
    const std::string tap = "taps:\n  - name: t\n    a: {driver: pcap, file: " + capture + "}\n";
    struct Case {
        const char* what;
        std::string yaml;
        std::string message;  // after "c.yaml"
    };
    const std::vector<Case> cases = {
        {"unknown key", "tapz: []\n", ":1: tapz: unknown key \"tapz\" (did you mean taps?)"},
        {"required section missing", "output: {directory: /tmp/x}\n", ": taps: required"},
        {"required key missing", "taps:\n  - a: {driver: pcap, file: " + capture + "}\n",
         ":2: taps[0].name: required"},
        {"wrong type", tap + "    workers: two\n", ":4: taps[0].workers: expected auto or a number"},
        {"bad unit", tap + "output:\n  rotate: {bytes: 10 parsecs}\n",
         ":5: output.rotate.bytes: expected a size such as 1GiB"},
        {"bad choice", tap + "threads: {idle: nap}\n",
         ":4: threads.idle: expected one of spin, yield, sleep, got \"nap\""},
        {"unknown driver", "taps:\n  - name: t\n    a: {driver: carrier-pigeon, file: x}\n",
         ":3: taps[0].a.driver: expected one of dpdk, pcap"},
        {"name that is a path", "taps:\n  - name: \"t/../x\"\n    a: {driver: pcap, file: " +
                                    capture + "}\n",
         ":2: taps[0].name: \"t/../x\" has characters other than"},
        {"key given twice", tap + "    a: {driver: pcap, file: " + capture + "}\n",
         ":4: taps[0].a: given twice (first on line 3)"},
        {"two taps, one name", tap + "  - name: t\n    a: {driver: pcap, file: " + capture + "}\n",
         ":4: taps[1].name: \"t\" is already the name of taps[0]"},
        {"port without a source", "taps:\n  - name: t\n    a: {driver: pcap}\n",
         ":3: taps[0].a: driver pcap needs interface: NAME"},
        {"impossible count", tap + "    workers: 0\n", ":4: taps[0].workers: 0 workers requested"},
        {"not a power of two", tap + "ring_capacity: 8\n", ":4: ring_capacity: 8 is not a power of two"},
        {"out of range", tap + "output: {snaplen: 10}\n", ":4: output.snaplen: 10 is outside 64..262144"},
        {"too short", tap + "stats: {interval: 1ms}\n", ":4: stats.interval: 1ms is shorter than 100ms"},
        {"no such core", tap + "threads: {rx: [5000]}\n", ":4: threads.rx[0]: core 5000 is out of range"},
        {"descriptors out of range", tap + "dpdk: {rx_descriptors: 0}\n",
         ":4: dpdk.rx_descriptors: 0 is outside 1..65535"},
        {"unknown placeholder", tap + "output: {name: \"{tapx}-%s\"}\n",
         ":4: output.name: \"{tapx}-%s\" has {tapx}; the only placeholder is {tap}"},
        {"unknown conversion", tap + "output: {name: \"{tap}-%Q\"}\n",
         ":4: output.name: \"{tap}-%Q\" has %Q, which strftime does not convert"},
        {"name with .pcap", tap + "output: {name: \"{tap}-%s.pcap\"}\n",
         ":4: output.name: \"{tap}-%s.pcap\" ends in .pcap, which taprec adds itself"},
        // A relative stats.prometheus_textfile is no mistake: it resolves against the file's
        // folder (tests/test_check_catalogue.cpp).
        {"bad file mode", tap + "output: {file_mode: \"0666\"}\n",
         ":4: output.file_mode: \"0666\" lets every user write"},
        {"not YAML", "taps: [\n", ":2: not valid YAML"},
        {"two documents", tap + "---\nstats: {}\n", ":5: a second YAML document (after ---)"},
        // Found by fuzz_config: yaml-cpp's LoadAll looped forever on it, eating memory.
        {"stray flow end", "taps:\n    , \"x\"]\n  m: 1\n", ""},
        {"missing capture file", "taps:\n  - name: t\n    a: {driver: pcap, file: /nonexistent.pcap}\n",
         ":3: taps[0].a.file: cannot read \"/nonexistent.pcap\""},
        {"filter that does not compile", tap + "output: {filter: \"tcp port\"}\n",
         ":4: output.filter: \"tcp port\" does not compile"},
        {"output directory that is a file", tap + "output: {directory: " + capture + "}\n",
         ":4: output.directory: " + capture + " is not a folder"},
    };
    const std::string config = dir.path() + "/c.yaml";
    for (const Case& c : cases) {
        write_file(config, c.yaml);
        const RunResult run = run_taprec({"--config", config}, {}, 20);
        INFO(c.what << "\n" << c.yaml << "---\n" << run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, "nothing was started"));
        if (!c.message.empty()) CHECK(contains(run.output, config + c.message));
        CHECK(list_dir(dir.path()) == std::vector<std::string>{"c.yaml"});  // nothing created
    }
}

TEST_CASE("runt, giant, truncated, zero-length and malformed frames are written and counted",
          "[fast][bad_input]") {
    TempDir dir;
    const uint64_t t0 = 1'700'000'000'000'000'000ull;
    Capture c;
    c.link_type = 1;  // Ethernet
    c.snaplen = 262144;
    c.packets = {
        frame(1, 1, t0),                    // runt: 1 byte
        frame(13, 13, t0 + 1000),           // runt: shorter than an Ethernet header
        frame(60, 1514, t0 + 2000),         // truncated: 60 of 1514 bytes captured
        frame(262144, 300000, t0 + 3000),   // giant: the largest record, from a larger frame
        frame(9000, 9000, t0 + 4000),       // jumbo
        lying_tcp(15, 40, 15, t0 + 5000),   // IHL and data offset past the frame
        lying_tcp(2, 65535, 0, t0 + 6000),  // IHL below the minimum, length beyond the frame
        lying_tcp(5, 0, 5, t0 + 7000),      // total length 0 (TSO/BIG TCP style)
        frame(14, 14, t0 + 8000, 0x81),     // a VLAN tag promised and missing
        frame(0, 64, t0 + 9000),            // nothing captured at all
    };
    const std::vector<Packet> out = replay_through_daemon(dir, "bad-frames.pcap", c);
    REQUIRE(out.size() == c.packets.size());
    for (size_t i = 0; i < out.size(); ++i) {
        INFO("frame " << i);
        CHECK(out[i].bytes == c.packets[i].bytes);
        CHECK(out[i].wire_len == c.packets[i].wire_len);
        CHECK(out[i].ts_ns == c.packets[i].ts_ns);
    }
    const Json stats = final_stats(dir.path() + "/out/w");
    CHECK(stats.u64("ports.a.received") == c.packets.size());
    CHECK(stats.u64("written") == c.packets.size());
    CHECK(invariant_holds(stats, "a"));
}

TEST_CASE("a record that claims fewer bytes on the wire than it captured is written with the "
          "captured length as its wire length", "[fast][bad_input]") {
    // The fuzz_pcap_reader find (tests/fuzz/regressions/pcap_reader/caplen-over-wire-len.pcap):
    // kept as it was, repair and IDSes would take the record for the end of a damaged file.
    TempDir dir;
    Capture c;
    c.link_type = 1;
    c.snaplen = 65535;
    c.packets = {frame(100, 60, 1'700'000'000'000'000'000ull)};
    const std::vector<Packet> out = replay_through_daemon(dir, "caplen-over-len.pcap", c);
    REQUIRE(out.size() == 1);
    CHECK(out[0].caplen == 100);
    CHECK(out[0].wire_len == 100);
}

TEST_CASE("a capture file that is not one, or is cut short, is refused or read up to the damage",
          "[fast][bad_input]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    SECTION("garbage: exit 2 naming the file, nothing started") {
        const std::string garbage = dir.path() + "/garbage.pcap";
        write_file(garbage, std::string(4096, 'x'));
        write_file(config, replay_config(garbage, dir.path() + "/out"));
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, config + ":3: taps[0].a.file: cannot read \"" + garbage + "\""));
    }
    SECTION("cut in the middle of a record: the whole records before it are written") {
        const std::string whole = read_file(test_data("ftp-ipv4.pcap"));
        const std::string cut = dir.path() + "/cut.pcap";
        write_file(cut, whole.substr(0, whole.size() / 2));
        const Capture readable = read_capture(cut);
        write_file(config, replay_config(cut, dir.path() + "/out"));
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        CHECK((run.exit_code == 0 || run.exit_code == 1));
        CHECK(published_packets(dir.path() + "/out/w") == readable.packets);
        CHECK(invariant_holds(final_stats(dir.path() + "/out/w"), "a"));
    }
}

TEST_CASE("a clock that steps backwards: every packet written, the ones out of order counted late",
          "[fast][bad_input]") {
    TempDir dir;
    Capture c = retimed(read_capture(test_data("ftp-ipv4.pcap")), 1'700'000'000'000'000'000ull,
                        1'000'000);
    // From packet 40 on, the clock is 5 s behind (an NTP step): 55 packets older than packet 39.
    for (size_t i = 40; i < c.packets.size(); ++i) c.packets[i].ts_ns -= 5'000'000'000ull;
    const std::vector<Packet> out = replay_through_daemon(dir, "backwards.pcap", c);
    REQUIRE(out.size() == c.packets.size());
    CHECK(out == c.packets);  // arrival order kept, stamps as given
    const Json stats = final_stats(dir.path() + "/out/w");
    CHECK(stats.u64("ports.a.late") == c.packets.size() - 40);
    CHECK(invariant_holds(stats, "a"));
}

TEST_CASE("what the run would refuse, --check refuses first: exit 2 naming FILE:LINE: KEY",
          "[fast][bad_input]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string out = "output: {directory: " + dir.path() + "/out}\n";
    const std::string ethernet = test_data("icmp-echo.pcap");
    const std::string cooked = test_data("nsec-le-tcp-handshake.pcap");  // LINUX_SLL
    const std::string tap = "taps:\n  - name: t\n    a: {driver: pcap, file: " + ethernet + "}\n";
    // A core this machine does not have: cores are numbered from 0, so the count is one past.
    const long configured = ::sysconf(_SC_NPROCESSORS_CONF);
    REQUIRE(configured > 0);
    const std::string missing_core = std::to_string(configured);
    struct Case {
        const char* what;
        std::string yaml;
        std::string message;  // after "c.yaml"
    };
    std::vector<Case> cases = {
        {"an interface that does not exist", "taps:\n  - name: live\n    a: {driver: pcap, "
                                             "interface: taprec-nosuch0}\n" + out,
         ":3: taps[0].a.interface: no network interface taprec-nosuch0; give one that `ip link` lists"},
        {"a tap whose two files have different link types",
         tap + "    b: {driver: pcap, file: " + cooked + "}\n" + out,
         ":4: taps[0].b.file: \"" + cooked + "\" has link type LINUX_SLL (113) but port a's \"" +
             ethernet + "\" has EN10MB (1); both directions go into one pcap file"},
        {"descriptors that DPDK's uint16_t cannot hold (no longer clamped)",
         "dpdk: {rx_descriptors: 1048576}\n" + tap + out,
         ":1: dpdk.rx_descriptors: 1048576 is outside 1..65535"},
    };
    if (configured <= 1023) {
        cases.push_back({"a core the machine does not have (it was left unpinned)",
                         tap + "threads: {rx: [0], workers: [" + missing_core + "], writer: 0}\n" + out,
                         ":4: threads.workers[0]: core " + missing_core + " is not available to taprec"});
    }
    for (const Case& c : cases) {
        write_file(config, c.yaml);
        for (const bool check : {true, false}) {
            std::vector<std::string> args = {"--config", config};
            if (check) args.push_back("--check");
            const RunResult run = run_taprec(args, {}, 20);
            INFO(c.what << (check ? " (--check)" : " (run)") << "\n" << c.yaml << "---\n" << run.output);
            CHECK(run.exit_code == 2);
            CHECK(contains(run.output, config + c.message));
            CHECK(contains(run.output, "nothing was started"));
            CHECK_FALSE(contains(run.output, "configuration OK"));
            CHECK(list_dir(dir.path()) == std::vector<std::string>{"c.yaml"});  // nothing created
        }
    }
}

TEST_CASE("what exists passes --check: core 0, lo, libpcap's any, two files of one link type",
          "[fast][bad_input]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string ethernet = test_data("icmp-echo.pcap");
    write_file(config, "taps:\n"
                       "  - name: t\n"
                       "    a: {driver: pcap, file: " + ethernet + "}\n"
                       "    b: {driver: pcap, file: " + test_data("ftp-ipv4.pcap") + "}\n"
                       "  - name: loopback\n    a: {driver: pcap, interface: lo}\n"
                       "  - name: all\n    a: {driver: pcap, interface: any}\n"
                       "threads: {rx: [0], workers: [0], writer: 0}\n"
                       "dpdk: {rx_descriptors: 65535}\n"
                       "output: {directory: " + dir.path() + "/out}\n");
    const RunResult run = run_taprec({"--config", config, "--check"}, {}, 20);
    INFO(run.output);
    CHECK(run.exit_code == 0);
    CHECK(contains(run.output, "configuration OK"));
}

TEST_CASE("an on_rotate program that is not there: --check and the start warn, the run goes on",
          "[fast][bad_input]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, file_port_config(test_data("icmp-echo.pcap"), dir.path() + "/out", "max",
                                        "  on_rotate: [\"/nonexistent/ids-feed\", \"{path}\"]\n"));
    const std::string warning =
        "output.on_rotate[0]: /nonexistent/ids-feed: No such file or directory; every published "
        "file will log a failed hook";
    const RunResult check = run_taprec({"--config", config, "--check"}, {}, 20);
    INFO(check.output);
    CHECK(check.exit_code == 0);
    CHECK(contains(check.output, warning));
    const RunResult run = run_taprec({"--config", config}, {}, 30);
    INFO(run.output);
    CHECK(run.exit_code == 0);
    CHECK(contains(run.output, warning));
    CHECK(published_files(dir.path() + "/out/w").size() == 1);
}

TEST_CASE("under systemd every line carries its journal priority, configuration errors too",
          "[fast][bad_input]") {
    TempDir dir;
    const std::string bad = dir.path() + "/bad.yaml", good = dir.path() + "/good.yaml";
    write_file(bad, "tapz: []\n");
    write_file(good, file_port_config(test_data("icmp-echo.pcap"), dir.path() + "/out", "max"));
    ::setenv("JOURNAL_STREAM", "8:12345", 1);  // what systemd sets for a service's stderr
    const RunResult refused = run_taprec({"--config", bad}, {}, 20);
    const RunResult ran = run_taprec({"--config", good}, {}, 30);
    ::unsetenv("JOURNAL_STREAM");
    INFO(refused.output);
    INFO(ran.output);
    CHECK(refused.exit_code == 2);
    CHECK(ran.exit_code == 0);
    auto lines_of = [](const std::string& text) {
        std::vector<std::string> lines;
        size_t start = 0;
        for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
            if (end > start) lines.push_back(text.substr(start, end - start));
        return lines;
    };
    const std::vector<std::string> errors = lines_of(refused.output);
    REQUIRE(errors.size() >= 2);
    for (const std::string& line : errors) CHECK(line.rfind("<3>", 0) == 0);
    CHECK(contains(refused.output, "<3>" + bad + ":1: tapz: unknown key"));
    for (const std::string& line : lines_of(ran.output))
        CHECK((line.rfind("<6>taprec info: ", 0) == 0 || line.rfind("<4>taprec warning: ", 0) == 0));
}

TEST_CASE("command-line mistakes: exit 2 with the usage, nothing run", "[fast][bad_input]") {
    TempDir dir;
    const std::string a = dir.path() + "/a.yaml", b = dir.path() + "/b.yaml";
    write_file(a, file_port_config(test_data("icmp-echo.pcap"), dir.path() + "/out-a", "max"));
    write_file(b, file_port_config(test_data("icmp-echo.pcap"), dir.path() + "/out-b", "max"));
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{"--version", "extra"}, "taprec: --version takes no other arguments"},
        {{"--config", a, "--version"}, "taprec: --version takes no other arguments"},
        {{"--config", a, "--config", b, "--check"}, "taprec: --config given twice; give one FILE"},
        {{"--config=" + a, "-c", b, "--check"}, "taprec: --config given twice; give one FILE"},
        {{"--config", a, "--check", "extra"}, "taprec: unknown argument 'extra'"},
        {{"--check", "--config"}, "taprec: --config needs a FILE"},
    };
    for (const Case& c : cases) {
        std::string line;
        for (const std::string& arg : c.args) line += " " + arg;
        const RunResult run = run_taprec(c.args, {}, 20);
        INFO("taprec" << line << "\n" << run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, c.message + "\nusage:\n"));
        CHECK_FALSE(contains(run.output, "configuration OK"));
    }
    CHECK(list_dir(dir.path()) == std::vector<std::string>{"a.yaml", "b.yaml"});  // nothing ran
    const RunResult version = run_taprec({"--version"}, {}, 20);
    CHECK(version.exit_code == 0);
    CHECK(version.output.rfind("taprec ", 0) == 0);
}

TEST_CASE("bench/taprec_gen --help prints its own options, not DPDK's EAL help",
          "[fast][bad_input]") {
    const char* gen = std::getenv("TAPREC_GEN");
    REQUIRE(gen != nullptr);
    for (const std::string args : {" --help", " -h", " --no-huge -- --help"}) {
        INFO("taprec_gen" << args);
        FILE* p = ::popen((std::string(gen) + args + " 2>&1").c_str(), "r");
        REQUIRE(p != nullptr);
        std::string output;
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) != 0;) output.append(buf, n);
        const int status = ::pclose(p);
        INFO(output);
        CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
        CHECK(output.rfind("usage: taprec_gen", 0) == 0);
        for (const char* option : {"--rate", "--gbps", "--seconds", "--size", "--flows", "--burst",
                                   "--delay", "--linger"})
            CHECK(contains(output, option));
        CHECK_FALSE(contains(output, "EAL common options"));  // what DPDK's help starts with
    }
}

TEST_CASE("a DPDK port that does not exist: exit 2 naming it", "[dpdk][bad_input]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, "dpdk:\n  eal: [\"--no-huge\", \"--no-pci\", \"-m\", \"256\", \"--file-prefix\", "
                       "\"bad-input-" + std::to_string(getpid()) + "\"]\n"
                       "taps:\n  - name: t\n    a: {driver: dpdk, device: \"0000:ff:00.0\"}\n"
                       "output: {directory: " + dir.path() + "/out}\n");
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    CHECK(run.exit_code == 2);
    CHECK(contains(run.output, "dpdk device 0000:ff:00.0: no PCI device 0000:ff:00.0"));
}

TEST_CASE("an interface deleted while capturing: logged, the packets so far published, exit 1",
          "[.root][netns][bad_input]") {
    REQUIRE(geteuid() == 0);  // run by meson through tests/support/precondition root
    // The tap as one loop asleep on its port, and its rx stage sharing a pinned loop with the
    // worker (which never waits on the port, where the error shows) while the writer is apart.
    const std::string cpu = std::to_string(first_allowed_cpu());
    const std::string threads = GENERATE_COPY(as<std::string>{}, "threads: {idle: sleep}",
                                              "threads: {rx: [" + cpu + "], workers: [" + cpu + "], idle: sleep}");
    INFO(threads);
    const std::string ns = "taprec-bad-" + std::to_string(getpid());
    const std::string exec = "ip netns exec " + ns + " ";
    REQUIRE(sh("ip netns add " + ns) == 0);
    struct Cleanup {
        std::string ns;
        ~Cleanup() { sh("ip netns del " + ns + " 2>/dev/null"); }
    } cleanup{ns};
    REQUIRE(sh(exec + "sysctl -qw net.ipv6.conf.all.disable_ipv6=1") == 0);
    REQUIRE(sh(exec + "sysctl -qw net.ipv6.conf.default.disable_ipv6=1") == 0);
    REQUIRE(sh(exec + "ip link add cap0 type veth peer name send0") == 0);
    REQUIRE(sh(exec + "ip link set cap0 up && " + exec + "ip link set send0 up") == 0);
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, "taps:\n  - name: live\n    a: {driver: pcap, interface: cap0}\n"
                       + threads + "\noutput: {directory: " + dir.path() + "/out}\n"
                       "stats: {interval: 1s}\n");
    const std::string wrapper = dir.path() + "/run-in-ns.sh";
    write_file(wrapper, "#!/bin/sh\nexec " + exec + taprec_binary() + " \"$@\"\n");
    sh("chmod +x " + wrapper);
    const std::string saved = taprec_binary();
    setenv("TAPREC_BIN", wrapper.c_str(), 1);
    const char* send = std::getenv("TAPREC_PCAP_SEND");
    REQUIRE(send != nullptr);
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        std::this_thread::sleep_for(1500ms);
        sh(exec + send + " send0 " + test_data("ftp-ipv4.pcap") + " >/dev/null");
        std::this_thread::sleep_for(1000ms);
        sh(exec + "ip link del cap0");
        // The daemon must notice by itself; SIGTERM only if it has not after 10 s.
        for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(100ms);
    }, 30);
    setenv("TAPREC_BIN", saved.c_str(), 1);
    INFO(run.output);
    CHECK(run.exit_code == 1);
    CHECK(contains(run.output, "pcap interface cap0: The interface disappeared"));
    const std::string tap = dir.path() + "/out/live";
    std::vector<Packet> sent = read_capture(test_data("ftp-ipv4.pcap")).packets;
    const std::vector<Packet> out = published_packets(tap);
    // What the kernel delivered: every frame sent (and nothing of its own: IPv6 is off).
    CHECK(out.size() >= sent.size());
    CHECK(list_dir(tap + "/.partial").empty());
    CHECK(invariant_holds(final_stats(tap), "a"));
}

TEST_CASE("output folders: missing ones are created; one taprec cannot write is refused at start",
          "[fast][bad_input]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string capture = test_data("icmp-echo.pcap");
    SECTION("missing, several levels deep: created, files published") {
        const std::string out = dir.path() + "/not/there/yet";
        write_file(config, replay_config(capture, out));
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        CHECK(published_packets(out + "/w").size() == 10);
    }
}

// Root to mount, and because root bypasses permissions a read-only mount is the way to refuse it.
TEST_CASE("output folders: a read-only one is refused at start", "[.root][bad_input]") {
    REQUIRE(geteuid() == 0);  // run by meson through tests/support/precondition root
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string capture = test_data("icmp-echo.pcap");
    SECTION("a read-only file system (tmpfs mounted ro): exit 2 naming the folder") {
        const std::string mnt = dir.path() + "/ro";
        REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
        REQUIRE(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_RDONLY, "size=1m") == 0);
        write_file(config, replay_config(capture, mnt + "/out"));
        const RunResult run = run_taprec({"--config", config});
        ::umount(mnt.c_str());
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, config + ":6: output.directory: " + mnt + " is not writable"));
        CHECK(contains(run.output, "Read-only file system"));
    }
    SECTION("an existing output folder bind-mounted read-only: exit 2") {
        const std::string out = dir.path() + "/out";
        REQUIRE(::mkdir(out.c_str(), 0750) == 0);
        REQUIRE(::mount(out.c_str(), out.c_str(), nullptr, MS_BIND, nullptr) == 0);
        REQUIRE(::mount(nullptr, out.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0);
        write_file(config, replay_config(capture, out));
        const RunResult run = run_taprec({"--config", config});
        ::umount(out.c_str());
        INFO(run.output);
        CHECK(run.exit_code == 2);
        CHECK(contains(run.output, "output.directory: " + out + " is not writable"));
    }
}
