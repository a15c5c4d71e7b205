/*
 * Node status (seed 001: ONLINE / OFFLINE / MAINTENANCE / EXPIRED), the fleet table
 * and the hooks of hub_fleet.h that read it (the ones that also need licences or
 * configurations are fleet.c's).
 *
 * Why a table and a sweep: a CheckIn must not write (20,000/s on two cores), yet every
 * transition must be recorded with its time. Presence (agent.c) already keeps the
 * last sign of life in memory; this file keeps, per node, the status last RECORDED,
 * the maintenance flag and the licence facts, and a thread compares them every
 * sweep_ms: only a change writes (node_status + node_event, all the sweep's changes in
 * one transaction). Transition times are exact, not the sweep's: ONLINE at the last
 * sign of life, OFFLINE at last sign of life + overdue time, EXPIRED at end + grace.
 * A node without a recorded status is OFFLINE (so a fresh fleet writes nothing).
 *
 * Lock order: store lock -> fleet mutex (the mutex is never held while waiting for the
 * store, and never calls out).
 *
 * The core that licenses.c, configs.c and server_backup.c build on: it calls none of
 * them (fleet.c assembles the four), only the store and license_doc.c.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/encoding.h"
#include "ferry/log.h"
#include "ferry/store/configs.h"
#include "ferry/store/node_events.h"
#include "ferry/store/tree.h"
#include "hub_agent.h"
#include "hub_fleet.h"
#include "hub_waves.h"

#define ST_ONLINE  FERRY__V1__NODE_STATUS__NODE_STATUS_ONLINE
#define ST_OFFLINE FERRY__V1__NODE_STATUS__NODE_STATUS_OFFLINE
#define ST_MAINT   FERRY__V1__NODE_STATUS__NODE_STATUS_MAINTENANCE
#define ST_EXPIRED FERRY__V1__NODE_STATUS__NODE_STATUS_EXPIRED

#define SWEEP_BATCH 512 /* transitions per transaction of a sweep (a mass change takes several) */

typedef struct fleet_entry {
    int64_t node_id; /* 0 = empty slot */
    int64_t customer_id;
    int64_t lic_ends_at, lic_grace_ms; /* of the licence in force */
    uint8_t lic_sha[32];               /* SHA-256 of its document for this node */
    uint8_t has_lic;
    uint8_t lic_stored; /* stored status: 1, 3, 4 */
    uint8_t status;     /* recorded NodeStatus (0 = none: OFFLINE) */
    uint8_t maintenance;
    uint8_t config_pending;
    char code[65];
} fleet_entry_t;

struct hub_fleet {
    pthread_mutex_t mu; /* the table, cfg, max_node_id */
    fleet_entry_t *slots;
    size_t cap, used;
    int64_t max_node_id;
    ferry_fleet_config_t cfg;
    pthread_mutex_t sweep_mu; /* one sweep at a time (thread and tests) */
    pthread_cond_t cv;
    int stop, started;
    pthread_t thread;
};

static pthread_mutex_t alloc_mu = PTHREAD_MUTEX_INITIALIZER;

static struct hub_fleet *fleet_of(ferry_hub_t *hub)
{
    struct hub_fleet *fl;
    pthread_mutex_lock(&alloc_mu);
    if ((fl = hub->fleet) == NULL && (fl = calloc(1, sizeof(*fl))) != NULL) {
        pthread_mutex_init(&fl->mu, NULL);
        pthread_mutex_init(&fl->sweep_mu, NULL);
        pthread_cond_init(&fl->cv, NULL);
        hub->fleet = fl;
    }
    pthread_mutex_unlock(&alloc_mu);
    return fl;
}

/* ---- configuration --------------------------------------------------------------------- */

static void cfg_defaults(const ferry_hub_t *hub, ferry_fleet_config_t *c)
{
    uint32_t cap_ms = hub->cfg.offline_after_s * 250u; /* a quarter of the overdue time */
    if (c->license_grace_s == 0)
        c->license_grace_s = FERRY_FLEET_GRACE_DAYS_DEFAULT * 86400u;
    if (c->license_warn_s == 0)
        c->license_warn_s = FERRY_FLEET_WARN_DAYS_DEFAULT * 86400u;
    if (c->sweep_ms == 0) {
        c->sweep_ms = FERRY_FLEET_SWEEP_MS_DEFAULT;
        if (cap_ms > 0 && c->sweep_ms > cap_ms)
            c->sweep_ms = cap_ms < 100 ? 100 : cap_ms;
    }
}

