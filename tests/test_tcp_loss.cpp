// TcpLossEstimator: gaps are holes acknowledged without being seen, once each; wraparound,
// mid-stream starts, retransmissions, keep-alives, SYN and FIN; and on real captures, as many
// gaps as tshark finds lost segments, and one more per data segment taken out.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "capture_files.hpp"
#include "daemon_run.hpp"
#include "pipeline/flow_hash.hpp"
#include "pipeline/huge_array.hpp"
#include "pipeline/packet_headers.hpp"
#include "worker/tcp_loss_estimator.hpp"

using namespace taprec;
using test_support::Capture;
using test_support::Packet;

namespace {

constexpr uint8_t SYN = PacketHeaders::tcp_syn, ACK = PacketHeaders::tcp_ack_flag,
                  FIN = PacketHeaders::tcp_fin, RST = PacketHeaders::tcp_rst;

// A segment from the client (10.0.0.1:40000) or the server (10.0.0.2:80).
PacketHeaders segment(bool from_client, uint32_t seq, uint32_t ack, uint8_t flags, uint32_t len) {
    PacketHeaders h;
    h.network = PacketHeaders::Network::ipv4;
    h.protocol = 6;
    h.has_ports = h.has_tcp = true;
    h.src_addr = IpAddress::ipv4(0x0a000000u | (from_client ? 1u : 2u));
    h.dst_addr = IpAddress::ipv4(0x0a000000u | (from_client ? 2u : 1u));
    h.src_port = from_client ? 40000 : 80;
    h.dst_port = from_client ? 80 : 40000;
    h.tcp_seq = seq;
    h.tcp_ack = ack;
    h.tcp_flags = flags;
    h.tcp_payload = len;
    return h;
}

struct Conversation {
    TcpLossEstimator estimator{1024};
    uint64_t ts = 1;
    void client(uint32_t seq, uint32_t ack, uint8_t flags, uint32_t len = 0) {
        estimator.observe(segment(true, seq, ack, flags, len), 0, ts++);
    }
    void server(uint32_t seq, uint32_t ack, uint8_t flags, uint32_t len = 0) {
        estimator.observe(segment(false, seq, ack, flags, len), 1, ts++);
    }
    // What is judged once both ports have finished.
    uint64_t gaps(uint16_t port) {
        estimator.settle_all();
        return estimator.counters().gaps[port].get();
    }
    uint64_t gap_bytes(uint16_t port) {
        estimator.settle_all();
        return estimator.counters().gap_bytes[port].get();
    }
    uint64_t acks(uint16_t port) const { return estimator.counters().acks[port].get(); }
};

// Handshake, then the client sends `segments` of 100 bytes, each ACKed by the server, then FINs.
void full_exchange(Conversation& c, uint32_t isn_client, uint32_t isn_server, int segments,
                   int skip_segment = -1) {
    c.client(isn_client, 0, SYN);
    c.server(isn_server, isn_client + 1, SYN | ACK);
    c.client(isn_client + 1, isn_server + 1, ACK);
    uint32_t seq = isn_client + 1;
    for (int i = 0; i < segments; ++i) {
        if (i != skip_segment) c.client(seq, isn_server + 1, ACK, 100);
        seq += 100;
        c.server(isn_server + 1, seq, ACK);
    }
    c.client(seq, isn_server + 1, FIN | ACK);
    c.server(isn_server + 1, seq + 1, FIN | ACK);
    c.client(seq + 1, isn_server + 2, ACK);
}

}  // namespace

TEST_CASE("a complete exchange has no gap", "[fast][tcp_loss]") {
    Conversation c;
    full_exchange(c, 1000, 5000, 10);
    CHECK(c.gaps(0) == 0);
    CHECK(c.gaps(1) == 0);
    CHECK(c.acks(0) == 12);  // SYN-ACK, 10 data ACKs, FIN-ACK: each advances
}

TEST_CASE("a data segment that never arrived is one gap of its size", "[fast][tcp_loss]") {
    Conversation c;
    full_exchange(c, 1000, 5000, 10, 4);
    CHECK(c.gaps(0) == 1);
    CHECK(c.gap_bytes(0) == 100);
    CHECK(c.gaps(1) == 0);
}

