// Rotation never stalls capture (issue 19): a file is fsynced, renamed and recorded in index.jsonl
// by the writer's publisher thread while the writer goes on with the next file. Rotating every
// 10 ms at a fixed rate with output.sync: close loses nothing and leaves index.jsonl in order and
// adding up; a slow publish (TAPREC_TEST_PUBLISH_DELAY_MS, the test-only delay of
// writer/publisher.hpp) does not hold the writer back, a stop still publishes everything
// pending, and a crash with files closed but not yet published leaves them to the repair.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <thread>

#include "daemon_run.hpp"
#include "stats/counter_table.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

constexpr const char* publish_delay = "TAPREC_TEST_PUBLISH_DELAY_MS";

std::string rotation_config(const std::string& capture, const std::string& out,
                            const std::string& speed, uint64_t packets_per_file) {
    return file_port_config(capture, out, speed,
                            "  sync: close\n  rotate: {bytes: 0, seconds: 0, packets: " +
                                std::to_string(packets_per_file) + "}\n");
}

// What the port lost, by the one definition of drops (stats/counter_table.hpp).
uint64_t port_drops(const Json& stats, const std::string& port) {
    uint64_t n = 0;
    for (const taprec::CounterSpec& c : taprec::counter_table)
        if (c.drop && c.scope == taprec::CounterScope::port && stats.has("ports." + port + "." + c.name))
            n += stats.u64("ports." + port + "." + c.name);
    return n;
}

// Waits (up to 60 s) for a stats.jsonl line that satisfies `done`; returns it.
Json wait_for_stats(const std::string& tap, const std::function<bool(const Json&)>& done) {
    for (int i = 0; i < 3000; ++i) {
        for (const std::string& line : read_lines(tap + "/.meta/stats.jsonl")) {
            const Json stats = parse_json(line);
            if (done(stats)) return stats;
        }
        std::this_thread::sleep_for(20ms);
    }
    FAIL("no stats.jsonl line of " << tap << " reached the awaited state in 60 s");
    return {};
}

// 2000 packets 1 ms apart, the frames of ftp-ipv4.pcap over and over.
Capture fixed_rate_capture() {
    const Capture ftp = read_capture(test_data("ftp-ipv4.pcap"));
    Capture input;
    input.link_type = ftp.link_type;
    input.snaplen = ftp.snaplen;
    const uint64_t start_ns = ftp.packets.front().ts_ns;
    for (size_t i = 0; i < 2000; ++i) {
        Packet p = ftp.packets[i % ftp.packets.size()];
        p.ts_ns = start_ns + i * 1'000'000;
        input.packets.push_back(std::move(p));
    }
    return input;
}

}  // namespace

TEST_CASE("rotating every 10 ms at a fixed rate with fsync loses nothing; index.jsonl is in order "
          "and adds up", "[slow][writer][rotation]") {
    TempDir dir;
    // Replayed in real time: 1000 packets/s, a file every 10 packets.
    const Capture input = fixed_rate_capture();
    const std::string capture = dir.path() + "/fixed-rate.pcap";
    write_capture(capture, input);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, rotation_config(capture, dir.path() + "/out", "realtime", 10));

    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";
    CHECK(list_dir(tap + "/.partial").empty());
    CHECK(published_packets(tap) == input.packets);
    const Json stats = final_stats(tap);
    CHECK(stats.u64("files") == 200);
    CHECK(invariant_holds(stats, "a"));
    CHECK(port_drops(stats, "a") == 0);
    CHECK(stats.u64("ports.a.written") == input.packets.size());

    const std::vector<std::string> lines = read_lines(tap + "/.meta/index.jsonl");
    REQUIRE(lines.size() == 200);
    uint64_t packets = 0, port_packets = 0, drops = 0, previous_last_ns = 0;
    for (const std::string& line : lines) {
        INFO(line);
        const Json file = parse_json(line);
        CHECK(file.u64("packets") == 10);
        CHECK(file.u64("first_ns") >= previous_last_ns);  // publication order is capture order
        CHECK(file.u64("last_ns") >= file.u64("first_ns"));
        previous_last_ns = file.u64("last_ns");
        packets += file.u64("packets");
        port_packets += file.u64("ports.a.packets");
        drops += file.u64("ports.a.drops");
    }
    CHECK(packets == input.packets.size());
    CHECK(port_packets == stats.u64("ports.a.written"));
    CHECK(drops == port_drops(stats, "a"));
}