bool hub_fleet_set_config(ferry_hub_t *hub, const ferry_fleet_config_t *cfg)
{
    struct hub_fleet *fl = fleet_of(hub);
    bool set = false;
    if (fl != NULL && cfg != NULL) {
        pthread_mutex_lock(&fl->mu);
        fl->cfg = *cfg;
        pthread_cond_signal(&fl->cv); /* a shorter period takes effect at once */
        pthread_mutex_unlock(&fl->mu);
        set = true;
    }
    return set;
}

void hub_fleet_config(ferry_hub_t *hub, ferry_fleet_config_t *out)
{
    struct hub_fleet *fl = fleet_of(hub);
    *out = (ferry_fleet_config_t){0};
    if (fl != NULL) {
        pthread_mutex_lock(&fl->mu);
        *out = fl->cfg;
        pthread_mutex_unlock(&fl->mu);
    }
    cfg_defaults(hub, out);
}

/* ---- the table (fl->mu held) ------------------------------------------------------------- */

static size_t slot_of(int64_t id, size_t cap)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static int grow(struct hub_fleet *fl)
{
    size_t ncap = fl->cap ? fl->cap * 2 : 1024;
    fleet_entry_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < fl->cap; i++) {
        if (fl->slots[i].node_id == 0)
            continue;
        size_t j = slot_of(fl->slots[i].node_id, ncap);
        while (ns[j].node_id != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = fl->slots[i];
    }
    free(fl->slots);
    fl->slots = ns;
    fl->cap = ncap;
    return 0;
}

static fleet_entry_t *find(struct hub_fleet *fl, int64_t id, bool create)
{
    size_t j;
    if (id <= 0)
        return NULL;
    if (fl->cap > 0) {
        for (j = slot_of(id, fl->cap); fl->slots[j].node_id != 0; j = (j + 1) & (fl->cap - 1))
            if (fl->slots[j].node_id == id)
                return &fl->slots[j];
    }
    if (!create || ((fl->used + 1) * 10 > fl->cap * 7 && grow(fl) != 0))
        return NULL;
    for (j = slot_of(id, fl->cap); fl->slots[j].node_id != 0; j = (j + 1) & (fl->cap - 1))
        ;
    memset(&fl->slots[j], 0, sizeof(fl->slots[j]));
    fl->slots[j].node_id = id;
    fl->used++;
    return &fl->slots[j];
}

/* Whether the licence facts of |e| say EXPIRED at |now|. */
static bool lic_expired(const fleet_entry_t *e, int64_t now)
{
    return e->has_lic && e->lic_stored == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE &&
           now > e->lic_ends_at + e->lic_grace_ms;
}

/* The status |e| should have now, and when that began. */
static int status_now(ferry_hub_t *hub, const fleet_entry_t *e, int64_t last_seen, int64_t now,
                      int64_t *since, const char **reason)
{
    int64_t overdue = (int64_t)hub->cfg.offline_after_s * 1000;
    if (e->maintenance) {
        *since = now;
        *reason = "maintenance on";
        return ST_MAINT;
    }
    if (lic_expired(e, now)) {
        *since = e->lic_ends_at + e->lic_grace_ms;
        *reason = "licence expired (grace over)";
        return ST_EXPIRED;
    }
    if (last_seen > 0 && now - last_seen <= overdue) {
        *since = last_seen;
        *reason = "check-in";
        return ST_ONLINE;
    }
    *since = last_seen > 0 ? last_seen + overdue : now;
    *reason = last_seen > 0 ? "no check-in within the overdue time" : "never seen";
    return ST_OFFLINE;
}

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct load_ctx {
    ferry_hub_t *hub;
    struct hub_fleet *fl;
} load_ctx_t;

static int load_node(void *vctx, const ferry_store_fleet_node_t *n)
{
    load_ctx_t *c = vctx;
    fleet_entry_t *e;
    pthread_mutex_lock(&c->fl->mu);
    if ((e = find(c->fl, n->id, true)) != NULL) {
        e->customer_id = n->customer_id;
        e->status = (uint8_t)n->status;
        e->maintenance = n->maintenance;
        snprintf(e->code, sizeof(e->code), "%s", n->code);
    }
    if (n->id > c->fl->max_node_id)
        c->fl->max_node_id = n->id;
    pthread_mutex_unlock(&c->fl->mu);
    return 0;
}

/* Adds the nodes created since the table last grew (read-only connection). */
static ferry_err_code_t load_new_nodes(ferry_hub_t *hub, ferry_err_t *err)
{
    struct hub_fleet *fl = hub->fleet;
    load_ctx_t lc = {hub, fl};
    int64_t after;
    pthread_mutex_lock(&fl->mu);
    after = fl->max_node_id;
    pthread_mutex_unlock(&fl->mu);
    return ferry_store_fleet_nodes_ro(hub->store, after, load_node, &lc, err);
}

