// taprec configuration: the plain structs the YAML file is parsed into.
//
// Three steps, each testable on its own (STYLE.md "Configuration"):
//   parse_config_text() / load_config_file()
//                      YAML text -> Config, with type and unit errors      (config/parse.hpp)
//   validate_config()  Config -> errors for impossible combinations        (config/validate.hpp)
//   devices are checked later by the daemon, which owns the drivers.
// Every default lives in config/defaults.hpp, nowhere else; a default-constructed Config holds them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/defaults.hpp"
#include "config/enums.hpp"

namespace taprec {

// Where in the configuration file a value came from, for error messages.
struct SourceMark {
    int line = 0;  // 1-based; 0 when the value was defaulted
};

struct PortConfig {
    DriverKind driver = DriverKind::pcap;  // required in the file; this is no default
    std::string device;     // dpdk: PCI address or vdev string
    std::string interface;  // pcap: live interface name
    std::string file;       // pcap: capture file to replay
    ReplaySpeed speed = defaults::port_speed;
    SourceMark mark;        // the line of the `a:` or `b:` key
};

struct TapConfig {
    std::string name;
    PortConfig a;
    std::optional<PortConfig> b;
    std::optional<uint32_t> workers = defaults::tap_workers;  // nullopt means auto
    TimestampSource timestamps = defaults::tap_timestamps;
    uint64_t reorder_window_ns = defaults::tap_reorder_window_ns;
    SourceMark mark;        // the line of the tap's `- name:` entry
};

struct DpdkConfig {
    bool present = false;  // the `dpdk:` section was given
    std::vector<std::string> eal;
    std::optional<uint32_t> mbufs_per_port = defaults::dpdk_mbufs_per_port;  // nullopt: auto
    uint32_t rx_descriptors = defaults::dpdk_rx_descriptors;
};

struct ThreadsConfig {
    std::vector<int> rx;       // cores; empty means unpinned
    std::vector<int> workers;  // cores; empty means unpinned
    std::optional<int> writer; // core; nullopt means unpinned
    IdlePolicy idle = defaults::threads_idle;
};

struct RotateConfig {
    uint64_t bytes = defaults::rotate_bytes;      // 0 disables this trigger
    uint64_t seconds = defaults::rotate_seconds;  // 0 disables this trigger
    uint64_t packets = defaults::rotate_packets;  // 0 disables this trigger
    // All three 0: never rotate, one file per run (until SIGHUP).
};

struct RetentionConfig {
    uint64_t max_bytes = defaults::retention_max_bytes;  // 0: no limit
    uint64_t max_files = defaults::retention_max_files;  // 0: no limit
    uint32_t min_free_percent = defaults::retention_min_free_percent;
};

struct OutputConfig {
    std::string directory{defaults::output_directory};
    std::string name{defaults::output_name};  // strftime pattern with {tap}
    OutputFormat format = defaults::output_format;
    uint32_t snaplen = defaults::output_snaplen;
    std::string filter{defaults::output_filter};
    RotateConfig rotate;
    RetentionConfig retention;
    std::vector<std::string> on_rotate;  // argv; "{path}" is replaced
    uint32_t on_rotate_max = defaults::on_rotate_max;            // hooks running at once
    uint64_t on_rotate_timeout_ns = defaults::on_rotate_timeout_ns;  // 0: no limit
    SyncPolicy sync = defaults::output_sync;     // close: fsync each file before publishing it
    bool direct_io = defaults::output_direct_io; // write blocks with O_DIRECT where supported
    uint32_t file_mode = defaults::output_file_mode;  // permission bits of the capture files
    bool index = defaults::output_index;  // write each file's block index (taprec query)
};

struct StatsConfig {
    uint64_t interval_ns = defaults::stats_interval_ns;
    std::string prometheus_textfile{defaults::stats_prometheus_textfile};
    // The TCP loss estimator: flows tracked per worker (0 turns it off), and the upstream loss
    // over one interval that earns a warning line (0: never), over at least so many ACKs.
    uint32_t tcp_flows = defaults::stats_tcp_flows;
    uint32_t loss_warn_percent = defaults::stats_loss_warn_percent;
    uint32_t loss_warn_min_acks = defaults::stats_loss_warn_min_acks;
};

struct ConfigError;

struct Config {
    std::string path;  // the file this came from, for messages
    DpdkConfig dpdk;
    std::vector<TapConfig> taps;
    ThreadsConfig threads;
    uint32_t ring_capacity = defaults::ring_capacity;
    OutputConfig output;
    StatsConfig stats;
    // Who the daemon becomes once its ports are open and its folders exist (user: and group:).
    // Empty keeps the starting user; a user without a group takes the user's own group.
    std::string user{defaults::run_as_user};
    std::string group{defaults::run_as_group};

    // 1-based line of every key the file gave, by dotted key: "output.rotate.bytes",
    // "taps[0]", "taps[0].a.device", "threads.workers[1]". Empty for a Config built in code.
    std::map<std::string, int> lines;

    // The line of `key`, or of its nearest ancestor the file gave ("taps[0].workers" falls back
    // to "taps[0]" when workers was defaulted); 0 when none was given.
    int line_of(std::string_view key) const;
    // An error about `key` located by line_of(); for checks made later, e.g. against devices.
    ConfigError error(std::string key, std::string message) const;
};

// One problem found in a configuration: "FILE:LINE: KEY: MESSAGE".
struct ConfigError {
    std::string file;
    int line = 0;     // 1-based; 0 when unknown (then ":LINE" is left out)
    std::string key;  // dotted path, e.g. "taps[0].workers"; empty for whole-file errors
    std::string message;

    std::string to_string() const;
};

}  // namespace taprec
