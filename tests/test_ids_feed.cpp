// Feeding the IDS (issue 5): what an IDS reading the output folder relies on. Exact packets in
// files that libpcap, capinfos and tcpdump accept across many rotations; O_DIRECT and sync:
// close; leftovers of a crash repaired or set aside; retention with files of an earlier run;
// on_rotate hooks that fail or hang; a full disk; timestamps far in the future.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "daemon_run.hpp"
#include "pipeline/packet_source.hpp"
#include "writer/hook_runner.hpp"
#include "writer/janitor.hpp"
#include "writer/output_dir.hpp"
#include "writer/partial_repair.hpp"
#include "writer/pcap_file.hpp"
#include "writer/retention.hpp"

using namespace test_support;
using namespace std::chrono_literals;

extern char** environ;

namespace {


taprec::PacketRef ref_of(const Packet& p) {
    return {reinterpret_cast<const std::byte*>(p.bytes.data()), nullptr, p.ts_ns, p.caplen,
            p.wire_len, 0, 0};
}

std::string config_for(const std::string& capture, const std::string& out, const std::string& speed,
                       const std::string& output_extra) {
    return file_port_config(capture, out, speed, output_extra);
}

// `count` real frames cycled from `name`, `spacing_ns` apart from `start_ns`.
Capture cycled(const std::string& name, size_t count, uint64_t start_ns, uint64_t spacing_ns) {
    const Capture in = read_capture(test_data(name));
    Capture out = in;
    out.packets.clear();
    for (size_t i = 0; i < count; ++i) out.packets.push_back(in.packets[i % in.packets.size()]);
    return retimed(out, start_ns, spacing_ns);
}

std::string run_tool(const std::string& command) {
    std::string out;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return out;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
    return out;
}

size_t count_lines(const std::string& text) {
    return size_t(std::count(text.begin(), text.end(), '\n'));
}

std::vector<std::string> pcap_files(const std::string& tap) {
    std::vector<std::string> names;
    for (const std::string& n : list_dir(tap))
        if (n.size() > 5 && n.compare(n.size() - 5, 5, ".pcap") == 0) names.push_back(n);
    return names;
}


}  // namespace

TEST_CASE("O_DIRECT: whole aligned blocks, records split across them, the tail after clearing "
          "O_DIRECT; libpcap reads back exactly", "[fast][ids_feed]") {
    // With spare blocks the full blocks go to the write thread, two in flight at most.
    const bool write_thread = GENERATE(false, true);
    INFO("write thread " << write_thread);
    TempDir dir;  // /tmp: a disk file system here; tmpfs refuses O_DIRECT on older kernels
    const Capture input = read_capture(test_data("loopback-oversized-frames.pcap"));
    constexpr size_t block = 64 * 1024;
    constexpr size_t blocks = 1 + taprec::PcapFile::spare_blocks_for_write_thread;
    void* memory = std::aligned_alloc(4096, block * blocks);
    std::byte* const buffer = static_cast<std::byte*>(memory);
    taprec::PcapFile file(buffer, block, true, 262144, input.link_type,
                          write_thread ? buffer + block : nullptr);
    const std::string path = dir.path() + "/direct.pcap";
    file.open(path, true);
    if (!file.direct()) WARN("this file system refuses O_DIRECT; testing the buffered fallback");
    taprec::FlushResult flushed;
    bool queued = false;  // a block was handed over and not yet counted written
    for (int round = 0; round < 3; ++round) {
        for (const Packet& p : input.packets) {
            file.append(ref_of(p), nullptr, flushed);
            queued = queued || file.handed_size() > file.confirmed_size();
        }
    }
    CHECK(queued == (write_thread && file.direct()));
    CHECK(file.close(flushed, true) == 0);
    std::free(memory);
    CHECK(flushed.error == 0);
    CHECK(flushed.written[0] == 3 * input.packets.size());
    const Capture output = read_capture(path);
    CHECK(output.error.empty());
    REQUIRE(output.packets.size() == 3 * input.packets.size());
    for (size_t i = 0; i < output.packets.size(); ++i)
        REQUIRE(output.packets[i] == input.packets[i % input.packets.size()]);
}

TEST_CASE("a file whose only write fails, at close, is still a pcap file: the header, no record",
          "[fast][ids_feed]") {
    TempDir dir;
    const Capture input = read_capture(test_data("ftp-ipv4.pcap"));
    std::vector<std::byte> buffer(1 << 20);
    taprec::PcapFile file(buffer.data(), buffer.size(), true, 262144, input.link_type);
    const std::string path = dir.path() + "/cut.pcap";
    taprec::FlushResult flushed;
    {
        // 100 bytes: the block's write stops short after the header and a little, then fails.
        const FileSizeLimit limit(100);
        file.open(path);
        for (const Packet& p : input.packets) file.append(ref_of(p), nullptr, flushed);
        file.close(flushed, false);
    }
    CHECK(flushed.error != 0);
    CHECK(flushed.written[0] == 0);
    CHECK(flushed.lost[0] == input.packets.size());
    const Capture output = read_capture(path);
    CHECK(output.error.empty());
    CHECK(output.packets.empty());
    CHECK(std::filesystem::file_size(path) == taprec::PcapFile::file_header_size);
}

