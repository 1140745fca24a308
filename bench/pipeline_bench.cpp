// pipeline_bench: where a packet's time goes in taprec's own pipeline, stage by stage, on one core.
//
//   build/bench/pipeline_bench [--packets N] [--runs R] [--workers W] [--dir DIR] [--direct] [--sink]
//                              [--tcp-flows N] [--flows N] [--filter EXPR] [--sizes 64,1514]
//                              [--rotate-packets N] [--sync] [--no-index]
//
// No memif, no generator core, no NIC: two PacketSources (the TAP's ports a and b) hand out
// prepared Ethernet/IPv4/TCP frames of many flows, and the real RxPollers, rings, Workers
// (merge, filter, TCP loss estimator) and Writer (merge, copy into the file block) carry them
// into pcap files under DIR (default /dev/shm). Every stage is a task of one loop on one thread,
// as the daemon runs a tap whose stages are pinned to one core (TapPipeline::run_loop),
// and each stage's step() is timed. Printed in CPU nanoseconds per packet, the median run of R
// (a stage's wall time times the share of the run the thread was on a CPU: on a shared machine
// it is preempted at random points of the loop, which would otherwise count where they fell):
//
//   source   the prepared source's rx_burst: stands in for the NIC (writes the flow's addresses,
//            ports and seq/ack into the frame, as a NIC's DMA writes a new frame)
//   rx       the rest of the rx step: port stamp, timestamp sanity, flow hash (workers > 1),
//            ring push, watermark
//   worker   merge of both directions, filter, snaplen, TCP loss estimator, ring push
//   writer   the writer's merge, the copy into the 1 MiB block, releases, rotation bookkeeping
//   write    time inside write(2) (the file system); --sink makes write(2) a no-op instead,
//            as if the files went to /dev/null (the writer itself needs a real folder)
//   loop     what the one-core loop costs besides the stages (the timing itself included)
//
// plus the rate per core (packets per CPU-second of the thread), the wall-clock rates (packets,
// and MB of files: what a disk with --direct allows, for the thread then waits in write(2) off
// the CPU, which the CPU figures leave out), operator new calls during the
// run (per file opened and published, none per packet is the target), and a check that every
// packet reached a file or the filter, and the longest single writer step in microseconds: with
// --rotate-packets a file is published every N packets (--sync: output.sync close, an fsync
// each), so that step shows what a rotation holds the writer for. The stage times cost two clock reads per step (~20 ns
// each; a step moves 32 to 512 packets).
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "pipeline/clock_now.hpp"
#include "pipeline/packet_source.hpp"
#include "rx/rx_poller.hpp"
#include "worker/worker.hpp"
#include "writer/output_dir.hpp"
#include "writer/writer.hpp"

// ---- instruments: allocations and write(2) ---------------------------------------------------

namespace {

std::atomic<uint64_t> allocations{0};

inline uint64_t now_ns() noexcept { return taprec::monotonic_now_ns(); }
inline uint64_t thread_cpu_ns() noexcept { return taprec::clock_ns(CLOCK_THREAD_CPUTIME_ID); }

// Time inside write(2) and pwrite(2) and what they were asked to write. The writer's library
// calls ::write (the block index) and ::pwrite (pcap blocks; pwrite64 with meson's 64-bit file
// offsets), which these definitions take over for the whole executable (the bench's own output
// goes through stdio's internal write, not these symbols). Time is measured on the one-core
// loop's thread only: with --direct the blocks are written on the file's block write thread,
// and the loop's thread waits for them only when it has the next block full (that wait counts
// under 'writer'). Bytes are counted (and sunk) on both; the writer's publisher thread writes
// index.jsonl lines with write(2), for real.
uint64_t write_ns = 0;
std::atomic<uint64_t> write_bytes{0};
std::atomic<bool> sink_writes{false};
thread_local bool on_bench_thread = false;

ssize_t timed_write(int fd, long (*call)(int, const void*, size_t, off_t), const void* buffer,
                    size_t n, off_t offset) {
    if (sink_writes.load(std::memory_order_relaxed) && fd > 2) {
        write_bytes.fetch_add(n, std::memory_order_relaxed);
        return static_cast<ssize_t>(n);
    }
    const uint64_t t = on_bench_thread ? now_ns() : 0;
    const long r = call(fd, buffer, n, offset);
    if (on_bench_thread) write_ns += now_ns() - t;
    if (r > 0) write_bytes.fetch_add(uint64_t(r), std::memory_order_relaxed);
    return static_cast<ssize_t>(r);
}

long sys_write(int fd, const void* buffer, size_t n, off_t) { return syscall(SYS_write, fd, buffer, n); }
long sys_pwrite(int fd, const void* buffer, size_t n, off_t offset) {
    return syscall(SYS_pwrite64, fd, buffer, n, offset);
}

}  // namespace

