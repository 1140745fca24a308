#include "daemon/preflight.hpp"

#include <net/if.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

#include "config/validate.hpp"
#include "config/dpdk_device.hpp"
#include "drivers/dpdk_eal.hpp"
#include "drivers/tpacket_source.hpp"

namespace taprec {
namespace {

// The deepest existing ancestor of `path` must be a folder in which taprec can create its
// folders. Asked by creating (and removing) one: permission bits do not tell for /proc, sysfs,
// a read-only mount, or root.
std::string directory_problem(const std::string& path) {
    std::string probe = path;
    while (!probe.empty()) {
        struct stat st{};
        if (::stat(probe.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) return probe + " is not a folder";
            if (::access(probe.c_str(), W_OK | X_OK) != 0)
                return probe + " is not writable (" + std::strerror(errno) + ")";
            std::string temp = (probe == "/" ? "" : probe) + "/.taprec-check-XXXXXX";
            if (::mkdtemp(temp.data()) == nullptr)
                return "cannot create a folder in " + probe + " (" + std::strerror(errno) + ")";
            ::rmdir(temp.c_str());
            return "";
        }
        const size_t slash = probe.find_last_of('/');
        if (slash == std::string::npos) break;
        probe.resize(slash == 0 ? 1 : slash);
    }
    return "";
}

// Whether libpcap reads `path` through its first record (a pcapng file whose interfaces it cannot
// handle opens, then fails on the first read). Sets the link type; "" or libpcap's complaint.
std::string capture_file_problem(const std::string& path, int& link_type) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    if (p == nullptr) return err;
    link_type = pcap_datalink(p);
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    std::string problem;
    if (pcap_next_ex(p, &header, &data) == PCAP_ERROR) problem = pcap_geterr(p);
    pcap_close(p);
    return problem;
}

// The name libpcap gives a link type, with its number: "EN10MB (1)".
std::string link_type_name(int link_type) {
    const char* name = pcap_datalink_val_to_name(link_type);
    return (name != nullptr ? std::string(name) + " " : std::string()) + "(" +
           std::to_string(link_type) + ")";
}

// Whether libpcap can capture on `name`: a network interface of this process's network
// namespace (the one the daemon captures in, also under `ip netns exec`), or one of libpcap's
// own devices that are no interface, such as any, nflog or usbmon0.
bool capture_device_exists(const std::string& name) {
    if (::if_nametoindex(name.c_str()) != 0) return true;
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_if_t* devices = nullptr;
    if (pcap_findalldevs(&devices, err) != 0) return true;  // cannot tell: opening it will
    bool found = false;
    for (const pcap_if_t* d = devices; d != nullptr && !found; d = d->next) found = name == d->name;
    pcap_freealldevs(devices);
    return found;
}

// A net_pcap vdev's rx_pcap file: present and readable through its first record.
// Returns its link type, else -1.
int check_replay_file(const PortConfig& port, const std::string& key, const Config& config,
                      std::vector<ConfigError>& errors) {
    const DpdkDevice device = parse_dpdk_device(port.device);
    const auto file = device.arg("rx_pcap");
    if (device.driver != "net_pcap" || !file) return -1;
    int link_type = -1;
    if (const std::string problem = capture_file_problem(*file, link_type); !problem.empty()) {
        errors.push_back(config.error(key + ".device", "rx_pcap \"" + *file + "\": " + problem +
                                                           "; give an existing, readable pcap file"));
        return -1;
    }
    return link_type;
}

// The capture a port replays, for messages: its file, or its net_pcap rx_pcap file.
std::string capture_of(const PortConfig& port) {
    if (port.driver == DriverKind::pcap) return port.file;
    return parse_dpdk_device(port.device).arg("rx_pcap").value_or(port.device);
}


// A port: its interface exists, or its file (or net_pcap rx_pcap file) reads. Returns the
// file's link type, else -1.
int check_port(const PortConfig& port, const std::string& key, const Config& config,
               std::vector<ConfigError>& errors) {
    if (port.driver == DriverKind::dpdk) return check_replay_file(port, key, config, errors);
    if (!port.interface.empty()) {
        if (!capture_device_exists(port.interface))
            errors.push_back(config.error(key + ".interface",
                                          "no network interface " + port.interface +
                                              "; give one that `ip link` lists (in the network "
                                              "namespace taprec runs in)"));
        return -1;
    }
    if (port.file.empty()) return -1;
    int link_type = -1;
    if (const std::string problem = capture_file_problem(port.file, link_type); !problem.empty()) {
        errors.push_back(config.error(key + ".file", std::string("cannot read \"") + port.file +
                                                         "\": " + problem +
                                                         "; give the path of a pcap or pcapng file "
                                                         "libpcap can read"));
        return -1;
    }
    return link_type;
}


// The cores a thread of this process can be pinned to. Not sched_getaffinity's answer: under
// isolcpus= every process starts with the isolated cores left out of its mask, yet pinning a
// stage to one of them is what they are for, and succeeds. The kernel refuses only a core that
// is offline or outside the process's cpuset; so a helper thread asks for every core and reads
// back what it was given, and the daemon's own threads keep their masks. Empty if it cannot tell.
std::vector<int> pinnable_cores() {
    std::vector<int> cores;
    std::thread probe([&cores] {
        cpu_set_t every;
        CPU_ZERO(&every);
        for (int core = 0; core < CPU_SETSIZE; ++core) CPU_SET(core, &every);
        cpu_set_t granted;
        CPU_ZERO(&granted);
        if (pthread_setaffinity_np(pthread_self(), sizeof every, &every) != 0 ||
            pthread_getaffinity_np(pthread_self(), sizeof granted, &granted) != 0)
            return;
        for (int core = 0; core < CPU_SETSIZE; ++core)
            if (CPU_ISSET(core, &granted)) cores.push_back(core);
    });
    probe.join();
    return cores;
}

// Run as root, taprec obeys its configuration file (which names the programs it runs) and
// writes where it says: anyone who can change either could make root do their bidding. So
// neither may be writable by every user, nor owned by anyone but root or (for the output) the
// user taprec becomes. A world-writable folder with the sticky bit (/tmp) is fine as an ancestor:
// others cannot rename or remove what is in it. sticky_ok accepts one as the output root too (a
// tmpfs is mode 1777); taprec's own folders inside it are then checked strictly.
std::string ownership_problem(const std::string& path, const struct stat& st, uid_t allowed_owner,
                              bool sticky_ok = false) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    if ((st.st_mode & S_IWOTH) != 0 && !(sticky_ok && (st.st_mode & S_ISVTX) != 0))
        return path + " is writable by every user (mode " + mode + "); run chmod o-w " + path;
    if (st.st_uid != 0 && st.st_uid != allowed_owner)
        return path + " is owned by uid " + std::to_string(st.st_uid) +
               ", not root; run chown root " + path;
    return "";
}