TEST_CASE("O_DIRECT with blocks in flight: a write that fails takes the blocks after it, every "
          "record is counted written or lost, the file stays valid", "[.o_direct][ids_feed]") {
    TempDir dir;
    const Capture input = read_capture(test_data("vlan-http-session.pcap"));
    constexpr size_t block = 64 * 1024;
    constexpr size_t blocks = 1 + taprec::PcapFile::spare_blocks_for_write_thread;
    void* memory = std::aligned_alloc(4096, block * blocks);
    std::byte* const buffer = static_cast<std::byte*>(memory);
    taprec::PcapFile file(buffer, block, true, 262144, input.link_type, buffer + block);
    const std::string path = dir.path() + "/failing.pcap";
    file.open(path, true);
    REQUIRE(file.direct());  // run by meson through tests/support/precondition o-direct
    // The file may not pass 5.5 blocks: the block at 5 is cut short and the next write fails
    // (EFBIG), while later blocks may be in flight already.
    std::vector<Packet> appended;
    taprec::FlushResult flushed;
    {
        const FileSizeLimit limit(block * 11 / 2);
        while (appended.size() < 12 * block / 400) {  // ~12 blocks of these frames
            for (const Packet& p : input.packets) {
                const bool failed_before = flushed.error != 0;
                file.append(ref_of(p), nullptr, flushed);
                appended.push_back(p);
                if (flushed.error != 0 && !failed_before) {
                    // Found when the queue was full: the block after the failed one was in
                    // flight, and went with it (the cut takes the bytes it may have written).
                    CHECK_FALSE(file.write_in_flight());
                    CHECK(file.handed_size() == file.confirmed_size());
                }
            }
        }
        file.close(flushed, false);
    }
    std::free(memory);
    CHECK(flushed.error != 0);
    CHECK(file.write_failures() >= 1);
    // Nothing unaccounted: each record is written or lost, once.
    CHECK(flushed.written[0] + flushed.lost[0] == appended.size());
    CHECK(flushed.lost[0] > 0);
    const Capture output = read_capture(path);
    CHECK(output.error.empty());
    REQUIRE(output.packets.size() == flushed.written[0]);
    // The file holds whole records of what was appended, in order: the blocks up to the failure.
    struct stat st{};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(uint64_t(st.st_size) <= block * 5);
    REQUIRE(output.packets.size() <= appended.size());
    for (size_t i = 0; i < output.packets.size(); ++i) REQUIRE(output.packets[i] == appended[i]);
}

TEST_CASE("O_DIRECT: a block written on the write thread counts as written when its write ends, "
          "not when the file closes", "[.o_direct][ids_feed]") {
    TempDir dir;
    // 1.5 MB at once (a block and a half), then nothing for 3 s, then one last packet.
    Capture load = cycled("vlan-http-session.pcap", 4000, 1'600'000'000'000'000'000ull, 1000);
    const size_t last = load.packets.size() - 1;
    load.packets[last].ts_ns = load.packets[last - 1].ts_ns + 3'000'000'000ull;
    const std::string capture = dir.path() + "/load.pcap";
    write_capture(capture, load);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, file_port_config(capture, dir.path() + "/out", "realtime",
                                        "  direct_io: true\n  rotate: {bytes: 0, seconds: 0}\n",
                                        "200ms"));
    const RunResult run = run_taprec({"--config", config}, {}, 30);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";
    // A line of the quiet 3 s: the full block is written, the rest waits in the next block.
    uint64_t written_while_quiet = 0;
    for (const std::string& line : read_lines(tap + "/.meta/stats.jsonl")) {
        const Json stats = parse_json(line);
        if (stats.u64("ports.a.received") == last)
            written_while_quiet = std::max(written_while_quiet, stats.u64("ports.a.written"));
    }
    CHECK(written_while_quiet > 0);
    CHECK(written_while_quiet < last);
    const Json stats = final_stats(tap);
    CHECK(stats.u64("ports.a.written") == load.packets.size());
    CHECK(published_packets(tap) == load.packets);
}

TEST_CASE("retention plan: max_files, max_bytes with the file being written, min_free_percent",
          "[fast][ids_feed]") {
    std::vector<taprec::StoredFile> files;
    for (int i = 0; i < 10; ++i) files.push_back({"f" + std::to_string(i), 100, i});
    taprec::RetentionConfig r{};
    r.min_free_percent = 0;
    CHECK(taprec::plan_retention(files, 0, std::nullopt, r).delete_count == 0);
    r.max_files = 4;
    auto d = taprec::plan_retention(files, 0, std::nullopt, r);
    CHECK(d.delete_count == 6);
    CHECK(d.reason == "max_files");
    r.max_files = 0;
    r.max_bytes = 650;  // 10 files of 100 plus 120 being written: keep 5 (500 + 120 <= 650)
    d = taprec::plan_retention(files, 120, std::nullopt, r);
    CHECK(d.delete_count == 5);
    CHECK(d.reason == "max_bytes");
    r.max_bytes = 0;
    r.min_free_percent = 10;  // 10% of 10000 = 1000 wanted, 750 available: 3 files free 300
    d = taprec::plan_retention(files, 0, taprec::DiskSpace{10000, 750}, r);
    CHECK(d.delete_count == 3);
    CHECK(d.reason == "min_free_percent");
    CHECK_FALSE(d.min_free_unreachable);
    d = taprec::plan_retention(files, 0, taprec::DiskSpace{100000, 0}, r);
    CHECK(d.delete_count == 10);
    CHECK(d.min_free_unreachable);  // capture goes on regardless
}

