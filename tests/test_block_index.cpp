// The block index written while recording (index/): every published file has one in .meta/,
// whose entries cover the file record by record with the right times and counts, and hold every
// address, port and protocol of their records; the frame walker marks what it cannot read.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "daemon_run.hpp"
#include "pipeline/packet_headers.hpp"
#include "index/block_summary.hpp"
#include "index/index_file.hpp"

using namespace test_support;
namespace bi = taprec::block_index;

namespace {

struct Record {
    uint64_t offset = 0;
    uint64_t ts_ns = 0;
    std::vector<std::byte> frame;
};

// The records of a pcap file taprec wrote (host byte order), with their offsets.
std::vector<Record> records_of(const std::string& path, bool& nanoseconds, uint32_t& link_type) {
    const std::string bytes = read_file(path);
    REQUIRE(bytes.size() >= 24);
    uint32_t magic;
    std::memcpy(&magic, bytes.data(), 4);
    nanoseconds = magic == 0xa1b23c4d;
    std::memcpy(&link_type, bytes.data() + 20, 4);
    std::vector<Record> records;
    for (size_t at = 24; at + 16 <= bytes.size();) {
        uint32_t h[4];
        std::memcpy(h, bytes.data() + at, 16);
        REQUIRE(at + 16 + h[2] <= bytes.size());
        Record r;
        r.offset = at;
        r.ts_ns = uint64_t(h[0]) * 1'000'000'000u + (nanoseconds ? h[1] : uint64_t(h[1]) * 1000);
        const auto* data = reinterpret_cast<const std::byte*>(bytes.data() + at + 16);
        r.frame.assign(data, data + h[2]);
        records.push_back(std::move(r));
        at += 16 + h[2];
    }
    return records;
}

// A capture repeated one copy after the other in time to about 6 MB: files of several blocks.
std::string repeated_capture(const TempDir& dir, const std::string& name) {
    const Capture input = read_capture(test_data(name));
    const int copies = int(6'000'000 / std::filesystem::file_size(test_data(name))) + 1;
    Capture out = input;
    out.packets.clear();
    uint64_t t = 1'700'000'000'000'000'000ull;
    for (int i = 0; i < copies; ++i)
        for (const Packet& p : input.packets) {
            out.packets.push_back(p);
            out.packets.back().ts_ns = t;
            t += 1000 + (p.ts_ns % 7);  // distinct nanoseconds, in order
        }
    const std::string path = dir.path() + "/" + name + ".repeated.pcap";
    write_capture(path, out);
    return path;
}

// Everything an independent parser (pipeline/packet_headers) finds in a frame is in its block.
void require_keys_held(const bi::IndexContents& index, const bi::IndexedBlock& block,
                       const Record& r, uint32_t link_type) {
    const taprec::PacketHeaders h = taprec::parse_headers(r.frame, int(link_type));
    if (block.flags & bi::must_read) return;
    if (h.network == taprec::PacketHeaders::Network::ipv4) {
        CHECK((block.flags & bi::has_ipv4) != 0);
        CHECK(index.may_hold(block, bi::ipv4_key(h.src_addr.bytes().data())));
        CHECK(index.may_hold(block, bi::ipv4_key(h.dst_addr.bytes().data())));
    } else if (h.network == taprec::PacketHeaders::Network::ipv6) {
        CHECK((block.flags & bi::has_ipv6) != 0);
        CHECK(index.may_hold(block, bi::ipv6_key(h.src_addr.bytes().data())));
        CHECK(index.may_hold(block, bi::ipv6_key(h.dst_addr.bytes().data())));
    }
    if (h.network != taprec::PacketHeaders::Network::none) CHECK(block.has_protocol(h.protocol));
    if (h.has_ports) {
        CHECK(index.may_hold(block, bi::port_key(h.src_port)));
        CHECK(index.may_hold(block, bi::port_key(h.dst_port)));
    }
}

// Checks the index of every published file of `tap_dir`; returns the number of blocks.
size_t check_indexes(const std::string& tap_dir) {
    size_t blocks = 0;
    for (const std::string& file : published_files(tap_dir)) {
        const std::string& path = file;
        INFO(path);
        const bi::IndexContents index = bi::read_index(bi::published_index_path(path));
        REQUIRE(index.found);
        REQUIRE(index.damage == "");
        bool ns = false;
        uint32_t link_type = 0;
        const std::vector<Record> records = records_of(path, ns, link_type);
        REQUIRE(!index.blocks.empty());
        struct stat st{};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK(index.covered_end() == uint64_t(st.st_size));
        size_t next = 0;
        for (const bi::IndexedBlock& block : index.blocks) {
            REQUIRE(next < records.size());
            CHECK(records[next].offset == block.offset);
            CHECK(records[next].ts_ns == block.first_ns);
            uint64_t min = UINT64_MAX, max = 0;
            uint32_t n = 0;
            for (; next < records.size() && records[next].offset < block.end; ++next, ++n) {
                min = std::min(min, records[next].ts_ns);
                max = std::max(max, records[next].ts_ns);
                require_keys_held(index, block, records[next], link_type);
            }
            CHECK(n == block.packets);
            CHECK(min == block.min_ns);
            CHECK(max == block.max_ns);
            CHECK(block.bloom_bits >= bi::min_bloom_bits);
            CHECK(block.bloom_bits <= bi::max_bloom_bits);
        }
        CHECK(next == records.size());
        blocks += index.blocks.size();
    }
    return blocks;
}

}  // namespace

