#include "capture_files.hpp"

#include <pcap/pcap.h>

#include <stdexcept>

namespace test_support {

Capture read_capture(const std::string& path) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    if (p == nullptr) throw std::runtime_error("cannot open " + path + ": " + err);
    Capture capture;
    capture.link_type = pcap_datalink(p);
    capture.snaplen = static_cast<uint32_t>(pcap_snapshot(p));
    pcap_pkthdr* h;
    const u_char* data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        Packet packet;
        packet.ts_ns = uint64_t(h->ts.tv_sec) * 1'000'000'000u + uint64_t(h->ts.tv_usec);
        packet.caplen = h->caplen;
        packet.wire_len = h->len;
        packet.bytes.assign(data, data + h->caplen);
        capture.packets.push_back(std::move(packet));
    }
    if (rc == PCAP_ERROR) capture.error = pcap_geterr(p);
    pcap_close(p);
    return capture;
}

void write_capture(const std::string& path, const Capture& capture) {
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(capture.link_type, int(capture.snaplen),
                                                        PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    if (dumper == nullptr) throw std::runtime_error("cannot write " + path);
    for (const Packet& p : capture.packets) {
        pcap_pkthdr h{};
        h.ts.tv_sec = long(p.ts_ns / 1'000'000'000u);
        h.ts.tv_usec = long(p.ts_ns % 1'000'000'000u);
        h.caplen = p.caplen;
        h.len = p.wire_len;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &h, p.bytes.data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

Capture retimed(Capture capture, uint64_t start_ns, uint64_t spacing_ns) {
    for (size_t i = 0; i < capture.packets.size(); ++i)
        capture.packets[i].ts_ns = start_ns + i * spacing_ns;
    return capture;
}

}  // namespace test_support
