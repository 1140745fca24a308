#include "config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <map>

#include "config/units.hpp"

namespace taprec {

namespace {

std::string join_key(const std::string& prefix, std::string_view name) {
    if (prefix.empty()) return std::string(name);
    return prefix + "." + std::string(name);
}

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// How a value that has the wrong shape looked, for "expected X, got Y".
std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar: return quote(node.Scalar());
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Map: return "a map";
        default: return "nothing";
    }
}

std::string comma_list(std::span<const std::string_view> names) {
    std::string out;
    for (const auto name : names) {
        if (!out.empty()) out += ", ";
        out += name;
    }
    return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// " (did you mean device?)" for a near miss such as "devcie"; "" when nothing is close.
std::string suggestion(std::string_view got, std::span<const std::string_view> names) {
    std::string_view best;
    size_t best_distance = 3;  // more than two edits away is a different word, not a typo
    for (const auto name : names) {
        const size_t d = edit_distance(got, name);
        if (d < best_distance && d < name.size()) {
            best = name;
            best_distance = d;
        }
    }
    if (best.empty()) return "";
    return " (did you mean " + std::string(best) + "?)";
}

int line_of(const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    return mark.is_null() ? 0 : mark.line + 1;
}

bool all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Field Section::operator[](std::string_view name) const {
    return Field{node[std::string(name)], join_key(key, name)};
}

YamlReader::YamlReader(Config& config, std::vector<ConfigError>& errors)
    : config_(config), errors_(errors) {}

int YamlReader::line(const Field& field) const {
    const int key_line = config_.line_of(field.key);
    if (key_line == 0 && field.given()) return line_of(field.node);
    return key_line;
}

void YamlReader::error(const Field& field, std::string message) {
    errors_.push_back(ConfigError{config_.path, line(field), field.key, std::move(message)});
}

std::optional<Section> YamlReader::map(const Field& field, std::span<const std::string_view> valid) {
    if (!field.given()) return std::nullopt;
    if (field.node.IsNull()) return Section{field.node, field.key};
    if (!field.node.IsMap()) {
        error(field, "expected a map with keys " + comma_list(valid) + ", got " + describe(field.node));
        return std::nullopt;
    }
    std::map<std::string, int> seen;
    for (const auto& pair : field.node) {
        const YAML::Node& name_node = pair.first;
        const int line = line_of(name_node);
        if (!name_node.IsScalar()) {
            errors_.push_back({config_.path, line, field.key,
                               "a key is " + describe(name_node) + "; keys are words: " + comma_list(valid)});
            continue;
        }
        const std::string& name = name_node.Scalar();
        const std::string key = join_key(field.key, name);
        if (const auto first = seen.find(name); first != seen.end()) {
            errors_.push_back({config_.path, line, key,
                               "given twice (first on line " + std::to_string(first->second) + "); keep one"});
            continue;
        }
        seen.emplace(name, line);
        if (std::find(valid.begin(), valid.end(), name) == valid.end()) {
            errors_.push_back({config_.path, line, key,
                               "unknown key " + quote(name) + suggestion(name, valid) +
                                   "; valid keys here: " + comma_list(valid)});
            continue;
        }
        config_.lines[key] = line;
    }
    return Section{field.node, field.key};
}

std::optional<std::vector<Field>> YamlReader::list(const Field& field, std::string_view what) {
    if (!field.given()) return std::nullopt;
    if (!field.node.IsSequence()) {
        error(field, "expected a list of " + std::string(what) + ", got " + describe(field.node));
        return std::nullopt;
    }
    std::vector<Field> elements;
    for (size_t i = 0; i < field.node.size(); ++i) {
        Field element{field.node[i], field.key + "[" + std::to_string(i) + "]"};
        if (const int line = line_of(element.node); line > 0) config_.lines[element.key] = line;
        elements.push_back(std::move(element));
    }
    return elements;
}

std::optional<std::string> YamlReader::scalar(const Field& field, std::string_view what) {
    if (!field.given()) return std::nullopt;
    if (!field.node.IsScalar()) {
        error(field, "expected " + std::string(what) + ", got " + describe(field.node));
        return std::nullopt;
    }
    return field.node.Scalar();
}

std::optional<std::string> YamlReader::string(const Field& field) {
    if (field.given() && field.node.IsNull()) {
        error(field, "expected text, got nothing; write \"\" for none");
        return std::nullopt;
    }
    return scalar(field, "text");
}

std::optional<uint64_t> YamlReader::number(const Field& field, uint64_t max, std::string_view what) {
    const auto text = scalar(field, what);
    if (!text) return std::nullopt;
    uint64_t value = 0;
    const bool parsed = all_digits(*text) &&
        std::from_chars(text->data(), text->data() + text->size(), value).ec == std::errc{};
    if (!parsed) {
        error(field, "expected " + std::string(what) + ", got " + quote(*text));
        return std::nullopt;
    }
    if (value > max) {
        error(field, quote(*text) + " is too large; expected " + std::string(what) + " no larger than " +
                         std::to_string(max));
        return std::nullopt;
    }
    return value;
}

std::optional<uint64_t> YamlReader::size(const Field& field, uint64_t max) {
    const auto text = scalar(field, size_help);
    if (!text) return std::nullopt;
    const auto value = parse_size(*text);
    if (!value) {
        error(field, "expected " + std::string(size_help) + ", got " + quote(*text));
        return std::nullopt;
    }
    if (*value > max) {
        error(field, quote(*text) + " is too large; the most is " + format_size(max));
        return std::nullopt;
    }
    return value;
}

std::optional<uint64_t> YamlReader::duration(const Field& field) {
    const auto text = scalar(field, duration_help);
    if (!text) return std::nullopt;
    const auto value = parse_duration_ns(*text);
    if (!value) {
        const std::string hint = all_digits(*text) ? " (a duration needs a unit)" : "";
        error(field, "expected " + std::string(duration_help) + ", got " + quote(*text) + hint);
        return std::nullopt;
    }
    return value;
}

std::optional<int> YamlReader::core(const Field& field) {
    const auto value = number(field, INT_MAX, "a core number (0, 1, 2, ...)");
    if (!value) return std::nullopt;
    return static_cast<int>(*value);
}

std::optional<size_t> YamlReader::choice_index(const Field& field,
                                               std::span<const std::string_view> names) {
    const std::string what = "one of " + comma_list(names);
    const auto text = scalar(field, what);
    if (!text) return std::nullopt;
    const auto found = std::find(names.begin(), names.end(), *text);
    if (found == names.end()) {
        error(field, "expected " + what + ", got " + quote(*text) + suggestion(*text, names));
        return std::nullopt;
    }
    return static_cast<size_t>(found - names.begin());
}

std::optional<std::vector<std::string>> YamlReader::strings(const Field& field, std::string_view what) {
    const auto elements = list(field, what);
    if (!elements) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (const Field& element : *elements) {
        auto text = scalar(element, "text");
        ok = ok && text;
        if (text) out.push_back(std::move(*text));
    }
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::vector<int>> YamlReader::cores(const Field& field) {
    const auto elements = list(field, "core numbers such as [1, 2]");
    if (!elements) return std::nullopt;
    std::vector<int> out;
    bool ok = true;
    for (const Field& element : *elements) {
        const auto value = core(element);
        ok = ok && value;
        if (value) out.push_back(*value);
    }
    if (!ok) return std::nullopt;
    return out;
}

}  // namespace taprec
