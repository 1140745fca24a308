// seqcheck: reads back the capture files of a run and proves what happened to each frame
// taprec_gen sent: captured, lost, duplicated, out of order, corrupted, per direction.
//
//   seqcheck --sent-a N --sent-b M FILE...
//       Batch: the files of a finished run, read in the order given (the index order).
//   seqcheck --follow TAPDIR [--keep]
//       Follow: a run in progress (bench/soak). Reads each file as soon as TAPDIR/.meta/index.jsonl
//       lists it, in index order, then deletes it (unless --keep), so a run of minutes at millions
//       of frames per second never fills tmpfs. The end of the run comes on stdin as one line,
//       "SENT_A SENT_B" (what the generator's ports accepted), written once taprec has exited so
//       the index is final; seqcheck then reads what is left and prints its JSON line. A progress
//       line goes to stderr every 10 s.
//
// Both print the same JSON line. What each direction has seen is one bit per sequence number, in
// chunks allocated as sequences arrive: 10 minutes at 5 Mpps is 3e9 frames, 360 MiB of bits,
// where a byte per sequence would not fit in RAM beside the files.
//
// In follow mode the sent counts are known only at the end, so a frame beyond them is told apart
// then (from the bits, and the duplicates it recorded); only out_of_order may then count a frame
// beyond sent, which the batch mode skips. taprec_gen never sends one: beyond_sent stays 0.
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_frame.hpp"

namespace {

// One bit per sequence number, allocated in 8 MiB chunks as sequences arrive.
class SequenceBitmap {
public:
    // Sets the bit of `sequence`; true when it was set already.
    bool test_and_set(uint64_t sequence) {
        const uint64_t chunk = sequence >> chunk_bits_log2;
        if (chunk >= chunks_.size()) [[unlikely]] chunks_.resize(chunk + 1);
        std::unique_ptr<uint64_t[]>& words = chunks_[chunk];
        if (!words) [[unlikely]] words = std::make_unique<uint64_t[]>(words_per_chunk);  // zeroed
        uint64_t& word = words[(sequence & chunk_mask) >> 6];
        const uint64_t bit = uint64_t{1} << (sequence & 63);
        const bool was_set = (word & bit) != 0;
        word |= bit;
        return was_set;
    }

    // Bits set at `first` and above.
    uint64_t count_from(uint64_t first) const {
        uint64_t n = 0;
        for (uint64_t chunk = first >> chunk_bits_log2; chunk < chunks_.size(); ++chunk) {
            if (!chunks_[chunk]) continue;
            for (uint64_t w = 0; w < words_per_chunk; ++w) {
                uint64_t word = chunks_[chunk][w];
                const uint64_t base = (chunk << chunk_bits_log2) + (w << 6);
                if (base + 64 <= first) continue;
                if (base < first) word &= ~uint64_t{0} << (first - base);
                n += uint64_t(std::popcount(word));
            }
        }
        return n;
    }

    uint64_t bytes() const {
        uint64_t n = 0;
        for (const auto& words : chunks_) n += words ? words_per_chunk * 8 : 0;
        return n;
    }

private:
    static constexpr unsigned chunk_bits_log2 = 26;
    static constexpr uint64_t chunk_mask = (uint64_t{1} << chunk_bits_log2) - 1;
    static constexpr uint64_t words_per_chunk = (uint64_t{1} << chunk_bits_log2) / 64;
    std::vector<std::unique_ptr<uint64_t[]>> chunks_;
};

// A sequence number this large is not one taprec_gen sent (2^40 is 61 hours at 5 Mpps): counted
// beyond_sent without a bit, so a damaged tag cannot make the bitmap allocate terabytes.
constexpr uint64_t follow_sequence_limit = uint64_t{1} << 40;
constexpr size_t duplicates_kept = size_t{1} << 20;

struct Direction {
    uint64_t sent = 0;
    uint64_t limit = 0;  // sequences at or above it are beyond_sent at once (batch: sent)
    SequenceBitmap seen;
    uint64_t distinct = 0;  // sequences below `limit` seen at least once
    uint64_t duplicated = 0, out_of_order = 0, corrupted = 0, beyond_sent = 0;
    std::vector<uint64_t> duplicate_sequences;  // so follow mode can tell those beyond sent apart
    uint64_t last_sequence = 0;
    bool any = false;

    void frame(uint64_t sequence) {
        if (sequence >= limit) [[unlikely]] {
            ++beyond_sent;
            return;
        }
        if (seen.test_and_set(sequence)) [[unlikely]] {
            ++duplicated;
            if (duplicate_sequences.size() < duplicates_kept) duplicate_sequences.push_back(sequence);
        } else {
            ++distinct;
        }
        if (any && sequence < last_sequence) ++out_of_order;
        last_sequence = sequence;
        any = true;
    }