TEST_CASE("a hole covered by many ACKs counts once", "[fast][tcp_loss]") {
    Conversation c;
    c.client(1, 0, SYN);
    c.server(100, 2, SYN | ACK);
    c.client(2, 101, ACK, 100);   // 2..102
    c.client(202, 101, ACK, 100); // 102..202 is missing
    for (int i = 0; i < 5; ++i) c.server(101, 302, ACK);  // duplicate ACKs above the hole
    c.server(101, 402, ACK);      // and beyond anything seen
    CHECK(c.gaps(0) == 2);        // the hole, then the data beyond 302
    CHECK(c.gap_bytes(0) == 200);
}

TEST_CASE("a hole filled by a reordered segment is no gap", "[fast][tcp_loss]") {
    Conversation c;
    c.client(1, 0, SYN);
    c.server(100, 2, SYN | ACK);
    c.client(102, 101, ACK, 100);  // arrives before 2..102
    c.client(2, 101, ACK, 100);
    c.server(101, 202, ACK);
    CHECK(c.gaps(0) == 0);
}

TEST_CASE("retransmissions and keep-alives count nothing", "[fast][tcp_loss]") {
    Conversation c;
    full_exchange(c, 1000, 5000, 3);
    c.client(1201, 5001, ACK, 100);  // a retransmission of old data
    c.client(1302, 5002, ACK, 0);    // keep-alive: one below the next sequence number
    c.client(1302, 5002, ACK, 1);    // keep-alive with one garbage byte
    c.server(5002, 1303, ACK);
    CHECK(c.gaps(0) == 0);
    CHECK(c.gaps(1) == 0);
}

TEST_CASE("sequence numbers wrap around 2^32", "[fast][tcp_loss]") {
    Conversation c;
    full_exchange(c, 0xffffff00u, 0xfffffff0u, 10);
    CHECK(c.gaps(0) == 0);
    CHECK(c.gaps(1) == 0);
    Conversation d;
    full_exchange(d, 0xffffff00u, 0xfffffff0u, 10, 3);  // the hole straddles the wrap
    CHECK(d.gaps(0) == 1);
    CHECK(d.gap_bytes(0) == 100);
}

TEST_CASE("a connection first seen mid-stream starts clean", "[fast][tcp_loss]") {
    Conversation c;
    c.client(50000, 9000, ACK, 100);
    c.server(9000, 50100, ACK);
    c.client(50100, 9000, ACK, 100);
    c.server(9000, 50200, ACK);
    CHECK(c.gaps(0) == 0);
    // An ACK for data of a side never seen proves nothing.
    Conversation d;
    d.server(9000, 77777, ACK);
    CHECK(d.gaps(0) == 0);
    CHECK(d.acks(0) == 0);
}

TEST_CASE("SYN and FIN take one sequence number each; RST acknowledges nothing",
          "[fast][tcp_loss]") {
    Conversation c;
    c.client(1, 0, SYN);
    c.server(100, 2, SYN | ACK);  // acknowledges the SYN only
    c.client(2, 101, FIN | ACK);
    c.server(101, 3, FIN | ACK);  // acknowledges the FIN
    c.client(3, 102, ACK);
    CHECK(c.gaps(0) == 0);
    CHECK(c.gaps(1) == 0);
    c.server(102, 900, RST | ACK);  // a reset's ACK field is not a promise
    CHECK(c.gaps(0) == 0);
}

TEST_CASE("a full table replaces its oldest flows and counts them", "[fast][tcp_loss]") {
    TcpLossEstimator estimator(8);
    for (uint32_t i = 0; i < 100; ++i) {
        PacketHeaders h = segment(true, 1, 0, SYN, 0);
        h.src_port = uint16_t(1000 + i);
        estimator.observe(h, 0, i + 1);
    }
    CHECK(estimator.counters().evictions.get() >= 92);
}

TEST_CASE("flows that differ only in an address's low bits and a port keep distinct hashes",
          "[fast][tcp_loss]") {
    // A sensor's busy link: many clients of one /16 talking to one server. A hash that combined
    // a port with the address bits before mixing them gave 16384 such flows 8135 values, and the
    // estimator's table then replaced live flows (the bench's ACK count fell by 4/5).
    std::set<uint64_t> hashes, slots;
    for (uint32_t flow = 0; flow < 16384; ++flow) {
        for (const bool ipv6 : {false, true}) {
            const uint32_t client4 = 0x0a000000u | (flow >> 8) << 8 | (flow & 0xff);
            const IpAddress client = ipv6 ? IpAddress{0x20010db800000000u, client4} : IpAddress::ipv4(client4);
            const IpAddress server = ipv6 ? IpAddress{0x20010db800000000u, 0x0a010001u}
                                          : IpAddress::ipv4(0x0a010001u);
            const uint16_t client_port = uint16_t(1024 + (flow * 40507u) % 64512u);
            EndpointPair one_way, other_way;
            const bool client_low = order_endpoints(client, client_port, server, 4789, one_way);
            CHECK(order_endpoints(server, 4789, client, client_port, other_way) != client_low);
            const uint64_t h = endpoint_pair_hash(one_way, 6);
            REQUIRE(endpoint_pair_hash(other_way, 6) == h);
            hashes.insert(h);
            if (!ipv6) slots.insert(h & 65535);
        }
    }
    CHECK(hashes.size() == 2 * 16384);
    // 16384 keys thrown at random into 65536 slots fill 14,497 on average.
    CHECK(slots.size() > 14000);
}

