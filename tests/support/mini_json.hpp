// A tiny JSON reader for the tests: objects, arrays, numbers, strings, booleans. Enough to read
// back the daemon's .meta lines; the daemon itself never parses JSON.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace test_support {

struct Json {
    enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string text;
    std::vector<Json> items;
    std::map<std::string, Json> members;

    // "ports.a.received" -> that member; throws when missing.
    const Json& at(const std::string& path) const;
    uint64_t u64(const std::string& path) const { return static_cast<uint64_t>(at(path).number); }
    bool has(const std::string& path) const;
};

Json parse_json(const std::string& text);

}  // namespace test_support
