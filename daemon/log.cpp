#include "daemon/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

namespace taprec {
namespace {

std::mutex log_mutex;  // lines from setup, the control thread and the writer never interleave
bool status_line_shown = false;

bool under_journald() {
    static const bool journald = std::getenv("JOURNAL_STREAM") != nullptr;
    return journald;
}

const char* level_name(LogLevel level) {
    switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warning: return "warning";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    }
    return "info";
}

int journal_priority(LogLevel level) {
    switch (level) {
    case LogLevel::error: return 3;
    case LogLevel::warning: return 4;
    case LogLevel::info: return 6;
    case LogLevel::debug: return 7;
    }
    return 6;
}

}  // namespace

bool log_is_interactive() {
    static const bool tty = ::isatty(STDERR_FILENO) == 1 && !under_journald();
    return tty;
}

namespace {

// One line on stderr: the status line cleared first, the journal's priority under systemd, and
// when `decorated` a local timestamp (off journald) and "taprec LEVEL: ".
void emit(LogLevel level, std::string_view message, bool decorated) {
    std::lock_guard lock(log_mutex);
    std::string line;
    if (status_line_shown) {
        line = "\r\033[K";
        status_line_shown = false;
    }
    if (under_journald()) {
        line += "<" + std::to_string(journal_priority(level)) + ">";
    } else if (decorated) {
        char stamp[32];
        const time_t now = time(nullptr);
        tm local{};
        localtime_r(&now, &local);
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S ", &local);
        line += stamp;
    }
    if (decorated) {
        line += "taprec ";
        line += level_name(level);
        line += ": ";
    }
    line += message;
    line += "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace

void log(LogLevel level, std::string_view message) { emit(level, message, true); }

void log_line(LogLevel level, std::string_view line) { emit(level, line, false); }

void log_status_line(std::string_view status) {
    std::lock_guard lock(log_mutex);
    std::string line = "\r\033[K";
    line += status;
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
    status_line_shown = true;
}

}  // namespace taprec
