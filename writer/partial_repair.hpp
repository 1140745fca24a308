// Repair at start: what a crash (kill -9, power loss) left in DIRECTORY/TAP/.partial/.
//
// Each leftover is cut back to its last whole record and published like any other file, with an
// index line marked "repaired":true. A leftover that is no pcap file at all is moved to
// .partial/corrupt/ for a person to look at; one holding no packet is removed. Every case gives
// a notice: nothing is left behind, or thrown away, silently.
#pragma once

#include <string>
#include <vector>

#include "writer/notices.hpp"
#include "writer/output_dir.hpp"

namespace taprec {

struct RepairResult {
    std::vector<std::string> published;  // paths of the repaired files, oldest leftover first
    std::vector<Notice> notices;
};

// Runs before any writer of this tap starts; the caller logs the notices.
RepairResult repair_partials(const OutputDirectory& directory);

}  // namespace taprec
