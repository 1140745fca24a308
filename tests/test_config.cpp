// Configuration: parsing, units, validation and the plan (config/).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/parse.hpp"
#include "config/plan.hpp"
#include "config/thread_plan.hpp"
#include "config/units.hpp"
#include "config/validate.hpp"

using namespace taprec;

namespace {

// The plan on a machine the test describes: two cores, nothing else known.
MachineFacts two_cores() {
    MachineFacts m;
    m.cpus = 2;
    return m;
}

void print_plan(const Config& c, std::ostream& out) { taprec::print_plan(c, make_plan(c, two_cores()), out); }

// The example of DESIGN.md "Configuration (YAML)", comments and all, so line numbers match it.
const std::string design_example = R"(dpdk:                         # only needed when a port uses driver: dpdk
  eal: ["-l", "0-4", "--file-prefix", "taprec"]    # extra EAL arguments, passed as given
  mbufs_per_port: 262143
  rx_descriptors: 4096
taps:
  - name: uplink              # [A-Za-z0-9_-]+ ; names the files
    a: {driver: dpdk, device: "0000:3b:00.0"}      # A->B direction
    b: {driver: dpdk, device: "0000:3b:00.1"}      # B->A direction; omit for a single-output TAP or SPAN
    # a: {driver: pcap, interface: eth1}           # libpcap live
    # a: {driver: pcap, file: a.pcap, speed: max}  # libpcap offline: max | realtime
    # a: {driver: dpdk, device: "net_pcap0,rx_pcap=a.pcap"}   # any DPDK vdev
    workers: 2                # = RSS queues per port; auto = what the ports offer
    timestamps: auto          # auto | hardware | software (TSC); one clock per tap
    reorder_window: 200us
threads:                      # optional pinning; omitted means unpinned
  rx: [1]
  workers: [2, 3]
  writer: 4
  idle: spin                  # spin | yield | sleep : what a poller does when it finds nothing
ring_capacity: 65536
output:
  directory: /var/lib/taprec  # files go to DIRECTORY/TAP/
  name: "{tap}-%Y%m%d-%H%M%S" # strftime of the file's first packet; a sequence number is added on clashes
  format: pcap-ns             # pcap (microseconds) | pcap-ns (nanoseconds)
  snaplen: 65535
  filter: ""                  # BPF, libpcap syntax
  rotate: {bytes: 1GiB, seconds: 300}
  retention: {max_bytes: 0, max_files: 0, min_free_percent: 5}
  on_rotate: ["/usr/local/bin/ids-feed", "{path}"]   # run, without a shell, for each published file
stats:
  interval: 10s
  prometheus_textfile: ""     # e.g. /var/lib/prometheus/node-exporter/taprec.prom
)";

// The smallest valid configuration: one tap, one live pcap port.
const std::string minimal = "taps:\n  - name: t\n    a: {driver: pcap, interface: eth0}\n";

ParseResult parse(const std::string& text) { return parse_config_text(text, "t.yaml"); }

std::string minimal_with_workers(uint32_t workers) {
    return minimal + "    workers: " + std::to_string(workers) + "\n";
}

std::string all(const std::vector<ConfigError>& errors) {
    std::string out;
    for (const auto& e : errors) out += e.to_string() + "\n";
    return out;
}

// True when one error starts with `prefix` ("t.yaml:7: taps[0].a.devcie:") and contains `part`.
bool has_error(const std::vector<ConfigError>& errors, const std::string& prefix,
               const std::string& part = "") {
    for (const auto& e : errors) {
        const std::string text = e.to_string();
        if (text.rfind(prefix, 0) == 0 && text.find(part) != std::string::npos) return true;
    }
    return false;
}

// Parse errors for `text`, which must fail to parse.
std::vector<ConfigError> parse_errors(const std::string& text) {
    const ParseResult result = parse(text);
    REQUIRE_FALSE(result.ok());
    return result.errors;
}

// Validation errors for `text`, which must parse cleanly.
std::vector<ConfigError> validation_errors(const std::string& text) {
    const ParseResult result = parse(text);
    INFO(all(result.errors));
    REQUIRE(result.ok());
    return validate_config(result.config);
}

}  // namespace

