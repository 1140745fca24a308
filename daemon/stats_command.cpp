#include "daemon/stats_command.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "pipeline/clock_now.hpp"
#include "config/parse.hpp"
#include "config/validate.hpp"
#include "stats/counter_table.hpp"
#include "stats/human_rate.hpp"
#include "stats/json.hpp"

namespace taprec {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 2;

const char* const stats_usage =
    "usage: taprec stats [--config FILE | --dir DIR] [--watch] [--json]\n"
    "  --config FILE  every tap of this configuration (DIRECTORY/TAP)\n"
    "  --dir DIR      a tap folder, or the output directory holding tap folders\n"
    "                 (default: " "/var/lib/taprec" ")\n"
    "  --watch        refresh every stats interval until Ctrl-C\n"
    "  --json         print the last stats.jsonl line as it is\n";

// The node holding a counter of the table in a stats.jsonl line, or an undefined node.
YAML::Node counter_node(const YAML::Node& root, const CounterSpec& c, size_t index) {
    switch (c.scope) {
    case CounterScope::port: return root["ports"][port_name(index)];
    case CounterScope::stage: return root["stages"] ? root["stages"][c.section] : YAML::Node();
    case CounterScope::tap: return *c.section == '\0' ? root : root[c.section];
    case CounterScope::worker: return root["workers"][index];
    }
    return YAML::Node();
}

uint64_t u64(const YAML::Node& node, const char* key) {
    const YAML::Node value = node[key];
    return value ? value.as<uint64_t>() : 0;
}

std::string right(const std::string& text, size_t width) {
    return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

std::string left(const std::string& text, size_t width) {
    return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string local_time(uint64_t time_ns) {
    const time_t seconds = time_t(time_ns / 1'000'000'000u);
    tm local{};
    localtime_r(&seconds, &local);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &local);
    return buf;
}

std::string age(uint64_t then_ns, uint64_t now_ns) {
    if (now_ns <= then_ns) return "just now";
    const uint64_t s = (now_ns - then_ns) / 1'000'000'000u;
    if (s < 120) return std::to_string(s) + " s ago";
    if (s < 7200) return std::to_string(s / 60) + " min ago";
    if (s < 172800) return std::to_string(s / 3600) + " h ago";
    return std::to_string(s / 86400) + " days ago";
}

// The last two complete lines of a file; reads only its tail, however long the file grew.
std::vector<std::string> last_two_lines(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "no statistics yet: " + path + " does not exist; the daemon writes its first line "
                "one stats interval after it starts";
        return {};
    }
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    for (std::streamoff tail = 64 * 1024;; tail *= 4) {
        const std::streamoff start = std::max<std::streamoff>(0, size - tail);
        in.clear();
        in.seekg(start);
        std::string text(size_t(size - start), '\0');
        in.read(text.data(), std::streamsize(text.size()));
        // Only lines ending in '\n' are complete: the daemon may be appending the last one.
        std::vector<std::string> lines;
        size_t end = text.rfind('\n');
        while (end != std::string::npos && lines.size() < 2) {
            const size_t begin = end == 0 ? std::string::npos : text.rfind('\n', end - 1);
            const size_t first = begin == std::string::npos ? 0 : begin + 1;
            // The first piece of a tail that does not start at 0 may be cut: not a line.
            if (begin == std::string::npos && start != 0) break;
            if (end > first) lines.insert(lines.begin(), text.substr(first, end - first));
            if (begin == std::string::npos) break;
            end = begin;
        }
        if (lines.size() == 2 || start == 0) {
            if (lines.empty())
                error = "no statistics yet: " + path + " is empty; the daemon writes its first "
                        "line one stats interval after it starts";
            return lines;
        }
    }
}

struct TapStats {
    std::string dir;
    std::string error;  // empty when `last` is valid
    std::string last_line;
    StatsLine last;
    std::optional<StatsLine> previous;
};

TapStats read_tap(const std::string& dir) {
    TapStats t;
    t.dir = dir;
    const std::string path = dir + "/.meta/stats.jsonl";
    const std::vector<std::string> lines = last_two_lines(path, t.error);
    if (lines.empty()) return t;
    t.last_line = lines.back();
    const std::optional<StatsLine> last = parse_stats_line(lines.back());
    if (!last) {
        t.error = path + ": the last line is not a taprec stats line; was the file edited?";
        return t;
    }
    t.last = *last;
    if (lines.size() == 2) t.previous = parse_stats_line(lines.front());
    return t;
}

// The tap folders to show: DIR itself when it is one, else the tap folders inside it.
std::vector<std::string> tap_dirs_in(const std::string& dir, std::string& error) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        error = dir + ": " + (fs::exists(dir, ec) ? "not a folder" : "no such folder") +
                "; give a tap folder (DIRECTORY/TAP) or the output directory";
        return {};
    }
    if (fs::is_directory(dir + "/.meta", ec)) return {dir};
    std::vector<std::string> taps;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec))
        if (fs::is_directory(entry.path() / ".meta", ec)) taps.push_back(entry.path().string());
    std::sort(taps.begin(), taps.end());
    if (taps.empty())
        error = "no statistics yet: " + dir + " holds no tap folder (none with a .meta/ folder); "
                "give a tap folder or the output directory of a configuration that has run";
    return taps;
}

