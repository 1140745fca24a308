// Logging: one line per event, with a level. Under systemd (JOURNAL_STREAM set) lines carry the
// journal's <N> priority prefix and no timestamp, since journald adds its own.
#pragma once

#include <string_view>

namespace taprec {

enum class LogLevel { error, warning, info, debug };

void log(LogLevel level, std::string_view message);
inline void log_error(std::string_view m) { log(LogLevel::error, m); }
inline void log_warning(std::string_view m) { log(LogLevel::warning, m); }
inline void log_info(std::string_view m) { log(LogLevel::info, m); }

// `line` as it is, with no timestamp or level word (a configuration error names its own file
// and line), but with the journal's priority prefix under systemd like every other line.
void log_line(LogLevel level, std::string_view line);

// True when stderr is a terminal a person watches: live status lines go there.
bool log_is_interactive();
// Rewrite the terminal's status line in place (interactive only).
void log_status_line(std::string_view line);

}  // namespace taprec
