// FlowRecord: a debugging record of which worker (and RX queue) each connection's packets went
// to, kept by an rx thread when TAPREC_FLOW_RECORD=DIR is set and written to DIR/TAP-PORT.flows
// when the thread stops. A test reads the records of both ports of a tap and checks that every
// connection, both directions, reached exactly one worker (flow affinity, DESIGN.md).
//
// Off by default and then costs one pointer test per burst. On, it allocates (a hash map per rx
// thread): never for production.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "pipeline/packet_ref.hpp"

namespace taprec {

class FlowRecord {
public:
    FlowRecord(std::string path, int link_type);
    // `burst` went from RX queue `queue` to worker `worker`.
    void add(std::span<const PacketRef> burst, uint16_t queue, uint32_t worker);
    // One line per connection: "KEY workers=MASK queues=MASK packets=N" (masks in hex, bit i =
    // worker or queue i; KEY names the connection the same way in both directions).
    void write() const;

private:
    struct Seen {
        uint64_t workers = 0;
        uint64_t queues = 0;
        uint64_t packets = 0;
    };
    std::string path_;
    int link_type_;
    std::unordered_map<std::string, Seen> flows_;
};

// The connection a frame belongs to, the same in both directions: the ordered endpoints and the
// protocol ("6 10.0.0.1:1024 10.1.0.1:80"), the MAC pair for a frame that is not IP.
std::string connection_key(std::span<const std::byte> frame, int link_type);

}  // namespace taprec
