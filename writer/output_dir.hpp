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

// The NAME.pcap of a path publish() returned: what index.jsonl and retention call the file.
inline std::string file_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

class OutputDirectory {
public:
    // Creates the folders if needed; throws std::system_error naming the folder.
    OutputDirectory(const std::string& root, const std::string& tap, const std::string& pattern);

    // A name for a file whose first packet has ts_ns: the pattern with {tap} and strftime (UTC)
    // applied (the stem), ".pcap" added, and "-N" before it when the stem was given before in
    // this run or a file of that name exists already. Within a run N only grows: retention
    // frees names, and a name given twice would give index.jsonl two lines for one name. Called
    // by the writer thread only.
    std::string name_for(uint64_t first_ts_ns);
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
    std::string stem_for(uint64_t first_ts_ns) const;

    std::string tap_;
    std::string pattern_;
    std::string tap_dir_;
    std::string partial_dir_;
    std::string meta_dir_;
    // The stem name_for() gave last and its sequence number. One stem is enough: files are
    // named from their first packet, which only moves forward, so a stem recurs only in files
    // that follow each other. (A late packet opening a file can name it from an earlier second;
    // that stem starts again from the lowest free number.)
    std::string last_stem_;
    unsigned last_sequence_ = 0;
};

}  // namespace taprec