void* operator new(size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new(size_t size, std::align_val_t align) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    const size_t a = static_cast<size_t>(align);
    if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
    throw std::bad_alloc();
}
// GCC sees these inlined next to a new-expression and takes std::free for a mismatch; the
// operator new above is malloc, so free is its match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

extern "C" ssize_t write(int fd, const void* buffer, size_t n) {
    if (!on_bench_thread) return static_cast<ssize_t>(syscall(SYS_write, fd, buffer, n));
    return timed_write(fd, sys_write, buffer, n, 0);
}

extern "C" ssize_t pwrite64(int fd, const void* buffer, size_t n, off_t offset) {
    return timed_write(fd, sys_pwrite, buffer, n, offset);
}

namespace {

using namespace taprec;

// ---- the prepared source ---------------------------------------------------------------------

constexpr size_t slot_bytes = 2048;  // an mbuf's data room: each frame in its own cache lines
// Buffers per port. A DPDK mempool hands out recently freed mbufs first (its per-core cache), so
// a busy port cycles through a few thousand buffers that stay in the last-level cache.
constexpr uint32_t pool_slots = 1024;
constexpr size_t ip_offset = 14;
constexpr size_t tcp_offset = 14 + 20;

void put16(std::byte* p, uint16_t v) {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v);
}
void put32(std::byte* p, uint32_t v) {
    put16(p, uint16_t(v >> 16));
    put16(p + 2, uint16_t(v));
}

// Ethernet, IPv4, TCP (ACK|PSH) from the client (port a) or the server (port b), padded to
// `length` with payload; PreparedSource::rewrite() gives it a flow's addresses, ports and seq/ack.
void build_tcp_frame(std::byte* f, size_t length, bool from_client) {
    std::memset(f, 0, length);
    const uint8_t client_mac[6] = {0x02, 0, 0, 0, 0, 1}, server_mac[6] = {0x02, 0, 0, 0, 0, 2};
    std::memcpy(f, from_client ? server_mac : client_mac, 6);
    std::memcpy(f + 6, from_client ? client_mac : server_mac, 6);
    put16(f + 12, 0x0800);
    std::byte* ip = f + 14;
    ip[0] = std::byte(0x45);
    put16(ip + 2, uint16_t(length - 14));
    ip[8] = std::byte(64);
    ip[9] = std::byte(6);
    std::byte* tcp = ip + 20;
    tcp[12] = std::byte(5 << 4);
    tcp[13] = std::byte(0x18);  // PSH|ACK
    put16(tcp + 14, 65535);
    for (size_t i = 14 + 20 + 20; i < length; ++i) f[i] = std::byte(i);
}

// The sequence state of every flow, shared by both directions: a's data is what b acknowledges.
struct Wire {
    explicit Wire(uint32_t flows) : flows(flows), seq(2 * size_t(flows), 1000) {}
    uint32_t flows;
    std::vector<uint32_t> seq;  // [flow * 2 + side]: the next byte each side sends
};

