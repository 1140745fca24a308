// OutputDirectory: the file layout of one tap (DESIGN.md "Files").
//
//   DIRECTORY/TAP/NAME.pcap            complete files only: what an IDS may open
//   DIRECTORY/TAP/.partial/NAME.pcap   the file being written, renamed into place when complete
//   DIRECTORY/TAP/.meta/index.jsonl    one line per published file
//   DIRECTORY/TAP/.meta/stats.jsonl    one line per stats interval
#pragma once

#include <cstdint>
#include <string>

namespace taprec {

class OutputDirectory {
public:
    // Creates the folders if needed; throws std::system_error naming the folder.
    OutputDirectory(const std::string& root, const std::string& tap, const std::string& pattern);

    // A name for a file whose first packet has ts_ns: the pattern with {tap} and strftime (UTC)
    // applied, ".pcap" added, and "-N" before it when a file of that name exists already.
    std::string name_for(uint64_t first_ts_ns) const;
    std::string partial_path(const std::string& name) const { return partial_dir_ + "/" + name; }

    // Rename .partial/NAME into the tap folder, atomically and without replacing anything
    // (a clash takes the next sequence number). Returns the published path; throws on failure.
    std::string publish(const std::string& name) const;

    // Append one line to a file in .meta (O_APPEND: a line is written whole or not at all).
    void append_meta_line(const char* file, const std::string& line) const;

    const std::string& tap_dir() const noexcept { return tap_dir_; }
    const std::string& partial_dir() const noexcept { return partial_dir_; }
    const std::string& meta_dir() const noexcept { return meta_dir_; }

private:
    bool taken(const std::string& name) const;

    std::string tap_;
    std::string pattern_;
    std::string tap_dir_;
    std::string partial_dir_;
    std::string meta_dir_;
};

}  // namespace taprec