TEST_CASE("the DESIGN.md example parses to exactly its values", "[fast]") {
    const ParseResult result = parse(design_example);
    INFO(all(result.errors));
    REQUIRE(result.ok());
    const Config& c = result.config;
    CHECK(c.path == "t.yaml");

    CHECK(c.dpdk.present);
    CHECK(c.dpdk.eal == std::vector<std::string>{"-l", "0-4", "--file-prefix", "taprec"});
    CHECK(c.dpdk.mbufs_per_port == 262143);
    CHECK(c.dpdk.rx_descriptors == 4096);

    REQUIRE(c.taps.size() == 1);
    const TapConfig& tap = c.taps[0];
    CHECK(tap.name == "uplink");
    CHECK(tap.mark.line == 6);
    CHECK(tap.a.driver == DriverKind::dpdk);
    CHECK(tap.a.device == "0000:3b:00.0");
    CHECK(tap.a.interface.empty());
    CHECK(tap.a.file.empty());
    CHECK(tap.a.mark.line == 7);
    REQUIRE(tap.b.has_value());
    CHECK(tap.b->driver == DriverKind::dpdk);
    CHECK(tap.b->device == "0000:3b:00.1");
    CHECK(tap.b->mark.line == 8);
    CHECK(tap.workers == std::optional<uint32_t>{2});
    CHECK(tap.timestamps == TimestampSource::automatic);
    CHECK(tap.reorder_window_ns == 200'000);

    CHECK(c.threads.rx == std::vector<int>{1});
    CHECK(c.threads.workers == std::vector<int>{2, 3});
    CHECK(c.threads.writer == std::optional<int>{4});
    CHECK(c.threads.idle == IdlePolicy::spin);
    CHECK(c.ring_capacity == 65536);

    CHECK(c.output.directory == "/var/lib/taprec");
    CHECK(c.output.name == "{tap}-%Y%m%d-%H%M%S");
    CHECK(c.output.format == OutputFormat::pcap_ns);
    CHECK(c.output.snaplen == 65535);
    CHECK(c.output.filter.empty());
    CHECK(c.output.rotate.bytes == 1073741824);
    CHECK(c.output.rotate.seconds == 300);
    CHECK(c.output.rotate.packets == 0);
    CHECK(c.output.retention.max_bytes == 0);
    CHECK(c.output.retention.max_files == 0);
    CHECK(c.output.retention.min_free_percent == 5);
    CHECK(c.output.on_rotate == std::vector<std::string>{"/usr/local/bin/ids-feed", "{path}"});
    CHECK(c.stats.interval_ns == 10'000'000'000);
    CHECK(c.stats.prometheus_textfile.empty());

    CHECK(validate_config(c).empty());
}

TEST_CASE("every key given in the file has its line recorded", "[fast]") {
    const Config c = parse(design_example).config;
    CHECK(c.lines.at("dpdk") == 1);
    CHECK(c.lines.at("dpdk.rx_descriptors") == 4);
    CHECK(c.lines.at("taps[0]") == 6);
    CHECK(c.lines.at("taps[0].name") == 6);
    CHECK(c.lines.at("taps[0].a.device") == 7);
    CHECK(c.lines.at("taps[0].workers") == 12);
    CHECK(c.lines.at("taps[0].reorder_window") == 14);
    CHECK(c.lines.at("threads.workers[1]") == 17);
    CHECK(c.lines.at("output.rotate.seconds") == 27);
    CHECK(c.lines.at("stats.prometheus_textfile") == 32);
    // A defaulted key falls back to its nearest given ancestor.
    CHECK(c.line_of("taps[0].a.speed") == 7);
    CHECK(c.line_of("output.rotate.packets") == 27);
    CHECK(c.line_of("nothing.here") == 0);
}

TEST_CASE("omitted keys take their defaults", "[fast]") {
    const ParseResult result = parse(minimal);
    INFO(all(result.errors));
    REQUIRE(result.ok());
    const Config& c = result.config;
    CHECK_FALSE(c.dpdk.present);
    CHECK(c.dpdk.eal.empty());
    CHECK_FALSE(c.dpdk.mbufs_per_port);  // auto: the plan sizes each pool
    CHECK(c.dpdk.rx_descriptors == 4096);
    REQUIRE(c.taps.size() == 1);
    CHECK(c.taps[0].a.driver == DriverKind::pcap);
    CHECK(c.taps[0].a.interface == "eth0");
    CHECK(c.taps[0].a.speed == ReplaySpeed::max);
    CHECK_FALSE(c.taps[0].b.has_value());
    CHECK_FALSE(c.taps[0].workers.has_value());
    CHECK(c.taps[0].timestamps == TimestampSource::automatic);
    CHECK(c.taps[0].reorder_window_ns == 200'000);
    CHECK(c.threads.rx.empty());
    CHECK(c.threads.workers.empty());
    CHECK_FALSE(c.threads.writer.has_value());
    CHECK(c.threads.idle == IdlePolicy::sleep);
    CHECK(c.ring_capacity == 65536);
    CHECK(c.output.directory == "/var/lib/taprec");
    CHECK(c.output.name == "{tap}-%Y%m%d-%H%M%S");
    CHECK(c.output.format == OutputFormat::pcap_ns);
    CHECK(c.output.snaplen == 262144);
    CHECK(c.output.filter.empty());
    CHECK(c.output.rotate.bytes == 1073741824);
    CHECK(c.output.rotate.seconds == 300);
    CHECK(c.output.rotate.packets == 0);
    CHECK(c.output.retention.max_bytes == 0);
    CHECK(c.output.retention.max_files == 0);
    CHECK(c.output.retention.min_free_percent == 5);
    CHECK(c.output.on_rotate.empty());
    CHECK(c.stats.interval_ns == 10'000'000'000);
    CHECK(c.stats.prometheus_textfile.empty());
    CHECK(c.stats.loss_warn_min_acks == 100);
    CHECK(validate_config(c).empty());
}

TEST_CASE("the other spellings of enums, auto and pcap files", "[fast]") {
    const ParseResult result = parse(
        "dpdk: {}\n"
        "taps:\n"
        "  - name: replay_1\n"
        "    a: {driver: pcap, file: a.pcap, speed: realtime}\n"
        "    b: {driver: pcap, file: b.pcap}\n"
        "    workers: auto\n"
        "    timestamps: software\n"
        "    reorder_window: 1ms\n"
        "  - name: live-2\n"
        "    a: {driver: pcap, interface: eth1}\n"
        "    timestamps: hardware\n"
        "threads: {idle: yield}\n"
        "output: {format: pcap, snaplen: 64KiB, filter: tcp port 80,\n"
        "         rotate: {bytes: 0, seconds: 0, packets: 1000000},\n"
        "         retention: {max_bytes: 2 TiB, max_files: 100, min_free_percent: 0}}\n"
        "stats: {interval: 500ms, prometheus_textfile: /tmp/taprec.prom, loss_warn_min_acks: 5}\n");
    INFO(all(result.errors));
    REQUIRE(result.ok());
    const Config& c = result.config;
    CHECK(c.dpdk.present);
    REQUIRE(c.taps.size() == 2);
    CHECK(c.taps[0].a.file == "a.pcap");
    CHECK(c.taps[0].a.speed == ReplaySpeed::realtime);
    CHECK(c.taps[0].b->file == "b.pcap");
    CHECK(c.taps[0].b->speed == ReplaySpeed::max);
    CHECK_FALSE(c.taps[0].workers.has_value());
    CHECK(c.taps[0].timestamps == TimestampSource::software);
    CHECK(c.taps[0].reorder_window_ns == 1'000'000);
    CHECK(c.taps[1].timestamps == TimestampSource::hardware);
    CHECK(c.taps[1].mark.line == 9);
    CHECK(c.threads.idle == IdlePolicy::yield);
    CHECK(c.output.format == OutputFormat::pcap_us);
    CHECK(c.output.snaplen == 65536);
    CHECK(c.output.filter == "tcp port 80");
    CHECK(c.output.rotate.bytes == 0);
    CHECK(c.output.rotate.packets == 1'000'000);
    CHECK(c.output.retention.max_bytes == 2ull << 40);
    CHECK(c.output.retention.max_files == 100);
    CHECK(c.output.retention.min_free_percent == 0);
    CHECK(c.stats.interval_ns == 500'000'000);
    CHECK(c.stats.prometheus_textfile == "/tmp/taprec.prom");
    CHECK(c.stats.loss_warn_min_acks == 5);
    CHECK(validate_config(c).empty());
}

TEST_CASE("stats.loss_warn_min_acks: a number of ACKs, nothing else", "[fast]") {
    for (const char* bad : {"many", "-1", "2000000000", "1.5"}) {
        const auto errors = parse_errors(minimal + "stats:\n  loss_warn_min_acks: " + bad + "\n");
        INFO(bad << ": " << all(errors));
        CHECK(has_error(errors, "t.yaml:5: stats.loss_warn_min_acks:"));
    }
}

TEST_CASE("sizes: binary units, bare bytes, nothing else", "[fast]") {
    CHECK(parse_size("0") == 0u);
    CHECK(parse_size("65535") == 65535u);
    CHECK(parse_size("100B") == 100u);
    CHECK(parse_size("64KiB") == 65536u);
    CHECK(parse_size("1GiB") == 1073741824u);
    CHECK(parse_size("1 GiB") == 1073741824u);
    CHECK(parse_size("3MiB") == 3u * 1048576u);
    CHECK(parse_size("2TiB") == 2ull << 40);
    CHECK(parse_size("16777215TiB") == 16777215ull << 40);

    CHECK_FALSE(parse_size(""));
    CHECK_FALSE(parse_size("GiB"));
    CHECK_FALSE(parse_size("1GB"));
    CHECK_FALSE(parse_size("1gib"));
    CHECK_FALSE(parse_size("1.5GiB"));
    CHECK_FALSE(parse_size("-1"));
    CHECK_FALSE(parse_size("+1"));
    CHECK_FALSE(parse_size(" 1"));
    CHECK_FALSE(parse_size("1 "));
    CHECK_FALSE(parse_size("1GiB extra"));
    CHECK_FALSE(parse_size("0x10"));
    CHECK_FALSE(parse_size("16777216TiB"));            // 2^64: one past the largest
    CHECK_FALSE(parse_size("99999999999999999999"));  // more digits than 64 bits hold
}

TEST_CASE("durations: a unit is required except for 0", "[fast]") {
    CHECK(parse_duration_ns("0") == 0u);
    CHECK(parse_duration_ns("750ns") == 750u);
    CHECK(parse_duration_ns("200us") == 200'000u);
    CHECK(parse_duration_ns("100ms") == 100'000'000u);
    CHECK(parse_duration_ns("10s") == 10'000'000'000u);
    CHECK(parse_duration_ns("10 s") == 10'000'000'000u);
    CHECK(parse_duration_ns("5m") == 300'000'000'000u);
    CHECK(parse_duration_ns("2h") == 7'200'000'000'000u);

    CHECK_FALSE(parse_duration_ns("10"));
    CHECK_FALSE(parse_duration_ns(""));
    CHECK_FALSE(parse_duration_ns("s"));
    CHECK_FALSE(parse_duration_ns("10 parsecs"));
    CHECK_FALSE(parse_duration_ns("10sec"));
    CHECK_FALSE(parse_duration_ns("1.5s"));
    CHECK_FALSE(parse_duration_ns("-1s"));
    CHECK_FALSE(parse_duration_ns("6000000h"));  // past 2^64 ns
}

TEST_CASE("sizes and durations print in the largest exact unit and parse back", "[fast]") {
    CHECK(format_size(0) == "0B");
    CHECK(format_size(65535) == "65535B");
    CHECK(format_size(65536) == "64KiB");
    CHECK(format_size(1073741824) == "1GiB");
    CHECK(format_size(1536ull << 20) == "1536MiB");
    CHECK(format_duration(0) == "0");
    CHECK(format_duration(200'000) == "200us");
    CHECK(format_duration(1'500'000) == "1500us");
    CHECK(format_duration(90'000'000'000) == "90s");
    CHECK(format_duration(300'000'000'000) == "5m");
    CHECK(format_duration(3'600'000'000'000) == "1h");
    for (const uint64_t v : {0ull, 1ull, 1023ull, 4096ull, 3ull << 30, 5ull << 40}) {
        CHECK(parse_size(format_size(v)) == v);
    }
    for (const uint64_t v : {0ull, 1ull, 1000ull, 200'000ull, 7'000'000'000ull, 7'200'000'000'000ull}) {
        CHECK(parse_duration_ns(format_duration(v)) == v);
    }
}

TEST_CASE("ConfigError prints FILE:LINE: KEY: MESSAGE", "[fast]") {
    CHECK(ConfigError{"a.yaml", 3, "taps[0].workers", "bad"}.to_string() == "a.yaml:3: taps[0].workers: bad");
    CHECK(ConfigError{"a.yaml", 0, "taps", "missing"}.to_string() == "a.yaml: taps: missing");
    CHECK(ConfigError{"a.yaml", 0, "", "cannot read"}.to_string() == "a.yaml: cannot read");
}

TEST_CASE("unknown keys are errors that list the valid keys", "[fast]") {
    SECTION("top level") {
        const auto errors = parse_errors(minimal + "tapz: 1\n");
        INFO(all(errors));
        CHECK(errors.size() == 1);
        CHECK(has_error(errors, "t.yaml:4: tapz: unknown key \"tapz\" (did you mean taps?)",
                        "dpdk, taps, threads, ring_capacity, output, stats"));
    }
    SECTION("in a port") {
        const auto errors = parse_errors(
            "taps:\n"
            "  - name: t\n"
            "    a: {driver: dpdk, devcie: \"0000:3b:00.0\"}\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:3: taps[0].a.devcie: unknown key \"devcie\" (did you mean device?)",
                        "driver, device, interface, file, speed"));
        CHECK(has_error(errors, "t.yaml:3: taps[0].a.device: required for driver dpdk"));
        CHECK(errors.size() == 2);
    }
    SECTION("in a nested section") {
        const auto errors = parse_errors(minimal + "output:\n  rotate:\n    byte: 1GiB\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:6: output.rotate.byte: unknown key", "bytes, seconds, packets"));
    }
    SECTION("given twice") {
        const auto errors = parse_errors(minimal + "ring_capacity: 1024\nring_capacity: 2048\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:5: ring_capacity: given twice (first on line 4)"));
    }
}

TEST_CASE("wrong types name what was expected", "[fast]") {
    SECTION("a string where a list is expected") {
        const auto errors = parse_errors("taps: uplink\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:1: taps: expected a list of taps", "got \"uplink\""));
    }
    SECTION("a number where a list of cores is expected") {
        const auto errors = parse_errors(minimal + "threads:\n  rx: 1\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:5: threads.rx: expected a list of core numbers", "got \"1\""));
    }
    SECTION("a list where a map is expected") {
        const auto errors = parse_errors(minimal + "output: [a, b]\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: output: expected a map with keys directory, name,", "got a list"));
    }
    SECTION("a map where text is expected") {
        const auto errors = parse_errors(minimal + "output:\n  filter: {tcp: 80}\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:5: output.filter: expected text, got a map"));
    }
    SECTION("a word where a number is expected") {
        const auto errors = parse_errors(minimal + "ring_capacity: lots\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: ring_capacity: expected a number of packets", "got \"lots\""));
    }
    SECTION("a negative core") {
        const auto errors = parse_errors(minimal + "threads:\n  workers: [1, -1]\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:5: threads.workers[1]: expected a core number", "got \"-1\""));
    }
    SECTION("a number too large for its field") {
        const auto errors = parse_errors(minimal + "ring_capacity: 99999999999\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: ring_capacity: \"99999999999\" is too large", "4294967295"));
    }
    SECTION("a misspelt choice") {
        const auto errors = parse_errors(minimal + "threads: {idle: spinn}\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: threads.idle: expected one of spin, yield, sleep, got \"spinn\""));
    }
    SECTION("workers neither auto nor a number") {
        const auto errors = parse_errors(minimal + "    workers: two\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: taps[0].workers: expected auto or a number of workers"));
    }
}

TEST_CASE("bad units name the units that are valid", "[fast]") {
    const auto errors = parse_errors(minimal +
                                     "output:\n"
                                     "  rotate: {bytes: 1GB}\n"
                                     "stats:\n"
                                     "  interval: 10 parsecs\n"
                                     "    \n"
                                     "  \n");
    INFO(all(errors));
    CHECK(has_error(errors, "t.yaml:5: output.rotate.bytes: expected a size", "got \"1GB\""));
    CHECK(has_error(errors, "t.yaml:5: output.rotate.bytes:", "B, KiB, MiB, GiB, TiB"));
    CHECK(has_error(errors, "t.yaml:7: stats.interval: expected a duration", "got \"10 parsecs\""));
    CHECK(has_error(errors, "t.yaml:7: stats.interval:", "ns, us, ms, s, m, h"));
    CHECK(errors.size() == 2);

    const auto bare = parse_errors(minimal + "    reorder_window: 200\n");
    INFO(all(bare));
    CHECK(has_error(bare, "t.yaml:4: taps[0].reorder_window:", "(a duration needs a unit)"));
}

TEST_CASE("missing required values", "[fast]") {
    SECTION("no taps") {
        const auto errors = parse_errors("ring_capacity: 1024\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml: taps: required"));
    }
    SECTION("an empty file") {
        const auto errors = parse_errors("");
        CHECK(has_error(errors, "t.yaml: taps: required"));
    }
    SECTION("an empty list of taps") {
        const auto errors = parse_errors("\ntaps: []\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:2: taps: is empty"));
    }
    SECTION("a tap without name or a") {
        const auto errors = parse_errors("taps:\n  - workers: 2\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:2: taps[0].name: required"));
        CHECK(has_error(errors, "t.yaml:2: taps[0].a: required"));
    }
    SECTION("a port without driver") {
        const auto errors = parse_errors("taps:\n  - name: t\n    a:\n      interface: eth0\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:3: taps[0].a.driver: required: dpdk or pcap"));
    }
    SECTION("a pcap port with neither interface nor file") {
        const auto errors = parse_errors("taps:\n  - name: t\n    a: {driver: pcap}\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:3: taps[0].a: driver pcap needs interface"));
    }
    SECTION("a pcap port with both interface and file") {
        const auto errors = parse_errors(
            "taps:\n  - name: t\n    a: {driver: pcap, interface: eth0,\n        file: a.pcap}\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: taps[0].a.file: give either interface"));
    }
    SECTION("speed without file") {
        const auto errors = parse_errors(
            "taps:\n  - name: t\n    a: {driver: pcap, interface: eth0}\n"
            "    b: {driver: pcap, interface: eth1, speed: max}\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: taps[0].b.speed: speed applies only to replaying a file"));
    }
    SECTION("pcap keys on a dpdk port") {
        const auto errors = parse_errors(
            "taps:\n  - name: t\n    a: {driver: dpdk, device: net_null0, interface: eth0}\n");
        INFO(all(errors));
        CHECK(errors.size() == 1);
        CHECK(has_error(errors, "t.yaml:3: taps[0].a.interface: not a dpdk key"));
    }
}

