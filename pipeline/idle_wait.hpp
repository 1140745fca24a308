// IdleWait: what a poller does when it finds nothing (`threads.idle`).
//
// spin:  keep the core (a pinned sensor core; lowest latency).
// yield: give the core to whoever shares it, once a few polls came back empty.
// sleep: back off in the kernel, from 10 us up to 1 ms; the rings absorb what arrives meanwhile
//        (1 ms at 10 Mpps is 10k packets against a 64k ring).
#pragma once

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>

#include "config/config.hpp"

namespace taprec {

class IdleWait {
public:
    explicit IdleWait(IdlePolicy policy) : policy_(policy) {}

    void reset() noexcept { empty_polls_ = 0; }

    void wait() noexcept {
        ++empty_polls_;
        if (policy_ == IdlePolicy::spin || empty_polls_ < spin_polls()) {
            cpu_relax();
            return;
        }
        if (policy_ == IdlePolicy::yield) {
            sched_yield();
            return;
        }
        const uint32_t doublings = std::min<uint32_t>(empty_polls_ - spin_polls(), 7);
        const long ns = std::min<long>(10'000L << doublings, 1'000'000L);
        timespec ts{0, ns};
        nanosleep(&ts, nullptr);
    }

private:
    // Polls that find nothing before a yield or a sleep. yield keeps the core, so it polls a
    // while first: a system call costs more than microseconds of polling, and traffic comes in
    // bursts (measured: with 16, a loaded shared core spent a third of its time in sched_yield).
    // sleep gives the core away, so it does so soon: its threads share cores with busy ones.
    uint32_t spin_polls() const noexcept { return policy_ == IdlePolicy::yield ? 256 : 16; }

    static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }

    IdlePolicy policy_;
    uint32_t empty_polls_ = 0;
};

}  // namespace taprec
