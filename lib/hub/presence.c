/*
 * Node presence: what the hub knows of each node's agent between database writes.
 *
 * A check-in must not cost an fsync (target: >= 20,000 CheckIn/s on two cores).
 * Last-seen times and agent facts live in an in-memory table; a background thread
 * writes the changed rows to `node` (the presence repository, ferry/store/presence.h)
 * every HUB_PRESENCE_FLUSH_MS in ONE transaction per chunk. A crash loses at most that
 * window of last-seen history, which only shifts the online/offline display. The table
 * also keeps a per-node "may have work" hint so an idle node's CheckIn answers from
 * memory: the hint is set by the bus on every new assignment and cleared only by a
 * CheckIn that found nothing open while no new assignment arrived meanwhile
 * (generation counter), so no task is ever missed.
 *
 * The table hangs off the hub (hub->presence); the bus starts and stops it with
 * itself (hub_bus_init / hub_bus_free), so its final flush runs before the store closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/log.h"
#include "ferry/store/presence.h"
#include "hub_agent.h"

/* ---- pure ------------------------------------------------------------------------ */

int hub_connectivity(int64_t last_seen_ms, int64_t now_ms, uint32_t offline_after_s)
{
    if (last_seen_ms <= 0)
        return FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN;
    if (now_ms - last_seen_ms <= (int64_t)offline_after_s * 1000)
        return FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE;
    return FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE;
}

/* ---- presence ----------------------------------------------------------------------- */

typedef struct pres_entry {
    int64_t node_id; /* 0 = empty slot */
    int64_t last_seen_ms;
    int64_t current_task_id;
    uint64_t free_disk;
    uint32_t work_gen; /* bumped on every new assignment */
    uint8_t dirty;     /* last-seen changed since the last flush */
    uint8_t has_facts; /* the agent facts below are set and must be written */
    uint8_t work_hint; /* 1: the node may have open tasks, CheckIn must query */
    char agent_version[24];
    char installed_version[32];
} pres_entry_t;

struct hub_presence {
    pthread_mutex_t mu;
    pres_entry_t *slots;
    size_t cap, used;
    pthread_cond_t cv;
    int stop;
    int started;
    pthread_t thread;
    ferry_hub_t *hub;
};

static struct hub_presence *presence_of(ferry_hub_t *hub)
{
    return hub->presence;
}

static size_t slot_of(int64_t id, size_t cap)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

/* Doubles the table. mu held. */
static int grow(struct hub_presence *pr)
{
    size_t ncap = pr->cap ? pr->cap * 2 : 1024;
    pres_entry_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < pr->cap; i++) {
        if (pr->slots[i].node_id == 0)
            continue;
        size_t j = slot_of(pr->slots[i].node_id, ncap);
        while (ns[j].node_id != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = pr->slots[i];
    }
    free(pr->slots);
    pr->slots = ns;
    pr->cap = ncap;
    return 0;
}

/* The entry of |id|, created (work_hint = 1: unknown) if |create|. mu held. */
static pres_entry_t *find(struct hub_presence *pr, int64_t id, int create)
{
    if (id <= 0)
        return NULL;
    if (pr->cap > 0) {
        size_t j = slot_of(id, pr->cap);
        while (pr->slots[j].node_id != 0) {
            if (pr->slots[j].node_id == id)
                return &pr->slots[j];
            j = (j + 1) & (pr->cap - 1);
        }
    }
    if (!create)
        return NULL;
    if ((pr->used + 1) * 10 > pr->cap * 7 && grow(pr) != 0)
        return NULL;
    size_t j = slot_of(id, pr->cap);
    while (pr->slots[j].node_id != 0)
        j = (j + 1) & (pr->cap - 1);
    memset(&pr->slots[j], 0, sizeof(pr->slots[j]));
    pr->slots[j].node_id = id;
    pr->slots[j].work_hint = 1;
    pr->used++;
    return &pr->slots[j];
}