TEST_CASE("a YAML syntax error is reported with its line", "[fast]") {
    const auto errors = parse_errors("taps:\n  - name: t\n    a: {driver: pcap\n\nstats: [\n");
    INFO(all(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == "t.yaml");
    CHECK(errors[0].line >= 3);
    CHECK(errors[0].to_string().find("not valid YAML") != std::string::npos);

    const auto tabs = parse_errors("taps:\n  - name: t\n\t  a: x\n");
    INFO(all(tabs));
    CHECK(has_error(tabs, "t.yaml:3: not valid YAML"));

    const auto two = parse_errors(minimal + "---\nstats: {}\n");
    INFO(all(two));
    CHECK(has_error(two, "t.yaml:5: a second YAML document"));
}

TEST_CASE("every mistake is reported, not only the first", "[fast]") {
    const auto errors = parse_errors(
        "taps:\n"
        "  - name: t\n"
        "    a: {driver: pcapp, interface: eth0}\n"
        "    timestamps: gps\n"
        "threads: {idle: nap}\n"
        "ring_capacity: -5\n"
        "stats: {interval: 1 fortnight}\n");
    INFO(all(errors));
    CHECK(errors.size() == 5);
    CHECK(has_error(errors, "t.yaml:3: taps[0].a.driver: expected one of dpdk, pcap, got \"pcapp\""));
    CHECK(has_error(errors, "t.yaml:4: taps[0].timestamps: expected one of auto, hardware, software"));
    CHECK(has_error(errors, "t.yaml:5: threads.idle:"));
    CHECK(has_error(errors, "t.yaml:6: ring_capacity:"));
    CHECK(has_error(errors, "t.yaml:7: stats.interval:"));
}

TEST_CASE("impossible values fail validation with the key, line and a fix", "[fast]") {
    SECTION("workers 0") {
        const auto errors = validation_errors(minimal + "    workers: 0\n");
        INFO(all(errors));
        REQUIRE(errors.size() == 1);
        CHECK(has_error(errors, "t.yaml:4: taps[0].workers: 0 workers requested; set workers to a number "
                                "from 1 to 64, or auto"));
    }
    SECTION("workers 2000") {
        const auto errors = validation_errors(minimal + "    workers: 2000\n");
        CHECK(has_error(errors, "t.yaml:4: taps[0].workers: 2000 workers"));
    }
    SECTION("ring_capacity not a power of two") {
        const auto errors = validation_errors(minimal + "ring_capacity: 1000\n");
        INFO(all(errors));
        REQUIRE(errors.size() == 1);
        CHECK(has_error(errors, "t.yaml:4: ring_capacity: 1000 is not a power of two", "set it to 1024"));
    }
    SECTION("ring_capacity too small and too large") {
        CHECK(has_error(validation_errors(minimal + "ring_capacity: 32\n"), "t.yaml:4: ring_capacity:",
                        "set it to 64"));
        CHECK(has_error(validation_errors(minimal + "ring_capacity: 134217728\n"), "t.yaml:4: ring_capacity:",
                        "set it to 67108864"));
    }
    SECTION("a bad tap name") {
        const auto errors = validation_errors(
            "taps:\n  - a: {driver: pcap, interface: eth0}\n    name: up link/1\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:3: taps[0].name: \"up link/1\" has characters", "\"up_link_1\""));
    }
    SECTION("duplicate tap names") {
        const auto errors = validation_errors(minimal + "  - name: t\n    a: {driver: pcap, interface: eth1}\n");
        INFO(all(errors));
        REQUIRE(errors.size() == 1);
        CHECK(has_error(errors, "t.yaml:4: taps[1].name: \"t\" is already the name of taps[0] (line 2)"));
    }
    SECTION("snaplen 10") {
        const auto errors = validation_errors(minimal + "output:\n  snaplen: 10\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:5: output.snaplen: 10 is outside 64..262144"));
    }
    SECTION("fewer worker cores than workers: the workers share them, not an error") {
        const auto errors = validation_errors(minimal + "    workers: 4\n"
                                                        "threads:\n  workers: [2, 3]\n");
        INFO(all(errors));
        CHECK(errors.empty());
    }
    SECTION("a core out of range") {
        const auto errors = validation_errors(minimal + "threads:\n  rx: [1,\n    2000]\n  writer: 1024\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:6: threads.rx[1]: core 2000 is out of range"));
        CHECK(has_error(errors, "t.yaml:7: threads.writer: core 1024 is out of range"));
    }
    SECTION("output paths and rules") {
        const auto errors = validation_errors(minimal +
                                              "output:\n"
                                              "  directory: captures\n"
                                              "  name: a/b\n"
                                              "  rotate: {bytes: 1KiB}\n"
                                              "  retention: {min_free_percent: 100}\n"
                                              "  on_rotate: [ids-feed, \"{path}\"]\n"
                                              "stats: {interval: 10ms}\n");
        INFO(all(errors));
        CHECK(errors.size() == 6);
        CHECK(has_error(errors, "t.yaml:5: output.directory: \"captures\" is not an absolute path"));
        CHECK(has_error(errors, "t.yaml:6: output.name: \"a/b\" contains '/'"));
        CHECK(has_error(errors, "t.yaml:7: output.rotate.bytes: 1KiB", "set it to 64KiB or more"));
        CHECK(has_error(errors, "t.yaml:8: output.retention.min_free_percent: 100"));
        CHECK(has_error(errors, "t.yaml:9: output.on_rotate[0]: \"ids-feed\" is not an absolute path"));
        CHECK(has_error(errors, "t.yaml:10: stats.interval: 10ms is shorter than 100ms"));
    }
    SECTION("an empty output name and a long reorder window") {
        const auto errors = validation_errors(minimal + "    reorder_window: 11s\noutput: {name: \"\"}\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:4: taps[0].reorder_window: 11s", "set it to 10s or less"));
        CHECK(has_error(errors, "t.yaml:5: output.name: is empty"));
    }
    SECTION("rotation off is allowed") {
        CHECK(validation_errors(minimal + "output: {rotate: {bytes: 0, seconds: 0}}\n").empty());
    }
    SECTION("rx_descriptors: 0, or more than DPDK's uint16_t ring size holds") {
        for (const std::string value : {"0", "65536", "1048576"}) {
            const auto errors = validation_errors("dpdk:\n  rx_descriptors: " + value + "\n" + minimal);
            INFO(all(errors));
            REQUIRE(errors.size() == 1);
            CHECK(has_error(errors, "t.yaml:2: dpdk.rx_descriptors: " + value + " is outside 1..65535",
                            "(default 4096)"));
        }
    }
    SECTION("rx_descriptors that are no power of two are the driver's to adjust, not an error") {
        for (const std::string value : {"1", "1000", "65535"}) {
            INFO(value);
            CHECK(validation_errors("dpdk: {rx_descriptors: " + value + "}\n" + minimal).empty());
        }
    }
}

