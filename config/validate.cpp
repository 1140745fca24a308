#include "config/validate.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

#include "config/units.hpp"

namespace taprec {

namespace {

std::string quote(const std::string& text) { return "\"" + text + "\""; }

bool is_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

// Collects errors for one Config; each check names the key it is about.
class Checker {
public:
    explicit Checker(const Config& config) : config_(config) {}

    void fail(std::string key, std::string message) {
        errors_.push_back(config_.error(std::move(key), std::move(message)));
    }
    std::vector<ConfigError> take() { return std::move(errors_); }

private:
    const Config& config_;
    std::vector<ConfigError> errors_;
};

void check_tap_name(Checker& c, const Config& config, size_t i) {
    const std::string& name = config.taps[i].name;
    const std::string key = "taps[" + std::to_string(i) + "].name";
    if (name.empty()) {
        c.fail(key, "is empty; give the tap a name of letters, digits, '_' and '-', e.g. uplink");
        return;
    }
    if (!std::all_of(name.begin(), name.end(), is_name_char)) {
        std::string fixed = name;
        std::replace_if(fixed.begin(), fixed.end(), [](char ch) { return !is_name_char(ch); }, '_');
        c.fail(key, quote(name) + " has characters other than letters, digits, '_' and '-'; it names "
                    "files and folders, so use e.g. " + quote(fixed));
    }
    for (size_t j = 0; j < i; ++j) {
        if (config.taps[j].name != name) continue;
        const std::string other = "taps[" + std::to_string(j) + "]";
        const int other_line = config.line_of(other);
        c.fail(key, quote(name) + " is already the name of " + other +
                        (other_line > 0 ? " (line " + std::to_string(other_line) + ")" : "") +
                        "; each tap writes to DIRECTORY/NAME/, so give each tap its own name");
        break;
    }
}

void check_taps(Checker& c, const Config& config) {
    if (config.taps.empty()) c.fail("taps", "no taps; list at least one");
    for (size_t i = 0; i < config.taps.size(); ++i) {
        const TapConfig& tap = config.taps[i];
        const std::string key = "taps[" + std::to_string(i) + "]";
        check_tap_name(c, config, i);
        if (tap.workers && (*tap.workers < 1 || *tap.workers > limits::max_workers)) {
            c.fail(key + ".workers", std::to_string(*tap.workers) + " workers requested; set workers to "
                                     "a number from 1 to " + std::to_string(limits::max_workers) +
                                     ", or auto");
        }
        if (tap.reorder_window_ns > limits::max_reorder_window_ns) {
            c.fail(key + ".reorder_window",
                   format_duration(tap.reorder_window_ns) + " would hold packets in memory that long "
                   "before writing them; set it to " + format_duration(limits::max_reorder_window_ns) +
                   " or less (default " + format_duration(defaults::tap_reorder_window_ns) + ")");
        }
    }
}

void check_core_list(Checker& c, const std::vector<int>& cores, const std::string& key) {
    for (size_t i = 0; i < cores.size(); ++i) {
        if (cores[i] > limits::max_core) {
            c.fail(key + "[" + std::to_string(i) + "]",
                   "core " + std::to_string(cores[i]) + " is out of range; cores are numbered 0 to " +
                       std::to_string(limits::max_core));
        }
    }
}

void check_threads(Checker& c, const Config& config) {
    const ThreadsConfig& threads = config.threads;
    check_core_list(c, threads.rx, "threads.rx");
    check_core_list(c, threads.workers, "threads.workers");
    if (threads.writer && *threads.writer > limits::max_core) {
        c.fail("threads.writer", "core " + std::to_string(*threads.writer) +
                                     " is out of range; cores are numbered 0 to " +
                                     std::to_string(limits::max_core));
    }
    // Fewer cores than workers is no mistake: they are handed out in order and shared, and
    // when every stage of a tap is on one core the tap runs as one loop of tasks on it.
}

// Every pinned core with its key: "threads.rx[0]", ..., "threads.writer".
std::vector<std::pair<std::string, int>> pinned_cores(const ThreadsConfig& threads) {
    std::vector<std::pair<std::string, int>> pinned;
    for (size_t i = 0; i < threads.rx.size(); ++i)
        pinned.emplace_back("threads.rx[" + std::to_string(i) + "]", threads.rx[i]);
    for (size_t i = 0; i < threads.workers.size(); ++i)
        pinned.emplace_back("threads.workers[" + std::to_string(i) + "]", threads.workers[i]);
    if (threads.writer) pinned.emplace_back("threads.writer", *threads.writer);
    return pinned;
}

// Sorted core numbers as a cpu list, the way taskset and /sys write them: "0-3,8,10-11".
std::string cpu_list(std::span<const int> cores) {
    std::string out;
    for (size_t i = 0; i < cores.size();) {
        size_t j = i;
        while (j + 1 < cores.size() && cores[j + 1] == cores[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(cores[i]);
        if (j > i) out += '-' + std::to_string(cores[j]);
        i = j + 1;
    }
    return out;
}

void check_dpdk(Checker& c, const Config& config) {
    const uint32_t descriptors = config.dpdk.rx_descriptors;
    if (descriptors >= limits::min_rx_descriptors && descriptors <= limits::max_rx_descriptors) return;
    // Not rounded to a power of two here: each driver adjusts the count to what its NIC takes.
    c.fail("dpdk.rx_descriptors",
           std::to_string(descriptors) + " is outside " + std::to_string(limits::min_rx_descriptors) +
               ".." + std::to_string(limits::max_rx_descriptors) + ", the sizes a DPDK RX ring can "
               "have; set it within that range (default " +
               std::to_string(defaults::dpdk_rx_descriptors) + ")");
}

// The power of two nearest above `value`, kept inside the ring limits.
uint32_t ring_capacity_hint(uint32_t value) {
    const uint32_t up = std::bit_ceil(std::max(value, limits::min_ring_capacity));
    return std::min(up, limits::max_ring_capacity);
}

void check_ring(Checker& c, const Config& config) {
    const uint32_t capacity = config.ring_capacity;
    const bool in_range = capacity >= limits::min_ring_capacity && capacity <= limits::max_ring_capacity;
    if (in_range && std::has_single_bit(capacity)) return;
    // A power of two lets ring indices wrap with a mask instead of a division.
    c.fail("ring_capacity", std::to_string(capacity) + " is not a power of two from " +
                                std::to_string(limits::min_ring_capacity) + " to " +
                                std::to_string(limits::max_ring_capacity) + "; set it to " +
                                std::to_string(ring_capacity_hint(capacity)));
}

// What is wrong with an output.name pattern, or "": it takes {tap} and strftime's conversions
// (an unknown one would be copied into every name as it is), and taprec adds ".pcap" itself.
std::string name_pattern_problem(const std::string& name) {
    static constexpr std::string_view conversions = "aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ+%";
    for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '{') {
            if (name.compare(i, 5, "{tap}") != 0) {
                const size_t end = name.find('}', i);
                return "has " + (end == std::string::npos ? name.substr(i) : name.substr(i, end + 1 - i)) +
                       "; the only placeholder is {tap} (and strftime's %-conversions)";
            }
            i += 4;
        } else if (name[i] == '%') {
            size_t j = i + 1;
            if (j < name.size() && (name[j] == 'E' || name[j] == 'O')) ++j;  // %Ey, %Od, ...
            if (j >= name.size() || conversions.find(name[j]) == std::string_view::npos)
                return "has " + name.substr(i, j + 1 - i) +
                       ", which strftime does not convert; write %% for a literal %";
            i = j;
        }
    }
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".pcap") == 0)
        return "ends in .pcap, which taprec adds itself; leave it out";
    return "";
}

