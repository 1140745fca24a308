// Step two of three: impossible values and combinations in a parsed Config, found without
// touching a device or a file. Step three, checks against the devices, belongs to the daemon.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/config.hpp"
#include "config/limits.hpp"

namespace taprec {

// Every problem found, each naming the key and what to change; empty when the config is usable.
// Meant for a Config whose parse succeeded: after parse errors it would repeat them.
std::vector<ConfigError> validate_config(const Config& config);

// Every pinned core (threads.rx, .workers, .writer) that is not in `available`, the cores a
// thread of this process can be pinned to, each as an error naming its key. The daemon's
// preflight asks the machine; taking the set as an argument keeps this testable on any box.
// An empty `available` checks nothing (the machine could not say).
std::vector<ConfigError> check_cores_available(const Config& config, std::span<const int> available);

}  // namespace taprec
