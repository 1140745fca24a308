// DPDK driver pieces that need no running EAL: device strings, EAL arguments, machine checks, the
// mempool budget, the symmetric RSS key, flow affinity, the clocks, and the replay end rule.
#include <catch2/catch.hpp>

#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "config/parse.hpp"
#include "drivers/dpdk_api.hpp"
#include "drivers/dpdk_clock.hpp"
#include "config/dpdk_device.hpp"
#include "drivers/dpdk_eal.hpp"
#include "drivers/dpdk_mempool.hpp"
#include "drivers/dpdk_replay.hpp"
#include "drivers/dpdk_rss.hpp"
#include "pipeline/flow_hash.hpp"
#include "rx/rx_poller.hpp"

using namespace taprec;

namespace {

std::string data_path(const std::string& file) {
    const char* dir = std::getenv("TAPREC_TEST_DATA");
    return std::string(dir != nullptr ? dir : "tests/data") + "/" + file;
}

Config parse(const std::string& yaml) {
    ParseResult r = parse_config_text(yaml, "test.yaml");
    if (!r.errors.empty()) FAIL(r.errors.front().to_string());
    return r.config;
}

bool contains(const std::vector<std::string>& args, const std::vector<std::string>& seq) {
    return std::search(args.begin(), args.end(), seq.begin(), seq.end()) != args.end();
}

// The IPv4 or IPv6 5-tuple of an Ethernet frame (VLAN tags skipped), for the flow tests.
struct Tuple {
    std::vector<uint8_t> src, dst;
    uint16_t sport = 0, dport = 0;
    uint8_t proto = 0;
    bool ok = false;
};

Tuple five_tuple(const u_char* p, uint32_t len) {
    Tuple t;
    size_t off = 12;
    if (len < 14) return t;
    uint16_t type = uint16_t(p[off] << 8 | p[off + 1]);
    off += 2;
    while ((type == 0x8100 || type == 0x88a8) && off + 4 <= len) {
        type = uint16_t(p[off + 2] << 8 | p[off + 3]);
        off += 4;
    }
    size_t l4 = 0;
    if (type == 0x0800 && off + 20 <= len) {
        const size_t ihl = (p[off] & 0x0f) * 4u;
        const bool fragment = ((p[off + 6] & 0x3f) | p[off + 7]) != 0;
        if (fragment) return t;
        t.proto = p[off + 9];
        t.src.assign(p + off + 12, p + off + 16);
        t.dst.assign(p + off + 16, p + off + 20);
        l4 = off + ihl;
    } else if (type == 0x86dd && off + 40 <= len) {
        t.proto = p[off + 6];
        t.src.assign(p + off + 8, p + off + 24);
        t.dst.assign(p + off + 24, p + off + 40);
        l4 = off + 40;
    } else {
        return t;
    }
    if ((t.proto == 6 || t.proto == 17) && l4 + 4 <= len) {
        t.sport = uint16_t(p[l4] << 8 | p[l4 + 1]);
        t.dport = uint16_t(p[l4 + 2] << 8 | p[l4 + 3]);
        t.ok = true;
    }
    return t;
}

struct Frame {
    std::vector<std::byte> bytes;
    Tuple tuple;
};

std::vector<Frame> read_frames(const std::string& file) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* h = pcap_open_offline(file.c_str(), err);
    REQUIRE(h != nullptr);
    std::vector<Frame> frames;
    pcap_pkthdr* hdr;
    const u_char* data;
    while (pcap_next_ex(h, &hdr, &data) == 1) {
        Frame f;
        f.bytes.assign(reinterpret_cast<const std::byte*>(data),
                       reinterpret_cast<const std::byte*>(data) + hdr->caplen);
        f.tuple = five_tuple(data, hdr->caplen);
        frames.push_back(std::move(f));
    }
    pcap_close(h);
    return frames;
}

