#include "config/units.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <span>

namespace taprec {

namespace {

struct Unit {
    std::string_view name;
    uint64_t factor;
};

constexpr std::array<Unit, 5> size_units{{
    {"B", 1},
    {"KiB", uint64_t{1} << 10},
    {"MiB", uint64_t{1} << 20},
    {"GiB", uint64_t{1} << 30},
    {"TiB", uint64_t{1} << 40},
}};

constexpr std::array<Unit, 6> duration_units{{
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
}};

struct NumberAndUnit {
    uint64_t number;
    std::string_view unit;  // empty when there was none
};

// "64 KiB" -> {64, "KiB"}. Only decimal digits: no sign, fraction or exponent.
std::optional<NumberAndUnit> split(std::string_view text) {
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0) return std::nullopt;
    uint64_t number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
    if (ec != std::errc{}) return std::nullopt;  // too large for 64 bits
    std::string_view unit = text.substr(digits);
    const size_t spaces = unit.find_first_not_of(' ');
    if (spaces == std::string_view::npos) {
        if (!unit.empty()) return std::nullopt;  // trailing spaces and no unit
        return NumberAndUnit{number, {}};
    }
    return NumberAndUnit{number, unit.substr(spaces)};
}

std::optional<uint64_t> scale(uint64_t number, std::string_view unit, std::span<const Unit> units) {
    for (const Unit& u : units) {
        if (u.name != unit) continue;
        if (number > std::numeric_limits<uint64_t>::max() / u.factor) return std::nullopt;
        return number * u.factor;
    }
    return std::nullopt;
}

std::string format(uint64_t value, std::span<const Unit> units) {
    for (auto u = units.rbegin(); u != units.rend(); ++u) {
        if (value % u->factor == 0) return std::to_string(value / u->factor) + std::string(u->name);
    }
    return std::to_string(value);  // unreachable: the smallest factor is 1
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
    const auto parts = split(text);
    if (!parts) return std::nullopt;
    if (parts->unit.empty()) return parts->number;
    return scale(parts->number, parts->unit, size_units);
}

std::optional<uint64_t> parse_duration_ns(std::string_view text) {
    const auto parts = split(text);
    if (!parts) return std::nullopt;
    if (parts->unit.empty()) {
        if (parts->number == 0) return 0;
        return std::nullopt;
    }
    return scale(parts->number, parts->unit, duration_units);
}

std::string format_size(uint64_t bytes) {
    if (bytes == 0) return "0B";
    return format(bytes, size_units);
}

std::string format_duration(uint64_t ns) {
    if (ns == 0) return "0";
    return format(ns, duration_units);
}

}  // namespace taprec
