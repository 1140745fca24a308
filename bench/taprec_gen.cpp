// taprec-gen: the load generator of the bench. Sends the two directions of a TAP on two DPDK
// ports (memif: the wire), at an exact rate from a token bucket on the TSC, with every frame
// tagged with its direction and sequence number so bench/seqcheck can prove each loss.
//
//   taprec_gen [EAL args] -- --rate PPS|--gbps G  --seconds S  [--size N|imix|pcap:FILE]
//                            [--flows N] [--burst N] [--queues N]   (--help lists them all)
// Port 0 sends direction a (client to server), port 1 (if present) direction b. With --queues N
// each port has N TX queues and a flow goes out on the queue a NIC with a symmetric RSS key would
// give it (Toeplitz, key 0x6d5a repeated, over addresses and ports), the same on both ports: the
// receiver's queue i of both ports carries the same connections, as behind such a NIC. One line of JSON
// at the end: what was offered, what each port accepted (sent) and refused (tx_dropped).
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_thash.h>

#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_frame.hpp"

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

struct Options {
    double rate_pps = 1e6;
    double gbps = 0;
    double seconds = 5;
    std::string size = "64";
    uint16_t flows = 1024;
    uint16_t burst = 32;
    uint16_t queues = 1;
    double delay = 1.0;  // seconds between link up and the first frame: the receiver starts polling
    double linger = 1.0; // seconds between the last frame and taking the link down
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(stderr, "taprec_gen: %s\nusage: taprec_gen [EAL args] -- --rate PPS | --gbps G "
                         "--seconds S [--size N|imix|pcap:FILE] [--flows N] [--burst N] [--delay S] [--linger S] [--queues N]\n", message);
    std::exit(2);
}

// Its own options, on stdout; DPDK's EAL arguments are DPDK's (`dpdk-testpmd --help` lists them).
[[noreturn]] void help() {
    const Options d;
    std::printf(
        "usage: taprec_gen [EAL args] -- --rate PPS | --gbps G  --seconds S  [options]\n"
        "The bench's load generator: sends the two directions of a TAP on two DPDK ports (port 0\n"
        "direction a, port 1 direction b), each frame tagged with its direction and sequence\n"
        "number, and prints one JSON line of what was offered, sent and refused.\n"
        "\n"
        "  --rate PPS      frames per second over both ports (default %.0f)\n"
        "  --gbps G        or a rate in Gbit/s on the wire (frames + 24 B of preamble, gap, FCS)\n"
        "  --seconds S     how long to send (default %.0f)\n"
        "  --size N        frame size 64..9000, imix, or pcap:FILE for a capture's sizes (default %s)\n"
        "  --flows N       connections the frames cycle through (default %u)\n"
        "  --burst N       frames per tx burst, 1..64 (default %u)\n"
        "  --delay S       wait between link up and the first frame (default %.1f)\n"
        "  --linger S      wait between the last frame and link down (default %.1f)\n"
        "  -h, --help      this text\n"
        "\n"
        "EAL args are DPDK's own, e.g. --no-huge --no-pci --file-prefix gen\n"
        "  --vdev net_memif0,role=server,socket=/tmp/a.sock [--vdev net_memif1,...]\n",
        d.rate_pps, d.seconds, d.size.c_str(), unsigned(d.flows), unsigned(d.burst), d.delay,
        d.linger);
    std::exit(0);
}

bool asks_for_help(const std::string& arg) { return arg == "--help" || arg == "-h"; }

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 0; i < argc; ++i) {
        const std::string arg = argv[i];
        if (asks_for_help(arg)) help();
        if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
        const char* v = argv[++i];
        char* end = nullptr;
        if (arg == "--rate") o.rate_pps = std::strtod(v, &end);
        else if (arg == "--gbps") o.gbps = std::strtod(v, &end);
        else if (arg == "--seconds") o.seconds = std::strtod(v, &end);
        else if (arg == "--size") { o.size = v; continue; }
        else if (arg == "--flows") o.flows = uint16_t(std::strtoul(v, &end, 10));
        else if (arg == "--burst") o.burst = uint16_t(std::strtoul(v, &end, 10));
        else if (arg == "--delay") o.delay = std::strtod(v, &end);
        else if (arg == "--linger") o.linger = std::strtod(v, &end);
        else if (arg == "--queues") o.queues = uint16_t(std::strtoul(v, &end, 10));
        else usage(("unknown option " + arg).c_str());
        if (end == v || *end != '\0') usage(("bad number for " + arg + ": " + v).c_str());
    }
    if (o.burst == 0 || o.burst > 64) usage("--burst must be 1..64");
    if (o.flows == 0) usage("--flows must be at least 1");
    if (o.queues == 0 || o.queues > 16) usage("--queues must be 1..16");
    return o;
}

