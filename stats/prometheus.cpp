#include "stats/prometheus.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "stats/counter_table.hpp"
#include "stats/json.hpp"

namespace taprec {
namespace {

// Label values may hold any text; these three characters must be escaped.
std::string label_value(std::string_view value) {
    std::string out;
    for (const char c : value) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
    return out;
}

// Port a carries the link's A->B direction, port b its B->A direction (DESIGN.md).
const char* direction_of(size_t port) { return port == 0 ? "a_to_b" : "b_to_a"; }

std::string number(uint64_t value) { return std::to_string(value); }
std::string number(int64_t value) { return std::to_string(value); }
std::string number(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    return buf;
}
std::string number(std::string text) { return text; }

struct Family {
    const char* name;
    const char* type;  // counter | gauge
    const char* help;
};

class Exposition {
public:
    explicit Exposition(std::span<const TapSnapshot> taps) : taps_(taps) { out_.reserve(16384); }

    // One sample per present port of every tap, labelled tap, port and direction.
    template <typename Value>
    void per_port(const Family& f, Value value_of) {
        header(f);
        for (const TapSnapshot& s : taps_)
            for (size_t p = 0; p < s.ports.size(); ++p)
                if (s.ports[p].present)
                    sample(f.name, tap_label(s) + ",port=\"" + port_name(p) + "\",direction=\"" +
                                       direction_of(p) + "\"",
                           number(value_of(s, p)));
    }

    // A family of per-stage samples: its header, then per_stage() for each stage.
    void stage_family(const Family& f) { header(f); }
    // One sample per tap for one stage, labelled tap and stage.
    template <typename Value>
    void per_stage(const char* name, const char* stage, Value value_of) {
        for (const TapSnapshot& s : taps_)
            sample(name, tap_label(s) + ",stage=\"" + stage + "\"", number(value_of(s)));
    }

    // One sample per worker of every tap, labelled tap and worker (no family without a worker:
    // a snapshot made by hand has none).
    template <typename Value>
    void per_worker(const Family& f, Value value_of) {
        if (std::none_of(taps_.begin(), taps_.end(),
                         [](const TapSnapshot& s) { return !s.workers.empty(); }))
            return;
        header(f);
        for (const TapSnapshot& s : taps_)
            for (size_t w = 0; w < s.workers.size(); ++w)
                sample(f.name, tap_label(s) + ",worker=\"" + std::to_string(w) + "\"",
                       number(value_of(s, w)));
    }

    // One sample per tap, labelled tap.
    template <typename Value>
    void per_tap(const Family& f, Value value_of) {
        header(f);
        for (const TapSnapshot& s : taps_) sample(f.name, tap_label(s), number(value_of(s)));
    }

    std::string take() { return std::move(out_); }

private:
    static std::string tap_label(const TapSnapshot& s) {
        return "tap=\"" + label_value(s.tap) + "\"";
    }

    void header(const Family& f) {
        out_ += "# HELP ";
        out_ += f.name;
        out_ += ' ';
        out_ += f.help;
        out_ += "\n# TYPE ";
        out_ += f.name;
        out_ += ' ';
        out_ += f.type;
        out_ += '\n';
    }

    void sample(const char* name, const std::string& labels, const std::string& value) {
        out_ += name;
        out_ += '{';
        out_ += labels;
        out_ += "} ";
        out_ += value;
        out_ += '\n';
    }