TEST_CASE("every published file has a block index that covers it record by record",
          "[fast][index]") {
    for (const char* name : {"ftp-ipv4.pcap", "vlan-http-session.pcap", "ftp-ipv6.pcap",
                             "ipv6-fragmented-dns.pcap", "loopback-oversized-frames.pcap",
                             "usec-be-pptp.pcap"}) {
        INFO(name);
        TempDir dir;
        const std::string capture = repeated_capture(dir, name);
        const std::string out = dir.path() + "/out";
        // direct_io: blocks written on the write thread, the index following two in flight
        for (const auto& [format, direct] : {std::pair{"pcap-ns", false}, std::pair{"pcap", false},
                                             std::pair{"pcap-ns", true}}) {
            INFO(format << (direct ? " direct_io" : ""));
            std::filesystem::remove_all(out);
            write_file(dir.path() + "/c.yaml",
                       file_port_config(capture, out, "max",
                                        "  format: " + std::string(format) +
                                            "\n  rotate: {bytes: 3MiB}\n  direct_io: " +
                                            (direct ? "true" : "false") + "\n"));
            const RunResult run = run_taprec({"--config", dir.path() + "/c.yaml"});
            REQUIRE(run.exit_code == 0);
            // 3 MiB files of 1 MiB blocks: several blocks a file.
            CHECK(check_indexes(out + "/w") >= 3 * published_files(out + "/w").size() - 1);
            for (const std::string& left : list_dir(out + "/w/.partial")) CHECK(left == "");
            for (const std::string& meta : list_dir(out + "/w/.meta")) CHECK(!meta.ends_with(".partial"));
        }
    }
}

// DIR/c.yaml: `capture` replayed into one file (no rotation), with or without direct_io; with
// `capture_b`, port b replays it beside port a.
static std::string one_file_config(const TempDir& dir, const std::string& capture,
                                   const std::string& speed, bool direct,
                                   const std::string& capture_b = "") {
    std::string config = file_port_config(capture, dir.path() + "/out", speed,
                                          std::string("  rotate: {bytes: 0, seconds: 0}\n  direct_io: ") +
                                              (direct ? "true" : "false") + "\n");
    if (!capture_b.empty()) {
        const size_t after_a = config.find('\n', config.find("    a: ")) + 1;
        config.insert(after_a, "    b: {driver: pcap, file: \"" + capture_b + "\", speed: " + speed + "}\n");
    }
    const std::string path = dir.path() + "/c.yaml";
    write_file(path, config);
    return path;
}

