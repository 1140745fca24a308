// filter_throughput: libpcap's BPF interpreter against DPDK's rte_bpf (the same cBPF program
// converted to eBPF by rte_bpf_convert, run by rte_bpf's interpreter and by its JIT), on real
// captures, in packets per second. Every packet must get the same verdict from all three.
//
//   build-*/bench/filter_throughput [ROUNDS] CAPTURE...
//
// rte_bpf_convert allocates with rte_malloc, so this starts a minimal EAL (--no-huge --no-pci).
#define ALLOW_EXPERIMENTAL_API  // rte_bpf_convert is experimental in 22.11
#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Frame {
    pcap_pkthdr header;
    std::vector<u_char> bytes;
    rte_mbuf* mbuf;  // a one-segment mbuf over bytes: what rte_bpf's packet loads read
};

std::vector<Frame> load(const char* path, int& link_type) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path, err);
    if (p == nullptr) {
        std::fprintf(stderr, "%s: %s\n", path, err);
        std::exit(1);
    }
    link_type = pcap_datalink(p);
    std::vector<Frame> frames;
    pcap_pkthdr* h;
    const u_char* data;
    while (pcap_next_ex(p, &h, &data) == 1) {
        frames.push_back({*h, std::vector<u_char>(data, data + h->caplen), nullptr});
    }
    pcap_close(p);
    static std::vector<std::vector<rte_mbuf>> keep;  // the shim mbufs live as long as the run
    keep.emplace_back(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
        Frame& f = frames[i];
        f.mbuf = &keep.back()[i];
        rte_mbuf& m = *f.mbuf;
        m.buf_addr = f.bytes.data();
        m.data_off = 0;
        m.buf_len = uint16_t(std::min<size_t>(f.bytes.size(), 65535));
        m.data_len = uint16_t(std::min<size_t>(f.bytes.size(), 65535));
        m.pkt_len = uint32_t(f.bytes.size());
        m.nb_segs = 1;
        m.next = nullptr;
    }
    return frames;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s ROUNDS CAPTURE...\n", argv[0]);
        return 2;
    }
    const int rounds = std::atoi(argv[1]);
    char arg0[] = "filter_throughput", a1[] = "--no-huge", a2[] = "--no-pci", a3[] = "-l",
         a4[] = "0", a5[] = "--log-level=error", a6[] = "--file-prefix=filter-bench", a7[] = "-m",
         a8[] = "64";
    char* eal[] = {arg0, a1, a2, a3, a4, a5, a6, a7, a8};
    if (rte_eal_init(9, eal) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    const char* filters[] = {
        "tcp port 80",
        "udp or icmp",
        "ip and tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
        "vlan and tcp",
        "net 10.0.0.0/8 and not port 22",
        "ip6",
    };
    std::printf("%-28s %-46s %12s %12s %12s %8s %8s\n", "capture", "filter", "libpcap pps",
                "rte_bpf pps", "rte_jit pps", "jit/pcap", "match%");
    for (int c = 2; c < argc; ++c) {
        int link_type = 1;
        std::vector<Frame> frames = load(argv[c], link_type);
        if (frames.empty()) continue;
        std::string name = argv[c];
        name = name.substr(name.rfind('/') + 1);
        for (const char* expression : filters) {
            pcap_t* dead = pcap_open_dead(link_type, 262144);
            bpf_program program;
            if (pcap_compile(dead, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) {
                pcap_close(dead);
                continue;
            }
            rte_bpf_prm* prm = rte_bpf_convert(&program);
            rte_bpf* bpf = prm ? rte_bpf_load(prm) : nullptr;
            rte_bpf_jit jit{};
            if (bpf) rte_bpf_get_jit(bpf, &jit);
            if (bpf == nullptr || jit.func == nullptr) {
                std::printf("%-28s %-46s rte_bpf unusable (convert %p, load %p)\n", name.c_str(),
                            expression, (void*)prm, (void*)bpf);
                continue;
            }
            // Same verdicts first: the interpreter, then the JIT only where the interpreter
            // agrees (DPDK 22.11's JIT was seen to crash where its converted program is wrong).
            size_t matches = 0, disagreements = 0;
            for (Frame& f : frames) {
                const bool a = pcap_offline_filter(&program, &f.header, f.bytes.data()) != 0;
                matches += a;
                disagreements += a != (rte_bpf_exec(bpf, f.mbuf) != 0);
            }
            if (disagreements == 0)
                for (Frame& f : frames)
                    disagreements += (pcap_offline_filter(&program, &f.header, f.bytes.data()) != 0) !=
                                     (jit.func(f.mbuf) != 0);
            if (disagreements != 0) {
                std::printf("%-28s %-46s WRONG: rte_bpf differs from libpcap on %zu of %zu packets\n",
                            name.c_str(), expression, disagreements, frames.size());
                continue;
            }
            volatile uint64_t sink = 0;
            const size_t n = frames.size() * size_t(rounds);
            auto t = std::chrono::steady_clock::now();
            for (int r = 0; r < rounds; ++r)
                for (Frame& f : frames) sink = sink + pcap_offline_filter(&program, &f.header, f.bytes.data());
            const double pcap_s = seconds_since(t);
            t = std::chrono::steady_clock::now();
            for (int r = 0; r < rounds; ++r)
                for (Frame& f : frames) sink = sink + rte_bpf_exec(bpf, f.mbuf);
            const double interp_s = seconds_since(t);
            t = std::chrono::steady_clock::now();
            for (int r = 0; r < rounds; ++r)
                for (Frame& f : frames) sink = sink + jit.func(f.mbuf);
            const double jit_s = seconds_since(t);
            std::printf("%-28s %-46s %12.0f %12.0f %12.0f %8.2f %8.1f\n", name.c_str(), expression,
                        double(n) / pcap_s, double(n) / interp_s, double(n) / jit_s, pcap_s / jit_s,
                        100.0 * double(matches) / double(frames.size()));
            rte_bpf_destroy(bpf);
            rte_free(prm);
            pcap_freecode(&program);
            pcap_close(dead);
        }
    }
    rte_eal_cleanup();
    return 0;
}
