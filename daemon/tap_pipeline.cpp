#include "daemon/tap_pipeline.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>

#include "config/limits.hpp"
#include "pipeline/clock_now.hpp"
#include "daemon/log.hpp"
#include "drivers/open_port.hpp"
#include "stats/json.hpp"
#include "config/queue_plan.hpp"
#include "writer/partial_repair.hpp"

namespace taprec {
namespace {

// Pinned first, then named: whoever finds the thread by its name finds it where it stays.
void place_thread(std::thread& thread, int core, const std::string& name) {
    if (core >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(core, &set);
        // Validation checked the core; one taken offline since runs the thread unpinned, said so.
        if (const int error = pthread_setaffinity_np(thread.native_handle(), sizeof set, &set); error != 0)
            log_warning("thread " + name + ": cannot pin to core " + std::to_string(core) + ": " +
                        std::strerror(error) + "; it runs unpinned");
    }
    pthread_setname_np(thread.native_handle(), name.substr(0, 15).c_str());
}

uint32_t resolve_workers(const Config& config, const TapConfig& tap, const PacketSource& a) {
    if (tap.workers) return *tap.workers;
    // auto: as many as the port has RSS queues, else as many as there are worker cores.
    if (a.has_rss()) return a.queue_count();
    return config.threads.workers.empty() ? 1u : uint32_t(config.threads.workers.size());
}

void log_notice(const std::string& prefix, const Notice& n) {
    switch (n.level) {
    case NoticeLevel::error: log_error(prefix + n.text); break;
    case NoticeLevel::warning: log_warning(prefix + n.text); break;
    case NoticeLevel::info: log_info(prefix + n.text); break;
    }
}

}  // namespace

// Each port with its slice of the plan; both must have one link type, which this returns.
int TapPipeline::open_ports(const Config& config, const TapConfig& tap, const TapPlan& plan) {
    PortOptions options;
    options.snaplen = config.output.snaplen;
    options.timestamps = tap.timestamps;
    options.queues = tap.workers.value_or(1);
    options.plan = &plan.ports[0];
    sources_.push_back(open_port(tap.a, options));
    options.plan = tap.b ? &plan.ports[1] : nullptr;
    if (tap.b) sources_.push_back(open_port(*tap.b, options));
    const int link_type = sources_[0]->link_type();
    if (sources_.size() == 2 && sources_[1]->link_type() != link_type)
        throw std::runtime_error("tap " + tap.name + ": port a (" + sources_[0]->describe() +
                                 ") has link type " + std::to_string(link_type) + " but port b (" +
                                 sources_[1]->describe() + ") has " +
                                 std::to_string(sources_[1]->link_type()) +
                                 "; both directions must go into one pcap file");
    return link_type;
}

// The tap's folder, and the leftovers of a crash, before anything new is written: published
// (and hooked) or set aside.
void TapPipeline::open_output(const Config& config) {
    try {
        directory_ = std::make_unique<OutputDirectory>(config.output.directory, tap_.name,
                                                       config.output.name);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("output.directory: ") + e.what() +
                                 "; create it or point output.directory at a writable folder");
    }
    const RepairResult repaired = repair_partials(*directory_);
    for (const Notice& n : repaired.notices) log_notice("tap " + tap_.name + ": ", n);
    janitor_ = std::make_unique<Janitor>(*directory_, config.output);
    for (const std::string& path : repaired.published) janitor_->file_published(path);
}

