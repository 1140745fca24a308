// The TAP merge (DESIGN.md "Ordering"): both directions of real captures, split as a TAP would
// deliver them, come out as one stream in timestamp order with every packet exactly once; a
// direction that arrives late is waited for up to reorder_window and counted late beyond it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "daemon_run.hpp"
#include "rx/rx_poller.hpp"
#include "ring/ordered_merge.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

// `threads` with every stage on core 0 makes the tap run as one loop of tasks on that core; with
// the writer unpinned, both rx stages and the workers are one loop there and the writer a thread.
const std::string unpinned = "threads: {idle: sleep}\n";
const std::string one_core = "threads: {rx: [0], workers: [0], writer: 0, idle: sleep}\n";
const std::string writer_apart = "threads: {rx: [0], workers: [0], idle: sleep}\n";

std::string tap_config(const std::string& a, const std::string& b, int workers,
                       const std::string& out, const std::string& threads = unpinned) {
    return "taps:\n"
           "  - name: m\n"
           "    a: {driver: pcap, file: \"" + a + "\"}\n"
           "    b: {driver: pcap, file: \"" + b + "\"}\n"
           "    workers: " + std::to_string(workers) + "\n" + threads +
           "output:\n"
           "  directory: " + out + "\n"
           "  snaplen: 262144\n"
           "  rotate: {bytes: 64KiB, seconds: 0}\n"
           "stats: {interval: 1s}\n";
}

bool by_time(const Packet& x, const Packet& y) { return x.ts_ns < y.ts_ns; }

std::vector<std::pair<uint64_t, std::vector<unsigned char>>> keyed(const std::vector<Packet>& v) {
    std::vector<std::pair<uint64_t, std::vector<unsigned char>>> out;
    for (const Packet& p : v) out.emplace_back(p.ts_ns, p.bytes);
    std::sort(out.begin(), out.end());
    return out;
}

// Run tshark's TCP analysis on a file and count frames matching a display filter.
long tshark_count(const std::string& file, const std::string& filter) {
    const std::string cmd = "tshark -n -r '" + file + "' -Y '" + filter + "' 2>/dev/null | wc -l";
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return -1;
    long n = -1;
    if (std::fscanf(p, "%ld", &n) != 1) n = -1;
    pclose(p);
    return n;
}

}  // namespace

TEST_CASE("both directions of a real capture merge back into the capture", "[fast][merge][e2e]") {
    const std::string capture = GENERATE(as<std::string>{}, "ftp-ipv4.pcap", "ftp-ipv6.pcap",
                                         "vlan-http-session.pcap", "ipv4-fragments-nfs.pcap",
                                         "icmp-echo.pcap", "nsec-be-http-loopback.pcap",
                                         "loopback-oversized-frames.pcap", "usec-be-pptp.pcap");
    const int workers = GENERATE(1, 2);
    const std::string threads = GENERATE(unpinned, one_core, writer_apart);
    INFO(capture << " with " << workers << " workers, " << threads);
    TempDir dir;
    const Capture original = read_capture(test_data(capture));
    const auto [a, b] = split_directions(original);
    REQUIRE_FALSE(a.packets.empty());
    REQUIRE_FALSE(b.packets.empty());
    write_capture(dir.path() + "/a.pcap", a);
    write_capture(dir.path() + "/b.pcap", b);
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, tap_config(dir.path() + "/a.pcap", dir.path() + "/b.pcap", workers,
                                  dir.path() + "/out", threads));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);

    const std::string tap = dir.path() + "/out/m";
    const std::vector<Packet> output = published_packets(tap);
    REQUIRE(output.size() == original.packets.size());
    CHECK(std::is_sorted(output.begin(), output.end(), by_time));
    CHECK(keyed(output) == keyed(original.packets));  // every packet exactly once
    if (std::is_sorted(original.packets.begin(), original.packets.end(), by_time)) {
        // Ties aside, the merge gives back the capture itself.
        std::vector<Packet> expected = original.packets;
        std::stable_sort(expected.begin(), expected.end(), by_time);
        size_t differing = 0;
        for (size_t i = 0; i < output.size(); ++i)
            if (output[i].ts_ns != expected[i].ts_ns) ++differing;
        CHECK(differing == 0);
    }
    const Json stats = final_stats(tap);
    CHECK(stats.u64("ports.a.received") == a.packets.size());
    CHECK(stats.u64("ports.b.received") == b.packets.size());
    CHECK(stats.u64("ports.a.written") == a.packets.size());
    CHECK(stats.u64("ports.b.written") == b.packets.size());
    CHECK(invariant_holds(stats, "a"));
    CHECK(invariant_holds(stats, "b"));
    const bool a_sorted = std::is_sorted(a.packets.begin(), a.packets.end(), by_time);
    const bool b_sorted = std::is_sorted(b.packets.begin(), b.packets.end(), by_time);
    if (a_sorted && b_sorted) {
        CHECK(stats.u64("ports.a.late") == 0);
        CHECK(stats.u64("ports.b.late") == 0);
    }
    // Per-direction packet counts of each file add up to each direction.
    uint64_t in_a = 0, in_b = 0;
    for (const std::string& line : read_lines(tap + "/.meta/index.jsonl")) {
        const Json entry = parse_json(line);
        in_a += entry.u64("ports.a.packets");
        in_b += entry.u64("ports.b.packets");
    }
    CHECK(in_a == a.packets.size());
    CHECK(in_b == b.packets.size());
}

