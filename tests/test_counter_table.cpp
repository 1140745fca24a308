// The counter table (stats/counter_table.hpp) is the one schema of taprec's statistics: these tests
// walk it and find every counter, with one value, in every output of one real run (stats.jsonl,
// index.jsonl where per file, Prometheus, `taprec stats --json` and its table), check the
// per-worker counters against the tap's totals, and README's table of counters against the table.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_run.hpp"
#include "stats/counter_table.hpp"
#include "stats/json.hpp"

using namespace test_support;
using taprec::counter_table;
using taprec::CounterScope;
using taprec::CounterSpec;

namespace {

// The README rows the table stands for; README.md holds them between two markers.
const char* const readme_begin = "<!-- counter table: generated from stats/counter_table.hpp -->";
const char* const readme_end = "<!-- end of counter table -->";

std::string where_in_stats_json(const CounterSpec& c) {
    switch (c.scope) {
    case CounterScope::port: return std::string("ports.P.") + c.name;
    case CounterScope::stage: return std::string("stages.") + c.section + "." + c.name;
    case CounterScope::tap:
        return *c.section == '\0' ? c.name : std::string(c.section) + "." + c.name;
    case CounterScope::worker: return std::string("workers[i].") + c.name;
    }
    return "";
}

std::string stages_of(const CounterSpec& c) {
    std::string out;
    for (size_t bit = 0; bit < std::size(taprec::stage_names); ++bit)
        if (c.stages & (1u << bit))
            out += (out.empty() ? "" : ", ") + std::string(taprec::stage_names[bit]);
    return out;
}

const char* unit_of(const CounterSpec& c) {
    switch (c.unit) {
    case taprec::CounterUnit::packets: return "packets";
    case taprec::CounterUnit::bytes: return "bytes";
    case taprec::CounterUnit::events: return "events";
    case taprec::CounterUnit::files: return "files";
    case taprec::CounterUnit::nanoseconds: return "nanoseconds";
    }
    return "";
}

std::string readme_table() {
    std::string out = "| stats.jsonl | Prometheus | counted by | unit | in drops | meaning |\n"
                      "|---|---|---|---|---|---|\n";
    for (const CounterSpec& c : counter_table) {
        // A stage family's meaning is on its first row.
        const char* help = c.help;
        for (const CounterSpec& first : counter_table)
            if (help == nullptr && std::string_view(first.metric) == c.metric) help = first.help;
        std::string key = "`" + where_in_stats_json(c) + "`";
        std::string metric = "`" + std::string(c.metric) + "`";
        if (c.summed) {
            key += ", `" + std::string(c.name) + "` (all ports)";
            metric += ", `" + taprec::summed_metric(c) + "`";
        }
        std::string meaning = help;
        if (c.per_file) meaning += " Also per file in index.jsonl.";
        out += "| " + key + " | " + metric + " | " + stages_of(c) + " | " + unit_of(c) + " | " +
               (c.drop ? "yes" : "") + " | " + meaning + " |\n";
    }
    return out;
}

// `taprec stats`' table: per block ("port", "stage", "tap", "worker"), row name -> its cells.
// Cells are separated by two spaces or more (a rate such as "2.0 k/s" holds one).
using Block = std::map<std::string, std::vector<std::string>>;
std::map<std::string, Block> read_stats_text(const std::string& text) {
    std::map<std::string, Block> blocks;
    std::string current;
    std::istringstream in(text);
    static const std::regex gap(" {2,}");
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("  ") || line.starts_with("   ")) continue;
        std::vector<std::string> cells;
        const std::string body = line.substr(2);
        for (std::sregex_token_iterator it(body.begin(), body.end(), gap, -1), end; it != end; ++it)
            if (!it->str().empty()) cells.push_back(*it);
        if (cells.empty()) continue;
        const std::string name = cells[0];
        cells.erase(cells.begin());
        if (name == "port" || name == "stage" || name == "tap" || name == "worker") {
            current = name;
            continue;
        }
        if (!current.empty()) blocks[current][name] = cells;
    }
    return blocks;
}