/* Recomputes the licence facts (and document digest) of one node from the store. */
static void refresh_license(ferry_hub_t *hub, int64_t node_id, int64_t customer_id)
{
    struct hub_fleet *fl = hub->fleet;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    Ferry__V1__License *lic = NULL;
    ProtobufCBinaryData doc;
    uint8_t sha[32];
    char code[65] = "";
    fleet_entry_t *e;

    for (int pass = 0; pass < 2 && code[0] == '\0'; pass++) {
        if (pass == 1 && load_new_nodes(hub, &err) != FERRY_OK)
            FERRY_WARN("fleet: %s", err.msg);
        pthread_mutex_lock(&fl->mu);
        if ((e = find(fl, node_id, false)) != NULL)
            memcpy(code, e->code, sizeof(code));
        pthread_mutex_unlock(&fl->mu);
    }
    if (code[0] == '\0')
        return;
    if (hub_license_doc_load(hub, &a, node_id, customer_id, code, &lic, &doc, sha, &err) != FERRY_OK) {
        FERRY_WARN("fleet: licence of node %s: %s", code, err.msg);
        goto out;
    }
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, node_id, false)) != NULL) {
        e->has_lic = lic != NULL;
        if (lic != NULL) {
            memcpy(e->lic_sha, sha, sizeof(sha));
            e->lic_ends_at = hub_ts_ms(lic->ends_at);
            e->lic_grace_ms = lic->offline_grace != NULL ? lic->offline_grace->seconds * 1000 : 0;
            /* the stored status: ACTIVE, or what an admin set (time-based states are status_now's) */
            e->lic_stored = lic->status == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_SUSPENDED ||
                                    lic->status == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_REVOKED
                                ? (uint8_t)lic->status
                                : FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE;
        }
    }
    pthread_mutex_unlock(&fl->mu);
out:
    hub_arena_free(&a);
}

/* Node ids collected by a walk (the walk holds the read-only connection: refreshing a
 * node reads it again, so it happens after the walk). */
typedef struct id_list {
    int64_t (*v)[2];
    size_t n, cap;
    bool nomem;
} id_list_t;

static int collect_node(void *vctx, int64_t node_id, int64_t customer_id)
{
    id_list_t *l = vctx;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        int64_t(*nv)[2] = realloc(l->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            l->nomem = true;
            return 1;
        }
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n][0] = node_id;
    l->v[l->n][1] = customer_id;
    l->n++;
    return 0;
}

/* The nodes a licence of |customer_id| (0: any customer with licences) may cover. */
static ferry_err_code_t license_nodes(ferry_hub_t *hub, int64_t customer_id, id_list_t *l, ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_store_license_nodes_ro(hub->store, customer_id, collect_node, l, err);
    if (rc == FERRY_OK && l->nomem)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "fleet: out of memory");
    return rc;
}

/* A node with open configuration assignments at start-up (store walk callback). */
static int mark_config(void *vfl, int64_t node_id)
{
    struct hub_fleet *fl = vfl;
    fleet_entry_t *e;
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, node_id, false)) != NULL)
        e->config_pending = 1;
    pthread_mutex_unlock(&fl->mu);
    return 0;
}

/* ---- the sweep -------------------------------------------------------------------------- */

typedef struct pending_tr {
    int64_t node_id;
    int from, to;
    int64_t at;
    const char *reason;
} pending_tr_t;

