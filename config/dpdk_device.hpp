// What a `device:` string of a dpdk port says: a PCI NIC or a vdev, its DPDK port name, and its
// arguments. Pure string work, so it can be tested without EAL.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taprec {

struct DpdkDevice {
    std::string text;      // as configured
    bool is_pci = false;   // else a vdev
    std::string name;      // DPDK port name: "0000:3b:00.0", or the vdev name before the first ','
    std::string driver;    // vdev driver, e.g. "net_pcap" for "net_pcap0,..."; "" for PCI
    std::vector<std::pair<std::string, std::string>> args;  // vdev key=value arguments, in order

    // The value of vdev argument `key`, if given (the first one when repeated).
    std::optional<std::string> arg(std::string_view key) const;
    size_t arg_count(std::string_view key) const;
};

// "0000:3b:00.0" or "3b:00.0" (domain 0000 implied): DPDK and sysfs name the NIC with a domain.
bool looks_like_pci_address(std::string_view text);
std::string normalize_pci_address(std::string_view text);

// A device string that does not look like a PCI address is a vdev.
DpdkDevice parse_dpdk_device(std::string_view text);

}  // namespace taprec