TEST_CASE("pinned cores must be cores taprec can be pinned to", "[fast]") {
    const Config c = parse(minimal + "threads:\n  rx: [9]\n  workers: [1,\n    2]\n  writer: 1\n").config;
    SECTION("a core the machine does not offer: the key, its line and the cores there are") {
        const std::vector<int> two_cores = {0, 1};
        const auto errors = check_cores_available(c, two_cores);
        INFO(all(errors));
        REQUIRE(errors.size() == 2);
        CHECK(errors[0].to_string() == "t.yaml:5: threads.rx[0]: core 9 is not available to taprec "
                                       "(cores 0-1 are); pin to one of those, or leave threads.rx "
                                       "out to run unpinned");
        CHECK(has_error(errors, "t.yaml:7: threads.workers[1]: core 2 is not available to taprec "
                                "(cores 0-1 are)"));
    }
    SECTION("the cores are listed as ranges, in order") {
        const std::vector<int> scattered = {11, 0, 2, 1, 8, 3, 10};
        CHECK(has_error(check_cores_available(c, scattered), "t.yaml:5: threads.rx[0]: core 9",
                        "(cores 0-3,8,10-11 are)"));
        const std::vector<int> one_core = {1};
        CHECK(has_error(check_cores_available(c, one_core), "t.yaml:5: threads.rx[0]: core 9",
                        "(only core 1 is)"));
    }
    SECTION("every pinned core offered, nothing pinned, or nothing known: no error") {
        const std::vector<int> enough = {0, 1, 2, 9};
        CHECK(check_cores_available(c, enough).empty());
        const std::vector<int> two_cores = {0, 1};
        CHECK(check_cores_available(parse(minimal).config, two_cores).empty());
        CHECK(check_cores_available(c, {}).empty());
    }
    SECTION("the writer's core") {
        const std::vector<int> two_cores = {0, 1};
        const auto errors = check_cores_available(parse(minimal + "threads: {writer: 4}\n").config, two_cores);
        INFO(all(errors));
        REQUIRE(errors.size() == 1);
        CHECK(has_error(errors, "t.yaml:4: threads.writer: core 4 is not available", "leave threads.writer out"));
    }
}