TapPipeline::TapPipeline(const Config& config, const TapConfig& tap, const TapPlan& plan,
                         const std::atomic<uint64_t>& rotate_generation)
    : tap_(tap), idle_policy_(config.threads.idle) {
    const int link_type = open_ports(config, tap, plan);

    const uint32_t workers = resolve_workers(config, tap, *sources_[0]);
    if (workers == 0 || workers > limits::max_workers)  // validation allows no other, --check says
        throw std::runtime_error("tap " + tap.name + ": " + std::to_string(workers) +
                                 " workers; set taps[].workers between 1 and " +
                                 std::to_string(limits::max_workers));

    try {
        filter_ = std::make_unique<PacketFilter>(config.output.filter, link_type,
                                                 config.output.snaplen);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error("output.filter \"" + config.output.filter + "\": " + e.what());
    }
    open_output(config);

    std::array<PacketSource*, max_ports_per_tap> source_ptrs{};
    bool lossless = true;  // every port is a file replayed at full speed: wait, never drop
    for (size_t p = 0; p < sources_.size(); ++p) {
        source_ptrs[p] = sources_[p].get();
        lossless = lossless && !sources_[p]->is_wire();
    }

    rx_to_worker_.resize(sources_.size());
    for (auto& rings : rx_to_worker_)
        for (uint32_t w = 0; w < workers; ++w)
            rings.push_back(std::make_unique<PacketRing>(config.ring_capacity));
    for (uint32_t w = 0; w < workers; ++w)
        worker_to_writer_.push_back(std::make_unique<PacketRing>(config.ring_capacity));

    for (size_t p = 0; p < sources_.size(); ++p) {
        RxPollerSetup setup;
        setup.source = sources_[p].get();
        setup.port_index = static_cast<uint16_t>(p);
        for (auto& ring : rx_to_worker_[p]) setup.rx_to_worker.push_back(ring.get());
        setup.reorder_window_ns = tap.reorder_window_ns;
        setup.idle = config.threads.idle;
        setup.stop = &stop_rx_;
        if (const char* dir = std::getenv("TAPREC_FLOW_RECORD"); dir != nullptr && *dir != '\0')
            setup.flow_record_path = std::string(dir) + "/" + tap.name + "-" + (p == 0 ? "a" : "b") + ".flows";
        rx_pollers_.push_back(std::make_unique<RxPoller>(std::move(setup)));
    }
    for (uint32_t w = 0; w < workers; ++w) {
        WorkerSetup setup;
        for (auto& rings : rx_to_worker_) setup.rx_to_worker.push_back(rings[w].get());
        setup.worker_to_writer = worker_to_writer_[w].get();
        setup.buffers = BufferReturn(source_ptrs);
        setup.filter = filter_->enabled() ? filter_.get() : nullptr;
        setup.snaplen = config.output.snaplen;
        setup.link_type = link_type;
        setup.tcp_flows = config.stats.tcp_flows;
        setup.wait_for_room = lossless;
        workers_.push_back(std::make_unique<Worker>(std::move(setup)));
    }
    WriterSetup setup;
    for (auto& ring : worker_to_writer_) setup.worker_to_writer.push_back(ring.get());
    setup.sources = source_ptrs;
    setup.directory = directory_.get();
    setup.output = config.output;
    setup.link_type = link_type;
    setup.rotate_generation = &rotate_generation;
    setup.totals_so_far = [this] { return snapshot(); };
    setup.published = [janitor = janitor_.get()](const std::string& path) {
        janitor->file_published(path);
    };
    writer_ = std::make_unique<Writer>(std::move(setup));
    port_error_reported_.assign(sources_.size(), false);
    rollover_reported_.assign(sources_.size(), false);
}

TapPipeline::~TapPipeline() {
    request_stop();
    join();
}

// The writer has published its last file: the janitor's last hooks and retention pass belong to
// the run, then the tap is finished and says so.
void TapPipeline::finish_run() {
    janitor_->finish();
    janitor_->join();
    writer_done_.store(true, std::memory_order_release);
    if (on_finished_) on_finished_();
}

void TapPipeline::start(const TapCores& cores, std::function<void()> finished) {
    on_finished_ = std::move(finished);
    loops_ = plan_tap_loops(tap_.name, cores, sources_.size(), worker_count(), all_ports_wait_on_fd());
    thread_done_ = std::make_unique<std::atomic<bool>[]>(1 + workers_.size() + rx_pollers_.size());
    janitor_->start();
    // Consumers first (the loops are in pipeline order, the writer's last), so nothing waits on
    // a thread that does not exist yet.
    for (auto loop = loops_.rbegin(); loop != loops_.rend(); ++loop) {
        threads_.emplace_back([this, &loop = *loop] { run_loop(loop); });
        place_thread(threads_.back(), loop->core, loop->name);
    }
}

std::vector<Heartbeat> TapPipeline::heartbeats() const {
    std::vector<Heartbeat> beats;
    if (!thread_done_) return beats;
    // Read `done` before `loops`: a thread seen finished has no later loop to count.
    auto beat = [&](std::string thread, size_t index, const Counter& loops) {
        Heartbeat h;
        h.thread = std::move(thread);
        h.finished = thread_done_[index].load(std::memory_order_acquire);
        h.loops = loops.get();
        h.started = h.finished || h.loops != 0;
        beats.push_back(std::move(h));
    };
    using Kind = StageRef::Kind;
    beat(stage_thread_name(tap_.name, {Kind::writer, 0}), 0, writer_->counters().loops);
    for (uint32_t w = 0; w < workers_.size(); ++w)
        beat(stage_thread_name(tap_.name, {Kind::worker, w}), 1 + w, workers_[w]->counters().loops);
    for (uint32_t p = 0; p < rx_pollers_.size(); ++p)
        beat(stage_thread_name(tap_.name, {Kind::rx, p}), 1 + workers_.size() + p,
             rx_pollers_[p]->counters().loops);
    return beats;
}

