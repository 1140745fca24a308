// The counters each pipeline stage keeps, per port of its tap. Each struct is owned by one thread
// and sits on its own cache lines; the stats thread only reads.
#pragma once

#include <array>

#include "pipeline/buffer_return.hpp"
#include "ring/spsc_ring.hpp"
#include "stats/counter.hpp"

namespace taprec {

template <typename T>
using PerPort = std::array<T, max_ports_per_tap>;

// rx thread: packets taken from the driver, and what the rx_to_worker ring refused.
struct alignas(cache_line_size) RxCounters {
    Counter received;
    Counter bytes;         // wire bytes of received packets
    Counter dropped_ring;  // rx_to_worker ring full
    Counter clamped;       // timestamps far ahead of the port's clock, set back to it
    Counter loops;         // poll iterations: the watchdog's proof that the thread is alive
};

// worker: per port of the packets it handled, and its own share of the tap.
struct alignas(cache_line_size) WorkerCounters {
    Counter received;               // taken from its rx_to_worker rings
    Counter handed_on;              // pushed to its worker_to_writer ring
    PerPort<Counter> filtered;      // rejected by the BPF filter
    PerPort<Counter> truncated;     // cut to snaplen
    PerPort<Counter> late;          // older than a packet the merge had already emitted
    PerPort<Counter> dropped_ring;  // worker_to_writer ring full
    Counter idle_polls;             // polls that found nothing; lets the stats tell busy from idle
    Counter loops;                  // iterations: the watchdog's proof that the thread is alive
};

// writer: per port of the packets it handled, and per tap.
struct alignas(cache_line_size) WriterCounters {
    PerPort<Counter> written;        // in a file (handed to the kernel)
    PerPort<Counter> written_bytes;  // record bytes (caplen) in files
    PerPort<Counter> dropped_writer; // could not be written (write error, full disk)
    PerPort<Counter> late;           // older than a packet already written
    PerPort<Counter> late_here;      // of those, made late by the writer's merge, not a worker's
    Counter files;                   // files published
    Counter write_errors;            // failed writes (each may cost many packets)
    Counter loops;                   // iterations: the watchdog's proof that the thread is alive
};

}  // namespace taprec
