#include "config/parse.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include "config/yaml_reader.hpp"

namespace taprec {

namespace {

// The schema: the valid keys of each map, in the order DESIGN.md lists them.
constexpr std::string_view top_keys[] = {"dpdk",   "taps",  "threads", "ring_capacity",
                                         "output", "stats", "user",    "group"};
constexpr std::string_view dpdk_keys[] = {"eal", "mbufs_per_port", "rx_descriptors"};
constexpr std::string_view tap_keys[] = {"name", "a", "b", "workers", "timestamps", "reorder_window"};
constexpr std::string_view port_keys[] = {"driver", "device", "interface", "file", "speed"};
constexpr std::string_view threads_keys[] = {"rx", "workers", "writer", "idle"};
constexpr std::string_view output_keys[] = {"directory", "name",          "format",
                                            "snaplen",   "filter",        "rotate",
                                            "retention", "on_rotate",     "on_rotate_max",
                                            "on_rotate_timeout", "sync",  "direct_io",
                                            "file_mode", "index"};
constexpr std::string_view rotate_keys[] = {"bytes", "seconds", "packets"};
constexpr std::string_view retention_keys[] = {"max_bytes", "max_files", "min_free_percent"};
constexpr std::string_view stats_keys[] = {"interval", "prometheus_textfile", "tcp_flows",
                                            "loss_warn_percent", "loss_warn_min_acks"};

constexpr uint64_t u32_max = std::numeric_limits<uint32_t>::max();
constexpr uint64_t u64_max = std::numeric_limits<uint64_t>::max();

void parse_dpdk(YamlReader& r, const Field& field, DpdkConfig& dpdk) {
    dpdk.present = field.given();
    const auto s = r.map(field, dpdk_keys);
    if (!s) return;
    if (auto v = r.strings((*s)["eal"], "EAL arguments such as [\"-l\", \"0-4\"]")) dpdk.eal = *v;
    if (const Field mbufs = (*s)["mbufs_per_port"]; mbufs.given()) {
        if (mbufs.node.IsScalar() && mbufs.node.Scalar() == "auto") {
            dpdk.mbufs_per_port = std::nullopt;
        } else if (auto v = r.number(mbufs, u32_max, "auto or a number of mbufs such as 262143")) {
            dpdk.mbufs_per_port = static_cast<uint32_t>(*v);
        }
    }
    if (auto v = r.number((*s)["rx_descriptors"], u32_max, "a number of descriptors such as 4096")) {
        dpdk.rx_descriptors = static_cast<uint32_t>(*v);
    }
}

// Which keys a port takes depends on its driver; say what to write instead.
void check_port_keys(YamlReader& r, const Section& s, const PortConfig& port) {
    const Field device = s["device"], interface = s["interface"], file = s["file"], speed = s["speed"];
    if (port.driver == DriverKind::dpdk) {
        if (port.device.empty()) {
            r.error(device, "required for driver dpdk: a PCI address such as 0000:3b:00.0, or a vdev "
                            "such as net_pcap0,rx_pcap=a.pcap");
        }
        if (interface.given()) {
            r.error(interface, "not a dpdk key; capture a live interface with driver: pcap, or with "
                               "device: net_af_packet0,iface=NAME");
        }
        if (file.given()) {
            r.error(file, "not a dpdk key; replay a file with driver: pcap, or with "
                          "device: net_pcap0,rx_pcap=FILE");
        }
        if (speed.given()) r.error(speed, "not a dpdk key; speed applies to driver: pcap with file:");
        return;
    }
    if (device.given()) {
        r.error(device, "not a pcap key; give interface: (live) or file: (replay), or use driver: dpdk");
    }
    if (!port.interface.empty() && !port.file.empty()) {
        r.error(file, "give either interface: (live capture) or file: (replay), not both");
    }
    if (port.interface.empty() && port.file.empty()) {
        r.error(Field{s.node, s.key}, "driver pcap needs interface: NAME (live capture) or "
                                      "file: PATH (replay)");
    }
    if (speed.given() && port.file.empty()) {
        r.error(speed, "speed applies only to replaying a file (file: PATH); remove it");
    }
}

PortConfig parse_port(YamlReader& r, const Field& field) {
    PortConfig port;
    port.mark.line = r.line(field);
    const auto s = r.map(field, port_keys);
    if (!s) return port;
    if (auto v = r.string((*s)["device"])) port.device = *v;
    if (auto v = r.string((*s)["interface"])) port.interface = *v;
    if (auto v = r.string((*s)["file"])) port.file = *v;
    if (auto v = r.choice<ReplaySpeed>((*s)["speed"])) port.speed = *v;
    const Field driver = (*s)["driver"];
    if (!driver.given()) {
        r.error(driver, "required: dpdk or pcap");
    } else if (auto v = r.choice<DriverKind>(driver)) {
        port.driver = *v;
        check_port_keys(r, *s, port);
    }
    return port;
}

TapConfig parse_tap(YamlReader& r, const Field& field) {
    TapConfig tap;
    tap.mark.line = r.line(field);
    const auto s = r.map(field, tap_keys);
    if (!s) return tap;
    if (!field.node.IsMap()) {  // an empty `- ` entry
        r.error(field, "expected a tap, a map with keys name, a, b, workers, timestamps, "
                       "reorder_window; got nothing");
        return tap;
    }
    const Field name = (*s)["name"];
    if (!name.given()) {
        r.error(name, "required: letters, digits, '_' and '-', e.g. uplink; it names the output files");
    } else if (auto v = r.string(name)) {
        tap.name = *v;
    }
    const Field a = (*s)["a"];
    if (!a.given()) {
        r.error(a, "required: the port of the A->B direction, e.g. a: {driver: pcap, interface: eth1}");
    } else {
        tap.a = parse_port(r, a);
    }
    if (const Field b = (*s)["b"]; b.given()) tap.b = parse_port(r, b);
    if (const Field workers = (*s)["workers"]; workers.given()) {
        if (workers.node.IsScalar() && workers.node.Scalar() == "auto") {
            tap.workers = std::nullopt;
        } else if (auto v = r.number(workers, u32_max, "auto or a number of workers such as 2")) {
            tap.workers = static_cast<uint32_t>(*v);
        }
    }
    if (auto v = r.choice<TimestampSource>((*s)["timestamps"])) tap.timestamps = *v;
    if (auto v = r.duration((*s)["reorder_window"])) tap.reorder_window_ns = *v;
    return tap;
}

void parse_taps(YamlReader& r, const Field& field, std::vector<TapConfig>& taps) {
    if (!field.given()) {
        r.error(field, "required: a list of taps, e.g. taps: [{name: uplink, a: {driver: pcap, "
                       "interface: eth1}}]");
        return;
    }
    const auto elements = r.list(field, "taps, each starting with - name: ...");
    if (!elements) return;
    if (elements->empty()) r.error(field, "is empty; list at least one tap");
    for (const Field& element : *elements) taps.push_back(parse_tap(r, element));
}

void parse_threads(YamlReader& r, const Field& field, ThreadsConfig& threads) {
    const auto s = r.map(field, threads_keys);
    if (!s) return;
    if (auto v = r.cores((*s)["rx"])) threads.rx = *v;
    if (auto v = r.cores((*s)["workers"])) threads.workers = *v;
    if (auto v = r.core((*s)["writer"])) threads.writer = *v;
    if (auto v = r.choice<IdlePolicy>((*s)["idle"])) threads.idle = *v;
}

void parse_rotate(YamlReader& r, const Field& field, RotateConfig& rotate) {
    const auto s = r.map(field, rotate_keys);
    if (!s) return;
    if (auto v = r.size((*s)["bytes"], u64_max)) rotate.bytes = *v;
    if (auto v = r.number((*s)["seconds"], u64_max, "a number of seconds such as 300")) rotate.seconds = *v;
    if (auto v = r.number((*s)["packets"], u64_max, "a number of packets such as 1000000")) {
        rotate.packets = *v;
    }
}

void parse_retention(YamlReader& r, const Field& field, RetentionConfig& retention) {
    const auto s = r.map(field, retention_keys);
    if (!s) return;
    if (auto v = r.size((*s)["max_bytes"], u64_max)) retention.max_bytes = *v;
    if (auto v = r.number((*s)["max_files"], u64_max, "a number of files such as 1000")) {
        retention.max_files = *v;
    }
    if (auto v = r.number((*s)["min_free_percent"], u32_max, "a percentage such as 5")) {
        retention.min_free_percent = static_cast<uint32_t>(*v);
    }
}

void parse_output(YamlReader& r, const Field& field, OutputConfig& output) {
    const auto s = r.map(field, output_keys);
    if (!s) return;
    if (auto v = r.string((*s)["directory"])) output.directory = *v;
    if (auto v = r.string((*s)["name"])) output.name = *v;
    if (auto v = r.choice<OutputFormat>((*s)["format"])) output.format = *v;
    if (auto v = r.size((*s)["snaplen"], u32_max)) output.snaplen = static_cast<uint32_t>(*v);
    if (auto v = r.string((*s)["filter"])) output.filter = *v;
    parse_rotate(r, (*s)["rotate"], output.rotate);
    parse_retention(r, (*s)["retention"], output.retention);
    if (auto v = r.strings((*s)["on_rotate"], "program and arguments such as [\"/usr/local/bin/ids-feed\", "
                                              "\"{path}\"]")) {
        output.on_rotate = *v;
    }
    if (auto v = r.number((*s)["on_rotate_max"], u32_max, "a number of hooks such as 2")) {
        output.on_rotate_max = static_cast<uint32_t>(*v);
    }
    if (auto v = r.duration((*s)["on_rotate_timeout"])) output.on_rotate_timeout_ns = *v;
    if (auto v = r.choice<SyncPolicy>((*s)["sync"])) output.sync = *v;
    if (auto v = r.choice<bool>((*s)["direct_io"])) output.direct_io = *v;
    if (auto v = r.choice<bool>((*s)["index"])) output.index = *v;
    if (auto v = r.string((*s)["file_mode"])) {
        // Octal like chmod: "0640" or "640". Quoting is advised (YAML 1.1 readers take 0640 as
        // the number 416); either way the digits are read as octal here.
        const std::string& text = *v;
        const bool octal = !text.empty() && text.size() <= 4 &&
                           text.find_first_not_of("01234567") == std::string::npos;
        if (octal)
            output.file_mode = static_cast<uint32_t>(std::stoul(text, nullptr, 8));
        else
            r.error((*s)["file_mode"], "\"" + text + "\" is not a file mode; give octal "
                                       "permission bits in quotes, such as \"0640\"");
    }
}

void parse_stats(YamlReader& r, const Field& field, StatsConfig& stats) {
    const auto s = r.map(field, stats_keys);
    if (!s) return;
    if (auto v = r.duration((*s)["interval"])) stats.interval_ns = *v;
    if (auto v = r.string((*s)["prometheus_textfile"])) stats.prometheus_textfile = *v;
    if (auto v = r.number((*s)["tcp_flows"], 1u << 24, "a number of flows")) stats.tcp_flows = uint32_t(*v);
    if (auto v = r.number((*s)["loss_warn_percent"], 100, "a percentage"))
        stats.loss_warn_percent = uint32_t(*v);
    if (auto v = r.number((*s)["loss_warn_min_acks"], defaults::stats_loss_warn_min_acks_max,
                          "a number of ACKs"))
        stats.loss_warn_min_acks = uint32_t(*v);
}

void parse_document(YamlReader& r, const YAML::Node& root, Config& config) {
    // An empty file is an empty map: it then fails only for want of taps.
    const Field document{root.IsDefined() ? root : YAML::Node(YAML::NodeType::Null), ""};
    const auto top = r.map(document, top_keys);
    if (!top) return;
    parse_dpdk(r, (*top)["dpdk"], config.dpdk);
    parse_taps(r, (*top)["taps"], config.taps);
    parse_threads(r, (*top)["threads"], config.threads);
    if (auto v = r.number((*top)["ring_capacity"], u32_max, "a number of packets such as 65536")) {
        config.ring_capacity = static_cast<uint32_t>(*v);
    }
    parse_output(r, (*top)["output"], config.output);
    parse_stats(r, (*top)["stats"], config.stats);
    if (auto v = r.string((*top)["user"])) config.user = *v;
    if (auto v = r.string((*top)["group"])) config.group = *v;
}

int line_of(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.line + 1; }

// Counts the documents of a YAML stream and where the second one's content starts, without
// building nodes.
struct DocumentCounter final : YAML::EventHandler {
    int documents = 0;
    YAML::Mark second = YAML::Mark::null_mark();  // the first node of the second document

