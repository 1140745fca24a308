#include "capture_files.hpp"

#include <pcap/pcap.h>

#include <algorithm>
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

namespace {

// Whether the frame travels from the lower endpoint to the higher one.
bool from_lower_endpoint(const Packet& p, int link_type) {
    const std::vector<unsigned char>& b = p.bytes;
    size_t l3 = 0;
    unsigned ethertype = 0;
    if (link_type == DLT_EN10MB) {
        if (b.size() < 14) return true;
        size_t off = 12;
        ethertype = unsigned(b[off] << 8 | b[off + 1]);
        while ((ethertype == 0x8100 || ethertype == 0x88a8) && b.size() >= off + 6) {
            off += 4;
            ethertype = unsigned(b[off] << 8 | b[off + 1]);
        }
        l3 = off + 2;
        if (ethertype != 0x0800 && ethertype != 0x86dd)
            return std::lexicographical_compare(b.begin() + 6, b.begin() + 12, b.begin(), b.begin() + 6);
    } else if (link_type == DLT_LINUX_SLL) {
        if (b.size() < 16) return true;
        ethertype = unsigned(b[14] << 8 | b[15]);
        l3 = 16;
    } else {
        return true;
    }
    std::vector<unsigned char> src, dst;
    size_t l4 = 0;
    unsigned proto = 0;
    if (ethertype == 0x0800 && b.size() >= l3 + 20) {
        src.assign(b.begin() + long(l3 + 12), b.begin() + long(l3 + 16));
        dst.assign(b.begin() + long(l3 + 16), b.begin() + long(l3 + 20));
        proto = b[l3 + 9];
        const unsigned fragment_offset = unsigned((b[l3 + 6] & 0x1f) << 8 | b[l3 + 7]);
        l4 = fragment_offset != 0 ? 0 : l3 + size_t(b[l3] & 0x0f) * 4;  // later fragments: no ports
    } else if (ethertype == 0x86dd && b.size() >= l3 + 40) {
        src.assign(b.begin() + long(l3 + 8), b.begin() + long(l3 + 24));
        dst.assign(b.begin() + long(l3 + 24), b.begin() + long(l3 + 40));
        proto = b[l3 + 6];
        l4 = l3 + 40;
    } else {
        return true;
    }
    if (src != dst) return src < dst;
    if ((proto == 6 || proto == 17) && l4 != 0 && b.size() >= l4 + 4) {
        const unsigned sport = unsigned(b[l4] << 8 | b[l4 + 1]);
        const unsigned dport = unsigned(b[l4 + 2] << 8 | b[l4 + 3]);
        return sport <= dport;
    }
    return true;
}

}  // namespace

std::pair<Capture, Capture> split_directions(const Capture& capture) {
    Capture a, b;
    a.link_type = b.link_type = capture.link_type;
    a.snaplen = b.snaplen = capture.snaplen;
    for (const Packet& p : capture.packets)
        (from_lower_endpoint(p, capture.link_type) ? a : b).packets.push_back(p);
    return {a, b};
}

Capture retimed(Capture capture, uint64_t start_ns, uint64_t spacing_ns) {
    for (size_t i = 0; i < capture.packets.size(); ++i)
        capture.packets[i].ts_ns = start_ns + i * spacing_ns;
    return capture;
}

}  // namespace test_support
