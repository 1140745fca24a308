// Retention: which published files to delete so the tap folder stays within output.retention.
//
// Oldest first: the files of earlier runs, then those of this run in the order it published
// them (PublicationOrder). Earlier runs' files count like any other (the folder is scanned each
// time) and go by modification time (the time the file was closed: the kernel's clock, so a
// bogus packet timestamp cannot make a new file look old); files closed within one tick of that
// clock share an mtime and go by name, clash suffixes in number order. Only published
// DIRECTORY/TAP/*.pcap files are candidates, never what is in .partial/ (the file being written).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"

namespace taprec {

struct StoredFile {
    std::string name;
    uint64_t bytes = 0;
    int64_t mtime_ns = 0;
};

struct DiskSpace {
    uint64_t total_bytes = 0;
    uint64_t available_bytes = 0;
};

// The published files of a tap folder, oldest first by mtime, ties by name_before().
std::vector<StoredFile> list_published(const std::string& tap_dir);
// Whether file name `a` comes before `b`: by text, with runs of digits compared as numbers and
// ".pcap" left out, so the names one stem was given keep their order: X, X-1, X-2, ..., X-10
// (as text, "X-1.pcap" < "X-10.pcap" < "X-2.pcap" < "X.pcap"). A clash suffix cannot be told
// from the stem by its form (the default stem ends in -%H%M%S), so none is cut off: stems of
// fixed-width strftime fields keep their time order this way too.
bool name_before(std::string_view a, std::string_view b);

// The order this run published its files in. The mtimes cannot tell it: files closed within one
// tick of the kernel's clock share one, and a clock stepped back (NTP at boot) makes new files
// look old. The janitor is told of each file as it is published, and owns this object.
class PublicationOrder {
public:
    // The files in the folder at start: earlier runs', older than anything this run publishes.
    explicit PublicationOrder(const std::vector<StoredFile>& earlier_runs);
    // This run published `name` (a file name), after every file recorded before it.
    void published(const std::string& name);
    // `listed` (as list_published gives it) oldest first: the earlier runs' files as listed,
    // then this run's in publication order. A file not announced yet (the writer renames a file
    // before it tells the janitor, and tells nothing when the ring is full) takes its place
    // when first seen. Names no longer listed are forgotten: memory follows the folder.
    std::vector<StoredFile> oldest_first(std::vector<StoredFile> listed);

private:
    static constexpr uint64_t earlier_run = 0;
    std::unordered_map<std::string, uint64_t> position_;  // by name; earlier_run or 1, 2, ...
    uint64_t next_position_ = earlier_run + 1;
};

// Bytes of the files in .partial/ (the file being written counts against max_bytes).
uint64_t partial_bytes(const std::string& partial_dir);
std::optional<DiskSpace> disk_space(const std::string& dir);

struct RetentionDecision {
    size_t delete_count = 0;  // this many of the oldest files
    std::string reason;       // which limit asked for it: max_files, max_bytes, min_free_percent
    bool min_free_unreachable = false;  // even deleting every file would not free enough
};

// Pure: how many of `files` (oldest first) must go so that
//   files kept <= max_files,
//   bytes kept + in_progress_bytes <= max_bytes (ahead of need: room for the file being written),
//   the disk keeps min_free_percent of its size available.
RetentionDecision plan_retention(const std::vector<StoredFile>& files, uint64_t in_progress_bytes,
                                 const std::optional<DiskSpace>& disk,
                                 const RetentionConfig& retention);

}  // namespace taprec