// Prometheus samples: "name{labels}" -> value, labels in the order the exposition writes them.
std::map<std::string, std::string> read_prometheus(const std::string& text) {
    std::map<std::string, std::string> samples;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        const size_t space = line.rfind(' ');
        samples[line.substr(0, space)] = line.substr(space + 1);
    }
    return samples;
}

const std::string tap_name = "t";

std::string config_for(const std::string& out, const std::string& prom,
                       const std::string& b_file = "icmp-echo.pcap") {
    // Two ports, two workers, a filter, a snaplen and small files, so that most counters move.
    return "taps:\n"
           "  - name: " + tap_name + "\n"
           "    a: {driver: pcap, file: \"" + test_data("ftp-ipv4.pcap") + "\"}\n"
           "    b: {driver: pcap, file: \"" + test_data(b_file) + "\"}\n"
           "    workers: 2\n"
           "threads: {idle: sleep}\n"
           "output:\n"
           "  directory: " + out + "\n"
           "  filter: \"not icmp\"\n"
           "  snaplen: 128\n"
           "  rotate: {packets: 40}\n"
           "  on_rotate: [\"/bin/true\", \"{path}\"]\n"
           "stats: {interval: 100ms, prometheus_textfile: \"" + prom + "\"}\n";
}

}  // namespace

TEST_CASE("the counter table is one schema: names, families and help", "[fast][counter_table]") {
    std::set<std::string> keys, helped;
    for (const CounterSpec& c : counter_table) {
        INFO(c.name);
        CHECK(keys.insert(where_in_stats_json(c)).second);  // one row per stats.jsonl key
        CHECK(std::string_view(c.metric).starts_with("taprec_"));
        CHECK(std::string_view(c.metric).ends_with("_total"));
        CHECK(c.stages != 0);
        if (c.help != nullptr) CHECK(helped.insert(c.metric).second);  // one HELP per family
        // Only a stage counter shares its family (one sample per stage).
        if (c.help == nullptr) CHECK(c.scope == CounterScope::stage);
        // drops, summed and per_file are about ports.
        if (c.drop || c.summed || c.per_file) CHECK(c.scope == CounterScope::port);
        if (c.drop) CHECK(c.unit == taprec::CounterUnit::packets);
        if (c.summed) CHECK(std::string_view(c.metric).starts_with("taprec_port_"));
    }
    for (const CounterSpec& c : counter_table) CHECK(helped.count(c.metric) == 1);
    // The one definition of drops: what the sensor lost; damaged and filtered frames are not.
    std::set<std::string> drops;
    for (const CounterSpec& c : counter_table)
        if (c.drop) drops.insert(c.name);
    CHECK(drops ==
          std::set<std::string>{"nic_missed", "nic_nombuf", "dropped_ring", "dropped_writer"});
}

TEST_CASE("README's table of counters is the counter table", "[fast][counter_table]") {
    const char* root = std::getenv("TAPREC_SOURCE_ROOT");
    REQUIRE(root != nullptr);
    const std::string readme = read_file(std::string(root) + "/README.md");
    const size_t begin = readme.find(readme_begin);
    const size_t end = readme.find(readme_end);
    REQUIRE(begin != std::string::npos);
    REQUIRE(end != std::string::npos);
    const size_t from = begin + std::string(readme_begin).size() + 1;
    const std::string expected = readme_table();
    // TAPREC_PRINT_COUNTER_TABLE=1 build/tests/test_counter_table prints the rows to paste.
    if (std::getenv("TAPREC_PRINT_COUNTER_TABLE") != nullptr) std::fputs(expected.c_str(), stdout);
    INFO("README.md between the markers should read (TAPREC_PRINT_COUNTER_TABLE=1 prints it):\n"
         << expected);
    CHECK(readme.substr(from, end - from) == expected);
}