ferry_err_code_t ferry_hub_fleet_sweep(ferry_hub_t *hub, ferry_err_t *err)
{
    struct hub_fleet *fl = fleet_of(hub);
    pending_tr_t *tr = NULL;
    size_t n = 0;
    int64_t now = hub_now_ms();
    ferry_err_code_t rc = FERRY_OK;

    if (fl == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "fleet: out of memory");
    pthread_mutex_lock(&fl->sweep_mu);
    /* Nodes created since the last sweep. */
    if ((rc = load_new_nodes(hub, err)) != FERRY_OK)
        goto out;
    if ((tr = calloc(SWEEP_BATCH, sizeof(*tr))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "fleet sweep: out of memory");
        goto out;
    }
    /* Compare, a batch at a time (one transaction each) over the whole table. Presence
     * takes its own mutex: last-seen is read with fl->mu released, and the slot is
     * looked at again afterwards (the table may have grown and moved meanwhile). */
    for (size_t cursor = 0;;) {
        n = 0;
        pthread_mutex_lock(&fl->mu);
        for (; cursor < fl->cap && n < SWEEP_BATCH; cursor++) {
            int64_t since, last_seen, id = fl->slots[cursor].node_id;
            const char *reason;
            fleet_entry_t *e;
            int to, from;
            if (id == 0)
                continue;
            pthread_mutex_unlock(&fl->mu);
            last_seen = hub_presence_last_seen(hub, id);
            pthread_mutex_lock(&fl->mu);
            if (cursor >= fl->cap || fl->slots[cursor].node_id != id)
                continue; /* moved by a grow: the next sweep sees it */
            e = &fl->slots[cursor];
            from = e->status != 0 ? e->status : ST_OFFLINE;
            to = status_now(hub, e, last_seen, now, &since, &reason);
            if (to == from || to == ST_MAINT || from == ST_MAINT)
                continue; /* maintenance transitions are SetNodeMaintenance's to record */
            tr[n++] = (pending_tr_t){id, from, to, since, reason};
        }
        pthread_mutex_unlock(&fl->mu);
        if (n == 0)
            break;
        ferry_store_lock(hub->store);
        if ((rc = ferry_store_tx_begin(hub->store, err)) == FERRY_OK) {
            for (size_t i = 0; rc == FERRY_OK && i < n; i++) {
                ferry_store_node_transition_t t = {tr[i].node_id, tr[i].from, tr[i].to, tr[i].at,
                                                   tr[i].reason,  "",         -1,       NULL};
                rc = ferry_store_node_transition(hub->store, &t, err);
            }
            if (rc == FERRY_OK)
                rc = ferry_store_tx_commit(hub->store, err);
            else
                ferry_store_tx_rollback(hub->store);
        }
        ferry_store_unlock(hub->store);
        if (rc != FERRY_OK)
            goto out;
        pthread_mutex_lock(&fl->mu);
        for (size_t i = 0; i < n; i++) {
            fleet_entry_t *e = find(fl, tr[i].node_id, false);
            if (e != NULL)
                e->status = (uint8_t)tr[i].to;
        }
        pthread_mutex_unlock(&fl->mu);
        if (n < SWEEP_BATCH)
            break;
    }
out:
    pthread_mutex_unlock(&fl->sweep_mu);
    free(tr);
    return rc;
}

static void *sweep_main(void *arg)
{
    ferry_hub_t *hub = arg;
    struct hub_fleet *fl = hub->fleet;
    pthread_mutex_lock(&fl->mu);
    while (!fl->stop) {
        ferry_fleet_config_t c = fl->cfg;
        struct timespec ts;
        cfg_defaults(hub, &c);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += c.sweep_ms / 1000;
        ts.tv_nsec += (long)(c.sweep_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&fl->cv, &fl->mu, &ts);
        if (fl->stop)
            break;
        pthread_mutex_unlock(&fl->mu);
        ferry_err_t err = {0};
        if (ferry_hub_fleet_sweep(hub, &err) != FERRY_OK)
            FERRY_WARN("fleet: status sweep failed (will retry): %s", err.msg);
        hub_waves_sweep(hub); /* maintenance windows that opened (waves.c) */
        pthread_mutex_lock(&fl->mu);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

ferry_err_code_t hub_fleet_status_start(ferry_hub_t *hub, ferry_err_t *err)
{
    struct hub_fleet *fl = fleet_of(hub);
    load_ctx_t lc = {hub, fl};

    if (fl == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "fleet: out of memory");
    id_list_t ids = {0};
    if (ferry_store_fleet_nodes_ro(hub->store, 0, load_node, &lc, err) != FERRY_OK ||
        license_nodes(hub, 0, &ids, err) != FERRY_OK ||
        ferry_store_config_open_nodes_ro(hub->store, mark_config, fl, err) != FERRY_OK) {
        free(ids.v);
        return ferry_err_prefix(err, "fleet");
    }
    for (size_t i = 0; i < ids.n; i++)
        refresh_license(hub, ids.v[i][0], ids.v[i][1]);
    free(ids.v);
    if (pthread_create(&fl->thread, NULL, sweep_main, hub) != 0)
        return ferry_err_set(err, FERRY_E_NOMEM, "fleet: cannot start the status sweep thread");
    fl->started = 1;
    return FERRY_OK;
}

void hub_fleet_status_free(ferry_hub_t *hub)
{
    struct hub_fleet *fl = hub != NULL ? hub->fleet : NULL;
    if (fl == NULL)
        return;
    if (fl->started) {
        pthread_mutex_lock(&fl->mu);
        fl->stop = 1;
        pthread_cond_signal(&fl->cv);
        pthread_mutex_unlock(&fl->mu);
        pthread_join(fl->thread, NULL);
    }
    pthread_mutex_destroy(&fl->mu);
    pthread_mutex_destroy(&fl->sweep_mu);
    pthread_cond_destroy(&fl->cv);
    free(fl->slots);
    free(fl);
    hub->fleet = NULL;
}

/* ---- hooks ---------------------------------------------------------------------------- */

bool hub_fleet_node_blocked(ferry_hub_t *hub, int64_t node_id)
{
    struct hub_fleet *fl = hub->fleet;
    fleet_entry_t *e;
    bool blocked = false;
    if (fl == NULL)
        return false;
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, node_id, false)) != NULL)
        blocked = e->maintenance || lic_expired(e, hub_now_ms());
    pthread_mutex_unlock(&fl->mu);
    return blocked;
}

