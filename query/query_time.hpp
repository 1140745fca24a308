// TIME of `taprec query --from/--to`: RFC 3339 with up to nanoseconds
// (2021-07-25T14:57:01.123456789Z, or an offset +02:00), Unix seconds with a fraction
// (1627225021.5), or relative to now (-10m, -2h, -30s, -1d, -500ms).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace taprec {

// Nanoseconds since the epoch, or nullopt with `error` saying what is wrong.
std::optional<uint64_t> parse_query_time(const std::string& text, uint64_t now_ns,
                                         std::string& error);

}  // namespace taprec