/* Records a sign of life (and |facts|) in |e|. mu held. */
static void touch_locked(pres_entry_t *e, int64_t now, const hub_agent_facts_t *facts)
{
    e->last_seen_ms = now;
    e->dirty = 1;
    if (facts != NULL && facts->has_facts) {
        if (facts->agent_version != NULL)
            snprintf(e->agent_version, sizeof(e->agent_version), "%s", facts->agent_version);
        if (facts->installed_version != NULL)
            snprintf(e->installed_version, sizeof(e->installed_version), "%s", facts->installed_version);
        e->free_disk = facts->free_disk_bytes;
        e->current_task_id = facts->current_task_id;
        e->has_facts = 1;
    }
}

void hub_presence_touch(ferry_hub_t *hub, int64_t node_id, const hub_agent_facts_t *facts)
{
    struct hub_presence *pr = presence_of(hub);
    if (pr == NULL)
        return;
    int64_t now = hub_now_ms();
    pthread_mutex_lock(&pr->mu);
    pres_entry_t *e = find(pr, node_id, 1);
    if (e != NULL)
        touch_locked(e, now, facts);
    pthread_mutex_unlock(&pr->mu);
}

int hub_presence_touch_hint(ferry_hub_t *hub, int64_t node_id, const hub_agent_facts_t *facts, uint32_t *gen)
{
    struct hub_presence *pr = presence_of(hub);
    int hint = 1;
    *gen = 0;
    if (pr == NULL)
        return 1;
    int64_t now = hub_now_ms();
    pthread_mutex_lock(&pr->mu);
    pres_entry_t *e = find(pr, node_id, 1);
    if (e != NULL) {
        touch_locked(e, now, facts);
        hint = e->work_hint;
        *gen = e->work_gen;
    }
    pthread_mutex_unlock(&pr->mu);
    return hint;
}

void hub_presence_note_work(ferry_hub_t *hub, int64_t node_id)
{
    struct hub_presence *pr = presence_of(hub);
    if (pr == NULL)
        return;
    pthread_mutex_lock(&pr->mu);
    pres_entry_t *e = find(pr, node_id, 1);
    if (e != NULL) {
        e->work_hint = 1;
        e->work_gen++;
    } else {
        /* Out of memory: make every node look again rather than miss a task. */
        for (size_t i = 0; i < pr->cap; i++)
            pr->slots[i].work_hint = 1;
    }
    pthread_mutex_unlock(&pr->mu);
}

int hub_presence_work_hint(ferry_hub_t *hub, int64_t node_id, uint32_t *gen)
{
    struct hub_presence *pr = presence_of(hub);
    int hint = 1;
    *gen = 0;
    if (pr == NULL)
        return 1;
    pthread_mutex_lock(&pr->mu);
    pres_entry_t *e = find(pr, node_id, 1);
    if (e != NULL) {
        hint = e->work_hint;
        *gen = e->work_gen;
    }
    pthread_mutex_unlock(&pr->mu);
    return hint;
}

void hub_presence_clear_hint(ferry_hub_t *hub, int64_t node_id, uint32_t gen)
{
    struct hub_presence *pr = presence_of(hub);
    if (pr == NULL)
        return;
    pthread_mutex_lock(&pr->mu);
    pres_entry_t *e = find(pr, node_id, 0);
    if (e != NULL && e->work_gen == gen)
        e->work_hint = 0;
    pthread_mutex_unlock(&pr->mu);
}

int64_t hub_presence_last_seen(ferry_hub_t *hub, int64_t node_id)
{
    struct hub_presence *pr = presence_of(hub);
    int64_t v = 0;
    if (pr == NULL)
        return 0;
    pthread_mutex_lock(&pr->mu);
    pres_entry_t *e = find(pr, node_id, 0);
    if (e != NULL)
        v = e->last_seen_ms;
    pthread_mutex_unlock(&pr->mu);
    return v;
}