TEST_CASE("every counter of the table appears in every output with one value",
          "[fast][counter_table]") {
    TempDir dir;
    const std::string out = dir.path() + "/out";
    const std::string prom = dir.path() + "/taprec.prom";
    const std::string config = dir.path() + "/c.yaml";
    write_file(config, config_for(out, prom));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const std::string tap_dir = out + "/" + tap_name;

    const Json stats = final_stats(tap_dir);
    const RunResult json_run = run_taprec({"stats", "--dir", tap_dir, "--json"});
    REQUIRE(json_run.exit_code == 0);
    const Json stats_command_json = parse_json(json_run.output);
    const RunResult text_run = run_taprec({"stats", "--dir", tap_dir});
    REQUIRE(text_run.exit_code == 0);
    INFO(text_run.output);
    const auto text = read_stats_text(text_run.output);
    const auto metrics = read_prometheus(read_file(prom));
    const std::vector<std::string> index = read_lines(tap_dir + "/.meta/index.jsonl");
    REQUIRE(index.size() >= 3);  // rotate.packets: 40

    const std::vector<std::string> ports = {"a", "b"};
    const size_t workers = stats.at("workers").items.size();
    REQUIRE(workers == 2);
    const std::string tap_label = "tap=\"" + tap_name + "\"";
    uint64_t nonzero = 0;
    for (const CounterSpec& c : counter_table) {
        std::vector<std::string> instances = {""};
        if (c.scope == CounterScope::port) instances = ports;
        if (c.scope == CounterScope::worker) instances = {"0", "1"};
        for (size_t i = 0; i < instances.size(); ++i) {
            INFO("counter " << where_in_stats_json(c) << " [" << instances[i] << "]");
            // stats.jsonl is the reference every other output must agree with.
            const Json* value = nullptr;
            const Json* from_command = nullptr;  // taprec stats --json
            std::string label;
            const std::string* cell = nullptr;  // taprec stats' table
            switch (c.scope) {
            case CounterScope::port: {
                const std::string path = "ports." + instances[i] + "." + c.name;
                value = &stats.at(path);
                from_command = &stats_command_json.at(path);
                label = tap_label + ",port=\"" + instances[i] + "\",direction=\"" +
                        (i == 0 ? "a_to_b" : "b_to_a") + "\"";
                cell = &text.at("port").at(c.name).at(2 * i);  // a value and a rate per port
                break;
            }
            case CounterScope::stage: {
                const std::string path = std::string("stages.") + c.section + "." + c.name;
                value = &stats.at(path);
                from_command = &stats_command_json.at(path);
                label = tap_label + ",stage=\"" + c.section + "\"";
                // one column per stage, in the order the header names them
                std::vector<std::string> stages;
                for (const CounterSpec& s : counter_table)
                    if (s.scope == CounterScope::stage &&
                        std::find(stages.begin(), stages.end(), s.section) == stages.end())
                        stages.push_back(s.section);
                const auto column = std::find(stages.begin(), stages.end(), c.section);
                cell = &text.at("stage").at(c.name).at(size_t(column - stages.begin()));
                break;
            }
            case CounterScope::tap: {
                const std::string path = where_in_stats_json(c);
                value = &stats.at(path);
                from_command = &stats_command_json.at(path);
                label = tap_label;
                cell = &text.at("tap").at(path).at(0);
                break;
            }
            case CounterScope::worker:
                value = &stats.at("workers").items.at(i).at(c.name);
                from_command = &stats_command_json.at("workers").items.at(i).at(c.name);
                label = tap_label + ",worker=\"" + instances[i] + "\"";
                cell = &text.at("worker").at(c.name).at(i);
                break;
            }
            const std::string expected = std::to_string(uint64_t(value->number));
            CHECK(std::to_string(uint64_t(from_command->number)) == expected);
            CHECK(*cell == expected);
            const std::string sample = std::string(c.metric) + "{" + label + "}";
            REQUIRE(metrics.count(sample) == 1);
            CHECK(metrics.at(sample) == expected);
            if (value->number != 0) ++nonzero;

            if (c.per_file) {
                uint64_t sum = 0;
                for (const std::string& line : index)
                    sum += parse_json(line).u64("ports." + instances[i] + "." + c.name);
                CHECK(sum == uint64_t(value->number));
            }
        }
        if (c.summed) {
            INFO("summed counter " << c.name);
            const uint64_t sum = stats.u64(std::string("ports.a.") + c.name) +
                                 stats.u64(std::string("ports.b.") + c.name);
            CHECK(stats.u64(c.name) == sum);
            CHECK(text.at("tap").at(c.name).at(0) == std::to_string(sum));
            REQUIRE(metrics.count(taprec::summed_metric(c) + "{" + tap_label + "}") == 1);
            CHECK(metrics.at(taprec::summed_metric(c) + "{" + tap_label + "}") ==
                  std::to_string(sum));
        }
    }
    // The run moves more than a handful of counters, or the comparisons above prove little.
    CHECK(nonzero >= 15);

    // drops: one definition, the same in index.jsonl (per file), the table and the summary line.
    uint64_t drops = 0;
    for (const CounterSpec& c : counter_table)
        if (c.drop)
            for (const std::string& port : ports)
                drops += stats.u64("ports." + port + "." + c.name);
    uint64_t index_drops = 0;
    for (const std::string& line : index)
        for (const std::string& port : ports)
            index_drops += parse_json(line).u64("ports." + port + ".drops");
    CHECK(index_drops == drops);
    CHECK(text.at("tap").at("drops").at(0) == std::to_string(drops));
    CHECK(contains(run.output, ", dropped " + std::to_string(drops) + " ("));
}