TEST_CASE("Config::error locates later checks, such as the daemon's against devices", "[fast]") {
    const Config c = parse(design_example).config;
    CHECK(c.error("taps[0].workers", "8 queues requested but port 0000:3b:00.0 offers 4").to_string() ==
          "t.yaml:12: taps[0].workers: 8 queues requested but port 0000:3b:00.0 offers 4");
    CHECK(c.error("output.rotate.packets", "x").line == 27);
}

TEST_CASE("files: an unreadable file is an error, a readable one parses", "[fast]") {
    const ParseResult missing = load_config_file("/nonexistent/taprec.yaml");
    REQUIRE(missing.errors.size() == 1);
    CHECK(has_error(missing.errors, "/nonexistent/taprec.yaml: cannot read"));

    const ParseResult directory = load_config_file("/tmp");
    CHECK(has_error(directory.errors, "/tmp: is a directory"));

    const std::string path = "/tmp/taprec_test_config_" + std::to_string(::getpid()) + ".yaml";
    {
        std::ofstream out(path);
        out << minimal << "ring_capacity: 100\n";
    }
    const ParseResult loaded = load_config_file(path);
    std::remove(path.c_str());
    INFO(all(loaded.errors));
    REQUIRE(loaded.ok());
    CHECK(loaded.config.path == path);
    CHECK(loaded.config.taps[0].a.interface == "eth0");
    CHECK(has_error(validate_config(loaded.config), path + ":4: ring_capacity: 100"));
}