// A run whose writes failed `failures` times (0: at least once): every packet counted once, the
// file's records what index.jsonl and `written` say, and its index covering exactly them.
// Returns the index's blocks.
static size_t check_failed_writes_accounted(const TempDir& dir, const RunResult& run,
                                            uint64_t failures) {
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap = dir.path() + "/out/w";
    const Json stats = final_stats(tap);
    if (failures == 0) CHECK(stats.u64("stages.writer.write_errors") > 0);
    else CHECK(stats.u64("stages.writer.write_errors") == failures);
    CHECK(stats.u64("ports.a.dropped_writer") > 0);
    CHECK(invariant_holds(stats, "a"));
    if (stats.has("ports.b.written")) CHECK(invariant_holds(stats, "b"));
    const std::vector<std::string> files = published_files(tap);
    REQUIRE(files.size() == 1);
    // index.jsonl counts the records the file kept, per port too, not those lost with a block.
    const Json line = parse_json(read_lines(tap + "/.meta/index.jsonl").at(0));
    const size_t kept = read_capture(files[0]).packets.size();
    CHECK(line.u64("packets") == kept);
    uint64_t per_port = 0;
    for (const char* port : {"a", "b"}) {
        if (!stats.has(std::string("ports.") + port + ".written")) continue;
        INFO("port " << port);
        CHECK(line.u64(std::string("ports.") + port + ".packets") ==
              stats.u64(std::string("ports.") + port + ".written"));
        per_port += line.u64(std::string("ports.") + port + ".packets");
    }
    CHECK(per_port == kept);
    // No entry for a lost record, none missing for a kept one.
    return check_indexes(tap);
}

// The daemon on `config` with tests/support/write_fault_shim preloaded: its `slow`th big write
// waits `slow_ms`, its `fail`th fails with ENOSPC.
static RunResult run_with_write_fault(const std::string& config, int slow, int slow_ms, int fail) {
    const char* shim = std::getenv("TAPREC_WRITE_FAULT_SHIM");
    REQUIRE(shim != nullptr);  // set by meson (tests/meson.build)
    const char* preload = std::getenv("LD_PRELOAD");
    ScopedEnv env;
    env.set("LD_PRELOAD", std::string(shim) + (preload != nullptr ? std::string(":") + preload : ""));
    env.set("TAPREC_TEST_SLOW_WRITE", std::to_string(slow));
    env.set("TAPREC_TEST_SLOW_MS", std::to_string(slow_ms));
    env.set("TAPREC_TEST_FAIL_WRITE", std::to_string(fail));
    // Under AddressSanitizer its runtime must come first; the shim comes first here.
    const char* asan = std::getenv("ASAN_OPTIONS");
    env.set("ASAN_OPTIONS", std::string(asan != nullptr ? asan : "") + ":verify_asan_link_order=0");
    const RunResult run = run_taprec({"--config", config});
    CHECK(contains(run.output, "No space left on device"));
    return run;
}

TEST_CASE("writes that fail (a file size limit) leave an index that covers exactly the records "
          "the file kept", "[fast][index]") {
    TempDir dir;
    // ~6 MB a port; with port b, the records lost with a block are counted per port too.
    const bool two_ports = GENERATE(false, true);
    INFO((two_ports ? "ports a and b" : "port a"));
    const std::string capture = repeated_capture(dir, "vlan-http-session.pcap");
    const std::string config = one_file_config(dir, capture, "max", false, two_ports ? capture : "");
    // Every write past 2.5 MiB fails: the third block's is cut short, and the file goes back to
    // the end of the second; later writes fail again and again.
    const RunResult run = [&] {
        const FileSizeLimit limit((uint64_t{5} << 20) / 2);
        return run_taprec({"--config", config});
    }();
    CHECK(check_failed_writes_accounted(dir, run, 0) >= 2);
}

