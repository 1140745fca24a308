// pcap_send: puts the frames of a capture file on an interface, as fast as the kernel takes them
// or at a given rate. For the live-capture tests and the kernel-path bench (veth in a namespace).
//   pcap_send IFACE FILE [--pps N] [--loops N]
#include <pcap/pcap.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: pcap_send IFACE FILE [--pps N] [--loops N]\n");
        return 2;
    }
    const std::string iface = argv[1];
    const std::string file = argv[2];
    double pps = 0;
    long loops = 1;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--pps") == 0) pps = std::strtod(argv[i + 1], nullptr);
        else if (std::strcmp(argv[i], "--loops") == 0) loops = std::strtol(argv[i + 1], nullptr, 10);
    }
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* in = pcap_open_offline(file.c_str(), err);
    if (in == nullptr) {
        std::fprintf(stderr, "pcap_send: %s: %s\n", file.c_str(), err);
        return 1;
    }
    std::vector<std::vector<unsigned char>> frames;
    pcap_pkthdr* h;
    const u_char* data;
    while (pcap_next_ex(in, &h, &data) == 1) frames.emplace_back(data, data + h->caplen);
    pcap_close(in);

    pcap_t* out = pcap_open_live(iface.c_str(), 65535, 0, 100, err);
    if (out == nullptr) {
        std::fprintf(stderr, "pcap_send: %s: %s\n", iface.c_str(), err);
        return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    unsigned long sent = 0, failed = 0;
    for (long loop = 0; loop < loops; ++loop) {
        for (const auto& frame : frames) {
            if (pps > 0) {
                const auto due = start + std::chrono::duration<double>(double(sent + failed) / pps);
                std::this_thread::sleep_until(due);
            }
            if (pcap_inject(out, frame.data(), frame.size()) == int(frame.size()))
                ++sent;
            else
                ++failed;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("sent=%lu failed=%lu seconds=%.3f\n", sent, failed, seconds);
    pcap_close(out);
    return failed == 0 ? 0 : 1;
}
