// `taprec stats`: stats.jsonl lines read back, the table with rates over the last interval,
// --json, --config over every tap, --dir on a tap or the output directory, --watch, and clear
// errors when there is nothing to show yet.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/stats_command.hpp"
#include "daemon_run.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

taprec::TapSnapshot snapshot_at(uint64_t time_ns, uint64_t received_a, uint64_t received_b) {
    taprec::TapSnapshot s;
    s.tap = "uplink";
    s.time_ns = time_ns;
    s.ports[0].present = true;
    s.ports[0].received = received_a;
    s.ports[0].bytes = received_a * 100;
    s.ports[0].written = received_a - 3;
    s.ports[0].written_bytes = s.ports[0].written * 100;
    s.ports[0].dropped_ring = 3;
    s.ports[1].present = true;
    s.ports[1].received = received_b;
    s.ports[1].written = received_b;
    s.stages.rx_dropped_ring = 1;
    s.stages.worker_dropped_ring = 2;
    s.write_errors = 4;
    s.files = 5;
    s.file_keeping.hooks_started = 6;
    s.file_keeping.sync_errors = 7;
    return s;
}

std::string config_of(const std::string& out, const std::vector<std::string>& taps) {
    std::string text = "taps:\n";
    for (const std::string& tap : taps)
        text += "  - name: " + tap + "\n    a: {driver: pcap, file: \"" + test_data("ftp-ipv4.pcap") +
                "\"}\n    b: {driver: pcap, file: \"" + test_data("icmp-echo.pcap") + "\"}\n";
    return text + "threads: {idle: sleep}\noutput: {directory: " + out + "}\nstats: {interval: 1s}\n";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a stats.jsonl line reads back into the snapshot it came from", "[fast][stats_command]") {
    const taprec::TapSnapshot s = snapshot_at(1'700'000'000'000'000'000ull, 1000, 500);
    const auto line = taprec::parse_stats_line(taprec::stats_json_line(s, true));
    REQUIRE(line.has_value());
    CHECK(line->final);
    CHECK(line->snapshot.tap == "uplink");
    CHECK(line->snapshot.time_ns == s.time_ns);
    CHECK(line->snapshot.ports[0].received == 1000);
    CHECK(line->snapshot.ports[0].written_bytes == 99700);
    CHECK(line->snapshot.ports[1].present);
    CHECK(line->snapshot.stages.worker_dropped_ring == 2);
    CHECK(line->snapshot.write_errors == 4);
    CHECK(line->snapshot.files == 5);
    CHECK(line->snapshot.file_keeping.hooks_started == 6);
    CHECK(line->snapshot.file_keeping.sync_errors == 7);
    CHECK_FALSE(taprec::parse_stats_line("{\"not\":\"stats\"}").has_value());
    CHECK_FALSE(taprec::parse_stats_line("{\"time_ns\":1,\"ports\":{").has_value());
}