TEST_CASE("retention lists files closed in one tick of the kernel's clock (one mtime) in the "
          "order their names were given (X, X-1, X-2, X-10)", "[fast][ids_feed]") {
    TempDir dir;
    const std::string stem = "w-20120221-165241";
    const std::vector<std::string> same_tick = {stem + ".pcap", stem + "-1.pcap", stem + "-2.pcap",
                                                stem + "-10.pcap", "w-20120221-165242.pcap"};
    const timespec tick[2] = {{1'600'000'000, 4'000'000}, {1'600'000'000, 4'000'000}};
    for (const std::string& name : same_tick) {
        write_file(dir.path() + "/" + name, "x");
        REQUIRE(::utimensat(AT_FDCWD, (dir.path() + "/" + name).c_str(), tick, 0) == 0);
    }
    // A tick earlier: first, whatever its name says.
    const std::string earlier = dir.path() + "/w-20120221-165243.pcap";
    write_file(earlier, "x");
    const timespec tick_before[2] = {{1'600'000'000, 0}, {1'600'000'000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, earlier.c_str(), tick_before, 0) == 0);

    std::vector<std::string> listed;
    for (const taprec::StoredFile& f : taprec::list_published(dir.path())) listed.push_back(f.name);
    std::vector<std::string> expected = {"w-20120221-165243.pcap"};
    expected.insert(expected.end(), same_tick.begin(), same_tick.end());
    CHECK(listed == expected);
}