TEST_CASE("O_DIRECT: a block write that fails with blocks queued leaves an index that covers "
          "exactly the records the file kept", "[.o_direct][index]") {
    TempDir dir;
    SECTION("found together with the written block before it, at close") {
        // 2.5 MiB at full speed: two blocks queued when the input ends. The first write takes
        // 0.3 s, the second fails the moment it ends; the close finds both at once.
        const Capture input = read_capture(test_data("vlan-http-session.pcap"));
        Capture burst = input;
        burst.packets.clear();
        uint64_t t = 1'700'000'000'000'000'000ull;
        for (uint64_t bytes = 0; bytes < (uint64_t{5} << 20) / 2;) {
            burst.packets.push_back(input.packets[burst.packets.size() % input.packets.size()]);
            burst.packets.back().ts_ns = t;
            bytes += 16 + burst.packets.back().caplen;
            t += 1000;
        }
        const std::string capture = dir.path() + "/burst.pcap";
        write_capture(capture, burst);
        const RunResult run = run_with_write_fault(one_file_config(dir, capture, "max", true), 1, 300, 2);
        // The file keeps the first block's whole records; its index entry must not go with the
        // failed block's.
        CHECK(check_failed_writes_accounted(dir, run, 1) == 1);
    }
    SECTION("found when the queue is full, with the record split over the blocks lost") {
        // ~6 MB at full speed: the second block's write takes a second and fails; meanwhile the
        // third is queued, and the fourth, full, waits for the second.
        const std::string config =
            one_file_config(dir, repeated_capture(dir, "vlan-http-session.pcap"), "max", true);
        const RunResult run = run_with_write_fault(config, 2, 1000, 2);
        CHECK(check_failed_writes_accounted(dir, run, 1) >= 2);  // the first block, then the rest
    }
}

TEST_CASE("output.index: false writes no block index", "[fast][index]") {
    TempDir dir;
    const std::string out = dir.path() + "/out";
    write_file(dir.path() + "/c.yaml", file_port_config(test_data("ftp-ipv4.pcap"), out, "max",
                                                        "  index: false\n"));
    REQUIRE(run_taprec({"--config", dir.path() + "/c.yaml"}).exit_code == 0);
    REQUIRE(published_files(out + "/w").size() == 1);
    for (const std::string& name : list_dir(out + "/w/.meta")) CHECK(!name.ends_with(".idx"));
}

TEST_CASE("the frame walker keeps what libpcap could read and marks what it cannot",
          "[fast][index]") {
    auto frame = [](std::initializer_list<int> bytes) {
        std::vector<std::byte> f;
        for (int b : bytes) f.push_back(std::byte(b));
        return f;
    };
    // Ethernet, two VLAN tags, IPv4 TCP 10.0.0.1:1234 -> 10.0.0.2:80
    std::vector<std::byte> f = frame({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x88, 0xa8, 0, 10,
                                      0x81, 0x00, 0, 20, 0x08, 0x00,
                                      0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1,
                                      10, 0, 0, 2, 0x04, 0xd2, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0,
                                      0x50, 0x02, 0, 0, 0, 0, 0, 0});
    bi::BlockSummary s;
    bi::add_frame_keys(f, 1, s);
    const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2}, c[4] = {10, 0, 0, 3};
    CHECK(s.flags == (bi::has_vlan | bi::has_ipv4));
    CHECK(s.may_hold(bi::ipv4_key(a)));
    CHECK(s.may_hold(bi::ipv4_key(b)));
    CHECK(!s.may_hold(bi::ipv4_key(c)));
    CHECK(s.may_hold(bi::port_key(1234)));
    CHECK(s.may_hold(bi::port_key(80)));
    CHECK(!s.may_hold(bi::port_key(81)));
    CHECK(s.has_protocol(6));
    CHECK(!s.has_protocol(17));
    s.fold();
    CHECK(s.bloom_bits == bi::min_bloom_bits);  // four keys: folded all the way
    CHECK(s.may_hold(bi::ipv4_key(a)));
    CHECK(s.may_hold(bi::port_key(80)));

    // Cut inside the TCP ports: must be read.
    bi::BlockSummary cut;
    bi::add_frame_keys(std::span(f).first(f.size() - 20 - 18), 1, cut);
    CHECK((cut.flags & bi::must_read) != 0);

    // IPv6 with a hop-by-hop header before UDP: both next-header values are kept, and the ports.
    std::vector<std::byte> v6 = frame({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x86, 0xdd,
                                       0x60, 0, 0, 0, 0, 16, 0, 64});
    for (int i = 0; i < 32; ++i) v6.push_back(std::byte(i));
    for (int x : {17, 0, 0, 0, 0, 0, 0, 0, 0, 53, 0x30, 0x39, 0, 8, 0, 0}) v6.push_back(std::byte(x));
    bi::BlockSummary s6;
    bi::add_frame_keys(v6, 1, s6);
    CHECK(s6.flags == bi::has_ipv6);
    CHECK(s6.has_protocol(0));
    CHECK(s6.has_protocol(17));
    CHECK(s6.may_hold(bi::port_key(53)));
    CHECK(s6.may_hold(bi::port_key(12345)));

    // ARP: libpcap's `host` reads its sender and target addresses.
    std::vector<std::byte> arp = frame({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x06,
                                        0, 1, 8, 0, 6, 4, 0, 1, 1, 2, 3, 4, 5, 6, 10, 0, 0, 1,
                                        0, 0, 0, 0, 0, 0, 10, 0, 0, 3});
    bi::BlockSummary sa;
    bi::add_frame_keys(arp, 1, sa);
    CHECK(sa.flags == bi::has_arp);
    CHECK(sa.may_hold(bi::ipv4_key(a)));
    CHECK(sa.may_hold(bi::ipv4_key(c)));

    // A link type the walker does not know: every block with it must be read.
    bi::BlockSummary unknown;
    bi::add_frame_keys(f, 147, unknown);
    CHECK((unknown.flags & bi::must_read) != 0);
}

