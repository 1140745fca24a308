// The DPDK headers taprec uses, included in one place.
//
// DPDK's headers are C that C++20 at warning_level 3 complains about (compound assignment to
// volatile, zero-length arrays, anonymous structs); the warnings are theirs, not ours, so they
// are silenced here and nowhere else.
#pragma once

// rte_eth_read_clock, rte_eth_link_to_str and rte_thread_register are still marked experimental
// in 22.11.
#ifndef ALLOW_EXPERIMENTAL_API
#define ALLOW_EXPERIMENTAL_API
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wvolatile"
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#pragma GCC diagnostic ignored "-Wdeprecated-enum-float-conversion"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_thash.h>
#pragma GCC diagnostic pop
