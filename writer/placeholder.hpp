// Placeholders in configured text: "{tap}" in output.name, "{path}" in output.on_rotate.
#pragma once

#include <string>
#include <string_view>

namespace taprec {

// `text` with every occurrence of `placeholder` replaced by `value`; nothing else changes (no
// escapes: configured text is taken literally).
inline std::string with_placeholder(std::string_view text, std::string_view placeholder,
                                    std::string_view value) {
    std::string out;
    size_t from = 0;
    for (size_t at = text.find(placeholder); at != std::string_view::npos;
         at = text.find(placeholder, from)) {
        out.append(text, from, at - from);
        out.append(value);
        from = at + placeholder.size();
    }
    out.append(text, from);
    return out;
}

}  // namespace taprec
