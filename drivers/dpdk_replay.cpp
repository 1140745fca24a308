#include "drivers/dpdk_replay.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <stdexcept>

namespace taprec {

CaptureScan scan_capture_file(const std::string& path) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle = pcap_open_offline(path.c_str(), err);
    if (handle == nullptr)
        throw std::runtime_error("rx_pcap=" + path + ": " + err +
                                 "; give an existing, readable pcap file");
    CaptureScan scan;
    scan.link_type = pcap_datalink(handle);
    pcap_pkthdr* h;
    const u_char* bytes;
    int rc;
    while ((rc = pcap_next_ex(handle, &h, &bytes)) == 1) {
        ++scan.records;
        scan.max_caplen = std::max(scan.max_caplen, h->caplen);
    }
    if (rc == PCAP_ERROR) scan.damage = pcap_geterr(handle);
    pcap_close(handle);
    return scan;
}

}  // namespace taprec