void check_output(Checker& c, const Config& config) {
    const OutputConfig& output = config.output;
    if (output.directory.empty() || output.directory.front() != '/') {
        c.fail("output.directory", quote(output.directory) + " is not an absolute path; the service "
                                   "starts in /, so give the full path, e.g. " +
                                   std::string(defaults::output_directory));
    }
    if (output.name.empty()) {
        c.fail("output.name", "is empty; give a pattern such as " +
                                  quote(std::string(defaults::output_name)));
    } else if (output.name.find('/') != std::string::npos) {
        c.fail("output.name", quote(output.name) + " contains '/'; files go straight into "
                              "DIRECTORY/TAP/, so use '-' or '_' instead");
    } else if (const std::string problem = name_pattern_problem(output.name); !problem.empty()) {
        c.fail("output.name", quote(output.name) + " " + problem);
    }
    if (output.snaplen < limits::min_snaplen || output.snaplen > limits::max_snaplen) {
        c.fail("output.snaplen", std::to_string(output.snaplen) + " is outside " +
                                     std::to_string(limits::min_snaplen) + ".." +
                                     std::to_string(limits::max_snaplen) + "; set snaplen within that "
                                     "range (" + std::to_string(limits::max_snaplen) + " keeps whole packets)");
    }
    const uint64_t rotate_bytes = output.rotate.bytes;
    if (rotate_bytes != 0 && rotate_bytes < limits::min_rotate_bytes) {
        c.fail("output.rotate.bytes", format_size(rotate_bytes) + " would make a file every few packets; "
                                      "set it to " + format_size(limits::min_rotate_bytes) +
                                      " or more, or 0 to rotate on seconds or packets only");
    }
    const uint32_t min_free = output.retention.min_free_percent;
    if (min_free > limits::max_min_free_percent) {
        c.fail("output.retention.min_free_percent",
               std::to_string(min_free) + " leaves no room to write; set it to a number from 0 to " +
                   std::to_string(limits::max_min_free_percent));
    }
    if (!output.on_rotate.empty() && output.on_rotate[0].rfind('/', 0) != 0) {
        c.fail("output.on_rotate[0]", quote(output.on_rotate[0]) + " is not an absolute path; the "
                                      "command runs without a shell, so give the program's full path, "
                                      "e.g. /usr/local/bin/ids-feed");
    }
    if ((output.file_mode & 0600) != 0600 || (output.file_mode & 07002) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", unsigned(output.file_mode));
        c.fail("output.file_mode",
               std::string("\"") + mode + "\" " +
                   ((output.file_mode & 0600) != 0600
                        ? "does not let taprec read and write its own files"
                        : "lets every user write the capture files (or sets a special bit)") +
                   "; use \"0640\" (the default), \"0600\" or \"0644\"");
    }
    if (output.on_rotate_max == 0 || output.on_rotate_max > limits::max_on_rotate_max) {
        c.fail("output.on_rotate_max",
               std::to_string(output.on_rotate_max) + " hooks at once; set it from 1 to " +
                   std::to_string(limits::max_on_rotate_max) + " (default " +
                   std::to_string(defaults::on_rotate_max) + ")");
    }
}

