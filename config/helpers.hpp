// Where `meson install` puts taprec's helper scripts (hugepages, bind-nic), for messages that
// tell the operator what to run: the installed path, which exists on a sensor, not the source
// tree's scripts/ folder.
#pragma once

#include <string>
#include <string_view>

namespace taprec {

// "PREFIX/libexec/taprec/NAME".
std::string helper_path(std::string_view name);

}  // namespace taprec