// Toeplitz over (src, dst, sport, dport) as a NIC computes it for TCP/UDP over IPv4 or IPv6.
uint32_t toeplitz(const Tuple& t, bool reversed, const std::vector<uint8_t>& key) {
    std::vector<uint8_t> in;
    const auto& a = reversed ? t.dst : t.src;
    const auto& b = reversed ? t.src : t.dst;
    in.insert(in.end(), a.begin(), a.end());
    in.insert(in.end(), b.begin(), b.end());
    const uint16_t sp = reversed ? t.dport : t.sport, dp = reversed ? t.sport : t.dport;
    in.push_back(uint8_t(sp >> 8));
    in.push_back(uint8_t(sp));
    in.push_back(uint8_t(dp >> 8));
    in.push_back(uint8_t(dp));
    // rte_softrss_be takes the tuple as host-order 32-bit words and a byte-swapped key.
    std::vector<uint32_t> words(in.size() / 4);
    for (size_t i = 0; i < words.size(); ++i)
        words[i] = uint32_t(in[4 * i]) << 24 | uint32_t(in[4 * i + 1]) << 16 |
                   uint32_t(in[4 * i + 2]) << 8 | in[4 * i + 3];
    return rte_softrss(words.data(), static_cast<uint32_t>(words.size()), key.data());
}

// A PacketSource that hands out the frames it was given on the queue it was told.
class FakeSource final : public PacketSource {
public:
    FakeSource(uint16_t queues, bool rss) : queues_(queues), rss_(rss) {}
    std::string describe() const override { return "fake"; }
    uint16_t queue_count() const override { return queues_; }
    bool has_rss() const override { return rss_; }
    int link_type() const override { return DLT_EN10MB; }
    size_t rx_burst(uint16_t queue, std::span<PacketRef> out) noexcept override {
        size_t n = 0;
        auto& q = pending_[queue];
        while (n < out.size() && !q.empty()) {
            out[n++] = q.front();
            q.erase(q.begin());
        }
        if (n == 0 && queue == queues_ - 1 && all_empty()) end_ = true;
        return n;
    }
    bool at_end() const noexcept override { return end_; }
    std::string error() const override { return ""; }
    uint64_t idle_clock_ns() const noexcept override { return 0; }
    bool is_wire() const noexcept override { return false; }
    void release(std::span<const PacketRef>) noexcept override {}
    NicCounters nic_counters() const override { return {}; }

    std::map<uint16_t, std::vector<PacketRef>> pending_;

private:
    bool all_empty() const {
        for (const auto& [q, v] : pending_)
            if (!v.empty()) return false;
        return true;
    }
    uint16_t queues_;
    bool rss_;
    bool end_ = false;
};

}  // namespace

TEST_CASE("a device string is a PCI address or a vdev", "[dpdk][fast]") {
    CHECK(looks_like_pci_address("0000:3b:00.0"));
    CHECK(looks_like_pci_address("3b:00.1"));
    CHECK_FALSE(looks_like_pci_address("net_pcap0,rx_pcap=a.pcap"));
    CHECK_FALSE(looks_like_pci_address("3b:00"));
    CHECK(normalize_pci_address("3B:00.1") == "0000:3b:00.1");

    const DpdkDevice pci = parse_dpdk_device("3b:00.0");
    CHECK(pci.is_pci);
    CHECK(pci.name == "0000:3b:00.0");

    const DpdkDevice vdev = parse_dpdk_device("net_pcap3,rx_pcap=/x/a.pcap,infinite_rx=0");
    CHECK_FALSE(vdev.is_pci);
    CHECK(vdev.name == "net_pcap3");
    CHECK(vdev.driver == "net_pcap");
    CHECK(vdev.arg("rx_pcap") == "/x/a.pcap");
    CHECK(vdev.arg("infinite_rx") == "0");
    CHECK_FALSE(vdev.arg("tx_pcap"));
}

