/*
 * The hub's AgentService (Bind, CheckIn, GetAssignment, GetDownload; GetLicenseStatus
 * is licenses.c's) and node presence (last-seen, online/offline).
 *
 * Presence: a check-in must not cost an fsync (target: >= 20,000 CheckIn/s on two
 * cores). Last-seen times and agent facts live in an in-memory table; a background
 * thread writes the changed rows to `node` every HUB_PRESENCE_FLUSH_MS in ONE
 * transaction. A crash loses at most that window of last-seen history, which only
 * shifts the online/offline display. The table also keeps a per-node "may have work"
 * hint so an idle node's CheckIn answers from memory: the hint is set by the bus on
 * every new assignment and cleared only by a CheckIn that found nothing open while no
 * new assignment arrived meanwhile (generation counter), so no task is ever missed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_internal.h"
#include "ferry/log.h"
#include "ferry/model/states.h"
#include "ferry/store/assign.h"
#include "ferry/store/presence.h"
#include "ferry/store/reports.h"
#include "hub_agent.h"
#include "hub_frame.h"
#include "hub_fleet.h"

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
    return hub->bus != NULL ? *hub_bus_presence_slot(hub) : NULL;
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

/* hub_presence_touch() and presence_work_hint() in one lookup (every CheckIn). */
static int presence_touch_hint(ferry_hub_t *hub, int64_t node_id, const hub_agent_facts_t *facts,
                               uint32_t *gen)
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

/* 1 if |node_id| may have work (and *gen = its generation). */
static int presence_work_hint(ferry_hub_t *hub, int64_t node_id, uint32_t *gen)
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

/* The node had nothing open at generation |gen|: idle until the next offer. */
static void presence_clear_hint(ferry_hub_t *hub, int64_t node_id, uint32_t gen)
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
    *hub_bus_presence_slot(hub) = pr;
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
    *hub_bus_presence_slot(hub) = NULL;
    pthread_cond_destroy(&pr->cv);
    pthread_mutex_destroy(&pr->mu);
    free(pr->slots);
    free(pr);
}

/* ---- assignments -------------------------------------------------------------------- */

/* Fills a PackageManifest (the facts; the signed form comes with GetDownload). */
static Ferry__V1__PackageManifest *manifest_of(hub_arena_t *a, const Ferry__V1__Package *pkg)
{
    Ferry__V1__PackageManifest *m = hub_arena_alloc(a, sizeof(*m));
    if (m == NULL)
        return NULL;
    ferry__v1__package_manifest__init(m);
    m->version = pkg->version;
    m->version_info = pkg->version_info;
    m->size = pkg->size;
    m->sha256 = pkg->sha256;
    m->n_parts = pkg->n_parts;
    m->parts = pkg->parts;
    m->type = pkg->type;
    return m;
}

ferry_err_code_t hub_agent_load_assignments(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                            int64_t only_task, Ferry__V1__Assignment ***out, size_t *n,
                                            char ***halted, size_t *n_halted, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_store_open_task_t open[FERRY_STORE_ASSIGN_MAX];
    size_t n_open = 0;
    int64_t now = hub_now_ms();
    /* MAINTENANCE or EXPIRED: no task starts there; pending ones are held like a paused
     * release's and offered again when the node is released (fleet_status.c). */
    bool blocked = hub_fleet_node_blocked(hub, node_id);

    *out = NULL;
    *n = 0;
    if (halted != NULL) {
        *halted = NULL;
        *n_halted = 0;
    }
    ferry_store_lock(hub->store);
    /* Open tasks, oldest first; capped (an agent runs one at a time; the rest come
     * on the next check-in). */
    if ((rc = ferry_store_node_open_tasks(hub->store, node_id, only_task, open, FERRY_STORE_ASSIGN_MAX,
                                          &n_open, err)) != FERRY_OK ||
        n_open == 0)
        goto out;
    *out = hub_arena_alloc(a, n_open * sizeof(**out));
    if (halted != NULL)
        *halted = hub_arena_alloc(a, n_open * sizeof(**halted));
    if (*out == NULL || (halted != NULL && *halted == NULL)) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "load assignments: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_open; i++) {
        if (open[i].halted && halted != NULL && only_task <= 0) {
            (*halted)[(*n_halted)++] = hub_arena_printf(a, "%" PRId64, open[i].id);
            continue;
        }
        Ferry__V1__Assignment *as = hub_arena_alloc(a, sizeof(*as));
        Ferry__V1__UpdateTask *t = hub_arena_alloc(a, sizeof(*t));
        Ferry__V1__Package pkg;
        if (as == NULL || t == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "load assignments: out of memory");
            goto out;
        }
        ferry__v1__assignment__init(as);
        ferry__v1__update_task__init(t);
        ferry__v1__package__init(&pkg);
        if ((rc = hub_task_load(hub, a, open[i].id, now, t, err)) != FERRY_OK)
            goto out;
        if (blocked && (int)t->state == FERRY_STATE_PENDING) {
            if (halted != NULL && only_task <= 0) {
                (*halted)[(*n_halted)++] = hub_arena_printf(a, "%" PRId64, open[i].id);
                continue;
            }
            t->halted = true;
        }
        t->halted = t->halted || open[i].halted;
        as->task = t;
        if (t->package_version != NULL && t->package_version[0] != '\0' &&
            hub_package_load(hub, a, t->package_version, &pkg, NULL, NULL, err) == FERRY_OK)
            as->manifest = manifest_of(a, &pkg);
        as->forced_now = t->policy == FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
        as->resume_checkpoint = t->checkpoint != NULL ? t->checkpoint : (char *)"";
        if (t->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK) {
            ferry_err_t rerr = {0};
            char *path = NULL;
            if (ferry_store_rollback_backup_path(hub->store, a, open[i].id, &path, &rerr) == FERRY_OK &&
                path != NULL)
                as->rollback_backup_path = path;
        }
        (*out)[(*n)++] = as;
    }
