#include "writer/hook_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>

extern char** environ;

namespace taprec {
namespace {

std::string with_path(const std::string& arg, const std::string& path) {
    std::string out;
    for (size_t i = 0; i < arg.size(); ++i) {
        if (arg.compare(i, 6, "{path}") == 0) {
            out += path;
            i += 5;
        } else {
            out += arg[i];
        }
    }
    return out;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    return "ended with wait status " + std::to_string(status);
}

}  // namespace

HookRunner::HookRunner(std::vector<std::string> argv, uint32_t max_running, uint64_t timeout_ns,
                       Notices& notices)
    : argv_(std::move(argv)),
      max_running_(max_running == 0 ? 1 : max_running),
      timeout_ns_(timeout_ns),
      notices_(notices) {}

HookRunner::~HookRunner() = default;

void HookRunner::enqueue(const std::string& path) {
    if (!enabled()) return;
    if (queue_.size() >= max_queued) {
        counters_.overflow.add(1);
        if (!overflow_logged_) {
            overflow_logged_ = true;
            notices_.add(NoticeLevel::warning,
                         "on_rotate: " + std::to_string(max_queued) + " files already wait for "
                         "their hook; no hook is run for " + path + " and later files until the "
                         "queue drains (counted as hooks_overflow; raise output.on_rotate_max "
                         "or speed up the hook)");
        }
        return;
    }
    queue_.push_back(path);
}

void HookRunner::start(const std::string& path, uint64_t now_ns) {
    std::vector<std::string> args;
    for (const std::string& a : argv_) args.push_back(with_path(a, path));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The hook gets no stdin, the daemon's stdout and stderr (the journal), default signal
    // dispositions (the daemon ignores SIGPIPE) and an empty signal mask.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        counters_.failed.add(1);
        notices_.add(NoticeLevel::warning, "on_rotate: cannot run " + argv_[0] + " for " + path +
                                               ": " + std::strerror(rc));
        return;
    }
    counters_.started.add(1);
    running_.push_back({pid, path, now_ns, false});
}

void HookRunner::poll(uint64_t now_ns) {
    for (size_t i = 0; i < running_.size();) {
        Running& r = running_[i];
        int status = 0;
        const pid_t done = ::waitpid(r.pid, &status, WNOHANG);
        if (done == 0) {
            if (timeout_ns_ != 0 && !r.killed && now_ns - r.started_ns > timeout_ns_) {
                ::kill(r.pid, SIGKILL);
                r.killed = true;
                counters_.timed_out.add(1);
                notices_.add(NoticeLevel::warning,
                             "on_rotate: " + argv_[0] + " for " + r.path + " still runs after " +
                                 std::to_string(timeout_ns_ / 1'000'000'000u) +
                                 " s (output.on_rotate_timeout); killed");
            }
            ++i;
            continue;
        }
        if (done == r.pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            counters_.failed.add(1);
            if (!r.killed)
                notices_.add(NoticeLevel::warning, "on_rotate: " + argv_[0] + " for " + r.path +
                                                       " " + describe_status(status));
        }
        running_[i] = running_.back();
        running_.pop_back();
    }
    while (running_.size() < max_running_ && !queue_.empty()) {
        const std::string path = std::move(queue_.front());
        queue_.pop_front();
        start(path, now_ns);
    }
}

std::vector<std::string> HookRunner::take_queue() {
    std::vector<std::string> rest(queue_.begin(), queue_.end());
    queue_.clear();
    return rest;
}

}  // namespace taprec