TEST_CASE("the workers' counters add up to the tap's", "[fast][counter_table]") {
    TempDir dir;
    const std::string out = dir.path() + "/out";
    const std::string config = dir.path() + "/c.yaml";
    // Port b brings 494 connections, so the flow hash gives each worker a share whatever it is
    // (the six flows of the other two captures all fell on one worker after a hash change).
    write_file(config, config_for(out, dir.path() + "/taprec.prom", "tcp-echo-494conns.pcap"));
    const RunResult run = run_taprec({"--config", config});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const Json stats = final_stats(out + "/" + tap_name);
    const std::vector<Json>& workers = stats.at("workers").items;
    REQUIRE(workers.size() == 2);
    std::map<std::string, uint64_t> sum;
    for (const Json& w : workers)
        for (const CounterSpec& c : counter_table)
            if (c.scope == CounterScope::worker) sum[c.name] += w.u64(c.name);
    // Both workers had a share of the flows.
    CHECK(workers[0].u64("received") != 0);
    CHECK(workers[1].u64("received") != 0);
    auto ports = [&](const std::string& name) {
        return stats.u64("ports.a." + name) + stats.u64("ports.b." + name);
    };
    // What reached a worker: the ports' packets less those the rx threads' rings refused.
    CHECK(sum["received"] == ports("received") - stats.u64("stages.rx.dropped_ring"));
    // What the workers handed on: written, or lost by the writer.
    CHECK(sum["written"] == ports("written") + ports("dropped_writer"));
    CHECK(sum["drops"] == stats.u64("stages.worker.dropped_ring"));
    CHECK(sum["late"] == stats.u64("stages.worker.late"));
    CHECK(sum["tcp_acks"] == stats.u64("tcp_acks"));
    CHECK(sum["tcp_acks"] != 0);
    // Each worker accounts for its share: in = out.
    for (const Json& w : workers)
        CHECK(w.u64("received") >= w.u64("written") + w.u64("drops"));
    CHECK(sum["received"] == sum["written"] + sum["drops"] + ports("filtered"));
}