TEST_CASE("EAL arguments are built from the configuration, dpdk.eal last", "[dpdk][fast]") {
    SECTION("vdevs only, without hugepages") {
        const Config c = parse(R"(
dpdk: {eal: ["--no-huge"], mbufs_per_port: 8191}
taps:
  - name: t
    a: {driver: dpdk, device: "net_pcap0,rx_pcap=a.pcap"}
    b: {driver: dpdk, device: "net_memif0,role=server"}
)");
        const RunPlan run = make_plan(c, MachineFacts{});
        const EalPlan plan = plan_eal(c, run.dpdk, 1, 4242);
        CHECK(contains(plan.args, {"-l", "1"}));
        CHECK(contains(plan.args, {"--file-prefix", "taprec-4242"}));
        CHECK(contains(plan.args, {"--no-pci"}));
        CHECK(contains(plan.args, {"--vdev", "net_pcap0,rx_pcap=a.pcap"}));
        CHECK(contains(plan.args, {"--vdev", "net_memif0,role=server"}));
        CHECK(run.dpdk.no_huge);
        // 2 pools of 8191 mbufs, a 4 KiB page each under --no-huge, plus EAL's own share.
        CHECK(run.dpdk.memory_mib == 256 + (2 * 8191 * 4096 + (1 << 20) - 1) / (1 << 20));
        CHECK(contains(plan.args, {"-m", std::to_string(run.dpdk.memory_mib)}));
        CHECK(plan.args.back() == "--no-huge");
        CHECK_FALSE(contains(plan.args, {"--huge-unlink"}));
    }
    SECTION("PCI NICs are allow-listed; the user's cores, prefix and memory win") {
        const Config c = parse(R"(
dpdk: {eal: ["-l", "2-3", "--file-prefix", "mine", "--socket-mem", "1024"]}
taps:
  - name: t
    a: {driver: dpdk, device: "0000:3b:00.0"}
    b: {driver: dpdk, device: "3b:00.1"}
)");
        const EalPlan plan = plan_eal(c, make_plan(c, MachineFacts{}).dpdk, 0, 1);
        CHECK(contains(plan.args, {"-a", "0000:3b:00.0"}));
        CHECK(contains(plan.args, {"-a", "0000:3b:00.1"}));
        CHECK_FALSE(contains(plan.args, {"--no-pci"}));
        CHECK_FALSE(contains(plan.args, {"-l", "0"}));
        CHECK_FALSE(contains(plan.args, {"--file-prefix", "taprec-1"}));
        CHECK(contains(plan.args, {"--huge-unlink"}));
        CHECK(std::vector<std::string>(plan.args.end() - 6, plan.args.end()) ==
              std::vector<std::string>{"-l", "2-3", "--file-prefix", "mine", "--socket-mem", "1024"});
    }
}

TEST_CASE("machine checks say what to run", "[dpdk][fast]") {
    // The machine as the test describes it: no hugepages, 8 GiB available.
    MachineFacts machine;
    machine.available_memory_bytes = uint64_t{8} << 30;
    auto check = [&](const std::string& device, const std::string& eal) {
        const Config c = parse("dpdk: {eal: [" + eal + "]}\ntaps:\n  - name: t\n    a: {driver: dpdk, device: \"" +
                               device + "\"}\n");
        std::string text;
        for (const ConfigError& e : check_dpdk_machine(c, make_plan(c, machine), machine))
            text += e.to_string() + "\n";
        return text;
    };
    CHECK(check("net_null0", "\"--no-huge\"").empty());
    CHECK_THAT(check("eth1", "\"--no-huge\""), Catch::Contains("t.yaml:4: taps[0].a.device: dpdk device"));
    CHECK_THAT(check("eth1", "\"--no-huge\""), Catch::Contains("neither a PCI address"));
    CHECK_THAT(check("0000:77:00.0", "\"--no-huge\""), Catch::Contains("no PCI device 0000:77:00.0"));
    CHECK_THAT(check("net_pcap0,rx_pcap=a,rx_pcap=b", "\"--no-huge\""),
               Catch::Contains("more than one rx_pcap"));
    // Without hugepages: the pages the plan needs, at the installed helper's path.
    CHECK_THAT(check("net_null0", ""), Catch::Contains("libexec/taprec/hugepages "));
    CHECK_THAT(check("net_null0", ""), Catch::Contains("--no-huge"));
    // Hugepages reserved but too few for the plan.
    machine.free_hugepage_bytes = uint64_t{64} << 20;
    machine.hugetlbfs_mounted = true;
    CHECK_THAT(check("net_null0", ""), Catch::Contains("only 64 MiB are free"));
    // --no-huge on a machine with less memory available than the plan.
    machine.available_memory_bytes = uint64_t{512} << 20;
    CHECK_THAT(check("net_null0", "\"--no-huge\""), Catch::Contains("only 512 MiB of memory are available"));
}

