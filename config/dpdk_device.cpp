#include "config/dpdk_device.hpp"

#include <algorithm>
#include <cctype>

namespace taprec {
namespace {

bool all_hex(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

}  // namespace

std::optional<std::string> DpdkDevice::arg(std::string_view key) const {
    for (const auto& [k, v] : args)
        if (k == key) return v;
    return std::nullopt;
}

size_t DpdkDevice::arg_count(std::string_view key) const {
    size_t n = 0;
    for (const auto& kv : args) n += kv.first == key;
    return n;
}

bool looks_like_pci_address(std::string_view text) {
    // [DDDD:]BB:SS.F
    const size_t dot = text.rfind('.');
    if (dot == std::string_view::npos || dot + 2 != text.size() || !all_hex(text.substr(dot + 1)))
        return false;
    const std::string_view head = text.substr(0, dot);
    const size_t last = head.rfind(':');
    if (last == std::string_view::npos || last + 3 != head.size() || !all_hex(head.substr(last + 1)))
        return false;
    const std::string_view front = head.substr(0, last);
    const size_t first = front.find(':');
    if (first == std::string_view::npos) return front.size() == 2 && all_hex(front);
    return first == 4 && all_hex(front.substr(0, 4)) && front.size() == 7 &&
           all_hex(front.substr(5));
}

std::string normalize_pci_address(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::count(out.begin(), out.end(), ':') == 1) out = "0000:" + out;
    return out;
}

DpdkDevice parse_dpdk_device(std::string_view text) {
    DpdkDevice d;
    d.text = std::string(text);
    if (looks_like_pci_address(text)) {
        d.is_pci = true;
        d.name = normalize_pci_address(text);
        return d;
    }
    const size_t comma = text.find(',');
    d.name = std::string(text.substr(0, comma));
    // The driver is the name without its trailing instance number: net_pcap0 -> net_pcap.
    size_t end = d.name.size();
    while (end > 0 && std::isdigit(static_cast<unsigned char>(d.name[end - 1]))) --end;
    d.driver = d.name.substr(0, end);
    std::string_view rest = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    while (!rest.empty()) {
        const size_t next = rest.find(',');
        const std::string_view item = rest.substr(0, next);
        const size_t eq = item.find('=');
        if (!item.empty())
            d.args.emplace_back(std::string(item.substr(0, eq)),
                                eq == std::string_view::npos ? std::string()
                                                             : std::string(item.substr(eq + 1)));
        if (next == std::string_view::npos) break;
        rest = rest.substr(next + 1);
    }
    return d;
}

}  // namespace taprec