bool hub_fleet_checkin_pending(ferry_hub_t *hub, int64_t node_id, const char *license_sha256)
{
    struct hub_fleet *fl = hub->fleet;
    fleet_entry_t *e;
    bool pending = false;
    const char *have = license_sha256 != NULL ? license_sha256 : "";
    if (fl == NULL)
        return false;
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, node_id, false)) != NULL) {
        if (e->config_pending) {
            pending = true;
        } else if (e->has_lic) {
            char hex[65];
            ferry_hex_encode(e->lic_sha, sizeof(e->lic_sha), hex);
            pending = strcmp(hex, have) != 0;
        }
    }
    pthread_mutex_unlock(&fl->mu);
    return pending;
}

hub_fleet_node_license_t hub_fleet_node_license(ferry_hub_t *hub, int64_t node_id)
{
    hub_fleet_node_license_t out = {0};
    struct hub_fleet *fl = hub->fleet;
    fleet_entry_t *e;
    if (fl == NULL)
        return out;
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, node_id, false)) != NULL && e->has_lic) {
        int64_t now = hub_now_ms();
        out.has = true;
        out.ends_at = e->lic_ends_at;
        out.status = e->lic_stored != FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE ? e->lic_stored
                     : lic_expired(e, now)  ? FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED
                     : now > e->lic_ends_at ? FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE
                                            : FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE;
    }
    pthread_mutex_unlock(&fl->mu);
    return out;
}

static void publish(ferry_hub_t *hub, int64_t node_id, unsigned what)
{
    hub_task_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.node_id = node_id;
    ev.new_assignment = 1; /* never coalesced with another event (bus.c) */
    ev.fleet = what;
    hub_bus_publish(hub, &ev);
}

void hub_fleet_license_changed(ferry_hub_t *hub, int64_t customer_id, int64_t node_id)
{
    id_list_t ids = {0};
    ferry_err_t err = {0};
    if (hub->fleet == NULL)
        return;
    if (license_nodes(hub, customer_id, &ids, &err) != FERRY_OK)
        FERRY_WARN("fleet: licence change not pushed: %s", err.msg);
    for (size_t i = 0; i < ids.n; i++) {
        if (node_id > 0 && ids.v[i][0] != node_id)
            continue;
        refresh_license(hub, ids.v[i][0], ids.v[i][1]);
        publish(hub, ids.v[i][0], HUB_FLEET_EV_LICENSE | HUB_FLEET_EV_TASKS);
    }
    free(ids.v);
}

void hub_fleet_config_pending(ferry_hub_t *hub, int64_t node_id, bool pending)
{
    struct hub_fleet *fl = hub->fleet;
    fleet_entry_t *e;
    if (fl == NULL)
        return;
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, node_id, pending)) != NULL)
        e->config_pending = pending;
    pthread_mutex_unlock(&fl->mu);
    if (pending)
        publish(hub, node_id, HUB_FLEET_EV_CONFIG);
}

/* The node's code and customer from the table (false when unknown). */
static bool node_facts(ferry_hub_t *hub, int64_t node_id, char code[65], int64_t *customer_id)
{
    struct hub_fleet *fl = hub->fleet;
    fleet_entry_t *e;
    bool ok = false;
    if (fl == NULL)
        return false;
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, node_id, false)) != NULL && e->code[0] != '\0') {
        memcpy(code, e->code, 65);
        *customer_id = e->customer_id;
        ok = true;
    }
    pthread_mutex_unlock(&fl->mu);
    return ok;
}