    void node_at(const YAML::Mark& mark) {
        if (documents == 2 && second.is_null()) second = mark;
    }
    void OnDocumentStart(const YAML::Mark&) override { ++documents; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node_at(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node_at(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  const std::string&) override {
        node_at(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        node_at(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        node_at(mark);
    }
    void OnMapEnd() override {}
};

}  // namespace

ParseResult parse_config_text(const std::string& yaml_text, const std::string& path) {
    ParseResult result;
    result.config.path = path;
    // Not YAML::LoadAll: yaml-cpp 0.7 yields empty documents forever, growing without bound, on a
    // stray flow end such as "  , x]" (found by tests/fuzz/fuzz_config; the input is in
    // tests/fuzz/regressions/config). Counting stops at the second document, which is an error.
    YAML::Node document;
    try {
        std::istringstream stream(yaml_text);
        YAML::Parser parser(stream);
        DocumentCounter counter;
        while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
        }
        if (counter.documents > 1) {
            result.errors.push_back({path, line_of(counter.second), "",
                                     "a second YAML document (after ---); keep the whole configuration in one"});
            return result;
        }
        if (counter.documents == 1) document = YAML::Load(yaml_text);
    } catch (const YAML::Exception& e) {
        result.errors.push_back({path, line_of(e.mark), "", "not valid YAML: " + e.msg});
        return result;
    }
    YamlReader reader(result.config, result.errors);
    try {
        parse_document(reader, document, result.config);
    } catch (const YAML::Exception& e) {
        // A shape the checks did not foresee; still an error with a line, never a crash.
        result.errors.push_back({path, line_of(e.mark), "", "cannot read this value: " + e.msg});
    }
    return result;
}

ParseResult load_config_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        ParseResult result;
        result.config.path = path;
        result.errors.push_back({path, 0, "", "is a directory; give the configuration file"});
        return result;
    }
    std::ifstream in(path, std::ios::binary);
    std::string text;
    if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.is_open() || in.bad()) {
        ParseResult result;
        result.config.path = path;
        result.errors.push_back({path, 0, "", std::string("cannot read: ") + std::strerror(errno)});
        return result;
    }
    ParseResult result = parse_config_text(text, path);
    std::filesystem::path folder = std::filesystem::absolute(path, ec).parent_path();
    if (!ec) resolve_relative_paths(result.config, folder.string());
    return result;
}

namespace {

std::string resolved(const std::string& folder, const std::string& path) {
    if (path.empty() || path.front() == '/') return path;
    return (std::filesystem::path(folder) / path).lexically_normal().string();
}

// A vdev's file arguments (net_pcap's rx_pcap= and tx_pcap=) resolved; the rest as written.
std::string resolved_device(const std::string& folder, const std::string& device) {
    std::string out;
    size_t begin = 0;
    while (begin <= device.size()) {
        const size_t end = std::min(device.find(',', begin), device.size());
        std::string part = device.substr(begin, end - begin);
        for (const std::string_view key : {"rx_pcap=", "tx_pcap="})
            if (part.starts_with(key)) part = std::string(key) + resolved(folder, part.substr(key.size()));
        out += (begin == 0 ? "" : ",") + part;
        begin = end + 1;
    }
    return out;
}

void resolve_port(const std::string& folder, PortConfig& port) {
    port.file = resolved(folder, port.file);
    if (port.driver == DriverKind::dpdk) port.device = resolved_device(folder, port.device);
}

}  // namespace

void resolve_relative_paths(Config& config, const std::string& folder) {
    for (TapConfig& tap : config.taps) {
        resolve_port(folder, tap.a);
        if (tap.b) resolve_port(folder, *tap.b);
    }
    config.output.directory = resolved(folder, config.output.directory);
    config.stats.prometheus_textfile = resolved(folder, config.stats.prometheus_textfile);
    // A program named without a folder is looked up in PATH, as a shell would.
    std::vector<std::string>& hook = config.output.on_rotate;
    if (!hook.empty() && hook[0].find('/') != std::string::npos) hook[0] = resolved(folder, hook[0]);
}

}  // namespace taprec