out:
    ferry_store_unlock(hub->store);
    return rc;
}

ferry_err_code_t hub_agent_load_tasks(ferry_hub_t *hub, hub_arena_t *a, int64_t release_id, int64_t task_id,
                                      Ferry__V1__UpdateTask ***out, size_t *n, ferry_err_t *err)
{
    ferry_err_code_t rc;
    int64_t now = hub_now_ms(), *ids = NULL;
    size_t n_ids = 0;

    *out = NULL;
    *n = 0;
    ferry_store_lock(hub->store);
    if ((rc = ferry_store_release_task_ids(hub->store, a, release_id, task_id, &ids, &n_ids, err)) !=
            FERRY_OK ||
        n_ids == 0)
        goto out;
    if ((*out = hub_arena_alloc(a, n_ids * sizeof(**out))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "load release tasks: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(a, sizeof(*t));
        if (t == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "load release tasks: out of memory");
            goto out;
        }
        ferry__v1__update_task__init(t);
        if ((rc = hub_task_load(hub, a, ids[i], now, t, err)) != FERRY_OK)
            goto out;
        (*out)[(*n)++] = t;
    }
out:
    ferry_store_unlock(hub->store);
    return rc;
}

/* ---- handlers ------------------------------------------------------------------------ */

/* The calling node, or NULL after failing |call| (the auth interceptor normally
 * refuses non-node tokens before we get here; this is the second line). */
static void fill_keys(ferry_hub_t *hub, hub_arena_t *a, Ferry__V1__SigningKey ***out, size_t *n)
{
    Ferry__V1__SigningKey **keys = hub_arena_alloc(a, sizeof(*keys));
    Ferry__V1__SigningKey *k = hub_arena_alloc(a, sizeof(*k));
    char id[17];
    *n = 0;
    if (keys == NULL || k == NULL)
        return;
    ferry__v1__signing_key__init(k);
    hub_signing_key_id(hub, id);
    k->key_id = hub_arena_strdup(a, id);
    k->algorithm = (char *)"ed25519";
    k->public_key.data = hub->signing_pub;
    k->public_key.len = sizeof(hub->signing_pub);
    keys[0] = k;
    *out = keys;
    *n = 1;
}

static Google__Protobuf__Duration *poll_duration(ferry_hub_t *hub, hub_arena_t *a)
{
    Google__Protobuf__Duration *d = hub_arena_alloc(a, sizeof(*d));
    if (d != NULL) {
        google__protobuf__duration__init(d);
        d->seconds = hub->cfg.poll_interval_s;
    }
    return d;
}

/* The method rows of the handlers that fit the frame (CheckIn keeps its own: an idle
 * node is answered on the event loop, from memory). */