TEST_CASE("the plan shows every resolved value", "[fast]") {
    const Config c = parse(design_example).config;
    std::ostringstream out;
    print_plan(c, out);
    const std::string plan = out.str();
    INFO(plan);
    const std::vector<std::string> lines_expected = {
        "config            t.yaml\n",
        "tap uplink\n",
        "  port a          dpdk device 0000:3b:00.0\n",
        "  port b          dpdk device 0000:3b:00.1\n",
        "                  2 queues at most of 4096 descriptors; pool 262143 mbufs (640 MiB, "
        "dpdk.mbufs_per_port)\n",
        "  workers         2\n",
        "  rings           4 rx_to_worker and 2 worker_to_writer of 65536 packets\n",
        // threads.rx [1] serves both ports: their rx stages share core 1 as one loop.
        "  threads         rxa and rxb as one loop on core 1 (cpu1:uplink); wk0 on core 2 "
        "(wk0:uplink); wk1 on core 3 (wk1:uplink); writer on core 4 (writer:uplink)\n",
        "  timestamps      auto: the TSC, read per burst and anchored to CLOCK_REALTIME\n",
        "  reorder         200us\n",
        "  files           /var/lib/taprec/uplink/  (in progress: .partial/, index and stats: .meta/)\n",
        "  rx              1\n",
        "  workers         2, 3\n",
        "  writer          4\n",
        "  idle            spin\n",
        "  eal             -l 0-4 --file-prefix taprec\n",
        "  mbufs_per_port  262143\n",
        "  rx_descriptors  4096\n",
        // Two pools of 262143 x 2560 bytes and EAL's 256 MiB, in 2 MiB pages.
        "  memory          1536 MiB (768 hugepages of 2 MiB; --hugepages-needed prints it)\n",
        "ring capacity     65536 packets per ring\n",
        "  name            {tap}-%Y%m%d-%H%M%S.pcap\n",
        "  format          pcap-ns (nanosecond timestamps)\n",
        "  snaplen         65535 bytes\n",
        "  filter          (none)\n",
        "  rotate          at 1GiB or 300s, whichever comes first\n",
        "  retention       keep 5% of the disk free; oldest deleted first\n",
        "  on_rotate       /usr/local/bin/ids-feed {path}\n",
        "  interval        10s\n",
        "  prometheus      (none)\n",
    };
    for (const auto& line : lines_expected) CHECK(plan.find(line) != std::string::npos);

    std::ostringstream unpinned;
    print_plan(parse(minimal + "output: {rotate: {bytes: 0, seconds: 0}}\n").config, unpinned);
    INFO(unpinned.str());
    // The fixture's machine facts name no interface: the driver decides when it opens eth0.
    CHECK(unpinned.str().find("  port a          pcap interface eth0 (its TPACKET_V3 ring if the "
                              "kernel calls it Ethernet, else libpcap)\n") != std::string::npos);
    CHECK(unpinned.str().find("  workers         auto") != std::string::npos);
    CHECK(unpinned.str().find("  rx              unpinned\n") != std::string::npos);
    CHECK(unpinned.str().find("  idle            sleep\n") != std::string::npos);
    CHECK(unpinned.str().find("  rotate          never") != std::string::npos);
    CHECK(unpinned.str().find("dpdk") == std::string::npos);
}

TEST_CASE("a live interface: Ethernet is read from the TPACKET_V3 ring, anything else through "
          "libpcap, as the plan says and the run logs; a name the facts lack is left to the "
          "driver", "[fast]") {
    const Config c = parse("taps:\n"
                           "  - name: t\n"
                           "    a: {driver: pcap, interface: eth1}\n"
                           "    b: {driver: pcap, interface: lo}\n"
                           "  - name: u\n"
                           "    a: {driver: pcap, interface: any}\n"
                           "    b: {driver: pcap, file: /tmp/x.pcap}\n")
                         .config;
    MachineFacts machine = two_cores();
    machine.interface_types = {{"eth1", 1}, {"lo", 772}};  // ARPHRD_ETHER, ARPHRD_LOOPBACK
    const RunPlan plan = make_plan(c, machine);
    CHECK(plan.taps[0].ports[0].live_reader == LiveReader::tpacket_ring);
    CHECK(plan.taps[0].ports[1].live_reader == LiveReader::libpcap);
    CHECK(plan.taps[1].ports[0].live_reader == LiveReader::none);  // not an interface: at open
    CHECK(plan.taps[1].ports[1].live_reader == LiveReader::none);     // a file
    std::ostringstream out;
    taprec::print_plan(c, plan, out);
    INFO(out.str());
    CHECK(out.str().find("  port a          pcap interface eth1 (TPACKET_V3 ring, 128 MiB, read in "
                         "place)\n") != std::string::npos);
    CHECK(out.str().find("  port b          pcap interface lo (through libpcap)\n") != std::string::npos);
    CHECK(out.str().find("  port a          pcap interface any (its TPACKET_V3 ring if the kernel "
                         "calls it Ethernet, else libpcap)\n") != std::string::npos);
    // The drivers describe an open port in the same words (test_live_pcap compares a run's log
    // with --check inside a namespace).
    CHECK(describe_live_interface("eth1", LiveReader::tpacket_ring, size_t{64} << 20) ==
          "pcap interface eth1 (TPACKET_V3 ring, 64 MiB, read in place)");
}

TEST_CASE("threads: stages pinned to one core run as one loop there, unpinned ones a thread each",
          "[fast]") {
    using Kind = StageRef::Kind;
    auto names = [](const std::vector<TapLoop>& loops) {
        std::vector<std::string> out;
        for (const TapLoop& l : loops) out.push_back(l.name);
        return out;
    };
    // Unpinned, from files: a thread per stage, placed by the scheduler.
    const TapCores unpinned{{-1, -1}, {-1, -1}, -1};
    auto loops = plan_tap_loops("t", unpinned, 2, 2, false);
    CHECK(names(loops) == std::vector<std::string>{"rxa:t", "rxb:t", "wk0:t", "wk1:t", "writer:t"});
    CHECK(std::none_of(loops.begin(), loops.end(), [](const TapLoop& l) { return l.whole_tap; }));
    // Unpinned live interfaces: one loop that sleeps on the ports.
    loops = plan_tap_loops("t", unpinned, 2, 2, true);
    REQUIRE(loops.size() == 1);
    CHECK(loops[0].name == "tap:t");
    CHECK(loops[0].whole_tap);
    CHECK(loops[0].core == -1);
    CHECK(loops[0].stages.size() == 5);
    // All on one core: one loop, pinned, whatever the ports.
    loops = plan_tap_loops("t", TapCores{{1}, {1}, 1}, 1, 1, false);
    REQUIRE(loops.size() == 1);
    CHECK(loops[0].core == 1);
    CHECK(loops[0].whole_tap);
    CHECK(describe_tap_loops(loops) == "rxa, wk0 and writer as one loop on core 1 (tap:t)");
    // rx and worker on core 0, the writer on core 1: two threads, in pipeline order.
    loops = plan_tap_loops("t", TapCores{{0}, {0}, 1}, 1, 1, true);
    REQUIRE(loops.size() == 2);
    CHECK(loops[0].stages == std::vector<StageRef>{{Kind::rx, 0}, {Kind::worker, 0}});
    CHECK(loops[1].stages == std::vector<StageRef>{{Kind::writer, 0}});
    CHECK_FALSE(loops[0].whole_tap);  // the writer's thread is fed from elsewhere: no poll() on ports
    CHECK(describe_tap_loops(loops) == "rxa and wk0 as one loop on core 0 (cpu0:t); writer on core 1 (writer:t)");
    // Mixed: a pinned stage alone keeps its own name; unpinned ones stay apart.
    loops = plan_tap_loops("t", TapCores{{0, 1}, {0, -1}, 1}, 2, 2, false);
    CHECK(names(loops) == std::vector<std::string>{"cpu0:t", "cpu1:t", "wk1:t"});
    CHECK(loops[1].stages == std::vector<StageRef>{{Kind::rx, 1}, {Kind::writer, 0}});

    // The lists are handed out in order across taps, wrapping.
    ThreadsConfig threads;
    threads.rx = {0, 1, 2};
    threads.workers = {3};
    threads.writer = 4;
    const std::vector<TapCores> cores = assign_cores(threads, {2, 2}, {2, 1});
    CHECK(cores[0].rx == std::vector<int>{0, 1});
    CHECK(cores[1].rx == std::vector<int>{2, 0});
    CHECK(cores[0].workers == std::vector<int>{3, 3});
    CHECK(cores[1].workers == std::vector<int>{3});
    CHECK(cores[1].writer == 4);
    CHECK(assign_cores(ThreadsConfig{}, {1}, {1})[0].writer == -1);

    // --check says what the run does (the run logs describe_tap_loops of what it started).
    const Config c = parse("taps:\n"
                           "  - name: t\n"
                           "    a: {driver: pcap, file: /tmp/x.pcap}\n"
                           "threads: {rx: [0], workers: [0], writer: 1}\n")
                         .config;
    std::ostringstream out;
    print_plan(c, out);
    INFO(out.str());
    CHECK(out.str().find("  threads         rxa and wk0 as one loop on core 0 (cpu0:t); writer on core 1 "
                         "(writer:t)\n") != std::string::npos);

    // workers: auto on a NIC: its RSS queues decide the workers at start, so the plan says the
    // threads it prints hold for the workers it assumed, and the run logs the real ones.
    const Config nic = parse("taps:\n"
                             "  - name: n\n"
                             "    a: {driver: dpdk, device: \"0000:3b:00.0\"}\n"
                             "threads: {rx: [0], writer: 0}\n")
                           .config;
    const RunPlan nic_plan = make_plan(nic, two_cores());
    CHECK(nic_plan.taps[0].loops_settled_at_start);
    std::ostringstream nic_out;
    taprec::print_plan(nic, nic_plan, nic_out);
    INFO(nic_out.str());
    CHECK(nic_out.str().find("workers; the run logs the threads for the workers the ports give)\n") !=
          std::string::npos);
    CHECK(out.str().find("the run logs the threads") == std::string::npos);
}