TEST_CASE("tshark finds no more lost or out-of-order segments in the merge than in the capture",
          "[slow][merge][e2e]") {
    require_program("tshark", "tshark");
    // Not vlan-http-session.pcap: its 10 ms timestamp granularity makes data and its ACK tie, and
    // no merge can know which of two equal timestamps came first on the wire.
    const std::string capture = GENERATE(as<std::string>{}, "ftp-ipv4.pcap", "ftp-ipv6.pcap",
                                         "loopback-oversized-frames.pcap", "nsec-be-http-loopback.pcap");
    INFO(capture);
    TempDir dir;
    const Capture original = read_capture(test_data(capture));
    const auto [a, b] = split_directions(original);
    write_capture(dir.path() + "/a.pcap", a);
    write_capture(dir.path() + "/b.pcap", b);
    const std::string config = dir.path() + "/c.yaml";
    std::string text = tap_config(dir.path() + "/a.pcap", dir.path() + "/b.pcap", 2, dir.path() + "/out");
    text.replace(text.find("64KiB"), 5, "1GiB");  // one file, so tshark sees whole connections
    write_file(config, text);
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::vector<std::string> files = published_files(dir.path() + "/out/m");
    REQUIRE(files.size() == 1);
    for (const char* filter : {"tcp.analysis.ack_lost_segment", "tcp.analysis.out_of_order",
                               "tcp.analysis.lost_segment"}) {
        INFO(filter);
        const long before = tshark_count(test_data(capture), filter);
        const long after = tshark_count(files[0], filter);
        REQUIRE(before >= 0);
        CHECK(after <= before);
    }
}

namespace {

uint64_t realtime_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// A live port whose packets carry timestamps `start + i*spacing` but reach the rx thread
// `delay` after their timestamp: a direction whose path to the sensor is slower.
class DelayedLivePort final : public taprec::PacketSource {
public:
    DelayedLivePort(uint64_t start_ns, uint64_t spacing_ns, size_t count, uint64_t delay_ns)
        : start_(start_ns), spacing_(spacing_ns), count_(count), delay_(delay_ns) {}
    std::string describe() const override { return "delayed"; }
    uint16_t queue_count() const override { return 1; }
    bool has_rss() const override { return false; }
    int link_type() const override { return 1; }
    size_t rx_burst(uint16_t, std::span<taprec::PacketRef> out) noexcept override {
        const uint64_t now = realtime_ns();
        size_t n = 0;
        while (n < out.size() && next_ < count_ && start_ + next_ * spacing_ + delay_ <= now) {
            const uint64_t ts = start_ + next_ * spacing_;
            out[n++] = taprec::PacketRef{frame_, nullptr, ts, 60, 60, 0, 0};
            ++next_;
        }
        return n;
    }
    bool at_end() const noexcept override { return next_ == count_; }
    std::string error() const override { return ""; }
    uint64_t idle_clock_ns() const noexcept override { return realtime_ns(); }
    void release(std::span<const taprec::PacketRef>) noexcept override {}
    taprec::NicCounters nic_counters() const override { return {}; }

private:
    std::byte frame_[60]{};
    uint64_t start_, spacing_;
    size_t count_;
    uint64_t delay_;
    size_t next_ = 0;
};

struct DelayResult {
    std::vector<taprec::PacketRef> output;
    uint64_t late_a = 0, late_b = 0;
};

DelayResult merge_with_delay(uint64_t delay_b_ns, uint64_t window_ns) {
    const uint64_t start = realtime_ns() + 100'000'000;
    constexpr uint64_t spacing = 20'000'000;  // 50 packets a second each way, for a second
    DelayedLivePort a(start, spacing, 50, 0);
    DelayedLivePort b(start + spacing / 2, spacing, 50, delay_b_ns);
    taprec::PacketRing ring_a(1024), ring_b(1024);
    std::atomic<bool> stop{false};
    auto poller = [&](taprec::PacketSource& source, uint16_t port, taprec::PacketRing& ring) {
        taprec::RxPollerSetup setup;
        setup.source = &source;
        setup.port_index = port;
        setup.rx_to_worker = {&ring};
        setup.reorder_window_ns = window_ns;
        setup.idle = taprec::IdlePolicy::sleep;
        setup.stop = &stop;
        return std::make_unique<taprec::RxPoller>(setup);
    };
    auto rx_a = poller(a, 0, ring_a);
    auto rx_b = poller(b, 1, ring_b);
    std::thread ta([&] { rx_a->run(); });
    std::thread tb([&] { rx_b->run(); });
    taprec::OrderedMerge merge({&ring_a, &ring_b});
    DelayResult result;
    std::array<taprec::PacketRef, 32> burst;
    while (!merge.finished()) {
        const size_t n = merge.pop_ordered(burst);
        result.output.insert(result.output.end(), burst.begin(), burst.begin() + n);
        if (n == 0) std::this_thread::sleep_for(1ms);
    }
    ta.join();
    tb.join();
    result.late_a = merge.late_count(0);
    result.late_b = merge.late_count(1);
    return result;
}

}  // namespace