uint64_t hub_presence_count_online(ferry_hub_t *hub)
{
    struct hub_presence *pr = presence_of(hub);
    uint64_t n = 0;
    int64_t now = hub_now_ms();
    if (pr == NULL)
        return 0;
    pthread_mutex_lock(&pr->mu);
    for (size_t i = 0; i < pr->cap; i++) {
        const pres_entry_t *e = &pr->slots[i];
        if (e->node_id != 0 && hub_connectivity(e->last_seen_ms, now, hub->cfg.offline_after_s) ==
                                   FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE)
            n++;
    }
    pthread_mutex_unlock(&pr->mu);
    return n;
}

/* Rows per presence-flush transaction (see hub_presence_flush). */
#define PRESENCE_FLUSH_CHUNK 4096

static int by_node_id(const void *a, const void *b)
{
    int64_t x = ((const pres_entry_t *)a)->node_id, y = ((const pres_entry_t *)b)->node_id;
    return x < y ? -1 : x > y;
}

ferry_err_code_t hub_presence_flush(ferry_hub_t *hub, ferry_err_t *err)
{
    struct hub_presence *pr = presence_of(hub);
    ferry_err_code_t rc = FERRY_OK;
    pres_entry_t *batch = NULL;
    ferry_store_presence_row_t *rows = NULL;
    size_t n = 0, done = 0;
    bool locked = false, in_tx = false;

    if (pr == NULL || hub->store == NULL)
        return FERRY_OK;
    pthread_mutex_lock(&pr->mu);
    for (size_t i = 0; i < pr->cap; i++)
        n += pr->slots[i].dirty;
    if (n > 0 && (batch = malloc(n * sizeof(*batch))) != NULL) {
        size_t k = 0;
        for (size_t i = 0; i < pr->cap; i++) {
            if (!pr->slots[i].dirty)
                continue;
            batch[k++] = pr->slots[i];
            pr->slots[i].dirty = 0;
        }
    }
    pthread_mutex_unlock(&pr->mu);
    if (n == 0)
        goto out;
    if (batch == NULL || (rows = malloc(n * sizeof(*rows))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "presence flush: out of memory");
        goto out;
    }
    /* In rowid order the updates walk the node table once, page after page (hash
     * order would touch pages at random and spill SQLite's small page cache). In
     * chunks: the writer lock is never held for more than one chunk, so reports,
     * binds and check-ins with work wait for at most that (not for 100k rows). */
    qsort(batch, n, sizeof(*batch), by_node_id);
    for (size_t i = 0; i < n; i++)
        rows[i] = (ferry_store_presence_row_t){batch[i].node_id,           batch[i].last_seen_ms,
                                               batch[i].has_facts != 0,    batch[i].agent_version,
                                               batch[i].installed_version, batch[i].free_disk,
                                               batch[i].current_task_id};
    while (done < n) {
        size_t end = n - done > PRESENCE_FLUSH_CHUNK ? done + PRESENCE_FLUSH_CHUNK : n;
        ferry_store_lock(hub->store);
        locked = true;
        if ((rc = ferry_store_tx_begin(hub->store, err)) != FERRY_OK)
            goto out;
        in_tx = true;
        if ((rc = ferry_store_presence_flush(hub->store, rows + done, end - done, err)) != FERRY_OK)
            goto out;
        rc = ferry_store_tx_commit(hub->store, err); /* rolls back itself on failure */
        in_tx = false;
        if (rc != FERRY_OK)
            goto out;
        ferry_store_unlock(hub->store);
        locked = false;
        done = end;
    }
out:
    if (in_tx)
        ferry_store_tx_rollback(hub->store);
    if (locked)
        ferry_store_unlock(hub->store);
    if (rc != FERRY_OK && batch != NULL) {
        /* Mark the rows not committed dirty again so the next flush retries. */
        pthread_mutex_lock(&pr->mu);
        for (size_t i = done; i < n; i++) {
            pres_entry_t *e = find(pr, batch[i].node_id, 0);
            if (e != NULL)
                e->dirty = 1;
        }
        pthread_mutex_unlock(&pr->mu);
    }
    free(rows);
    free(batch);
    return rc;
}

