// preflight(): the checks against the machine that need no running driver: capture files exist
// and open, and both of a tap's files have one link type; live interfaces exist; pinned cores
// can be pinned to; the output folder can be written; the filter compiles. Run by --check and
// at start, so --check finds what the run would refuse.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace taprec {

std::vector<ConfigError> preflight(const Config& config);

// What would not stop the run but will not work as configured, one line each for --check and
// the start-up log: an on_rotate program that is missing or not executable (every published
// file then logs a failed hook; the design's own example names /usr/local/bin/ids-feed, so it
// is not an error).
std::vector<std::string> preflight_warnings(const Config& config);

}  // namespace taprec