TEST_CASE("the mempool is checked against what the pipeline can hold at once", "[dpdk][fast]") {
    // One worker, the default rings: the default pool covers the worst case.
    PortPlan plan;
    plan.rx_descriptors = 4096;
    plan.ring_capacity = 65536;
    plan.cache = mbuf_cache_size;
    plan.mbufs = 262143;
    const MbufBudget one = mbufs_held_at_once(4096, 1, 1, 65536, mbuf_cache_size);
    CHECK(one.total() > 4096 + 2 * 65536);
    CHECK(check_pool_size("port x", plan, 1, 1).empty());
    // Two RSS queues: two rings each way of 65536 no longer fit in 262143. The NIC still has all
    // it needs with the rings empty, so the port runs and the warning says what would rule out
    // nic_nombuf drops.
    const std::string warning = check_pool_size("port x", plan, 2, 2);
    CHECK_THAT(warning, Catch::Contains("dpdk.mbufs_per_port: 262143 mbufs for port x"));
    CHECK_THAT(warning, Catch::Contains("nic_nombuf"));
    CHECK_THAT(warning, Catch::Contains("set dpdk.mbufs_per_port to 524287"));
    CHECK_THAT(warning, Catch::Contains("or lower ring_capacity to 32768"));
    // A pool that cannot even fill the rx descriptors would starve the port: the plan's error
    // (tests/test_config.cpp), found by --check before EAL runs.
    CHECK(pool_size_for(262144) == 524287);
    CHECK(pool_size_for(8191) == 8191);
}

