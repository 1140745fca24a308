// A tap's ports: at most two, a (A->B) and b (B->A), numbered 0 and 1 everywhere in the pipeline.
#pragma once

#include <cstddef>

namespace taprec {

inline constexpr size_t max_ports_per_tap = 2;  // a TAP has two outputs, one per direction

inline constexpr const char* port_name(size_t port) { return port == 0 ? "a" : "b"; }

}  // namespace taprec
