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
// Reads and parses the file; an unreadable file is an error (line 0, no key).
ParseResult load_config_file(const std::string& path);

}  // namespace taprec
