// Privilege drop (`user:` and `group:`): the daemon starts with what opening the ports needs
// (root, or the unit's capabilities), then becomes an ordinary user for the hours of capture.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

#include "config/config.hpp"

namespace taprec {

struct RunAs {
    bool change = false;  // user or group given and different from the current ones
    std::string user;     // for initgroups(); empty when only a group was given
    uid_t uid = 0;
    gid_t gid = 0;
};

// Looks the configured user and group up; an unknown name is a configuration error.
// Run by --check and at start.
std::vector<ConfigError> resolve_run_as(const Config& config, RunAs& run_as);

// Hands `folders` (and the files directly inside them) to the user, then sets the supplementary
// groups, the group and the user, in that order, for the whole process: call it before starting
// threads. Throws std::runtime_error naming what failed and what to do.
void drop_privileges(const RunAs& run_as, const std::vector<std::string>& folders);

}  // namespace taprec