std::string unsafe_ancestor(std::string path) {
    while (true) {
        const size_t slash = path.find_last_of('/');
        if (slash == std::string::npos) return "";
        path.resize(slash == 0 ? 1 : slash);
        struct stat st{};
        if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IWOTH) != 0 &&
            (st.st_mode & S_ISVTX) == 0)
            return path + " is writable by every user and not sticky; run chmod o-w " + path;
        if (path == "/") return "";
    }
}

void check_ownership(const Config& config, std::vector<ConfigError>& errors) {
    if (::geteuid() != 0) return;  // an ordinary user can only hurt itself
    uid_t run_as_uid = 0;
    if (!config.user.empty())
        if (const passwd* pw = ::getpwnam(config.user.c_str())) run_as_uid = pw->pw_uid;

    struct stat st{};
    if (!config.path.empty() && ::stat(config.path.c_str(), &st) == 0) {
        std::string problem = ownership_problem(config.path, st, 0);
        if (problem.empty()) problem = unsafe_ancestor(config.path);
        if (!problem.empty())
            errors.push_back({config.path, 0, "",
                              "refused while running as root: " + problem});
    }
    // The deepest existing part of the output path: taprec creates the rest itself.
    std::string existing = config.output.directory;
    while (!existing.empty() && ::stat(existing.c_str(), &st) != 0) {
        const size_t slash = existing.find_last_of('/');
        existing.resize(slash == std::string::npos ? 0 : slash);
    }
    if (existing.empty()) return;
    std::string problem;
    if (existing == config.output.directory) {
        problem = ownership_problem(existing, st, run_as_uid, true);
        // Each tap's folder, if someone made it already, must be taprec's: in a sticky folder
        // another user could have created it first.
        for (size_t t = 0; t < config.taps.size() && problem.empty(); ++t) {
            const std::string tap_dir = existing + "/" + config.taps[t].name;
            struct stat tap_st{};
            if (::lstat(tap_dir.c_str(), &tap_st) == 0)
                problem = ownership_problem(tap_dir, tap_st, run_as_uid);
        }
    } else if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
        problem = existing + " is writable by every user and not sticky; run chmod o-w " + existing;
    }
    if (problem.empty()) problem = unsafe_ancestor(existing);
    if (!problem.empty())
        errors.push_back(config.error("output.directory", "refused while running as root: " + problem));
}

}  // namespace

