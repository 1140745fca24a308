// The resolved plan that `taprec --config FILE --check` prints: every value the daemon will use,
// defaults filled in, in the words of the configuration file.
#pragma once

#include <ostream>

#include "config/config.hpp"

namespace taprec {

void print_plan(const Config& config, std::ostream& out);

}  // namespace taprec
