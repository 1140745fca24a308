// The Prometheus text exposition (stats/prometheus): a metric for every field of stats.jsonl with
// the right labels and values, HELP and TYPE once per family, valid syntax, checked by promtool
// where Debian's prometheus package is installed.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "daemon_run.hpp"
#include "stats/prometheus.hpp"
#include "stats/tap_snapshot.hpp"

using namespace test_support;

namespace {

// Every counter different, so a value found in the exposition says which field it came from.
taprec::TapSnapshot sample_snapshot(const std::string& tap, uint64_t base, bool two_ports) {
    taprec::TapSnapshot s;
    s.tap = tap;
    s.time_ns = 1'700'000'000'123'456'789ull;
    uint64_t v = base;
    for (size_t p = 0; p < (two_ports ? 2u : 1u); ++p) {
        taprec::PortSnapshot& port = s.ports[p];
        port.present = true;
        port.bytes = ++v;
        port.nic_missed = ++v;
        port.nic_errors = ++v;
        port.nic_nombuf = ++v;
        port.dropped_ring = ++v;
        port.dropped_writer = ++v;
        port.filtered = ++v;
        port.late = ++v;
        port.truncated = ++v;
        port.clamped = ++v;
        port.written = ++v;
        port.written_bytes = ++v;
        port.tcp_acks = 1000 + ++v;
        port.tcp_ack_gaps = ++v;
        port.tcp_gap_bytes = ++v;
        port.received = port.written + port.filtered + port.dropped_ring + port.dropped_writer + 7;
    }
    s.stages.rx_dropped_ring = ++v;
    s.stages.worker_dropped_ring = ++v;
    s.stages.worker_filtered = ++v;
    s.stages.worker_truncated = ++v;
    s.stages.worker_late = ++v;
    s.stages.writer_dropped_writer = ++v;
    s.stages.writer_late = ++v;
    s.stages.writer_clamped = ++v;
    s.files = ++v;
    s.write_errors = ++v;
    s.file_keeping.hooks_started = ++v;
    s.file_keeping.hooks_failed = ++v;
    s.file_keeping.hooks_timed_out = ++v;
    s.file_keeping.hooks_overflow = ++v;
    s.file_keeping.retention_deleted_files = ++v;
    s.file_keeping.retention_deleted_bytes = ++v;
    s.file_keeping.sync_errors = ++v;
    s.tcp_evictions = ++v;
    return s;
}

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    std::string value;
};

// A strict reader of the text format (version 0.0.4): HELP and TYPE once per family and before
// its samples, a family's samples together, names and labels as the grammar allows.
struct Exposition {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::vector<std::string> problems;
};

Exposition read_exposition(const std::string& text) {
    Exposition e;
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
    static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?))");
    static const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\")");
    std::set<std::string> helped, finished;
    std::string current;
    std::istringstream in(text);
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        std::smatch m;
        const std::string where = "line " + std::to_string(n) + ": " + line;
        if (std::regex_match(line, m, help)) {
            if (!helped.insert(m[1]).second) e.problems.push_back("second HELP, " + where);
            if (!current.empty()) finished.insert(current);
            current = m[1];
        } else if (std::regex_match(line, m, type)) {
            if (m[1] != current) e.problems.push_back("TYPE without its HELP, " + where);
            if (e.types.count(m[1])) e.problems.push_back("second TYPE, " + where);
            e.types[m[1]] = m[2];
        } else if (std::regex_match(line, m, sample)) {
            Sample s{m[1], {}, m[3]};
            if (s.name != current) e.problems.push_back("sample outside its family, " + where);
            if (finished.count(s.name)) e.problems.push_back("family split, " + where);
            const std::string labels = m[2];
            for (std::sregex_iterator it(labels.begin(), labels.end(), label), end; it != end; ++it)
                s.labels[(*it)[1]] = (*it)[2];
            if (e.types[s.name] == "counter" && !s.name.ends_with("_total"))
                e.problems.push_back("counter without _total, " + where);
            e.samples.push_back(std::move(s));
        } else {
            e.problems.push_back("not in the text format, " + where);
        }
    }
    if (!text.empty() && text.back() != '\n') e.problems.push_back("no final newline");
    return e;
}

std::string problems_of(const Exposition& e) {
    std::string out;
    for (const auto& p : e.problems) out += p + "\n";
    return out;
}

// The numeric leaves of a stats.jsonl line: "ports.a.received" -> its JSON value.
void leaves(const Json& json, const std::string& path, std::map<std::string, const Json*>& out) {
    if (json.kind == Json::Kind::object) {
        for (const auto& [key, value] : json.members)
            leaves(value, path.empty() ? key : path + "." + key, out);
    } else if (json.kind == Json::Kind::number) {
        out[path] = &json;
    }
}

}  // namespace