/* A node created after the last sweep is not in the table yet: load it now. */
bool hub_fleet_node_facts(ferry_hub_t *hub, int64_t node_id, char code[65], int64_t *customer_id)
{
    ferry_err_t err = {0};
    if (node_facts(hub, node_id, code, customer_id))
        return true;
    if (hub->fleet == NULL || load_new_nodes(hub, &err) != FERRY_OK)
        FERRY_WARN("fleet: %s", err.msg);
    return node_facts(hub, node_id, code, customer_id);
}

void hub_fleet_counts(ferry_hub_t *hub, uint64_t by_status[5], uint64_t *expiring)
{
    struct hub_fleet *fl = hub->fleet;
    ferry_fleet_config_t c;
    int64_t now = hub_now_ms();

    memset(by_status, 0, 5 * sizeof(*by_status));
    *expiring = 0;
    if (fl == NULL)
        return;
    hub_fleet_config(hub, &c);
    pthread_mutex_lock(&fl->mu);
    for (size_t i = 0; i < fl->cap; i++) {
        fleet_entry_t e = fl->slots[i];
        int64_t since, last;
        const char *why;
        if (e.node_id == 0)
            continue;
        pthread_mutex_unlock(&fl->mu); /* presence has its own lock: never both */
        last = hub_presence_last_seen(hub, e.node_id);
        by_status[status_now(hub, &e, last, now, &since, &why)]++;
        if (e.has_lic && e.lic_stored == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE &&
            now <= e.lic_ends_at && e.lic_ends_at - now <= (int64_t)c.license_warn_s * 1000)
            (*expiring)++;
        pthread_mutex_lock(&fl->mu);
    }
    pthread_mutex_unlock(&fl->mu);
}

/* ---- metrics ------------------------------------------------------------------------------ */