    // Once `sent` is known: what was recorded at or above it was never sent.
    void settle(uint64_t sent_count) {
        sent = sent_count;
        if (limit <= sent) return;
        const uint64_t distinct_beyond = seen.count_from(sent);
        const auto duplicates_beyond = uint64_t(std::count_if(
            duplicate_sequences.begin(), duplicate_sequences.end(), [&](uint64_t s) { return s >= sent; }));
        distinct -= distinct_beyond;
        duplicated -= duplicates_beyond;
        beyond_sent += distinct_beyond + duplicates_beyond;
    }
};

struct Check {
    Direction dirs[2];
    uint64_t foreign = 0, unreadable_files = 0;
    uint64_t files = 0, frames = 0, bytes = 0;

    void frame(const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
        ++frames;
        bench::Tag tag;
        bool corrupt = false;
        if (!bench::read_frame(data, caplen, wire_len, tag, corrupt) || tag.direction > 1) [[unlikely]] {
            ++foreign;
            return;
        }
        Direction& d = dirs[tag.direction];
        if (corrupt) [[unlikely]] {
            ++d.corrupted;
            return;
        }
        d.frame(tag.sequence);
    }

    void print() const {
        std::printf("{");
        for (int k = 0; k < 2; ++k) {
            const Direction& d = dirs[k];
            std::printf("\"%s\":{\"sent\":%" PRIu64 ",\"captured\":%" PRIu64 ",\"lost\":%" PRIu64
                        ",\"duplicated\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"corrupted\":%" PRIu64
                        ",\"beyond_sent\":%" PRIu64 "},",
                        k == 0 ? "a" : "b", d.sent, d.distinct, d.sent - d.distinct, d.duplicated,
                        d.out_of_order, d.corrupted, d.beyond_sent);
        }
        std::printf("\"foreign\":%" PRIu64 ",\"unreadable_files\":%" PRIu64 "}\n", foreign,
                    unreadable_files);
        std::fflush(stdout);
    }
};

uint32_t swap32(uint32_t v) { return __builtin_bswap32(v); }

enum class ReadResult { done, not_classic_pcap, failed };

// How a file is read. Batch mode maps it whole. Follow mode shares a core with a poller that
// never sleeps (bench/soak: the generator) under a kernel that preempts only at the 4 ms tick.
// It reads 1 MiB windows (13,000 frames of 64 B, about 250 us of work), punches each out of tmpfs
// once read (the pages go back as they are read, not in one long unlink), and yields the core
// after each, so the poller waits about 250 us at a time: 1,000 frames at 4 Mpps, which the
// generator catches up through the memif ring (1024 frames). A yield gives up the rest of the
// follower's slice, which caps its share (10 % of the core measured at nice 0, enough for 4 Mpps);
// a follower `catch_up_files` behind stops yielding until it has caught up, and the poller then
// waits up to a tick at a time (the generator's frames come late or are refused, and counted).
struct ReadPlan {
    size_t window_bytes = 0;  // 0: the whole file at once
    bool release_pages = false;
    bool yield_core = false;
};

constexpr size_t catch_up_files = 4;

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

// Classic pcap (either byte order, micro- or nanoseconds) read straight from a shared mapping:
// no copy and no call per record.
ReadResult read_classic_pcap(const std::string& path, const ReadPlan& plan, Check& check) {
    int fd = plan.release_pages ? ::open(path.c_str(), O_RDWR | O_CLOEXEC) : -1;
    bool can_release = fd >= 0;
    if (fd < 0) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "seqcheck: %s: %s\n", path.c_str(), std::strerror(errno));
        return ReadResult::failed;
    }
    struct stat st{};
    if (::fstat(fd, &st) != 0 || st.st_size < 24) {
        ::close(fd);
        return ReadResult::not_classic_pcap;  // libpcap says what is wrong with it
    }
    const auto size = size_t(st.st_size);
    const size_t window = plan.window_bytes == 0 ? size : plan.window_bytes;
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED | (window >= size ? MAP_POPULATE : 0), fd, 0);
    if (map == MAP_FAILED) {
        ::close(fd);
        return ReadResult::not_classic_pcap;
    }
    const auto* p = static_cast<const uint8_t*>(map);
    uint32_t magic;
    std::memcpy(&magic, p, 4);
    const bool native = magic == 0xa1b2c3d4 || magic == 0xa1b23c4d;
    const bool swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    if (!native && !swapped) {
        ::munmap(map, size);
        ::close(fd);
        return ReadResult::not_classic_pcap;
    }
    const auto page = size_t(::sysconf(_SC_PAGESIZE));
    size_t at = 24, released = 0;
    ReadResult result = ReadResult::done;
    for (size_t start = 0; start < size && result == ReadResult::done; start += window) {
        const size_t window_end = std::min(size, start + window);
        if (window < size)
            ::madvise(const_cast<uint8_t*>(p) + start, window_end - start, MADV_POPULATE_READ);
        while (at < window_end) {
            if (size - at < 16) {
                std::fprintf(stderr, "seqcheck: %s: truncated record header at offset %zu\n",
                             path.c_str(), at);
                result = ReadResult::failed;
                break;
            }
            uint32_t caplen, wire_len;
            std::memcpy(&caplen, p + at + 8, 4);
            std::memcpy(&wire_len, p + at + 12, 4);
            if (swapped) {
                caplen = swap32(caplen);
                wire_len = swap32(wire_len);
            }
            if (caplen > size - at - 16) {
                std::fprintf(stderr,
                             "seqcheck: %s: truncated record at offset %zu (%" PRIu32 " bytes, %zu left)\n",
                             path.c_str(), at, caplen, size - at - 16);
                result = ReadResult::failed;
                break;
            }
            check.frame(p + at + 16, caplen, wire_len);
            at += 16 + caplen;
        }
        if (window < size) {
            const size_t read_pages = std::min(at, size) / page * page;
            if (can_release && read_pages > released &&
                ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(released),
                            off_t(read_pages - released)) == 0)
                released = read_pages;
            if (plan.yield_core) ::sched_yield();
        }
    }
    check.bytes += size;
    ::munmap(map, size);
    ::close(fd);
    return result;
}

