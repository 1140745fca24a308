#include "query/query_command.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>

#include "config/defaults.hpp"
#include "config/parse.hpp"
#include "config/validate.hpp"
#include "pipeline/clock_now.hpp"
#include "drivers/pcap_format.hpp"
#include "index/index_file.hpp"
#include "query/filter_index.hpp"
#include "query/pcap_ranges.hpp"
#include "query/query_time.hpp"

namespace taprec {
namespace {

namespace bi = block_index;
namespace fs = std::filesystem;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr uint32_t output_snaplen = 262144;
constexpr uint64_t progress_after_ns = 1'000'000'000u;

const char* const query_usage =
    "usage: taprec query [--config FILE | --dir DIR] [--tap NAME] [--from TIME] [--to TIME]\n"
    "                    [-w FILE|-] [--list] [FILTER...]\n"
    "  the recorded packets whose time lies in [from, to] (inclusive) and that match FILTER\n"
    "  (libpcap syntax, as tcpdump takes it), as one pcap-ns file in time order\n"
    "  --config FILE  the taps of this configuration (DIRECTORY/TAP)\n"
    "  --dir DIR      a tap folder, or the output directory holding tap folders\n"
    "                 (default: /var/lib/taprec)\n"
    "  --tap NAME     only this tap\n"
    "  --from, --to   TIME: RFC 3339 (2021-07-25T14:57:01.123456789Z), Unix seconds\n"
    "                 (1627225021.5) or relative to now (-10m, -2h, -30s, -1d)\n"
    "  -w FILE|-      write to FILE, or to stdout with - (the default when stdout is not a\n"
    "                 terminal: taprec query host 10.0.0.1 | tshark -r -)\n"
    "  --list         print the files and blocks it would read, and how many bytes\n";

int usage_error(const std::string& message) {
    std::fprintf(stderr, "taprec query: %s\n%s", message.c_str(), query_usage);
    return exit_usage;
}

void say(const std::string& message) { std::fprintf(stderr, "taprec query: %s\n", message.c_str()); }

bool is_dir(const std::string& path) {
    std::error_code ec;
    return fs::is_directory(path, ec);
}

// The tap folders of --dir (a tap folder, or folders holding .meta/), or an error.
std::vector<std::string> tap_dirs_in(const std::string& dir, std::string& error) {
    std::error_code ec;
    if (!is_dir(dir)) {
        error = dir + ": " + (fs::exists(dir, ec) ? "not a folder" : "no such folder") +
                "; give a tap folder (DIRECTORY/TAP) or the output directory";
        return {};
    }
    if (is_dir(dir + "/.meta")) return {dir};
    std::vector<std::string> taps;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec))
        if (is_dir(entry.path().string() + "/.meta")) taps.push_back(entry.path().string());
    std::sort(taps.begin(), taps.end());
    if (taps.empty())
        error = dir + " holds no tap folder (none with a .meta/ folder); give a tap folder or "
                      "the output directory of a configuration that has run";
    return taps;
}

std::string base_name(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p.substr(p.rfind('/') + 1);
}

// The "file" names of index.jsonl, in publication order.
std::vector<std::string> publication_order(const std::string& tap_dir) {
    std::vector<std::string> names;
    FILE* f = std::fopen((tap_dir + "/.meta/index.jsonl").c_str(), "r");
    if (f == nullptr) return names;
    char line[8192];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        const char* key = std::strstr(line, "\"file\":\"");
        if (key == nullptr) continue;
        key += 8;
        const char* end = std::strchr(key, '"');
        if (end != nullptr) names.emplace_back(key, end);
    }
    std::fclose(f);
    return names;
}

std::vector<std::string> pcap_names_in(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec) && e.path().extension() == ".pcap")
            names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// One file of a tap, and the ranges of it a query reads.