TEST_CASE("user and group: optional, names or ids, shown in the plan", "[fast]") {
    SECTION("omitted: stay as started") {
        const Config c = parse(minimal).config;
        CHECK(c.user.empty());
        CHECK(c.group.empty());
        std::ostringstream out;
        print_plan(c, out);
        CHECK(out.str().find("run as            the starting user") != std::string::npos);
    }
    SECTION("given") {
        const ParseResult result = parse(minimal + "user: taprec\ngroup: \"1001\"\n");
        INFO(all(result.errors));
        REQUIRE(result.ok());
        CHECK(result.config.user == "taprec");
        CHECK(result.config.group == "1001");
        CHECK(result.config.line_of("user") == 4);
        CHECK(result.config.line_of("group") == 5);
        CHECK(validate_config(result.config).empty());
        std::ostringstream out;
        print_plan(result.config, out);
        INFO(out.str());
        CHECK(out.str().find("run as            user taprec, group 1001, once the ports are open\n") !=
              std::string::npos);
    }
    SECTION("a user alone takes its own group") {
        std::ostringstream out;
        print_plan(parse(minimal + "user: nobody\n").config, out);
        CHECK(out.str().find("run as            user nobody, its own group, once") != std::string::npos);
    }
    SECTION("wrong type and impossible names") {
        CHECK(has_error(parse_errors(minimal + "user: [a, b]\n"), "t.yaml:4: user:"));
        const auto errors = validation_errors(minimal + "user: \"ta prec\"\ngroup: \"-x\"\n");
        INFO(all(errors));
        CHECK(errors.size() == 2);
        CHECK(has_error(errors, "t.yaml:4: user: \"ta prec\" is not a user name", "such as taprec"));
        CHECK(has_error(errors, "t.yaml:5: group: \"-x\" is not a group name"));
    }
}