class PreparedSource final : public PacketSource {
public:
    PreparedSource(Wire& wire, bool from_client, size_t frame_size, uint64_t packets)
        : wire_(wire), from_client_(from_client), frame_size_(frame_size), budget_(packets),
          memory_(static_cast<std::byte*>(std::aligned_alloc(4096, slot_bytes * pool_slots))),
          free_(pool_slots) {
        for (uint32_t s = 0; s < pool_slots; ++s) {
            free_[s] = s;
            build_tcp_frame(memory_ + size_t(s) * slot_bytes, frame_size_, from_client_);
        }
        free_count_ = pool_slots;
    }
    ~PreparedSource() override { std::free(memory_); }

    std::string describe() const override { return "prepared packets"; }
    uint16_t queue_count() const override { return 1; }
    bool has_rss() const override { return false; }
    int link_type() const override { return 1; }  // DLT_EN10MB

    size_t rx_burst(uint16_t, std::span<PacketRef> out) noexcept override {
        const uint64_t t0 = now_ns();
        const size_t n = std::min<uint64_t>({out.size(), budget_ - handed_, free_count_});
        const uint64_t ts = realtime_now_ns();  // one clock read a burst, as a driver stamps
        const size_t payload = frame_size_ - 54;
        for (size_t i = 0; i < n; ++i) {
            const uint32_t slot = free_[free_head_];
            free_head_ = (free_head_ + 1) % pool_slots;
            std::byte* frame = memory_ + size_t(slot) * slot_bytes;
            const uint32_t flow = next_flow();
            // Rewrite addresses and sequence numbers for this flow: the NIC's DMA of a new frame.
            rewrite(frame, flow, payload);
            out[i] = PacketRef{frame, reinterpret_cast<void*>(uintptr_t(slot)), ts + i,
                               uint32_t(frame_size_), uint32_t(frame_size_), 0, 0};
        }
        free_count_ -= n;
        handed_ += n;
        source_ns_ += now_ns() - t0;
        return n;
    }
    bool at_end() const noexcept override { return handed_ == budget_; }
    std::string error() const override { return {}; }
    uint64_t idle_clock_ns() const noexcept override { return realtime_now_ns(); }
    void release(std::span<const PacketRef> packets) noexcept override {
        for (const PacketRef& p : packets) {
            free_[(free_head_ + free_count_) % pool_slots] = uint32_t(uintptr_t(p.buffer));
            ++free_count_;
        }
    }
    NicCounters nic_counters() const override { return {}; }

    uint64_t source_ns() const noexcept { return source_ns_; }

private:
    // Flows visited in a scattered order (a stride coprime with the flow count), so consecutive
    // packets belong to different flows, as on a busy link.
    uint32_t next_flow() noexcept {
        flow_ = (flow_ + 7919) % wire_.flows;
        return flow_;
    }
    void rewrite(std::byte* frame, uint32_t flow, size_t payload) noexcept {
        std::byte* ip = frame + ip_offset;
        std::byte* tcp = frame + tcp_offset;
        const uint32_t client_ip = 0x0a000000u | (flow & 0xffffu);
        const uint32_t server_ip = 0x0a010000u | (flow >> 16) | 1;
        put32(ip + 12, from_client_ ? client_ip : server_ip);
        put32(ip + 16, from_client_ ? server_ip : client_ip);
        const uint16_t client_port = uint16_t(1024 + flow % 60000);
        put16(tcp, from_client_ ? client_port : 443);
        put16(tcp + 2, from_client_ ? 443 : client_port);
        uint32_t& mine = wire_.seq[size_t(flow) * 2 + (from_client_ ? 0 : 1)];
        const uint32_t theirs = wire_.seq[size_t(flow) * 2 + (from_client_ ? 1 : 0)];
        put32(tcp + 4, mine);
        put32(tcp + 8, theirs);
        mine += uint32_t(payload);
    }

    Wire& wire_;
    bool from_client_;
    size_t frame_size_;
    uint64_t budget_;
    uint64_t handed_ = 0;
    std::byte* memory_;
    std::vector<uint32_t> free_;  // a FIFO of free slots: buffers come back in a ring's order
    uint32_t free_head_ = 0;
    uint32_t free_count_ = 0;
    uint32_t flow_ = 0;
    uint64_t source_ns_ = 0;
};

// ---- the one adapter to the pipeline's internal setup structs --------------------------------