// Frame lengths in the order they are sent, cycled.
std::vector<uint16_t> frame_sizes(const std::string& spec) {
    if (spec == "imix") {  // simple IMIX 7:4:1 of 64, 570, 1514 bytes
        std::vector<uint16_t> v;
        for (int i = 0; i < 7; ++i) v.push_back(64);
        for (int i = 0; i < 4; ++i) v.push_back(570);
        v.push_back(1514);
        std::rotate(v.begin(), v.begin() + 5, v.end());  // mix them, not 7 small ones in a row
        return v;
    }
    if (spec.rfind("pcap:", 0) == 0) {
        char err[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(spec.c_str() + 5, err);
        if (p == nullptr) usage(err);
        std::vector<uint16_t> v;
        pcap_pkthdr* h;
        const u_char* d;
        while (pcap_next_ex(p, &h, &d) == 1)
            v.push_back(uint16_t(std::clamp<uint32_t>(h->len, 64, 1514)));
        pcap_close(p);
        if (v.empty()) usage("the capture has no packets");
        return v;
    }
    char* end = nullptr;
    const unsigned long n = std::strtoul(spec.c_str(), &end, 10);
    if (end == spec.c_str() || *end != '\0' || n < 64 || n > 9000) usage("--size must be 64..9000, imix or pcap:FILE");
    return {uint16_t(n)};
}

void start_port(uint16_t port, rte_mempool* pool, uint16_t queues) {
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(port, queues, queues, &conf) != 0) usage("cannot configure a port");
    for (uint16_t q = 0; q < queues; ++q)
        if (rte_eth_rx_queue_setup(port, q, 256, rte_eth_dev_socket_id(port), nullptr, pool) != 0 ||
            rte_eth_tx_queue_setup(port, q, 1024, rte_eth_dev_socket_id(port), nullptr) != 0)
            usage("cannot set up queues");
    if (rte_eth_dev_start(port) != 0) usage("cannot start a port");
}

// The queue a NIC with a symmetric Toeplitz key gives flow `flow` (the 5-tuple of
// bench::build_frame) in `direction`: the hash modulo the queues, as a redirection table that
// maps entry i to queue i % queues does.
uint16_t symmetric_rss_queue(uint16_t flow, uint8_t direction, uint16_t queues) {
    static const std::array<uint8_t, 40> key = [] {
        std::array<uint8_t, 40> k{};
        for (size_t i = 0; i < k.size(); i += 2) k[i] = 0x6d, k[i + 1] = 0x5a;
        return k;
    }();
    using namespace bench;
    const bool a = direction == 0;
    const uint32_t src = a ? client_ip(flow) : server_ip, dst = a ? server_ip : client_ip(flow);
    const uint16_t sport = a ? client_port(flow) : server_port, dport = a ? server_port : client_port(flow);
    uint32_t tuple[3] = {src, dst, uint32_t(sport) << 16 | dport};
    return uint16_t(rte_softrss(tuple, 3, key.data()) % queues);
}