TEST_CASE("a table four times the flows it holds replaces almost none of them", "[fast][tcp_loss]") {
    TcpLossEstimator estimator(65536);
    uint64_t ts = 1;
    for (int round = 0; round < 2; ++round)
        for (uint32_t flow = 0; flow < 16384; ++flow) {
            PacketHeaders h = segment(true, 1 + uint32_t(round) * 100, 0, round == 0 ? SYN : ACK, 100);
            h.src_addr = IpAddress::ipv4(0x0a000000u | (flow >> 8) << 8 | (flow & 0xff));
            h.src_port = uint16_t(1024 + (flow * 40507u) % 64512u);
            estimator.observe(h, 0, ts++);
        }
    CHECK(estimator.counters().evictions.get() <= 16);  // 0.1 %: eight probes find room
}

TEST_CASE("one worker's share of the flows spreads over its whole table", "[fast][tcp_loss]") {
    // The rx thread sends a flow to worker hash % workers; the table must not index by the same
    // low bits, or a worker of eight would start every probe in an eighth of its slots. 40,000
    // flows in 65,536 slots: worker 0 of 8's share evicted 837 that way against 563 for as many
    // flows of every worker; with the probe starting at the hash's high half, 575 against 551.
    auto evictions = [](uint32_t workers) {
        TcpLossEstimator estimator(65536);
        uint64_t ts = 1;
        uint32_t taken = 0;
        for (uint32_t flow = 0; taken < 40000; ++flow) {
            PacketHeaders h = segment(true, 1, 0, SYN, 0);
            h.src_addr = IpAddress::ipv4(0x0a000000u + flow);
            h.src_port = uint16_t(1024 + flow % 60000);
            EndpointPair pair;
            order_endpoints(h.src_addr, h.src_port, h.dst_addr, h.dst_port, pair);
            if (uint32_t(endpoint_pair_hash(pair, 6)) % workers != 0) continue;  // worker 0's share
            ++taken;
            estimator.observe(h, 0, ts++);
        }
        return estimator.counters().evictions.get();
    };
    const uint64_t all = evictions(1), share = evictions(8);
    INFO("all flows " << all << ", worker 0 of 8 " << share);
    CHECK(double(share) < 1.2 * double(all));
}