// One tap, two ports, `workers` workers, one writer: wired as TapPipeline wires them.
struct OneCorePipeline {
    OneCorePipeline(std::array<PreparedSource*, 2> ports, uint32_t workers, const Config& config,
                    OutputDirectory& directory, const PacketFilter* filter) {
        const std::array<PacketSource*, max_ports_per_tap> sources{ports[0], ports[1]};
        for (size_t p = 0; p < 2; ++p)
            for (uint32_t w = 0; w < workers; ++w)
                rx_to_worker[p].push_back(std::make_unique<PacketRing>(config.ring_capacity));
        for (uint32_t w = 0; w < workers; ++w)
            worker_to_writer.push_back(std::make_unique<PacketRing>(config.ring_capacity));
        for (uint16_t p = 0; p < 2; ++p) {
            RxPollerSetup s;
            s.source = ports[p];
            s.port_index = p;
            for (auto& ring : rx_to_worker[p]) s.rx_to_worker.push_back(ring.get());
            s.idle = IdlePolicy::spin;
            s.stop = &stop;
            rx.push_back(std::make_unique<RxPoller>(std::move(s)));
        }
        for (uint32_t w = 0; w < workers; ++w) {
            WorkerSetup s;
            for (auto& rings : rx_to_worker) s.rx_to_worker.push_back(rings[w].get());
            s.worker_to_writer = worker_to_writer[w].get();
            s.buffers = BufferReturn(sources);
            s.filter = filter;
            s.snaplen = config.output.snaplen;
            s.link_type = 1;
            s.tcp_flows = config.stats.tcp_flows;
            worker.push_back(std::make_unique<Worker>(std::move(s)));
        }
        WriterSetup s;
        for (auto& ring : worker_to_writer) s.worker_to_writer.push_back(ring.get());
        s.sources = sources;
        s.directory = &directory;
        s.output = config.output;
        s.link_type = 1;
        s.rotate_generation = &rotate_generation;
        writer = std::make_unique<Writer>(std::move(s));
    }

    uint64_t written() const {
        return writer->counters().written[0].get() + writer->counters().written[1].get();
    }
    uint64_t lost() const {
        uint64_t n = 0;
        for (size_t p = 0; p < 2; ++p) {
            n += rx[p]->counters().dropped_ring.get() + writer->counters().dropped_writer[p].get();
            for (const auto& w : worker) n += w->counters().dropped_ring[p].get();
        }
        return n;
    }
    uint64_t filtered() const {
        uint64_t n = 0;
        for (const auto& w : worker) n += w->counters().filtered[0].get() + w->counters().filtered[1].get();
        return n;
    }
    uint64_t tcp_acks() const {
        uint64_t n = 0;
        for (const auto& w : worker) n += w->tcp_loss().acks[0].get() + w->tcp_loss().acks[1].get();
        return n;
    }

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> rotate_generation{0};
    std::array<std::vector<std::unique_ptr<PacketRing>>, 2> rx_to_worker;
    std::vector<std::unique_ptr<PacketRing>> worker_to_writer;
    std::vector<std::unique_ptr<RxPoller>> rx;
    std::vector<std::unique_ptr<Worker>> worker;
    std::unique_ptr<Writer> writer;
};

// ---- one run -----------------------------------------------------------------------------------

struct Options {
    uint64_t packets = 0;  // 0: by frame size (about 1 GB of files a run)
    int runs = 3;
    std::vector<uint32_t> workers{1, 2};
    std::vector<size_t> sizes{64, 1514};
    std::string dir = "/dev/shm";
    bool sink = false;
    bool direct = false;  // output.direct_io
    uint32_t tcp_flows = defaults::stats_tcp_flows;
    std::string filter;
    uint32_t flows = 16384;
    uint64_t rotate_packets = 0;  // output.rotate.packets; 0: one file a run
    bool sync = false;            // output.sync: close
    bool index = true;            // output.index
};