TEST_CASE("the exposition is valid text format with HELP and TYPE once per family",
          "[fast][prometheus]") {
    const std::vector<taprec::TapSnapshot> taps = {sample_snapshot("uplink", 0, true),
                                                   sample_snapshot("span", 500, false)};
    const std::string text = taprec::prometheus_text(taps, false);
    INFO(text);
    const Exposition e = read_exposition(text);
    INFO(problems_of(e));
    CHECK(e.problems.empty());
    CHECK(e.samples.size() > 50);
    for (const Sample& s : e.samples) {
        INFO(s.name);
        CHECK(s.name.starts_with("taprec_"));
        CHECK(s.labels.count("tap") == 1);
        // Port metrics carry both the port and the direction it captures.
        if (s.name.starts_with("taprec_port_")) {
            REQUIRE(s.labels.count("port") == 1);
            CHECK(s.labels.at("direction") == (s.labels.at("port") == "a" ? "a_to_b" : "b_to_a"));
        }
        if (s.name.starts_with("taprec_stage_")) CHECK(s.labels.count("stage") == 1);
    }
    // A tap with one port has no port b samples.
    for (const Sample& s : e.samples)
        if (s.labels.at("tap") == "span") CHECK((s.labels.count("port") == 0 || s.labels.at("port") == "a"));
}

TEST_CASE("every field of stats.jsonl is a metric with its value and labels", "[fast][prometheus]") {
    const taprec::TapSnapshot snapshot = sample_snapshot("uplink", 0, true);
    const Json line = parse_json(taprec::stats_json_line(snapshot, false));
    const Exposition e = read_exposition(taprec::prometheus_text({&snapshot, 1}, false));
    REQUIRE(e.problems.empty());
    std::map<std::string, const Json*> fields;
    leaves(line, "", fields);
    REQUIRE(fields.size() > 40);
    for (const auto& [path, value] : fields) {
        if (path == "time_ns") continue;  // taprec_stats_time_seconds, below
        INFO("stats.jsonl field " << path << " = " << value->number);
        // ports.P.F -> taprec_port_F...{port=P}; stages.S.F -> taprec_stage_F...{stage=S};
        // anything else, e.g. hooks.started -> taprec_hooks_started...
        std::vector<std::string> parts;
        for (size_t start = 0, dot = 0; dot != std::string::npos; start = dot + 1) {
            dot = path.find('.', start);
            parts.push_back(path.substr(start, dot == std::string::npos ? dot : dot - start));
        }
        std::string prefix;
        std::map<std::string, std::string> labels;
        if (parts[0] == "ports") {
            prefix = "taprec_port_" + parts[2];
            labels["port"] = parts[1];
        } else if (parts[0] == "stages" && (parts[1] == "rx" || parts[1] == "worker" || parts[1] == "writer")) {
            prefix = "taprec_stage_" + parts[2];
            labels["stage"] = parts[1];
        } else {
            prefix = "taprec";  // hooks.started -> taprec_hooks_started...
            for (const std::string& part : parts) prefix += "_" + part;
        }
        if (parts[0] == "ports" && parts[2] == "bytes") prefix = "taprec_port_received_bytes";
        bool found = false;
        for (const Sample& s : e.samples) {
            if (!s.name.starts_with(prefix)) continue;
            bool match = true;
            for (const auto& [k, v] : labels) match = match && s.labels.count(k) && s.labels.at(k) == v;
            if (!match || (labels.empty() && (s.labels.count("port") || s.labels.count("stage")))) continue;
            // A nanosecond counter of stats.jsonl is exposed in seconds (Prometheus base units).
            const double expected =
                s.name.ends_with("_seconds_total") ? value->number / 1e9 : value->number;
            found = std::abs(std::stod(s.value) - expected) < 1e-3;
            INFO("metric " << s.name << " = " << s.value);
            CHECK(found);
            break;
        }
        CHECK(found);
    }
    bool time_found = false;
    for (const Sample& s : e.samples)
        if (s.name == "taprec_stats_time_seconds") time_found = s.value == "1700000000.123";
    CHECK(time_found);
}

TEST_CASE("the file written at exit says the daemon no longer captures", "[fast][prometheus]") {
    const taprec::TapSnapshot s = sample_snapshot("uplink", 0, true);
    CHECK(taprec::prometheus_text({&s, 1}, false).find("taprec_capturing{tap=\"uplink\"} 1\n") !=
          std::string::npos);
    CHECK(taprec::prometheus_text({&s, 1}, true).find("taprec_capturing{tap=\"uplink\"} 0\n") !=
          std::string::npos);
}

TEST_CASE("label values are escaped", "[fast][prometheus]") {
    const taprec::TapSnapshot s = sample_snapshot("we\"ird\\tap\nname", 0, false);
    const std::string text = taprec::prometheus_text({&s, 1}, false);
    CHECK(text.find("tap=\"we\\\"ird\\\\tap\\nname\"") != std::string::npos);
    const Exposition e = read_exposition(text);
    INFO(problems_of(e));
    CHECK(e.problems.empty());
}

TEST_CASE("promtool check metrics accepts the exposition", "[fast][prometheus]") {
    const std::string promtool = require_program("promtool", "prometheus");
    TempDir dir;
    const std::vector<taprec::TapSnapshot> taps = {sample_snapshot("uplink", 0, true),
                                                   sample_snapshot("span", 500, false)};
    const std::string path = dir.path() + "/taprec.prom";
    write_file(path, taprec::prometheus_text(taps, false));
    const std::string command = promtool + " check metrics < " + path + " 2>&1";
    FILE* p = ::popen(command.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string output;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) output += buf;
    const int status = ::pclose(p);
    INFO(output);
    CHECK(status == 0);
    CHECK(output.empty());  // promtool prints lint problems, e.g. a counter without _total
}