TEST_CASE("the symmetric RSS key hashes both directions of a connection alike", "[dpdk][fast]") {
    const std::vector<uint8_t> key = symmetric_rss_key(40);
    REQUIRE(key.size() == 40);
    CHECK(key[0] == 0x6d);
    CHECK(key[1] == 0x5a);
    std::vector<uint8_t> converted(key.size());
    rte_convert_rss_key(reinterpret_cast<const uint32_t*>(key.data()),
                        reinterpret_cast<uint32_t*>(converted.data()), static_cast<int>(key.size()));
    // Microsoft's default key, for contrast: not symmetric.
    std::vector<uint8_t> ms{0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                            0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                            0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
    std::vector<uint8_t> ms_converted(ms.size());
    rte_convert_rss_key(reinterpret_cast<const uint32_t*>(ms.data()),
                        reinterpret_cast<uint32_t*>(ms_converted.data()), static_cast<int>(ms.size()));
    for (const char* file : {"ftp-ipv4.pcap", "ftp-ipv6.pcap"}) {
        INFO(file);
        size_t checked = 0, asymmetric_with_default_key = 0;
        for (const Frame& f : read_frames(data_path(file))) {
            if (!f.tuple.ok) continue;
            ++checked;
            CHECK(toeplitz(f.tuple, false, converted) == toeplitz(f.tuple, true, converted));
            asymmetric_with_default_key +=
                toeplitz(f.tuple, false, ms_converted) != toeplitz(f.tuple, true, ms_converted);
        }
        CHECK(checked > 50);
        CHECK(asymmetric_with_default_key > 0);
    }
}

TEST_CASE("the software flow hash sends both directions of every connection to one worker",
          "[dpdk][fast]") {
    for (const char* file : {"ftp-ipv4.pcap", "ftp-ipv6.pcap", "vlan-http-session.pcap"}) {
        INFO(file);
        // Connection (endpoints in a fixed order) -> workers its packets went to, with 2 and 3 workers.
        std::map<std::tuple<std::vector<uint8_t>, uint16_t, std::vector<uint8_t>, uint16_t, uint8_t>,
                 std::set<std::pair<uint32_t, uint32_t>>>
            workers;
        std::map<decltype(workers)::key_type, std::set<bool>> directions;
        for (const Frame& f : read_frames(data_path(file))) {
            if (!f.tuple.ok) continue;
            const Tuple& t = f.tuple;
            const bool forward = std::tie(t.src, t.sport) < std::tie(t.dst, t.dport);
            const auto key = forward ? std::make_tuple(t.src, t.sport, t.dst, t.dport, t.proto)
                                     : std::make_tuple(t.dst, t.dport, t.src, t.sport, t.proto);
            const uint32_t h = symmetric_flow_hash(f.bytes, DLT_EN10MB);
            workers[key].insert({h % 2, h % 3});
            directions[key].insert(forward);
        }
        size_t both_ways = 0;
        for (const auto& [key, w] : workers) {
            CHECK(w.size() == 1);
            both_ways += directions[key].size() == 2;
        }
        CHECK(both_ways >= 1);  // the capture really has connections seen both ways
    }
}

TEST_CASE("with RSS, queue i goes to worker i; without, the software hash decides", "[dpdk][fast]") {
    const std::vector<Frame> frames = read_frames(data_path("ftp-ipv4.pcap"));
    for (const bool rss : {true, false}) {
        INFO("rss " << rss);
        FakeSource source(2, rss);
        std::map<const std::byte*, uint16_t> queue_of;
        for (size_t i = 0; i < frames.size(); ++i) {
            const uint16_t q = static_cast<uint16_t>(i % 2);
            const PacketRef p{frames[i].bytes.data(), nullptr, i + 1, uint32_t(frames[i].bytes.size()),
                              uint32_t(frames[i].bytes.size()), 0, 0};
            source.pending_[q].push_back(p);
            queue_of[p.data] = q;
        }
        PacketRing ring0(4096), ring1(4096);
        std::atomic<bool> stop{false};
        RxPollerSetup setup;
        setup.source = &source;
        setup.rx_to_worker = {&ring0, &ring1};
        setup.stop = &stop;
        RxPoller poller(std::move(setup));
        poller.run();
        std::array<PacketRing*, 2> rings{&ring0, &ring1};
        size_t total = 0;
        for (uint32_t w = 0; w < 2; ++w) {
            std::array<PacketRef, 256> out;
            size_t n;
            while ((n = rings[w]->pop_burst(out)) != 0) {
                total += n;
                for (size_t i = 0; i < n; ++i) {
                    const uint32_t expected =
                        rss ? queue_of[out[i].data]
                            : symmetric_flow_hash(std::span(out[i].data, out[i].caplen), DLT_EN10MB) % 2;
                    CHECK(expected == w);
                }
            }
        }
        CHECK(total == frames.size());
    }
}

TEST_CASE("the TSC clock follows CLOCK_REALTIME and never goes back", "[dpdk][fast]") {
    TscClock::calibrate(20);
    REQUIRE(TscClock::tsc_hz() > 0);
    TscClock clock;
    uint64_t last = 0;
    for (int i = 0; i < 200000; ++i) {
        const uint64_t now = clock.now_ns();
        REQUIRE(now >= last);
        last = now;
    }
    const int64_t gap = int64_t(clock.now_ns()) - int64_t(realtime_now_ns());
    CHECK(std::abs(gap) < 5'000'000);  // within 5 ms: a broken conversion is off by far more
    CHECK(rx_timestamp_unit("net_pcap") == PortClock::epoch_usec);
}

TEST_CASE("a replayed file ends when the driver accounts for every record", "[dpdk][fast]") {
    const CaptureScan big = scan_capture_file(data_path("bigtcp-ipv4-80KB-frame.pcap"));
    CHECK(big.records == 1);
    CHECK(big.max_caplen == 80066);
    CHECK(big.link_type == DLT_EN10MB);
    CHECK(big.damage.empty());
    const CaptureScan corrupt = scan_capture_file(data_path("corrupt-fuzz-record.pcap"));
    CHECK(corrupt.records >= 1);  // libpcap 1.10 stops at the first damaged record
    CHECK_FALSE(corrupt.damage.empty());
    CHECK_THROWS_WITH(scan_capture_file("/nonexistent.pcap"), Catch::Contains("give an existing"));

    CHECK_FALSE(replay_exhausted(38, 37, 0, 0));
    CHECK(replay_exhausted(38, 38, 0, 0));
    CHECK(replay_exhausted(38, 36, 1, 1));
}

namespace {

// scripts/hugepages --dry-run against a sysfs folder the test writes: its one line of output.
std::string hugepages_dry_run(const std::string& sysfs, uint64_t reserved, uint64_t free,
                              const std::string& args) {
    std::ofstream(sysfs + "/nr_hugepages") << reserved << "\n";
    std::ofstream(sysfs + "/free_hugepages") << free << "\n";
    const std::string root = std::getenv("TAPREC_SOURCE_ROOT");
    const std::string command = "TAPREC_HUGEPAGES_SYSFS='" + sysfs + "' '" + root +
                                "/scripts/hugepages' --dry-run " + args + " 2>&1";
    FILE* p = ::popen(command.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    ::pclose(p);
    return out;
}

}  // namespace

TEST_CASE("the shipped unit reserves what the shipped example's plan needs, and never lowers a "
          "reservation", "[dpdk][fast]") {
    const std::string root = std::getenv("TAPREC_SOURCE_ROOT");
    const std::string taprec = std::getenv("TAPREC_BIN");
    const std::string example = root + "/config/examples/taprec.yaml";
    char folder[] = "/tmp/taprec-hugepages-XXXXXX";
    REQUIRE(::mkdtemp(folder) != nullptr);
    const std::string sysfs = folder;

    // The unit asks the script for what the configuration it starts needs.
    std::ifstream unit_file(root + "/scripts/taprec.service");
    const std::string unit((std::istreambuf_iterator<char>(unit_file)), std::istreambuf_iterator<char>());
    CHECK_THAT(unit, Catch::Contains("ExecStartPre=-+@libexecdir@/taprec/hugepages --taprec "
                                     "@bindir@/taprec --config @sysconfdir@/taprec/taprec.yaml\n"));
    CHECK_THAT(unit, Catch::Contains("ExecStart=@bindir@/taprec --config @sysconfdir@/taprec/taprec.yaml\n"));

    // On a box with none reserved, it reserves the plan's pages for the example ...
    const ParseResult parsed = load_config_file(example);
    REQUIRE(parsed.ok());
    const RunPlan plan = make_plan(parsed.config, MachineFacts{});
    REQUIRE(plan.dpdk.hugepages_2m > 0);
    const std::string pages = std::to_string(plan.dpdk.hugepages_2m);
    const std::string said = hugepages_dry_run(sysfs, 0, 0, "--taprec '" + taprec + "' --config '" + example + "'");
    INFO(said);
    CHECK_THAT(said, Catch::Contains("would reserve " + pages + " x 2 MiB (now 0, 0 free): " + pages + " free"));
    // ... and with those pages free, the start's memory check passes (the NICs, absent here,
    // are the only complaints left).
    MachineFacts reserved;
    reserved.free_hugepage_bytes = plan.dpdk.hugepages_2m * (uint64_t{2} << 20);
    reserved.hugetlbfs_mounted = true;
    for (const ConfigError& e : check_dpdk_machine(parsed.config, make_plan(parsed.config, reserved), reserved)) {
        INFO(e.to_string());
        CHECK(e.key.ends_with(".device"));
    }

    // A larger reservation made at boot is left alone; pages another process holds stay its own.
    CHECK_THAT(hugepages_dry_run(sysfs, 4096, 4096, "512"), Catch::Contains("left as is"));
    CHECK_THAT(hugepages_dry_run(sysfs, 4096, 4096, "--taprec '" + taprec + "' --config '" + example + "'"),
               Catch::Contains("left as is"));
    CHECK_THAT(hugepages_dry_run(sysfs, 1000, 100, "--taprec '" + taprec + "' --config '" + example + "'"),
               Catch::Contains("would reserve " + std::to_string(900 + plan.dpdk.hugepages_2m)));
    std::filesystem::remove_all(sysfs);
}