struct FilePlan {
    std::string tap_dir;
    std::string name;
    bool writing = false;       // still in .partial: only its indexed blocks are whole
    uint64_t size = 0;
    PcapHeaderInfo header;
    std::vector<ByteRange> ranges;
    uint64_t bytes = 0;         // in the ranges
    size_t blocks = 0, blocks_total = 0;
    std::string how;            // "index", "full read: no index", ...

    std::string path() const { return tap_dir + (writing ? "/.partial/" : "/") + name; }
    std::string published_path() const { return tap_dir + "/" + name; }
};

struct Query {
    uint64_t from_ns = 0;
    uint64_t to_ns = UINT64_MAX;
    FilterIndex filter_index;
};

void add_range(std::vector<ByteRange>& ranges, uint64_t begin, uint64_t end) {
    if (!ranges.empty() && ranges.back().end == begin) ranges.back().end = end;
    else ranges.push_back({begin, end});
}

// Whether the record at each chosen block's offset is the one its entry says: an index made
// for another file of that name (or damaged alike) is not trusted.
bool index_fits(int fd, const PcapHeaderInfo& header, const bi::IndexContents& index,
                const std::vector<size_t>& chosen, uint64_t size) {
    if (index.covered_end() > size) return false;
    for (size_t i : chosen) {
        const bi::IndexedBlock& b = index.blocks[i];
        char head[16];
        if (::pread(fd, head, 16, off_t(b.offset)) != 16) return false;
        uint32_t f[4];
        std::memcpy(f, head, 16);
        if (header.swapped)
            for (uint32_t& v : f) v = __builtin_bswap32(v);
        const uint64_t ts = uint64_t(f[0]) * 1'000'000'000u + (header.nanoseconds ? f[1] : uint64_t(f[1]) * 1000);
        if (ts != b.first_ns || b.offset + 16 + f[2] > b.end) return false;
    }
    return true;
}

void full_read(FilePlan& plan, const std::string& why) {
    plan.how = "full read: " + why;
    plan.ranges = {{pcap_format::file_header_size, plan.size}};
    plan.bytes = plan.size - pcap_format::file_header_size;
}

