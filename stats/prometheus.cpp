#include "stats/prometheus.hpp"

#include <cinttypes>
#include <cstdio>

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
                           number(value_of(s.ports[p])));
    }

    // One sample per listed stage of every tap, labelled tap and stage.
    template <typename Value>
    void per_stage(const Family& f, std::initializer_list<std::pair<const char*, Value>> stages) {
        header(f);
        for (const TapSnapshot& s : taps_)
            for (const auto& [stage, value_of] : stages)
                sample(f.name, tap_label(s) + ",stage=\"" + stage + "\"", number(value_of(s)));
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

using PortValue = uint64_t (*)(const PortSnapshot&);
using TapValue = uint64_t (*)(const TapSnapshot&);

}  // namespace

std::string prometheus_text(std::span<const TapSnapshot> taps, bool final) {
    Exposition e(taps);

    // stats.jsonl "ports": {"a": {...}, "b": {...}}, field by field in the line's order.
    const std::pair<Family, PortValue> port_counters[] = {
        {{"taprec_port_received_packets_total", "counter",
          "Packets the rx thread took from the port."},
         [](const PortSnapshot& p) { return p.received; }},
        {{"taprec_port_received_bytes_total", "counter", "Wire bytes of the received packets."},
         [](const PortSnapshot& p) { return p.bytes; }},
        {{"taprec_port_nic_missed_packets_total", "counter",
          "Packets the NIC could not hand to software (its rx queue was full)."},
         [](const PortSnapshot& p) { return p.nic_missed; }},
        {{"taprec_port_nic_errors_packets_total", "counter",
          "Packets the NIC received with errors."},
         [](const PortSnapshot& p) { return p.nic_errors; }},
        {{"taprec_port_nic_nombuf_packets_total", "counter",
          "Packets the NIC dropped for want of a buffer."},
         [](const PortSnapshot& p) { return p.nic_nombuf; }},
        {{"taprec_port_dropped_ring_packets_total", "counter",
          "Packets dropped because a ring towards a worker or the writer was full."},
         [](const PortSnapshot& p) { return p.dropped_ring; }},
        {{"taprec_port_dropped_writer_packets_total", "counter",
          "Packets the writer could not write (write error, full disk)."},
         [](const PortSnapshot& p) { return p.dropped_writer; }},
        {{"taprec_port_filtered_packets_total", "counter", "Packets rejected by output.filter."},
         [](const PortSnapshot& p) { return p.filtered; }},
        {{"taprec_port_late_packets_total", "counter",
          "Packets written after a newer one (out of timestamp order in the files)."},
         [](const PortSnapshot& p) { return p.late; }},
        {{"taprec_port_truncated_packets_total", "counter", "Packets cut to output.snaplen."},
         [](const PortSnapshot& p) { return p.truncated; }},
        {{"taprec_port_clamped_packets_total", "counter",
          "Packets whose timestamp was too far ahead of the clock and was rewritten."},
         [](const PortSnapshot& p) { return p.clamped; }},
        {{"taprec_port_written_packets_total", "counter", "Packets written to files."},
         [](const PortSnapshot& p) { return p.written; }},
        {{"taprec_port_written_bytes_total", "counter",
          "Record bytes (captured length) written to files."},
         [](const PortSnapshot& p) { return p.written_bytes; }},
    };
    for (const auto& [family, value_of] : port_counters) e.per_port(family, value_of);
    // A gauge: it goes back to 0 as the pipeline drains.
    e.per_port(Family{"taprec_port_in_flight_packets", "gauge",
                      "Packets received but not yet written, filtered or dropped; 0 after a clean "
                      "stop."},
               [](const PortSnapshot& p) { return p.in_flight(); });
    const std::pair<Family, PortValue> port_quality[] = {
        {{"taprec_port_tcp_acks_total", "counter",
          "TCP acknowledgements seen in this direction (capture-quality estimate)."},
         [](const PortSnapshot& p) { return p.tcp_acks; }},
        {{"taprec_port_tcp_ack_gaps_total", "counter",
          "Acknowledgements for data this direction never carried: lost before the sensor."},
         [](const PortSnapshot& p) { return p.tcp_ack_gaps; }},
        {{"taprec_port_tcp_gap_bytes_total", "counter",
          "Bytes acknowledged but never seen in this direction."},
         [](const PortSnapshot& p) { return p.tcp_gap_bytes; }},
    };
    for (const auto& [family, value_of] : port_quality) e.per_port(family, value_of);
    e.per_port(Family{"taprec_port_upstream_loss_percent", "gauge",
                      "100 * tcp_ack_gaps / tcp_acks: the estimated loss upstream of the sensor."},
               [](const PortSnapshot& p) { return upstream_loss_percent(p.tcp_ack_gaps, p.tcp_acks); });

    // stats.jsonl "stages": rx, worker and writer, summed over ports.
    e.per_stage<TapValue>({"taprec_stage_dropped_ring_packets_total", "counter",
                           "Packets a stage dropped because the ring it feeds was full."},
                          {{"rx", [](const TapSnapshot& s) { return s.stages.rx_dropped_ring; }},
                           {"worker", [](const TapSnapshot& s) { return s.stages.worker_dropped_ring; }}});
    e.per_stage<TapValue>({"taprec_stage_dropped_writer_packets_total", "counter",
                           "Packets the writer could not write."},
                          {{"writer", [](const TapSnapshot& s) { return s.stages.writer_dropped_writer; }}});
    e.per_stage<TapValue>({"taprec_stage_filtered_packets_total", "counter",
                           "Packets rejected by output.filter."},
                          {{"worker", [](const TapSnapshot& s) { return s.stages.worker_filtered; }}});
    e.per_stage<TapValue>({"taprec_stage_truncated_packets_total", "counter",
                           "Packets cut to output.snaplen."},
                          {{"worker", [](const TapSnapshot& s) { return s.stages.worker_truncated; }}});
    e.per_stage<TapValue>({"taprec_stage_late_packets_total", "counter",
                           "Packets a stage's merge emitted after a newer one."},
                          {{"worker", [](const TapSnapshot& s) { return s.stages.worker_late; }},
                           {"writer", [](const TapSnapshot& s) { return s.stages.writer_late; }}});
    e.per_stage<TapValue>({"taprec_stage_write_errors_total", "counter",
                           "Failed writes; each may cost the packets of a whole block."},
                          {{"writer", [](const TapSnapshot& s) { return s.write_errors; }}});
    e.per_stage<TapValue>({"taprec_stage_clamped_packets_total", "counter",
                           "Timestamps too far ahead of the clock, set back to it."},
                          {{"rx", [](const TapSnapshot& s) { return s.stages.rx_clamped; }},
                           {"writer", [](const TapSnapshot& s) { return s.stages.writer_clamped; }}});
    e.per_stage<TapValue>({"taprec_stage_sync_errors_total", "counter",
                           "Files whose data could not be flushed to disk before publishing."},
                          {{"writer", [](const TapSnapshot& s) { return s.file_keeping.sync_errors; }}});

    // stats.jsonl "stages": hooks (output.on_rotate) and retention.
    const std::pair<Family, TapValue> file_keeping[] = {
        {{"taprec_hooks_started_total", "counter", "on_rotate commands started."},
         [](const TapSnapshot& s) { return s.file_keeping.hooks_started; }},
        {{"taprec_hooks_failed_total", "counter", "on_rotate commands that failed."},
         [](const TapSnapshot& s) { return s.file_keeping.hooks_failed; }},
        {{"taprec_hooks_timed_out_total", "counter", "on_rotate commands killed for taking too long."},
         [](const TapSnapshot& s) { return s.file_keeping.hooks_timed_out; }},
        {{"taprec_hooks_overflow_total", "counter",
          "Published files whose on_rotate command never ran: its queue was full."},
         [](const TapSnapshot& s) { return s.file_keeping.hooks_overflow; }},
        {{"taprec_retention_deleted_files_total", "counter",
          "Published files deleted by output.retention."},
         [](const TapSnapshot& s) { return s.file_keeping.retention_deleted_files; }},
        {{"taprec_retention_deleted_bytes_total", "counter",
          "Bytes of the files deleted by output.retention."},
         [](const TapSnapshot& s) { return s.file_keeping.retention_deleted_bytes; }},
    };
    for (const auto& [family, value_of] : file_keeping) e.per_tap(family, value_of);

    // stats.jsonl top level: the tap as a whole.
    const std::pair<Family, TapValue> tap_counters[] = {
        {{"taprec_written_packets_total", "counter", "Packets written to files (all ports)."},
         [](const TapSnapshot& s) { return s.written(); }},
        {{"taprec_written_bytes_total", "counter", "Record bytes written to files (all ports)."},
         [](const TapSnapshot& s) { return s.written_bytes(); }},
        {{"taprec_files_published_total", "counter",
          "Files published (complete and renamed into place)."},
         [](const TapSnapshot& s) { return s.files; }},
        {{"taprec_tcp_acks_total", "counter", "TCP acknowledgements seen (all ports)."},
         [](const TapSnapshot& s) { return s.tcp_acks(); }},
        {{"taprec_tcp_ack_gaps_total", "counter",
          "Acknowledgements for data never seen (all ports)."},
         [](const TapSnapshot& s) { return s.tcp_ack_gaps(); }},
        {{"taprec_tcp_gap_bytes_total", "counter", "Bytes acknowledged but never seen (all ports)."},
         [](const TapSnapshot& s) { return s.tcp_gap_bytes(); }},
        {{"taprec_tcp_evictions_total", "counter",
          "TCP flows the loss estimator forgot to make room for new ones."},
         [](const TapSnapshot& s) { return s.tcp_evictions; }},
    };
    for (const auto& [family, value_of] : tap_counters) e.per_tap(family, value_of);
    e.per_tap(Family{"taprec_upstream_loss_percent", "gauge",
                     "100 * tcp_ack_gaps / tcp_acks over all ports."},
              [](const TapSnapshot& s) { return upstream_loss_percent(s.tcp_ack_gaps(), s.tcp_acks()); });
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
    return e.take();
}

}  // namespace taprec
