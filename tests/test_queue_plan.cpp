// The queue plan (config/queue_plan.hpp): every queue a device has is polled, queue i feeds
// worker i only where both ports steer flows alike, and an impossible request names its line.
#include <catch2/catch.hpp>

#include <sstream>

#include "config/parse.hpp"
#include "config/queue_plan.hpp"

using namespace taprec;

namespace {

Config config_of(const std::string& a, const std::string& b, const std::string& workers) {
    std::string text = "taps:\n  - name: t\n    a: {driver: dpdk, device: \"" + a + "\"}\n";
    if (!b.empty()) text += "    b: " + (b == "pcap" ? std::string("{driver: pcap, interface: lo}")
                                                     : "{driver: dpdk, device: \"" + b + "\"}") + "\n";
    if (!workers.empty()) text += "    workers: " + workers + "\n";
    ParseResult parsed = parse_config_text(text, "t.yaml");
    REQUIRE(parsed.errors.empty());
    return parsed.config;
}

TapQueuePlan plan_of(const Config& config, uint32_t cores = 2) {
    const TapConfig& tap = config.taps[0];
    std::array<std::optional<DeviceQueues>, 2> devices;
    devices[0] = device_queues_from_args(tap.a.device);
    if (tap.b && tap.b->driver == DriverKind::dpdk) devices[1] = device_queues_from_args(tap.b->device);
    return plan_tap_queues(config, 0, devices, cores);
}

}  // namespace

TEST_CASE("two net_af_packet ports with qpairs=2 and two workers: queue i feeds worker i", "[fast]") {
    const TapQueuePlan plan = plan_of(config_of("net_af_packet0,iface=x,qpairs=2",
                                                "net_af_packet1,iface=y,qpairs=2", "2"));
    REQUIRE_FALSE(plan.error);
    CHECK(plan.by_queue);
    CHECK(plan.workers == 2);
    CHECK(plan.ports[0].queues == 2);
    CHECK(plan.ports[1].queues == 2);
    CHECK(plan.ports[0].steering == QueueSteering::kernel_fanout);
    CHECK(describe_queue_mapping(plan) ==
          std::vector<std::string>{"worker 0 <- a queue 0, b queue 0", "worker 1 <- a queue 1, b queue 1"});
    // auto: as many workers as the ports have queues.
    const TapQueuePlan automatic = plan_of(config_of("net_af_packet0,iface=x,qpairs=2",
                                                     "net_af_packet1,iface=y,qpairs=2", ""), 8);
    CHECK(automatic.by_queue);
    CHECK(automatic.workers == 2);
}

TEST_CASE("every queue of a net_af_packet port is polled, whatever the workers", "[fast]") {
    // One worker: both sockets polled, everything to worker 0 (the bug of issue 18 polled one).
    TapQueuePlan plan = plan_of(config_of("net_af_packet0,iface=x,qpairs=2",
                                          "net_af_packet1,iface=y,qpairs=2", "1"));
    REQUIRE_FALSE(plan.error);
    CHECK(plan.ports[0].queues == 2);
    CHECK(plan.ports[1].queues == 2);
    CHECK_FALSE(plan.by_queue);
    CHECK(describe_queue_mapping(plan) == std::vector<std::string>{"worker 0 <- a queues 0-1, b queues 0-1"});
    // Fewer workers than queues: all four polled, the software hash spreads them.
    plan = plan_of(config_of("net_af_packet0,iface=x,qpairs=4", "net_af_packet1,iface=y,qpairs=4", "2"));
    REQUIRE_FALSE(plan.error);
    CHECK(plan.ports[0].queues == 4);
    CHECK_FALSE(plan.by_queue);
    CHECK(describe_queue_mapping(plan) ==
          std::vector<std::string>{"workers 0-1 <- software flow hash of a queues 0-3, b queues 0-3"});
    // Ports that steer differently (qpairs 2 and 1, or a pcap peer): the software hash.
    plan = plan_of(config_of("net_af_packet0,iface=x,qpairs=2", "net_af_packet1,iface=y", "2"));
    CHECK(plan.ports[0].queues == 2);
    CHECK(plan.ports[1].queues == 1);
    CHECK_FALSE(plan.by_queue);
    plan = plan_of(config_of("net_af_packet0,iface=x,qpairs=2", "pcap", "2"));
    CHECK(plan.ports[0].queues == 2);
    CHECK_FALSE(plan.by_queue);
    CHECK(plan.workers == 2);
}

