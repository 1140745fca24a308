// taprec: records a network TAP to rotated pcap files at line rate, and counts every packet.
//
// How a packet travels, and which file to read for each step:
//  1. A TAP copies each direction of a link to its own port (a: A->B, b: B->A). An rx thread per
//     port polls its driver in bursts (drivers/pcap_source, drivers/dpdk_*) and stamps each
//     packet with the tap's one clock (rx/rx_poller).
//  2. The rx thread hands each packet to the worker that owns its flow, through a lock-free
//     single-producer single-consumer ring (ring/spsc_ring): queue i of both ports with symmetric
//     RSS, or the symmetric software hash (pipeline/flow_hash). A full ring drops and counts.
//  3. Worker i merges its rings from a and b by timestamp (ring/ordered_merge), applies the BPF
//     filter and snaplen, and counts (worker/worker).
//  4. The writer merges the workers' ordered streams, copies each packet once into a large
//     block, writes blocks, rotates files and renames them into place when complete
//     (writer/writer, writer/pcap_file, writer/output_dir), then returns the buffers.
//  5. The control thread (daemon/daemon) turns signals into a drain or a rotation, tells systemd
//     it is ready and, while every thread makes progress, that it is alive (daemon/watchdog),
//     and writes the statistics that account for every packet (stats/: stats.jsonl and the
//     Prometheus textfile), which `taprec stats` reads back (daemon/stats_command).
//  6. Beside each file the writer publishes its block index (index/), by which `taprec query`
//     (query/) finds an alert's packets without reading the rest.
// The folders are layers: config/ and pipeline/ (PacketRef, PacketSource, PollStage, clocks) at
// the bottom, then ring/, stats/, drivers/, rx/, worker/, index/, writer/, query/, daemon/.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "config/parse.hpp"
#include "config/plan.hpp"
#include "config/validate.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"
#include "daemon/preflight.hpp"
#include "daemon/run_as.hpp"
#include "daemon/stats_command.hpp"
#include "query/query_command.hpp"

#ifndef TAPREC_VERSION
#define TAPREC_VERSION "unknown"
#endif

namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 2;

const char* const usage_text =
    "usage:\n"
    "  taprec --config FILE            run (foreground; systemd runs it like this)\n"
    "  taprec --config FILE --check    check the configuration against this machine as the\n"
    "                                  start does, print the plan, exit\n"
    "  taprec --config FILE --hugepages-needed\n"
    "                                  print the 2 MiB hugepages the plan needs (0: none)\n"
    "  taprec stats [--config FILE | --dir DIR] [--watch] [--json]\n"
    "                                  show the latest statistics (taprec stats --help)\n"
    "  taprec query [--config FILE | --dir DIR] [--tap NAME] [--from TIME] [--to TIME]\n"
    "               [-w FILE|-] [--list] [FILTER...]\n"
    "                                  recorded packets as one pcap-ns (taprec query --help)\n"
    "  taprec index FILE...            (re)build the block index of published files\n"
    "  taprec --version | --help\n"
    "\n"
    "Signals: SIGINT/SIGTERM drain and publish the last file, then exit 0;\n"
    "SIGHUP publishes the current file and starts a new one.\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad usage or bad configuration.\n";

int usage_error(const std::string& message) {
    std::fprintf(stderr, "taprec: %s\n%s", message.c_str(), usage_text);
    return exit_usage;
}

struct Options {
    std::string config_path;
    bool check = false;
    bool hugepages_needed = false;
};

// Fills `options`; returns -1 to go on, else the exit status (after --help, --version or a
// usage error).
int parse_options(const std::vector<std::string_view>& args, Options& options) {
    bool seen_config = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage_text, stdout);
            return exit_ok;
        }
        if (arg == "--version") {
            if (args.size() > 1) return usage_error("--version takes no other arguments");
            std::printf("taprec %s\n", TAPREC_VERSION);
            return exit_ok;
        }
        if (arg == "--check") {
            options.check = true;
        } else if (arg == "--hugepages-needed") {
            options.hugepages_needed = true;
        } else if (arg == "--config" || arg == "-c" || arg.starts_with("--config=")) {
            // Two files are no merge of the two: which one would the service run?
            if (seen_config) return usage_error("--config given twice; give one FILE");
            seen_config = true;
            if (arg.starts_with("--config=")) {
                options.config_path = std::string(arg.substr(9));
            } else {
                if (i + 1 == args.size()) return usage_error("--config needs a FILE");
                options.config_path = std::string(args[++i]);
            }
        } else {
            return usage_error("unknown argument '" + std::string(arg) + "'");
        }
    }
    if (options.config_path.empty()) return usage_error("--config FILE is required");
    if (options.check && options.hugepages_needed)
        return usage_error("--check prints the hugepages needed too; give one of the two");
    return -1;
}

int report_errors(const std::vector<taprec::ConfigError>& errors) {
    for (const taprec::ConfigError& e : errors) taprec::log_line(taprec::LogLevel::error, e.to_string());
    taprec::log_line(taprec::LogLevel::error,
                     "taprec: " + std::to_string(errors.size()) + " configuration error" +
                         (errors.size() == 1 ? "" : "s") + "; nothing was started");
    return exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "stats")
        return taprec::run_stats_command({args.begin() + 1, args.end()});
    if (!args.empty() && args[0] == "query")
        return taprec::run_query_command({args.begin() + 1, args.end()});
    if (!args.empty() && args[0] == "index")
        return taprec::run_index_command({args.begin() + 1, args.end()});
    Options options;
    if (const int status = parse_options(args, options); status >= 0) return status;

    taprec::ParseResult parsed = taprec::load_config_file(options.config_path);
    std::vector<taprec::ConfigError> errors = parsed.errors;
    if (errors.empty()) errors = taprec::validate_config(parsed.config);
    if (!errors.empty()) return report_errors(errors);
    // One plan from the configuration and this machine: --check prints it, the run executes it.
    const taprec::MachineFacts machine = taprec::read_machine_facts();
    const taprec::RunPlan plan = taprec::make_plan(parsed.config, machine);
    if (options.hugepages_needed) {  // before the machine checks: it is how they come to pass
        std::printf("%llu\n", static_cast<unsigned long long>(plan.dpdk.hugepages_2m));
        return exit_ok;
    }
    errors = taprec::preflight(parsed.config, plan, machine);
    if (errors.empty()) {
        taprec::RunAs run_as;
        errors = taprec::resolve_run_as(parsed.config, run_as);
    }
    if (!errors.empty()) return report_errors(errors);
    for (const std::string& warning : taprec::preflight_warnings(parsed.config))
        taprec::log_warning(warning);
    if (options.check) {
        taprec::print_plan(parsed.config, plan, std::cout);
        std::cout << "configuration OK\n";
        return exit_ok;
    }
    return taprec::run_daemon(parsed.config, plan);
}