bool links_up(uint16_t ports) {
    for (uint16_t p = 0; p < ports; ++p) {
        rte_eth_link link{};
        rte_eth_link_get_nowait(p, &link);
        if (link.link_status != RTE_ETH_LINK_UP) return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    // --help anywhere is ours: without this, DPDK's EAL would answer one before the "--".
    for (int i = 1; i < argc; ++i)
        if (asks_for_help(argv[i])) help();
    const int eal_args = rte_eal_init(argc, argv);
    if (eal_args < 0) usage("EAL initialisation failed (see above)");
    Options o = parse(argc - eal_args - 1, argv + eal_args + 1);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    const uint16_t ports = std::min<uint16_t>(rte_eth_dev_count_avail(), 2);
    if (ports == 0) usage("no port: give --vdev net_memif0,... (and net_memif1 for direction b)");
    const std::vector<uint16_t> sizes = frame_sizes(o.size);
    const uint16_t largest = *std::max_element(sizes.begin(), sizes.end());
    rte_mempool* pool = rte_pktmbuf_pool_create("gen", 16383, 256, 0,
                                                uint16_t(RTE_PKTMBUF_HEADROOM + std::max<uint16_t>(largest, 2048)),
                                                int(rte_socket_id()));
    if (pool == nullptr) usage("cannot create the mbuf pool");
    for (uint16_t p = 0; p < ports; ++p) start_port(p, pool, o.queues);
    // The flows each queue carries. A burst goes to one queue, so a refused tail is the last
    // sequence numbers of its direction, which the next frames reuse (see below).
    std::vector<std::vector<uint16_t>> flows_of_queue(o.queues);
    for (uint16_t f = 0; f < o.flows; ++f) {
        const uint16_t q = symmetric_rss_queue(f, 0, o.queues);
        if (q != symmetric_rss_queue(f, 1, o.queues)) usage("the RSS key is not symmetric");
        flows_of_queue[q].push_back(f);
    }
    std::vector<size_t> next_flow(o.queues, 0);
    uint16_t queue = 0;
    while (flows_of_queue[queue].empty()) ++queue;

    // Wait for the receiver to connect: frames sent before that are not an offer.
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t wait_until = rte_rdtsc() + 30 * hz;
    while (!links_up(ports) && rte_rdtsc() < wait_until && !stop_requested) rte_delay_ms(10);
    if (!links_up(ports)) usage("the peer never connected (link down after 30 s)");
    rte_delay_us_sleep(unsigned(o.delay * 1e6));

    double average_size = 0;
    for (uint16_t s : sizes) average_size += s;
    average_size /= double(sizes.size());
    if (o.gbps > 0) o.rate_pps = o.gbps * 1e9 / ((average_size + 24) * 8);  // + preamble, IFG, FCS

    std::array<uint64_t, 2> sent{}, refused{}, sequence{};
    std::array<rte_mbuf*, 64> burst;
    size_t size_index = 0;
    const uint64_t start = rte_rdtsc();
    const uint64_t end = start + uint64_t(o.seconds * double(hz));
    uint64_t offered = 0;
    // Frames that fell due while this generator was off the CPU (a vCPU preempted for up to a few
    // ms, bench/stall_probe) are never offered: the wire was silent meanwhile. Sending them
    // afterwards in one rush at full speed would overflow any receiver's ring and blame it for
    // the generator's stall. The loop takes a few microseconds a round, so a longer gap between
    // two rounds is a stall. Everything else that falls due is offered: sent, or refused by a
    // receiver that is behind.
    uint64_t not_offered = 0;
    const uint64_t stall_ticks = hz / 20'000;  // 50 us
    uint64_t last_round = start;
    auto frames_due = [&](uint64_t now) {
        if (now - last_round > stall_ticks)
            not_offered += uint64_t(double(now - last_round) * o.rate_pps / double(hz));
        last_round = now;
        return uint64_t(double(now - start) * o.rate_pps / double(hz)) - not_offered;
    };
    uint16_t direction = 0;
    while (!stop_requested) {
        const uint64_t now = rte_rdtsc();
        if (now >= end) break;
        // Token bucket: the packets due by now, less those already offered.
        const uint64_t due = frames_due(now);
        if (due <= offered) continue;
        const uint16_t n = uint16_t(std::min<uint64_t>(due - offered, o.burst));
        if (rte_pktmbuf_alloc_bulk(pool, burst.data(), n) != 0) continue;
        for (uint16_t i = 0; i < n; ++i) {
            const uint16_t length = sizes[size_index];
            size_index = size_index + 1 == sizes.size() ? 0 : size_index + 1;
            rte_mbuf* m = burst[i];
            auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, length));
            const std::vector<uint16_t>& flows = flows_of_queue[queue];
            size_t& next = next_flow[queue];
            bench::build_frame(frame, length, {uint8_t(direction), flows[next], sequence[direction]++});
            next = next + 1 == flows.size() ? 0 : next + 1;
        }
        const uint16_t port = ports == 2 ? direction : 0;
        const uint16_t accepted = rte_eth_tx_burst(port, queue, burst.data(), n);
        if (accepted < n) {
            rte_pktmbuf_free_bulk(&burst[accepted], n - accepted);
            // Refused frames never reached the wire: their sequence numbers go to the next frames,
            // so the receiver must see 0..sent-1 of each direction, and any gap is a loss.
            sequence[direction] -= n - accepted;
        }
        sent[direction] += accepted;
        refused[direction] += n - accepted;
        offered += n;
        if (ports == 2) direction ^= 1;
        // Both directions of a queue's flows, then the next queue that has flows.
        if (direction == 0)
            do queue = uint16_t(queue + 1 == o.queues ? 0 : queue + 1);
            while (flows_of_queue[queue].empty());
        if (accepted < n) {
            // The receiver is behind. Like a NIC at line rate, keep offering (and counting what is
            // refused) without hammering the ring's cache lines, which would only slow it further.
            const uint64_t until = rte_rdtsc() + hz / 500'000;  // 2 us
            while (rte_rdtsc() < until) rte_pause();
            const uint64_t missed = frames_due(rte_rdtsc());
            if (missed > offered) {
                const uint64_t skipped = std::min<uint64_t>(missed - offered, end > rte_rdtsc() ? missed - offered : 0);
                refused[direction] += skipped / 2 + (skipped & 1);
                refused[direction ^ (ports == 2 ? 1 : 0)] += skipped / 2;
                offered += skipped;
            }
        }
    }
    const double seconds = double(rte_rdtsc() - start) / double(hz);
    // Keep the link up while the receiver empties the rings: memif drops what is still queued
    // when its peer goes away, and that loss would be the generator's, not the receiver's.
    rte_delay_us_sleep(unsigned(o.linger * 1e6));
    std::printf("{\"seconds\":%.3f,\"rate_pps\":%.0f,\"not_offered\":%" PRIu64 ",\"offered\":%" PRIu64
                ",\"a\":{\"sent\":%" PRIu64 ",\"tx_dropped\":%" PRIu64 "},\"b\":{\"sent\":%" PRIu64
                ",\"tx_dropped\":%" PRIu64 "},\"average_size\":%.1f}\n",
                seconds, o.rate_pps, not_offered, offered, sent[0], refused[0], sent[1], refused[1], average_size);
    std::fflush(stdout);
    for (uint16_t p = 0; p < ports; ++p) rte_eth_dev_stop(p);
    rte_eal_cleanup();
    return 0;
}
