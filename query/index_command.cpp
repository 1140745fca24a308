// `taprec index FILE...`: (re)build the block index of published files: files of earlier runs
// or of a recorder without index, and files whose index is damaged.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "drivers/pcap_format.hpp"
#include "index/index_file.hpp"
#include "query/pcap_ranges.hpp"
#include "query/query_command.hpp"

namespace taprec {
namespace {

namespace bi = block_index;

// The writer's block: an entry per 1 MiB of records.
constexpr uint64_t block_bytes = uint64_t{1} << 20;

const char* const index_usage =
    "usage: taprec index FILE...\n"
    "  (re)build the block index of published pcap files (DIR/NAME.pcap gets DIR/.meta/NAME.idx),\n"
    "  which taprec query narrows by; a file without one is read in full\n";

bool index_one(const std::string& path) {
    auto fail = [&](const std::string& why) {
        std::fprintf(stderr, "taprec index: %s: %s\n", path.c_str(), why.c_str());
        return false;
    };
    if (path.find("/.partial/") != std::string::npos)
        return fail("a file still being written; the daemon writes its index with it");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(std::strerror(errno));
    struct stat st{};
    ::fstat(fd, &st);
    const std::optional<PcapHeaderInfo> header = read_pcap_header(fd);
    if (!S_ISREG(st.st_mode) || !header) {
        ::close(fd);
        return fail("not a classic pcap file (pcap or pcap-ns; pcapng has no block index)");
    }
    const std::string index_path = bi::published_index_path(path);
    const std::string meta = index_path.substr(0, index_path.rfind('/'));
    if (::mkdir(meta.c_str(), 0750) != 0 && errno != EEXIST) {
        ::close(fd);
        return fail("cannot create " + meta + ": " + std::strerror(errno));
    }
    // Written beside and renamed over: a query never reads half a rebuilt index.
    const std::string temporary = meta + "/." + index_path.substr(index_path.rfind('/') + 1) + ".new";
    bi::BlockIndexer indexer;
    if (const int error = indexer.open(temporary, st.st_mode & 0666, false, header->link_type);
        error != 0) {
        ::close(fd);
        return fail("cannot create " + temporary + ": " + std::strerror(error));
    }
    PcapRanges records(fd, *header, {{pcap_format::file_header_size, uint64_t(st.st_size)}});
    PcapRecordView r;
    uint64_t packets = 0;
    int error = 0;
    while (error == 0 && records.next(r)) {
        const uint64_t size = pcap_format::record_header_size + r.caplen;
        if (indexer.pending_packets() != 0 && indexer.pending_bytes() + size > block_bytes)
            error = indexer.seal();
        indexer.add({reinterpret_cast<const std::byte*>(r.data), r.caplen}, r.ts_ns, r.offset, size);
        ++packets;
    }
    if (error == 0) error = indexer.seal();
    indexer.close();
    ::close(fd);
    if (error != 0) {
        ::unlink(temporary.c_str());
        return fail("writing " + temporary + ": " + std::strerror(error));
    }
    if (::rename(temporary.c_str(), index_path.c_str()) != 0) {
        const int e = errno;
        ::unlink(temporary.c_str());
        return fail("cannot rename " + temporary + " to " + index_path + ": " + std::strerror(e));
    }
    if (!records.damage().empty())
        std::fprintf(stderr, "taprec index: %s: %s; indexed the %llu packets before it\n",
                     path.c_str(), records.damage().c_str(), (unsigned long long)packets);
    std::printf("%s: %llu packets, index %s\n", path.c_str(), (unsigned long long)packets,
                index_path.c_str());
    return true;
}

}  // namespace

int run_index_command(const std::vector<std::string_view>& args) {
    if (args.empty()) {
        std::fprintf(stderr, "taprec index: give one or more FILEs\n%s", index_usage);
        return 2;
    }
    if (args[0] == "--help" || args[0] == "-h") {
        std::fputs(index_usage, stdout);
        return 0;
    }
    bool all = true;
    for (const std::string_view arg : args) all = index_one(std::string(arg)) && all;
    return all ? 0 : 1;
}

}  // namespace taprec
