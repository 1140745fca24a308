// The zero-copy reader of classic pcap files (drivers/pcap_file_map) against libpcap, the reader
// it stands in for: the same records, lengths and nanosecond stamps for every capture of tests/data
// in both byte orders and both precisions; libpcap's words and the byte offset for a damaged
// record; and the port built on it (open_pcap_source) ending the way the daemon reports.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon_run.hpp"
#include "drivers/pcap_file_map.hpp"
#include "drivers/pcap_source.hpp"

using namespace test_support;
using taprec::PcapRecord;
using taprec::PcapRecordReader;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A classic pcap file written field by field, in either byte order.
class ClassicFile {
public:
    ClassicFile(bool big_endian, bool nanoseconds, uint32_t snaplen = 65535, uint32_t linktype = 1,
                uint16_t version_minor = 4)
        : big_endian_(big_endian) {
        put32(nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4);
        put16(2);
        put16(version_minor);
        put32(0);  // thiszone
        put32(0);  // sigfigs
        put32(snaplen);
        put32(linktype);
    }

    // A record whose header says caplen and len; `present` bytes of its data follow (all of them
    // unless told), filled with `fill`.
    ClassicFile& record(uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t len,
                        size_t present = SIZE_MAX, char fill = 'p') {
        put32(sec);
        put32(frac);
        put32(caplen);
        put32(len);
        bytes_.append(std::min<size_t>(present, caplen), fill);
        return *this;
    }
    ClassicFile& packet(const Packet& p, bool nanoseconds) {
        const uint32_t frac = uint32_t(p.ts_ns % 1'000'000'000u);
        record(uint32_t(p.ts_ns / 1'000'000'000u), nanoseconds ? frac : frac / 1000, p.caplen,
               p.wire_len, 0);
        bytes_.append(reinterpret_cast<const char*>(p.bytes.data()), p.bytes.size());
        return *this;
    }
    ClassicFile& raw(const std::string& bytes) {
        bytes_ += bytes;
        return *this;
    }
    const std::string& bytes() const { return bytes_; }

private:
    void put(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) {
            const int shift = big_endian_ ? 8 * (n - 1 - i) : 8 * i;
            bytes_.push_back(char((v >> shift) & 0xff));
        }
    }
    void put32(uint32_t v) { put(v, 4); }
    void put16(uint16_t v) { put(v, 2); }

    bool big_endian_;
    std::string bytes_;
};

// The capture rewritten in the byte order and precision asked for (same link type and snaplen).
std::string rewritten(const Capture& c, bool big_endian, bool nanoseconds) {
    ClassicFile f(big_endian, nanoseconds, c.snaplen, uint32_t(c.link_type));
    for (const Packet& p : c.packets) f.packet(p, nanoseconds);
    return f.bytes();
}

struct Walk {
    std::vector<Packet> packets;
    std::string damage;
    uint64_t offset = 0;  // where the walk stopped
};

// A copy of a record the reader or the port handed out, to compare with libpcap's.
Packet copy_of(const std::byte* bytes, uint64_t ts_ns, uint32_t caplen, uint32_t wire_len) {
    Packet p;
    p.ts_ns = ts_ns;
    p.caplen = caplen;
    p.wire_len = wire_len;
    const auto* data = reinterpret_cast<const unsigned char*>(bytes);
    p.bytes.assign(data, data + caplen);
    return p;
}

Walk walk(PcapRecordReader& reader) {
    Walk w;
    PcapRecord r;
    PcapRecordReader::Step step;
    while ((step = reader.next(r)) == PcapRecordReader::Step::record)
        w.packets.push_back(copy_of(r.data, r.ts_ns, r.caplen, r.len));
    if (step == PcapRecordReader::Step::damaged) w.damage = reader.damage();
    CHECK(reader.next(r) == step);  // the end, or the damage, stays
    w.offset = reader.offset();
    return w;
}

// Index of the first packet that differs, or the shorter length.
size_t first_difference(const std::vector<Packet>& a, const std::vector<Packet>& b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return i;
}

void check_same_packets(const std::vector<Packet>& got, const std::vector<Packet>& expected) {
    CHECK(got.size() == expected.size());
    const size_t i = first_difference(got, expected);
    if (i < got.size() && i < expected.size()) {
        INFO("first difference at packet " << i << ": ts " << got[i].ts_ns << " vs "
             << expected[i].ts_ns << ", caplen " << got[i].caplen << " vs " << expected[i].caplen
             << ", len " << got[i].wire_len << " vs " << expected[i].wire_len);
        CHECK(got[i] == expected[i]);
    }
}

// The file at `path` read by PcapRecordReader is what libpcap reads of it, damage included.
void check_reads_as_libpcap(const std::string& path) {
    const Capture expected = read_capture(path);
    const std::string bytes = read_file(path);
    std::optional<PcapRecordReader> reader = PcapRecordReader::open(as_bytes(bytes));
    REQUIRE(reader);
    CHECK(reader->header().snapshot() == expected.snaplen);
    CHECK(int(reader->header().linktype) == expected.link_type);  // the types here map to themselves
    const Walk w = walk(*reader);
    check_same_packets(w.packets, expected.packets);
    CHECK(w.damage == expected.error);
}

struct Drained {
    std::vector<Packet> packets;  // bytes only when asked for
    size_t count = 0;
    size_t in_place = 0;  // packets handed out without a buffer of their own (in the mapping)
    std::string error;
};

std::unique_ptr<taprec::PacketSource> open_file(const std::string& path,
                                                taprec::ReplaySpeed speed = taprec::ReplaySpeed::max) {
    taprec::PortConfig port;
    port.driver = taprec::DriverKind::pcap;
    port.file = path;
    port.speed = speed;
    return taprec::open_pcap_source(port, taprec::PcapSourceOptions{});
}

// Everything the port delivers until it ends, released burst by burst as the writer would.
Drained drain(const std::string& path, bool keep_bytes = true) {
    std::unique_ptr<taprec::PacketSource> source = open_file(path);
    Drained d;
    std::array<taprec::PacketRef, 32> burst;
    for (int idle = 0; !source->at_end() && idle < 1000;) {
        const size_t n = source->rx_burst(0, burst);
        for (size_t i = 0; i < n; ++i) {
            const taprec::PacketRef& ref = burst[i];
            if (ref.buffer == nullptr) ++d.in_place;
            ++d.count;
            if (keep_bytes) d.packets.push_back(copy_of(ref.data, ref.ts_ns, ref.caplen, ref.wire_len));
        }
        source->release(std::span(burst.data(), n));
        idle = n == 0 ? idle + 1 : 0;
    }
    REQUIRE(source->at_end());
    d.error = source->error();
    return d;
}

// What the port makes of libpcap's packets: a wire length never below the captured length.
std::vector<Packet> as_delivered(std::vector<Packet> packets) {
    for (Packet& p : packets) p.wire_len = std::max(p.wire_len, p.caplen);
    return packets;
}

std::string unreadable(const std::string& path, uint64_t offset, size_t good,
                       const std::string& reason) {
    return "pcap file " + path + ": unreadable record at byte offset " + std::to_string(offset) +
           ", after " + std::to_string(good) + " good packets: " + reason +
           "; the packets before it were captured, the rest of the file is skipped";
}

std::vector<std::string> classic_captures() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(test_data("")))
        if (entry.path().extension() == ".pcap") names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("every capture of tests/data reads as libpcap reads it", "[fast][pcap_file_map]") {
    const std::vector<std::string> names = classic_captures();
    REQUIRE(names.size() >= 14);
    for (const std::string& name : names) {
        INFO(name);
        check_reads_as_libpcap(test_data(name));
    }
}

