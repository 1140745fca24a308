// `taprec stats`: the latest counters of running or finished taps, read back from each tap's
// .meta/stats.jsonl, as a table per port and per stage with rates over the last interval.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stats/tap_snapshot.hpp"

namespace taprec {

// One stats.jsonl line read back. nullopt when the line is not one the daemon writes.
struct StatsLine {
    TapSnapshot snapshot;
    bool final = false;
};
std::optional<StatsLine> parse_stats_line(const std::string& line);

// The table for one tap: `last` and, when there is one, the line before it for rates.
// `now_ns` (wall clock) says how old the line is.
std::string stats_table(const std::string& tap_dir, const StatsLine& last,
                        const std::optional<StatsLine>& previous, uint64_t now_ns);

// taprec stats [--config FILE | --dir DIR] [--watch] [--json]; `args` follow "stats".
// Returns the exit status: 0, or 2 for bad usage or when there are no statistics yet.
int run_stats_command(const std::vector<std::string_view>& args);

}  // namespace taprec
