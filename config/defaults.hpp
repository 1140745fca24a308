// Every configuration key's default, in one place (STYLE.md "Configuration").
//
// config.hpp initialises its structs from these, so a default-constructed Config is the
// configuration of a file that sets nothing. Keys without an entry here are required
// (taps, and each tap's name and port a) or default to empty (dpdk.eal, threads.*, on_rotate).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/enums.hpp"

namespace taprec::defaults {

// dpdk:
// auto: the plan sizes each port's pool to what its pipeline can hold at once (descriptors,
// rings, bursts, caches; config/mbuf_budget.hpp), rounded up to 2^n - 1.
inline constexpr std::optional<uint32_t> dpdk_mbufs_per_port = std::nullopt;
inline constexpr uint32_t dpdk_rx_descriptors = 4096;

// taps[]:
inline constexpr std::optional<uint32_t> tap_workers = std::nullopt;  // auto: what the ports offer
inline constexpr TimestampSource tap_timestamps = TimestampSource::automatic;
inline constexpr uint64_t tap_reorder_window_ns = 200'000;  // 200us
inline constexpr ReplaySpeed port_speed = ReplaySpeed::max;

// threads:
// Without pinning, stages share cores with each other and the rest of the box, so an idle
// poller must give its core away rather than spin.
inline constexpr IdlePolicy threads_idle = IdlePolicy::sleep;

inline constexpr uint32_t ring_capacity = 65536;

// output:
inline constexpr std::string_view output_directory = "/var/lib/taprec";
inline constexpr std::string_view output_name = "{tap}-%Y%m%d-%H%M%S";
inline constexpr OutputFormat output_format = OutputFormat::pcap_ns;
inline constexpr uint32_t output_snaplen = 262144;
inline constexpr std::string_view output_filter = "";
inline constexpr uint64_t rotate_bytes = uint64_t{1} << 30;  // 1GiB
inline constexpr uint64_t rotate_seconds = 300;
inline constexpr uint64_t rotate_packets = 0;
inline constexpr uint64_t retention_max_bytes = 0;  // 0: no limit
inline constexpr uint64_t retention_max_files = 0;  // 0: no limit
inline constexpr uint32_t retention_min_free_percent = 5;
// output.on_rotate: empty, nothing is run.
// Hooks run at once at most; more published files wait in a queue (an IDS feed that falls behind
// must not fork a process per file).
inline constexpr uint32_t on_rotate_max = 2;
// A hook still running after this long is killed (SIGKILL) and logged; 0: never.
inline constexpr uint64_t on_rotate_timeout_ns = 300'000'000'000;  // 5m
inline constexpr SyncPolicy output_sync = SyncPolicy::none;
// O_DIRECT bypasses the page cache; off by default because tmpfs and some file systems refuse it.
inline constexpr bool output_direct_io = false;
// The block index `taprec query` narrows by: a few per mille of the recorded bytes.
inline constexpr bool output_index = true;
// Permissions of published files and .meta lines: owner reads and writes, the group (e.g. the
// IDS's) reads, nobody else. What may be evidence is not for every local user to read.
inline constexpr uint32_t output_file_mode = 0640;

// stats:
inline constexpr uint64_t stats_interval_ns = 10'000'000'000;  // 10s
inline constexpr std::string_view stats_prometheus_textfile = "";  // "": not written
inline constexpr uint32_t stats_tcp_flows = 65536;        // per worker; about 6 MiB each
inline constexpr uint32_t stats_loss_warn_percent = 1;
// ACKs that advance in an interval before its loss estimate may warn: over fewer, a gap or two
// says more about chance than about the link.
inline constexpr uint32_t stats_loss_warn_min_acks = 100;
inline constexpr uint32_t stats_loss_warn_min_acks_max = 1'000'000'000;

// user, group: "" keeps the user and group the daemon was started as.
inline constexpr std::string_view run_as_user = "";
inline constexpr std::string_view run_as_group = "";

}  // namespace taprec::defaults
