#include <cstdio>
#include <string>

#include "stats/json.hpp"
#include "stats/tap_snapshot.hpp"

namespace taprec {
namespace {

void field(std::string& out, const char* name, uint64_t value, bool first = false) {
    if (!first) out += ',';
    out += '"';
    out += name;
    out += "\":";
    out += std::to_string(value);
}

std::string percent_text(double percent) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", percent);
    return buf;
}

}  // namespace

std::string stats_json_line(const TapSnapshot& s, bool final) {
    std::string out = "{\"time_ns\":" + std::to_string(s.time_ns) +
                      ",\"tap\":" + json_string(s.tap) + ",\"final\":" + (final ? "true" : "false");
    out += ",\"ports\":{";
    bool first_port = true;
    for (size_t p = 0; p < s.ports.size(); ++p) {
        const PortSnapshot& port = s.ports[p];
        if (!port.present) continue;
        if (!first_port) out += ',';
        first_port = false;
        out += '"';
        out += port_name(p);
        out += "\":{";
        field(out, "received", port.received, true);
        field(out, "bytes", port.bytes);
        field(out, "nic_missed", port.nic_missed);
        field(out, "nic_errors", port.nic_errors);
        field(out, "nic_nombuf", port.nic_nombuf);
        field(out, "dropped_ring", port.dropped_ring);
        field(out, "dropped_writer", port.dropped_writer);
        field(out, "filtered", port.filtered);
        field(out, "late", port.late);
        field(out, "truncated", port.truncated);
        field(out, "clamped", port.clamped);
        field(out, "written", port.written);
        field(out, "written_bytes", port.written_bytes);
        out += ",\"in_flight\":" + std::to_string(port.in_flight());
        field(out, "tcp_acks", port.tcp_acks);
        field(out, "tcp_ack_gaps", port.tcp_ack_gaps);
        field(out, "tcp_gap_bytes", port.tcp_gap_bytes);
        out += ",\"upstream_loss_percent\":" +
               percent_text(upstream_loss_percent(port.tcp_ack_gaps, port.tcp_acks));
        out += '}';
    }
    out += "},\"stages\":{\"rx\":{";
    field(out, "dropped_ring", s.stages.rx_dropped_ring, true);
    field(out, "clamped", s.stages.rx_clamped);
    out += "},\"worker\":{";
    field(out, "dropped_ring", s.stages.worker_dropped_ring, true);
    field(out, "filtered", s.stages.worker_filtered);
    field(out, "truncated", s.stages.worker_truncated);
    field(out, "late", s.stages.worker_late);
    out += "},\"writer\":{";
    field(out, "dropped_writer", s.stages.writer_dropped_writer, true);
    field(out, "late", s.stages.writer_late);
    field(out, "write_errors", s.write_errors);
    field(out, "clamped", s.stages.writer_clamped);
    field(out, "sync_errors", s.file_keeping.sync_errors);
    out += "}},\"hooks\":{";
    field(out, "started", s.file_keeping.hooks_started, true);
    field(out, "failed", s.file_keeping.hooks_failed);
    field(out, "timed_out", s.file_keeping.hooks_timed_out);
    field(out, "overflow", s.file_keeping.hooks_overflow);
    out += "},\"retention\":{";
    field(out, "deleted_files", s.file_keeping.retention_deleted_files, true);
    field(out, "deleted_bytes", s.file_keeping.retention_deleted_bytes);
    out += "}";
    field(out, "written", s.written());
    field(out, "written_bytes", s.written_bytes());
    field(out, "files", s.files);
    field(out, "tcp_acks", s.tcp_acks());
    field(out, "tcp_ack_gaps", s.tcp_ack_gaps());
    field(out, "tcp_gap_bytes", s.tcp_gap_bytes());
    field(out, "tcp_evictions", s.tcp_evictions);
    out += ",\"upstream_loss_percent\":" +
           percent_text(upstream_loss_percent(s.tcp_ack_gaps(), s.tcp_acks()));
    out += '}';
    return out;
}

}  // namespace taprec