TEST_CASE("the flow table's memory: zeroed, on a 2 MiB boundary, movable", "[fast][tcp_loss]") {
    HugeArray<uint64_t> table(300'000);
    REQUIRE(table.size() == 300'000);
    CHECK(reinterpret_cast<uintptr_t>(table.data()) % HugeArray<uint64_t>::huge_page == 0);
    CHECK(std::all_of(table.data(), table.data() + table.size(), [](uint64_t v) { return v == 0; }));
    table[299'999] = 7;
    HugeArray<uint64_t> moved = std::move(table);
    CHECK(table.empty());
    CHECK(moved[299'999] == 7);
    CHECK(HugeArray<uint64_t>(0).empty());
}

namespace {

long tshark_count(const std::string& file, const std::string& filter) {
    const std::string cmd = "tshark -n -r '" + file + "' -Y '" + filter + "' 2>/dev/null | wc -l";
    FILE* p = popen(cmd.c_str(), "r");
    long n = -1;
    if (p != nullptr && std::fscanf(p, "%ld", &n) != 1) n = -1;
    if (p != nullptr) pclose(p);
    return n;
}

uint64_t total(const PerPort<Counter>& c) { return c[0].get() + c[1].get(); }

// Gaps the estimator finds over a whole capture.
uint64_t gaps_in(const Capture& c) {
    TcpLossEstimator estimator(65536);
    for (const Packet& p : c.packets)
        estimator.observe(parse_headers(std::span(reinterpret_cast<const std::byte*>(p.bytes.data()),
                                                  p.bytes.size()),
                                        c.link_type),
                          0, p.ts_ns);
    estimator.settle_all();
    return total(estimator.counters().gaps);
}

}  // namespace

TEST_CASE("real captures: as many gaps as tshark finds lost segments", "[fast][tcp_loss]") {
    const std::string name = GENERATE(as<std::string>{}, "ftp-ipv4.pcap", "ftp-ipv6.pcap",
                                      "vlan-http-session.pcap", "loopback-oversized-frames.pcap",
                                      "nsec-be-http-loopback.pcap", "usec-be-pptp.pcap");
    INFO(name);
    const std::string path = test_support::test_data(name);
    const uint64_t gaps = gaps_in(test_support::read_capture(path));
    test_support::require_program("tshark", "tshark");  // else wc -l would count 0 lines
    const long judged = tshark_count(path, "tcp.analysis.ack_lost_segment");
    REQUIRE(judged >= 0);
    CHECK(gaps == uint64_t(judged));
}

TEST_CASE("real captures with data segments taken out: one gap per hole; pure ACKs taken out: "
          "none", "[fast][tcp_loss]") {
    const Capture original = test_support::read_capture(test_support::test_data("ftp-ipv4.pcap"));
    // Drop every 7th data segment (payload > 0) and, separately, every pure ACK.
    Capture holes = original, no_acks = original;
    holes.packets.clear();
    no_acks.packets.clear();
    size_t removed = 0, data_seen = 0;
    for (const Packet& p : original.packets) {
        const PacketHeaders h = parse_headers(
            std::span(reinterpret_cast<const std::byte*>(p.bytes.data()), p.bytes.size()),
            original.link_type);
        const bool data = h.has_tcp && h.tcp_payload > 0;
        const bool pure_ack = h.has_tcp && h.tcp_payload == 0 &&
                              h.tcp_flags == PacketHeaders::tcp_ack_flag;
        if (data && ++data_seen % 7 == 0) ++removed;
        else holes.packets.push_back(p);
        if (!pure_ack) no_acks.packets.push_back(p);
    }
    REQUIRE(removed > 3);

    const long judged = tshark_count(test_support::test_data("ftp-ipv4.pcap"),
                                     "tcp.analysis.ack_lost_segment");
    const uint64_t baseline = judged < 0 ? 0 : uint64_t(judged);
    CHECK(gaps_in(holes) == baseline + removed);
    CHECK(gaps_in(no_acks) == baseline);
}

namespace {

// Ethernet + IPv4 + TCP frame with `payload` bytes, for a conversation the test controls.
Packet tcp_frame(bool from_client, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t payload,
                 uint64_t ts_ns) {
    std::vector<unsigned char> f(14 + 20 + 20 + payload, 0);
    f[12] = 0x08;
    unsigned char* ip = &f[14];
    ip[0] = 0x45;
    const uint16_t ip_len = uint16_t(20 + 20 + payload);
    ip[2] = uint8_t(ip_len >> 8);
    ip[3] = uint8_t(ip_len);
    ip[8] = 64;
    ip[9] = 6;
    const unsigned char client[4] = {10, 0, 0, 1}, server[4] = {10, 0, 0, 2};
    std::copy(from_client ? client : server, (from_client ? client : server) + 4, ip + 12);
    std::copy(from_client ? server : client, (from_client ? server : client) + 4, ip + 16);
    unsigned char* tcp = ip + 20;
    const uint16_t sport = from_client ? 40000 : 80, dport = from_client ? 80 : 40000;
    tcp[0] = uint8_t(sport >> 8);
    tcp[1] = uint8_t(sport);
    tcp[2] = uint8_t(dport >> 8);
    tcp[3] = uint8_t(dport);
    for (int i = 0; i < 4; ++i) tcp[4 + i] = uint8_t(seq >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) tcp[8 + i] = uint8_t(ack >> (24 - 8 * i));
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    Packet p;
    p.ts_ns = ts_ns;
    p.caplen = p.wire_len = uint32_t(f.size());
    p.bytes = std::move(f);
    return p;
}

}  // namespace

namespace {

// Every counter of an estimator, for a CHECK to print.
std::string counters_text(const TcpLossEstimator& e) {
    const TcpLossCounters& c = e.counters();
    std::string text;
    for (uint16_t port = 0; port < 2; ++port)
        text += "acks " + std::to_string(c.acks[port].get()) + " gaps " +
                std::to_string(c.gaps[port].get()) + " bytes " +
                std::to_string(c.gap_bytes[port].get()) + "; ";
    return text + "evictions " + std::to_string(c.evictions.get());
}

// Many connections interleaved at random (fixed seed): data segments of which some never reach
// us, ACKs, retransmissions; timestamps that tie often. Client to server on port a, back on b.
Capture lossy_conversations(int connections, int segments) {
    std::mt19937 random(19);
    struct Connection {
        uint32_t client_seq = 1000, server_seq = 9000;
    };
    std::vector<Connection> conns(size_t(connections), Connection{});
    Capture c;
    c.link_type = 1;
    uint64_t ts = 1'000'000;
    for (int i = 0; i < segments; ++i) {
        const size_t k = random() % conns.size();
        Connection& conn = conns[k];
        const bool from_client = random() % 2 == 0;
        ts += (random() % 3 == 0) ? 1000 : 0;
        uint32_t& seq = from_client ? conn.client_seq : conn.server_seq;
        const uint32_t ack = from_client ? conn.server_seq : conn.client_seq;
        const uint16_t len = uint16_t(random() % 4 == 0 ? 0 : 100);
        const uint32_t sent = random() % 8 == 0 ? seq - len : seq;  // a retransmission
        Packet p = tcp_frame(from_client, sent, ack, ACK, len, ts);
        const uint16_t client_port = uint16_t(40000 + k);
        p.bytes[14 + 20 + (from_client ? 0 : 2)] = uint8_t(client_port >> 8);
        p.bytes[14 + 20 + (from_client ? 1 : 3)] = uint8_t(client_port);
        if (sent == seq) seq += len;
        if (len != 0 && random() % 10 == 0) continue;  // lost before the sensor
        c.packets.push_back(std::move(p));
    }
    return c;
}

// What a worker's burst loop would do with `c`, as PacketRefs into it, ports by direction (the
// higher port number, the client's, sends on a).
std::vector<PacketRef> refs_of(const Capture& c) {
    std::vector<PacketRef> refs;
    for (const Packet& p : c.packets) {
        const auto* data = reinterpret_cast<const std::byte*>(p.bytes.data());
        const PacketHeaders h = parse_headers(std::span(data, p.bytes.size()), c.link_type);
        const uint16_t port = h.has_ports && h.src_port < h.dst_port ? 1 : 0;
        refs.push_back(PacketRef{data, nullptr, p.ts_ns, uint32_t(p.bytes.size()), p.wire_len,
                                 port, 0});
    }
    return refs;
}

}  // namespace

TEST_CASE("a burst observed whole counts what its packets observed one at a time count",
          "[fast][tcp_loss]") {
    const std::string name = GENERATE(as<std::string>{}, "", "ftp-ipv4.pcap", "ftp-ipv6.pcap",
                                      "vlan-http-session.pcap", "usec-be-pptp.pcap");
    const uint32_t flows = GENERATE(8u, 65536u);  // 8, the smallest table: flows get evicted
    const size_t burst = GENERATE(size_t(1), size_t(7), size_t(45));  // 45: over one chunk
    INFO((name.empty() ? "lossy conversations" : name) << ", " << flows << " flows, bursts of "
                                                       << burst);
    const Capture c = name.empty() ? lossy_conversations(40, 20000)
                                   : test_support::read_capture(test_support::test_data(name));
    const std::vector<PacketRef> refs = refs_of(c);
    TcpLossEstimator one_by_one(flows), whole(flows);
    for (size_t at = 0; at < refs.size(); at += burst) {
        const std::span<const PacketRef> part =
            std::span(refs).subspan(at, std::min(burst, refs.size() - at));
        for (const PacketRef& p : part)
            one_by_one.observe(parse_headers(p.head(), c.link_type), p.port, p.ts_ns);
        whole.observe_burst(part, c.link_type);
        // The worker settles once a step, on its inputs' frontiers.
        one_by_one.settle(1, part.back().ts_ns);
        whole.settle(1, part.back().ts_ns);
    }
    one_by_one.settle_all();
    whole.settle_all();
    CHECK(counters_text(whole) == counters_text(one_by_one));
    CHECK(total(whole.counters().acks) > 0);
    if (name.empty()) {  // what makes the comparison worth making: gaps, evictions
        CHECK(total(whole.counters().gaps) > (flows == 8 ? 0u : 1000u));
        if (flows == 8) CHECK(whole.counters().evictions.get() > 1000);
    }
}


TEST_CASE("the daemon reports upstream loss per interval, per file, and warns past the threshold",
          "[slow][tcp_loss]") {
    using namespace test_support;
    TempDir dir;
    // 600 data segments of 100 bytes, each ACKed, 3 ms apart; every 10th never reaches us.
    Capture c;
    c.link_type = 1;
    c.snaplen = 262144;
    uint64_t ts = 1'700'000'000'000'000'000ull;
    uint32_t seq = 1000;
    size_t removed = 0;
    c.packets.push_back(tcp_frame(true, seq - 1, 0, SYN, 0, ts));
    c.packets.push_back(tcp_frame(false, 5000, seq, SYN | ACK, 0, ts += 1'000'000));
    for (int i = 0; i < 600; ++i) {
        ts += 3'000'000;
        if (i % 10 == 9) ++removed;
        else c.packets.push_back(tcp_frame(true, seq, 5001, ACK, 100, ts));
        seq += 100;
        c.packets.push_back(tcp_frame(false, 5001, seq, ACK, 0, ts + 100'000));
    }
    write_capture(dir.path() + "/lossy.pcap", c);
    write_file(dir.path() + "/c.yaml",
               "taps:\n"
               "  - name: q\n"
               "    a: {driver: pcap, file: \"" + dir.path() + "/lossy.pcap\", speed: realtime}\n"
               "threads: {idle: sleep}\n"
               "output:\n"
               "  directory: " + dir.path() + "/out\n"
               "  rotate: {bytes: 0, seconds: 0, packets: 400}\n"
               "stats: {interval: 1s, loss_warn_percent: 5}\n");
    const RunResult run = run_taprec({"--config", dir.path() + "/c.yaml"});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(run.output.find("upstream loss estimate") != std::string::npos);
    const Json stats = final_stats(dir.path() + "/out/q");
    CHECK(stats.u64("ports.a.tcp_ack_gaps") == removed);
    // Advancing ACKs: the SYN-ACK's, the client's first (of the SYN-ACK), and the 600 data ACKs.
    CHECK(stats.u64("ports.a.tcp_acks") == 602);
    CHECK(stats.at("ports.a.upstream_loss_percent").number ==
          Approx(100.0 * double(removed) / 602.0).epsilon(0.001));
    uint64_t gaps_in_files = 0, acks_in_files = 0;
    const auto lines = read_lines(dir.path() + "/out/q/.meta/index.jsonl");
    CHECK(lines.size() >= 3);
    for (const std::string& line : lines) {
        const Json entry = parse_json(line);
        gaps_in_files += entry.u64("ports.a.tcp_ack_gaps");
        acks_in_files += entry.u64("ports.a.tcp_acks");
    }
    CHECK(gaps_in_files == removed);
    CHECK(acks_in_files == 602);
}

TEST_CASE("an ACK waits for data of the same time from the other port; a real hole still counts "
          "once", "[fast][tcp_loss]") {
    // The merge puts equal timestamps a before b: here the client's ACK (port a) comes out before
    // the server's data it acknowledges (port b), both stamped at t.
    TcpLossEstimator e(1024);
    auto client = [&](uint32_t seq, uint32_t ack, uint8_t flags, uint64_t t) {
        e.observe(segment(true, seq, ack, flags, 0), 0, t);
    };
    auto server = [&](uint32_t seq, uint32_t ack, uint8_t flags, uint32_t len, uint64_t t) {
        e.observe(segment(false, seq, ack, flags, len), 1, t);
    };
    client(1, 0, SYN, 10);
    server(100, 2, SYN | ACK, 0, 20);
    client(2, 101, ACK, 20);  // acknowledges the SYN-ACK of the same time: seen, nothing waits
    uint32_t seq = 101;
    uint64_t t = 30;
    for (int i = 0; i < 20; ++i, t += 10) {
        client(2, seq + 100, ACK, t);               // the ACK first...
        if (i != 7 && i != 13) server(seq, 2, ACK, 100, t);  // ...then its data, same time
        seq += 100;
    }
    // Port b has moved past every ACK but the last; the last waits for b's watermark.
    CHECK(e.counters().gaps[1].get() == 2);
    CHECK(e.counters().gap_bytes[1].get() == 200);
    CHECK(e.counters().acks[1].get() == 21);
    e.settle(1, t - 10);  // b may still deliver at the last ACK's time: nothing to judge yet
    CHECK(e.counters().gaps[1].get() == 2);
    e.settle(1, t);       // b is past it, and the data was there
    CHECK(e.counters().gaps[1].get() == 2);

    // The same ACK past data that never comes, judged when the port's watermark passes it.
    client(2, seq + 100, ACK, t);
    e.settle(1, t);
    CHECK(e.counters().gaps[1].get() == 2);
    e.settle(1, t + 1);
    CHECK(e.counters().gaps[1].get() == 3);
    CHECK(e.counters().gap_bytes[1].get() == 300);
    e.settle_all();
    CHECK(e.counters().gaps[1].get() == 3);  // once, however often it is settled
}

TEST_CASE("waiting ACKs are bounded: a full queue judges its oldest at once", "[fast][tcp_loss]") {
    TcpLossEstimator e(1024);
    e.observe(segment(true, 1, 0, SYN, 0), 0, 1);
    e.observe(segment(false, 100, 2, SYN | ACK, 0), 1, 1);
    // Every ACK is past data never seen and all share one time: none can be judged by time.
    const uint32_t n = TcpLossEstimator::pending_capacity + 10;
    for (uint32_t i = 1; i <= n; ++i) e.observe(segment(true, 2, 101 + 100 * i, ACK, 0), 0, 2);
    CHECK(e.counters().gaps[1].get() == 10);
    e.settle_all();
    CHECK(e.counters().gaps[1].get() == n);
    CHECK(e.counters().gap_bytes[1].get() == 100 * uint64_t(n));
}

TEST_CASE("a waiting ACK of a flow replaced in the table is dropped, not judged on another flow",
          "[fast][tcp_loss]") {
    TcpLossEstimator e(8);  // one probe window: the ninth flow replaces the oldest
    e.observe(segment(true, 1, 0, SYN, 0), 0, 1);
    e.observe(segment(false, 100, 2, SYN | ACK, 0), 1, 2);
    e.observe(segment(true, 2, 5000, ACK, 0), 0, 3);  // past unseen data: waits
    for (uint32_t i = 0; i < 64; ++i) {
        PacketHeaders h = segment(false, 7, 0, SYN, 0);
        h.src_port = uint16_t(2000 + i);
        e.observe(h, 0, 4 + i);
    }
    REQUIRE(e.counters().evictions.get() > 0);  // the first flow, the oldest, went first
    e.settle_all();
    // Judged against the slot's new occupant it would be a gap on port a (that flow's data side).
    CHECK(e.counters().gaps[0].get() == 0);
    CHECK(e.counters().gaps[1].get() == 0);
}

namespace {

// Total ACK gaps of a daemon run of the tap whose ports replay `a` (and `b`).
uint64_t daemon_gaps(const test_support::TempDir& dir, const std::string& name,
                     const test_support::Capture& a, const test_support::Capture* b) {
    using namespace test_support;
    const std::string base = dir.path() + "/" + name;
    write_capture(base + "-a.pcap", a);
    std::string ports = "    a: {driver: pcap, file: \"" + base + "-a.pcap\"}\n";
    if (b != nullptr) {
        write_capture(base + "-b.pcap", *b);
        ports += "    b: {driver: pcap, file: \"" + base + "-b.pcap\"}\n";
    }
    write_file(base + ".yaml", "taps:\n  - name: t\n" + ports +
                                   "threads: {idle: sleep}\n"
                                   "output: {directory: " + base + "-out, snaplen: 262144}\n"
                                   "stats: {interval: 1s}\n");
    const RunResult run = run_taprec({"--config", base + ".yaml"});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const Json stats = final_stats(base + "-out/t");
    return stats.u64("ports.a.tcp_ack_gaps") + (b != nullptr ? stats.u64("ports.b.tcp_ack_gaps") : 0);
}

}  // namespace

TEST_CASE("a real capture split by direction, both ways, reports no more ACK gaps than on one "
          "port", "[slow][tcp_loss]") {
    using namespace test_support;
    // vlan-http-session has 10 ms timestamps, so data and its ACK tie; the others microseconds.
    const std::string name = GENERATE(as<std::string>{}, "vlan-http-session.pcap", "ftp-ipv4.pcap",
                                      "ftp-ipv6.pcap", "loopback-oversized-frames.pcap",
                                      "nsec-be-http-loopback.pcap", "tcp-snaplen96.pcap",
                                      "usec-be-pptp.pcap");
    INFO(name);
    TempDir dir;
    const Capture original = read_capture(test_data(name));
    const auto [a, b] = split_directions(original);
    const uint64_t one_port = daemon_gaps(dir, "one", original, nullptr);
    CHECK(daemon_gaps(dir, "split", a, &b) <= one_port);
    CHECK(daemon_gaps(dir, "swapped", b, &a) <= one_port);
}

TEST_CASE("synthetic traffic with data and ACKs at equal times: exactly the holes, on one port "
          "and split both ways, as tshark counts them", "[slow][tcp_loss]") {
    using namespace test_support;
    TempDir dir;
    // The server (port 80) sends 300 segments; the client ACKs each at the segment's own
    // microsecond; every 25th segment never reaches the sensor.
    Capture c;
    c.link_type = 1;
    c.snaplen = 262144;
    uint64_t ts = 1'700'000'000'000'000'000ull;
    uint32_t seq = 5001;
    size_t removed = 0;
    c.packets.push_back(tcp_frame(true, 999, 0, SYN, 0, ts));
    c.packets.push_back(tcp_frame(false, 5000, 1000, SYN | ACK, 0, ts += 1000));
    c.packets.push_back(tcp_frame(true, 1000, 5001, ACK, 0, ts += 1000));
    for (int i = 0; i < 300; ++i) {
        ts += 1000;
        if (i % 25 == 24) ++removed;
        else c.packets.push_back(tcp_frame(false, seq, 1000, ACK, 100, ts));
        seq += 100;
        c.packets.push_back(tcp_frame(true, 1000, seq, ACK, 0, ts));
    }
    REQUIRE(removed == 12);
    write_capture(dir.path() + "/holes.pcap", c);
    const long judged = tshark_count(dir.path() + "/holes.pcap", "tcp.analysis.ack_lost_segment");
    if (judged >= 0) CHECK(judged == long(removed));  // the ground truth, as tshark sees it
    const auto [a, b] = split_directions(c);  // a: the client's ACKs, b: the server's data
    REQUIRE(a.packets.size() == 302);
    CHECK(daemon_gaps(dir, "one", c, nullptr) == removed);
    CHECK(daemon_gaps(dir, "split", a, &b) == removed);
    CHECK(daemon_gaps(dir, "swapped", b, &a) == removed);
}

TEST_CASE("high upstream loss over few ACKs warns only once stats.loss_warn_min_acks allows it",
          "[slow][tcp_loss]") {
    using namespace test_support;
    TempDir dir;
    // 60 segments 50 ms apart at the recorded pace, each ACKed, every 5th never reaching us: 20 %
    // estimated loss over about 20 ACKs a second, under the default floor of 100.
    Capture c;
    c.link_type = 1;
    c.snaplen = 262144;
    uint64_t ts = 1'700'000'000'000'000'000ull;
    uint32_t seq = 1000;
    c.packets.push_back(tcp_frame(true, seq - 1, 0, SYN, 0, ts));
    c.packets.push_back(tcp_frame(false, 5000, seq, SYN | ACK, 0, ts += 1'000'000));
    for (int i = 0; i < 60; ++i) {
        ts += 50'000'000;
        if (i % 5 != 4) c.packets.push_back(tcp_frame(true, seq, 5001, ACK, 100, ts));
        seq += 100;
        c.packets.push_back(tcp_frame(false, 5001, seq, ACK, 0, ts + 1'000'000));
    }
    write_capture(dir.path() + "/lossy.pcap", c);
    const auto run_with = [&](const std::string& stats_extra) {
        const std::string out = dir.path() + "/out" + std::to_string(stats_extra.size());
        write_file(dir.path() + "/c.yaml",
                   "taps:\n"
                   "  - name: q\n"
                   "    a: {driver: pcap, file: \"" + dir.path() + "/lossy.pcap\", speed: realtime}\n"
                   "threads: {idle: sleep}\n"
                   "output: {directory: " + out + "}\n"
                   "stats: {interval: 1s, loss_warn_percent: 5" + stats_extra + "}\n");
        const RunResult run = run_taprec({"--config", dir.path() + "/c.yaml"});
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        REQUIRE(final_stats(out + "/q").u64("ports.a.tcp_ack_gaps") == 12);
        return run.output;
    };
    CHECK_FALSE(contains(run_with(""), "upstream loss estimate"));
    CHECK(contains(run_with(", loss_warn_min_acks: 10"), "upstream loss estimate"));
}