TEST_CASE("a slow publish does not stall the writer, and a stop publishes everything pending",
          "[slow][writer][rotation]") {
    TempDir dir;
    const ScopedEnv delay(publish_delay, "300");  // each of the 10 files: 0.3 s to publish
    const Capture input = read_capture(test_data("ftp-ipv4.pcap"));  // 95 packets
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, rotation_config(test_data("ftp-ipv4.pcap"), dir.path() + "/out", "max", 10));
    const std::string tap = dir.path() + "/out/w";
    Json all_written;
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        all_written = wait_for_stats(
            tap, [&](const Json& s) { return s.u64("ports.a.written") == input.packets.size(); });
        ::kill(pid, SIGTERM);
    });
    INFO(run.output);
    // Had the writer published each file itself, it could not have written the last of the
    // 10 files before the 9 before it were published: 2.7 s of publishing.
    CHECK(all_written.u64("files") <= 5);
    REQUIRE(run.exit_code == 0);
    CHECK(list_dir(tap + "/.partial").empty());
    CHECK(final_stats(tap).u64("files") == 10);
    CHECK(read_lines(tap + "/.meta/index.jsonl").size() == 10);
    CHECK(published_packets(tap) == input.packets);
}

TEST_CASE("a crash with files closed but not yet published leaves them to the next start's repair",
          "[slow][writer][rotation]") {
    TempDir dir;
    const Capture first = read_capture(test_data("ftp-ipv4.pcap"));   // 95 packets, 10 files
    const Capture second = read_capture(test_data("icmp-echo.pcap"));  // 10 packets
    const std::string out = dir.path() + "/out";
    const std::string tap = out + "/w";
    const std::string config = dir.path() + "/c.yaml";
    {
        const ScopedEnv delay(publish_delay, "10000");  // nothing gets published before the kill
        write_file(config, rotation_config(test_data("ftp-ipv4.pcap"), out, "max", 10));
        const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
            wait_for_stats(tap, [&](const Json& s) {
                return s.u64("ports.a.written") == first.packets.size();
            });
            ::kill(pid, SIGKILL);
        });
        REQUIRE(run.exit_code == -1);
        for (const std::string& name : list_dir(tap)) CHECK(name.find(".pcap") == std::string::npos);
        CHECK(list_dir(tap + "/.partial").size() == 10);
    }
    write_file(config, rotation_config(test_data("icmp-echo.pcap"), out, "max", 10));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(list_dir(tap + "/.partial").empty());
    std::vector<Packet> expected = first.packets;
    expected.insert(expected.end(), second.packets.begin(), second.packets.end());
    const std::vector<Packet> published = published_packets(tap);
    CHECK(published.size() == expected.size());
    for (size_t i = 0; i < std::min(published.size(), expected.size()); ++i) {
        INFO("packet " << i << " ts " << published[i].ts_ns << " expected " << expected[i].ts_ns);
        CHECK(published[i] == expected[i]);
    }
}

TEST_CASE("more closed files than the publisher's ring holds: the writer waits for room, nothing "
          "is lost or out of order", "[slow][writer][rotation]") {
    TempDir dir;
    // 200 files written at full speed, 5 ms each to publish: the writer gets more than
    // Publisher::capacity (64) files ahead and must wait for the oldest.
    const ScopedEnv delay(publish_delay, "5");
    const Capture input = fixed_rate_capture();
    const std::string capture = dir.path() + "/fixed-rate.pcap";
    write_capture(capture, input);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, rotation_config(capture, dir.path() + "/out", "max", 10));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";
    CHECK(contains(run.output, "publishing falls behind: 64 closed files"));
    CHECK(list_dir(tap + "/.partial").empty());
    CHECK(final_stats(tap).u64("files") == 200);
    CHECK(read_lines(tap + "/.meta/index.jsonl").size() == 200);
    CHECK(published_packets(tap) == input.packets);
}