struct Result {
    uint64_t packets = 0;
    double source = 0, rx = 0, worker = 0, writer = 0, write = 0, loop = 0, total = 0;  // ns/packet
    double on_cpu = 0;       // share of the run's wall time this thread was on a CPU
    double wall_mpps = 0;    // packets per second of wall time
    double file_mbps = 0;    // MB of files per second of wall time
    uint64_t allocations = 0;
    uint64_t lost = 0, files = 0, acks = 0, gaps = 0;
    uint64_t writer_max_step_ns = 0;  // the longest single step of the writer
    bool write_seen = true;
};

constexpr uint64_t stall_limit_ns = 5'000'000'000;

Result run_once(const Options& o, size_t frame_size, uint32_t workers) {
    const uint64_t per_port = (o.packets != 0 ? o.packets : (uint64_t{1} << 30) / (frame_size + 16)) / 2;
    const std::string root = o.dir + "/taprec-pipeline-bench-" + std::to_string(::getpid());
    Config config;
    config.stats.tcp_flows = o.tcp_flows;
    config.output.directory = root;
    config.output.direct_io = o.direct;
    config.output.rotate.packets = o.rotate_packets;
    if (o.sync) config.output.sync = SyncPolicy::close;
    config.output.index = o.index;
    // The run's files go, however it ends.
    struct RemoveOnExit {
        std::string path;
        ~RemoveOnExit() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    } remove_files{root};
    Result r;
    {
        OutputDirectory directory(root, "bench", config.output.name);
        std::unique_ptr<PacketFilter> filter;
        if (!o.filter.empty()) filter = std::make_unique<PacketFilter>(o.filter, 1, config.output.snaplen);
        Wire wire(o.flows);
        PreparedSource a(wire, true, frame_size, per_port), b(wire, false, frame_size, per_port);
        OneCorePipeline pipe({&a, &b}, workers, config, directory, filter.get());

        std::vector<PollStage*> stages;
        for (auto& s : pipe.rx) stages.push_back(s.get());
        for (auto& s : pipe.worker) stages.push_back(s.get());
        stages.push_back(pipe.writer.get());
        std::vector<uint64_t> stage_ns(stages.size(), 0);
        std::vector<bool> finished(stages.size(), false);
        size_t running = stages.size();

        on_bench_thread = true;
        write_ns = 0;
        write_bytes = 0;
        uint64_t writer_max_step_ns = 0;
        sink_writes = o.sink;
        const uint64_t allocations_before = allocations.load();
        const uint64_t start = now_ns();
        const uint64_t cpu_start = thread_cpu_ns();
        uint64_t last_work_ns = start;
        while (running != 0) {
            bool worked = false;
            for (size_t i = 0; i < stages.size(); ++i) {
                if (finished[i]) continue;
                const uint64_t t = now_ns();
                const StepResult s = stages[i]->step(false);
                const uint64_t took = now_ns() - t;
                stage_ns[i] += took;
                if (i + 1 == stages.size()) writer_max_step_ns = std::max(writer_max_step_ns, took);
                worked = worked || s != StepResult::idle;
                if (s == StepResult::finished) {
                    finished[i] = true;
                    --running;
                }
            }
            // Every stage idle while packets are still due: buffers are held somewhere they
            // never come back from (a stage the adapter left unwired). Fail rather than spin.
            if (worked) last_work_ns = now_ns();
            else if (now_ns() - last_work_ns > stall_limit_ns)
                throw std::runtime_error("no stage moved a packet for 5 s: the pipeline is stuck");
        }
        const uint64_t total_ns = now_ns() - start;
        const uint64_t cpu_ns = thread_cpu_ns() - cpu_start;
        const uint64_t allocated = allocations.load() - allocations_before;
        sink_writes = false;

        r.packets = 2 * per_port;
        // On a shared machine the thread is preempted now and then, at random points of the
        // loop: each stage's wall time is scaled by the share of the run it was on a CPU, so
        // the figures are CPU time (and the total is exactly the thread's CPU time).
        r.on_cpu = double(cpu_ns) / double(total_ns);
        r.wall_mpps = double(r.packets) * 1e3 / double(total_ns);
        const double scale = r.on_cpu / double(r.packets);
        const uint64_t source_ns = a.source_ns() + b.source_ns();
        uint64_t rx_ns = 0, worker_ns = 0;
        for (size_t i = 0; i < stages.size(); ++i) {
            if (i < 2) rx_ns += stage_ns[i];
            else if (i + 1 < stages.size()) worker_ns += stage_ns[i];
        }
        const uint64_t writer_ns = stage_ns.back();
        r.source = double(source_ns) * scale;
        r.rx = double(rx_ns - source_ns) * scale;
        r.worker = double(worker_ns) * scale;
        r.write = double(write_ns) * scale;
        r.writer = double(writer_ns - std::min(writer_ns, write_ns)) * scale;
        r.total = double(total_ns) * scale;
        r.loop = r.total - double(rx_ns + worker_ns + writer_ns) * scale;
        r.allocations = allocated;
        r.writer_max_step_ns = writer_max_step_ns;
        // Every packet is in a file, filtered, or counted as dropped; none may be dropped here.
        r.lost = pipe.lost() + (r.packets - pipe.written() - pipe.filtered());
        r.files = pipe.writer->counters().files.get();
        r.acks = pipe.tcp_acks();
        for (const auto& w : pipe.worker)
            r.gaps += w->tcp_loss().gaps[0].get() + w->tcp_loss().gaps[1].get();
        // Every written byte passes write(2) unless the writer stopped calling it.
        const uint64_t record_bytes = pipe.writer->counters().written_bytes[0].get() +
                                      pipe.writer->counters().written_bytes[1].get();
        r.write_seen = write_bytes.load() >= record_bytes;
        r.file_mbps = double(write_bytes.load()) * 1e3 / double(total_ns);
        // What the daemon would log (a file system refusing O_DIRECT, a failed write).
        for (const Notice& n : pipe.writer->take_notices())
            std::fprintf(stderr, "pipeline_bench: writer: %s\n", n.text.c_str());
    }
    return r;
}

