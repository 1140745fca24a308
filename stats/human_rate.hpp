// human_rate(): a rate or a size for people ("1.25 Mpps", "42.0 kbit/s"), for the status line
// and `taprec stats`.
#pragma once

#include <cstdio>
#include <string>

namespace taprec {

inline std::string human_rate(double value, const char* unit) {
    char buf[64];
    if (value >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2f G%s", value / 1e9, unit);
    else if (value >= 1e6)
        std::snprintf(buf, sizeof buf, "%.2f M%s", value / 1e6, unit);
    else if (value >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1f k%s", value / 1e3, unit);
    else
        std::snprintf(buf, sizeof buf, "%.0f %s", value, unit);
    return buf;
}

}  // namespace taprec