static void *flusher(void *arg)
{
    struct hub_presence *pr = arg;
    pthread_mutex_lock(&pr->mu);
    while (!pr->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += HUB_PRESENCE_FLUSH_MS / 1000;
        ts.tv_nsec += (HUB_PRESENCE_FLUSH_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pr->cv, &pr->mu, &ts);
        if (pr->stop)
            break;
        pthread_mutex_unlock(&pr->mu);
        ferry_err_t err = {0};
        if (hub_presence_flush(pr->hub, &err) != FERRY_OK)
            FERRY_WARN("presence flush failed (will retry): %s", err.msg);
        pthread_mutex_lock(&pr->mu);
    }
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

/* Presence load at start (store lock and pr->mu held by the caller's sequence). */
typedef struct presence_load {
    struct hub_presence *pr;
    int64_t since; /* last seen at or after: still online */
} presence_load_t;

static void load_node(void *ctx, int64_t node_id, int64_t last_seen)
{
    presence_load_t *l = ctx;
    pres_entry_t *e = find(l->pr, node_id, 1);
    if (e == NULL)
        return;
    e->work_hint = 0;
    if (last_seen > 0 && last_seen >= l->since)
        e->last_seen_ms = last_seen;
}

static void load_busy(void *ctx, int64_t node_id)
{
    presence_load_t *l = ctx;
    pres_entry_t *e = find(l->pr, node_id, 1);
    if (e != NULL)
        e->work_hint = 1;
}

ferry_err_code_t hub_presence_init(ferry_hub_t *hub, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    struct hub_presence *pr = calloc(1, sizeof(*pr));
    if (pr == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "presence: out of memory");
    pthread_mutex_init(&pr->mu, NULL);
    pthread_cond_init(&pr->cv, NULL);
    pr->hub = hub;
    hub->presence = pr;
    if (grow(pr) != 0) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "presence: out of memory");
        goto out;
    }
    /* Every known node starts with a known work hint, so each node's first check-in
     * after a restart is answered from memory like any other, instead of one
     * database query per node on the workers: nodes with an open task (the condition
     * of hub_agent_load_assignments) start with the hint set, the others idle. If the
     * open-task query fails, every hint stays set (a node may look in vain, never
     * miss a task). Nodes seen recently before a restart still count as online. */
    if (hub->store != NULL) {
        presence_load_t l = {pr, hub_now_ms() - (int64_t)hub->cfg.offline_after_s * 1000};
        ferry_err_t lerr = {0};
        bool tasks_ok;
        ferry_store_lock(hub->store);
        if (ferry_store_presence_nodes(hub->store, load_node, &l, &lerr) != FERRY_OK)
            FERRY_WARN("presence: loading nodes failed: %s", lerr.msg);
        tasks_ok = ferry_store_presence_busy_nodes(hub->store, load_busy, &l, &lerr) == FERRY_OK;
        ferry_store_unlock(hub->store);
        for (size_t i = 0; !tasks_ok && i < pr->cap; i++)
            pr->slots[i].work_hint = 1;
    }
    if (pthread_create(&pr->thread, NULL, flusher, pr) != 0) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "presence: cannot start the flush thread");
        goto out;
    }
    pr->started = 1;
out:
    return rc;
}

void hub_presence_free(ferry_hub_t *hub)
{
    struct hub_presence *pr = presence_of(hub);
    if (pr == NULL)
        return;
    if (pr->started) {
        pthread_mutex_lock(&pr->mu);
        pr->stop = 1;
        pthread_cond_signal(&pr->cv);
        pthread_mutex_unlock(&pr->mu);
        pthread_join(pr->thread, NULL);
    }
    ferry_err_t err = {0};
    if (hub_presence_flush(hub, &err) != FERRY_OK)
        FERRY_WARN("final presence flush failed: %s", err.msg);
    hub->presence = NULL;
    pthread_cond_destroy(&pr->cv);
    pthread_mutex_destroy(&pr->mu);
    free(pr->slots);
    free(pr);
}
