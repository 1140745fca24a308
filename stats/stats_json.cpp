#include <cstdio>
#include <string>

#include "stats/counter_table.hpp"
#include "stats/json.hpp"
#include "stats/tap_snapshot.hpp"

namespace taprec {
namespace {

void field(std::string& out, const char* name, const std::string& value) {
    if (out.back() != '{' && out.back() != '[') out += ',';
    out += '"';
    out += name;
    out += "\":";
    out += value;
}

std::string percent_text(double percent) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", percent);
    return buf;
}

// The rows of `scope` (and, for stage and tap rows, of one section) at `index`, in table order.
void counters(std::string& out, const TapSnapshot& s, CounterScope scope, std::string_view section,
              size_t index) {
    for (const CounterSpec& c : counter_table)
        if (c.scope == scope && section == c.section)
            field(out, c.name, std::to_string(counter_value(c, s, index)));
}

// The sections of a scope's rows, each once, in table order.
template <typename Each>
void for_each_section(CounterScope scope, Each each) {
    const char* previous = nullptr;
    for (const CounterSpec& c : counter_table) {
        if (c.scope != scope) continue;
        if (previous == nullptr || std::string_view(previous) != c.section) each(c.section);
        previous = c.section;
    }
}

}  // namespace

std::string stats_json_line(const TapSnapshot& s, bool final) {
    std::string out = "{\"time_ns\":" + std::to_string(s.time_ns) +
                      ",\"tap\":" + json_string(s.tap) + ",\"final\":" + (final ? "true" : "false");
    out += ",\"ports\":{";
    for (size_t p = 0; p < s.ports.size(); ++p) {
        const PortSnapshot& port = s.ports[p];
        if (!port.present) continue;
        field(out, port_name(p), "{");
        counters(out, s, CounterScope::port, "", p);
        field(out, "in_flight", std::to_string(port.in_flight()));
        field(out, "upstream_loss_percent",
              percent_text(upstream_loss_percent(port.tcp_ack_gaps, port.tcp_acks)));
        out += '}';
    }
    out += "},\"stages\":{";
    for_each_section(CounterScope::stage, [&](const char* stage) {
        field(out, stage, "{");
        counters(out, s, CounterScope::stage, stage, 0);
        out += '}';
    });
    out += '}';
    for_each_section(CounterScope::tap, [&](const char* section) {
        if (*section == '\0') return;
        field(out, section, "{");
        counters(out, s, CounterScope::tap, section, 0);
        out += '}';
    });
    for (const CounterSpec& c : counter_table)
        if (c.summed) field(out, c.name, std::to_string(counter_sum(c, s)));
    counters(out, s, CounterScope::tap, "", 0);
    field(out, "upstream_loss_percent",
          percent_text(upstream_loss_percent(counter_sum(counter_spec(CounterId::tcp_ack_gaps), s),
                                             counter_sum(counter_spec(CounterId::tcp_acks), s))));
    field(out, "workers", "[");
    for (size_t w = 0; w < s.workers.size(); ++w) {
        if (w != 0) out += ',';
        out += '{';
        counters(out, s, CounterScope::worker, "", w);
        out += '}';
    }
    out += "]}";
    return out;
}

}  // namespace taprec
