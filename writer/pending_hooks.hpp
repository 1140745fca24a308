// The on_rotate hooks a stop left unfinished, kept in DIRECTORY/TAP/.meta/hooks-pending (one
// published file name a line) so that the next start runs them: delivery to the IDS is at least
// once. A hook still running at the stop is in the list too, so it may run twice for one file.
#pragma once

#include <string>
#include <vector>

#include "writer/output_dir.hpp"

namespace taprec {

inline constexpr const char* pending_hooks_file = "hooks-pending";

// The names recorded at the last stop ({} when there is no record).
std::vector<std::string> read_pending_hooks(const OutputDirectory& directory);

// Replace the record with `paths` (published paths; their names are kept), or remove it when
// there are none. Written to a temporary file and renamed over the old one: a crash leaves the
// old record or the new, never half of one. Throws std::system_error naming the file.
void write_pending_hooks(const OutputDirectory& directory, const std::vector<std::string>& paths);

}  // namespace taprec