TEST_CASE("both byte orders and both precisions read as libpcap reads them",
          "[fast][pcap_file_map]") {
    TempDir dir;
    for (const std::string& name : classic_captures()) {
        const Capture original = read_capture(test_data(name));
        if (!original.error.empty()) continue;  // the damaged one: see the damage cases
        for (const bool big_endian : {false, true}) {
            for (const bool nanoseconds : {false, true}) {
                INFO(name << (big_endian ? ", big-endian" : ", little-endian")
                          << (nanoseconds ? ", ns" : ", us"));
                const std::string path = dir.path() + "/variant.pcap";
                write_file(path, rewritten(original, big_endian, nanoseconds));
                // Linux cooked captures in the other byte order are left to libpcap, which
                // rewrites their CAN headers; the port reads them through it.
                const bool swapped = big_endian != (std::endian::native == std::endian::big);
                const bool left_to_libpcap = swapped && original.link_type == DLT_LINUX_SLL;
                if (left_to_libpcap) {
                    CHECK_FALSE(PcapRecordReader::open(as_bytes(read_file(path))));
                } else {
                    check_reads_as_libpcap(path);
                }
                // And against the original: the same packets, stamps cut to microseconds.
                std::vector<Packet> expected = original.packets;
                if (!nanoseconds)
                    for (Packet& p : expected) p.ts_ns = p.ts_ns / 1000 * 1000;
                const Drained d = drain(path);
                check_same_packets(d.packets, as_delivered(expected));
                CHECK(d.error.empty());
                CHECK(d.in_place == (left_to_libpcap ? 0 : d.count));
            }
        }
    }
}

