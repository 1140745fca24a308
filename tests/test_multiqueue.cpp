// Multi-queue end to end on net_memif (issue 18): bench/taprec_gen sends the two directions of
// a TAP as memif server on two links with two queue pairs each, putting every flow on the queue
// a NIC with a symmetric RSS key would; taprec, the memif client with two workers, must poll both
// queues of both ports, feed worker i from queue i, and write every frame sent, each connection
// on one worker in both directions.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "bench/bench_frame.hpp"
#include "daemon_run.hpp"
#include "flow_affinity.hpp"

using namespace test_support;
using namespace std::chrono_literals;

namespace {

}  // namespace

TEST_CASE("net_memif with two queues per port fed by taprec_gen: queue i feeds worker i, one "
          "worker per connection, every frame written", "[dpdk]") {
    TempDir dir;
    const std::string records = dir.path() + "/flows";
    std::filesystem::create_directories(records);
    const std::string prefix = "taprec-test-mqm-" + std::to_string(getpid());
    const std::string config = dir.path() + "/taprec.yaml";
    write_file(config,
               multiqueue_config(dir.path(), prefix, "mq",
                   "    a: {driver: dpdk, device: \"net_memif0,role=client,socket=" + dir.path() + "/a.sock\"}\n"
                   "    b: {driver: dpdk, device: \"net_memif1,role=client,socket=" + dir.path() + "/b.sock\"}\n"
                   "    workers: 2\n"));
    // The generator is the memif server (it must exist before the client connects); taprec
    // starts while it waits for its peer.
    const std::string gen_prefix = "taprec-test-mqg-" + std::to_string(getpid());
    const std::string gen_output = dir.path() + "/gen.json";
    const std::string gen = "timeout 60 " + env("TAPREC_GEN") + " -l 0 --no-huge -m 256 --no-pci "
                            "--file-prefix " + gen_prefix + " --log-level=error"
                            " --vdev net_memif0,role=server,socket=" + dir.path() + "/a.sock"
                            " --vdev net_memif1,role=server,socket=" + dir.path() + "/b.sock"
                            " -- --rate 20000 --seconds 1 --flows 64 --queues 2 --delay 1 --linger 1"
                            " > " + gen_output + " 2>&1";
    std::thread generator;
    int gen_status = -1;
    generator = std::thread([&] { gen_status = std::system(gen.c_str()); });
    std::this_thread::sleep_for(500ms);  // the server's sockets exist before taprec connects

    setenv("TAPREC_FLOW_RECORD", records.c_str(), 1);
    const std::string tap_dir = dir.path() + "/out/mq";
    uint64_t sent_a = 0, sent_b = 0;
    bool all_received = false;
    const RunResult run = run_taprec({"--config", config}, [&](pid_t pid) {
        generator.join();
        std::smatch m;
        const std::string report = read_file(gen_output);
        if (std::regex_search(report, m, std::regex("\"a\":\\{\"sent\":(\\d+).*\"b\":\\{\"sent\":(\\d+)"))) {
            sent_a = std::stoull(m[1]);
            sent_b = std::stoull(m[2]);
            for (int i = 0; i < 200 && !all_received; ++i) {
                all_received = received_so_far(tap_dir) >= sent_a + sent_b;
                std::this_thread::sleep_for(50ms);
            }
        }
        kill(pid, SIGTERM);
    }, 90);
    unsetenv("TAPREC_FLOW_RECORD");
    std::filesystem::remove_all("/var/run/dpdk/" + prefix);
    std::filesystem::remove_all("/var/run/dpdk/" + gen_prefix);
    INFO(run.output);
    INFO(read_file(gen_output));
    REQUIRE(gen_status == 0);
    REQUIRE(sent_a > 0);
    REQUIRE(sent_b > 0);
    REQUIRE(run.exit_code == 0);
    CHECK(all_received);
    CHECK_THAT(run.output, Catch::Contains("2 queues, one per worker by the memif peer's choice"));
    CHECK_THAT(run.output, Catch::Contains("worker 0 <- a queue 0, b queue 0") &&
                               Catch::Contains("worker 1 <- a queue 1, b queue 1"));

    const Json stats = final_stats(tap_dir);
    CHECK(stats.u64("ports.a.received") == sent_a);
    CHECK(stats.u64("ports.b.received") == sent_b);
    for (const char* port : {"a", "b"}) {
        INFO("port " << port);
        CHECK(invariant_holds(stats, port));
        CHECK(stats.u64(std::string("ports.") + port + ".written") ==
              stats.u64(std::string("ports.") + port + ".received"));
    }

    // Output = input: each direction's sequence numbers 0..sent-1 once each, and within each
    // connection and direction in the order sent.
    std::array<std::set<uint64_t>, 2> seen;
    std::map<std::pair<int, uint16_t>, uint64_t> last;
    size_t foreign = 0, corrupt = 0, duplicates = 0, out_of_order = 0;
    for (const Packet& p : published_packets(tap_dir)) {
        bench::Tag tag{};
        bool bad = false;
        if (!bench::read_frame(p.bytes.data(), p.caplen, p.wire_len, tag, bad) || tag.direction > 1) {
            ++foreign;
            continue;
        }
        corrupt += bad;
        duplicates += !seen[tag.direction].insert(tag.sequence).second;
        const auto key = std::make_pair(int(tag.direction), tag.flow);
        if (const auto it = last.find(key); it != last.end() && it->second > tag.sequence) ++out_of_order;
        last[key] = tag.sequence;
    }
    CHECK(foreign == 0);
    CHECK(corrupt == 0);
    CHECK(duplicates == 0);
    CHECK(out_of_order == 0);
    CHECK(seen[0].size() == sent_a);
    CHECK(seen[1].size() == sent_b);
    CHECK((seen[0].empty() || *seen[0].rbegin() == sent_a - 1));
    CHECK((seen[1].empty() || *seen[1].rbegin() == sent_b - 1));

    const FlowRecords flows = read_flow_records(records, "mq");
    CHECK(flows.packets == sent_a + sent_b);
    CHECK(flows.lines_queue_not_worker == 0);
    CHECK(split_connections(flows) == 0);
    CHECK(flows.workers.size() == 64);
    const std::vector<size_t> shares = connections_per_worker(flows, 2);
    INFO("connections on worker 0: " << shares[0] << ", on worker 1: " << shares[1]);
    CHECK(shares[0] > 0);
    CHECK(shares[1] > 0);
}
