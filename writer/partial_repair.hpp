// Repair at start: what a crash (kill -9, power loss) left in DIRECTORY/TAP/.partial/.
//
// Each leftover is cut back to its last whole record and published like any other file, with an
// index line marked "repaired":true. A leftover that is no pcap file at all is moved to
// .partial/corrupt/ for a person to look at; one holding no packet is removed. Every case gives
// a notice: nothing is left behind, or thrown away, silently.
//
// The writer publishes a file (rename) before it appends its index line, so a crash between the
// two leaves a published file the index does not know. Repair then adds its line, read from the
// file and marked "recovered":true, with a notice; the file is not reported in `published` (it
// was published already, and retention counts it like any other). An index whose last line was
// cut short is cut back to its last whole line first.
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
