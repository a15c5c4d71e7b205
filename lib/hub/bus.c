/*
 * The hub's event bus: in-process pub/sub of task events for the streams
 * (WatchAssignments by node id, WatchRelease by release id).
 *
 * Design (why it looks like this):
 * - hub_bus_publish() runs on whatever thread changed a task, often while the
 *   caller still holds the DB lock. It therefore never blocks on I/O and never calls
 *   into a stream: it copies the event into each matching subscriber's bounded ring
 *   (HUB_BUS_SUB_QUEUE events, allocated only while events wait, so 10,000 idle
 *   streams cost a few hundred bytes each) and queues the subscriber for the
 *   dispatcher thread.
 * - One dispatcher thread runs every subscriber callback (snapshot, events,
 *   keep-alives, end). Callbacks may read the database and call
 *   ferry_rpc_call_send() (thread-safe); one thread per hub keeps each stream's
 *   messages in order without per-stream locks.
 * - Slow watchers: consecutive events of one task in the same state are coalesced in
 *   the ring (the newest progress wins), so a watcher loses intermediate progress but
 *   never a state change. If the ring still overflows, or the transport queue is full
 *   (ferry_rpc_call_send -> FERRY_E_UNAVAILABLE, handled in watch.c), the stream is
 *   ended with `unavailable` and the client reconnects (and gets a fresh snapshot).
 * - Keep-alives: the dispatcher scans subscribers once a second and queues those
 *   whose keepalive_s has elapsed since their last message.
 * Lock order: index rwlock -> dispatch mutex. Callbacks run with no bus lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/log.h"
#include "ferry/model/states.h"
#include "hub_agent.h"

#define BUS_BUCKETS 4096 /* power of two; node ids spread well */

enum {
    SUB_NEED_START = 1u << 0,
    SUB_CANCELED = 1u << 1,
    SUB_OVERFLOW = 1u << 2,
    SUB_KEEPALIVE = 1u << 3,
    SUB_DEAD = 1u << 4
};

struct hub_bus {
    pthread_rwlock_t idx_lock; /* buckets, all list, n_subs */
    hub_bus_sub_t *buckets[BUS_BUCKETS];
    hub_bus_sub_t *all_head;
    uint64_t n_subs;

    pthread_mutex_t mu; /* ready list and every sub's ring/flags/queued */
    pthread_cond_t cv;
    hub_bus_sub_t *ready_head, *ready_tail;
    int stop;
    int thread_started;
    pthread_t thread;
};

/* ---- helpers ---------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t bucket_of(hub_bus_key_kind_t kind, int64_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull + (uint64_t)kind;
    return (size_t)(h >> 40) & (BUS_BUCKETS - 1);
}

/* Queues |sub| for the dispatcher. bus->mu held. */
static void make_ready(struct hub_bus *bus, hub_bus_sub_t *sub)
{
    if (sub->queued || (sub->flags & SUB_DEAD))
        return;
    sub->queued = 1;
    sub->ready_next = NULL;
    if (bus->ready_tail != NULL)
        bus->ready_tail->ready_next = sub;
    else
        bus->ready_head = sub;
    bus->ready_tail = sub;
}

/* Removes |sub| from the ready list if queued. bus->mu held. */
static void unready(struct hub_bus *bus, hub_bus_sub_t *sub)
{
    if (!sub->queued)
        return;
    hub_bus_sub_t *prev = NULL;
    for (hub_bus_sub_t *s = bus->ready_head; s != NULL; prev = s, s = s->ready_next) {
        if (s != sub)
            continue;
        if (prev != NULL)
            prev->ready_next = s->ready_next;
        else
            bus->ready_head = s->ready_next;
        if (bus->ready_tail == s)
            bus->ready_tail = prev;
        break;
    }
    sub->queued = 0;
}

/* Appends |ev| to |sub|'s ring, coalescing progress. bus->mu held. */
static void enqueue_event(struct hub_bus *bus, hub_bus_sub_t *sub, const hub_task_event_t *ev)
{
    if (sub->flags & (SUB_DEAD | SUB_CANCELED | SUB_OVERFLOW))
        return;
    if (sub->ring == NULL) {
        sub->ring = malloc(sizeof(*sub->ring) * HUB_BUS_SUB_QUEUE);
        sub->ring_head = sub->ring_count = 0;
        if (sub->ring == NULL) {
            sub->flags |= SUB_OVERFLOW; /* out of memory: the watcher reconnects */
            make_ready(bus, sub);
            return;
        }
    }
    /* The newest queued event of the same task: same state and not an offer -> replace. */
    for (unsigned i = 0; i < sub->ring_count; i++) {
        hub_task_event_t *e = &sub->ring[(sub->ring_head + sub->ring_count - 1 - i) % HUB_BUS_SUB_QUEUE];
        if (e->task_id != ev->task_id)
            continue;
        if (e->state == ev->state && !e->new_assignment && !ev->new_assignment) {
            *e = *ev;
            make_ready(bus, sub);
            return;
        }
        break;
    }
    if (sub->ring_count == HUB_BUS_SUB_QUEUE)
        sub->flags |= SUB_OVERFLOW;
    else
        sub->ring[(sub->ring_head + sub->ring_count++) % HUB_BUS_SUB_QUEUE] = *ev;
    make_ready(bus, sub);
}

