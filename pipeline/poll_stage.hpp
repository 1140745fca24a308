// PollStage: one stage of the pipeline (an rx poller, a worker, a writer) as a step that can run
// on a thread of its own or share one core's loop with the others.
//
// On a sensor each stage has its own pinned core and spins; on a small box the stages of a tap
// pinned to one core run as tasks of one loop instead (DESIGN.md "Cores"): a burst then goes from
// the NIC to the file buffer while it is still in cache, with no context switch between stages.
#pragma once

#include <span>

#include "pipeline/idle_wait.hpp"

namespace taprec {

enum class StepResult {
    idle,      // found nothing to do
    worked,    // moved at least one packet (or did a rotation, a drain step, ...)
    finished,  // done for good; step() must not be called again
};

class PollStage {
public:
    virtual ~PollStage() = default;
    // One round of the stage's work. `may_block`: the stage has the thread to itself, so a driver
    // that can sleep in the kernel until traffic arrives (libpcap live) may do so.
    virtual StepResult step(bool may_block) noexcept = 0;
};

// The loop of a thread that runs one stage.
inline void run_stage(PollStage& stage, IdlePolicy policy) noexcept {
    IdleWait idle(policy);
    while (true) {
        const StepResult r = stage.step(true);
        if (r == StepResult::finished) return;
        if (r == StepResult::worked) idle.reset();
        else idle.wait();
    }
}

}  // namespace taprec
