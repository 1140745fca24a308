// Notices: lines for the operator's log from threads that must not write to stderr themselves
// (the writer, the janitor). They queue here; the control thread takes and logs them.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace taprec {

enum class NoticeLevel { info, warning, error };

struct Notice {
    NoticeLevel level;
    std::string text;
};

// Cold path only: a lock per event (a failed write, a published hook), never per packet.
class Notices {
public:
    void add(NoticeLevel level, std::string text) {
        std::lock_guard lock(mutex_);
        if (queued_.size() < max_queued) queued_.push_back({level, std::move(text)});
    }
    std::vector<Notice> take() {
        std::lock_guard lock(mutex_);
        return std::exchange(queued_, {});
    }

private:
    // A control thread that stopped taking must not let the queue grow without bound.
    static constexpr size_t max_queued = 1000;
    std::mutex mutex_;
    std::vector<Notice> queued_;
};

}  // namespace taprec
