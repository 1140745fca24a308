// preflight(): the checks against the machine that need no running driver: capture files exist
// and open, and both of a tap's files have one link type; live interfaces exist; pinned cores
// can be pinned to; the output folder can be written; the filter compiles. Run by --check and
// at start, so --check finds what the run would refuse.
#pragma once

#include <vector>

#include "config/config.hpp"

namespace taprec {

std::vector<ConfigError> preflight(const Config& config);

}  // namespace taprec