// Decide what to read of one file. Returns false when the file is to be left out (gone, not a
// pcap file, a file being written without an index).
bool plan_file(FilePlan& plan, const Query& query) {
    const int fd = ::open(plan.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // published or deleted meanwhile: the caller lists again
    struct stat st{};
    ::fstat(fd, &st);
    plan.size = uint64_t(st.st_size);
    const std::optional<PcapHeaderInfo> header = read_pcap_header(fd);
    if (!header) {
        ::close(fd);
        if (!plan.writing) say(plan.path() + ": not a classic pcap file; skipped");
        return false;
    }
    plan.header = *header;
    const std::string meta = plan.tap_dir + "/.meta/";
    bi::IndexContents index = bi::read_index(meta + (plan.writing ? bi::writing_index_name(plan.name)
                                                                  : bi::index_name(plan.name)));
    // Closed, its index renamed, the file itself not yet: it is whole, with its whole index.
    if (plan.writing && !index.found) index = bi::read_index(meta + bi::index_name(plan.name));
    plan.blocks_total = index.blocks.size();
    if (!index.found || (!plan.writing && !index.damage.empty())) {
        ::close(fd);
        if (plan.writing) return false;  // its last whole record is not known
        full_read(plan, index.found ? "index damaged (" + index.damage + ")"
                                    : "no index (taprec index " + plan.path() + " builds one)");
        return true;
    }
    std::vector<size_t> chosen;
    for (size_t i = 0; i < index.blocks.size(); ++i) {
        const bi::IndexedBlock& b = index.blocks[i];
        if (b.max_ns < query.from_ns || b.min_ns > query.to_ns) continue;
        if (!query.filter_index.may_match(index, b)) continue;
        chosen.push_back(i);
    }
    if (!index_fits(fd, plan.header, index, chosen, plan.size)) {
        ::close(fd);
        if (plan.writing) return false;
        full_read(plan, "index does not match the file");
        return true;
    }
    ::close(fd);
    plan.how = plan.writing ? "index, being written" : "index";
    for (size_t i : chosen) {
        add_range(plan.ranges, index.blocks[i].offset, index.blocks[i].end);
        plan.bytes += index.blocks[i].end - index.blocks[i].offset;
    }
    plan.blocks = chosen.size();
    // Records after the last entry of a published file (an index cut by a crash or a failed
    // write): read in full.
    if (!plan.writing && index.covered_end() < plan.size) {
        add_range(plan.ranges, index.covered_end(), plan.size);
        plan.bytes += plan.size - index.covered_end();
        plan.how = "index up to byte " + std::to_string(index.covered_end()) + ", the rest in full";
    }
    return true;
}

// The files of one tap in publication order, then the one being written.
std::vector<FilePlan> plan_tap(const std::string& tap_dir, const Query& query) {
    std::vector<FilePlan> plans;
    // .partial is listed first: a file published in between is then found in both lists, never
    // in neither.
    const std::vector<std::string> writing = pcap_names_in(tap_dir + "/.partial");
    std::vector<std::string> names = publication_order(tap_dir);
    std::set<std::string> listed(names.begin(), names.end());
    for (const std::string& name : pcap_names_in(tap_dir))
        if (!listed.count(name)) names.push_back(name);  // no index.jsonl line (another tool's run)
    std::set<std::string> seen;
    for (const std::string& name : names) {
        if (!seen.insert(name).second) continue;
        FilePlan plan;
        plan.tap_dir = tap_dir;
        plan.name = name;
        struct stat st{};
        if (::stat(plan.path().c_str(), &st) != 0) continue;  // deleted by retention: gone
        if (plan_file(plan, query)) plans.push_back(std::move(plan));
    }
    for (const std::string& name : writing) {
        if (seen.count(name)) continue;
        FilePlan plan;
        plan.tap_dir = tap_dir;
        plan.name = name;
        plan.writing = true;
        if (plan_file(plan, query)) {
            plans.push_back(std::move(plan));
        } else {
            plan.writing = false;  // published meanwhile
            if (::access(plan.path().c_str(), F_OK) == 0 && plan_file(plan, query))
                plans.push_back(std::move(plan));
        }
    }
    return plans;
}

std::string mib(uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / (1 << 20));
    return text;
}

// Matching packets of one tap, in its files' order.
class TapStream {
public:
    // `tick` is called every few thousand records read, matching or not (progress).
    TapStream(std::vector<FilePlan> files, const Query& query, bpf_program* program,
              uint32_t link_type, uint64_t& bytes_read, std::function<void()> tick)
        : files_(std::move(files)), query_(query), program_(program), link_type_(link_type),
          bytes_read_(bytes_read), tick_(std::move(tick)) {}
    ~TapStream() { close_file(); }

