#include "daemon/run_as.hpp"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace taprec {
namespace {

std::optional<uint32_t> numeric_id(const std::string& text) {
    uint32_t id = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return id;
}

void give_to(const std::string& path, const RunAs& run_as) {
    if (::lchown(path.c_str(), run_as.uid, run_as.gid) != 0)
        throw std::runtime_error("cannot hand " + path + " to uid " + std::to_string(run_as.uid) +
                                 ": " + std::strerror(errno) +
                                 "; start taprec as root (or with CAP_CHOWN), or remove user:");
}

}  // namespace

std::vector<ConfigError> resolve_run_as(const Config& config, RunAs& run_as) {
    std::vector<ConfigError> errors;
    run_as = RunAs{};
    if (config.user.empty() && config.group.empty()) return errors;
    run_as.uid = ::getuid();
    run_as.gid = ::getgid();
    std::vector<char> buffer(16384);
    bool user_has_group = false;
    if (!config.user.empty()) {
        passwd entry{};
        passwd* found = nullptr;
        ::getpwnam_r(config.user.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (found == nullptr) {
            if (const auto id = numeric_id(config.user)) {
                ::getpwuid_r(*id, &entry, buffer.data(), buffer.size(), &found);
                run_as.uid = *id;
            } else {
                errors.push_back(config.error("user", "\"" + config.user + "\" is not a user on this "
                                              "machine; create it (useradd --system " + config.user +
                                              ") or give an existing one"));
            }
        } else {
            run_as.uid = found->pw_uid;
        }
        if (found != nullptr) {
            run_as.user = found->pw_name;
            run_as.gid = found->pw_gid;
            user_has_group = true;
        }
    }
    if (!config.group.empty()) {
        group entry{};
        group* found = nullptr;
        ::getgrnam_r(config.group.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (found != nullptr) {
            run_as.gid = found->gr_gid;
        } else if (const auto id = numeric_id(config.group)) {
            run_as.gid = *id;
        } else {
            errors.push_back(config.error("group", "\"" + config.group + "\" is not a group on this "
                                          "machine; create it (groupadd --system " + config.group +
                                          ") or give an existing one"));
        }
    } else if (!config.user.empty() && !user_has_group && errors.empty()) {
        errors.push_back(config.error("user", "uid " + config.user + " has no entry in the user "
                                      "database, so it has no group of its own; add group:"));
    }
    // Already the configured user and group (e.g. the unit set User=): nothing to drop.
    run_as.change = errors.empty() && (run_as.uid != ::getuid() || run_as.gid != ::getgid());
    return errors;
}

void drop_privileges(const RunAs& run_as, const std::vector<std::string>& folders) {
    if (!run_as.change) return;
    for (const std::string& folder : folders) {
        give_to(folder, run_as);
        // What an earlier run left (stats.jsonl, index.jsonl, partial files) must stay writable.
        if (DIR* d = ::opendir(folder.c_str())) {
            while (const dirent* e = ::readdir(d)) {
                if (e->d_type != DT_REG) continue;
                give_to(folder + "/" + e->d_name, run_as);
            }
            ::closedir(d);
        }
    }
    const std::string who = run_as.user.empty() ? "uid " + std::to_string(run_as.uid) : run_as.user;
    // Supplementary groups first: once the group and user changed, they can no longer be set.
    // initgroups gives the user its memberships (e.g. a group that may write the Prometheus folder).
    const int groups_set = run_as.user.empty() ? ::setgroups(1, &run_as.gid)
                                               : ::initgroups(run_as.user.c_str(), run_as.gid);
    if (groups_set != 0 || ::setgid(run_as.gid) != 0 || ::setuid(run_as.uid) != 0)
        throw std::runtime_error("cannot become " + who + " (gid " + std::to_string(run_as.gid) +
                                 "): " + std::strerror(errno) +
                                 "; start taprec as root, or remove user: and group:");
    // A process that can become root again has not dropped anything.
    if (run_as.uid != 0 && ::setuid(0) == 0)
        throw std::runtime_error("became " + who + " but could still switch back to root; refusing "
                                 "to run");
}

}  // namespace taprec
