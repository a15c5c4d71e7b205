/**
 * @file timer_internal.h
 * Per-loop-thread deadlines: a min-heap of ferry_timer_entry_t (lt->heap) driving the
 * loop's timerfd (lt->timer_fd), which also wakes the loop at the forced-shutdown time.
 * The heap only orders entries; what an entry belongs to (a call) is its owner's
 * business, so the heap sits below both the call machinery and the server lifecycle.
 *
 * Threads: every function runs on the entry's loop thread only.
 */
#ifndef FERRY_RPC_SERVER_TIMER_INTERNAL_H
#define FERRY_RPC_SERVER_TIMER_INTERNAL_H

#include "runtime_internal.h"

/**
 * Puts |e| (e->deadline_ns set, not in a heap) into |lt|'s heap and re-arms the timerfd.
 * Returns 0, or -1 when the heap is full or cannot grow: |e| is then not in the heap.
 */
int ferry_timer_add(loop_thread_t *lt, ferry_timer_entry_t *e);

/** Takes |e| out of |lt|'s heap and re-arms the timerfd; a no-op when it is not in it. */
void ferry_timer_remove(loop_thread_t *lt, ferry_timer_entry_t *e);

/**
 * Arms |lt|'s timerfd for the earliest deadline, or the forced-shutdown time when that
 * comes first during shutdown; disarms it when there is neither.
 */
void ferry_timer_arm(loop_thread_t *lt);

#endif
