#include "query/query_time.hpp"

#include <cctype>
#include <ctime>

namespace taprec {
namespace {

constexpr uint64_t ns_per_second = 1'000'000'000u;

bool digits(const std::string& s, size_t at, size_t n, int& value) {
    if (at + n > s.size()) return false;
    value = 0;
    for (size_t i = at; i < at + n; ++i) {
        if (!std::isdigit(uint8_t(s[i]))) return false;
        value = value * 10 + (s[i] - '0');
    }
    return true;
}

// ".123456789" at `at`: the nanoseconds, and where it ends.
bool fraction(const std::string& s, size_t& at, uint64_t& ns) {
    ns = 0;
    if (at >= s.size() || s[at] != '.') return true;
    ++at;
    size_t n = 0;
    uint64_t scale = ns_per_second;
    while (at < s.size() && std::isdigit(uint8_t(s[at]))) {
        if (++n > 9) return false;
        scale /= 10;
        ns += uint64_t(s[at] - '0') * scale;
        ++at;
    }
    return n != 0;
}

std::optional<uint64_t> rfc3339(const std::string& s, std::string& error) {
    int year, month, day, hour, minute, second;
    const bool shape = digits(s, 0, 4, year) && s[4] == '-' && digits(s, 5, 2, month) &&
                       s[7] == '-' && digits(s, 8, 2, day) &&
                       (s[10] == 'T' || s[10] == 't' || s[10] == ' ') && digits(s, 11, 2, hour) &&
                       s[13] == ':' && digits(s, 14, 2, minute) && s[16] == ':' &&
                       digits(s, 17, 2, second);
    size_t at = 19;
    uint64_t ns = 0;
    if (!shape || !fraction(s, at, ns)) {
        error = "'" + s + "' is not RFC 3339 (2021-07-25T14:57:01.123456789Z, at most 9 digits "
                "of fraction)";
        return std::nullopt;
    }
    int64_t offset_s = 0;
    if (at < s.size() && (s[at] == 'Z' || s[at] == 'z') && at + 1 == s.size()) {
    } else if (at < s.size() && (s[at] == '+' || s[at] == '-') && at + 6 == s.size() &&
               s[at + 3] == ':') {
        int oh, om;
        if (!digits(s, at + 1, 2, oh) || !digits(s, at + 4, 2, om) || oh > 23 || om > 59) {
            error = "'" + s + "': the offset must be +HH:MM or -HH:MM";
            return std::nullopt;
        }
        offset_s = (s[at] == '+' ? 1 : -1) * int64_t(oh * 3600 + om * 60);
    } else {
        error = "'" + s + "' needs a time zone: Z or +HH:MM (RFC 3339)";
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        error = "'" + s + "': a field is out of range";
        return std::nullopt;
    }
    tm t{};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = hour;
    t.tm_min = minute;
    t.tm_sec = second;
    const int64_t seconds = int64_t(timegm(&t)) - offset_s;
    if (seconds < 0) {
        error = "'" + s + "' is before 1970";
        return std::nullopt;
    }
    return uint64_t(seconds) * ns_per_second + ns;
}

}  // namespace

std::optional<uint64_t> parse_query_time(const std::string& s, uint64_t now_ns, std::string& error) {
    if (s.empty()) {
        error = "an empty TIME";
        return std::nullopt;
    }
    if (s == "now") return now_ns;
    if (s[0] == '-') {
        size_t at = 1;
        uint64_t amount = 0;
        while (at < s.size() && std::isdigit(uint8_t(s[at])) && amount < ns_per_second)
            amount = amount * 10 + uint64_t(s[at++] - '0');
        const std::string unit = s.substr(at);
        uint64_t scale = 0;
        if (unit == "ns") scale = 1;
        else if (unit == "us") scale = 1000;
        else if (unit == "ms") scale = 1'000'000;
        else if (unit == "s") scale = ns_per_second;
        else if (unit == "m") scale = 60 * ns_per_second;
        else if (unit == "h") scale = 3600 * ns_per_second;
        else if (unit == "d") scale = 86400 * ns_per_second;
        if (at == 1 || scale == 0) {
            error = "'" + s + "' is not a relative time (-30s, -10m, -2h, -1d, -500ms)";
            return std::nullopt;
        }
        const uint64_t back = amount * scale;
        return back > now_ns ? 0 : now_ns - back;
    }
    if (s.size() >= 19 && s[4] == '-') return rfc3339(s, error);
    size_t at = 0;
    uint64_t seconds = 0;
    while (at < s.size() && std::isdigit(uint8_t(s[at])) && seconds < 100'000'000'000ull)
        seconds = seconds * 10 + uint64_t(s[at++] - '0');
    uint64_t ns = 0;
    if (at == 0 || !fraction(s, at, ns) || at != s.size() || seconds >= 100'000'000'000ull) {
        error = "'" + s + "' is not a TIME: RFC 3339 (2021-07-25T14:57:01.123456789Z), Unix "
                "seconds (1627225021.123456789) or relative (-10m)";
        return std::nullopt;
    }
    return seconds * ns_per_second + ns;
}

}  // namespace taprec
