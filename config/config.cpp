#include "config/config.hpp"

namespace taprec {

namespace {

// "taps[0].a.driver" -> "taps[0].a" -> "taps[0]" -> "taps" -> "".
std::string_view parent_key(std::string_view key) {
    const size_t cut = key.find_last_of(".[");
    return cut == std::string_view::npos ? std::string_view{} : key.substr(0, cut);
}

}  // namespace

int Config::line_of(std::string_view key) const {
    for (; !key.empty(); key = parent_key(key)) {
        if (auto it = lines.find(std::string(key)); it != lines.end()) return it->second;
    }
    return 0;
}

ConfigError Config::error(std::string key, std::string message) const {
    const int line = line_of(key);
    return ConfigError{path, line, std::move(key), std::move(message)};
}

std::string ConfigError::to_string() const {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
    if (!key.empty()) out += key + ": ";
    out += message;
    return out;
}

}  // namespace taprec