std::string join_path(std::string directory, const std::string& name) {
    while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
    return directory == "/" ? "/" + name : directory + "/" + name;
}

std::atomic<bool> interrupted{false};
extern "C" void on_interrupt(int) { interrupted.store(true, std::memory_order_relaxed); }

// Renders every tap; returns how many had statistics.
size_t render(const std::vector<std::string>& dirs, bool json, std::string& out,
              std::string& errors, uint64_t& interval_ns) {
    size_t shown = 0;
    for (const std::string& dir : dirs) {
        const TapStats t = read_tap(dir);
        if (!t.error.empty()) {
            errors += "taprec stats: " + t.error + "\n";
            continue;
        }
        ++shown;
        // The gap before a final line is not an interval: the daemon wrote it when it stopped.
        if (t.previous && !t.last.final && interval_ns == 0 &&
            t.last.snapshot.time_ns > t.previous->snapshot.time_ns)
            interval_ns = t.last.snapshot.time_ns - t.previous->snapshot.time_ns;
        if (json) {
            out += t.last_line + "\n";
        } else {
            if (shown > 1) out += "\n";
            out += stats_table(dir, t.last, t.previous, realtime_now_ns());
        }
    }
    return shown;
}

}  // namespace

std::optional<StatsLine> parse_stats_line(const std::string& line) {
    try {
        // JSON is YAML's flow style: yaml-cpp, already the configuration's parser, reads it.
        const YAML::Node root = YAML::Load(line);
        if (!root.IsMap() || !root["time_ns"] || !root["ports"]) return std::nullopt;
        StatsLine s;
        s.snapshot.time_ns = u64(root, "time_ns");
        s.snapshot.tap = root["tap"] ? root["tap"].as<std::string>() : "";
        s.final = root["final"] && root["final"].as<bool>();
        const YAML::Node ports = root["ports"];
        for (size_t p = 0; p < s.snapshot.ports.size(); ++p)
            s.snapshot.ports[p].present = bool(ports[port_name(p)]);
        if (const YAML::Node workers = root["workers"]; workers && workers.IsSequence())
            s.snapshot.workers.resize(workers.size());
        // A key a line lacks (one from an older taprec) reads as 0.
        for (const CounterSpec& c : counter_table)
            for (size_t i = 0; i < counter_instances(c, s.snapshot); ++i)
                if (counter_present(c, s.snapshot, i))
                    if (const YAML::Node node = counter_node(root, c, i))
                        c.at(s.snapshot, i) = u64(node, c.name);
        return s;
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
}

std::string stats_table(const std::string& tap_dir, const StatsLine& last,
                        const std::optional<StatsLine>& previous, uint64_t now_ns) {
    const TapSnapshot& now = last.snapshot;
    // Rates only between two lines of one run: a restart starts the counters again from 0.
    double seconds = 0;
    if (previous && now.time_ns > previous->snapshot.time_ns && !previous->final) {
        bool same_run = true;
        for (size_t p = 0; p < now.ports.size(); ++p)
            same_run = same_run && now.ports[p].received >= previous->snapshot.ports[p].received &&
                       now.ports[p].present == previous->snapshot.ports[p].present;
        if (same_run) seconds = double(now.time_ns - previous->snapshot.time_ns) / 1e9;
    }
    auto rate = [&](uint64_t a, uint64_t b, bool bytes) -> std::string {
        if (seconds <= 0) return "-";
        const double per_second = double(a - std::min(a, b)) / seconds;
        return bytes ? human_rate(8 * per_second, "bit/s") : human_rate(per_second, "/s");
    };

    std::string out = "tap " + (now.tap.empty() ? std::string("?") : now.tap) + "  " + tap_dir + "\n";
    char interval[64] = "";
    if (seconds > 0) std::snprintf(interval, sizeof interval, "; rates over the last %.1f s", seconds);
    out += "  " + local_time(now.time_ns) + " (" + age(now.time_ns, now_ns) + "), " +
           (last.final ? "final line: the daemon stopped" : "running") +
           (seconds > 0 ? std::string(interval) : std::string("; no rates yet (one line)")) + "\n";

    constexpr size_t name_w = 16, count_w = 14, rate_w = 14;
    std::string header = "  " + left("port", name_w);
    for (size_t p = 0; p < now.ports.size(); ++p) {
        if (!now.ports[p].present) continue;
        header += right(std::string(port_name(p)) + (p == 0 ? " (A->B)" : " (B->A)"), count_w) +
                  right("rate", rate_w);
    }
    out += header + "\n";
    auto port_row = [&](const std::string& name, auto value_of, bool bytes, bool with_rate) {
        std::string row = "  " + left(name, name_w);
        for (size_t p = 0; p < now.ports.size(); ++p) {
            if (!now.ports[p].present) continue;
            const int64_t value = value_of(now, p);
            row += right(std::to_string(value), count_w);
            row += right(with_rate && previous
                             ? rate(uint64_t(value), uint64_t(value_of(previous->snapshot, p)), bytes)
                             : (with_rate ? "-" : ""),
                         rate_w);
        }
        while (!row.empty() && row.back() == ' ') row.pop_back();
        out += row + "\n";
    };
    for (const CounterSpec& c : counter_table)
        if (c.scope == CounterScope::port)
            port_row(c.name,
                     [&c](const TapSnapshot& s, size_t p) {
                         return int64_t(counter_value(c, s, p));
                     },
                     c.unit == CounterUnit::bytes, true);
    port_row("in_flight", [](const TapSnapshot& s, size_t p) { return s.ports[p].in_flight(); },
             false, false);
    {
        std::string row = "  " + left("upstream_loss", name_w);
        for (const PortSnapshot& p : now.ports) {
            if (!p.present) continue;
            char percent[32];
            std::snprintf(percent, sizeof percent, "%.4f %%", upstream_loss_percent(p.tcp_ack_gaps, p.tcp_acks));
            row += right(percent, count_w) + std::string(rate_w, ' ');
        }
        while (!row.empty() && row.back() == ' ') row.pop_back();
        out += row + "\n";
    }

    // Stages summed over ports: one column per stage, one row per name, "-" where a stage has no
    // such counter.
    std::vector<std::string_view> stages, names;
    for (const CounterSpec& c : counter_table) {
        if (c.scope != CounterScope::stage) continue;
        if (std::find(stages.begin(), stages.end(), c.section) == stages.end())
            stages.push_back(c.section);
        if (std::find(names.begin(), names.end(), c.name) == names.end()) names.push_back(c.name);
    }
    std::string stage_header = "  " + left("stage", name_w);
    for (const std::string_view stage : stages) stage_header += right(std::string(stage), count_w);
    out += stage_header + "\n";
    for (const std::string_view name : names) {
        std::string row = "  " + left(std::string(name), name_w);
        for (const std::string_view stage : stages) {
            std::string cell = "-";
            for (const CounterSpec& c : counter_table)
                if (c.scope == CounterScope::stage && stage == c.section && name == c.name)
                    cell = std::to_string(counter_value(c, now, 0));
            row += right(cell, count_w);
        }
        out += row + "\n";
    }

    // The tap as a whole: the port counters summed, then its own (hooks.started, files, ...).
    constexpr size_t tap_name_w = 26;
    out += "  " + left("tap", tap_name_w) + right("total", count_w) + "\n";
    auto tap_row = [&](const std::string& name, const std::string& value) {
        out += "  " + left(name, tap_name_w) + right(value, count_w) + "\n";
    };
    for (const CounterSpec& c : counter_table)
        if (c.summed) tap_row(c.name, std::to_string(counter_sum(c, now)));
    for (const CounterSpec& c : counter_table)
        if (c.scope == CounterScope::tap)
            tap_row(*c.section == '\0' ? c.name : std::string(c.section) + "." + c.name,
                    std::to_string(counter_value(c, now, 0)));
    tap_row("drops", std::to_string(tap_drops(now)));

    if (!now.workers.empty()) {
        std::string header = "  " + left("worker", name_w);
        for (size_t w = 0; w < now.workers.size(); ++w) header += right(std::to_string(w), count_w);
        out += header + "\n";
        for (const CounterSpec& c : counter_table) {
            if (c.scope != CounterScope::worker) continue;
            std::string row = "  " + left(c.name, name_w);
            for (size_t w = 0; w < now.workers.size(); ++w)
                row += right(std::to_string(counter_value(c, now, w)), count_w);
            out += row + "\n";
        }
    }

    out += "  written " + std::to_string(written(now)) + " packets (" +
           human_rate(double(written_bytes(now)), "B") + ") in " + std::to_string(now.files) +
           " files";
    if (previous && seconds > 0)
        out += ", " + rate(written_bytes(now), written_bytes(previous->snapshot), true);
    out += "; dropped " + std::to_string(tap_drops(now)) + "\n";
    return out;
}

int run_stats_command(const std::vector<std::string_view>& args) {
    std::string config_path, dir;
    bool watch = false, json = false;
    auto usage_error = [](const std::string& message) {
        std::fprintf(stderr, "taprec stats: %s\n%s", message.c_str(), stats_usage);
        return exit_usage;
    };
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(stats_usage, stdout);
            return exit_ok;
        }
        if (arg == "--watch" || arg == "-w") {
            watch = true;
        } else if (arg == "--json") {
            json = true;
        } else if (arg == "--config" || arg == "-c" || arg == "--dir") {
            if (i + 1 == args.size()) return usage_error(std::string(arg) + " needs a value");
            (arg == "--dir" ? dir : config_path) = std::string(args[++i]);
        } else if (arg.starts_with("--config=")) {
            config_path = std::string(arg.substr(9));
        } else if (arg.starts_with("--dir=")) {
            dir = std::string(arg.substr(6));
        } else {
            return usage_error("unknown argument '" + std::string(arg) + "'");
        }
    }
    if (!config_path.empty() && !dir.empty()) return usage_error("give --config or --dir, not both");

    std::vector<std::string> dirs;
    uint64_t interval_ns = 0;  // the daemon's, when known
    if (!config_path.empty()) {
        ParseResult parsed = load_config_file(config_path);
        std::vector<ConfigError> errors = parsed.errors;
        if (errors.empty()) errors = validate_config(parsed.config);
        if (!errors.empty()) {
            for (const ConfigError& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
            return exit_usage;
        }
        for (const TapConfig& tap : parsed.config.taps)
            dirs.push_back(join_path(parsed.config.output.directory, tap.name));
        interval_ns = parsed.config.stats.interval_ns;
    } else {
        std::string error;
        dirs = tap_dirs_in(dir.empty() ? std::string(defaults::output_directory) : dir, error);
        if (dirs.empty()) {
            std::fprintf(stderr, "taprec stats: %s\n", error.c_str());
            return exit_usage;
        }
    }

    if (!watch) {
        std::string out, errors;
        const size_t shown = render(dirs, json, out, errors, interval_ns);
        std::fputs(out.c_str(), stdout);
        std::fputs(errors.c_str(), stderr);
        return shown == 0 ? exit_usage : exit_ok;
    }

    struct sigaction action{};
    action.sa_handler = on_interrupt;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    while (!interrupted.load(std::memory_order_relaxed)) {
        std::string out, errors;
        uint64_t seen_interval_ns = interval_ns;
        render(dirs, json, out, errors, seen_interval_ns);
        // On a terminal redraw in place; into a pipe or file, one block per refresh.
        std::string screen = tty && !json ? "\033[H\033[2J" : "";
        screen += out + errors;
        if (!json) screen += tty ? "(refreshing; Ctrl-C to stop)\n" : "\n";
        std::fputs(screen.c_str(), stdout);
        std::fflush(stdout);
        const uint64_t wait_ns = std::clamp<uint64_t>(seen_interval_ns ? seen_interval_ns : 1'000'000'000u,
                                                      200'000'000u, 60'000'000'000u);
        for (uint64_t slept = 0; slept < wait_ns && !interrupted.load(std::memory_order_relaxed);
             slept += 50'000'000) {
            timespec tick{0, 50'000'000};
            nanosleep(&tick, nullptr);
        }
    }
    return exit_ok;
}

}  // namespace taprec
