// The configuration's enumerations and their YAML spellings.
//
// Apart from config.hpp so that defaults.hpp can name enum defaults without an include cycle.
// The spelling tables are the only place a YAML word is tied to a value: the parser reads with
// them and the plan prints with them, so the two cannot drift apart.
#pragma once

#include <array>
#include <span>
#include <string_view>

namespace taprec {

enum class DriverKind { dpdk, pcap };
enum class ReplaySpeed { max, realtime };
enum class TimestampSource { automatic, hardware, software };
enum class IdlePolicy { spin, yield, sleep };
enum class OutputFormat { pcap_us, pcap_ns };
enum class SyncPolicy { none, close };

template <typename E>
struct Choice {
    std::string_view name;
    E value;
};

inline constexpr std::array<Choice<DriverKind>, 2> driver_choices{{
    {"dpdk", DriverKind::dpdk},
    {"pcap", DriverKind::pcap},
}};
inline constexpr std::array<Choice<ReplaySpeed>, 2> speed_choices{{
    {"max", ReplaySpeed::max},
    {"realtime", ReplaySpeed::realtime},
}};
inline constexpr std::array<Choice<TimestampSource>, 3> timestamp_choices{{
    {"auto", TimestampSource::automatic},
    {"hardware", TimestampSource::hardware},
    {"software", TimestampSource::software},
}};
inline constexpr std::array<Choice<IdlePolicy>, 3> idle_choices{{
    {"spin", IdlePolicy::spin},
    {"yield", IdlePolicy::yield},
    {"sleep", IdlePolicy::sleep},
}};
inline constexpr std::array<Choice<OutputFormat>, 2> format_choices{{
    {"pcap", OutputFormat::pcap_us},
    {"pcap-ns", OutputFormat::pcap_ns},
}};

inline constexpr std::array<Choice<SyncPolicy>, 2> sync_choices{{
    {"none", SyncPolicy::none},
    {"close", SyncPolicy::close},
}};
// Booleans read through the same tables, so `direct_io: maybe` gets the same message as a typo.
inline constexpr std::array<Choice<bool>, 2> bool_choices{{
    {"false", false},
    {"true", true},
}};

// The table for an enum type, picked by overload on a value of that type.
constexpr std::span<const Choice<DriverKind>> choices(DriverKind) { return driver_choices; }
constexpr std::span<const Choice<ReplaySpeed>> choices(ReplaySpeed) { return speed_choices; }
constexpr std::span<const Choice<TimestampSource>> choices(TimestampSource) { return timestamp_choices; }
constexpr std::span<const Choice<IdlePolicy>> choices(IdlePolicy) { return idle_choices; }
constexpr std::span<const Choice<OutputFormat>> choices(OutputFormat) { return format_choices; }
constexpr std::span<const Choice<SyncPolicy>> choices(SyncPolicy) { return sync_choices; }
constexpr std::span<const Choice<bool>> choices(bool) { return bool_choices; }

// The YAML word for a value, e.g. name_of(OutputFormat::pcap_ns) == "pcap-ns".
template <typename E>
constexpr std::string_view name_of(E value) {
    for (const auto& choice : choices(value)) {
        if (choice.value == value) return choice.name;
    }
    return "?";
}

}  // namespace taprec