TEST_CASE("the inline path for common frames adds what the general walker adds", "[fast][index]") {
    // add_frame_keys() reads Ethernet + IPv4 (IHL 5) at fixed offsets; add_other_frame_keys()
    // walks every frame the general way. Each real Ethernet frame, and variants of it around the
    // fast path's edges (cut short, another IHL or version, fragments, other protocols), must
    // leave the same summary either way, alone and in blocks of frames of many flows.
    size_t frames = 0, common = 0;
    for (const char* name : {"ftp-ipv4.pcap", "tcp-echo-494conns.pcap", "ipv4-fragments-nfs.pcap",
                             "vlan-http-session.pcap", "icmp-echo.pcap", "ftp-ipv6.pcap",
                             "tcp-snaplen96.pcap", "usec-be-pptp.pcap"}) {
        INFO(name);
        const Capture c = read_capture(test_data(name));
        if (c.link_type != 1) continue;
        bi::BlockSummary fast_block, general_block;
        for (const Packet& p : c.packets) {
            const auto* bytes = reinterpret_cast<const std::byte*>(p.bytes.data());
            const std::vector<std::byte> f(bytes, bytes + p.bytes.size());
            std::vector<std::vector<std::byte>> variants{f};
            const bool ipv4 = f.size() > 34 && f[12] == std::byte{8} && f[13] == std::byte{0};
            if (ipv4) {
                for (size_t cut : {33, 34, 37, 38}) variants.emplace_back(f.begin(), f.begin() + std::min(cut, f.size()));
                for (int first : {0x46, 0x55, 0x44}) {
                    variants.push_back(f);
                    variants.back()[14] = std::byte(first);
                }
                for (int fragment : {0x20, 0x01}) {  // more fragments; an offset
                    variants.push_back(f);
                    variants.back()[20] |= std::byte(fragment);
                }
                for (int protocol : {1, 6, 17, 132, 50}) {
                    variants.push_back(f);
                    variants.back()[23] = std::byte(protocol);
                }
            }
            for (const auto& v : variants) {
                bi::BlockSummary fast, general;
                bi::add_frame_keys(v, 1, fast);
                bi::add_other_frame_keys(v, 1, general);
                bi::add_frame_keys(v, 1, fast_block);
                bi::add_other_frame_keys(v, 1, general_block);
                REQUIRE(fast.flags == general.flags);
                REQUIRE(fast.protocols == general.protocols);
                REQUIRE(fast.bloom == general.bloom);
                ++frames;
                common += v.size() >= 38 && v[14] == std::byte{0x45} && ipv4;
            }
        }
        CHECK(fast_block.flags == general_block.flags);
        CHECK(fast_block.protocols == general_block.protocols);
        CHECK(fast_block.bloom == general_block.bloom);
    }
    CHECK(frames > 10000);
    CHECK(common > frames / 4);  // the fast path was taken, not only the fallback
}