// Anything else libpcap reads (pcapng).
bool read_with_libpcap(const std::string& path, Check& check) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    if (p == nullptr) {
        std::fprintf(stderr, "seqcheck: %s: %s\n", path.c_str(), err);
        return false;
    }
    pcap_pkthdr* h;
    const u_char* data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) check.frame(data, h->caplen, h->len);
    if (rc == PCAP_ERROR) std::fprintf(stderr, "seqcheck: %s: %s\n", path.c_str(), pcap_geterr(p));
    pcap_close(p);
    return rc != PCAP_ERROR;
}

void read_file(const std::string& path, const ReadPlan& plan, Check& check) {
    ++check.files;
    ReadResult r = read_classic_pcap(path, plan, check);
    if (r == ReadResult::not_classic_pcap)
        r = read_with_libpcap(path, check) ? ReadResult::done : ReadResult::failed;
    if (r == ReadResult::failed) ++check.unreadable_files;
}

bool parse_count(const char* text, uint64_t& value) {
    char* end = nullptr;
    errno = 0;
    value = std::strtoull(text, &end, 10);
    return end != text && *end == '\0' && errno == 0 && text[0] != '-';
}

[[noreturn]] void usage(const std::string& message) {
    std::fprintf(stderr,
                 "seqcheck: %s\nusage: seqcheck --sent-a N --sent-b M FILE...\n"
                 "       seqcheck --follow TAPDIR [--keep]   (then \"SENT_A SENT_B\" on stdin at the end)\n",
                 message.c_str());
    std::exit(2);
}

// The value of "file" in one index.jsonl line (taprec's names need no escapes; refuse any).
bool index_file_name(const std::string& line, std::string& name) {
    static const std::string key = "\"file\":\"";
    const size_t start = line.find(key);
    if (start == std::string::npos) return false;
    const size_t from = start + key.size();
    const size_t end = line.find('"', from);
    if (end == std::string::npos || end == from) return false;
    name = line.substr(from, end - from);
    return name.find('\\') == std::string::npos && name.find('/') == std::string::npos;
}

// Follows TAPDIR/.meta/index.jsonl: each complete line names a published file.
class IndexFollower {
public:
    explicit IndexFollower(std::string tap_dir) : tap_dir_(std::move(tap_dir)) {}
    ~IndexFollower() {
        if (fd_ >= 0) ::close(fd_);
    }

    // The files listed since the last call, in index order.
    std::vector<std::string> new_files() {
        std::vector<std::string> files;
        if (fd_ < 0) {
            fd_ = ::open((tap_dir_ + "/.meta/index.jsonl").c_str(), O_RDONLY | O_CLOEXEC);
            if (fd_ < 0) return files;  // nothing published yet
        }
        char buffer[65536];
        ssize_t n;
        while ((n = ::read(fd_, buffer, sizeof buffer)) > 0) pending_.append(buffer, size_t(n));
        size_t line_start = 0, newline;
        while ((newline = pending_.find('\n', line_start)) != std::string::npos) {
            const std::string line = pending_.substr(line_start, newline - line_start);
            line_start = newline + 1;
            std::string name;
            if (index_file_name(line, name)) files.push_back(tap_dir_ + "/" + name);
            else if (!line.empty()) {
                std::fprintf(stderr, "seqcheck: %s/.meta/index.jsonl: no file in line: %s\n",
                             tap_dir_.c_str(), line.c_str());
                ++bad_lines;
            }
        }
        pending_.erase(0, line_start);
        return files;
    }

