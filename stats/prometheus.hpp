// Prometheus text exposition format (version 0.0.4) of the taps' counters, for node_exporter's
// textfile collector. The names and labels are listed in README.md "Metrics".
#pragma once

#include <span>
#include <string>

#include "stats/tap_snapshot.hpp"

namespace taprec {

// Every field of the taps' stats.jsonl lines as metrics: one family per field, with HELP and
// TYPE, and a sample per tap (and per port or stage). `final` is the value of stats.jsonl's
// "final": true once the daemon has stopped, so a file left behind says it is not capturing.
std::string prometheus_text(std::span<const TapSnapshot> taps, bool final);

}  // namespace taprec