TEST_CASE("the table shows counters per port and stage, and rates over the last interval",
          "[fast][stats_command]") {
    const uint64_t t0 = 1'700'000'000'000'000'000ull;
    const auto before = taprec::parse_stats_line(taprec::stats_json_line(snapshot_at(t0, 1000, 500), false));
    const auto last = taprec::parse_stats_line(
        taprec::stats_json_line(snapshot_at(t0 + 10'000'000'000ull, 21000, 500), false));
    const std::string table = taprec::stats_table("/x/uplink", *last, before, t0 + 12'000'000'000ull);
    INFO(table);
    CHECK(has(table, "tap uplink  /x/uplink\n"));
    CHECK(has(table, "(2 s ago), running; rates over the last 10.0 s\n"));
    // 20000 packets in 10 s on a, nothing new on b; 2 MB in 10 s is 1.60 Mbit/s.
    CHECK(has(table, "  received                 21000       2.0 k/s           500          0 /s\n"));
    CHECK(has(table, "  bytes                  2100000   1.60 Mbit/s             0       0 bit/s\n"));
    CHECK(has(table, "  in_flight                    0                           0\n"));
    CHECK(has(table, "  stage                       rx        worker        writer\n"));
    CHECK(has(table, "  dropped_ring                 1             2             -\n"));
    CHECK(has(table, "  write_errors                 -             -             4\n"));
    CHECK(has(table, "  written 21497 packets"));
    CHECK(has(table, " in 5 files"));

    const std::string single = taprec::stats_table("/x/uplink", *last, std::nullopt, t0 + 10'000'000'000ull);
    CHECK(has(single, "no rates yet (one line)"));
    CHECK(has(single, "  received                 21000             -           500             -\n"));
    // After a restart the counters start again: no negative rates.
    const std::string restarted = taprec::stats_table("/x/uplink", *before, last, t0 + 20'000'000'000ull);
    CHECK(has(restarted, "no rates yet"));
}

TEST_CASE("taprec stats after a run: table, --json, --config, --dir, --watch", "[fast][stats_command]") {
    TempDir dir;
    const std::string out = dir.path() + "/out";
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_of(out, {"one", "two"}));

    SECTION("nothing yet: exit 2 and say why") {
        RunResult r = run_taprec({"stats", "--config", config});
        INFO(r.output);
        CHECK(r.exit_code == 2);
        CHECK(has(r.output, "taprec stats: no statistics yet: " + out + "/one/.meta/stats.jsonl does not exist"));
        r = run_taprec({"stats", "--dir", dir.path()});
        INFO(r.output);
        CHECK(r.exit_code == 2);
        CHECK(has(r.output, "holds no tap folder"));
        r = run_taprec({"stats", "--dir", dir.path() + "/missing"});
        CHECK(r.exit_code == 2);
        CHECK(has(r.output, dir.path() + "/missing: no such folder"));
        r = run_taprec({"stats", "--dir", out, "--config", config});
        CHECK(r.exit_code == 2);
        CHECK(has(r.output, "give --config or --dir, not both"));
        r = run_taprec({"stats", "--bogus"});
        CHECK(r.exit_code == 2);
        CHECK(has(r.output, "usage: taprec stats"));
    }

    SECTION("after a run") {
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        REQUIRE(run.exit_code == 0);

        RunResult r = run_taprec({"stats", "--config", config});
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(has(r.output, "tap one  " + out + "/one\n"));
        CHECK(has(r.output, "tap two  " + out + "/two\n"));
        CHECK(has(r.output, "final line: the daemon stopped"));
        const Json last = final_stats(out + "/one");
        CHECK(has(r.output, "  received      " ));
        CHECK(has(r.output, std::to_string(last.u64("ports.a.received"))));

        r = run_taprec({"stats", "--dir", out});  // the output directory: every tap in it
        CHECK(r.exit_code == 0);
        CHECK(has(r.output, "tap one  "));
        CHECK(has(r.output, "tap two  "));

        r = run_taprec({"stats", "--dir", out + "/two", "--json"});  // one tap folder, the raw line
        CHECK(r.exit_code == 0);
        CHECK(r.output == read_lines(out + "/two/.meta/stats.jsonl").back() + "\n");

        // A half-written last line (the daemon appending) is not read.
        const std::string complete = read_lines(out + "/two/.meta/stats.jsonl").back();
        write_file(out + "/two/.meta/stats.jsonl",
                   read_file(out + "/two/.meta/stats.jsonl") + "{\"time_ns\":12");
        r = run_taprec({"stats", "--dir", out + "/two", "--json"});
        CHECK(r.output == complete + "\n");

        r = run_taprec({"stats", "--dir", out, "--watch"}, [](pid_t pid) {
            std::this_thread::sleep_for(700ms);
            kill(pid, SIGINT);
        });
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(has(r.output, "tap one  "));

        // A stopped daemon's last two lines are an interval line and the final line a moment
        // later: that gap is not the stats interval, so --watch does not redraw at it.
        const std::vector<std::string> lines = read_lines(out + "/one/.meta/stats.jsonl");
        const std::string final_line = lines.back();
        const size_t at = final_line.find("\"time_ns\":");
        REQUIRE(at != std::string::npos);
        const uint64_t t = std::stoull(final_line.substr(at + 10));
        std::string earlier = final_line;
        earlier.replace(at + 10, std::to_string(t).size(), std::to_string(t - 100'000'000));
        const size_t final_key = earlier.find("\"final\":true");
        REQUIRE(final_key != std::string::npos);
        earlier.replace(final_key, 12, "\"final\":false");
        TempDir stopped;
        std::filesystem::create_directories(stopped.path() + "/s/.meta");
        write_file(stopped.path() + "/s/.meta/stats.jsonl", earlier + "\n" + final_line + "\n");
        r = run_taprec({"stats", "--dir", stopped.path() + "/s", "--watch"}, [](pid_t pid) {
            std::this_thread::sleep_for(700ms);
            kill(pid, SIGINT);
        });
        INFO(r.output);
        CHECK(r.exit_code == 0);
        size_t tables = 0;
        const std::string header = "tap one  " + stopped.path() + "/s\n";
        for (size_t pos = r.output.find(header); pos != std::string::npos;
             pos = r.output.find(header, pos + 1))
            ++tables;
        CHECK(tables == 1);
    }
}
