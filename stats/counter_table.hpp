// counter_table: the one list of taprec's counters. Every output is a loop over it (DPDK keeps a
// NIC's extended statistics the same way, as one {name, offset} array): the snapshot the daemon
// takes (daemon/tap_pipeline.cpp), stats.jsonl (stats/stats_json.cpp), the per-file counts of
// index.jsonl (writer/writer.cpp), Prometheus (stats/prometheus.cpp), `taprec stats`
// (daemon/stats_command.cpp), the status and summary lines (daemon/daemon.cpp) and README's
// table of counters (checked against this one by tests/test_counter_table.cpp).
//
// Adding a counter: a CounterId, its row below (in the same place), a field of the snapshot
// (stats/tap_snapshot.hpp) and where the pipeline counts it (TapPipeline::live_value, a switch the
// compiler checks for missing cases). Nothing else.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "stats/tap_snapshot.hpp"

namespace taprec {

// Where a counter lives in stats.jsonl: one value per port ("ports": {"a": {...}}), per stage
// ("stages": {"rx": {...}}), per tap (top level, or an object such as "hooks"), per worker
// ("workers": [{...}, ...]).
enum class CounterScope : uint8_t { port, stage, tap, worker };

// The stage that counts it, as a mask: a port's dropped_ring is counted by the rx threads and by
// the workers (stats.jsonl's "stages" break it down).
enum CounterStage : uint8_t {
    stage_nic = 1,      // the NIC or the kernel, read from the driver
    stage_rx = 2,       // the port's rx thread
    stage_worker = 4,   // the workers
    stage_writer = 8,   // the writer
    stage_janitor = 16, // hooks and retention, off the writer thread
};

enum class CounterUnit : uint8_t { packets, bytes, events, files, nanoseconds };

enum class CounterId : uint8_t {
    // per port
    received,
    bytes,
    nic_missed,
    nic_errors,
    nic_nombuf,
    rolled_over,
    dropped_ring,
    dropped_writer,
    filtered,
    late,
    truncated,
    clamped,
    written,
    written_bytes,
    tcp_acks,
    tcp_ack_gaps,
    tcp_gap_bytes,
    clock_steers,
    clock_corrected,
    clock_steps,
    // per stage, summed over ports
    rx_dropped_ring,
    rx_clamped,
    worker_dropped_ring,
    worker_filtered,
    worker_truncated,
    worker_late,
    writer_dropped_writer,
    writer_late,
    writer_write_errors,
    writer_clamped,
    writer_sync_errors,
    // per tap
    hooks_started,
    hooks_failed,
    hooks_timed_out,
    hooks_overflow,
    hooks_skipped,
    retention_deleted_files,
    retention_deleted_bytes,
    files,
    tcp_evictions,
    // per worker
    each_worker_received,
    each_worker_written,
    each_worker_drops,
    each_worker_late,
    each_worker_tcp_acks,
    count
};

struct CounterSpec {
    CounterId id;
    CounterScope scope;
    // The stats.jsonl object holding it: for a stage counter the stage ("rx", "worker",
    // "writer"), for a tap counter "" (top level) or its object ("hooks", "retention").
    const char* section;
    const char* name;  // its key in stats.jsonl, and its row in `taprec stats`
    uint8_t stages;    // CounterStage mask: who counts it
    CounterUnit unit;
    // Adds into "drops": the packets that reached the sensor and are in no file because the
    // sensor lost them. nic_errors is not one: those frames came damaged off the wire (and some
    // NICs count a missed frame in both), and filtered packets were rejected on purpose.
    bool drop;
    bool summed;    // a port counter also reported for the tap, summed over its ports
    bool per_file;  // a port counter index.jsonl reports per file (what it grew while it was open)
    const char* metric;  // the Prometheus family (counters: *_total)
    // One line for Prometheus' HELP and README; nullptr on a stage counter whose family an
    // earlier row already described (one family, one sample per stage).
    const char* help;
    uint64_t& (*at)(TapSnapshot&, size_t index);  // its place in the snapshot
};

namespace counter_field {
template <uint64_t PortSnapshot::*Field>
constexpr uint64_t& port(TapSnapshot& s, size_t p) { return s.ports[p].*Field; }
template <uint64_t StageSnapshot::*Field>
constexpr uint64_t& stage(TapSnapshot& s, size_t) { return s.stages.*Field; }
template <uint64_t FilesSnapshot::*Field>
constexpr uint64_t& files(TapSnapshot& s, size_t) { return s.file_keeping.*Field; }
template <uint64_t TapSnapshot::*Field>
constexpr uint64_t& tap(TapSnapshot& s, size_t) { return s.*Field; }
template <uint64_t WorkerSnapshot::*Field>
constexpr uint64_t& worker(TapSnapshot& s, size_t w) { return s.workers[w].*Field; }
}  // namespace counter_field

inline constexpr CounterSpec counter_table[] = {
#define PORT(id, unit, stages, drop, summed, per_file, metric, help) \
    {CounterId::id, CounterScope::port, "", #id, stages, CounterUnit::unit, drop, summed, \
     per_file, \
     metric, help, counter_field::port<&PortSnapshot::id>}
#define STAGE(id, st, name, unit, metric, help, field) \
    {CounterId::id, CounterScope::stage, #st, #name, stage_##st, CounterUnit::unit, false, \
     false, false, metric, help, field}
#define TAP(id, section, name, stages, unit, metric, help, field) \
    {CounterId::id, CounterScope::tap, section, #name, stages, CounterUnit::unit, false, false, \
     false, metric, help, field}
#define WORKER(id, name, stages, unit, metric, help) \
    {CounterId::id, CounterScope::worker, "", #name, stages, CounterUnit::unit, false, false, \
     false, metric, help, counter_field::worker<&WorkerSnapshot::name>}
    //   name            unit     counted by                  drop   summed per_file
    PORT(received,       packets, stage_rx,                   false, false, false,
         "taprec_port_received_packets_total", "Packets the rx thread took from the port."),
    PORT(bytes,          bytes,   stage_rx,                   false, false, false,
         "taprec_port_received_bytes_total", "Wire bytes of the received packets."),
    PORT(nic_missed,     packets, stage_nic,                  true,  false, false,
         "taprec_port_nic_missed_packets_total",
         "Packets the NIC could not hand to software (its rx queue was full)."),
    PORT(nic_errors,     packets, stage_nic,                  false, false, false,
         "taprec_port_nic_errors_packets_total",
         "Packets the NIC received with errors (damaged on the wire; not drops)."),
    PORT(nic_nombuf,     packets, stage_nic,                  true,  false, false,
         "taprec_port_nic_nombuf_packets_total", "Packets the NIC dropped for want of a buffer."),
    PORT(rolled_over,    packets, stage_nic,                  false, false, false,
         "taprec_port_rolled_over_packets_total",
         "Packets the kernel's fanout rollover moved off their flow's full queue (net_af_packet): "
         "their connection reached two workers."),
    PORT(dropped_ring,   packets, stage_rx | stage_worker,    true,  false, false,
         "taprec_port_dropped_ring_packets_total",
         "Packets dropped because a ring towards a worker or the writer was full."),
    PORT(dropped_writer, packets, stage_writer,               true,  false, false,
         "taprec_port_dropped_writer_packets_total",
         "Packets the writer could not write (write error, full disk)."),
    PORT(filtered,       packets, stage_worker,               false, false, false,
         "taprec_port_filtered_packets_total", "Packets rejected by output.filter."),
    PORT(late,           packets, stage_worker | stage_writer, false, false, false,
         "taprec_port_late_packets_total",
         "Packets written after a newer one (out of timestamp order in the files)."),
    PORT(truncated,      packets, stage_worker,               false, false, false,
         "taprec_port_truncated_packets_total", "Packets cut to output.snaplen."),
    PORT(clamped,        packets, stage_rx | stage_writer,    false, false, false,
         "taprec_port_clamped_packets_total",
         "Packets whose timestamp was too far ahead of the clock and was rewritten."),
    PORT(written,        packets, stage_writer,               false, true,  false,
         "taprec_port_written_packets_total", "Packets written to files."),
    PORT(written_bytes,  bytes,   stage_writer,               false, true,  false,
         "taprec_port_written_bytes_total", "Record bytes (captured length) written to files."),
    PORT(tcp_acks,       events,  stage_worker,               false, true,  true,
         "taprec_port_tcp_acks_total",
         "TCP acknowledgements that advance (the capture-quality estimate's base)."),
    PORT(tcp_ack_gaps,   events,  stage_worker,               false, true,  true,
         "taprec_port_tcp_ack_gaps_total",
         "Acknowledgements for data never seen: segments lost before the sensor."),
    PORT(tcp_gap_bytes,  bytes,   stage_worker,               false, true,  false,
         "taprec_port_tcp_gap_bytes_total", "Bytes acknowledged but never seen."),
    PORT(clock_steers,   events,  stage_rx,                   false, false, false,
         "taprec_port_clock_steers_total",
         "Times the port's clock (TSC or NIC) was slewed towards CLOCK_REALTIME."),
    PORT(clock_corrected, nanoseconds, stage_rx,              false, false, false,
         "taprec_port_clock_corrected_seconds_total",
         "The sum of the port clock's distance from CLOCK_REALTIME that its steers closed "
         "(stats.jsonl: nanoseconds)."),
    PORT(clock_steps,    events,  stage_rx,                   false, false, false,
         "taprec_port_clock_steps_total",
         "Times the port's clock jumped to CLOCK_REALTIME (more than 100 ms off: the clock was set)."),

    STAGE(rx_dropped_ring, rx, dropped_ring, packets, "taprec_stage_dropped_ring_packets_total",
          "Packets a stage dropped because the ring it feeds was full.",
          counter_field::stage<&StageSnapshot::rx_dropped_ring>),
    STAGE(rx_clamped, rx, clamped, packets, "taprec_stage_clamped_packets_total",
          "Timestamps too far ahead of the clock, set back to it.",
          counter_field::stage<&StageSnapshot::rx_clamped>),
    STAGE(worker_dropped_ring, worker, dropped_ring, packets,
          "taprec_stage_dropped_ring_packets_total", nullptr,
          counter_field::stage<&StageSnapshot::worker_dropped_ring>),
    STAGE(worker_filtered, worker, filtered, packets, "taprec_stage_filtered_packets_total",
          "Packets rejected by output.filter.",
          counter_field::stage<&StageSnapshot::worker_filtered>),
    STAGE(worker_truncated, worker, truncated, packets, "taprec_stage_truncated_packets_total",
          "Packets cut to output.snaplen.",
          counter_field::stage<&StageSnapshot::worker_truncated>),
    STAGE(worker_late, worker, late, packets, "taprec_stage_late_packets_total",
          "Packets a stage's merge emitted after a newer one (the stages add up to the port's).",
          counter_field::stage<&StageSnapshot::worker_late>),
    STAGE(writer_dropped_writer, writer, dropped_writer, packets,
          "taprec_stage_dropped_writer_packets_total", "Packets the writer could not write.",
          counter_field::stage<&StageSnapshot::writer_dropped_writer>),
    STAGE(writer_late, writer, late, packets, "taprec_stage_late_packets_total", nullptr,
          counter_field::stage<&StageSnapshot::writer_late>),
    STAGE(writer_write_errors, writer, write_errors, events, "taprec_stage_write_errors_total",
          "Failed writes; each may cost the packets of a whole block.",
          counter_field::tap<&TapSnapshot::write_errors>),
    STAGE(writer_clamped, writer, clamped, packets, "taprec_stage_clamped_packets_total", nullptr,
          counter_field::stage<&StageSnapshot::writer_clamped>),
    STAGE(writer_sync_errors, writer, sync_errors, files, "taprec_stage_sync_errors_total",
          "Files whose data could not be flushed to disk before publishing.",
          counter_field::files<&FilesSnapshot::sync_errors>),

    TAP(hooks_started, "hooks", started, stage_janitor, events, "taprec_hooks_started_total",
        "on_rotate commands started.", counter_field::files<&FilesSnapshot::hooks_started>),
    TAP(hooks_failed, "hooks", failed, stage_janitor, events, "taprec_hooks_failed_total",
        "on_rotate commands that failed.", counter_field::files<&FilesSnapshot::hooks_failed>),
    TAP(hooks_timed_out, "hooks", timed_out, stage_janitor, events, "taprec_hooks_timed_out_total",
        "on_rotate commands killed for taking too long.",
        counter_field::files<&FilesSnapshot::hooks_timed_out>),
    TAP(hooks_overflow, "hooks", overflow, stage_janitor | stage_writer, files,
        "taprec_hooks_overflow_total",
        "Published files whose on_rotate command never ran: its queue was full.",
        counter_field::files<&FilesSnapshot::hooks_overflow>),
    TAP(hooks_skipped, "hooks", skipped, stage_janitor, files, "taprec_hooks_skipped_total",
        "Files whose hook, recorded at a stop, was skipped at the next start: the file was gone.",
        counter_field::files<&FilesSnapshot::hooks_skipped>),
    TAP(retention_deleted_files, "retention", deleted_files, stage_janitor, files,
        "taprec_retention_deleted_files_total", "Published files deleted by output.retention.",
        counter_field::files<&FilesSnapshot::retention_deleted_files>),
    TAP(retention_deleted_bytes, "retention", deleted_bytes, stage_janitor, bytes,
        "taprec_retention_deleted_bytes_total", "Bytes of the files deleted by output.retention.",
        counter_field::files<&FilesSnapshot::retention_deleted_bytes>),
    TAP(files, "", files, stage_writer, files, "taprec_files_published_total",
        "Files published (complete and renamed into place).",
        counter_field::tap<&TapSnapshot::files>),
    TAP(tcp_evictions, "", tcp_evictions, stage_worker, events, "taprec_tcp_evictions_total",
        "TCP flows the loss estimator forgot to make room for new ones.",
        counter_field::tap<&TapSnapshot::tcp_evictions>),

    // Each worker's share, all counted on the worker's own cache line. The workers sum to the
    // tap as README "Metrics" says: received to what reached a worker (the port's received less
    // the rx threads' dropped_ring), written to written + dropped_writer.
    WORKER(each_worker_received, received, stage_worker, packets,
           "taprec_worker_received_packets_total",
           "Packets this worker took from its rings (both ports)."),
    WORKER(each_worker_written, written, stage_worker, packets,
           "taprec_worker_written_packets_total",
           "Packets this worker handed to the writer (written, or counted dropped_writer)."),
    WORKER(each_worker_drops, drops, stage_worker, packets, "taprec_worker_drops_packets_total",
           "Packets this worker dropped: its ring to the writer was full."),
    WORKER(each_worker_late, late, stage_worker, packets, "taprec_worker_late_packets_total",
           "Packets this worker's merge emitted after a newer one."),
    WORKER(each_worker_tcp_acks, tcp_acks, stage_worker, events, "taprec_worker_tcp_acks_total",
           "TCP acknowledgements that advance, in this worker's flows."),
#undef PORT
#undef STAGE
#undef TAP
#undef WORKER
};

// The rows are in CounterId order, so counter_spec(id) is an index.
consteval bool rows_in_id_order() {
    for (size_t i = 0; i < std::size(counter_table); ++i)
        if (counter_table[i].id != CounterId(i)) return false;
    return std::size(counter_table) == size_t(CounterId::count);
}
static_assert(rows_in_id_order(), "counter_table: one row per CounterId, in CounterId order");

constexpr const CounterSpec& counter_spec(CounterId id) { return counter_table[size_t(id)]; }

// How many values a counter has in a snapshot (ports, workers, or one), and whether one is there.
inline size_t counter_instances(const CounterSpec& c, const TapSnapshot& s) {
    switch (c.scope) {
    case CounterScope::port: return s.ports.size();
    case CounterScope::worker: return s.workers.size();
    case CounterScope::stage:
    case CounterScope::tap: return 1;
    }
    return 0;
}
inline bool counter_present(const CounterSpec& c, const TapSnapshot& s, size_t index) {
    return c.scope != CounterScope::port || s.ports[index].present;
}

inline uint64_t counter_value(const CounterSpec& c, const TapSnapshot& s, size_t index) {
    return c.at(const_cast<TapSnapshot&>(s), index);  // `at` only reads here
}

// A `summed` port counter over the tap's ports.
inline uint64_t counter_sum(const CounterSpec& c, const TapSnapshot& s) {
    uint64_t sum = 0;
    for (size_t p = 0; p < s.ports.size(); ++p)
        if (s.ports[p].present) sum += counter_value(c, s, p);
    return sum;
}

inline uint64_t written(const TapSnapshot& s) {
    return counter_sum(counter_spec(CounterId::written), s);
}
inline uint64_t written_bytes(const TapSnapshot& s) {
    return counter_sum(counter_spec(CounterId::written_bytes), s);
}

// The tap-wide family of a summed port counter: taprec_port_written_packets_total ->
// taprec_written_packets_total.
inline std::string summed_metric(const CounterSpec& c) {
    std::string name = c.metric;
    const std::string_view port = "taprec_port_";
    return "taprec_" + name.substr(port.size());
}

// "drops": the sum of the port counters marked `drop`, for a port and for the tap.
inline uint64_t port_drops(const TapSnapshot& s, size_t port) {
    uint64_t drops = 0;
    for (const CounterSpec& c : counter_table)
        if (c.drop) drops += counter_value(c, s, port);
    return drops;
}
inline uint64_t tap_drops(const TapSnapshot& s) {
    uint64_t drops = 0;
    for (size_t p = 0; p < s.ports.size(); ++p)
        if (s.ports[p].present) drops += port_drops(s, p);
    return drops;
}

constexpr const char* stage_names[] = {"nic", "rx", "worker", "writer", "janitor"};

}  // namespace taprec