TEST_CASE("the janitor deletes this run's files in the order it published them, after the files "
          "of earlier runs, whatever their mtimes and names say", "[fast][ids_feed]") {
    TempDir dir;
    taprec::OutputDirectory out(dir.path() + "/out", "w", "{tap}-%Y%m%d-%H%M%S");
    auto stored_at = [&](const std::string& name, time_t seconds) {
        const std::string path = out.tap_dir() + "/" + name;
        write_file(path, "x");
        const timespec mtime[2] = {{seconds, 0}, {seconds, 0}};
        REQUIRE(::utimensat(AT_FDCWD, path.c_str(), mtime, 0) == 0);
        return path;
    };
    // An earlier run's file with a later mtime than this run's (its clock was ahead).
    stored_at("w-20200913-122700.pcap", 1'600'000'100);
    taprec::OutputConfig output;
    output.retention.max_files = 1;
    output.retention.min_free_percent = 0;
    taprec::Janitor janitor(out, output);
    // This run's two files, closed in one tick; the second named from an earlier packet second
    // (a late packet opened it), so name order says the opposite of publication order.
    const std::string first = stored_at("w-20200913-122641.pcap", 1'600'000'000);
    const std::string second = stored_at("w-20200913-122640.pcap", 1'600'000'000);
    janitor.file_published(first);
    janitor.file_published(second);
    janitor.start();
    janitor.finish();
    janitor.join();
    CHECK(pcap_files(out.tap_dir()) == std::vector<std::string>{"w-20200913-122640.pcap"});
    CHECK(janitor.retention_counters().deleted_files.get() == 2);
}

TEST_CASE("publication order: a file seen before the janitor is told of it keeps its place; "
          "deleted names are forgotten", "[fast][ids_feed]") {
    auto names = [](const std::vector<taprec::StoredFile>& files) {
        std::vector<std::string> out;
        for (const taprec::StoredFile& f : files) out.push_back(f.name);
        return out;
    };
    // As list_published gives them: by mtime; this run's files all in one tick.
    const taprec::StoredFile earlier{"e.pcap", 1, 9}, a{"a.pcap", 1, 5}, b{"b.pcap", 1, 5},
        c{"c.pcap", 1, 5};
    taprec::PublicationOrder order({earlier});
    order.published("b.pcap");
    // a is renamed into place but not announced yet (the writer renames, then tells).
    CHECK(names(order.oldest_first({a, b, earlier})) ==
          std::vector<std::string>{"e.pcap", "b.pcap", "a.pcap"});
    order.published("a.pcap");
    order.published("c.pcap");
    CHECK(names(order.oldest_first({a, b, c, earlier})) ==
          std::vector<std::string>{"e.pcap", "b.pcap", "a.pcap", "c.pcap"});
    // e and b deleted; a file named b later is a new file, the newest.
    CHECK(names(order.oldest_first({a, c})) == std::vector<std::string>{"a.pcap", "c.pcap"});
    CHECK(names(order.oldest_first({a, b, c})) ==
          std::vector<std::string>{"a.pcap", "c.pcap", "b.pcap"});
}

TEST_CASE("leftovers in .partial: cut to the last whole record and published, foreign files set "
          "aside, empty ones removed, each with a notice", "[fast][ids_feed]") {
    TempDir dir;
    taprec::OutputDirectory out(dir.path(), "t", "{tap}-%Y%m%d-%H%M%S");
    const Capture input = read_capture(test_data("ftp-ipv4.pcap"));
    std::vector<std::byte> buffer(1 << 20);
    {
        taprec::PcapFile file(buffer.data(), buffer.size(), true, 262144, 1);
        file.open(out.partial_path("t-crashed.pcap"));
        taprec::FlushResult flushed;
        for (const Packet& p : input.packets) file.append(ref_of(p), nullptr, flushed);
        file.close(flushed, false);
    }
    // Half of one more record, as a crash in the middle of a write leaves it.
    {
        FILE* f = std::fopen(out.partial_path("t-crashed.pcap").c_str(), "ab");
        const unsigned char half[24] = {1, 2, 3, 4, 5, 6, 7, 8, 100, 0, 0, 0, 100, 0, 0, 0};
        std::fwrite(half, 1, sizeof half, f);
        std::fclose(f);
    }
    write_file(out.partial_path("t-garbage.pcap"), "this is not a capture at all");
    {
        taprec::PcapFile file(buffer.data(), buffer.size(), true, 262144, 1);
        file.open(out.partial_path("t-empty.pcap"));
        taprec::FlushResult flushed;
        file.close(flushed, false);
    }

    const taprec::RepairResult result = taprec::repair_partials(out);
    std::string notices;
    for (const auto& n : result.notices) notices += n.text + "\n";
    INFO(notices);
    REQUIRE(result.published.size() == 1);
    CHECK(result.notices.size() == 3);
    CHECK(notices.find("cut 24 bytes") != std::string::npos);
    const Capture repaired = read_capture(result.published[0]);
    CHECK(repaired.error.empty());
    CHECK(repaired.packets == read_capture(test_data("ftp-ipv4.pcap")).packets);
    const Json index = parse_json(read_lines(out.meta_dir() + "/index.jsonl").at(0));
    CHECK(index.at("repaired").boolean);
    CHECK(index.u64("packets") == input.packets.size());
    CHECK(index.u64("cut_bytes") == 24);
    CHECK(index.at("name").text == index.at("file").text);
    CHECK(list_dir(out.partial_dir()) == std::vector<std::string>{"corrupt"});
    CHECK(list_dir(out.partial_dir() + "/corrupt") == std::vector<std::string>{"t-garbage.pcap"});
}

TEST_CASE("many rotations: libpcap, capinfos and tcpdump -r find exactly the packets written; "
          "sync: close", "[fast][ids_feed]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(test_data("ftp-ipv6.pcap"), dir.path() + "/out", "max",
                                  "  rotate: {bytes: 0, seconds: 0, packets: 7}\n"
                                  "  sync: close\n"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";
    const std::vector<std::string> files = published_files(tap);
    const Capture input = read_capture(test_data("ftp-ipv6.pcap"));
    CHECK(files.size() == (input.packets.size() + 6) / 7);  // 136 packets: 20 files
    CHECK(published_packets(tap) == input.packets);
    size_t capinfos_total = 0, tcpdump_total = 0;
    for (const std::string& f : files) {
        const std::string info = run_tool("capinfos -M -c '" + f + "'");
        const size_t at = info.find("Number of packets:");
        REQUIRE(at != std::string::npos);
        capinfos_total += std::stoul(info.substr(at + 18));
        const std::string dump = run_tool("tcpdump -nn -r '" + f + "'");
        CHECK(dump.find("truncated") == std::string::npos);
        tcpdump_total += count_lines(dump) - 1;  // "reading from file ..." comes first
    }
    CHECK(capinfos_total == input.packets.size());
    CHECK(tcpdump_total == input.packets.size());
    CHECK(list_dir(tap + "/.partial").empty());
}

TEST_CASE("retention with files from an earlier run: max_files and max_bytes delete the oldest, "
          "never the file being written", "[fast][ids_feed]") {
    TempDir dir;
    const std::string tap = dir.path() + "/out/w";
    std::filesystem::create_directories(tap);
    // Five files of an earlier run, a day old.
    const std::string old_capture = test_data("icmp-echo.pcap");
    for (int i = 0; i < 5; ++i) {
        const std::string path = tap + "/w-earlier-" + std::to_string(i) + ".pcap";
        std::filesystem::copy_file(old_capture, path);
        const timeval old[2] = {{time(nullptr) - 86400 + i, 0}, {time(nullptr) - 86400 + i, 0}};
        ::utimes(path.c_str(), old);
    }
    write_file(tap + "/notes.txt", "not a capture: retention leaves it alone");
    const std::string config = dir.path() + "/c.yaml";

    SECTION("max_files") {
        write_file(config, config_for(test_data("ftp-ipv4.pcap"), dir.path() + "/out", "max",
                                      "  rotate: {bytes: 0, seconds: 0, packets: 10}\n"
                                      "  retention: {max_files: 4, min_free_percent: 0}\n"));
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        const std::vector<std::string> left = pcap_files(tap);
        CHECK(left.size() == 4);
        // The newest four of this run are left: the earlier run's files went first.
        const std::vector<std::string> published = published_files(tap);
        for (size_t i = published.size() - 4; i < published.size(); ++i)
            CHECK(std::filesystem::exists(published[i]));
        for (const std::string& name : left) CHECK(name.find("earlier") == std::string::npos);
        const Json stats = final_stats(tap);
        // The earlier run's files had no index lines; the start added them ("recovered"), so
        // the index lists those five and this run's files.
        CHECK(stats.u64("retention.deleted_files") == published.size() - 4);
        CHECK(std::filesystem::exists(tap + "/notes.txt"));
        CHECK(run.output.find("retention: deleted") != std::string::npos);
    }
    SECTION("max_bytes") {
        write_file(config, config_for(test_data("ftp-ipv4.pcap"), dir.path() + "/out", "max",
                                      "  rotate: {bytes: 0, seconds: 0, packets: 10}\n"
                                      "  retention: {max_bytes: 5KiB, min_free_percent: 0}\n"));
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        uint64_t total = 0;
        for (const std::string& name : pcap_files(tap)) {
            total += std::filesystem::file_size(tap + "/" + name);
            CHECK(name.find("earlier") == std::string::npos);
        }
        CHECK(total <= 5 * 1024);
        CHECK(total > 0);
        // The last file published is always kept.
        CHECK(std::filesystem::exists(published_files(tap).back()));
    }
}

TEST_CASE("retention during a run keeps the files holding the newest packets, and never names "
          "two files alike, when every file starts in the same second", "[fast][ids_feed]") {
    TempDir dir;
    // 1.8 MB of traffic within 2 ms, in 64 KiB files: one stem for all of them, told apart only
    // by the clash suffix, and closed a few to a tick of the kernel's clock, so many share an
    // mtime. Each retention pass frees names that a first-free naming would give again.
    const Capture input =
        cycled("ipv4-fragments-nfs.pcap", 25 * 53, 1'600'000'000'000'000'000ull, 1'000);
    const std::string capture = dir.path() + "/one-second.pcap";
    write_capture(capture, input);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, dir.path() + "/out", "max",
                                  "  rotate: {bytes: 64KiB, seconds: 0}\n"
                                  "  retention: {max_files: 2, min_free_percent: 0}\n"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";

    // Index order is publication order: w-20200913-122640, then -1, -2, ... with no name twice.
    const std::string stem = "w-20200913-122640";
    const std::vector<std::string> indexed = published_files(tap);
    REQUIRE(indexed.size() > 10);  // past -9 and -10, where text and number order part
    for (size_t i = 0; i < indexed.size(); ++i)
        CHECK(indexed[i] == tap + "/" + stem + (i == 0 ? "" : "-" + std::to_string(i)) + ".pcap");

    // The two files left hold the last packets sent, whatever their names.
    std::vector<Capture> left;
    for (const std::string& name : pcap_files(tap)) left.push_back(read_capture(tap + "/" + name));
    REQUIRE(left.size() == 2);
    std::sort(left.begin(), left.end(), [](const Capture& x, const Capture& y) {
        return x.packets.front().ts_ns < y.packets.front().ts_ns;
    });
    std::vector<Packet> kept;
    for (const Capture& c : left) kept.insert(kept.end(), c.packets.begin(), c.packets.end());
    REQUIRE(kept.size() < input.packets.size());
    CHECK(std::equal(kept.begin(), kept.end(), input.packets.end() - ptrdiff_t(kept.size())));
}

TEST_CASE("on_rotate: run for each published file without a shell; failures logged with their "
          "exit status; a hanging hook stalls nothing", "[slow][ids_feed]") {
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    const std::string log = dir.path() + "/hook.log";
    SECTION("each file, {path} replaced, exit status logged") {
        write_file(config, config_for(test_data("ftp-ipv4.pcap"), dir.path() + "/out", "max",
                                      "  rotate: {bytes: 0, seconds: 0, packets: 20}\n"
                                      "  on_rotate: [\"/bin/sh\", \"-c\", \"echo \\\"$1\\\" >> " + log +
                                      "; exit 3\", \"hook\", \"{path}\"]\n"
                                      "  on_rotate_max: 1\n"));
        const RunResult run = run_taprec({"--config", config});
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        std::vector<std::string> ran = read_lines(log);
        std::vector<std::string> published = published_files(dir.path() + "/out/w");
        std::sort(ran.begin(), ran.end());
        std::sort(published.begin(), published.end());
        CHECK(ran == published);
        CHECK(run.output.find("exited with status 3") != std::string::npos);
        const Json stats = final_stats(dir.path() + "/out/w");
        CHECK(stats.u64("hooks.started") == published.size());
        CHECK(stats.u64("hooks.failed") == published.size());
    }
    SECTION("a hook that hangs is killed after the timeout; the writer never waits") {
        write_file(config, config_for(test_data("ftp-ipv4.pcap"), dir.path() + "/out", "max",
                                      "  rotate: {bytes: 0, seconds: 0, packets: 40}\n"
                                      "  on_rotate: [\"/bin/sleep\", \"100\"]\n"
                                      "  on_rotate_max: 2\n"
                                      "  on_rotate_timeout: 1s\n"));
        const auto started = std::chrono::steady_clock::now();
        const RunResult run = run_taprec({"--config", config}, {}, 30);
        const auto took = std::chrono::steady_clock::now() - started;
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        CHECK(took < 8s);
        const Json stats = final_stats(dir.path() + "/out/w");
        CHECK(stats.u64("files") == 3);
        CHECK(stats.u64("hooks.timed_out") == 3);
        CHECK(run.output.find("still runs after 1 s") != std::string::npos);
        CHECK(invariant_holds(stats, "a"));
    }
}

TEST_CASE("a timestamp far in the future is clamped, counted and logged once; names and order "
          "stay sane", "[fast][ids_feed]") {
    TempDir dir;
    Capture c = read_capture(test_data("ftp-ipv4.pcap"));
    c = retimed(c, 1'600'000'000'000'000'000ull, 1'000'000);
    c.packets[10].ts_ns = 4'102'444'800'000'000'000ull;  // 2100-01-01
    c.packets[50].ts_ns = 4'102'444'800'000'000'000ull;
    const std::string capture = dir.path() + "/future.pcap";
    write_capture(capture, c);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, dir.path() + "/out", "max",
                                  "  rotate: {bytes: 0, seconds: 0, packets: 0}\n"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";
    const std::vector<std::string> files = published_files(tap);
    REQUIRE(files.size() == 1);
    CHECK(files[0].find("w-2100") == std::string::npos);
    const std::vector<Packet> out = published_packets(tap);
    REQUIRE(out.size() == c.packets.size());
    CHECK(out[10].ts_ns == out[9].ts_ns);  // the newest sane stamp
    CHECK(out[50].ts_ns == out[49].ts_ns);
    for (size_t i = 1; i < out.size(); ++i) CHECK(out[i].ts_ns >= out[i - 1].ts_ns);
    const Json stats = final_stats(tap);
    CHECK(stats.u64("ports.a.clamped") == 2);
    CHECK(stats.u64("stages.writer.clamped") == 2);
    size_t logged = 0;
    for (size_t at = 0; (at = run.output.find("ahead of the clock", at)) != std::string::npos; ++at)
        ++logged;
    CHECK(logged == 1);
}

TEST_CASE("kill -9 while writing, then restart: every published file valid, the leftover "
          "repaired and published, nothing left behind silently", "[slow][ids_feed]") {
    TempDir dir;
    // Full-size frames at about 40 MB/s for 3 s: blocks reach the disk before the kill.
    const Capture big = cycled("vlan-http-session.pcap", 90000, 1'600'000'000'000'000'000ull, 33'000);
    const std::string capture = dir.path() + "/big.pcap";
    write_capture(capture, big);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, dir.path() + "/out", "realtime",
                                  "  rotate: {bytes: 64MiB, seconds: 0}\n"));
    const std::string tap = dir.path() + "/out/w";
    const RunResult killed = run_taprec({"--config", config}, [&](pid_t pid) {
        std::this_thread::sleep_for(1500ms);
        kill(pid, SIGKILL);
    });
    INFO(killed.output);
    REQUIRE(killed.exit_code == -1);
    const std::vector<std::string> leftovers = list_dir(tap + "/.partial");
    REQUIRE(leftovers.size() == 1);
    const size_t published_before = pcap_files(tap).size();

    // The restart replays a small capture; the leftover must be dealt with first.
    write_file(config, config_for(test_data("icmp-echo.pcap"), dir.path() + "/out", "max", ""));
    const RunResult restarted = run_taprec({"--config", config});
    INFO(restarted.output);
    REQUIRE(restarted.exit_code == 0);
    CHECK(list_dir(tap + "/.partial").empty());
    CHECK(restarted.output.find("leftover " + tap + "/.partial/" + leftovers[0]) != std::string::npos);
    const std::vector<std::string> files = published_files(tap);
    CHECK(files.size() == published_before + 2);  // the repaired one and this run's
    for (const std::string& f : files) {
        const Capture c = read_capture(f);
        CHECK(c.error.empty());
        CHECK(!c.packets.empty());
    }
    const Json repaired = parse_json(read_lines(tap + "/.meta/index.jsonl").at(published_before));
    CHECK(repaired.at("repaired").boolean);
    // What was on disk is a prefix of what was sent: nothing reordered, nothing invented.
    const std::vector<Packet> kept = read_capture(files[published_before]).packets;
    CHECK(kept.size() == repaired.u64("packets"));
    CHECK(std::equal(kept.begin(), kept.end(), big.packets.begin()));
}

TEST_CASE("a reader watching the folder while the daemon rotates every second under load never "
          "opens an incomplete file (O_DIRECT and sync: close on)", "[slow][ids_feed]") {
    TempDir dir;
    const Capture load = cycled("vlan-http-session.pcap", 60000, 1'600'000'000'000'000'000ull, 50'000);
    const std::string capture = dir.path() + "/load.pcap";
    write_capture(capture, load);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, dir.path() + "/out", "realtime",
                                  "  rotate: {bytes: 0, seconds: 1}\n"
                                  "  sync: close\n"
                                  "  direct_io: true\n"));
    const std::string tap = dir.path() + "/out/w";
    std::atomic<bool> done{false};
    std::atomic<int> bad{0}, opened{0};
    std::thread reader([&] {
        std::set<std::string> seen;
        while (!done) {
            for (const std::string& name : pcap_files(tap)) {
                if (!seen.insert(name).second) continue;
                const Capture c = read_capture(tap + "/" + name);
                ++opened;
                if (!c.error.empty() || c.packets.empty()) ++bad;
            }
            std::this_thread::sleep_for(2ms);
        }
    });
    const RunResult run = run_taprec({"--config", config}, {}, 30);
    done = true;
    reader.join();
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(bad == 0);
    CHECK(opened >= 2);
    CHECK(published_files(tap).size() >= 3);
    const Json stats = final_stats(tap);
    CHECK(invariant_holds(stats, "a"));
    CHECK(stats.u64("ports.a.written") + stats.u64("ports.a.dropped_ring") == load.packets.size());
    const std::vector<Packet> out = published_packets(tap);
    CHECK(out.size() == stats.u64("ports.a.written"));
}

TEST_CASE("a full disk (2 MiB tmpfs): drops counted, no crash, no corrupt file, capture resumes "
          "when space is freed", "[.root][slow][ids_feed]") {
    REQUIRE(::geteuid() == 0);  // run by meson through tests/support/precondition root
    TempDir dir;
    const std::string out = dir.path() + "/out";
    std::filesystem::create_directories(out);
    INFO("mount tmpfs on " << out << ": " << std::strerror(errno));
    REQUIRE(::mount("tmpfs", out.c_str(), "tmpfs", 0, "size=2m") == 0);
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{out};

    // 4.5 MB in the first 0.9 s into 2 MiB: the disk is full within half a second. Then 1.2 MB
    // over 1.6 s, which fits once the files are removed at 1.5 s.
    Capture load = cycled("vlan-http-session.pcap", 3800, 1'600'000'000'000'000'000ull, 300'000);
    for (size_t i = 3000; i < load.packets.size(); ++i)
        load.packets[i].ts_ns = load.packets[2999].ts_ns + 100'000'000 + (i - 3000) * 2'000'000;
    const std::string capture = dir.path() + "/load.pcap";
    write_capture(capture, load);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(capture, out, "realtime",
                                  "  rotate: {bytes: 256KiB, seconds: 0}\n"
                                  "  retention: {min_free_percent: 0}\n"));
    const std::string tap = out + "/w";
    uint64_t dropped_when_freed = 0;
    const RunResult run = run_taprec({"--config", config}, [&](pid_t) {
        std::this_thread::sleep_for(1500ms);
        // The IDS catches up and removes what it has read: space returns.
        for (const std::string& name : pcap_files(tap)) std::filesystem::remove(tap + "/" + name);
        const std::vector<std::string> lines = read_lines(tap + "/.meta/stats.jsonl");
        if (!lines.empty()) dropped_when_freed = parse_json(lines.back()).u64("ports.a.dropped_writer");
    });
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const Json stats = final_stats(tap);
    CHECK(invariant_holds(stats, "a"));
    CHECK(dropped_when_freed > 0);
    CHECK(stats.u64("ports.a.dropped_writer") > 0);
    CHECK(stats.u64("stages.writer.write_errors") > 0);
    CHECK(run.output.find("No space left on device") != std::string::npos);
    CHECK(run.output.find("writes succeed again") != std::string::npos);
    CHECK(run.output.find("No space left on device") < run.output.find("writes succeed again"));
    // Files published after the space came back are valid and hold the last packets sent.
    const std::vector<std::string> left = pcap_files(tap);
    REQUIRE(!left.empty());
    std::vector<Packet> after;
    for (const std::string& name : left) {
        const Capture c = read_capture(tap + "/" + name);
        CHECK(c.error.empty());
        after.insert(after.end(), c.packets.begin(), c.packets.end());
    }
    REQUIRE(!after.empty());
    CHECK(std::find(after.begin(), after.end(), load.packets.back()) != after.end());
    CHECK(list_dir(tap + "/.partial").empty());
}

TEST_CASE("the janitor sleeps until a file is published, then runs its hook at once",
          "[fast][ids_feed]") {
    TempDir dir;
    taprec::OutputDirectory out(dir.path() + "/out", "w", "{tap}-%Y%m%d-%H%M%S");
    taprec::OutputConfig output;
    output.on_rotate = {"/bin/sh", "-c", "touch \"$1.hooked\"", "hook", "{path}"};
    taprec::Janitor janitor(out, output);
    janitor.start();
    std::this_thread::sleep_for(200ms);  // past its first pass: asleep until the next one, 1 s on
    const std::string published = out.tap_dir() + "/w-1.pcap";
    write_file(published, "");
    const auto at = std::chrono::steady_clock::now();
    janitor.file_published(published);
    while (!std::filesystem::exists(published + ".hooked") &&
           std::chrono::steady_clock::now() - at < 5s)
        std::this_thread::sleep_for(5ms);
    const auto took = std::chrono::steady_clock::now() - at;
    janitor.finish();
    janitor.join();
    REQUIRE(std::filesystem::exists(published + ".hooked"));
    // Woken by the publish, not by the next retention pass (taprec::Janitor::retention_period_ns).
    CHECK(took < 500ms);
}

TEST_CASE("on_rotate: a file gone before its hook starts is skipped and counted",
          "[fast][ids_feed]") {
    TempDir dir;
    taprec::Notices notices;
    taprec::HookRunner hooks({"/bin/true", "{path}"}, 1, 0, notices);
    hooks.enqueue(dir.path() + "/deleted-by-retention.pcap");
    hooks.poll(1);
    CHECK(hooks.counters().skipped.get() == 1);
    CHECK(hooks.counters().started.get() == 0);
    const std::vector<taprec::Notice> lines = notices.take();
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0].text, "1 files were deleted (retention) before their hook"));
}

