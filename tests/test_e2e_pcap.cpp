// End to end through the real daemon: every capture of tests/data replayed through the libpcap
// driver comes out with the same packets (bytes, lengths, timestamps), in order, and stats.jsonl
// accounts for every one of them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "daemon_run.hpp"

using namespace test_support;

namespace {

struct Replay {
    std::string capture;
    int workers = 1;
    std::string format = "pcap-ns";
    std::string extra_output;  // more keys under output:
};

std::string replay_config(const Replay& r, const std::string& out_dir) {
    return "taps:\n"
           "  - name: e2e\n"
           "    a: {driver: pcap, file: \"" + test_data(r.capture) + "\", speed: max}\n"
           "    workers: " + std::to_string(r.workers) + "\n"
           "threads: {idle: sleep}\n"
           "output:\n"
           "  directory: " + out_dir + "\n"
           "  format: " + r.format + "\n"
           "  snaplen: 262144\n"
           "  rotate: {bytes: 64KiB, seconds: 300}\n" + r.extra_output +
           "stats:\n"
           "  interval: 1s\n";
}

void check_final_accounting(const std::string& tap_dir, size_t packets) {
    const Json stats = final_stats(tap_dir);
    CHECK(stats.at("final").boolean);
    CHECK(stats.u64("ports.a.received") == packets);
    CHECK(stats.u64("ports.a.written") == packets);
    CHECK(invariant_holds(stats, "a"));
    CHECK(list_dir(tap_dir + "/.partial").empty());
    uint64_t indexed = 0;
    for (const std::string& line : read_lines(tap_dir + "/.meta/index.jsonl"))
        indexed += parse_json(line).u64("packets");
    CHECK(indexed == packets);
}

}  // namespace

TEST_CASE("replayed captures come out packet for packet", "[fast][e2e]") {
    const std::string capture = GENERATE(as<std::string>{},
        "ftp-ipv4.pcap", "ftp-ipv6.pcap", "vlan-http-session.pcap", "ipv4-fragments-nfs.pcap",
        "ipv6-fragmented-dns.pcap", "icmp-echo.pcap", "tcp-snaplen96.pcap",
        "loopback-oversized-frames.pcap", "bigtcp-ipv4-80KB-frame.pcap",
        "nsec-le-tcp-handshake.pcap", "nsec-be-http-loopback.pcap", "usec-be-pptp.pcap",
        "ftp-ipv4.pcapng", "ftp-ipv4-nsec.pcap");
    INFO(capture);
    TempDir dir;
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config, replay_config({capture}, dir.path() + "/out"));

    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);

    const Capture input = read_capture(test_data(capture));
    const std::string tap_dir = dir.path() + "/out/e2e";
    const std::vector<Packet> output = published_packets(tap_dir);
    REQUIRE(output.size() == input.packets.size());
    size_t differing = 0;
    for (size_t i = 0; i < output.size(); ++i)
        if (!(output[i] == input.packets[i])) ++differing;
    CHECK(differing == 0);
    for (const std::string& file : published_files(tap_dir))
        CHECK(read_capture(file).link_type == input.link_type);
    check_final_accounting(tap_dir, input.packets.size());
}