    bool next(PcapRecordView& out) {
        while (true) {
            if (!reader_ && !open_next()) return false;
            PcapRecordView r;
            const uint64_t before = reader_->bytes_read();
            const bool got = reader_->next(r);
            bytes_read_ += reader_->bytes_read() - before;
            if (!got) {
                if (!reader_->damage().empty())
                    say(files_[file_].path() + ": " + reader_->damage() + "; the rest of it is not read");
                close_file();
                ++file_;
                continue;
            }
            if ((++records_ & 4095) == 0 && tick_) tick_();
            if (r.ts_ns < query_.from_ns || r.ts_ns > query_.to_ns) continue;
            if (program_ != nullptr) {
                pcap_pkthdr h{};
                h.caplen = r.caplen;
                h.len = r.len;
                if (pcap_offline_filter(program_, &h, reinterpret_cast<const u_char*>(r.data)) == 0)
                    continue;
            }
            out = r;
            return true;
        }
    }

private:
    bool open_next() {
        for (; file_ < files_.size(); ++file_) {
            FilePlan& plan = files_[file_];
            if (plan.ranges.empty()) continue;
            if (plan.header.link_type != link_type_) {
                say(plan.path() + ": link type " + std::to_string(plan.header.link_type) +
                    ", not the " + std::to_string(link_type_) + " of the output; skipped");
                continue;
            }
            fd_ = ::open(plan.path().c_str(), O_RDONLY | O_CLOEXEC);
            if (fd_ < 0 && plan.writing) fd_ = ::open(plan.published_path().c_str(), O_RDONLY | O_CLOEXEC);
            if (fd_ < 0) {
                say(plan.path() + ": " + (errno == ENOENT ? "deleted while the query ran (retention)"
                                                          : std::strerror(errno)) + "; skipped");
                continue;
            }
            reader_ = std::make_unique<PcapRanges>(fd_, plan.header, plan.ranges);
            return true;
        }
        return false;
    }
    void close_file() {
        reader_.reset();
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    std::vector<FilePlan> files_;
    const Query& query_;
    bpf_program* program_;
    uint32_t link_type_;
    uint64_t& bytes_read_;
    std::function<void()> tick_;
    uint64_t records_ = 0;
    size_t file_ = 0;
    int fd_ = -1;
    std::unique_ptr<PcapRanges> reader_;
};

class Output {
public:
    explicit Output(int fd) : fd_(fd) { buffer_.reserve(capacity + 300000); }
    bool header(uint32_t link_type) {
        char h[24];
        const uint32_t magic = pcap_format::magic_nanoseconds, snaplen = output_snaplen;
        const uint16_t major = 2, minor = 4;
        const uint32_t zero = 0;
        std::memcpy(h, &magic, 4);
        std::memcpy(h + 4, &major, 2);
        std::memcpy(h + 6, &minor, 2);
        std::memcpy(h + 8, &zero, 4);
        std::memcpy(h + 12, &zero, 4);
        std::memcpy(h + 16, &snaplen, 4);
        std::memcpy(h + 20, &link_type, 4);
        buffer_.append(h, 24);
        return flush();
    }
    bool record(const PcapRecordView& r) {
        const uint32_t f[4] = {uint32_t(r.ts_ns / 1'000'000'000u), uint32_t(r.ts_ns % 1'000'000'000u),
                               r.caplen, r.len};
        buffer_.append(reinterpret_cast<const char*>(f), 16);
        buffer_.append(r.data, r.caplen);
        return buffer_.size() < capacity || flush();
    }
    bool flush() {
        size_t done = 0;
        while (done < buffer_.size()) {
            const ssize_t w = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                error_ = w < 0 ? errno : ENOSPC;
                return false;
            }
            done += size_t(w);
        }
        buffer_.clear();
        return true;
    }
    int error() const noexcept { return error_; }

private:
    static constexpr size_t capacity = size_t{1} << 20;
    int fd_;
    std::string buffer_;
    int error_ = 0;
};

struct Options {
    std::string config_path, dir, tap, from, to, output;
    bool output_given = false, list = false;
    std::string filter;
};

}  // namespace

