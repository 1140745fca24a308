// YamlReader: typed, strict reads from yaml-cpp nodes for the parser (parse.cpp).
//
// Every key it meets gets its line recorded in Config::lines; every problem becomes a
// ConfigError and reading goes on, so one run reports every mistake in the file. A read that
// fails returns nullopt and the caller keeps the default.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace taprec {

// A value in the file and its dotted key. The node is undefined when the key was not given.
struct Field {
    YAML::Node node;
    std::string key;

    bool given() const { return node.IsDefined(); }
};

// A map accepted by YamlReader::map(): its keys are known to be valid.
struct Section {
    YAML::Node node;
    std::string key;  // "" for the top level

    Field operator[](std::string_view name) const;
};

class YamlReader {
public:
    // Lines go into config.lines; errors name config.path.
    YamlReader(Config& config, std::vector<ConfigError>& errors);

    void error(const Field& field, std::string message);
    // The field's key line, else its node's line; 0 when neither is known.
    int line(const Field& field) const;

    // A map whose keys must all be in `valid`; unknown and repeated keys are reported and
    // skipped. An empty value (`threads:` alone) is an empty map. nullopt when not given, or
    // when not a map (reported).
    std::optional<Section> map(const Field& field, std::span<const std::string_view> valid);
    // The elements of a list, each keyed "KEY[i]". nullopt when not a list (reported).
    // `what` completes "expected a list of ...".
    std::optional<std::vector<Field>> list(const Field& field, std::string_view what);

    // Scalar reads; nullopt when not given or wrong (reported). `what` completes "expected ...".
    std::optional<std::string> string(const Field& field);
    std::optional<uint64_t> number(const Field& field, uint64_t max, std::string_view what);
    std::optional<uint64_t> size(const Field& field, uint64_t max);
    std::optional<uint64_t> duration(const Field& field);
    std::optional<int> core(const Field& field);
    template <typename E>
    std::optional<E> choice(const Field& field);

    std::optional<std::vector<std::string>> strings(const Field& field, std::string_view what);
    std::optional<std::vector<int>> cores(const Field& field);

private:
    std::optional<std::string> scalar(const Field& field, std::string_view what);
    std::optional<size_t> choice_index(const Field& field, std::span<const std::string_view> names);

    Config& config_;
    std::vector<ConfigError>& errors_;
};

template <typename E>
std::optional<E> YamlReader::choice(const Field& field) {
    const auto table = choices(E{});
    std::vector<std::string_view> names;
    for (const auto& c : table) names.push_back(c.name);
    const auto index = choice_index(field, names);
    if (!index) return std::nullopt;
    return table[*index].value;
}

}  // namespace taprec