MachineFacts read_machine_facts() {
    namespace fs = std::filesystem;
    MachineFacts facts;
    cpu_set_t set;
    CPU_ZERO(&set);
    facts.cpus = sched_getaffinity(0, sizeof set, &set) == 0
                     ? uint32_t(CPU_COUNT(&set))
                     : std::max(1u, std::thread::hardware_concurrency());
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
        const std::string name = entry.path().filename();  // hugepages-2048kB
        const uint64_t kb = std::strtoull(name.c_str() + name.find('-') + 1, nullptr, 10);
        uint64_t free_pages = 0;
        std::ifstream(entry.path() / "free_hugepages") >> free_pages;
        facts.free_hugepage_bytes += free_pages * kb * 1024;
    }
    std::ifstream mounts("/proc/mounts");
    for (std::string line; std::getline(mounts, line);)
        facts.hugetlbfs_mounted = facts.hugetlbfs_mounted || line.find(" hugetlbfs ") != std::string::npos;
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
        uint64_t kb = 0;
        meminfo >> kb;
        if (key == "MemAvailable:") facts.available_memory_bytes = kb * 1024;
        meminfo.ignore(64, '\n');
    }
    facts.interface_types = interface_hardware_types();
    return facts;
}

std::vector<ConfigError> preflight(const Config& config, const RunPlan& plan,
                                   const MachineFacts& machine) {
    std::vector<ConfigError> errors;
    check_ownership(config, errors);
    int link_type = -1;  // the first capture file's, to compile the filter for
    for (size_t t = 0; t < config.taps.size(); ++t) {
        const TapConfig& tap = config.taps[t];
        const std::string key = "taps[" + std::to_string(t) + "]";
        const int a_link_type = check_port(tap.a, key + ".a", config, errors);
        const int b_link_type = tap.b ? check_port(*tap.b, key + ".b", config, errors) : -1;
        if (link_type < 0) link_type = a_link_type >= 0 ? a_link_type : b_link_type;
        if (a_link_type >= 0 && b_link_type >= 0 && a_link_type != b_link_type)
            errors.push_back(config.error(
                key + (tap.b->driver == DriverKind::dpdk ? ".b.device" : ".b.file"),
                "\"" + capture_of(*tap.b) + "\" has link type " + link_type_name(b_link_type) +
                    " but port a's \"" + capture_of(tap.a) + "\" has " +
                    link_type_name(a_link_type) +
                    "; both directions go into one pcap file, so give captures of one link type"));
    }
    const std::vector<int> cores = pinnable_cores();
    for (ConfigError& e : check_cores_available(config, cores)) errors.push_back(std::move(e));
    if (const std::string problem = directory_problem(config.output.directory); !problem.empty())
        errors.push_back(config.error(
            "output.directory", problem + "; choose a folder taprec can write, or fix its permissions"));
    for (ConfigError& e : plan_errors(config, plan)) errors.push_back(std::move(e));
    for (ConfigError& e : check_dpdk_machine(config, plan, machine)) errors.push_back(std::move(e));
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

std::vector<std::string> preflight_warnings(const Config& config) {
    std::vector<std::string> warnings;
    const std::vector<std::string>& hook = config.output.on_rotate;
    if (!hook.empty() && ::access(hook[0].c_str(), X_OK) != 0)
        warnings.push_back("output.on_rotate[0]: " + hook[0] + ": " + std::strerror(errno) +
                           "; every published file will log a failed hook until it is installed");
    return warnings;
}

}  // namespace taprec
