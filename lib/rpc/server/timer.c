/* Deadline min-heap and timerfd of a loop thread; see timer_internal.h. */
#include "timer_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>

#define TIMER_HEAP_MAX (1u << 22)

static void heap_swap(loop_thread_t *lt, size_t a, size_t b)
{
    ferry_timer_entry_t *t = lt->heap[a];
    lt->heap[a] = lt->heap[b];
    lt->heap[b] = t;
    lt->heap[a]->heap_idx = a;
    lt->heap[b]->heap_idx = b;
}

static void heap_up(loop_thread_t *lt, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (lt->heap[p]->deadline_ns <= lt->heap[i]->deadline_ns)
            break;
        heap_swap(lt, i, p);
        i = p;
    }
}

static void heap_down(loop_thread_t *lt, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < lt->heap_len && lt->heap[l]->deadline_ns < lt->heap[m]->deadline_ns)
            m = l;
        if (r < lt->heap_len && lt->heap[r]->deadline_ns < lt->heap[m]->deadline_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(lt, i, m);
        i = m;
    }
}

void ferry_timer_arm(loop_thread_t *lt)
{
    uint64_t at = lt->heap_len > 0 ? lt->heap[0]->deadline_ns : 0;
    /* once forced, the moment has passed: re-arming it would fire at once, forever */
    if (lt->shutting_down && !lt->forced && lt->force_at_ns != 0 && (at == 0 || lt->force_at_ns < at))
        at = lt->force_at_ns;
    if (at == lt->timer_armed_ns)
        return;
    struct itimerspec its = {0};
    if (at != 0) {
        its.it_value.tv_sec = (time_t)(at / 1000000000ull);
        its.it_value.tv_nsec = (long)(at % 1000000000ull);
    }
    timerfd_settime(lt->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    lt->timer_armed_ns = at;
}

int ferry_timer_add(loop_thread_t *lt, ferry_timer_entry_t *e)
{
    if (lt->heap_len == lt->heap_cap) {
        size_t cap = lt->heap_cap ? lt->heap_cap * 2 : 64;
        ferry_timer_entry_t **h =
            cap <= TIMER_HEAP_MAX ? realloc(lt->heap, cap * sizeof(ferry_timer_entry_t *)) : NULL;
        if (h == NULL)
            return -1;
        lt->heap = h;
        lt->heap_cap = cap;
    }
    e->heap_idx = lt->heap_len;
    lt->heap[lt->heap_len++] = e;
    heap_up(lt, e->heap_idx);
    ferry_timer_arm(lt);
    return 0;
}

void ferry_timer_remove(loop_thread_t *lt, ferry_timer_entry_t *e)
{
    size_t i = e->heap_idx;
    if (i == SIZE_MAX)
        return;
    e->heap_idx = SIZE_MAX;
    lt->heap_len--;
    if (i != lt->heap_len) {
        lt->heap[i] = lt->heap[lt->heap_len];
        lt->heap[i]->heap_idx = i;
        heap_up(lt, i);
        heap_down(lt, lt->heap[i]->heap_idx);
    }
    ferry_timer_arm(lt);
}
