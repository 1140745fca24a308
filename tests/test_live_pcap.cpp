// The libpcap driver on a live interface: a veth pair inside a network namespace made for the
// test; frames sent on one end are recorded from the other, byte for byte.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "daemon_run.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

int sh(const std::string& command) { return std::system(command.c_str()); }

// A namespace with a veth pair, both ends up, IPv6 off so the kernel sends nothing of its own.
class VethNamespace {
public:
    VethNamespace() : name_("taprec-test-" + std::to_string(getpid())) {
        ok_ = sh("ip netns add " + name_ + " 2>/dev/null") == 0 &&
              sh(exec() + "sysctl -qw net.ipv6.conf.all.disable_ipv6=1") == 0 &&
              sh(exec() + "sysctl -qw net.ipv6.conf.default.disable_ipv6=1") == 0 &&
              sh(exec() + "ip link add cap0 type veth peer name send0") == 0 &&
              sh(exec() + "ip link set cap0 up") == 0 && sh(exec() + "ip link set send0 up") == 0;
    }
    ~VethNamespace() { sh("ip netns del " + name_ + " 2>/dev/null"); }
    bool ok() const { return ok_; }
    std::string exec() const { return "ip netns exec " + name_ + " "; }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    bool ok_ = false;
};

std::string pcap_send_binary() {
    const char* bin = std::getenv("TAPREC_PCAP_SEND");
    return bin == nullptr ? "" : bin;
}

}  // namespace

TEST_CASE("live libpcap capture on a veth records every frame sent, byte for byte", "[.root][netns]") {
    REQUIRE(geteuid() == 0);  // run by meson through tests/support/precondition root
    VethNamespace ns;
    REQUIRE(ns.ok());
    TempDir dir;
    const std::string config = dir.path() + "/c.yaml";
    write_file(config,
               "taps:\n"
               "  - name: live\n"
               "    a: {driver: pcap, interface: cap0}\n"
               "threads: {idle: sleep}\n"
               "output:\n"
               "  directory: " + dir.path() + "/out\n"
               "stats: {interval: 1s}\n");
    const std::string capture = test_data("ftp-ipv4.pcap");
    std::string send_output;
    // The daemon runs inside the namespace: `ip netns exec NS taprec ...`.
    const std::string wrapper = dir.path() + "/run-in-ns.sh";
    write_file(wrapper, "#!/bin/sh\nexec " + ns.exec() + taprec_binary() + " \"$@\"\n");
    sh("chmod +x " + wrapper);
    setenv("TAPREC_BIN_SAVED", taprec_binary().c_str(), 1);
    setenv("TAPREC_BIN", wrapper.c_str(), 1);
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        std::this_thread::sleep_for(1500ms);  // the daemon opens the interface
        sh(ns.exec() + pcap_send_binary() + " send0 " + capture + " > " + dir.path() + "/sent.txt");
        std::this_thread::sleep_for(1000ms);
        kill(pid, SIGTERM);
    });
    setenv("TAPREC_BIN", getenv("TAPREC_BIN_SAVED"), 1);
    INFO(run.output);
    INFO(read_file(dir.path() + "/sent.txt"));
    REQUIRE(run.exit_code == 0);

    const Capture input = read_capture(capture);
    const std::vector<Packet> output = published_packets(dir.path() + "/out/live");
    REQUIRE(output.size() == input.packets.size());
    size_t differing = 0;
    for (size_t i = 0; i < output.size(); ++i)
        if (output[i].bytes != input.packets[i].bytes) ++differing;
    CHECK(differing == 0);
    const Json stats = final_stats(dir.path() + "/out/live");
    CHECK(stats.u64("ports.a.received") == input.packets.size());
    CHECK(stats.u64("ports.a.nic_missed") == 0);
    CHECK(invariant_holds(stats, "a"));
}