TEST_CASE("the port hands out classic pcap files in place and copies pcapng through libpcap",
          "[fast][pcap_file_map]") {
    for (const std::string name : {"ftp-ipv4.pcap", "ftp-ipv4-nsec.pcap", "usec-be-pptp.pcap",
                                   "nsec-be-http-loopback.pcap", "ftp-ipv4.pcapng"}) {
        INFO(name);
        const Capture expected = read_capture(test_data(name));
        const Drained d = drain(test_data(name));
        check_same_packets(d.packets, as_delivered(expected.packets));
        CHECK(d.error.empty());
        const bool pcapng = name.ends_with(".pcapng");
        CHECK(d.in_place == (pcapng ? 0 : d.count));
        CHECK(open_file(test_data(name))->link_type() == expected.link_type);
    }
}

TEST_CASE("a record cut short at the end of the file: the packets before it, then its offset and "
          "libpcap's reason", "[fast][pcap_file_map]") {
    TempDir dir;
    const std::string whole = read_file(test_data("ftp-ipv4.pcap"));
    const Capture capture = read_capture(test_data("ftp-ipv4.pcap"));
    REQUIRE(capture.packets.size() == 95);
    uint64_t last = 24;  // where the last record starts
    for (size_t i = 0; i + 1 < capture.packets.size(); ++i) last += 16 + capture.packets[i].caplen;
    const uint32_t last_caplen = capture.packets.back().caplen;
    const std::vector<Packet> before(capture.packets.begin(), capture.packets.end() - 1);

    struct Cut {
        const char* what;
        size_t size;
        std::string reason;
    };
    for (const Cut& cut : {
             Cut{"in its data", size_t(last) + 16 + 5,
                 "truncated dump file; tried to read " + std::to_string(last_caplen) +
                     " captured bytes, only got 5"},
             Cut{"in its header", size_t(last) + 7,
                 "truncated dump file; tried to read 16 header bytes, only got 7"},
         }) {
        INFO(cut.what);
        const std::string path = dir.path() + "/cut.pcap";
        write_file(path, whole.substr(0, cut.size));
        check_reads_as_libpcap(path);
        CHECK(read_capture(path).error == cut.reason);
        const Drained d = drain(path);
        check_same_packets(d.packets, as_delivered(before));
        CHECK(d.error == unreadable(path, last, 94, cut.reason));
    }
}

TEST_CASE("a header-only file ends at once, with no packet and no error", "[fast][pcap_file_map]") {
    TempDir dir;
    for (const bool big_endian : {false, true}) {
        const std::string path = dir.path() + "/empty.pcap";
        write_file(path, ClassicFile(big_endian, big_endian).bytes());
        check_reads_as_libpcap(path);
        const Drained d = drain(path);
        CHECK(d.count == 0);
        CHECK(d.error.empty());
    }
}

TEST_CASE("a file too short for a header or with a wrong magic is refused at open",
          "[fast][pcap_file_map]") {
    TempDir dir;
    const std::string header = ClassicFile(false, false).bytes();
    const std::string path = dir.path() + "/bad.pcap";
    for (const std::string& content :
         {std::string(), header.substr(0, 10), header.substr(0, 23), std::string(64, 'x'),
          "\xa1\xb2\xcd\x34" + header.substr(4)}) {  // Kuznetzov's magic: libpcap's, not ours
        INFO(content.size() << " bytes");
        CHECK_FALSE(taprec::parse_pcap_file_header(as_bytes(content)));
        CHECK_FALSE(PcapRecordReader::open(as_bytes(content)));
        write_file(path, content);
        char err[PCAP_ERRBUF_SIZE] = {};
        pcap_t* p = pcap_open_offline(path.c_str(), err);
        if (p != nullptr) {  // libpcap takes the Kuznetzov file: so does the port, through it
            pcap_close(p);
            CHECK(drain(path).in_place == 0);
            continue;
        }
        try {
            open_file(path);
            FAIL("opened");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()) ==
                  "pcap file " + path + ": " + err + "; give a readable pcap or pcapng file");
        }
    }
}