/* Takes |sub| out of the index and the ready list; it gets no more callbacks. */
static void unsubscribe(struct hub_bus *bus, hub_bus_sub_t *sub)
{
    pthread_rwlock_wrlock(&bus->idx_lock);
    hub_bus_sub_t **pp = &bus->buckets[bucket_of(sub->kind, sub->key)];
    while (*pp != NULL && *pp != sub)
        pp = &(*pp)->bucket_next;
    if (*pp == sub) {
        *pp = sub->bucket_next;
        if (sub->all_prev != NULL)
            sub->all_prev->all_next = sub->all_next;
        else
            bus->all_head = sub->all_next;
        if (sub->all_next != NULL)
            sub->all_next->all_prev = sub->all_prev;
        bus->n_subs--;
    }
    pthread_mutex_lock(&bus->mu);
    unready(bus, sub);
    sub->flags |= SUB_DEAD;
    free(sub->ring);
    sub->ring = NULL;
    sub->ring_count = 0;
    pthread_mutex_unlock(&bus->mu);
    pthread_rwlock_unlock(&bus->idx_lock);
}

/* ---- public --------------------------------------------------------------------------- */

void hub_bus_subscribe(ferry_hub_t *hub, hub_bus_sub_t *sub)
{
    struct hub_bus *bus = hub->bus;
    size_t b = bucket_of(sub->kind, sub->key);
    sub->hub = hub;
    pthread_rwlock_wrlock(&bus->idx_lock);
    sub->bucket_next = bus->buckets[b];
    bus->buckets[b] = sub;
    sub->all_prev = NULL;
    sub->all_next = bus->all_head;
    if (bus->all_head != NULL)
        bus->all_head->all_prev = sub;
    bus->all_head = sub;
    bus->n_subs++;
    pthread_mutex_lock(&bus->mu);
    sub->flags = SUB_NEED_START;
    sub->next_keepalive_ms = mono_ms() + (int64_t)hub->cfg.keepalive_s * 1000;
    make_ready(bus, sub);
    pthread_cond_signal(&bus->cv);
    pthread_mutex_unlock(&bus->mu);
    pthread_rwlock_unlock(&bus->idx_lock);
}

void hub_bus_cancel(ferry_hub_t *hub, hub_bus_sub_t *sub)
{
    struct hub_bus *bus = hub->bus;
    pthread_mutex_lock(&bus->mu);
    if (!(sub->flags & SUB_DEAD)) {
        sub->flags |= SUB_CANCELED;
        make_ready(bus, sub);
        pthread_cond_signal(&bus->cv);
    }
    pthread_mutex_unlock(&bus->mu);
}

uint64_t hub_bus_subscribers(ferry_hub_t *hub)
{
    struct hub_bus *bus = hub->bus;
    uint64_t n;
    if (bus == NULL)
        return 0;
    pthread_rwlock_rdlock(&bus->idx_lock);
    n = bus->n_subs;
    pthread_rwlock_unlock(&bus->idx_lock);
    return n;
}

void hub_bus_publish(ferry_hub_t *hub, const hub_task_event_t *ev)
{
    struct hub_bus *bus = hub->bus;
    int any = 0;
    if (bus == NULL || ev == NULL)
        return;
    if (ev->new_assignment || ev->state == FERRY_STATE_PENDING)
        hub_presence_note_work(hub, ev->node_id);
    pthread_rwlock_rdlock(&bus->idx_lock);
    for (int k = 0; k < 2; k++) {
        hub_bus_key_kind_t kind = k == 0 ? HUB_BUS_NODE : HUB_BUS_RELEASE;
        int64_t key = k == 0 ? ev->node_id : ev->release_id;
        if (key <= 0)
            continue;
        for (hub_bus_sub_t *s = bus->buckets[bucket_of(kind, key)]; s != NULL; s = s->bucket_next) {
            if (s->kind != kind || s->key != key)
                continue;
            pthread_mutex_lock(&bus->mu);
            enqueue_event(bus, s, ev);
            pthread_mutex_unlock(&bus->mu);
            any = 1;
        }
    }
    pthread_rwlock_unlock(&bus->idx_lock);
    if (any) {
        pthread_mutex_lock(&bus->mu);
        pthread_cond_signal(&bus->cv);
        pthread_mutex_unlock(&bus->mu);
    }
}

/* ---- dispatcher -------------------------------------------------------------------- */

/* Queues every subscriber whose keep-alive is due. */
static void keepalive_scan(struct hub_bus *bus)
{
    int64_t now = mono_ms();
    pthread_rwlock_rdlock(&bus->idx_lock);
    pthread_mutex_lock(&bus->mu);
    for (hub_bus_sub_t *s = bus->all_head; s != NULL; s = s->all_next) {
        if (s->next_keepalive_ms <= now && !(s->flags & (SUB_DEAD | SUB_NEED_START))) {
            s->flags |= SUB_KEEPALIVE;
            make_ready(bus, s);
        }
    }
    pthread_mutex_unlock(&bus->mu);
    pthread_rwlock_unlock(&bus->idx_lock);
}