void print(size_t size, uint32_t workers, const std::vector<Result>& runs) {
    std::vector<Result> sorted = runs;
    std::sort(sorted.begin(), sorted.end(), [](const Result& x, const Result& y) { return x.total < y.total; });
    const Result& m = sorted[sorted.size() / 2];
    std::printf("%5zu B  %u worker%s  %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f | %6.1f  %5.2f Mpps "
                "(runs %.2f-%.2f)  on-CPU %2.0f%%  wall %.2f Mpps %.0f MB/s  allocations %llu (%.1e/pkt)  lost %llu  files %llu  "
                "writer max step %.0f us  tcp acks %llu gaps %llu\n",
                size, workers, workers == 1 ? " " : "s", m.source, m.rx, m.worker, m.writer, m.write,
                m.loop, m.total, 1e3 / m.total, 1e3 / sorted.back().total,
                1e3 / sorted.front().total, 100 * m.on_cpu, m.wall_mpps, m.file_mbps, (unsigned long long)m.allocations,
                double(m.allocations) / double(m.packets), (unsigned long long)m.lost,
                (unsigned long long)m.files, double(m.writer_max_step_ns) / 1e3, (unsigned long long)m.acks, (unsigned long long)m.gaps);
    if (!m.write_seen)
        std::printf("  note: fewer bytes passed write(2) than the writer wrote: it no longer calls "
                    "write(2) for its blocks, so 'write' is not measured and counts under 'writer'\n");
}