bool TapPipeline::all_ports_wait_on_fd() const {
    for (const auto& source : sources_)
        if (source->wait_fd() < 0) return false;
    return true;
}

// Nothing to do on any stage: sleep in poll() on the ports when they all offer a descriptor
// (bounded, so rotations on time and the stop flag are still seen), else the idle policy.
void TapPipeline::wait_idle(IdleWait& idle) {
    std::array<pollfd, max_ports_per_tap> fds{};
    std::array<PacketSource*, max_ports_per_tap> polled{};
    size_t n = 0;
    std::chrono::microseconds nap{0};
    for (const auto& source : sources_) {
        // A port that ended is read no more, so its descriptor may read readable for ever (the
        // kernel still hands over the block it was filling).
        if (source->at_end()) continue;
        const int fd = source->wait_fd();
        if (fd < 0) {
            idle.wait();
            return;
        }
        polled[n] = source.get();
        fds[n++] = pollfd{fd, POLLIN, 0};
        nap = std::max(nap, source->nap_instead_of_poll());
    }
    if (n == 0) {
        idle.wait();
        return;
    }
    if (nap.count() != 0) {
        std::this_thread::sleep_for(nap);
        return;
    }
    if (::poll(fds.data(), n, poll_timeout_ms) <= 0) return;
    // An error on a port's descriptor (its interface went down) reads readable for ever: the
    // port's own wait reads the error and ends the port.
    for (size_t i = 0; i < n; ++i)
        if ((fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
            polled[i]->wait_for_packets(std::chrono::microseconds(0));
}

PollStage* TapPipeline::stage(const StageRef& s) const {
    switch (s.kind) {
    case StageRef::Kind::rx: return rx_pollers_[s.index].get();
    case StageRef::Kind::worker: return workers_[s.index].get();
    case StageRef::Kind::writer: break;
    }
    return writer_.get();
}

// Where each stage's heartbeat says it has finished: the writer, then the workers, then rx.
size_t TapPipeline::done_index(const StageRef& s) const {
    switch (s.kind) {
    case StageRef::Kind::rx: return 1 + workers_.size() + s.index;
    case StageRef::Kind::worker: return 1 + s.index;
    case StageRef::Kind::writer: break;
    }
    return 0;
}

void TapPipeline::stage_finished(const StageRef& s) {
    if (s.kind == StageRef::Kind::writer) finish_run();
    thread_done_[done_index(s)].store(true, std::memory_order_release);
}

// A thread's stages as tasks of one loop: in pipeline order, so a burst received in a round is
// merged and written in the same round, while it is still in cache, with no context switch
// between. A stage alone on its thread runs its own loop (an rx stage may then sleep on its port).
void TapPipeline::run_loop(const TapLoop& loop) {
    if (loop.stages.size() == 1 && !loop.whole_tap) {
        run_stage(*stage(loop.stages.front()), idle_policy_);
        stage_finished(loop.stages.front());
        return;
    }
    std::vector<PollStage*> stages;
    for (const StageRef& s : loop.stages) stages.push_back(stage(s));
    std::vector<bool> finished(stages.size(), false);
    size_t running = stages.size();
    IdleWait idle(idle_policy_);
    while (running != 0) {
        bool worked = false;
        for (size_t i = 0; i < stages.size(); ++i) {
            if (finished[i]) continue;
            const StepResult r = stages[i]->step(false);
            if (r == StepResult::worked) worked = true;
            if (r != StepResult::finished) continue;
            finished[i] = true;
            --running;
            stage_finished(loop.stages[i]);
        }
        if (worked) idle.reset();
        // Only a loop with every stage may sleep on the ports: another thread feeds this one's
        // rings otherwise, and a quiet port would hold what it fed for the poll's timeout.
        else if (loop.whole_tap) wait_idle(idle);
        else idle.wait();
    }
}

void TapPipeline::join() {
    const bool ran = !threads_.empty();
    for (std::thread& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
    if (ran) report_rollover(true);
}

// Fanout rollover (net_af_packet) breaks the flow affinity the workers rely on (the TCP loss
// estimate of a split connection is wrong); nothing is lost, so it is a warning: the first time
// it happens (looked for once a second: reading a port's counters costs system calls), and its
// total at the end.
void TapPipeline::report_rollover(bool final) {
    const uint64_t now = monotonic_now_ns();
    if (!final && now - rollover_checked_ns_ < 1'000'000'000) return;
    rollover_checked_ns_ = now;
    for (size_t p = 0; p < sources_.size(); ++p) {
        const uint64_t moved = sources_[p]->nic_counters().rolled_over;
        if (moved == 0 || (!final && rollover_reported_[p])) continue;
        rollover_reported_[p] = true;
        log_warning("tap " + tap_.name + " port " + (p == 0 ? "a" : "b") + ": " +
                    std::to_string(moved) + " packets " + (final ? "were" : "so far") +
                    " moved by the kernel to another queue than their flow's (af_packet fanout "
                    "rollover off a nearly full queue), so their connections reached two workers; "
                    "a larger ring per queue (framecnt= and blocksz= of net_af_packet) or "
                    "threads.idle: spin keeps a queue from filling");
    }
}

std::vector<std::string> TapPipeline::queue_mapping() const {
    TapQueuePlan plan;
    plan.port_count = sources_.size();
    plan.workers = worker_count();
    // As each rx thread decides (rx/rx_poller.cpp): by queue where the port keeps flows
    // together on as many queues as there are workers.
    plan.by_queue = plan.workers > 1;
    for (size_t p = 0; p < sources_.size(); ++p) {
        plan.ports[p].queues = sources_[p]->queue_count();
        plan.by_queue = plan.by_queue && sources_[p]->has_rss() && plan.ports[p].queues == plan.workers;
    }
    return describe_queue_mapping(plan);
}

std::vector<std::string> TapPipeline::take_errors() {
    report_rollover(false);
    std::vector<std::string> errors;
    for (size_t p = 0; p < sources_.size(); ++p) {
        if (port_error_reported_[p] || !sources_[p]->at_end()) continue;
        const std::string error = sources_[p]->error();
        if (error.empty()) continue;
        port_error_reported_[p] = true;
        errors.push_back("tap " + tap_.name + " port " + port_name(p) + ": " + error);
    }
    // Logged here, in the order the writer queued them: its errors and its infos tell one story
    // ("write failed", then "writes succeed again").
    for (const Notice& n : writer_->take_notices()) log_notice("tap " + tap_.name + " writer: ", n);
    for (const Notice& n : janitor_->take_notices()) log_notice("tap " + tap_.name + ": ", n);
    return errors;
}

bool TapPipeline::has_port_error() const {
    for (const auto& source : sources_)
        if (source->at_end() && !source->error().empty()) return true;
    return false;
}

uint64_t TapPipeline::live_value(CounterId id, size_t i) const {
    const WriterCounters& wr = writer_->counters();
    const WriterFileCounters& wf = writer_->file_counters();
    // Summed over the workers (per port i), or one worker's (worker i).
    auto workers = [&](auto value_of) {
        uint64_t sum = 0;
        for (const auto& w : workers_) sum += value_of(w->counters(), w->tcp_loss());
        return sum;
    };
    auto ports = [&](auto value_of) {
        uint64_t sum = 0;
        for (size_t p = 0; p < sources_.size(); ++p) sum += value_of(p);
        return sum;
    };
    auto each_port = [](const auto& per_port) {
        uint64_t sum = 0;
        for (const Counter& c : per_port) sum += c.get();
        return sum;
    };
    using Wk = const WorkerCounters&;
    using Tcp = const TcpLossCounters&;
    switch (id) {
    case CounterId::received: return rx_pollers_[i]->counters().received.get();
    case CounterId::bytes: return rx_pollers_[i]->counters().bytes.get();
    case CounterId::nic_missed: return sources_[i]->nic_counters().missed;
    case CounterId::nic_errors: return sources_[i]->nic_counters().errors;
    case CounterId::nic_nombuf: return sources_[i]->nic_counters().nombuf;
    case CounterId::rolled_over: return sources_[i]->nic_counters().rolled_over;
    case CounterId::dropped_ring:
        return workers([i](Wk c, Tcp) { return c.dropped_ring[i].get(); }) +
               rx_pollers_[i]->counters().dropped_ring.get();
    case CounterId::dropped_writer: return wr.dropped_writer[i].get();
    case CounterId::filtered: return workers([i](Wk c, Tcp) { return c.filtered[i].get(); });
    // Every packet a worker emits late is late at the writer too, so the writer's count is the
    // port's: packets out of timestamp order in the files. The writer stage counts only the ones
    // its own merge made late, so that the stages add up to the port.
    case CounterId::late: return wr.late[i].get();
    case CounterId::truncated: return workers([i](Wk c, Tcp) { return c.truncated[i].get(); });
    case CounterId::clamped: return wf.clamped[i].get() + rx_pollers_[i]->counters().clamped.get();
    case CounterId::written: return wr.written[i].get();
    case CounterId::written_bytes: return wr.written_bytes[i].get();
    case CounterId::tcp_acks: return workers([i](Wk, Tcp t) { return t.acks[i].get(); });
    case CounterId::tcp_ack_gaps: return workers([i](Wk, Tcp t) { return t.gaps[i].get(); });
    case CounterId::tcp_gap_bytes: return workers([i](Wk, Tcp t) { return t.gap_bytes[i].get(); });
    case CounterId::clock_steers: return sources_[i]->nic_counters().clock_steers;
    case CounterId::clock_corrected: return sources_[i]->nic_counters().clock_corrected_ns;
    case CounterId::clock_steps: return sources_[i]->nic_counters().clock_steps;

    case CounterId::rx_dropped_ring:
        return ports([&](size_t p) { return rx_pollers_[p]->counters().dropped_ring.get(); });
    case CounterId::rx_clamped:
        return ports([&](size_t p) { return rx_pollers_[p]->counters().clamped.get(); });
    case CounterId::worker_dropped_ring:
        return workers([&](Wk c, Tcp) { return each_port(c.dropped_ring); });
    case CounterId::worker_filtered:
        return workers([&](Wk c, Tcp) { return each_port(c.filtered); });
    case CounterId::worker_truncated:
        return workers([&](Wk c, Tcp) { return each_port(c.truncated); });
    case CounterId::worker_late: return workers([&](Wk c, Tcp) { return each_port(c.late); });
    case CounterId::writer_dropped_writer: return each_port(wr.dropped_writer);
    case CounterId::writer_late: return each_port(wr.late_here);
    case CounterId::writer_write_errors: return wr.write_errors.get();
    case CounterId::writer_clamped: return each_port(wf.clamped);
    case CounterId::writer_sync_errors: return wf.sync_errors.get();

    case CounterId::hooks_started: return janitor_->hook_counters().started.get();
    case CounterId::hooks_failed: return janitor_->hook_counters().failed.get();
    case CounterId::hooks_timed_out: return janitor_->hook_counters().timed_out.get();
    case CounterId::hooks_overflow:
        return janitor_->hook_counters().overflow.get() + janitor_->ring_overflow();
    case CounterId::hooks_skipped: return janitor_->hook_counters().skipped.get();
    case CounterId::retention_deleted_files:
        return janitor_->retention_counters().deleted_files.get();
    case CounterId::retention_deleted_bytes:
        return janitor_->retention_counters().deleted_bytes.get();
    case CounterId::files: return wr.files.get();
    case CounterId::tcp_evictions: return workers([](Wk, Tcp t) { return t.evictions.get(); });

    case CounterId::each_worker_received: return workers_[i]->counters().received.get();
    case CounterId::each_worker_written: return workers_[i]->counters().handed_on.get();
    case CounterId::each_worker_drops: return each_port(workers_[i]->counters().dropped_ring);
    case CounterId::each_worker_late: return each_port(workers_[i]->counters().late);
    case CounterId::each_worker_tcp_acks: return each_port(workers_[i]->tcp_loss().acks);
    case CounterId::count: break;
    }
    return 0;
}

TapSnapshot TapPipeline::snapshot() const {
    TapSnapshot s;
    s.tap = tap_.name;
    s.time_ns = realtime_now_ns();
    for (size_t p = 0; p < sources_.size(); ++p) s.ports[p].present = true;
    s.workers.resize(workers_.size());
    // Backwards through the table: within a scope a stage's counters come after those of the
    // stages upstream of it, so a packet counted downstream (written, filtered, dropped) was
    // counted upstream (received) before it is read here, and in_flight never goes negative.
    for (auto c = std::rbegin(counter_table); c != std::rend(counter_table); ++c)
        for (size_t i = 0; i < counter_instances(*c, s); ++i)
            if (counter_present(*c, s, i)) c->at(s, i) = live_value(c->id, i);
    return s;
}

}  // namespace taprec