char *hub_fleet_metrics(ferry_hub_t *hub)
{
    static const int64_t age_le[] = {15, 30, 60, 120, 300, 900, 3600, 86400}; /* seconds */
    enum { N_AGE = sizeof(age_le) / sizeof(age_le[0]) };
    struct hub_fleet *fl = hub->fleet;
    uint64_t by_status[5] = {0}, lic[6] = {0}, expiring = 0, ages[N_AGE + 1] = {0}, seen = 0;
    double age_sum = 0;
    ferry_fleet_config_t c;
    int64_t now = hub_now_ms();
    char *out = NULL;
    size_t len = 0;
    FILE *f;

    if (fl == NULL || (f = open_memstream(&out, &len)) == NULL)
        return NULL;
    hub_fleet_config(hub, &c);
    pthread_mutex_lock(&fl->mu);
    for (size_t i = 0; i < fl->cap; i++) {
        fleet_entry_t e = fl->slots[i];
        int64_t since, last;
        const char *why;
        if (e.node_id == 0)
            continue;
        pthread_mutex_unlock(&fl->mu); /* presence has its own lock: never both */
        last = hub_presence_last_seen(hub, e.node_id);
        by_status[status_now(hub, &e, last, now, &since, &why)]++;
        if (last > 0) {
            int64_t age = (now - last) / 1000;
            size_t b = 0;
            while (b < N_AGE && age > age_le[b])
                b++;
            ages[b]++;
            age_sum += (double)(now - last) / 1000.0;
            seen++;
        }
        if (e.has_lic) {
            int st = e.lic_stored != FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE ? e.lic_stored
                     : lic_expired(&e, now) ? FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED
                     : now > e.lic_ends_at  ? FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE
                                            : FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE;
            lic[st]++;
            if (st == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE &&
                e.lic_ends_at - now <= (int64_t)c.license_warn_s * 1000)
                expiring++;
        }
        pthread_mutex_lock(&fl->mu);
    }
    pthread_mutex_unlock(&fl->mu);
    fprintf(
        f, "# HELP ferry_nodes_by_status Nodes by status (seed 001: ONLINE, OFFLINE, MAINTENANCE, EXPIRED).\n"
           "# TYPE ferry_nodes_by_status gauge\n");
    for (int st = 1; st <= ST_EXPIRED; st++)
        fprintf(f, "ferry_nodes_by_status{status=\"%s\"} %" PRIu64 "\n",
                protobuf_c_enum_descriptor_get_value(&ferry__v1__node_status__descriptor, st)->name + 12,
                by_status[st]);
    fprintf(f,
            "# HELP ferry_node_heartbeat_age_seconds Time since each node's last sign of life (nodes seen).\n"
            "# TYPE ferry_node_heartbeat_age_seconds histogram\n");
    {
        uint64_t cum = 0;
        for (size_t b = 0; b < N_AGE; b++) {
            cum += ages[b];
            fprintf(f, "ferry_node_heartbeat_age_seconds_bucket{le=\"%" PRId64 "\"} %" PRIu64 "\n", age_le[b],
                    cum);
        }
        fprintf(f,
                "ferry_node_heartbeat_age_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                "ferry_node_heartbeat_age_seconds_sum %.3f\nferry_node_heartbeat_age_seconds_count %" PRIu64
                "\n",
                seen, age_sum, seen);
    }
    fprintf(
        f, "# HELP ferry_licenses Licences in force on nodes, by status now.\n# TYPE ferry_licenses gauge\n");
    for (int st = 1; st <= 5; st++)
        fprintf(f, "ferry_licenses{status=\"%s\"} %" PRIu64 "\n",
                protobuf_c_enum_descriptor_get_value(&ferry__v1__license_status__descriptor, st)->name + 15,
                lic[st]);
    fprintf(f,
            "# HELP ferry_licenses_expiring Nodes whose licence ends within the reminder window.\n"
            "# TYPE ferry_licenses_expiring gauge\nferry_licenses_expiring %" PRIu64 "\n",
            expiring);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- admin RPCs: SetNodeMaintenance, ListNodeStatuses, ListNodeEvents ------------------- */

static void set_node_maintenance_done(hub_frame_t *f, const void *vreq, void *vresp);

HUB_METHOD(admin, set_node_maintenance, Ferry__V1__SetNodeMaintenanceRequest,
           Ferry__V1__SetNodeMaintenanceResponse, HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT,
           set_node_maintenance_done)
HUB_METHOD(admin, list_node_statuses, Ferry__V1__ListNodeStatusesRequest, Ferry__V1__ListNodeStatusesResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, list_node_events, Ferry__V1__ListNodeEventsRequest, Ferry__V1__ListNodeEventsResponse,
           HUB_FRAME_OFFLOAD, NULL)

/* Live facts over a stored status row: presence, licence, the table's status. */
static void overlay(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id, Ferry__V1__NodeStatusInfo *s)
{
    int64_t seen = hub_presence_last_seen(hub, node_id);
    hub_fleet_node_license_t l = hub_fleet_node_license(hub, node_id);
    if (seen > 0)
        s->last_seen_at = hub_arena_ts(a, seen);
    if (l.has) {
        s->license_status = (Ferry__V1__LicenseStatus)l.status;
        s->license_ends_at = hub_arena_ts(a, l.ends_at);
    }
}

typedef struct one_node {
    int64_t id, customer_id;
    int status;
    bool maintenance;
    char code[65];
} one_node_t;

static int one_node(void *vctx, const ferry_store_fleet_node_t *n)
{
    one_node_t *o = vctx;
    o->id = n->id;
    o->customer_id = n->customer_id;
    o->status = n->status != 0 ? n->status : ST_OFFLINE;
    o->maintenance = n->maintenance;
    snprintf(o->code, sizeof(o->code), "%s", n->code);
    return 1;
}

static ferry_err_code_t set_node_maintenance_body(hub_frame_t *f,
                                                  const Ferry__V1__SetNodeMaintenanceRequest *req,
                                                  Ferry__V1__SetNodeMaintenanceResponse *resp,
                                                  ferry_err_t *err)
{
    struct hub_fleet *fl = fleet_of(f->hub);
    one_node_t o = {0};
    int64_t now = hub_now_ms(), since, last_seen;
    const char *why;
    fleet_entry_t probe = {0}, *e;
    ferry_err_code_t rc;
    int to;

    hub_frame_target(f, "node:%.64s", req->node_code);
    if (strlen(req->reason) > FERRY_STORE_NODE_EVENT_REASON_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "reason: at most %d bytes",
                             FERRY_STORE_NODE_EVENT_REASON_MAX);
    if ((rc = hub_check_code("node_code", req->node_code, err)) != FERRY_OK ||
        (rc = ferry_store_fleet_node_by_code_ro(f->store, req->node_code, one_node, &o, err)) != FERRY_OK)
        return rc;
    if (fl == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    /* The status the node takes: MAINTENANCE, or what it would be without the flag. */
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, o.id, false)) != NULL)
        probe = *e;
    pthread_mutex_unlock(&fl->mu);
    probe.maintenance = req->maintenance;
    last_seen = hub_presence_last_seen(f->hub, o.id);
    to = status_now(f->hub, &probe, last_seen, now, &since, &why);
    ferry_store_node_transition_t t = {o.id,
                                       e != NULL && probe.status != 0 ? probe.status : o.status,
                                       to,
                                       now,
                                       req->maintenance ? (req->reason[0] ? req->reason : "maintenance on")
                                                        : "maintenance off",
                                       f->actor.token_id,
                                       req->maintenance ? 1 : 0,
                                       req->reason};
    if ((rc = ferry_store_node_transition(f->store, &t, err)) != FERRY_OK)
        return rc;
    Ferry__V1__NodeStatusInfo *s = hub_arena_alloc(&f->arena, sizeof(*s));
    if (s == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    ferry__v1__node_status_info__init(s);
    s->node_code = hub_arena_strdup(&f->arena, o.code);
    s->status = (Ferry__V1__NodeStatus)to;
    s->since = hub_arena_ts(&f->arena, now);
    s->maintenance = req->maintenance;
    s->maintenance_reason = req->maintenance ? (char *)req->reason : (char *)"";
    overlay(f->hub, &f->arena, o.id, s);
    resp->status = s;
    return FERRY_OK;
}

