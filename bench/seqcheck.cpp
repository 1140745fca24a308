// seqcheck: reads back every capture file a run left and proves what happened to each frame
// taprec-gen sent: captured, lost, duplicated, out of order, corrupted, per direction.
//   seqcheck --sent-a N --sent-b M FILE...
// Prints one JSON line. Files are read in the order given (the index order of published files).
#include <pcap/pcap.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_frame.hpp"

namespace {

struct Direction {
    uint64_t sent = 0;
    std::vector<uint8_t> seen;  // times each sequence number was captured (saturating)
    uint64_t captured = 0, duplicated = 0, out_of_order = 0, corrupted = 0, beyond_sent = 0;
    uint64_t last_sequence = 0;
    bool any = false;
};

}  // namespace

int main(int argc, char** argv) {
    Direction dirs[2];
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--sent-a") == 0 && i + 1 < argc) dirs[0].sent = std::strtoull(argv[++i], nullptr, 10);
        else if (std::strcmp(argv[i], "--sent-b") == 0 && i + 1 < argc) dirs[1].sent = std::strtoull(argv[++i], nullptr, 10);
        else files.push_back(argv[i]);
    }
    for (Direction& d : dirs) d.seen.assign(d.sent, 0);
    uint64_t foreign = 0, unreadable_files = 0;
    for (const std::string& file : files) {
        char err[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(file.c_str(), err);
        if (p == nullptr) {
            std::fprintf(stderr, "seqcheck: %s: %s\n", file.c_str(), err);
            ++unreadable_files;
            continue;
        }
        pcap_pkthdr* h;
        const u_char* data;
        int rc;
        while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
            bench::Tag tag;
            bool corrupt = false;
            if (!bench::read_frame(data, h->caplen, h->len, tag, corrupt) || tag.direction > 1) {
                ++foreign;
                continue;
            }
            Direction& d = dirs[tag.direction];
            if (corrupt) {
                ++d.corrupted;
                continue;
            }
            if (tag.sequence >= d.sent) {
                ++d.beyond_sent;
                continue;
            }
            if (d.seen[tag.sequence] != 0) ++d.duplicated;
            else ++d.captured;
            if (d.seen[tag.sequence] < 255) ++d.seen[tag.sequence];
            if (d.any && tag.sequence < d.last_sequence) ++d.out_of_order;
            d.last_sequence = tag.sequence;
            d.any = true;
        }
        if (rc == PCAP_ERROR) {
            std::fprintf(stderr, "seqcheck: %s: %s\n", file.c_str(), pcap_geterr(p));
            ++unreadable_files;
        }
        pcap_close(p);
    }
    std::printf("{");
    for (int k = 0; k < 2; ++k) {
        const Direction& d = dirs[k];
        std::printf("\"%s\":{\"sent\":%" PRIu64 ",\"captured\":%" PRIu64 ",\"lost\":%" PRIu64
                    ",\"duplicated\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"corrupted\":%" PRIu64
                    ",\"beyond_sent\":%" PRIu64 "},",
                    k == 0 ? "a" : "b", d.sent, d.captured, d.sent - d.captured, d.duplicated,
                    d.out_of_order, d.corrupted, d.beyond_sent);
    }
    std::printf("\"foreign\":%" PRIu64 ",\"unreadable_files\":%" PRIu64 "}\n", foreign, unreadable_files);
    return unreadable_files == 0 ? 0 : 1;
}
