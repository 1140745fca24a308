#include "config/plan.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "config/units.hpp"

namespace taprec {

namespace {

constexpr size_t label_width = 16;

void heading(std::ostream& out, const std::string& text) { out << text << '\n'; }

// Padding by hand rather than std::setw leaves the caller's stream flags alone.
std::string padded(const std::string& label, size_t width) {
    return label.size() >= width ? label + " " : label + std::string(width - label.size(), ' ');
}

void row(std::ostream& out, const std::string& label, const std::string& value) {
    out << "  " << padded(label, label_width) << value << '\n';
}

// A setting that is a section of its own, aligned with the rows.
void top_row(std::ostream& out, const std::string& label, const std::string& value) {
    out << padded(label, label_width + 2) << value << '\n';
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty()) out += separator;
        out += part;
    }
    return out;
}

std::string cores(const std::vector<int>& list) {
    if (list.empty()) return "unpinned";
    std::vector<std::string> parts;
    for (int core : list) parts.push_back(std::to_string(core));
    return join(parts, ", ");
}

// argv as one would type it: arguments with spaces, or empty ones, in quotes.
std::string command_line(const std::vector<std::string>& argv) {
    std::vector<std::string> parts;
    for (const auto& arg : argv) {
        const bool plain = !arg.empty() && arg.find_first_of(" \t\"'") == std::string::npos;
        parts.push_back(plain ? arg : "\"" + arg + "\"");
    }
    return join(parts, " ");
}

std::string describe_port(const PortConfig& port) {
    if (port.driver == DriverKind::dpdk) return "dpdk device " + port.device;
    if (!port.file.empty()) {
        return "pcap file " + port.file + ", speed " + std::string(name_of(port.speed));
    }
    return "pcap interface " + port.interface;
}

std::string tap_directory(const Config& config, const TapConfig& tap) {
    std::string directory = config.output.directory;
    while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
    if (directory != "/") directory += '/';
    return directory + tap.name + "/";
}

std::string rotation(const RotateConfig& rotate) {
    std::vector<std::string> triggers;
    if (rotate.bytes != 0) triggers.push_back(format_size(rotate.bytes));
    if (rotate.seconds != 0) triggers.push_back(std::to_string(rotate.seconds) + "s");
    if (rotate.packets != 0) triggers.push_back(std::to_string(rotate.packets) + " packets");
    if (triggers.empty()) return "never: one file per run (SIGHUP starts a new one)";
    std::string text = "at " + join(triggers, " or ");
    if (triggers.size() > 1) text += ", whichever comes first";
    return text;
}

std::string retention(const RetentionConfig& retention) {
    std::vector<std::string> limits;
    if (retention.max_bytes != 0) limits.push_back("at most " + format_size(retention.max_bytes));
    if (retention.max_files != 0) limits.push_back("at most " + std::to_string(retention.max_files) + " files");
    if (retention.min_free_percent != 0) {
        limits.push_back(std::to_string(retention.min_free_percent) + "% of the disk free");
    }
    if (limits.empty()) return "keep every file";
    return "keep " + join(limits, ", ") + "; oldest deleted first";
}

void print_tap(std::ostream& out, const Config& config, const TapConfig& tap) {
    heading(out, "tap " + tap.name);
    row(out, "port a", describe_port(tap.a));
    row(out, "port b", tap.b ? describe_port(*tap.b) : "none (single-output TAP or SPAN)");
    row(out, "workers", tap.workers ? std::to_string(*tap.workers) : "auto (as many as the ports offer)");
    row(out, "timestamps", std::string(name_of(tap.timestamps)));
    row(out, "reorder", format_duration(tap.reorder_window_ns));
    row(out, "files", tap_directory(config, tap) + "  (in progress: .partial/, index and stats: .meta/)");
}

std::string run_as(const Config& config) {
    if (config.user.empty() && config.group.empty()) return "the starting user (no user: or group: given)";
    std::string who;
    if (!config.user.empty()) who = "user " + config.user;
    if (!config.group.empty()) who += (who.empty() ? "group " : ", group ") + config.group;
    else who += ", its own group";
    return who + ", once the ports are open";
}

bool uses_dpdk(const Config& config) {
    for (const auto& tap : config.taps) {
        if (tap.a.driver == DriverKind::dpdk) return true;
        if (tap.b && tap.b->driver == DriverKind::dpdk) return true;
    }
    return false;
}

}  // namespace

void print_plan(const Config& config, std::ostream& out) {
    top_row(out, "config", config.path);
    for (const auto& tap : config.taps) print_tap(out, config, tap);

    heading(out, "threads");
    row(out, "rx", cores(config.threads.rx));
    row(out, "workers", cores(config.threads.workers));
    row(out, "writer", config.threads.writer ? std::to_string(*config.threads.writer) : "unpinned");
    row(out, "idle", std::string(name_of(config.threads.idle)));

    if (config.dpdk.present || uses_dpdk(config)) {
        heading(out, "dpdk");
        row(out, "eal", config.dpdk.eal.empty() ? "(none extra)" : command_line(config.dpdk.eal));
        row(out, "mbufs_per_port", std::to_string(config.dpdk.mbufs_per_port));
        row(out, "rx_descriptors", std::to_string(config.dpdk.rx_descriptors));
    }

    top_row(out, "ring capacity", std::to_string(config.ring_capacity) + " packets per ring");

    const OutputConfig& output = config.output;
    heading(out, "output");
    row(out, "name", output.name + ".pcap");
    row(out, "format", output.format == OutputFormat::pcap_ns ? "pcap-ns (nanosecond timestamps)"
                                                               : "pcap (microsecond timestamps)");
    row(out, "snaplen", std::to_string(output.snaplen) + " bytes");
    row(out, "filter", output.filter.empty() ? "(none)" : "\"" + output.filter + "\"");
    row(out, "rotate", rotation(output.rotate));
    row(out, "retention", retention(output.retention));
    row(out, "on_rotate", output.on_rotate.empty() ? "(none)" : command_line(output.on_rotate));
    if (!output.on_rotate.empty()) {
        row(out, "hooks", "at most " + std::to_string(output.on_rotate_max) + " at once, the rest "
                          "queued; " + (output.on_rotate_timeout_ns == 0
                                            ? std::string("no time limit")
                                            : "killed after " + format_duration(output.on_rotate_timeout_ns)));
    }
    row(out, "sync", output.sync == SyncPolicy::close ? "close (fsync each file before publishing)"
                                                      : "none (the kernel writes back)");
    row(out, "direct_io", output.direct_io ? "true (O_DIRECT where the file system allows)" : "false");
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(output.file_mode));
    row(out, "file_mode", mode);

    heading(out, "stats");
    row(out, "interval", format_duration(config.stats.interval_ns));
    row(out, "prometheus", config.stats.prometheus_textfile.empty() ? "(none)"
                                                                    : config.stats.prometheus_textfile);
    row(out, "tcp loss", config.stats.tcp_flows == 0
                             ? std::string("estimator off")
                             : std::to_string(config.stats.tcp_flows) + " flows per worker, warn at " +
                                   std::to_string(config.stats.loss_warn_percent) + "% over " +
                                   std::to_string(config.stats.loss_warn_min_acks) +
                                   " ACKs or more");

    top_row(out, "run as", run_as(config));
}

}  // namespace taprec