TEST_CASE("two workers: the merge of their streams is the capture in timestamp order",
          "[fast][e2e]") {
    const std::string capture =
        GENERATE(as<std::string>{}, "ftp-ipv4.pcap", "ftp-ipv6.pcap", "vlan-http-session.pcap");
    INFO(capture);
    TempDir dir;
    const std::string config = dir.path() + "/taprec.yaml";
    Replay replay{capture};
    replay.workers = 2;
    write_file(config, replay_config(replay, dir.path() + "/out"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);

    // Ties aside, timestamp order is the capture's order: sort both stably by time and compare.
    std::vector<Packet> input = read_capture(test_data(capture)).packets;
    std::vector<Packet> output = published_packets(dir.path() + "/out/e2e");
    auto by_time = [](const Packet& x, const Packet& y) { return x.ts_ns < y.ts_ns; };
    CHECK(std::is_sorted(output.begin(), output.end(), by_time));
    std::stable_sort(input.begin(), input.end(), by_time);
    REQUIRE(output.size() == input.size());
    auto same_set_per_tie = [&] {
        auto key = [](const Packet& p) { return std::make_pair(p.ts_ns, p.bytes); };
        std::vector<std::pair<uint64_t, std::vector<unsigned char>>> a, b;
        for (const Packet& p : input) a.push_back(key(p));
        for (const Packet& p : output) b.push_back(key(p));
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        return a == b;
    };
    CHECK(same_set_per_tie());
    check_final_accounting(dir.path() + "/out/e2e", input.size());
}

TEST_CASE("microsecond output keeps every packet with its time cut to microseconds",
          "[fast][e2e]") {
    TempDir dir;
    const std::string config = dir.path() + "/taprec.yaml";
    Replay replay{"nsec-le-tcp-handshake.pcap"};
    replay.format = "pcap";
    write_file(config, replay_config(replay, dir.path() + "/out"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::vector<Packet> input = read_capture(test_data(replay.capture)).packets;
    const std::vector<Packet> output = published_packets(dir.path() + "/out/e2e");
    REQUIRE(output.size() == input.size());
    for (size_t i = 0; i < input.size(); ++i) {
        CHECK(output[i].ts_ns == input[i].ts_ns / 1000 * 1000);
        CHECK(output[i].bytes == input[i].bytes);
    }
}

TEST_CASE("a corrupt capture: clear error with file and offset, earlier packets kept valid",
          "[fast][e2e]") {
    TempDir dir;
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config, replay_config({"corrupt-fuzz-record.pcap"}, dir.path() + "/out"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    CHECK(run.exit_code == 1);
    CHECK(run.output.find("corrupt-fuzz-record.pcap") != std::string::npos);
    CHECK(run.output.find("byte offset") != std::string::npos);

    // What libpcap itself can read of the input is what was written, in valid files.
    const Capture input = read_capture(test_data("corrupt-fuzz-record.pcap"));
    REQUIRE_FALSE(input.error.empty());
    const std::vector<Packet> output = published_packets(dir.path() + "/out/e2e");
    CHECK(output == input.packets);
    check_final_accounting(dir.path() + "/out/e2e", input.packets.size());
}

TEST_CASE("a pcapng whose interfaces mix link types is refused at start with the reason and the line",
          "[fast][e2e]") {
    TempDir dir;
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config, replay_config({"multi-interface.pcapng"}, dir.path() + "/out"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    CHECK(run.exit_code == 2);  // libpcap opens it, then cannot read its first record
    CHECK(run.output.find(config + ":3: taps[0].a.file") != std::string::npos);
    CHECK(run.output.find("multi-interface.pcapng") != std::string::npos);
    CHECK(run.output.find("different from the type of the first interface") != std::string::npos);
}

TEST_CASE("packets out of order in the capture are written, counted late once per port and once "
          "over the stages", "[fast][e2e]") {
    // icmp-echo re-timed so that every second packet is older than the one before it: offsets
    // 0, 10, 5, 20, 15, ... ms. The worker's merge emits those late; the writer then sees them
    // late again, which is the port's count but not a second stage's.
    Capture capture = retimed(read_capture(test_data("icmp-echo.pcap")), 1'600'000'000'000'000'000,
                              10'000'000);
    uint64_t expected_late = 0;
    for (size_t i = 1; i < capture.packets.size(); i += 2) {
        capture.packets[i].ts_ns -= 15'000'000;
        ++expected_late;
    }
    TempDir dir;
    const std::string input = dir.path() + "/disorder.pcap";
    write_capture(input, capture);
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config, file_port_config(input, dir.path() + "/out", "max"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);

    const std::vector<Packet> output = published_packets(dir.path() + "/out/w");
    REQUIRE(output.size() == capture.packets.size());
    for (size_t i = 0; i < output.size(); ++i) CHECK(output[i].ts_ns == capture.packets[i].ts_ns);
    const Json stats = final_stats(dir.path() + "/out/w");
    CHECK(stats.u64("ports.a.late") == expected_late);
    CHECK(stats.u64("stages.worker.late") + stats.u64("stages.writer.late") == expected_late);
    CHECK(invariant_holds(stats, "a"));
}

TEST_CASE("stages pinned to one core run as one thread there, as --check says; every packet "
          "still comes out once, in order", "[fast][e2e]") {
    TempDir dir;
    // 1.2 s of traffic replayed in real time: long enough to look at the running threads.
    const Capture input = retimed(read_capture(test_data("ftp-ipv4.pcap")), 1'700'000'000'000'000'000ull,
                                  20'000'000);
    REQUIRE(input.packets.size() >= 60);
    const std::string capture = dir.path() + "/in.pcap";
    write_capture(capture, input);
    const std::string config = dir.path() + "/taprec.yaml";
    // rx and the worker on the first core this test may use, the writer unpinned.
    const std::string cpu = std::to_string(first_allowed_cpu());
    std::string text = file_port_config(capture, dir.path() + "/out", "realtime");
    text.replace(text.find("threads: {idle: sleep}"), 22,
                 "threads: {rx: [" + cpu + "], workers: [" + cpu + "], idle: sleep}");
    write_file(config, text);
    const std::string loop = "cpu" + cpu + ":w";
    const std::string layout =
        "rxa and wk0 as one loop on core " + cpu + " (" + loop + "); writer unpinned (writer:w)";

    const RunResult check = run_taprec({"--config", config, "--check"});
    INFO(check.output);
    CHECK(contains(check.output, "  threads         " + layout + "\n"));

    std::map<std::string, std::string> threads;  // name -> the cores it may run on
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
        for (int i = 0; i < 100 && threads.count(loop) == 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            threads.clear();
            for (const std::string& tid : list_dir(tasks)) {
                std::string name = read_file(tasks + "/" + tid + "/comm");
                if (!name.empty() && name.back() == '\n') name.pop_back();
                for (const std::string& line : read_lines(tasks + "/" + tid + "/status"))
                    if (line.starts_with("Cpus_allowed_list:")) threads[name] = line.substr(line.find_last_of(" \t") + 1);
            }
        }
    });
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(contains(run.output, "tap w: threads: " + layout));
    REQUIRE(threads.count(loop) == 1);
    CHECK(threads[loop] == cpu);
    CHECK(threads.count("writer:w") == 1);
    CHECK(threads.count("rxa:w") == 0);  // not a thread of its own
    CHECK(threads.count("wk0:w") == 0);

    const std::vector<Packet> output = published_packets(dir.path() + "/out/w");
    REQUIRE(output.size() == input.packets.size());
    CHECK(output == input.packets);
    check_final_accounting(dir.path() + "/out/w", input.packets.size());
}