TEST_CASE("damaged and unusual records: libpcap's checks, libpcap's words, libpcap's stamps",
          "[fast][pcap_file_map]") {
    TempDir dir;
    const bool big_endian = GENERATE(false, true);
    const bool ns = GENERATE(false, true);
    INFO((big_endian ? "big-endian" : "little-endian") << (ns ? ", ns" : ", us"));
    const uint32_t second = ns ? 999'999'999 : 999'999;
    struct Case {
        const char* what;
        std::string file;
        size_t packets;
        bool damaged;
    };
    const std::vector<Case> cases = {
        {"caplen over the 262144 limit, snaplen 0 (read as the limit)",
         ClassicFile(big_endian, ns, 0).record(1, 0, 10, 10).record(1, 1, 262145, 262145, 0).bytes(),
         1, true},
        {"caplen over the limit, snaplen above it",
         ClassicFile(big_endian, ns, 300000).record(1, 0, 262145, 262145, 0).bytes(), 0, true},
        {"caplen over the limit and over the snaplen",
         ClassicFile(big_endian, ns, 100).record(1, 0, 300000, 300000, 0).bytes(), 0, true},
        {"a record of exactly the limit",
         ClassicFile(big_endian, ns, 262144).record(1, 0, 262144, 300000).bytes(), 1, false},
        {"caplen over the snaplen: cut to it, the rest skipped",
         ClassicFile(big_endian, ns, 100).record(1, 0, 200, 200).record(2, 0, 50, 60).bytes(), 2,
         false},
        {"caplen over the snaplen, cut short before the snaplen",
         ClassicFile(big_endian, ns, 100).record(1, 0, 200, 200, 50).bytes(), 0, true},
        {"caplen over the snaplen, cut short after it",
         ClassicFile(big_endian, ns, 100).record(1, 0, 200, 200, 150).bytes(), 0, true},
        {"caplen over len", ClassicFile(big_endian, ns).record(1, 0, 100, 60).bytes(), 1, false},
        {"zero-length records",
         ClassicFile(big_endian, ns).record(1, 0, 0, 0).record(1, 1, 0, 64).bytes(), 2, false},
        {"stamps with the top bit set, and the largest",
         ClassicFile(big_endian, ns)
             .record(0x80000001, 0x80000000, 4, 4)
             .record(0xffffffff, second, 4, 4)
             .record(5, 0xfffffff0, 4, 4)
             .record(0x7fffffff, second, 4, 4)
             .bytes(),
         4, false},
        {"a snaplen above INT_MAX (read as the limit)",
         ClassicFile(big_endian, ns, 0x80000000).record(1, 0, 262144, 262144).bytes(), 1, false},
        {"garbage after the last record",
         ClassicFile(big_endian, ns).record(1, 0, 4, 4).raw("garbage").bytes(), 1, true},
        {"FCS bits in the link type field",
         ClassicFile(big_endian, ns, 65535, 1 | 0x14000000).record(1, 0, 4, 4).bytes(), 1, false},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        const std::string path = dir.path() + "/case.pcap";
        write_file(path, c.file);
        check_reads_as_libpcap(path);
        const Capture expected = read_capture(path);
        CHECK(expected.packets.size() == c.packets);
        CHECK(expected.error.empty() == !c.damaged);
        const Drained d = drain(path);
        check_same_packets(d.packets, as_delivered(expected.packets));
        CHECK(d.in_place == d.count);
        if (c.damaged) {
            std::optional<PcapRecordReader> reader = PcapRecordReader::open(as_bytes(c.file));
            REQUIRE(reader);
            const uint64_t offset = walk(*reader).offset;
            CHECK(d.error == unreadable(path, offset, c.packets, expected.error));
        } else {
            CHECK(d.error.empty());
        }
    }
}