std::vector<uint64_t> parse_list(const std::string& s) {
    std::vector<uint64_t> v;
    size_t pos = 0;
    while (pos <= s.size()) {
        const size_t comma = s.find(',', pos);
        v.push_back(std::stoull(s.substr(pos, comma - pos)));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return v;
}

[[noreturn]] void usage(int code) {
    std::fprintf(code == 0 ? stdout : stderr,
                 "usage: pipeline_bench [--packets N] [--runs R] [--workers 1,2] [--sizes 64,1514]\n"
                 "                      [--dir DIR] [--direct] [--sink] [--tcp-flows N] [--flows N]\n"
                 "                      [--filter EXPR] [--rotate-packets N] [--sync] [--no-index]\n"
                 "  --packets   packets a run, both ports together (default: ~1 GiB of files)\n"
                 "  --runs      runs per configuration; the median is printed (default 3)\n"
                 "  --dir       where the files go (default /dev/shm)\n"
                 "  --direct    output.direct_io: O_DIRECT blocks (a disk; the thread waits in write(2)\n"
                 "              off the CPU, so read the wall figures, not the CPU ones)\n"
                 "  --sink      write(2) returns at once: the files stay empty (a /dev/null)\n"
                 "  --tcp-flows the estimator's table per worker, 0 turns it off (default %u)\n"
                 "  --flows     TCP connections the sources interleave (default 16384)\n"
                 "  --rotate-packets  publish a file every N packets (output.rotate.packets)\n"
                 "  --sync      output.sync: close (an fsync per file)\n"
                 "  --no-index  output.index: false (no block index; what it costs the writer)\n",
                 taprec::defaults::stats_tcp_flows);
    std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "pipeline_bench: %s needs a value\n", arg.c_str());
                usage(2);
            }
            return argv[++i];
        };
        try {
            if (arg == "--packets") o.packets = std::stoull(value());
            else if (arg == "--runs") o.runs = std::max(1, std::stoi(value()));
            else if (arg == "--workers") {
                o.workers.clear();
                for (uint64_t w : parse_list(value())) o.workers.push_back(uint32_t(std::clamp<uint64_t>(w, 1, 64)));
            } else if (arg == "--sizes") {
                o.sizes.clear();
                for (uint64_t s : parse_list(value())) o.sizes.push_back(std::clamp<size_t>(s, 60, slot_bytes));
            } else if (arg == "--dir") o.dir = value();
            else if (arg == "--sink") o.sink = true;
            else if (arg == "--direct") o.direct = true;
            else if (arg == "--tcp-flows") o.tcp_flows = uint32_t(std::stoul(value()));
            else if (arg == "--flows") o.flows = std::max<uint32_t>(1, uint32_t(std::stoul(value())));
            else if (arg == "--filter") o.filter = value();
            else if (arg == "--rotate-packets") o.rotate_packets = std::stoull(value());
            else if (arg == "--sync") o.sync = true;
            else if (arg == "--no-index") o.index = false;
            else if (arg == "-h" || arg == "--help") usage(0);
            else {
                std::fprintf(stderr, "pipeline_bench: unknown argument '%s'\n", arg.c_str());
                usage(2);
            }
        } catch (const std::logic_error&) {
            std::fprintf(stderr, "pipeline_bench: %s: not a number\n", arg.c_str());
            return 2;
        }
    }
    if (o.flows % 7919 == 0) o.flows += 1;  // keep the flow stride coprime with the flow count

    std::printf("pipeline_bench: one core, ports a+b, %u TCP flows, estimator %s, filter '%s', "
                "block index %s, files in %s%s%s; median of %d runs\n",
                o.flows, o.tcp_flows != 0 ? ("on (" + std::to_string(o.tcp_flows) + " flows/worker)").c_str() : "off",
                o.filter.c_str(), o.index ? "on" : "off", o.dir.c_str(), o.direct ? " with O_DIRECT" : "",
                o.sink ? " (write(2) sunk)" : "", o.runs);
    std::printf("CPU ns per packet:   source     rx worker writer  write   loop |  total  (Mpps per core)\n");
    for (size_t size : o.sizes)
        for (uint32_t workers : o.workers) {
            std::vector<Result> runs;
            try {
                for (int r = 0; r < o.runs; ++r) runs.push_back(run_once(o, size, workers));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "pipeline_bench: %s\n", e.what());
                return 1;
            }
            print(size, workers, runs);
            for (const Result& r : runs)
                if (r.lost != 0) {
                    std::fprintf(stderr, "pipeline_bench: %llu packets lost in a run: the one-core "
                                 "loop should lose none\n", (unsigned long long)r.lost);
                    return 1;
                }
        }
    return 0;
}