void check_stats(Checker& c, const Config& config) {
    const std::string& textfile = config.stats.prometheus_textfile;
    if (!textfile.empty() && textfile.front() != '/')
        c.fail("stats.prometheus_textfile",
               quote(textfile) + " is not an absolute path; the service starts in /, so give the "
                                 "full path, e.g. /var/lib/prometheus/node-exporter/taprec.prom");
    if (config.stats.interval_ns < limits::min_stats_interval_ns) {
        c.fail("stats.interval", format_duration(config.stats.interval_ns) + " is shorter than " +
                                     format_duration(limits::min_stats_interval_ns) + "; set it to " +
                                     format_duration(limits::min_stats_interval_ns) + " or more");
    }
}

// A user or group name as useradd accepts it, or a numeric id. Whether it exists is a question
// for the machine, asked when the daemon starts.
void check_account(Checker& c, const std::string& name, const std::string& key) {
    if (name.empty()) return;
    const bool valid = std::all_of(name.begin(), name.end(), [](char ch) {
        return is_name_char(ch) || ch == '.';
    }) && name.front() != '-';
    if (!valid) {
        c.fail(key, quote(name) + " is not a " + key + " name; give a name such as taprec (letters, "
                    "digits, '_', '-', '.') or a numeric id");
    }
}

}  // namespace

std::vector<ConfigError> validate_config(const Config& config) {
    Checker checker(config);
    check_taps(checker, config);
    check_threads(checker, config);
    check_dpdk(checker, config);
    check_ring(checker, config);
    check_output(checker, config);
    check_stats(checker, config);
    check_account(checker, config.user, "user");
    check_account(checker, config.group, "group");
    return checker.take();
}

std::vector<ConfigError> check_cores_available(const Config& config, std::span<const int> available) {
    if (available.empty()) return {};
    Checker checker(config);
    std::vector<int> sorted(available.begin(), available.end());
    std::sort(sorted.begin(), sorted.end());
    const std::string offer = sorted.size() == 1 ? "only core " + cpu_list(sorted) + " is"
                                                 : "cores " + cpu_list(sorted) + " are";
    for (const auto& [key, core] : pinned_cores(config.threads)) {
        if (std::binary_search(sorted.begin(), sorted.end(), core)) continue;
        const std::string list_key = key.substr(0, key.find('['));
        checker.fail(key, "core " + std::to_string(core) + " is not available to taprec (" + offer +
                              "); pin to one of those, or leave " + list_key +
                              " out to run unpinned");
    }
    return checker.take();
}

}  // namespace taprec
