// run_daemon(): a validated, checked configuration and its plan to running threads, until a
// signal or the end of the replayed input; then drain, publish, report.
#pragma once

#include "config/config.hpp"
#include "config/plan.hpp"

namespace taprec {

// Returns the process exit status: 0 after a clean stop, 1 on a runtime failure (a port that
// could not be opened or failed while running), 2 when the devices contradict the configuration.
// The plan is the one --check printed and daemon/preflight checked (main.cpp runs both).
int run_daemon(const Config& config, const RunPlan& plan);

}  // namespace taprec