int run_query_command(const std::vector<std::string_view>& args) {
    Options o;
    std::vector<std::string> words;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string arg(args[i]);
        auto value = [&](std::string& into) {
            if (i + 1 == args.size()) return false;
            into = std::string(args[++i]);
            return true;
        };
        if (arg == "--help" || arg == "-h") {
            std::fputs(query_usage, stdout);
            return exit_ok;
        } else if (arg == "--config" || arg == "-c") {
            if (!value(o.config_path)) return usage_error(arg + " needs a FILE");
        } else if (arg == "--dir") {
            if (!value(o.dir)) return usage_error("--dir needs a DIR");
        } else if (arg == "--tap") {
            if (!value(o.tap)) return usage_error("--tap needs a NAME");
        } else if (arg == "--from") {
            if (!value(o.from)) return usage_error("--from needs a TIME");
        } else if (arg == "--to") {
            if (!value(o.to)) return usage_error("--to needs a TIME");
        } else if (arg == "-w") {
            if (!value(o.output)) return usage_error("-w needs a FILE (or - for stdout)");
            o.output_given = true;
        } else if (arg == "--list") {
            o.list = true;
        } else if (arg == "--") {
            for (++i; i < args.size(); ++i) words.emplace_back(args[i]);
        } else if (arg.size() > 1 && arg[0] == '-' && words.empty() &&
                   !std::isdigit(uint8_t(arg[1]))) {
            return usage_error("unknown option '" + arg + "'");
        } else {
            words.push_back(arg);
        }
    }
    for (const std::string& w : words) o.filter += (o.filter.empty() ? "" : " ") + w;
    if (!o.config_path.empty() && !o.dir.empty()) return usage_error("give --config or --dir, not both");

    Query query;
    const uint64_t now = realtime_now_ns();
    std::string error;
    if (!o.from.empty()) {
        const std::optional<uint64_t> t = parse_query_time(o.from, now, error);
        if (!t) return usage_error("--from: " + error);
        query.from_ns = *t;
    }
    if (!o.to.empty()) {
        const std::optional<uint64_t> t = parse_query_time(o.to, now, error);
        if (!t) return usage_error("--to: " + error);
        query.to_ns = *t;
    }
    if (query.from_ns > query.to_ns) return usage_error("--from is after --to");

    std::vector<std::string> taps;
    if (!o.config_path.empty()) {
        ParseResult parsed = load_config_file(o.config_path);
        std::vector<ConfigError> errors = parsed.errors;
        if (errors.empty()) errors = validate_config(parsed.config);
        if (!errors.empty()) {
            for (const ConfigError& e : errors) say(e.to_string());
            return exit_usage;
        }
        for (const TapConfig& tap : parsed.config.taps) {
            const std::string dir = parsed.config.output.directory + "/" + tap.name;
            if (is_dir(dir)) taps.push_back(dir);
        }
        if (taps.empty())
            return usage_error("no tap of " + o.config_path + " has a folder under " +
                               parsed.config.output.directory + " yet");
    } else {
        taps = tap_dirs_in(o.dir.empty() ? std::string(defaults::output_directory) : o.dir, error);
        if (taps.empty()) return usage_error(error);
    }
    if (!o.tap.empty()) {
        std::erase_if(taps, [&](const std::string& t) { return base_name(t) != o.tap; });
        if (taps.empty()) return usage_error("--tap " + o.tap + ": no such tap there");
    }

    query.filter_index = FilterIndex::analyze(o.filter);
    std::vector<std::vector<FilePlan>> plans;
    uint32_t link_type = 0;
    bool have_link_type = false;
    uint64_t total_bytes = 0, total_size = 0;
    size_t total_blocks = 0, total_files = 0;
    for (const std::string& tap : taps) {
        plans.push_back(plan_tap(tap, query));
        for (const FilePlan& p : plans.back()) {
            if (!have_link_type) link_type = p.header.link_type;
            have_link_type = true;
            if (p.how.starts_with("full read") || p.how.starts_with("index up to"))
                say(p.path() + ": " + p.how);
            total_bytes += p.bytes;
            total_size += p.size;
            total_blocks += p.blocks;
            total_files += p.ranges.empty() ? 0 : 1;
        }
    }
    // libpcap compiles the filter for the link type it will run on; a filter that does not
    // compile is a usage error, whether or not there is a file to run it on.
    pcap_t* dead = pcap_open_dead(have_link_type ? int(link_type == 101 ? DLT_RAW : link_type)
                                                 : DLT_EN10MB, int(output_snaplen));
    bpf_program program{};
    const bool filtering = !o.filter.empty();
    if (filtering && pcap_compile(dead, &program, o.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        const std::string why = pcap_geterr(dead);
        pcap_close(dead);
        return usage_error("bad filter '" + o.filter + "': " + why);
    }
    if (filtering && !query.filter_index.narrows())
        say("the filter is not used to skip blocks (" + query.filter_index.unused_reason() +
            "); blocks in the time range are read and libpcap decides each packet");

    if (o.list) {
        for (const auto& tap : plans)
            for (const FilePlan& p : tap)
                std::printf("%s  %s  blocks %zu of %zu  bytes %llu of %llu\n", p.path().c_str(),
                            p.how.c_str(), p.blocks, p.blocks_total,
                            (unsigned long long)p.bytes, (unsigned long long)p.size);
        std::printf("total: %zu files to read, %zu blocks, %s of %s (%.3f %%)\n", total_files,
                    total_blocks, mib(total_bytes).c_str(), mib(total_size).c_str(),
                    total_size == 0 ? 0.0 : 100.0 * double(total_bytes) / double(total_size));
        if (filtering) pcap_freecode(&program);
        pcap_close(dead);
        return exit_ok;
    }

    int out_fd = STDOUT_FILENO;
    if (o.output_given && o.output != "-") {
        out_fd = ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (out_fd < 0) {
            say("cannot create " + o.output + ": " + std::strerror(errno));
            return exit_usage;
        }
    } else if (!o.output_given && ::isatty(STDOUT_FILENO)) {
        return usage_error("stdout is a terminal: give -w FILE, or -w - to mean it, or pipe "
                           "into a reader (| tshark -r -)");
    }
    ::signal(SIGPIPE, SIG_IGN);  // a reader that stops early is an EPIPE, not a kill

    uint64_t bytes_read = 0, matched = 0;
    Output output(out_fd);
    bool ok = output.header(link_type);
    // One stream per tap, merged by time (ties in tap order).
    using Head = std::pair<PcapRecordView, size_t>;
    auto later = [](const Head& a, const Head& b) {
        return a.first.ts_ns != b.first.ts_ns ? a.first.ts_ns > b.first.ts_ns : a.second > b.second;
    };
    std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
    const uint64_t start = monotonic_now_ns();
    uint64_t last_progress = start;
    bool progress_shown = false;
    auto progress = [&](bool final) {
        const uint64_t t = monotonic_now_ns();
        if (!final && (t - start < progress_after_ns || t - last_progress < progress_after_ns)) return;
        if (final && !progress_shown) return;
        last_progress = t;
        progress_shown = true;
        std::fprintf(stderr, "taprec query: %s of %s read, %llu packets matched, %.1f s%s\n",
                     mib(bytes_read).c_str(), mib(total_bytes).c_str(),
                     (unsigned long long)matched, double(t - start) / 1e9, final ? ", done" : "");
    };
    std::vector<std::unique_ptr<TapStream>> streams;
    for (auto& tap : plans)
        streams.push_back(std::make_unique<TapStream>(std::move(tap), query,
                                                      filtering ? &program : nullptr, link_type,
                                                      bytes_read, [&] { progress(false); }));
    for (size_t i = 0; i < streams.size(); ++i) {
        PcapRecordView r;
        if (streams[i]->next(r)) heads.push({r, i});
    }
    // A stream's record stays valid until that stream moves on: write it before it does.
    while (ok && !heads.empty()) {
        const Head head = heads.top();
        heads.pop();
        ok = output.record(head.first);
        ++matched;
        PcapRecordView r;
        if (streams[head.second]->next(r)) heads.push({r, head.second});
    }
    ok = ok && output.flush();
    progress(true);
    if (filtering) pcap_freecode(&program);
    pcap_close(dead);
    if (out_fd != STDOUT_FILENO) ::close(out_fd);
    if (!ok) {
        if (output.error() == EPIPE) return exit_ok;  // the reader had what it wanted
        say(std::string("writing the output failed: ") + std::strerror(output.error()));
        return exit_failure;
    }
    return exit_ok;
}

}  // namespace taprec
