// PrometheusExport: stats.prometheus_textfile, the taps' counters (stats/prometheus.hpp) as a file
// node_exporter's textfile collector reads, replaced whole each stats interval.
#pragma once

#include <string>
#include <vector>

#include "stats/tap_snapshot.hpp"

namespace taprec {

class PrometheusExport {
public:
    // "" writes nothing.
    explicit PrometheusExport(std::string path) : path_(std::move(path)) {}

    // Replaces the file; logs a failure once, and its recovery. `final`: the daemon has stopped.
    void write(const std::vector<TapSnapshot>& snapshots, bool final);

private:
    std::string path_;
    bool failing_ = false;
};

}  // namespace taprec