    std::span<const TapSnapshot> taps_;
    std::string out_;
};

Family family_of(const CounterSpec& c) { return {c.metric, "counter", c.help}; }

}  // namespace

std::string prometheus_text(std::span<const TapSnapshot> taps, bool final) {
    Exposition e(taps);

    // stats.jsonl "ports": {"a": {...}, "b": {...}}, one family per row of the counter table.
    // Prometheus wants base units: a nanosecond counter is exposed in seconds.
    for (const CounterSpec& c : counter_table)
        if (c.scope == CounterScope::port && c.unit == CounterUnit::nanoseconds)
            e.per_port(family_of(c), [&c](const TapSnapshot& s, size_t p) {
                return double(counter_value(c, s, p)) / 1e9;
            });
        else if (c.scope == CounterScope::port)
            e.per_port(family_of(c),
                       [&c](const TapSnapshot& s, size_t p) { return counter_value(c, s, p); });
    // Gauges: they go back to 0 as the pipeline drains, or move both ways.
    e.per_port(Family{"taprec_port_in_flight_packets", "gauge",
                      "Packets received but not yet written, filtered or dropped; 0 after a clean "
                      "stop."},
               [](const TapSnapshot& s, size_t p) { return s.ports[p].in_flight(); });
    e.per_port(Family{"taprec_port_upstream_loss_percent", "gauge",
                      "100 * tcp_ack_gaps / tcp_acks: the estimated loss upstream of the sensor."},
               [](const TapSnapshot& s, size_t p) {
                   return upstream_loss_percent(s.ports[p].tcp_ack_gaps, s.ports[p].tcp_acks);
               });

    // stats.jsonl "stages": one family per name, one sample per stage that counts it (the
    // family's samples must stay together, so each family gathers its rows from the whole table).
    for (const CounterSpec& first : counter_table) {
        if (first.scope != CounterScope::stage || first.help == nullptr) continue;
        e.stage_family(family_of(first));
        for (const CounterSpec& c : counter_table)
            if (c.scope == CounterScope::stage && std::string_view(c.metric) == first.metric)
                e.per_stage(c.metric, c.section,
                            [&c](const TapSnapshot& s) { return counter_value(c, s, 0); });
    }

    // stats.jsonl top level and its "hooks" and "retention": the tap as a whole.
    for (const CounterSpec& c : counter_table)
        if (c.scope == CounterScope::tap)
            e.per_tap(family_of(c), [&c](const TapSnapshot& s) { return counter_value(c, s, 0); });
    std::vector<std::string> summed_names;  // the Family keeps a pointer to its name
    for (const CounterSpec& c : counter_table)
        if (c.summed) summed_names.push_back(summed_metric(c));
    size_t next = 0;
    for (const CounterSpec& c : counter_table) {
        if (!c.summed) continue;
        const std::string help = std::string(c.help) + " All ports together.";
        e.per_tap(Family{summed_names[next++].c_str(), "counter", help.c_str()},
                  [&c](const TapSnapshot& s) { return counter_sum(c, s); });
    }
    e.per_tap(Family{"taprec_upstream_loss_percent", "gauge",
                     "100 * tcp_ack_gaps / tcp_acks over all ports."},
              [](const TapSnapshot& s) {
                  const uint64_t gaps = counter_sum(counter_spec(CounterId::tcp_ack_gaps), s);
                  return upstream_loss_percent(gaps, counter_sum(counter_spec(CounterId::tcp_acks), s));
              });
    e.per_tap(Family{"taprec_stats_time_seconds", "gauge",
                     "Wall-clock time the counters were read (stats.jsonl time_ns)."},
              [](const TapSnapshot& s) {
                  char seconds[32];  // milliseconds kept: %g would round to 6 digits
                  std::snprintf(seconds, sizeof seconds, "%" PRIu64 ".%03" PRIu64,
                                s.time_ns / 1'000'000'000u, s.time_ns / 1'000'000u % 1000u);
                  return std::string(seconds);
              });
    e.per_tap(Family{"taprec_capturing", "gauge",
                     "1 while the daemon captures; 0 in the file written at exit (stats.jsonl "
                     "final)."},
              [final](const TapSnapshot&) { return uint64_t(final ? 0 : 1); });

    // stats.jsonl "workers": each worker's share.
    for (const CounterSpec& c : counter_table)
        if (c.scope == CounterScope::worker)
            e.per_worker(family_of(c),
                         [&c](const TapSnapshot& s, size_t w) { return counter_value(c, s, w); });
    return e.take();
}

}  // namespace taprec