TEST_CASE("files the reader leaves to libpcap are read through it, as before",
          "[fast][pcap_file_map]") {
    TempDir dir;
    const std::string path = dir.path() + "/left.pcap";
    struct Case {
        const char* what;
        std::string file;
    };
    for (const Case& c : {
             // Before 2.4 caplen and len were the other way round; libpcap swaps them back.
             Case{"version 2.3", ClassicFile(false, false, 65535, 1, 3).record(1, 0, 40, 20, 20).bytes()},
             Case{"version 2.2", ClassicFile(true, false, 65535, 1, 2).record(1, 0, 40, 20, 20).bytes()},
             // libpcap rewrites these pseudo-headers when the byte order is not the host's.
             Case{"Linux cooked, other byte order", ClassicFile(true, false, 65535, 113).record(1, 0, 20, 20).bytes()},
             Case{"NFLOG, other byte order", ClassicFile(true, false, 65535, 239).record(1, 0, 20, 20).bytes()},
             Case{"Linux USB, memory-mapped", ClassicFile(false, false, 65535, 220).record(1, 0, 64, 64).bytes()},
             // libpcap allows records over 262144 bytes for this one.
             Case{"D-Bus", ClassicFile(false, false, 0, 231).record(1, 0, 300000, 300000).bytes()},
         }) {
        INFO(c.what);
        CHECK_FALSE(PcapRecordReader::open(as_bytes(c.file)));
        write_file(path, c.file);
        const Capture expected = read_capture(path);
        const Drained d = drain(path);
        check_same_packets(d.packets, as_delivered(expected.packets));
        CHECK(d.in_place == 0);
        CHECK(d.error.empty());
    }
}

TEST_CASE("offsets past 4 GiB are counted in 64 bits", "[fast][pcap_file_map]") {
    // A sparse file: 16384 records of 262144 bytes (holes, never read), then a record cut short.
    TempDir dir;
    const std::string path = dir.path() + "/big.pcap";
    const uint32_t caplen = 262144;
    const uint64_t records = 16384;
    const uint64_t bad_offset = 24 + records * (16 + caplen);
    REQUIRE(bad_offset > (uint64_t{1} << 32));
    {
        const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
        REQUIRE(fd >= 0);
        const std::string header = ClassicFile(false, false, caplen).bytes();
        REQUIRE(::pwrite(fd, header.data(), header.size(), 0) == ssize_t(header.size()));
        const uint32_t record[4] = {1, 0, caplen, caplen};
        for (uint64_t i = 0; i < records; ++i)
            REQUIRE(::pwrite(fd, record, sizeof record, off_t(24 + i * (16 + caplen))) == 16);
        const uint32_t cut[4] = {2, 0, 100, 100};
        REQUIRE(::pwrite(fd, cut, sizeof cut, off_t(bad_offset)) == 16);
        REQUIRE(::ftruncate(fd, off_t(bad_offset + 16 + 10)) == 0);
        ::close(fd);
    }
    const std::string reason = "truncated dump file; tried to read 100 captured bytes, only got 10";
    const Drained d = drain(path, false);
    CHECK(d.count == records);
    CHECK(d.in_place == records);
    CHECK(d.error == unreadable(path, bad_offset, records, reason));
}

TEST_CASE("realtime replay of a mapped file: a record is handed out once it is due",
          "[fast][pcap_file_map]") {
    TempDir dir;
    const std::string path = dir.path() + "/paced.pcap";
    // The second record is 30 s after the first: the test never waits for it.
    write_file(path, ClassicFile(false, true).record(100, 0, 60, 60).record(130, 0, 60, 60).bytes());
    std::unique_ptr<taprec::PacketSource> source = open_file(path, taprec::ReplaySpeed::realtime);
    CHECK(source->is_wire());
    CHECK(source->idle_clock_ns() == 0);  // no clock before the first record
    std::array<taprec::PacketRef, 32> burst;
    REQUIRE(source->rx_burst(0, burst) == 1);
    CHECK(burst[0].ts_ns == 100'000'000'000u);
    source->release(std::span(burst.data(), 1));
    CHECK(source->rx_burst(0, burst) == 0);
    CHECK_FALSE(source->at_end());
    const uint64_t clock = source->idle_clock_ns();
    CHECK(clock >= 100'000'000'000u);
    CHECK(clock < 130'000'000'000u);
    CHECK_FALSE(open_file(path)->is_wire());  // at full speed a file is not a wire
}