/* After the commit: the table (what the task path and the sweep read) follows. */
static void set_node_maintenance_done(hub_frame_t *f, const void *vreq, void *vresp)
{
    const Ferry__V1__SetNodeMaintenanceRequest *req = vreq;
    const Ferry__V1__SetNodeMaintenanceResponse *resp = vresp;
    struct hub_fleet *fl = f->hub->fleet;
    one_node_t o = {0};
    fleet_entry_t *e;

    if (fl == NULL || resp->status == NULL ||
        ferry_store_fleet_node_by_code_ro(f->store, req->node_code, one_node, &o, NULL) != FERRY_OK)
        return;
    pthread_mutex_lock(&fl->mu);
    if ((e = find(fl, o.id, true)) != NULL) {
        e->maintenance = req->maintenance;
        e->status = (uint8_t)resp->status->status;
        if (e->customer_id == 0)
            e->customer_id = o.customer_id;
        if (e->code[0] == '\0')
            snprintf(e->code, sizeof(e->code), "%s", o.code);
    }
    pthread_mutex_unlock(&fl->mu);
    if (!req->maintenance)
        publish(f->hub, o.id, HUB_FLEET_EV_TASKS); /* held tasks are offered again */
}

static ferry_err_code_t list_node_statuses_body(hub_frame_t *f, const Ferry__V1__ListNodeStatusesRequest *req,
                                                Ferry__V1__ListNodeStatusesResponse *resp, ferry_err_t *err)
{
    ferry_store_node_status_filter_t flt = {(int)req->status, req->customer_code, req->page_token,
                                            req->page_size};
    ferry_store_page_t page;
    ferry_err_code_t rc;

    if ((int)req->status < 0 || (int)req->status > ST_EXPIRED)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "status: unknown value %d", (int)req->status);
    /* Record what changed since the last sweep first, so the filter sees it. */
    if ((rc = ferry_hub_fleet_sweep(f->hub, err)) != FERRY_OK ||
        (rc = ferry_store_node_statuses_list_ro(f->store, &flt, &f->arena, &page, err)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < page.n; i++) {
        Ferry__V1__NodeStatusInfo *s = page.items[i];
        int64_t id = 0;
        bool disabled;
        if (ferry_store_tree_id_ro(f->store, FERRY_STORE_NODE, s->node_code, &id, &disabled, NULL) ==
            FERRY_OK)
            overlay(f->hub, &f->arena, id, s);
    }
    resp->nodes = (Ferry__V1__NodeStatusInfo **)page.items;
    resp->n_nodes = page.n;
    resp->next_page_token = page.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t list_node_events_body(hub_frame_t *f, const Ferry__V1__ListNodeEventsRequest *req,
                                              Ferry__V1__ListNodeEventsResponse *resp, ferry_err_t *err)
{
    ferry_store_page_t page;
    ferry_err_code_t rc;
    if ((rc = hub_check_code("node_code", req->node_code, err)) != FERRY_OK ||
        (rc = ferry_hub_fleet_sweep(f->hub, err)) != FERRY_OK ||
        (rc = ferry_store_node_events_list_ro(f->store, req->node_code, req->page_token, req->page_size,
                                              &f->arena, &page, err)) != FERRY_OK)
        return rc;
    resp->events = (Ferry__V1__NodeEvent **)page.items;
    resp->n_events = page.n;
    resp->next_page_token = page.next_page_token;
    return FERRY_OK;
}

void hub_fleet_status_bind(ferry_hub_t *hub)
{
    (void)fleet_of(hub);
    hub->admin.set_node_maintenance = set_node_maintenance;
    hub->admin.list_node_statuses = list_node_statuses;
    hub->admin.list_node_events = list_node_events;
}
