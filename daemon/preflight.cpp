#include "daemon/preflight.hpp"

#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace taprec {
namespace {

// The deepest existing ancestor of `path` must be a folder we can write into.
std::string directory_problem(const std::string& path) {
    std::string probe = path;
    while (!probe.empty()) {
        struct stat st{};
        if (::stat(probe.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) return probe + " is not a folder";
            if (::access(probe.c_str(), W_OK | X_OK) != 0)
                return probe + " is not writable (" + std::strerror(errno) + ")";
            return "";
        }
        const size_t slash = probe.find_last_of('/');
        if (slash == std::string::npos || slash == 0) break;
        probe.resize(slash);
    }
    return "";
}

void check_port(const PortConfig& port, const std::string& key, const Config& config,
                int& link_type, std::vector<ConfigError>& errors) {
    if (port.driver != DriverKind::pcap || port.file.empty()) return;
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(port.file.c_str(), err);
    if (p == nullptr) {
        errors.push_back(config.error(key + ".file", std::string("cannot read \"") + port.file +
                                                         "\": " + err +
                                                         "; give the path of a pcap or pcapng file"));
        return;
    }
    if (link_type < 0) link_type = pcap_datalink(p);
    pcap_close(p);
}

}  // namespace

std::vector<ConfigError> preflight(const Config& config) {
    std::vector<ConfigError> errors;
    int link_type = -1;
    for (size_t t = 0; t < config.taps.size(); ++t) {
        const TapConfig& tap = config.taps[t];
        const std::string key = "taps[" + std::to_string(t) + "]";
        check_port(tap.a, key + ".a", config, link_type, errors);
        if (tap.b) check_port(*tap.b, key + ".b", config, link_type, errors);
    }
    if (const std::string problem = directory_problem(config.output.directory); !problem.empty())
        errors.push_back(config.error(
            "output.directory", problem + "; choose a folder taprec can write, or fix its permissions"));
    if (!config.output.filter.empty()) {
        pcap_t* dead = pcap_open_dead(link_type < 0 ? DLT_EN10MB : link_type,
                                      static_cast<int>(config.output.snaplen));
        bpf_program program{};
        if (pcap_compile(dead, &program, config.output.filter.c_str(), 1,
                         PCAP_NETMASK_UNKNOWN) != 0)
            errors.push_back(config.error("output.filter",
                                          std::string("\"") + config.output.filter +
                                              "\" does not compile: " + pcap_geterr(dead) +
                                              "; use libpcap filter syntax (man pcap-filter)"));
        else
            pcap_freecode(&program);
        pcap_close(dead);
    }
    return errors;
}

}  // namespace taprec
