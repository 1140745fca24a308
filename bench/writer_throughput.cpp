// writer_throughput: the writer's sustained write rate (PcapFile: records copied into a 4 MiB
// aligned block, one write() per block) against dd with the same block size, on the same file
// system, in one run, as ratios.
//
//   build-*/bench/writer_throughput [MIB] DIR...       (default 512 MiB; e.g. /dev/shm /var/tmp)
//
// Three pairs per folder: through the page cache (writer vs dd bs=4M), with an fsync at the end
// (sync: close vs dd conv=fsync), and O_DIRECT (direct_io: true vs dd oflag=direct) where the
// file system allows it. Records are real frames (tests/data/vlan-http-session.pcap, cycled).
#include <pcap/pcap.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pipeline/packet_source.hpp"
#include "writer/pcap_file.hpp"

namespace {


struct Frames {
    std::vector<std::vector<std::byte>> bytes;
    std::vector<taprec::PacketRef> refs;
};

Frames load(const std::string& path) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    if (p == nullptr) {
        std::fprintf(stderr, "%s: %s\n", path.c_str(), err);
        std::exit(1);
    }
    Frames f;
    pcap_pkthdr* h;
    const u_char* data;
    while (pcap_next_ex(p, &h, &data) == 1) {
        const auto* b = reinterpret_cast<const std::byte*>(data);
        f.bytes.emplace_back(b, b + h->caplen);
    }
    pcap_close(p);
    uint64_t ts = 1'600'000'000'000'000'000ull;
    for (auto& b : f.bytes)
        f.refs.push_back({b.data(), nullptr, ts += 1000, uint32_t(b.size()), uint32_t(b.size()), 0, 0});
    return f;
}

double writer_seconds(const std::string& path, uint64_t bytes, const Frames& frames, bool sync,
                      bool direct, bool& direct_used) {
    constexpr size_t block = size_t{4} << 20;
    auto* buffer = static_cast<std::byte*>(std::aligned_alloc(4096, block));
    taprec::PcapFile file(buffer, block, true, 262144, 1);
    ::unlink(path.c_str());
    const auto t = std::chrono::steady_clock::now();
    file.open(path, direct);
    direct_used = file.direct();
    taprec::FlushResult flushed;
    size_t i = 0;
    while (file.size() < bytes) {
        file.append(frames.refs[i], nullptr, flushed);
        if (++i == frames.refs.size()) i = 0;
    }
    file.close(flushed, sync);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    std::free(buffer);
    ::unlink(path.c_str());
    if (flushed.error != 0) std::fprintf(stderr, "writer: write error %d\n", flushed.error);
    return s;
}

double dd_seconds(const std::string& path, uint64_t bytes, const std::string& extra) {
    ::unlink(path.c_str());
    const std::string command = "dd if=/dev/zero of='" + path + "' bs=4M count=" +
                                std::to_string(bytes >> 22) + " " + extra + " status=none";
    const auto t = std::chrono::steady_clock::now();
    const int rc = std::system(command.c_str());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    ::unlink(path.c_str());
    return rc == 0 ? s : -1;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t mib = 512;
    int first_dir = 1;
    if (argc > 1 && std::atoi(argv[1]) > 0) {
        mib = uint64_t(std::atoi(argv[1]));
        first_dir = 2;
    }
    std::vector<std::string> dirs(argv + first_dir, argv + argc);
    if (dirs.empty()) dirs = {"/dev/shm", "/var/tmp"};
    const char* root = std::getenv("TAPREC_SOURCE_ROOT");
    const Frames frames = load(std::string(root ? root : ".") + "/tests/data/vlan-http-session.pcap");
    const uint64_t bytes = mib << 20;
    std::printf("%-10s %-10s %12s %12s %8s\n", "folder", "mode", "writer MB/s", "dd MB/s", "ratio");
    for (const std::string& dir : dirs) {
        const std::string path = dir + "/taprec-writer-bench.pcap";
        struct Mode {
            const char* name;
            bool sync, direct;
            const char* dd;
        } modes[] = {{"cache", false, false, ""},
                     {"fsync", true, false, "conv=fsync"},
                     {"direct", false, true, "oflag=direct"}};
        for (const Mode& m : modes) {
            bool direct_used = false;
            const double w = writer_seconds(path, bytes, frames, m.sync, m.direct, direct_used);
            const double d = dd_seconds(path, bytes, m.dd);
            if (m.direct && !direct_used) {
                std::printf("%-10s %-10s %12s (O_DIRECT refused by this file system)\n", dir.c_str(),
                            m.name, "-");
                continue;
            }
            const double wr = double(bytes) / w / 1e6;
            if (d < 0) {
                std::printf("%-10s %-10s %12.0f %12s\n", dir.c_str(), m.name, wr, "dd failed");
                continue;
            }
            const double dr = double(bytes) / d / 1e6;
            std::printf("%-10s %-10s %12.0f %12.0f %8.2f\n", dir.c_str(), m.name, wr, dr, wr / dr);
        }
    }
    return 0;
}
