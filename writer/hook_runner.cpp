#include "writer/hook_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "writer/placeholder.hpp"

extern char** environ;

namespace taprec {
namespace {

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
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        // Retention deleted it while it waited (or before a restart): nothing to hand on.
        counters_.skipped.add(1);
        return;
    }
    std::vector<std::string> args;
    for (const std::string& a : argv_) args.push_back(with_placeholder(a, "{path}", path));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The hook gets /dev/null for stdin, stdout and stderr: a hook left running after the daemon
    // exits must not hold the daemon's output open (a pipe, the journal stream) behind it. It
    // gets default signal dispositions (the daemon ignores SIGPIPE) and an empty signal mask.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
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
    const uint64_t skipped_before = counters_.skipped.get();
    std::string first_skipped;
    while (running_.size() < max_running_ && !queue_.empty()) {
        const std::string path = std::move(queue_.front());
        queue_.pop_front();
        const uint64_t skipped = counters_.skipped.get();
        start(path, now_ns);
        if (first_skipped.empty() && counters_.skipped.get() != skipped) first_skipped = path;
    }
    if (const uint64_t n = counters_.skipped.get() - skipped_before; n != 0)
        notices_.add(NoticeLevel::info, "on_rotate: " + std::to_string(n) + " files were deleted "
                                        "(retention) before their hook could start, first " +
                                            first_skipped + "; skipped");
}

std::vector<std::string> HookRunner::take_unfinished() {
    std::vector<std::string> rest;
    for (const Running& r : running_) rest.push_back(r.path);
    rest.insert(rest.end(), queue_.begin(), queue_.end());
    queue_.clear();
    return rest;
}

}  // namespace taprec