    uint64_t bad_lines = 0;

private:
    std::string tap_dir_;
    int fd_ = -1;
    std::string pending_;  // a line taprec has not finished appending
};

// The sent counts on stdin: true once a whole line arrived (false with `failed` on EOF or junk).
bool read_sent_line(std::string& buffer, uint64_t sent[2], bool& failed) {
    char chunk[256];
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
        failed = true;
        return false;
    }
    buffer.append(chunk, size_t(n));
    const size_t newline = buffer.find('\n');
    if (newline == std::string::npos) return false;
    char a[32], b[32];
    if (std::sscanf(buffer.substr(0, newline).c_str(), "%31s %31s", a, b) != 2 ||
        !parse_count(a, sent[0]) || !parse_count(b, sent[1])) {
        std::fprintf(stderr, "seqcheck: stdin: expected \"SENT_A SENT_B\", got \"%s\"\n",
                     buffer.substr(0, newline).c_str());
        failed = true;
        return false;
    }
    return true;
}

void print_progress(const std::string& when, const Check& check, uint64_t catch_up_turns) {
    std::fprintf(stderr,
                 "seqcheck: follow %s: %" PRIu64 " files (%" PRIu64 " read without yielding), %" PRIu64
                 " frames, %.1f GiB, bitmaps %.0f MiB\n",
                 when.c_str(), check.files, catch_up_turns, check.frames,
                 double(check.bytes) / double(1 << 30),
                 double(check.dirs[0].seen.bytes() + check.dirs[1].seen.bytes()) / double(1 << 20));
}

int follow(const std::string& tap_dir, bool keep) {
    ReadPlan plan{.window_bytes = size_t{1} << 20, .release_pages = !keep};
    Check check;
    for (Direction& d : check.dirs) d.limit = follow_sequence_limit;
    IndexFollower index(tap_dir);
    std::string stdin_buffer;
    uint64_t sent[2] = {0, 0};
    bool ended = false, failed = false;
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto next_progress = start + std::chrono::seconds(10);
    uint64_t catch_up_turns = 0;
    while (!ended) {
        const std::vector<std::string> files = index.new_files();
        for (size_t i = 0; i < files.size(); ++i) {
            plan.yield_core = files.size() - i <= catch_up_files;
            catch_up_turns += plan.yield_core ? 0 : 1;
            read_file(files[i], plan, check);
            if (!keep) ::unlink(files[i].c_str());
        }
        const bool worked = !files.empty();
        if (clock::now() >= next_progress) {
            next_progress += std::chrono::seconds(10);
            const double seconds = std::chrono::duration<double>(clock::now() - start).count();
            print_progress(std::to_string(int(seconds)) + " s", check, catch_up_turns);
        }
        if (worked) continue;  // more may be listed already; the run's end waits for an idle turn
        pollfd in{STDIN_FILENO, POLLIN, 0};
        if (::poll(&in, 1, 50) > 0) {
            ended = read_sent_line(stdin_buffer, sent, failed);
            if (failed) return 2;
        }
    }
    // taprec has exited: the index is final. Read what it listed since the last turn, with no
    // poller left to yield to.
    plan.yield_core = false;
    for (const std::string& file : index.new_files()) {
        read_file(file, plan, check);
        if (!keep) ::unlink(file.c_str());
    }
    check.unreadable_files += index.bad_lines;
    for (int k = 0; k < 2; ++k) check.dirs[k].settle(sent[k]);
    print_progress("done", check, catch_up_turns);
    check.print();
    return check.unreadable_files == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Check check;
    std::vector<std::string> files;
    std::string follow_dir;
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--sent-a" || arg == "--sent-b") && i + 1 < argc) {
            if (!parse_count(argv[++i], check.dirs[arg == "--sent-a" ? 0 : 1].sent))
                usage(arg + ": not a count: " + argv[i]);
        } else if (arg == "--follow" && i + 1 < argc) follow_dir = argv[++i];
        else if (arg == "--keep") keep = true;
        else if (arg == "--sent-a" || arg == "--sent-b" || arg == "--follow") usage(arg + " needs a value");
        else if (arg.rfind("--", 0) == 0) usage("unknown option " + arg);
        else files.push_back(arg);
    }
    if (!follow_dir.empty()) {
        if (!files.empty()) usage("--follow reads the files its index lists; give no FILE");
        return follow(follow_dir, keep);
    }
    for (Direction& d : check.dirs) d.limit = d.sent;
    for (const std::string& file : files) read_file(file, ReadPlan{}, check);
    for (Direction& d : check.dirs) d.settle(d.sent);
    check.print();
    return check.unreadable_files == 0 ? 0 : 1;
}
