#include "config/thread_plan.hpp"

#include <algorithm>
#include <map>

#include "pipeline/port.hpp"

namespace taprec {
namespace {

int pick(const std::vector<int>& list, size_t i) {
    return list.empty() ? -1 : list[i % list.size()];
}

std::string stage_name(const StageRef& s) {
    switch (s.kind) {
    case StageRef::Kind::rx: return std::string("rx") + port_name(s.index);
    case StageRef::Kind::worker: return "wk" + std::to_string(s.index);
    case StageRef::Kind::writer: break;
    }
    return "writer";
}

int core_of(const TapCores& cores, const StageRef& s) {
    switch (s.kind) {
    case StageRef::Kind::rx: return s.index < cores.rx.size() ? cores.rx[s.index] : -1;
    case StageRef::Kind::worker: return s.index < cores.workers.size() ? cores.workers[s.index] : -1;
    case StageRef::Kind::writer: break;
    }
    return cores.writer;
}

}  // namespace

std::string stage_thread_name(const std::string& tap, const StageRef& stage) {
    return stage_name(stage) + ":" + tap;
}

namespace {

std::string listed(const std::vector<StageRef>& stages) {
    std::string text;
    for (size_t i = 0; i < stages.size(); ++i) {
        if (i != 0) text += i + 1 == stages.size() ? " and " : ", ";
        text += stage_name(stages[i]);
    }
    return text;
}

}  // namespace

std::vector<TapCores> assign_cores(const ThreadsConfig& threads, const std::vector<size_t>& ports_per_tap,
                                   const std::vector<uint32_t>& workers_per_tap) {
    std::vector<TapCores> cores(ports_per_tap.size());
    size_t next_rx = 0, next_worker = 0;
    for (size_t t = 0; t < cores.size(); ++t) {
        for (size_t p = 0; p < ports_per_tap[t]; ++p) cores[t].rx.push_back(pick(threads.rx, next_rx++));
        for (uint32_t w = 0; w < workers_per_tap[t]; ++w)
            cores[t].workers.push_back(pick(threads.workers, next_worker++));
        cores[t].writer = threads.writer ? *threads.writer : -1;
    }
    return cores;
}

std::vector<TapLoop> plan_tap_loops(const std::string& tap, const TapCores& cores, size_t ports,
                                    uint32_t workers, bool ports_wait_on_fd) {
    std::vector<StageRef> stages;  // pipeline order
    for (uint32_t p = 0; p < ports; ++p) stages.push_back({StageRef::Kind::rx, p});
    for (uint32_t w = 0; w < workers; ++w) stages.push_back({StageRef::Kind::worker, w});
    stages.push_back({StageRef::Kind::writer, 0});

    const int first_core = core_of(cores, stages.front());
    const bool one_core = std::all_of(stages.begin(), stages.end(),
                                      [&](const StageRef& s) { return core_of(cores, s) == first_core; });
    // One loop for the tap: all on one core, or unpinned live ports (tcpdump's economy: one
    // thread asleep in poll() on a quiet link instead of a thread per stage each waking to look).
    if (one_core && (first_core >= 0 || ports_wait_on_fd))
        return {TapLoop{"tap:" + tap, first_core, stages, true}};

    std::vector<TapLoop> loops;
    std::map<int, size_t> loop_of_core;
    for (const StageRef& s : stages) {
        const int core = core_of(cores, s);
        if (core >= 0) {
            if (const auto it = loop_of_core.find(core); it != loop_of_core.end()) {
                TapLoop& loop = loops[it->second];
                loop.stages.push_back(s);
                loop.name = "cpu" + std::to_string(core) + ":" + tap;
                continue;
            }
            loop_of_core[core] = loops.size();
        }
        loops.push_back(TapLoop{stage_thread_name(tap, s), core, {s}, false});
    }
    return loops;
}

std::string describe_tap_loops(const std::vector<TapLoop>& loops) {
    std::string text;
    for (const TapLoop& loop : loops) {
        if (!text.empty()) text += "; ";
        text += listed(loop.stages);
        if (loop.stages.size() > 1) text += " as one loop";
        text += loop.core >= 0 ? " on core " + std::to_string(loop.core) : std::string(" unpinned");
        text += " (" + loop.name + ")";
    }
    return text;
}

}  // namespace taprec