TEST_CASE("more workers than a steered port has queues is an error naming the line", "[fast]") {
    const TapQueuePlan plan = plan_of(config_of("net_af_packet0,iface=x,qpairs=2",
                                                "net_af_packet1,iface=y,qpairs=2", "3"));
    REQUIRE(plan.error);
    CHECK(plan.error->to_string() ==
          "t.yaml:5: taps[0].workers: 3 workers but the ports have 2 RX queues each (the kernel's "
          "symmetric fanout hash), so a worker would get no queue; set workers to 2 or qpairs=3 on "
          "every net_af_packet port");
    Config config = config_of("net_af_packet0,iface=x,qpairs=2", "net_af_packet1,iface=y,qpairs=2", "3");
    CHECK(check_queue_plans(config).size() == 1);
    // More queues than taprec polls: refused, never polled in part.
    config = config_of("net_af_packet0,iface=x,qpairs=65", "net_af_packet1,iface=y,qpairs=65", "");
    const std::vector<ConfigError> too_many = check_queue_plans(config);
    REQUIRE(too_many.size() == 1);
    CHECK(too_many[0].to_string() == "t.yaml:3: taps[0].a.device: net_af_packet has 65 queues but "
                                     "taprec polls at most 64 per port; set qpairs to 64 or fewer");

    // A NIC with RSS that offers 4 queues.
    DeviceQueues nic;
    nic.driver = "net_ice";
    nic.max_rx_queues = 4;
    nic.rss = true;
    config = config_of("0000:3b:00.0", "0000:3b:00.1", "8");
    TapQueuePlan on_nic = plan_tap_queues(config, 0, {nic, nic}, 2);
    REQUIRE(on_nic.error);
    CHECK(on_nic.error->to_string() == "t.yaml:5: taps[0].workers: 8 queues requested but port a "
                                       "(net_ice) offers 4; set workers to 4 or fewer");
    config = config_of("0000:3b:00.0", "0000:3b:00.1", "");
    on_nic = plan_tap_queues(config, 0, {nic, nic}, 2);
    CHECK(on_nic.by_queue);
    CHECK(on_nic.workers == 2);
    CHECK(on_nic.ports[1].steering == QueueSteering::nic_rss);
}

TEST_CASE("net_memif: one queue per worker as the client, one queue as the server", "[fast]") {
    TapQueuePlan plan = plan_of(config_of("net_memif0,role=client,socket=/tmp/a.sock",
                                          "net_memif1,role=client,socket=/tmp/b.sock", "2"));
    REQUIRE_FALSE(plan.error);
    CHECK(plan.by_queue);
    CHECK(plan.ports[0].queues == 2);
    CHECK(plan.ports[0].steering == QueueSteering::peer);
    // As the server, a client with fewer rings would leave a queue that reads ring 0's memory.
    plan = plan_of(config_of("net_memif0,socket=/tmp/a.sock", "net_memif1,socket=/tmp/b.sock", "2"));
    CHECK(plan.ports[0].queues == 1);
    CHECK_FALSE(plan.by_queue);
    // Without workers: one queue.
    plan = plan_of(config_of("net_memif0,role=client,socket=/tmp/a.sock",
                             "net_memif1,role=client,socket=/tmp/b.sock", ""));
    CHECK(plan.ports[0].queues == 1);
}

TEST_CASE("--check prints the queues each port offers and the mapping", "[fast]") {
    std::ostringstream out;
    print_queue_plans(config_of("net_af_packet0,iface=x,qpairs=2", "net_af_packet1,iface=y,qpairs=2", "2"), out);
    CHECK(out.str() ==
          "queues of tap t\n"
          "  port a          offers net_af_packet: 2 queues, fixed when the device is created, all "
          "polled; polled: 2, steered by the kernel's symmetric fanout hash\n"
          "  port b          offers net_af_packet: 2 queues, fixed when the device is created, all "
          "polled; polled: 2, steered by the kernel's symmetric fanout hash\n"
          "  worker 0 <- a queue 0, b queue 0\n"
          "  worker 1 <- a queue 1, b queue 1\n");
}
