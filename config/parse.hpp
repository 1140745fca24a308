// Step one of three: YAML text -> Config. Checks keys, types, units and required values;
// touches no device and no file other than the configuration itself.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace taprec {

// The parsed configuration and every problem found. When errors is non-empty the config holds
// what could be read, with defaults elsewhere; use it for nothing but messages.
struct ParseResult {
    Config config;
    std::vector<ConfigError> errors;

    bool ok() const { return errors.empty(); }
};

// `path` only names the source in messages and becomes Config::path.
ParseResult parse_config_text(const std::string& yaml_text, const std::string& path);
// Reads and parses the file; an unreadable file is an error (line 0, no key). Relative paths in
// it resolve against the file's folder (resolve_relative_paths), not the working directory,
// which is / under systemd.
ParseResult load_config_file(const std::string& path);

// Makes the configuration's relative paths absolute against `folder`: taps[].a/b.file, the
// rx_pcap= and tx_pcap= files of net_pcap devices, output.directory, stats.prometheus_textfile,
// and output.on_rotate[0] when it names a folder (a bare program name is looked up in PATH).
void resolve_relative_paths(Config& config, const std::string& folder);

}  // namespace taprec
