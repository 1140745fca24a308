// The writer: files read back with libpcap hold exactly the records written; rotation by bytes,
// by packets and by wall-clock seconds (on an idle link too); SIGHUP and SIGTERM; and nothing
// but complete files ever visible in the output folder.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "daemon_run.hpp"
#include "pipeline/packet_source.hpp"
#include "writer/output_dir.hpp"
#include "writer/pcap_file.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {


uint64_t now_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count());
}

std::string config_for(const std::string& capture, const std::string& out, const std::string& speed,
                       const std::string& rotate) {
    return file_port_config(capture, out, speed, "  snaplen: 262144\n  rotate: " + rotate + "\n",
                            "1s");
}

size_t file_size(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 ? size_t(st.st_size) : 0;
}

}  // namespace

TEST_CASE("PcapFile writes records libpcap reads back exactly, across many blocks",
          "[fast][writer]") {
    TempDir dir;
    const Capture input = read_capture(test_data("loopback-oversized-frames.pcap"));
    constexpr size_t block = 64 * 1024;  // smaller than the input: many flushes
    std::vector<std::byte> buffer(block);
    taprec::PcapFile file(buffer.data(), block, true, 262144, input.link_type);
    const std::string path = dir.path() + "/out.pcap";
    file.open(path);
    taprec::FlushResult flushed;
    for (const Packet& p : input.packets) {
        taprec::PacketRef ref{reinterpret_cast<const std::byte*>(p.bytes.data()), nullptr, p.ts_ns,
                              p.caplen, p.wire_len, 0, 0};
        file.append(ref, nullptr, flushed);
    }
    file.close(flushed, false);
    CHECK(flushed.error == 0);
    CHECK(flushed.written[0] == input.packets.size());
    CHECK(file_size(path) == file.size());
    const Capture output = read_capture(path);
    CHECK(output.error.empty());
    CHECK(output.link_type == input.link_type);
    CHECK(output.packets == input.packets);
}

TEST_CASE("OutputDirectory names files by first packet and never reuses a name", "[fast][writer]") {
    TempDir dir;
    taprec::OutputDirectory out(dir.path(), "tap1", "{tap}-%Y%m%d-%H%M%S");
    const uint64_t ts = 1329843161968492000ull;  // 2012-02-21 16:52:41 UTC
    const std::string first = out.name_for(ts);
    CHECK(first == "tap1-20120221-165241.pcap");
    write_file(out.partial_path(first), "x");
    const std::string second = out.name_for(ts);
    CHECK(second == "tap1-20120221-165241-1.pcap");
    CHECK(out.publish(first) == dir.path() + "/tap1/" + first);
    // Publishing onto an existing name takes the next free sequence number instead.
    write_file(out.partial_path(first), "y");
    CHECK(out.publish(first) == dir.path() + "/tap1/tap1-20120221-165241-1.pcap");
}

