// `taprec query` and `taprec index`: for the captures of tests/data recorded into many files,
// the output of a query is what tcpdump gives over every published file in order with the same
// filter, clipped to the same time range (same packets, order, bytes and nanoseconds; bounds
// inclusive), whether the files have their index, none, a damaged one or a rebuilt one; the
// index never hides a packet a filter matches; errors exit 2 and say what is wrong.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "daemon_run.hpp"
#include "pipeline/packet_headers.hpp"
#include "index/block_summary.hpp"
#include "index/index_file.hpp"
#include "query/filter_index.hpp"

using namespace test_support;
namespace bi = taprec::block_index;

namespace {

const char* const captures[] = {
    "ftp-ipv4.pcap",          "ftp-ipv6.pcap",          "vlan-http-session.pcap",
    "icmp-echo.pcap",         "ipv4-fragments-nfs.pcap", "ipv6-fragmented-dns.pcap",
    "tcp-snaplen96.pcap",     "usec-be-pptp.pcap",       "nsec-le-tcp-handshake.pcap",
    "nsec-be-http-loopback.pcap", "loopback-oversized-frames.pcap", "ftp-ipv4-nsec.pcap",
    "bigtcp-ipv4-80KB-frame.pcap",
};

std::string text_address(const taprec::PacketHeaders& h, bool source) {
    char text[64];
    const auto a = (source ? h.src_addr : h.dst_addr).bytes();
    if (h.network == taprec::PacketHeaders::Network::ipv4) inet_ntop(AF_INET, a.data(), text, sizeof text);
    else inet_ntop(AF_INET6, a.data(), text, sizeof text);
    return text;
}

// Filters that stress the index, with addresses and ports taken from the capture itself.
std::vector<std::string> filters_for(const Capture& c) {
    std::vector<std::string> f = {"",          "ip6",       "vlan",        "tcp[13] & 2 != 0",
                                  "udp",       "icmp or icmp6", "arp",     "portrange 20-30",
                                  "tcp portrange 1024-65535", "vlan and tcp", "ip proto 17",
                                  "host 10.255.255.1", "port 1 or 2 or 3"};
    std::set<std::string> hosts;
    std::set<uint16_t> ports;
    for (size_t i : {size_t(0), c.packets.size() / 2, c.packets.size() - 1}) {
        if (i >= c.packets.size()) continue;
        const Packet& p = c.packets[i];
        const taprec::PacketHeaders h = taprec::parse_headers(
            {reinterpret_cast<const std::byte*>(p.bytes.data()), p.bytes.size()}, c.link_type);
        if (h.network == taprec::PacketHeaders::Network::none) continue;
        hosts.insert(text_address(h, true));
        hosts.insert(text_address(h, false));
        if (h.has_ports) ports.insert(h.src_port);
    }
    for (const std::string& host : hosts) {
        f.push_back("src host " + host);
        f.push_back("not host " + host);
        f.push_back("dst " + host + " and tcp");
        f.push_back("vlan and host " + host);
    }
    for (uint16_t port : ports) {
        f.push_back("port " + std::to_string(port));
        f.push_back("udp port " + std::to_string(port) + " or tcp dst port " + std::to_string(port));
        f.push_back("portrange " + std::to_string(port) + "-" + std::to_string(port + 2));
    }
    return f;
}

int run(const std::vector<std::string>& argv) {
    std::string command;
    for (const std::string& a : argv) {
        command += " '";
        for (char ch : a) command += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
        command += "'";
    }
    const int status = std::system((command + " >/dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// tcpdump over every published file in order, the packets in [from, to].
std::vector<Packet> tcpdump_over(const std::string& tap_dir, const std::string& filter,
                                 const std::string& scratch, uint64_t from, uint64_t to) {
    std::vector<Packet> packets;
    for (const std::string& file : published_files(tap_dir)) {
        const std::string out = scratch + "/tcpdump.pcap";
        REQUIRE(run({"tcpdump", "--time-stamp-precision=nano", "-r", file, "-w", out, filter}) == 0);
        for (Packet& p : read_capture(out).packets)
            if (p.ts_ns >= from && p.ts_ns <= to) packets.push_back(std::move(p));
    }
    return packets;
}

std::vector<Packet> query(const std::string& dir, const std::string& filter,
                          const std::string& scratch, const std::vector<std::string>& extra = {},
                          std::string* said = nullptr) {
    std::vector<std::string> args = {"query", "--dir", dir, "-w", scratch + "/query.pcap"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (!filter.empty()) args.push_back(filter);
    const RunResult r = run_taprec(args);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    if (said != nullptr) *said = r.output;
    const Capture c = read_capture(scratch + "/query.pcap");
    REQUIRE(c.error == "");
    return c.packets;
}

// Records `name` into files of `packets_per_file` packets; returns the tap folder.
std::string record(const TempDir& dir, const std::string& name, int packets_per_file,
                   const std::string& format = "pcap-ns") {
    const std::string out = dir.path() + "/out";
    write_file(dir.path() + "/c.yaml",
               file_port_config(test_data(name), out, "max",
                                "  format: " + format + "\n  snaplen: 262144\n  rotate: {packets: " +
                                    std::to_string(packets_per_file) + "}\n"));
    const RunResult r = run_taprec({"--config", dir.path() + "/c.yaml"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return out + "/w";
}

bi::IndexContents one_packet_index(const Packet& p, int link_type) {
    bi::BlockSummary s;
    s.add_record(p.ts_ns, 24, 16 + p.caplen);
    bi::add_frame_keys({reinterpret_cast<const std::byte*>(p.bytes.data()), p.bytes.size()},
                       uint32_t(link_type), s);
    s.fold();
    bi::IndexContents index;
    index.found = true;
    bi::IndexedBlock b;
    b.offset = s.offset;
    b.end = s.end;
    b.first_ns = b.min_ns = b.max_ns = p.ts_ns;
    b.packets = 1;
    b.flags = s.flags;
    b.protocols = s.protocols;
    b.bloom_bits = s.bloom_bits;
    index.bloom_words.assign(s.bloom.begin(), s.bloom.begin() + s.bloom_bits / 64);
    index.blocks.push_back(b);
    return index;
}

}  // namespace

TEST_CASE("the index never hides a packet the filter matches", "[fast][query]") {
    size_t checked = 0, skipped = 0;
    for (const char* name : captures) {
        INFO(name);
        const Capture c = read_capture(test_data(name));
        int dlt = c.link_type;
        pcap_t* dead = pcap_open_dead(dlt, 262144);
        for (const std::string& filter : filters_for(c)) {
            INFO(filter);
            bpf_program program{};
            if (pcap_compile(dead, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) continue;
            const taprec::FilterIndex fi = taprec::FilterIndex::analyze(filter);
            if (!filter.empty()) CHECK(fi.narrows());
            for (const Packet& p : c.packets) {
                pcap_pkthdr h{};
                h.caplen = p.caplen;
                h.len = p.wire_len;
                const bi::IndexContents index = one_packet_index(p, c.link_type);
                const bool may = fi.may_match(index, index.blocks[0]);
                if (pcap_offline_filter(&program, &h, p.bytes.data()) != 0) {
                    CHECK(may);
                    ++checked;
                } else if (!may) {
                    ++skipped;
                }
            }
            pcap_freecode(&program);
        }
        pcap_close(dead);
    }
    CHECK(checked > 4000);
    CHECK(skipped > 5000);  // and it does skip what cannot match
}

TEST_CASE("filters outside what the index reads skip no block", "[fast][query]") {
    for (const char* filter : {"mpls and host 10.0.0.1", "pppoes and port 80", "host localhost",
                               "udp port domain", "(tcp[13] & 2) != 0 and host 1.2.3.4",
                               "geneve and host 1.2.3.4"})
        CHECK(!taprec::FilterIndex::analyze(filter).narrows());
    // `vlan` moves every later primitive one tag in: only a leading vlan keeps them usable.
    bi::IndexContents index;
    index.found = true;
    index.blocks.resize(1);
    index.blocks[0].bloom_bits = 256;
    index.blocks[0].flags = bi::has_ipv4;  // no VLAN, no keys
    index.bloom_words.assign(4, 0);
    CHECK(!taprec::FilterIndex::analyze("vlan and host 1.2.3.4").may_match(index, index.blocks[0]));
    CHECK(!taprec::FilterIndex::analyze("host 1.2.3.4").may_match(index, index.blocks[0]));
    CHECK(taprec::FilterIndex::analyze("vlan or host 1.2.3.4").may_match(index, index.blocks[0]));
    CHECK(taprec::FilterIndex::analyze("not host 1.2.3.4").may_match(index, index.blocks[0]));
    CHECK(!taprec::FilterIndex::analyze("host 1.2.3.4 or port 80").may_match(index, index.blocks[0]));
}

TEST_CASE("query equals tcpdump over every published file, clipped to the time range",
          "[fast][query]") {
    for (const char* name : captures) {
        INFO(name);
        TempDir dir;
        const Capture input = read_capture(test_data(name));
        const int per_file = std::max<int>(2, int(input.packets.size() / 6));
        const std::string tap = record(dir, name, per_file);
        REQUIRE(published_files(tap).size() >= std::min<size_t>(2, input.packets.size()));
        const std::vector<Packet> all = published_packets(tap);
        REQUIRE(all.size() == input.packets.size());
        // Bounds at exact packet times: both ends inclusive.
        const uint64_t from = all[all.size() / 3].ts_ns, to = all[2 * all.size() / 3].ts_ns;
        char from_text[40], to_text[40];
        std::snprintf(from_text, sizeof from_text, "%llu.%09llu",
                      (unsigned long long)(from / 1'000'000'000u), (unsigned long long)(from % 1'000'000'000u));
        std::snprintf(to_text, sizeof to_text, "%llu.%09llu",
                      (unsigned long long)(to / 1'000'000'000u), (unsigned long long)(to % 1'000'000'000u));
        for (const std::string& filter : filters_for(input)) {
            INFO(filter);
            if (run({"tcpdump", "-d", "-r", test_data(name), filter}) != 0) continue;  // not for this link type
            const std::vector<Packet> expected = tcpdump_over(tap, filter, dir.path(), 0, UINT64_MAX);
            CHECK(query(dir.path() + "/out", filter, dir.path()) == expected);
            std::vector<Packet> clipped;
            for (const Packet& p : expected)
                if (p.ts_ns >= from && p.ts_ns <= to) clipped.push_back(p);
            CHECK(query(dir.path() + "/out", filter, dir.path(), {"--from", from_text, "--to", to_text}) ==
                  clipped);
        }
    }
}

TEST_CASE("files without an index, with a damaged one, and rebuilt ones give the same answer",
          "[fast][query]") {
    TempDir dir;
    const std::string tap = record(dir, "vlan-http-session.pcap", 10, "pcap");
    const std::string filter = "vlan and host 192.168.28.253 and tcp[13] & 2 != 0";
    const std::vector<Packet> expected = tcpdump_over(tap, filter, dir.path(), 0, UINT64_MAX);
    REQUIRE(!expected.empty());
    std::string said;
    CHECK(query(tap, filter, dir.path(), {}, &said) == expected);
    CHECK(!contains(said, "full read"));

    const std::vector<std::string> files = published_files(tap);
    const std::string first = files.front(), second = files[1], third = files[2];
    std::filesystem::remove(bi::published_index_path(first));
    {   // a flipped byte in the middle of an entry
        const std::string path = bi::published_index_path(second);
        std::string bytes = read_file(path);
        bytes[bytes.size() / 2] ^= 0x5a;
        write_file(path, bytes);
    }
    std::filesystem::resize_file(bi::published_index_path(third), 16);  // only its header
    CHECK(query(tap, filter, dir.path(), {}, &said) == expected);
    CHECK(contains(said, first + ": full read: no index"));
    CHECK(contains(said, second + ": full read: index damaged"));
    CHECK(contains(said, third + ": index up to byte 24, the rest in full"));

    const RunResult rebuilt = run_taprec({"index", first, second, third});
    INFO(rebuilt.output);
    REQUIRE(rebuilt.exit_code == 0);
    CHECK(query(tap, filter, dir.path(), {}, &said) == expected);
    CHECK(!contains(said, "full read"));
    CHECK(!contains(said, "the rest in full"));

    // An index made for another file of that name (its records elsewhere): not trusted.
    std::filesystem::copy_file(bi::published_index_path(files.back()), bi::published_index_path(first),
                               std::filesystem::copy_options::overwrite_existing);
    CHECK(query(tap, filter, dir.path(), {}, &said) == expected);
    CHECK(contains(said, first + ": full read: index does not match the file"));
}

TEST_CASE("query: zero matches, --list, and what is wrong exits 2", "[fast][query]") {
    TempDir dir;
    const std::string tap = record(dir, "ftp-ipv4.pcap", 20);
    CHECK(query(tap, "host 10.255.255.1", dir.path()).empty());
    RunResult r = run_taprec({"query", "--dir", tap, "--list", "host 10.255.255.1"});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "total: 0 files to read, 0 blocks"));
    r = run_taprec({"query", "--dir", tap, "--list"});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "total: " + std::to_string(published_files(tap).size()) + " files to read"));

    r = run_taprec({"query", "--dir", tap, "-w", dir.path() + "/x.pcap", "tcp", "garbage", "here"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.output, "bad filter 'tcp garbage here'"));
    r = run_taprec({"query", "--dir", tap, "-w", dir.path() + "/x.pcap", "--from", "2021-07-25T14:57:01.1234567891Z"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.output, "--from:"));
    r = run_taprec({"query", "--dir", tap, "-w", dir.path() + "/x.pcap", "--to", "-10x"});
    CHECK(r.exit_code == 2);
    r = run_taprec({"query", "--dir", tap, "-w", dir.path() + "/x.pcap", "--from", "-1m", "--to", "-2m"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.output, "--from is after --to"));
    r = run_taprec({"query", "--dir", dir.path() + "/nowhere", "-w", dir.path() + "/x.pcap"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.output, "no such folder"));
    r = run_taprec({"query", "--dir", dir.path() + "/out", "--tap", "other", "-w", dir.path() + "/x.pcap"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.output, "--tap other"));
    r = run_taprec({"index", tap + "/.meta/index.jsonl"});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.output, "not a classic pcap file"));

    // RFC 3339 with nanoseconds and an offset selects the same as Unix seconds.
    const std::vector<Packet> all = published_packets(tap);
    const uint64_t t = all[5].ts_ns;
    char unix_text[40];
    std::snprintf(unix_text, sizeof unix_text, "%llu.%09llu", (unsigned long long)(t / 1'000'000'000u),
                  (unsigned long long)(t % 1'000'000'000u));
    time_t seconds = time_t(t / 1'000'000'000u) + 3600;  // shown at +01:00
    tm local{};
    gmtime_r(&seconds, &local);
    char rfc[64];
    std::strftime(rfc, sizeof rfc, "%Y-%m-%dT%H:%M:%S", &local);
    const std::string rfc_text = std::string(rfc) + "." + std::string(unix_text).substr(std::string(unix_text).find('.') + 1) + "+01:00";
    const std::vector<Packet> one = query(tap, "", dir.path(), {"--from", rfc_text, "--to", unix_text});
    REQUIRE(one.size() >= 1);
    for (const Packet& p : one) CHECK(p.ts_ns == t);
}

namespace {

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// taprec with `args`, its stdout on a pipe the caller reads; stderr to `stderr_path`.
pid_t spawn_taprec(const std::vector<std::string>& args, int& stdout_fd, const std::string& stderr_path) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(fds[1], 1);
        const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(err, 2);
        ::close(fds[0]);
        std::vector<char*> argv;
        const std::string bin = taprec_binary();
        argv.push_back(const_cast<char*>(bin.c_str()));
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(bin.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    stdout_fd = fds[0];
    return pid;
}

std::string wchan(pid_t pid) {
    std::string text = read_file("/proc/" + std::to_string(pid) + "/wchan");
    return text;
}

}  // namespace

TEST_CASE("query over an earlier run and a file repaired after a crash", "[fast][query]") {
    TempDir dir;
    const std::string tap = record(dir, "ftp-ipv4.pcap", 20);
    // A crash while the last file was being written: it is back in .partial with its index, cut
    // inside a record, and index.jsonl never got its line.
    std::vector<std::string> files = published_files(tap);
    const std::string last = files.back();
    const std::string name = last.substr(last.rfind('/') + 1);
    std::filesystem::rename(last, tap + "/.partial/" + name);
    std::filesystem::rename(bi::published_index_path(last), tap + "/.meta/" + bi::writing_index_name(name));
    {
        FILE* f = std::fopen((tap + "/.partial/" + name).c_str(), "a");
        std::fwrite("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 1, 10, f);  // half a record header
        std::fclose(f);
    }
    std::vector<std::string> lines = read_lines(tap + "/.meta/index.jsonl");
    lines.pop_back();
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    write_file(tap + "/.meta/index.jsonl", text);

    // The next run (another capture) repairs it at start.
    write_file(dir.path() + "/c2.yaml", file_port_config(test_data("ftp-ipv6.pcap"), dir.path() + "/out",
                                                         "max", "  rotate: {packets: 30}\n"));
    const RunResult second = run_taprec({"--config", dir.path() + "/c2.yaml"});
    INFO(second.output);
    REQUIRE(second.exit_code == 0);
    REQUIRE(contains(second.output, "leftover"));
    files = published_files(tap);
    REQUIRE(std::find(files.begin(), files.end(), last) != files.end());
    for (const std::string& left : list_dir(tap + "/.partial")) CHECK(left == "");
    for (const std::string& meta : list_dir(tap + "/.meta")) CHECK(!meta.ends_with(".partial"));
    for (const std::string filter : {"", "tcp port 21", "ip6", "host 192.168.0.1"}) {
        INFO(filter);
        std::string said;
        CHECK(query(tap, filter, dir.path(), {}, &said) == tcpdump_over(tap, filter, dir.path(), 0, UINT64_MAX));
        CHECK(!contains(said, "full read"));  // the repaired file kept its index
    }
}

TEST_CASE("files deleted while a query runs are reported, not a crash", "[fast][query]") {
    TempDir dir;
    const std::string capture = dir.path() + "/big.pcap";
    {
        const Capture input = read_capture(test_data("loopback-oversized-frames.pcap"));
        Capture big = input;
        big.packets.clear();
        for (int copy = 0; copy < 12; ++copy)
            for (const Packet& p : input.packets) big.packets.push_back(p);
        write_capture(capture, retimed(big, 1'700'000'000'000'000'000ull, 1000));
    }
    const std::string out = dir.path() + "/out";
    write_file(dir.path() + "/c.yaml", file_port_config(capture, out, "max",
                                                        "  snaplen: 262144\n  rotate: {bytes: 256KiB}\n"));
    REQUIRE(run_taprec({"--config", dir.path() + "/c.yaml"}).exit_code == 0);
    const std::vector<std::string> files = published_files(out + "/w");
    REQUIRE(files.size() >= 8);
    int from_query = -1;
    const pid_t pid = spawn_taprec({"query", "--dir", out, "-w", "-"}, from_query, dir.path() + "/err");
    // Wait until it is blocked writing its first MiB into the pipe nobody reads yet: it has
    // planned every file and read the first few.
    const uint64_t give_up = monotonic_ns() + 30'000'000'000ull;
    while (!contains(wchan(pid), "pipe_write") && monotonic_ns() < give_up) ::usleep(10'000);
    CHECK(contains(wchan(pid), "pipe_write"));
    for (size_t i = files.size() / 2; i < files.size(); ++i) std::filesystem::remove(files[i]);
    std::string got;
    char buffer[65536];
    for (ssize_t n; (n = ::read(from_query, buffer, sizeof buffer)) > 0;) got.append(buffer, size_t(n));
    ::close(from_query);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const std::string said = read_file(dir.path() + "/err");
    INFO(said);
    CHECK(contains(said, files.back() + ": deleted while the query ran"));
    write_file(dir.path() + "/got.pcap", got);
    const Capture c = read_capture(dir.path() + "/got.pcap");
    CHECK(c.error == "");
    // What it gave is every packet of the files still there when it reached them, in order.
    std::vector<Packet> before;
    for (size_t i = 0; i < files.size() / 2; ++i)
        for (const Packet& p : read_capture(files[i]).packets) before.push_back(p);
    REQUIRE(c.packets.size() >= before.size());
    CHECK(std::vector<Packet>(c.packets.begin(), c.packets.begin() + long(before.size())) == before);
}

TEST_CASE("packets are queryable within 2 s of arrival, from the file still being written",
          "[slow][query]") {
    TempDir dir;
    const Capture input = read_capture(test_data("ftp-ipv4.pcap"));
    constexpr uint64_t spacing_ns = 100'000'000;
    Capture paced = retimed(input, 1'700'000'000'000'000'000ull, spacing_ns);
    paced.packets.resize(std::min<size_t>(paced.packets.size(), 70));
    write_capture(dir.path() + "/paced.pcap", paced);
    const std::string out = dir.path() + "/out";
    write_file(dir.path() + "/c.yaml", file_port_config(dir.path() + "/paced.pcap", out, "realtime",
                                                        "  rotate: {seconds: 0, bytes: 0}\n"));
    int daemon_out = -1;
    const pid_t daemon = spawn_taprec({"--config", dir.path() + "/c.yaml"}, daemon_out, dir.path() + "/daemon.err");
    struct Stop {
        pid_t pid;
        ~Stop() {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    } stop{daemon};
    // t0: when the first packet is seen, which is after it arrived; packet i arrived at most
    // t0 + i * spacing, so every packet with t0 + i * spacing + 2 s <= now must be there.
    uint64_t t0 = 0;
    size_t rounds = 0, max_seen = 0, checked_partial = 0;
    const uint64_t give_up = monotonic_ns() + 60'000'000'000ull;
    while (monotonic_ns() < give_up) {
        const uint64_t asked = monotonic_ns();
        const RunResult r = run_taprec({"query", "--dir", out, "-w", dir.path() + "/fresh.pcap"});
        if (r.exit_code == 2) {  // the tap folder is not there yet
            ::usleep(50'000);
            continue;
        }
        REQUIRE(r.exit_code == 0);
        const Capture c = read_capture(dir.path() + "/fresh.pcap");
        REQUIRE(c.error == "");  // never a torn record
        REQUIRE(c.packets.size() <= paced.packets.size());
        for (size_t i = 0; i < c.packets.size(); ++i) REQUIRE(c.packets[i] == paced.packets[i]);
        if (t0 == 0 && !c.packets.empty()) t0 = asked;
        if (t0 != 0) {
            const uint64_t due = asked > t0 + 2'000'000'000ull ? (asked - t0 - 2'000'000'000ull) / spacing_ns + 1 : 0;
            CHECK(c.packets.size() >= std::min<uint64_t>(due, paced.packets.size()));
        }
        max_seen = c.packets.size();
        if (!list_dir(out + "/w").empty() && published_files(out + "/w").empty() && !c.packets.empty())
            ++checked_partial;
        ++rounds;
        if (max_seen == paced.packets.size()) break;
        ::usleep(100'000);
    }
    CHECK(max_seen == paced.packets.size());
    CHECK(checked_partial >= 5);  // most answers came from the file still in .partial
    CHECK(rounds >= 10);
}