namespace {

// Each line of the hook log names a file whose hook ran to its end.
std::set<std::string> hooked(const std::string& log) {
    const std::vector<std::string> lines = read_lines(log);
    return {lines.begin(), lines.end()};
}

bool wait_until(const std::function<bool()>& condition, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

}  // namespace

TEST_CASE("on_rotate at least once: hooks unfinished at a SIGTERM are recorded and run at the "
          "next start; files deleted meanwhile are skipped", "[slow][ids_feed]") {
    TempDir dir;
    const std::string tap = dir.path() + "/out/w";
    const std::string log = dir.path() + "/hook.log";
    const std::string hook = "  on_rotate: [\"/bin/sh\", \"-c\", \"sleep 1; echo \\\"$1\\\" >> " +
                             log + "\", \"hook\", \"{path}\"]\n  on_rotate_max: 1\n";
    // 4 frames a file, 100 ms apart at the recorded pace: a file every 0.4 s, a hook takes 1 s.
    write_capture(dir.path() + "/in.pcap",
                  cycled("ftp-ipv4.pcap", 300, 1'700'000'000'000'000'000ull, 100'000'000));
    write_file(dir.path() + "/c.yaml",
               config_for(dir.path() + "/in.pcap", dir.path() + "/out", "realtime",
                          "  rotate: {bytes: 0, seconds: 0, packets: 4}\n" + hook));
    const auto index_lines = [&] { return read_lines(tap + "/.meta/index.jsonl").size(); };

    const RunResult first = run_taprec({"--config", dir.path() + "/c.yaml"}, [&](pid_t pid) {
        wait_until([&] { return index_lines() >= 16; }, 60s);
        ::kill(pid, SIGTERM);
    });
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    const std::vector<std::string> first_files = published_files(tap);
    REQUIRE(first_files.size() >= 16);
    const std::vector<std::string> recorded = read_lines(tap + "/.meta/hooks-pending");
    // 16 hooks of 1 s, one at a time, cannot all finish in the run and its 5 s stop grace.
    REQUIRE(recorded.size() >= 2);
    CHECK(contains(first.output, "recorded in .meta/hooks-pending"));
    // Retention (here: the test) deletes one of them before the next start.
    const std::string deleted = tap + "/" + recorded.back();
    REQUIRE(std::filesystem::remove(deleted));

    // The restart records a day later (names of its own: none takes the deleted file's name),
    // runs the recorded hooks first, and is stopped once they have all run.
    write_capture(dir.path() + "/in.pcap",
                  cycled("ftp-ipv4.pcap", 300, 1'700'086'400'000'000'000ull, 100'000'000));
    const auto all_first_hooked = [&] {
        const std::set<std::string> done = hooked(log);
        return std::all_of(first_files.begin(), first_files.end(), [&](const std::string& f) {
            return f == deleted || done.count(f) != 0;
        });
    };
    const RunResult second = run_taprec({"--config", dir.path() + "/c.yaml"}, [&](pid_t pid) {
        wait_until(all_first_hooked, 60s);
        ::kill(pid, SIGTERM);
    });
    INFO(second.output);
    REQUIRE(second.exit_code == 0);
    CHECK(all_first_hooked());
    CHECK(hooked(log).count(deleted) == 0);
    CHECK(contains(second.output, "get it now"));
    CHECK(contains(second.output, "1 files were deleted (retention) before their hook could start"));
    // Every file of both runs has had its hook, or is recorded for the next start.
    const std::vector<std::string> pending = read_lines(tap + "/.meta/hooks-pending");
    const std::set<std::string> done = hooked(log);
    for (const std::string& f : published_files(tap)) {
        if (f == deleted) continue;
        INFO(f);
        CHECK((done.count(f) != 0 ||
               std::find(pending.begin(), pending.end(), taprec::file_name(f)) != pending.end()));
    }
    // Hooks the stops left running end within their second; let them, the folder goes next.
    std::this_thread::sleep_for(1500ms);
}

TEST_CASE("a hook still running when the daemon exits does not hold the daemon's output open",
          "[slow][ids_feed]") {
    TempDir dir;
    const std::string pid_file = dir.path() + "/hook.pid";
    write_file(dir.path() + "/c.yaml",
               config_for(test_data("ftp-ipv4.pcap"), dir.path() + "/out", "max",
                          "  rotate: {bytes: 0, seconds: 0, packets: 50}\n"
                          "  on_rotate: [\"/bin/sh\", \"-c\", \"echo $$ > " + pid_file +
                          "; exec sleep 120\"]\n  on_rotate_max: 1\n"));
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    std::vector<std::string> args = {taprec_binary(), "--config", dir.path() + "/c.yaml"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
    pid_t daemon = 0;
    const int rc = posix_spawn(&daemon, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    REQUIRE(rc == 0);
    // Whatever happens below, the daemon and the hook it left do not outlive the test.
    struct Reaper {
        pid_t daemon;
        std::string pid_file;
        ~Reaper() {
            if (::kill(daemon, 0) == 0) ::kill(daemon, SIGKILL);
            ::waitpid(daemon, nullptr, 0);
            const std::string text = read_file(pid_file);
            if (!text.empty()) ::kill(pid_t(std::stol(text)), SIGKILL);
        }
    } reaper{daemon, pid_file};

    // Read the daemon's output until the pipe closes (or 60 s pass: the old failure, the hook
    // holding it for its 120 s).
    std::string output;
    bool closed = false;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!closed && std::chrono::steady_clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[4096];
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n > 0) output.append(buf, size_t(n));
        else closed = true;
    }
    ::close(out[0]);
    INFO(output);
    REQUIRE(closed);
    int status = 0;
    REQUIRE(::waitpid(daemon, &status, 0) == daemon);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    // The hook is still running: the pipe closed with the daemon, not with the hook.
    const std::string hook_pid = read_file(pid_file);
    REQUIRE(!hook_pid.empty());
    CHECK(::kill(pid_t(std::stol(hook_pid)), 0) == 0);
    CHECK(contains(output, "still running, left to finish"));
}