TEST_CASE("OutputDirectory: within a run a stem's sequence number only grows, past names that "
          "retention freed and past files of an earlier run", "[fast][writer]") {
    TempDir dir;
    taprec::OutputDirectory out(dir.path(), "tap1", "{tap}-%Y%m%d-%H%M%S");
    const uint64_t ts = 1329843161968492000ull;  // 2012-02-21 16:52:41 UTC
    const std::string stem = "tap1-20120221-165241";
    auto publish_next = [&](uint64_t first_ts_ns) {
        const std::string name = out.name_for(first_ts_ns);
        write_file(out.partial_path(name), "x");
        return out.publish(name);
    };
    CHECK(publish_next(ts) == out.tap_dir() + "/" + stem + ".pcap");
    CHECK(publish_next(ts) == out.tap_dir() + "/" + stem + "-1.pcap");
    // Retention deletes both; their names stay used for this run.
    std::filesystem::remove(out.tap_dir() + "/" + stem + ".pcap");
    std::filesystem::remove(out.tap_dir() + "/" + stem + "-1.pcap");
    write_file(out.tap_dir() + "/" + stem + "-3.pcap", "an earlier run's file");
    CHECK(out.name_for(ts) == stem + "-2.pcap");
    CHECK(out.name_for(ts) == stem + "-4.pcap");
    // A new stem starts from no suffix.
    CHECK(out.name_for(ts + 1'000'000'000) == "tap1-20120221-165242.pcap");
}

TEST_CASE("rotation by bytes keeps every file under the limit and loses nothing", "[fast][writer]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(test_data("loopback-oversized-frames.pcap"), dir.path() + "/out",
                                  "max", "{bytes: 64KiB, seconds: 0}"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";
    const std::vector<std::string> files = published_files(tap);
    CHECK(files.size() >= 4);
    for (const std::string& f : files) CHECK(file_size(f) <= 64 * 1024);
    CHECK(published_packets(tap) == read_capture(test_data("loopback-oversized-frames.pcap")).packets);
    CHECK(final_stats(tap).u64("files") == files.size());
}

TEST_CASE("rotation by packets", "[fast][writer]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(test_data("ftp-ipv4.pcap"), dir.path() + "/out", "max",
                                  "{bytes: 0, seconds: 0, packets: 10}"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::vector<std::string> files = published_files(dir.path() + "/out/w");
    REQUIRE(files.size() == 10);  // 95 packets, 10 a file
    for (size_t i = 0; i + 1 < files.size(); ++i) CHECK(read_capture(files[i]).packets.size() == 10);
    CHECK(read_capture(files.back()).packets.size() == 5);
}

TEST_CASE("time rotation follows the wall clock, idle link included, and a watcher only ever "
          "sees complete files", "[slow][writer]") {
    TempDir dir;
    // 8 packets 100 ms apart, a 2.5 s silence, then 8 more: the first file must be published
    // during the silence, at a whole second, with no packet arriving to trigger it.
    Capture c = read_capture(test_data("ftp-ipv4.pcap"));
    c.packets.resize(16);
    c = retimed(c, 1'600'000'000'000'000'000ull, 100'000'000);
    for (size_t i = 8; i < 16; ++i) c.packets[i].ts_ns += 2'500'000'000ull;
    const std::string capture = dir.path() + "/gap.pcap";
    write_capture(capture, c);

    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, dir.path() + "/out", "realtime", "{bytes: 0, seconds: 1}"));
    const std::string tap = dir.path() + "/out/w";

    std::atomic<bool> done{false};
    std::atomic<int> bad_files{0};
    std::atomic<int> files_seen_during_gap{0};
    std::atomic<uint64_t> started{0};  // set by the daemon-running thread, read by the watcher
    std::thread watcher([&] {
        while (!done) {
            for (const std::string& name : list_dir(tap)) {
                if (name == ".partial" || name == ".meta") continue;
                const std::string path = tap + "/" + name;
                Capture seen;
                try {
                    seen = read_capture(path);
                } catch (const std::exception&) {
                    ++bad_files;  // visible but not a readable capture
                    continue;
                }
                if (!seen.error.empty() || seen.packets.empty()) ++bad_files;
            }
            const double elapsed = double(now_ns() - started) / 1e9;
            if (elapsed > 1.3 && elapsed < 2.8 && started != 0)
                files_seen_during_gap = std::max<int>(files_seen_during_gap,
                                                      int(list_dir(tap).size()) - 2);
            std::this_thread::sleep_for(5ms);
        }
    });
    const RunResult run = run_taprec({"--config", config}, [&](pid_t) { started = now_ns(); });
    done = true;
    watcher.join();
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(bad_files == 0);
    CHECK(files_seen_during_gap >= 1);
    CHECK(published_packets(tap) == c.packets);
    CHECK(published_files(tap).size() >= 3);
}

TEST_CASE("SIGHUP publishes the current file; SIGTERM drains, publishes and exits 0",
          "[slow][writer]") {
    TempDir dir;
    Capture c = read_capture(test_data("ftp-ipv4.pcap"));
    c = retimed(c, 1'600'000'000'000'000'000ull, 40'000'000);  // 95 packets over 3.8 s
    const std::string capture = dir.path() + "/slow.pcap";
    write_capture(capture, c);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, dir.path() + "/out", "realtime", "{bytes: 0, seconds: 0}"));
    const std::string tap = dir.path() + "/out/w";

    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        std::this_thread::sleep_for(800ms);
        kill(pid, SIGHUP);
        std::this_thread::sleep_for(800ms);
        kill(pid, SIGTERM);
    });
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::vector<Packet> out = published_packets(tap);
    CHECK(published_files(tap).size() == 2);
    CHECK(out.size() > 10);
    CHECK(out.size() < c.packets.size());  // stopped early
    CHECK(std::equal(out.begin(), out.end(), c.packets.begin()));
    const Json stats = final_stats(tap);
    CHECK(stats.u64("ports.a.received") == out.size());
    CHECK(invariant_holds(stats, "a"));
    CHECK(list_dir(tap + "/.partial").empty());
}