TEST_CASE("a direction delayed by less than the window is waited for: ordered, nothing late",
          "[slow][merge]") {
    const DelayResult r = merge_with_delay(100'000'000, 400'000'000);
    CHECK(r.output.size() == 100);
    CHECK(std::is_sorted(r.output.begin(), r.output.end(),
                         [](const auto& x, const auto& y) { return x.ts_ns < y.ts_ns; }));
    CHECK(r.late_a + r.late_b == 0);
}

TEST_CASE("a direction delayed by more than the window is written anyway and counted late",
          "[slow][merge]") {
    const DelayResult r = merge_with_delay(600'000'000, 200'000'000);
    CHECK(r.output.size() == 100);  // nothing lost
    CHECK(r.late_b > 0);
    CHECK(r.late_a == 0);
}

TEST_CASE("the merge works with DPDK net_pcap ports and with a mix of drivers",
          "[dpdk][merge][e2e]") {
    const std::string capture = GENERATE(as<std::string>{}, "ftp-ipv4.pcap", "ftp-ipv6.pcap",
                                         "vlan-http-session.pcap");
    // dpdk: both directions as net_pcap vdevs; mixed: a through libpcap, b through DPDK.
    const std::string mode = GENERATE(as<std::string>{}, "dpdk", "mixed");
    INFO(capture << " " << mode);
    TempDir dir;
    const Capture original = read_capture(test_data(capture));
    const auto [a, b] = split_directions(original);
    write_capture(dir.path() + "/a.pcap", a);
    write_capture(dir.path() + "/b.pcap", b);
    const std::string port_a = mode == "dpdk"
        ? "{driver: dpdk, device: \"net_pcap0,rx_pcap=" + dir.path() + "/a.pcap\"}"
        : "{driver: pcap, file: \"" + dir.path() + "/a.pcap\"}";
    const std::string port_b = "{driver: dpdk, device: \"net_pcap1,rx_pcap=" + dir.path() + "/b.pcap\"}";
    write_file(dir.path() + "/c.yaml",
               "dpdk: {eal: [\"--no-huge\"], mbufs_per_port: 16383, rx_descriptors: 1024}\n"
               "taps:\n"
               "  - name: m\n"
               "    a: " + port_a + "\n"
               "    b: " + port_b + "\n"
               "    workers: 2\n"
               "threads: {idle: sleep}\n"
               "ring_capacity: 2048\n"
               "output:\n"
               "  directory: " + dir.path() + "/out\n"
               "  rotate: {bytes: 64KiB, seconds: 0}\n"
               "stats: {interval: 1s}\n");
    const RunResult run = run_taprec({"--config", dir.path() + "/c.yaml"});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    // These captures have microsecond stamps, which is all net_pcap carries: exact equality.
    const std::vector<Packet> output = published_packets(dir.path() + "/out/m");
    REQUIRE(output.size() == original.packets.size());
    CHECK(std::is_sorted(output.begin(), output.end(), by_time));
    CHECK(keyed(output) == keyed(original.packets));
    const Json stats = final_stats(dir.path() + "/out/m");
    CHECK(stats.u64("ports.a.written") == a.packets.size());
    CHECK(stats.u64("ports.b.written") == b.packets.size());
    CHECK(stats.u64("ports.a.late") + stats.u64("ports.b.late") == 0);
    CHECK(invariant_holds(stats, "a"));
    CHECK(invariant_holds(stats, "b"));
}