/* Runs the callbacks |flags| and |ring| ask for. No bus lock held. */
static void process(struct hub_bus *bus, hub_bus_sub_t *sub, unsigned flags, hub_task_event_t *ring,
                    unsigned head, unsigned count)
{
    ferry_rpc_code_t code = FERRY_RPC_OK;
    char msg[256] = "";
    int sent = 0;

    if (flags & SUB_CANCELED) {
        code = FERRY_RPC_CANCELED;
        snprintf(msg, sizeof(msg), "stream canceled");
        goto out;
    }
    if (flags & SUB_NEED_START) {
        code = sub->ops->start(sub, msg, sizeof(msg));
        sent = 1;
    }
    if (code == FERRY_RPC_OK && (flags & SUB_OVERFLOW)) {
        code = FERRY_RPC_UNAVAILABLE;
        snprintf(msg, sizeof(msg),
                 "watcher fell behind (more than %d task changes queued): reconnect for a fresh snapshot",
                 HUB_BUS_SUB_QUEUE);
    }
    for (unsigned i = 0; code == FERRY_RPC_OK && i < count; i++) {
        code = sub->ops->deliver(sub, &ring[(head + i) % HUB_BUS_SUB_QUEUE], msg, sizeof(msg));
        sent = 1;
    }
    if (code == FERRY_RPC_OK && (flags & SUB_KEEPALIVE) && !sent) {
        code = sub->ops->keepalive(sub, msg, sizeof(msg));
        sent = 1;
    }
out:
    free(ring);
    if (code != FERRY_RPC_OK) {
        unsubscribe(bus, sub);
        sub->ops->end(sub, code, msg); /* may free |sub| (through the call's lifetime) */
        return;
    }
    if (sent) {
        pthread_mutex_lock(&bus->mu);
        sub->next_keepalive_ms = mono_ms() + (int64_t)sub->hub->cfg.keepalive_s * 1000;
        pthread_mutex_unlock(&bus->mu);
    }
}

static void *dispatcher(void *arg)
{
    struct hub_bus *bus = arg;
    int64_t next_scan = mono_ms() + 1000;
    pthread_mutex_lock(&bus->mu);
    while (!bus->stop) {
        if (bus->ready_head == NULL) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L; /* wake up to scan keep-alives even when idle */
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&bus->cv, &bus->mu, &ts);
        }
        if (mono_ms() >= next_scan) {
            pthread_mutex_unlock(&bus->mu);
            keepalive_scan(bus);
            next_scan = mono_ms() + 1000;
            pthread_mutex_lock(&bus->mu);
        }
        hub_bus_sub_t *sub = bus->ready_head;
        if (sub == NULL || bus->stop)
            continue;
        bus->ready_head = sub->ready_next;
        if (bus->ready_head == NULL)
            bus->ready_tail = NULL;
        sub->queued = 0;
        unsigned flags = sub->flags;
        sub->flags &= (uint8_t) ~(SUB_NEED_START | SUB_KEEPALIVE | SUB_OVERFLOW | SUB_CANCELED);
        hub_task_event_t *ring = sub->ring;
        unsigned head = sub->ring_head, count = sub->ring_count;
        sub->ring = NULL;
        sub->ring_count = 0;
        pthread_mutex_unlock(&bus->mu);
        process(bus, sub, flags, ring, head, count);
        pthread_mutex_lock(&bus->mu);
    }
    pthread_mutex_unlock(&bus->mu);
    return NULL;
}

ferry_err_code_t hub_bus_init(ferry_hub_t *hub, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    struct hub_bus *bus = calloc(1, sizeof(*bus));
    if (bus == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "bus: out of memory");
    pthread_rwlock_init(&bus->idx_lock, NULL);
    pthread_mutex_init(&bus->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&bus->cv, &ca);
    pthread_condattr_destroy(&ca);
    hub->bus = bus;
    if (pthread_create(&bus->thread, NULL, dispatcher, bus) != 0) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "bus: cannot start the dispatcher thread");
        goto out;
    }
    bus->thread_started = 1;
    rc = hub_presence_init(hub, err);
out:
    return rc;
}

void hub_bus_free(ferry_hub_t *hub)
{
    struct hub_bus *bus = hub->bus;
    if (bus == NULL)
        return;
    if (bus->thread_started) {
        pthread_mutex_lock(&bus->mu);
        bus->stop = 1;
        pthread_cond_signal(&bus->cv);
        pthread_mutex_unlock(&bus->mu);
        pthread_join(bus->thread, NULL);
    }
    hub_presence_free(hub);
    /* Streams still registered belong to calls the server already freed (it stopped
     * first); only our rings are ours to release. */
    for (hub_bus_sub_t *s = bus->all_head; s != NULL; s = s->all_next) {
        free(s->ring);
        s->ring = NULL;
    }
    pthread_cond_destroy(&bus->cv);
    pthread_mutex_destroy(&bus->mu);
    pthread_rwlock_destroy(&bus->idx_lock);
    free(bus);
    hub->bus = NULL;
}
