// Sizes and durations as the configuration file writes them: "1GiB", "64 KiB", "200us", "5m".
//
// Parsing is strict: anything that is not a plain decimal number with a known unit, or that
// does not fit in 64 bits, is nullopt, never 0 (STYLE.md: no atoi-style parsing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace taprec {

// Bytes from "N", "NB", "NKiB", "NMiB", "NGiB", "NTiB" (spaces allowed before the unit).
std::optional<uint64_t> parse_size(std::string_view text);
// Nanoseconds from "Nns", "Nus", "Nms", "Ns", "Nm", "Nh" (spaces allowed before the unit).
// A bare number is refused, except "0": "10" could mean any unit.
std::optional<uint64_t> parse_duration_ns(std::string_view text);

// The largest unit that represents the value exactly, so the text parses back to the same
// value: 1073741824 -> "1GiB", 65535 -> "65535B", 0 -> "0B".
std::string format_size(uint64_t bytes);
// Likewise: 200000 -> "200us", 300000000000 -> "5m", 90000000000 -> "90s", 0 -> "0".
std::string format_duration(uint64_t ns);

// Human-readable texts for parse errors, listing the accepted units.
inline constexpr std::string_view size_help =
    "a size such as 1GiB, 64 KiB or 65536 (units B, KiB, MiB, GiB, TiB)";
inline constexpr std::string_view duration_help =
    "a duration such as 200us, 10s or 5m (units ns, us, ms, s, m, h)";

}  // namespace taprec