HUB_METHOD(agent, bind, Ferry__V1__BindRequest, Ferry__V1__BindResponse, HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(agent, get_assignment, Ferry__V1__GetAssignmentRequest, Ferry__V1__GetAssignmentResponse,
           HUB_FRAME_NODE | HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(agent, get_download, Ferry__V1__GetDownloadRequest, Ferry__V1__GetDownloadResponse,
           HUB_FRAME_NODE | HUB_FRAME_OFFLOAD, NULL)

/* Bind: everything is checked before anything is said; every refusal reads the same. */
static ferry_err_code_t bind_body(hub_frame_t *f, const Ferry__V1__BindRequest *req,
                                  Ferry__V1__BindResponse *resp, ferry_err_t *err)
{
    ferry_hub_t *hub = f->hub;
    hub_arena_t *a = &f->arena;
    char tok_id[HUB_TOKEN_ID_LEN + 1];
    uint8_t hash[FERRY_SHA256_LEN];
    bool ok = false;
    int64_t now = hub_now_ms(), bound_at = 0;
    Ferry__V1__Node *node = NULL;
    hub_principal_t p;
    ferry_err_t why = {0};
    hub_agent_facts_t facts = {0};

    const char *token = req->token != NULL ? req->token : "";
    if (hub_token_parse(token, strlen(token), tok_id, hash) != HUB_TOKEN_NODE)
        goto out;
    /* The token and "enabled" (node, store, customer): the same rule as every other
     * node-authenticated method. */
    if (hub_auth_node(hub, tok_id, hash, &p, &why) != FERRY_OK) {
        FERRY_WARN("bind: %s refused: %s", f->call != NULL ? ferry_rpc_call_request_id(f->call) : "-",
                   why.msg);
        goto out;
    }
    ferry_store_lock(hub->store);
    if (ferry_store_node_for_bind(hub->store, a, p.node_id, &node, &bound_at, &why) == FERRY_OK) {
        /* Compare both, then decide once. */
        bool code_ok = req->node_code != NULL && strcmp(node->code, req->node_code) == 0;
        bool env_ok = (int)req->environment == (int)node->environment;
        ok = code_ok && env_ok;
        /* First bind: recorded durably (a single-statement autocommit, synchronous=FULL). */
        if (ok && bound_at <= 0) {
            ok = ferry_store_node_mark_bound(hub->store, p.node_id, now, &why) == FERRY_OK;
            bound_at = now;
        }
    }
    ferry_store_unlock(hub->store);
out:
    if (!ok)
        return ferry_err_set(
            err, FERRY_E_AUTH_INVALID,
            "bind refused: the node code, environment and token do not match an enabled node");
    if (req->agent != NULL) {
        facts.has_facts = true;
        facts.agent_version = req->agent->agent_version;
        facts.installed_version = req->agent->installed_version;
        facts.free_disk_bytes = req->agent->free_disk_bytes;
    }
    hub_presence_touch(hub, p.node_id, &facts);
    node->bound_at = hub_arena_ts(a, bound_at);
    node->connectivity = FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE;
    node->last_seen_at = hub_arena_ts(a, now);
    resp->node = node;
    fill_keys(hub, a, &resp->signing_keys, &resp->n_signing_keys);
    resp->poll_interval = poll_duration(hub, a);
    resp->server_time = hub_arena_ts(a, now);
    return FERRY_OK; /* an arena that ran out of memory: the frame answers E_NOMEM */
}

/* CheckIn with possible work: the DB part, on a worker. */
static void check_in_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CheckInRequest *req = vreq;
    const hub_principal_t *p = hub_principal(call);
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    uint32_t gen = 0;
    Ferry__V1__CheckInResponse resp = FERRY__V1__CHECK_IN_RESPONSE__INIT;

    presence_work_hint(hub, p->node_id, &gen);
    if (hub_agent_load_assignments(hub, &a, p->node_id, 0, &resp.assignments, &resp.n_assignments,
                                   &resp.halted_task_ids, &resp.n_halted_task_ids, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    if (resp.n_assignments == 0 && resp.n_halted_task_ids == 0)
        presence_clear_hint(hub, p->node_id, gen);
    /* Licence and configuration (fleet): a failure there never withholds the tasks. */
    if (hub_fleet_checkin_fill(hub, &a, p->node_id, req->license_sha256, &resp, &err) != FERRY_OK)
        FERRY_WARN("check-in: node %" PRId64 ": licence/configuration not sent: %s", p->node_id, err.msg);
    resp.poll_interval = poll_duration(hub, &a);
    resp.server_time = hub_arena_ts(&a, hub_now_ms());
    ferry_v1_agent_service_check_in_reply(call, &resp);
out:
    hub_arena_free(&a);
}

static void check_in_h(ferry_rpc_call_t *call, const Ferry__V1__CheckInRequest *req, void *user)
{
    ferry_hub_t *hub = user;
    const hub_principal_t *p = hub_node_principal(call);
    hub_agent_facts_t f = {0};
    uint32_t gen;
    int64_t task_id = 0;
    if (p == NULL)
        return;
    if (req->agent != NULL) {
        f.has_facts = true;
        f.agent_version = req->agent->agent_version;
        f.installed_version = req->agent->installed_version;
        f.free_disk_bytes = req->agent->free_disk_bytes;
    }
    if (req->current_task_id != NULL && req->current_task_id[0] != '\0' &&
        hub_parse_id(req->current_task_id, "current_task_id", &task_id, NULL) != FERRY_OK)
        task_id = 0; /* informational only: a bad id is ignored, never stored */
    f.current_task_id = task_id;
    if (presence_touch_hint(hub, p->node_id, &f, &gen) ||
        hub_fleet_checkin_pending(hub, p->node_id, req->license_sha256)) {
        hub_offload(call, hub, req, check_in_work);
        return;
    }
    /* Idle node: answered from memory on the loop (no DB, no allocation). */
    Ferry__V1__CheckInResponse resp = FERRY__V1__CHECK_IN_RESPONSE__INIT;
    Google__Protobuf__Duration poll = GOOGLE__PROTOBUF__DURATION__INIT;
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    int64_t ms = hub_now_ms();
    poll.seconds = hub->cfg.poll_interval_s;
    now.seconds = ms / 1000;
    now.nanos = (int32_t)(ms % 1000) * 1000000;
    resp.poll_interval = &poll;
    resp.server_time = &now;
    ferry_v1_agent_service_check_in_reply(call, &resp);
}

/* The caller's task |id_str| into *task_id: E_NOT_FOUND when it does not exist,
 * E_PERMISSION when it is another node's. */
static ferry_err_code_t own_task(hub_frame_t *f, const char *id_str, int64_t *task_id, ferry_err_t *err)
{
    int64_t owner = 0;
    ferry_err_t lerr = {0};
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(id_str, "task_id", task_id, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(f->store);
    if (ferry_store_task_node(f->store, *task_id, &owner, &lerr) != FERRY_OK)
        owner = 0;
    ferry_store_unlock(f->store);
    if (owner == 0)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "task %s not found", id_str);
    if (owner != f->me->node_id)
        return ferry_err_set(err, FERRY_E_PERMISSION, "task %s belongs to another node", id_str);
    return FERRY_OK;
}

static ferry_err_code_t get_assignment_body(hub_frame_t *f, const Ferry__V1__GetAssignmentRequest *req,
                                            Ferry__V1__GetAssignmentResponse *resp, ferry_err_t *err)
{
    int64_t id;
    Ferry__V1__Assignment **as = NULL;
    size_t n = 0;
    ferry_err_code_t rc;

    if ((rc = own_task(f, req->task_id, &id, err)) != FERRY_OK ||
        (rc = hub_agent_load_assignments(f->hub, &f->arena, f->me->node_id, id, &as, &n, NULL, NULL, err)) !=
            FERRY_OK)
        return rc;
    if (n == 0)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "task %s not found", req->task_id);
    resp->assignment = as[0];
    return FERRY_OK;
}

/*
 * GetDownload: the sources (primary signed URL, then the mirrors of the storage in
 * effect for the node's customer) and a manifest signed now for this node's task (TUF:
 * bound to task, node, task kind and customer; expires after manifest_ttl_s). Nothing
 * is cached: every call signs anew, in the call's arena.
 */
static ferry_err_code_t get_download_body(hub_frame_t *f, const Ferry__V1__GetDownloadRequest *req,
                                          Ferry__V1__GetDownloadResponse *resp, ferry_err_t *err)
{
    ferry_hub_t *hub = f->hub;
    int64_t id, now = hub_now_ms();
    char blob_sha[65] = "", path[96];
    Ferry__V1__UpdateTask task = FERRY__V1__UPDATE_TASK__INIT;
    Ferry__V1__Package pkg = FERRY__V1__PACKAGE__INIT;
    ferry_err_code_t rc;

    if ((rc = own_task(f, req->task_id, &id, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(hub->store);
    rc = hub_task_load(hub, &f->arena, id, now, &task, err);
    if (rc == FERRY_OK)
        rc = hub_package_load(hub, &f->arena, task.package_version, &pkg, NULL, blob_sha, err);
    ferry_store_unlock(hub->store);
    if (rc != FERRY_OK)
        return rc;
    /* The node's customer picks the storage (a customer override serves its nodes). */
    hub_blob_url_path(blob_sha, path, sizeof(path));
    if ((rc = hub_storage_download_sources(hub, &f->arena, f->me->customer_id, path, &resp->sources,
                                           &resp->n_sources, err)) != FERRY_OK)
        return rc;
    hub_manifest_binding_t b = {task.id, task.node_code, (int)task.kind, task.customer_code,
                                now + (int64_t)hub->cfg.manifest_ttl_s * 1000};
    if ((rc = hub_manifest_sign(hub, &f->arena, &pkg, &b, now, &resp->signed_manifest, err)) != FERRY_OK)
        return rc;
    resp->package_version = pkg.version;
    resp->size = pkg.size;
    resp->sha256 = pkg.sha256;
    return FERRY_OK;
}

void hub_agent_bind(ferry_hub_t *hub)
{
    hub->agent.bind = bind;
    hub->agent.check_in = check_in_h;
    hub->agent.get_assignment = get_assignment;
    hub->agent.get_download = get_download;
    /* get_license_status: licenses.c (hub_fleet_bind) */
    /* watch_assignments: watch.c */
}