TEST_CASE("output: on_rotate_max, on_rotate_timeout, sync and direct_io", "[fast]") {
    SECTION("defaults") {
        const Config c = parse(minimal).config;
        CHECK(c.output.on_rotate_max == 2);
        CHECK(c.output.on_rotate_timeout_ns == 300'000'000'000ull);
        CHECK(c.output.sync == SyncPolicy::none);
        CHECK_FALSE(c.output.direct_io);
    }
    SECTION("given") {
        const ParseResult r = parse(minimal + "output:\n"
                                              "  on_rotate: [/bin/true]\n"
                                              "  on_rotate_max: 4\n"
                                              "  on_rotate_timeout: 30s\n"
                                              "  sync: close\n"
                                              "  direct_io: true\n");
        INFO(all(r.errors));
        REQUIRE(r.ok());
        CHECK(r.config.output.on_rotate_max == 4);
        CHECK(r.config.output.on_rotate_timeout_ns == 30'000'000'000ull);
        CHECK(r.config.output.sync == SyncPolicy::close);
        CHECK(r.config.output.direct_io);
        CHECK(validate_config(r.config).empty());
        std::ostringstream out;
        print_plan(r.config, out);
        INFO(out.str());
        CHECK(out.str().find("  hooks           at most 4 at once, the rest queued; killed after 30s\n") !=
              std::string::npos);
        CHECK(out.str().find("  sync            close (fsync each file before publishing)\n") !=
              std::string::npos);
        CHECK(out.str().find("  direct_io       true") != std::string::npos);
    }
    SECTION("mistakes") {
        const auto errors = parse_errors(minimal + "output:\n"
                                                   "  sync: always\n"
                                                   "  direct_io: maybe\n"
                                                   "  on_rotate_timeout: soon\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:5: output.sync: expected one of none, close"));
        CHECK(has_error(errors, "t.yaml:6: output.direct_io: expected one of false, true"));
        CHECK(has_error(errors, "t.yaml:7: output.on_rotate_timeout:"));
        const auto invalid = validation_errors(minimal + "output: {on_rotate_max: 0}\n");
        INFO(all(invalid));
        CHECK(has_error(invalid, "t.yaml:4: output.on_rotate_max: 0 hooks at once", "from 1 to 64"));
    }
}

TEST_CASE("output.file_mode: octal permission bits of the capture files", "[fast]") {
    SECTION("default 0640") {
        const Config c = parse(minimal).config;
        CHECK(c.output.file_mode == 0640);
        std::ostringstream out;
        print_plan(c, out);
        CHECK(out.str().find("  file_mode       0640\n") != std::string::npos);
    }
    SECTION("given, quoted or not, with or without the leading 0") {
        for (const std::string text : {"\"0600\"", "0600", "\"600\""}) {
            const ParseResult r = parse(minimal + "output:\n  file_mode: " + text + "\n");
            INFO(text << ": " << all(r.errors));
            REQUIRE(r.ok());
            CHECK(r.config.output.file_mode == 0600);
            CHECK(validate_config(r.config).empty());
        }
    }
    SECTION("mistakes") {
        const auto errors = parse_errors(minimal + "output:\n  file_mode: rw-r-----\n");
        INFO(all(errors));
        CHECK(has_error(errors, "t.yaml:5: output.file_mode: \"rw-r-----\" is not a file mode",
                        "such as \"0640\""));
        CHECK(has_error(parse_errors(minimal + "output:\n  file_mode: \"0980\"\n"),
                        "t.yaml:5: output.file_mode:"));
        CHECK(has_error(parse_errors(minimal + "output:\n  file_mode: \"10640\"\n"),
                        "t.yaml:5: output.file_mode:"));
        const auto world = validation_errors(minimal + "output: {file_mode: \"0666\"}\n");
        INFO(all(world));
        CHECK(has_error(world, "t.yaml:4: output.file_mode: \"0666\" lets every user write"));
        const auto unreadable = validation_errors(minimal + "output: {file_mode: \"0240\"}\n");
        CHECK(has_error(unreadable, "t.yaml:4: output.file_mode: \"0240\" does not let taprec"));
    }
}

TEST_CASE("the plan sizes pools and EAL memory so the defaults start, with or without hugepages",
          "[fast]") {
    const std::string two_replays =
        "taps:\n"
        "  - name: t\n"
        "    a: {driver: dpdk, device: \"net_pcap0,rx_pcap=a.pcap\"}\n"
        "    b: {driver: dpdk, device: \"net_pcap1,rx_pcap=b.pcap\"}\n";
    SECTION("--no-huge: one 4 KiB page per mbuf, and -m says so") {
        const Config c = parse("dpdk: {eal: [\"--no-huge\"]}\n" + two_replays).config;
        const RunPlan plan = make_plan(c, two_cores());
        REQUIRE(plan.taps.size() == 1);
        REQUIRE(plan.taps[0].ports.size() == 2);
        const PortPlan& a = plan.taps[0].ports[0];
        CHECK(a.replay);
        CHECK(a.queues == 1);
        CHECK(a.workers == 1);
        CHECK(a.cache == 0);
        CHECK(a.mbufs_auto);
        // 4096 descriptors + 2 rings of 65536 + 5 bursts of 32, rounded up to 2^n - 1.
        CHECK(a.budget.total() == 4096 + 2 * 65536 + 5 * 32);
        CHECK(a.mbufs == 262143);
        CHECK(plan.dpdk.no_huge);
        CHECK(plan.dpdk.memory_mib == 256 + 2 * 262143ull * 4096 / (1 << 20) + 1);
        CHECK(plan.dpdk.hugepages_2m == 0);
        CHECK(plan.taps[0].clock == "net_pcap's own stamps (the file's time, in microseconds)");
        CHECK(plan_errors(c, plan).empty());
    }
    SECTION("hugepages: the pages to reserve") {
        const Config c = parse(two_replays).config;
        const RunPlan plan = make_plan(c, two_cores());
        CHECK_FALSE(plan.dpdk.no_huge);
        CHECK(plan.dpdk.memory_mib == 256 + (2 * 262143ull * 2560 + (1 << 20) - 1) / (1 << 20));
        CHECK(plan.dpdk.hugepages_2m == (plan.dpdk.memory_mib + 1) / 2);
    }
    SECTION("smaller rings, smaller pools") {
        const Config c = parse("ring_capacity: 1024\ndpdk: {rx_descriptors: 256}\n" + two_replays).config;
        const RunPlan plan = make_plan(c, two_cores());
        CHECK(plan.taps[0].ports[0].mbufs == 4095);  // 256 + 2048 + 160
    }
    SECTION("a wire port asks for a queue per core, and its pool covers every ring") {
        const Config c = parse("taps:\n  - name: t\n    a: {driver: dpdk, device: \"0000:3b:00.0\"}\n").config;
        const RunPlan plan = make_plan(c, two_cores());
        const PortPlan& a = plan.taps[0].ports[0];
        CHECK(a.queues == 2);
        CHECK(a.workers == 2);
        CHECK(a.cache == mbuf_cache_size);
        CHECK(a.mbufs >= a.budget.total());
        CHECK(plan.taps[0].workers == 2);
    }
    SECTION("a pool that would starve the port is an error of the plan, naming the line") {
        const Config c = parse("dpdk: {mbufs_per_port: 1023}\n" + two_replays).config;
        const std::vector<ConfigError> errors = plan_errors(c, make_plan(c, two_cores()));
        REQUIRE(errors.size() == 2);
        CHECK(errors[0].to_string().starts_with("t.yaml:1: dpdk.mbufs_per_port: 1023 mbufs for taps[0].a"));
        CHECK_THAT(errors[0].message, Catch::Contains("set dpdk.mbufs_per_port to 262143"));
    }
}

TEST_CASE("one limit on workers: what validation allows, the pipeline runs", "[fast]") {
    const ParseResult r = parse(minimal_with_workers(limits::max_workers + 1));
    REQUIRE(r.ok());
    CHECK(has_error(validate_config(r.config),
                    "t.yaml:4: taps[0].workers: " + std::to_string(limits::max_workers + 1)));
    CHECK(validate_config(parse(minimal_with_workers(limits::max_workers)).config).empty());
    CHECK(limits::max_workers == 64);
}

TEST_CASE("relative paths resolve against the configuration's folder", "[fast]") {
    Config c = parse("taps:\n"
                     "  - name: t\n"
                     "    a: {driver: pcap, file: in/a.pcap}\n"
                     "    b: {driver: dpdk, device: \"net_pcap1,rx_pcap=../b.pcap,infinite_rx=0\"}\n"
                     "  - name: u\n"
                     "    a: {driver: pcap, file: /abs/c.pcap}\n"
                     "output:\n"
                     "  directory: out\n"
                     "  on_rotate: [hooks/feed, \"{path}\"]\n"
                     "stats: {prometheus_textfile: prom/taprec.prom}\n")
                   .config;
    resolve_relative_paths(c, "/etc/taprec");
    CHECK(c.taps[0].a.file == "/etc/taprec/in/a.pcap");
    CHECK(c.taps[0].b->device == "net_pcap1,rx_pcap=/etc/b.pcap,infinite_rx=0");
    CHECK(c.taps[1].a.file == "/abs/c.pcap");
    CHECK(c.output.directory == "/etc/taprec/out");
    CHECK(c.output.on_rotate[0] == "/etc/taprec/hooks/feed");
    CHECK(c.output.on_rotate[1] == "{path}");
    CHECK(c.stats.prometheus_textfile == "/etc/taprec/prom/taprec.prom");
    Config program = parse(minimal + "output: {on_rotate: [gzip, \"{path}\"]}\n").config;
    resolve_relative_paths(program, "/etc/taprec");
    CHECK(program.output.on_rotate[0] == "gzip");  // looked up in PATH
}
