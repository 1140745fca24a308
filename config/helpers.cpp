#include "config/helpers.hpp"

#ifndef TAPREC_HELPER_DIR
#define TAPREC_HELPER_DIR "/usr/local/libexec/taprec"
#endif

namespace taprec {

std::string helper_path(std::string_view name) {
    return std::string(TAPREC_HELPER_DIR) + "/" + std::string(name);
}

}  // namespace taprec
