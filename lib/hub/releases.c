/*
 * Releases (seed 000 §5.3 step 4, §6.1): a package version published to a scope with
 * a policy, resolved at once to one UpdateTask per node (state 10 Pending), in one
 * transaction; agents watching hear about their task after the commit.
 *
 * Rules decided here:
 *   - Scope: the customer's enabled nodes in the release environment (a disabled node
 *     or a node of a disabled store is left out); with stores and/or nodes named, the
 *     nodes of those stores plus those nodes. A named store or node that does not
 *     exist there is not_found; a named node that is disabled is failed_precondition;
 *     a scope resolving to no node is failed_precondition.
 *   - The same version is never published twice to a node (seed 000 §3.2 "不允许同版本
 *     重复发布"): a node that already has an update task for that package which is not
 *     Failed/Rollbacked (so: running, pending, or Succeeded) makes the whole request
 *     fail with E_VERSION_DUPLICATE naming the nodes. A node's environment is part of
 *     its identity, so this is per environment.
 *   - Policy: stored as requested. Tasks show the EFFECTIVE policy
 *     (hub_effective_policy): an optional release with a deadline becomes forced once
 *     the deadline passed. A deadline needs OPTIONAL and must be in the future.
 *   - Pause (ACTIVE -> PAUSED): tasks not yet past WaitingUser (10..40) get halted=1 and
 *     are not handed out; tasks already stopping the service or later run on to a
 *     final state (interrupting them would leave a node half-updated).
 *     Resume (PAUSED -> ACTIVE) clears halted and re-offers them (new_assignment).
 *   - Cancel (ACTIVE|PAUSED -> CANCELED): tasks in 10..40 end 110 Failed with error
 *     code E_CANCELED and halted=1, finished, untouched on the node; later ones run to a
 *     final state. Pause/resume/cancel are idempotent on a release already there.
 *   - Rollback (seed 000 P1): for each update task of the release (all, or the named
 *     nodes) whose backup exists (backup_local_path reported) and which is final
 *     (Succeeded, or Failed after a failed automatic rollback), one ROLLBACK task (kind
 *     2, state 10, forced) in the same release restores that backup. Others are skipped
 *     and listed; none eligible = failed_precondition E_BACKUP_MISSING.
 *   - COMPLETED is derived when reading: ACTIVE with no task left in a non-final state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"
#include "hub_agent.h"
#include "hub_pkg.h"
#include "hub_sql.h" /* not yet on a repository: scripts/check-layering.sh allow-list */

#define MSG_NODES_MAX 10 /* nodes named in one error message */

/* ---- pure ---------------------------------------------------------------------------------------- */

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

ferry_err_code_t hub_scope_select(const hub_scope_node_t *cands, size_t n, const char *const *known_stores,
                                  size_t n_known, const char *const *stores, size_t n_stores,
                                  const char *const *nodes, size_t n_nodes, bool *selected, size_t *count,
                                  ferry_err_t *err)
{
    *count = 0;
    for (size_t i = 0; i < n_stores; i++)
        if (!in_list(stores[i], known_stores, n_known))
            return ferry_err_set(err, FERRY_E_NOT_FOUND, "store '%s' does not exist under this customer",
                                 stores[i]);
    for (size_t i = 0; i < n_nodes; i++) {
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(cands[j].code, nodes[i]) == 0)
                break;
        if (j == n)
            return ferry_err_set(err, FERRY_E_NOT_FOUND,
                                 "node '%s' does not exist under this customer in the release environment",
                                 nodes[i]);
        if (cands[j].disabled)
            return ferry_err_set(err, FERRY_E_PRECONDITION, "node '%s' (or its store) is disabled", nodes[i]);
    }
    for (size_t i = 0; i < n; i++) {
        bool want;
        if (n_stores == 0 && n_nodes == 0)
            want = true;
        else
            want = in_list(cands[i].store_code, stores, n_stores) || in_list(cands[i].code, nodes, n_nodes);
        selected[i] = want && !cands[i].disabled;
        if (selected[i])
            (*count)++;
    }
    return FERRY_OK;
}

/* ---- loading ------------------------------------------------------------------------------------- */

#define RELEASE_SELECT                                                                                       \
    "SELECT r.id, p.version, c.code, r.environment, r.policy, r.deadline_at, r.status, r.description,"       \
    " r.created_at, a.token_id, r.updated_at,"                                                               \
    " (SELECT count(*) FROM update_task t WHERE t.release_id = r.id AND t.kind = 1) AS node_count,"          \
    " (SELECT count(*) FROM update_task t WHERE t.release_id = r.id AND t.state NOT IN (100, 110, 130))"     \
    " AS open_tasks"                                                                                         \
    " FROM release r JOIN package p ON p.id = r.package_id JOIN customer c ON c.id = r.customer_id"          \
    " LEFT JOIN admin_token a ON a.id = r.created_by"

static int release_state(int status, int64_t open_tasks)
{
    if (status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE && open_tasks == 0)
        return FERRY__V1__RELEASE_STATE__RELEASE_STATE_COMPLETED;
    return status;
}

/* Fills the scope's named stores/nodes from release_target (DB lock held). */
static void read_targets(ferry_hub_t *hub, hub_arena_t *a, int64_t id, Ferry__V1__ReleaseScope *sc)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    if (sqlite3_prepare_v2(hub->db, "SELECT count(*) FROM release_target WHERE release_id = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            cap = (size_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (cap == 0)
        return;
    sc->store_codes = hub_arena_alloc(a, cap * sizeof(char *));
    sc->node_codes = hub_arena_alloc(a, cap * sizeof(char *));
    if (sc->store_codes == NULL || sc->node_codes == NULL)
        return;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT s.code, n.code FROM release_target t LEFT JOIN store s ON s.id = t.store_id"
            " LEFT JOIN node n ON n.id = t.node_id WHERE t.release_id = ? ORDER BY t.id",
            -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) != SQLITE_NULL && sc->n_store_codes < cap)
                sc->store_codes[sc->n_store_codes++] = hub_arena_strdup(a, hub_col_text(st, 0));
            else if (sqlite3_column_type(st, 1) != SQLITE_NULL && sc->n_node_codes < cap)
                sc->node_codes[sc->n_node_codes++] = hub_arena_strdup(a, hub_col_text(st, 1));
        }
    }
    sqlite3_finalize(st);
}

static void read_release(ferry_hub_t *hub, hub_arena_t *a, sqlite3_stmt *st, Ferry__V1__Release *r)
{
    Ferry__V1__ReleaseScope *sc = hub_arena_alloc(a, sizeof(*sc));
    int64_t id = sqlite3_column_int64(st, 0);
    ferry__v1__release__init(r);
    r->id = hub_arena_printf(a, "%lld", (long long)id);
    r->package_version = hub_arena_strdup(a, hub_col_text(st, 1));
    if (sc != NULL) {
        ferry__v1__release_scope__init(sc);
        sc->customer_code = hub_arena_strdup(a, hub_col_text(st, 2));
        sc->environment = sqlite3_column_int(st, 3);
        read_targets(hub, a, id, sc);
        r->scope = sc;
    }
    r->policy = sqlite3_column_int(st, 4);
    r->deadline = hub_arena_ts(a, sqlite3_column_int64(st, 5));
    r->state = release_state(sqlite3_column_int(st, 6), sqlite3_column_int64(st, 12));
    r->description = hub_arena_strdup(a, hub_col_text(st, 7));
    r->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 8));
    r->created_by = hub_arena_strdup(a, hub_col_text(st, 9));
    r->updated_at = hub_arena_ts(a, sqlite3_column_int64(st, 10));
    r->node_count = (uint64_t)sqlite3_column_int64(st, 11);
}

ferry_err_code_t hub_release_load(ferry_hub_t *hub, hub_arena_t *a, int64_t id, Ferry__V1__Release *out,
                                  ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int s;
    if ((rc = hub_prepare(hub->db, RELEASE_SELECT " WHERE r.id = ?", &st, "load release", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((s = sqlite3_step(st)) != SQLITE_ROW) {
        rc = s == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no release %lld", (long long)id)
                              : ferry_err_set(err, FERRY_E_IO, "load release: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
    read_release(hub, a, st, out);
    rc = a->failed ? ferry_err_set(err, FERRY_E_NOMEM, "load release: out of memory") : FERRY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- shared write helpers (DB lock held, inside a transaction) --------------------------------- */

typedef struct pub {
    int64_t task_id, node_id;
    int state;
    char error_code[48];
} pub_t;

/* Grows |*arr| to hold one more element; false on OOM. */
static bool pubs_push(pub_t **arr, size_t *n, size_t *cap, pub_t p)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        pub_t *x = realloc(*arr, nc * sizeof(*x));
        if (x == NULL)
            return false;
        *arr = x, *cap = nc;
    }
    (*arr)[(*n)++] = p;
    return true;
}

static void publish_all(ferry_hub_t *hub, int64_t release_id, const pub_t *p, size_t n, int new_assignment,
                        const char *message)
{
    for (size_t i = 0; i < n; i++) {
        hub_task_event_t ev = {0};
        ev.task_id = p[i].task_id;
        ev.release_id = release_id;
        ev.node_id = p[i].node_id;
        ev.state = p[i].state;
        snprintf(ev.error_code, sizeof(ev.error_code), "%s", p[i].error_code);
        snprintf(ev.message, sizeof(ev.message), "%.200s", message);
        ev.new_assignment = new_assignment;
        hub_bus_publish(hub, &ev);
    }
}

static ferry_err_code_t add_event(ferry_hub_t *hub, int64_t task_id, int state, const char *error_code,
                                  const char *message, const char *source, int64_t now, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    if (sqlite3_prepare_v2(hub->db,
                           "INSERT INTO task_event (task_id, seq, state, error_code, message, source, at)"
                           " VALUES (?, 0, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, state);
    sqlite3_bind_text(st, 3, error_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, message, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    goto out;
dberr:
    rc = ferry_err_set(err, FERRY_E_IO, "task event: %s", sqlite3_errmsg(hub->db));
out:
    sqlite3_finalize(st);
    return rc;
}

static void source_of(ferry_rpc_call_t *call, char *buf, size_t size)
{
    const hub_principal_t *who = hub_principal(call);
    snprintf(buf, size, "admin:%s", who != NULL ? who->token_id : "");
}

/* ---- CreateRelease ---------------------------------------------------------------------------------- */

typedef struct cand_set {
    hub_scope_node_t *c;
    char **strs; /* codes owned here */
    size_t n, cap;
} cand_set_t;

static void cand_free(cand_set_t *s)
{
    for (size_t i = 0; i < s->n * 2; i++)
        free(s->strs[i]);
    free(s->strs);
    free(s->c);
}

/* Every node of |customer| in |env| with its store code and disabled flag. */
static ferry_err_code_t load_candidates(ferry_hub_t *hub, int64_t customer, int env, cand_set_t *s,
                                        ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT n.id, n.code, s.code, (n.disabled OR s.disabled) FROM node n JOIN store s ON"
            " s.id = n.store_id WHERE s.customer_id = ? AND n.environment = ? ORDER BY n.code",
            -1, &st, NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_IO, "scope: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, customer);
    sqlite3_bind_int(st, 2, env);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 64;
            hub_scope_node_t *c = realloc(s->c, nc * sizeof(*c));
            if (c != NULL)
                s->c = c;
            char **x = c != NULL ? realloc(s->strs, nc * 2 * sizeof(*x)) : NULL;
            if (c == NULL || x == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "scope: out of memory");
                goto out;
            }
            s->strs = x, s->cap = nc;
        }
        char *code = strdup(hub_col_text(st, 1)), *store = strdup(hub_col_text(st, 2));
        s->strs[s->n * 2] = code;
        s->strs[s->n * 2 + 1] = store;
        s->c[s->n] = (hub_scope_node_t){sqlite3_column_int64(st, 0), code != NULL ? code : "",
                                        store != NULL ? store : "", sqlite3_column_int(st, 3) != 0};
        s->n++;
        if (code == NULL || store == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "scope: out of memory");
            goto out;
        }
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* Looks up an id by a text key; 0 when absent. */
static int64_t lookup_id(ferry_hub_t *hub, const char *sql, const char *key, int64_t key2, int *flag)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(hub->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (key2 != 0)
            sqlite3_bind_int64(st, 2, key2);
        if (sqlite3_step(st) == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            if (flag != NULL)
                *flag = sqlite3_column_int(st, 1);
        }
    }
    sqlite3_finalize(st);
    return id;
}

static ferry_err_code_t check_request(const Ferry__V1__CreateReleaseRequest *req, int64_t now,
                                      int64_t *deadline, ferry_err_t *err)
{
    const Ferry__V1__ReleaseScope *sc = req->scope;
    *deadline = 0;
    if (req->package_version[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "package_version is required");
    if (sc == NULL || sc->customer_code[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "scope.customer_code is required");
    if (sc->environment < 1 || sc->environment > 4)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "scope.environment is required (DEV, TEST, UAT or PROD)");
    if (sc->n_store_codes > HUB_SCOPE_CODES_MAX || sc->n_node_codes > HUB_SCOPE_CODES_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "a scope names at most %d stores and %d nodes",
                             HUB_SCOPE_CODES_MAX, HUB_SCOPE_CODES_MAX);
    if (req->policy != FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED &&
        req->policy != FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "policy is required (FORCED or OPTIONAL)");
    if (req->deadline != NULL) {
        if (req->policy != FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "a deadline applies only to an OPTIONAL release");
        *deadline = req->deadline->seconds * 1000 + req->deadline->nanos / 1000000;
        if (*deadline <= now)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "deadline must be in the future");
    }
    if (strlen(req->description) > 4096)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "description longer than 4096 bytes");
    return FERRY_OK;
}

/* E_VERSION_DUPLICATE naming the nodes that already have (or had) this version. */
static ferry_err_code_t check_overlap(ferry_hub_t *hub, int64_t package_id, const char *version,
                                      const cand_set_t *cs, const bool *sel, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    char names[400] = "";
    int hits = 0;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT t.release_id, t.state FROM update_task t JOIN release r ON r.id = t.release_id"
            " WHERE t.node_id = ? AND r.package_id = ? AND t.kind = 1 AND t.state NOT IN (?, ?)"
            " LIMIT 1",
            -1, &st, NULL) != SQLITE_OK)
        return ferry_err_set(err, FERRY_E_IO, "overlap: %s", sqlite3_errmsg(hub->db));
    sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 4, FERRY_STATE_ROLLBACKED);
    for (size_t i = 0; i < cs->n; i++) {
        if (!sel[i])
            continue;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, cs->c[i].id);
        sqlite3_bind_int64(st, 2, package_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            if (hits < MSG_NODES_MAX) {
                size_t len = strlen(names);
                snprintf(names + len, sizeof(names) - len, "%s%s (release %lld, state %d)", hits ? ", " : "",
                         cs->c[i].code, (long long)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1));
            }
            hits++;
        }
    }
    sqlite3_finalize(st);
    if (hits > 0)
        rc = ferry_err_set(err, FERRY_E_VERSION_DUPLICATE,
                           "version %s is already published to %d node(s): %s%s", version, hits, names,
                           hits > MSG_NODES_MAX ? ", ..." : "");
    return rc;
}

static void create_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreateReleaseRequest *req = vreq;
    const Ferry__V1__ReleaseScope *sc = req->scope;
    Ferry__V1__CreateReleaseResponse resp = FERRY__V1__CREATE_RELEASE_RESPONSE__INIT;
    Ferry__V1__Release rel;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    cand_set_t cs = {0};
    bool *sel = NULL, locked = false, in_tx = false;
    const char **known = NULL;
    size_t n_known = 0, count = 0, n_pub = 0, cap_pub = 0;
    pub_t *pubs = NULL;
    int64_t now = hub_now_ms(), deadline, package_id, customer_id, release_id = 0;
    int cust_disabled = 0;
    char target[128], source[64];
    const hub_principal_t *who = hub_principal(call);

    snprintf(target, sizeof(target), "release:%.60s", req->package_version);
    source_of(call, source, sizeof(source));
    if (check_request(req, now, &deadline, &err) != FERRY_OK)
        goto fail;
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if ((package_id = lookup_id(hub, "SELECT id FROM package WHERE version = ?", req->package_version, 0,
                                NULL)) == 0) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND, "no package version '%s'", req->package_version);
        goto fail;
    }
    if ((customer_id = lookup_id(hub, "SELECT id, disabled FROM customer WHERE code = ?", sc->customer_code,
                                 0, &cust_disabled)) == 0) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND, "no customer '%s'", sc->customer_code);
        goto fail;
    }
    if (cust_disabled) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "customer '%s' is disabled", sc->customer_code);
        goto fail;
    }
    /* The customer's store codes, for naming unknown ones. */
    if (sqlite3_prepare_v2(hub->db, "SELECT code FROM store WHERE customer_id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, customer_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char **k = realloc(known, (n_known + 1) * sizeof(*k));
        char *code = k != NULL ? hub_arena_strdup(&a, hub_col_text(st, 0)) : NULL;
        if (k == NULL || a.failed) {
            if (k != NULL)
                known = k;
            ferry_err_set(&err, FERRY_E_NOMEM, "scope: out of memory");
            goto fail;
        }
        known = k;
        known[n_known++] = code;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (load_candidates(hub, customer_id, sc->environment, &cs, &err) != FERRY_OK)
        goto fail;
    if ((sel = calloc(cs.n + 1, sizeof(*sel))) == NULL) {
        ferry_err_set(&err, FERRY_E_NOMEM, "scope: out of memory");
        goto fail;
    }
    if (hub_scope_select(cs.c, cs.n, known, n_known, (const char *const *)sc->store_codes, sc->n_store_codes,
                         (const char *const *)sc->node_codes, sc->n_node_codes, sel, &count,
                         &err) != FERRY_OK)
        goto fail;
    if (count == 0) {
        ferry_err_set(&err, FERRY_E_PRECONDITION,
                      "the scope (customer '%s', environment %d%s) has no enabled node", sc->customer_code,
                      (int)sc->environment,
                      sc->n_store_codes || sc->n_node_codes ? ", named stores/nodes" : "");
        goto fail;
    }
    if (check_overlap(hub, package_id, req->package_version, &cs, sel, &err) != FERRY_OK)
        goto fail;

    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO release (package_id, customer_id, environment, policy, deadline_at, status,"
            " description, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, package_id);
    sqlite3_bind_int64(st, 2, customer_id);
    sqlite3_bind_int(st, 3, sc->environment);
    sqlite3_bind_int(st, 4, req->policy);
    if (deadline > 0)
        sqlite3_bind_int64(st, 5, deadline);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_text(st, 6, req->description, -1, SQLITE_STATIC);
    if (who != NULL && who->kind == HUB_PRINCIPAL_ADMIN)
        sqlite3_bind_int64(st, 7, who->row_id);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_int64(st, 8, now);
    sqlite3_bind_int64(st, 9, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    release_id = sqlite3_last_insert_rowid(hub->db);
    sqlite3_finalize(st);
    st = NULL;
    snprintf(target, sizeof(target), "release:%lld", (long long)release_id);
    /* The scope as requested. */
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO release_target (release_id, store_id, node_id) VALUES (?1,"
            " (SELECT id FROM store WHERE customer_id = ?2 AND code = ?3 AND ?4 = 0),"
            " (SELECT n.id FROM node n JOIN store s ON s.id = n.store_id WHERE s.customer_id = ?2"
            "  AND n.code = ?3 AND n.environment = ?5 AND ?4 = 1))",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    for (int kind = 0; kind < 2; kind++) {
        size_t n = kind == 0 ? sc->n_store_codes : sc->n_node_codes;
        for (size_t i = 0; i < n; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, release_id);
            sqlite3_bind_int64(st, 2, customer_id);
            sqlite3_bind_text(st, 3, kind == 0 ? sc->store_codes[i] : sc->node_codes[i], -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 4, kind);
            sqlite3_bind_int(st, 5, sc->environment);
            if (sqlite3_step(st) != SQLITE_DONE)
                goto dberr;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO update_task (release_id, node_id, kind, state, created_at, updated_at)"
            " VALUES (?1, ?2, 1, ?5, ?3, ?4)",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int(st, 5, FERRY_STATE_PENDING);
    for (size_t i = 0; i < cs.n; i++) {
        if (!sel[i])
            continue;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, release_id);
        sqlite3_bind_int64(st, 2, cs.c[i].id);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto dberr;
        pub_t p = {sqlite3_last_insert_rowid(hub->db), cs.c[i].id, FERRY_STATE_PENDING, ""};
        if (!pubs_push(&pubs, &n_pub, &cap_pub, p)) {
            ferry_err_set(&err, FERRY_E_NOMEM, "create release: out of memory");
            goto fail;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    for (size_t i = 0; i < n_pub; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "created by release %lld", (long long)release_id);
        if (add_event(hub, pubs[i].task_id, FERRY_STATE_PENDING, "", msg, source, now, &err) != FERRY_OK)
            goto fail;
    }
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK || hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = false;

    /* The reply: the release and its tasks (read back, as every reader sees them). */
    if (hub_release_load(hub, &a, release_id, &rel, &err) != FERRY_OK)
        goto reply_fail;
    if ((resp.tasks = hub_arena_alloc(&a, n_pub * sizeof(*resp.tasks) + 1)) == NULL) {
        ferry_err_set(&err, FERRY_E_NOMEM, "create release: out of memory");
        goto reply_fail;
    }
    for (size_t i = 0; i < n_pub; i++) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(&a, sizeof(*t));
        if (t == NULL || hub_task_load(hub, &a, pubs[i].task_id, now, t, &err) != FERRY_OK) {
            if (t == NULL)
                ferry_err_set(&err, FERRY_E_NOMEM, "create release: out of memory");
            goto reply_fail;
        }
        resp.tasks[resp.n_tasks++] = t;
    }
    hub_db_unlock(hub);
    locked = false;
    publish_all(hub, release_id, pubs, n_pub, 1, "new release");
    resp.release = &rel;
    ferry_v1_admin_service_create_release_reply(call, &resp);
    goto out;
reply_fail:
    /* Committed already: agents must still hear about their tasks. */
    hub_db_unlock(hub);
    locked = false;
    publish_all(hub, release_id, pubs, n_pub, 1, "new release");
    hub_fail(call, &err);
    goto out;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "create release: %s", sqlite3_errmsg(hub->db));
fail:
    sqlite3_finalize(st);
    st = NULL;
    if (!locked) {
        hub_db_lock(hub);
        locked = true;
    }
    if (in_tx)
        hub_tx_rollback(hub);
    {
        ferry_err_t e2 = {0};
        hub_audit(hub, call, target, ferry_err_name(err.code), &e2);
    }
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
    cand_free(&cs);
    free(sel);
    free(known);
    free(pubs);
    hub_arena_free(&a);
}

/* ---- reads ------------------------------------------------------------------------------------------ */

static void get_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetReleaseRequest *req = vreq;
    Ferry__V1__GetReleaseResponse resp = FERRY__V1__GET_RELEASE_RESPONSE__INIT;
    Ferry__V1__Release rel;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    int64_t id;
    ferry_err_code_t rc;
    if (hub_parse_id(req->id, "release id", &id, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    hub_db_lock(hub);
    rc = hub_release_load(hub, &a, id, &rel, &err);
    hub_db_unlock(hub);
    if (rc != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    resp.release = &rel;
    ferry_v1_admin_service_get_release_reply(call, &resp);
out:
    hub_arena_free(&a);
}

static void *release_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__Release *r = hub_arena_alloc(a, sizeof(*r));
    (void)err;
    if (r != NULL)
        read_release(ctx, a, st, r);
    return r;
}

static void list_releases_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListReleasesRequest *req = vreq;
    Ferry__V1__ListReleasesResponse resp = FERRY__V1__LIST_RELEASES_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    hub_list_t l = {HUB_DB_MAIN, "list releases",    hub_page_limit(req->page_size),
                    0,           HUB_PAGE_BY_OFFSET, release_row,
                    hub};

    /* ?4 state: COMPLETED / ACTIVE are told apart by the open-task count (column 12). */
    hub_query_text(&q,
                   "SELECT * FROM (" RELEASE_SELECT
                   " WHERE (?1 = '' OR c.code = ?1) AND (?2 = '' OR p.version = ?2)"
                   " AND (?3 = 0 OR r.environment = ?3)) AS x"
                   " WHERE ?4 = 0 OR (?4 = 4 AND x.status = 1 AND x.open_tasks = 0)"
                   " OR (?4 = 1 AND x.status = 1 AND x.open_tasks > 0) OR (?4 IN (2, 3) AND x.status = ?4)"
                   " ORDER BY x.id DESC LIMIT ?5 OFFSET ?6",
                   req->customer_code);
    hub_query_text(&q, NULL, req->package_version);
    hub_query_int(&q, NULL, req->environment);
    hub_query_int(&q, NULL, req->state);
    if (hub_page_token_read(req->page_token, &l.offset, &err) != FERRY_OK ||
        hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    resp.releases = (Ferry__V1__Release **)rows.items;
    resp.n_releases = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_releases_reply(call, &resp);
out:
    hub_arena_free(&a);
}

static void get_release_summary_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetReleaseSummaryRequest *req = vreq;
    Ferry__V1__GetReleaseSummaryResponse resp = FERRY__V1__GET_RELEASE_SUMMARY_RESPONSE__INIT;
    Ferry__V1__Release rel;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    int64_t id, cutoff = hub_now_ms() - (int64_t)hub->cfg.offline_after_s * 1000;
    bool locked = false;

    if (hub_parse_id(req->id, "release id", &id, &err) != FERRY_OK)
        goto fail;
    hub_db_lock(hub);
    locked = true;
    if (hub_release_load(hub, &a, id, &rel, &err) != FERRY_OK)
        goto fail;
    resp.release = &rel;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT state, count(*) FROM update_task WHERE release_id = ? GROUP BY state ORDER BY state", -1,
            &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    resp.by_state = hub_arena_alloc(&a, 16 * sizeof(*resp.by_state));
    while (resp.by_state != NULL && resp.n_by_state < 16 && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__StateCount *c = hub_arena_alloc(&a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__state_count__init(c);
        c->state = sqlite3_column_int(st, 0);
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        resp.total += c->count;
        if (hub_task_state_final(c->state))
            resp.finished += c->count;
        resp.by_state[resp.n_by_state++] = c;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(hub->db,
                           "SELECT error_code, count(*) FROM update_task WHERE release_id = ? AND state = ?"
                           " AND error_code <> '' GROUP BY error_code ORDER BY count(*) DESC LIMIT 64",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, FERRY_STATE_FAILED);
    resp.by_error = hub_arena_alloc(&a, 64 * sizeof(*resp.by_error));
    while (resp.by_error != NULL && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__ErrorCount *c = hub_arena_alloc(&a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__error_count__init(c);
        c->error_code = hub_arena_strdup(&a, hub_col_text(st, 0));
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        resp.by_error[resp.n_by_error++] = c;
    }
    sqlite3_finalize(st);
    /* The stored last_seen_at lags the in-memory presence by up to a flush interval:
     * a node seen since counts as online too. */
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT DISTINCT n.id, n.last_seen_at FROM update_task t JOIN node n ON n.id = t.node_id"
            " WHERE t.release_id = ?",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t seen = sqlite3_column_int64(st, 1);
        int64_t mem = hub_presence_last_seen(hub, sqlite3_column_int64(st, 0));
        if ((mem > seen ? mem : seen) >= cutoff)
            resp.nodes_online++;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (a.failed) {
        ferry_err_set(&err, FERRY_E_NOMEM, "summary: out of memory");
        goto fail;
    }
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_get_release_summary_reply(call, &resp);
    goto out;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "summary: %s", sqlite3_errmsg(hub->db));
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
    hub_arena_free(&a);
}

/* ---- pause / resume / cancel --------------------------------------------------------------------- */

typedef enum { OP_PAUSE, OP_RESUME, OP_CANCEL } op_t;

/*
 * Applies |op| to release |id| inside one transaction; collects the tasks it changed
 * in |pubs| for publishing after the commit. *changed = number of tasks stopped by a
 * cancel.
 */
static ferry_err_code_t apply_op(ferry_hub_t *hub, ferry_rpc_call_t *call, int64_t id, op_t op,
                                 const char *reason, pub_t **pubs, size_t *n_pub, size_t *cap_pub,
                                 ferry_err_t *err)
{
    sqlite3_stmt *st = NULL, *up = NULL;
    ferry_err_code_t rc = FERRY_OK;
    int64_t now = hub_now_ms();
    int status;
    char source[64], msg[320];
    static const char *const names[] = {"pause", "resume", "cancel"};

    source_of(call, source, sizeof(source));
    if (sqlite3_prepare_v2(hub->db, "SELECT status FROM release WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no release %lld", (long long)id);
        goto out;
    }
    status = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_CANCELED) {
        if (op != OP_CANCEL)
            rc = ferry_err_set(err, FERRY_E_PRECONDITION, "release %lld is canceled: cannot %s it",
                               (long long)id, names[op]);
        goto out; /* cancel of a canceled release: nothing to do */
    }
    if ((op == OP_PAUSE && status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED) ||
        (op == OP_RESUME && status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE))
        goto out; /* already there */

    int new_status = op == OP_PAUSE    ? FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED
                     : op == OP_RESUME ? FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE
                                       : FERRY__V1__RELEASE_STATE__RELEASE_STATE_CANCELED;
    if (sqlite3_prepare_v2(hub->db, "UPDATE release SET status = ?, updated_at = ? WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int(st, 1, new_status);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    st = NULL;

    /* The tasks concerned: not yet stopping the service (10..40) for pause and cancel;
     * halted and unfinished for resume. */
    const char *pick =
        op == OP_RESUME
            ? "SELECT id, node_id, state FROM update_task WHERE release_id = ? AND halted = 1"
              " AND state NOT IN (?, ?, ?)"
            : "SELECT id, node_id, state FROM update_task WHERE release_id = ? AND state IN (?, ?, ?, ?)";
    const char *change = op == OP_PAUSE ? "UPDATE update_task SET halted = 1, updated_at = ?2 WHERE id = ?1"
                         : op == OP_RESUME
                             ? "UPDATE update_task SET halted = 0, updated_at = ?2 WHERE id = ?1"
                             : "UPDATE update_task SET state = ?4, error_code = 'E_CANCELED',"
                               " message = ?3, halted = 1, percent = 0, updated_at = ?2,"
                               " finished_at = ?2 WHERE id = ?1";
    if (op == OP_CANCEL)
        snprintf(msg, sizeof(msg), "release canceled%s%s", reason[0] ? ": " : "", reason);
    else
        snprintf(msg, sizeof(msg), "release %s", op == OP_PAUSE ? "paused" : "resumed");
    if (sqlite3_prepare_v2(hub->db, pick, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(hub->db, change, -1, &up, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    if (op == OP_RESUME) {
        sqlite3_bind_int(st, 2, FERRY_STATE_SUCCEEDED);
        sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
        sqlite3_bind_int(st, 4, FERRY_STATE_ROLLBACKED);
    } else {
        sqlite3_bind_int(st, 2, FERRY_STATE_PENDING);
        sqlite3_bind_int(st, 3, FERRY_STATE_DOWNLOADING);
        sqlite3_bind_int(st, 4, FERRY_STATE_VERIFYING);
        sqlite3_bind_int(st, 5, FERRY_STATE_WAITING_USER);
    }
    if (op == OP_CANCEL)
        sqlite3_bind_int(up, 4, FERRY_STATE_FAILED);
    while (sqlite3_step(st) == SQLITE_ROW) {
        pub_t p = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2), ""};
        if (op == OP_CANCEL) {
            p.state = FERRY_STATE_FAILED;
            snprintf(p.error_code, sizeof(p.error_code), "E_CANCELED");
        }
        sqlite3_reset(up);
        sqlite3_bind_int64(up, 1, p.task_id);
        sqlite3_bind_int64(up, 2, now);
        if (op == OP_CANCEL)
            sqlite3_bind_text(up, 3, msg, -1, SQLITE_STATIC);
        if (sqlite3_step(up) != SQLITE_DONE)
            goto dberr;
        if (!pubs_push(pubs, n_pub, cap_pub, p)) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "%s release: out of memory", names[op]);
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    for (size_t i = 0; i < *n_pub; i++)
        if ((rc = add_event(hub, (*pubs)[i].task_id, (*pubs)[i].state, (*pubs)[i].error_code, msg, source,
                            now, err)) != FERRY_OK)
            goto out;
    goto out;
dberr:
    rc = ferry_err_set(err, FERRY_E_IO, "%s release: %s", names[op], sqlite3_errmsg(hub->db));
out:
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

typedef struct op_req {
    const char *id;
    const char *reason;
} op_req_t;

static void run_op(ferry_rpc_call_t *call, ferry_hub_t *hub, op_req_t r, op_t op)
{
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    Ferry__V1__Release rel;
    pub_t *pubs = NULL;
    size_t n_pub = 0, cap_pub = 0;
    int64_t id = 0;
    bool in_tx = false;
    char target[48];

    snprintf(target, sizeof(target), "release:%.30s", r.id);
    hub_db_lock(hub);
    if (hub_parse_id(r.id, "release id", &id, &err) != FERRY_OK || hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (apply_op(hub, call, id, op, r.reason, &pubs, &n_pub, &cap_pub, &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK || hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = false;
    ferry_err_code_t lrc = hub_release_load(hub, &a, id, &rel, &err);
    hub_db_unlock(hub);
    publish_all(hub, id, pubs, n_pub, op == OP_RESUME,
                op == OP_PAUSE    ? "release paused"
                : op == OP_RESUME ? "release resumed"
                                  : "release canceled");
    if (lrc != FERRY_OK) {
        hub_fail(call, &err);
    } else if (op == OP_PAUSE) {
        Ferry__V1__PauseReleaseResponse resp = FERRY__V1__PAUSE_RELEASE_RESPONSE__INIT;
        resp.release = &rel;
        ferry_v1_admin_service_pause_release_reply(call, &resp);
    } else if (op == OP_RESUME) {
        Ferry__V1__ResumeReleaseResponse resp = FERRY__V1__RESUME_RELEASE_RESPONSE__INIT;
        resp.release = &rel;
        ferry_v1_admin_service_resume_release_reply(call, &resp);
    } else {
        Ferry__V1__CancelReleaseResponse resp = FERRY__V1__CANCEL_RELEASE_RESPONSE__INIT;
        resp.release = &rel;
        resp.tasks_canceled = n_pub;
        ferry_v1_admin_service_cancel_release_reply(call, &resp);
    }
    goto out;
fail:
    if (in_tx)
        hub_tx_rollback(hub);
    {
        ferry_err_t e2 = {0};
        hub_audit(hub, call, target, ferry_err_name(err.code), &e2);
    }
    hub_db_unlock(hub);
    hub_fail(call, &err);
out:
    free(pubs);
    hub_arena_free(&a);
}

static void pause_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__PauseReleaseRequest *req = vreq;
    run_op(call, hub, (op_req_t){req->id, ""}, OP_PAUSE);
}

static void resume_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ResumeReleaseRequest *req = vreq;
    run_op(call, hub, (op_req_t){req->id, ""}, OP_RESUME);
}

static void cancel_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CancelReleaseRequest *req = vreq;
    if (strlen(req->reason) > 1024) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG",
                            "reason longer than 1024 bytes");
        return;
    }
    run_op(call, hub, (op_req_t){req->id, req->reason}, OP_CANCEL);
}

/* ---- rollback ------------------------------------------------------------------------------------ */

static void rollback_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__RollbackReleaseRequest *req = vreq;
    Ferry__V1__RollbackReleaseResponse resp = FERRY__V1__ROLLBACK_RELEASE_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL, *ins = NULL;
    pub_t *pubs = NULL;
    size_t n_pub = 0, cap_pub = 0, n_rows = 0, missing = 0;
    int64_t id = 0, now = hub_now_ms();
    bool in_tx = false;
    char target[48], source[64], msg[320], skipped_names[400] = "";

    snprintf(target, sizeof(target), "release:%.30s", req->id);
    source_of(call, source, sizeof(source));
    snprintf(msg, sizeof(msg), "rollback requested%s%s", req->reason[0] ? ": " : "", req->reason);
    hub_db_lock(hub);
    if (req->n_node_codes > HUB_SCOPE_CODES_MAX || strlen(req->reason) > 1024) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "at most %d nodes and a reason of 1024 bytes",
                      HUB_SCOPE_CODES_MAX);
        goto fail;
    }
    if (hub_parse_id(req->id, "release id", &id, &err) != FERRY_OK || hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (lookup_id(hub, "SELECT id FROM release WHERE id = CAST(?1 AS INTEGER)", req->id, 0, NULL) == 0) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND, "no release %lld", (long long)id);
        goto fail;
    }
    /* Named nodes must belong to the release. */
    for (size_t i = 0; i < req->n_node_codes; i++) {
        if (lookup_id(hub,
                      "SELECT t.id FROM update_task t JOIN node n ON n.id = t.node_id WHERE n.code = ?1"
                      " AND t.release_id = ?2 AND t.kind = 1",
                      req->node_codes[i], id, NULL) == 0) {
            ferry_err_set(&err, FERRY_E_NOT_FOUND, "node '%s' has no task in release %lld",
                          req->node_codes[i], (long long)id);
            goto fail;
        }
    }
    if ((resp.skipped_node_codes = hub_arena_alloc(&a, sizeof(char *) * 1)) == NULL)
        goto nomem;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT t.id, t.node_id, n.code, t.state, t.backup_local_path, t.server_dir, t.client_dir,"
            " (SELECT count(*) FROM update_task x WHERE x.release_id = t.release_id AND x.node_id ="
            " t.node_id AND x.kind = 2)"
            " FROM update_task t JOIN node n ON n.id = t.node_id WHERE t.release_id = ? AND t.kind = 1"
            " ORDER BY n.code",
            -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO update_task (release_id, node_id, kind, state, message, rollback_of_task_id,"
            " backup_local_path, server_dir, client_dir, created_at, updated_at)"
            " VALUES (?1, ?2, 2, ?10, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            -1, &ins, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int(ins, 10, FERRY_STATE_PENDING);
    sqlite3_bind_int64(st, 1, id);
    size_t cap_skip = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *code = hub_col_text(st, 2);
        int state = sqlite3_column_int(st, 3);
        const char *backup = hub_col_text(st, 4);
        bool named =
            req->n_node_codes == 0 || in_list(code, (const char *const *)req->node_codes, req->n_node_codes);
        if (!named)
            continue;
        n_rows++;
        bool has_backup = backup[0] != '\0';
        bool eligible = has_backup && (state == FERRY_STATE_SUCCEEDED || state == FERRY_STATE_FAILED) &&
                        sqlite3_column_int(st, 7) == 0;
        if (!eligible) {
            if (!has_backup)
                missing++;
            if (resp.n_skipped_node_codes == cap_skip) {
                size_t nc = cap_skip ? cap_skip * 2 : 16;
                char **x = hub_arena_alloc(&a, nc * sizeof(*x));
                if (x == NULL)
                    goto nomem;
                if (resp.n_skipped_node_codes)
                    memcpy(x, resp.skipped_node_codes, resp.n_skipped_node_codes * sizeof(*x));
                resp.skipped_node_codes = x, cap_skip = nc;
            }
            resp.skipped_node_codes[resp.n_skipped_node_codes++] = hub_arena_strdup(&a, code);
            size_t len = strlen(skipped_names);
            if (resp.n_skipped_node_codes <= MSG_NODES_MAX)
                snprintf(skipped_names + len, sizeof(skipped_names) - len, "%s%s (%s)", len ? ", " : "", code,
                         !has_backup                 ? "no backup"
                         : sqlite3_column_int(st, 7) ? "already has a rollback task"
                                                     : "task not finished");
            continue;
        }
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_int64(ins, 2, sqlite3_column_int64(st, 1));
        sqlite3_bind_text(ins, 3, msg, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, sqlite3_column_int64(st, 0));
        sqlite3_bind_text(ins, 5, backup, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 6, hub_col_text(st, 5), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 7, hub_col_text(st, 6), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 8, now);
        sqlite3_bind_int64(ins, 9, now);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto dberr;
        pub_t p = {sqlite3_last_insert_rowid(hub->db), sqlite3_column_int64(st, 1), FERRY_STATE_PENDING, ""};
        if (!pubs_push(&pubs, &n_pub, &cap_pub, p))
            goto nomem;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (n_pub == 0) {
        if (missing > 0)
            ferry_err_set(&err, FERRY_E_BACKUP_MISSING, "nothing to roll back in release %lld: %s",
                          (long long)id, n_rows ? skipped_names : "no update task");
        else
            ferry_err_set(&err, FERRY_E_PRECONDITION, "nothing to roll back in release %lld: %s",
                          (long long)id, n_rows ? skipped_names : "no update task");
        goto fail;
    }
    for (size_t i = 0; i < n_pub; i++)
        if (add_event(hub, pubs[i].task_id, FERRY_STATE_PENDING, "", msg, source, now, &err) != FERRY_OK)
            goto fail;
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK || hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = false;
    if ((resp.tasks = hub_arena_alloc(&a, n_pub * sizeof(*resp.tasks))) == NULL)
        goto committed_nomem;
    for (size_t i = 0; i < n_pub; i++) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(&a, sizeof(*t));
        if (t == NULL)
            goto committed_nomem;
        if (hub_task_load(hub, &a, pubs[i].task_id, now, t, &err) != FERRY_OK)
            goto committed_fail;
        resp.tasks[resp.n_tasks++] = t;
    }
    hub_db_unlock(hub);
    publish_all(hub, id, pubs, n_pub, 1, "rollback requested");
    ferry_v1_admin_service_rollback_release_reply(call, &resp);
    goto out;
committed_nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "rollback: out of memory");
committed_fail:
    hub_db_unlock(hub);
    publish_all(hub, id, pubs, n_pub, 1, "rollback requested");
    hub_fail(call, &err);
    goto out;
nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "rollback: out of memory");
    goto fail;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "rollback: %s", sqlite3_errmsg(hub->db));
fail:
    sqlite3_finalize(st);
    st = NULL;
    if (in_tx)
        hub_tx_rollback(hub);
    {
        ferry_err_t e2 = {0};
        hub_audit(hub, call, target, ferry_err_name(err.code), &e2);
    }
    hub_db_unlock(hub);
    if (err.code == FERRY_E_BACKUP_MISSING)
        /* Not "not found": the release exists, its nodes lack what a rollback needs. */
        ferry_rpc_call_fail(call, FERRY_RPC_FAILED_PRECONDITION, "E_BACKUP_MISSING", "%s", err.msg);
    else
        hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ins);
    free(pubs);
    hub_arena_free(&a);
}

HUB_OFFLOADED(create_release, Ferry__V1__CreateReleaseRequest)
HUB_OFFLOADED(list_releases, Ferry__V1__ListReleasesRequest)
HUB_OFFLOADED(get_release, Ferry__V1__GetReleaseRequest)
HUB_OFFLOADED(pause_release, Ferry__V1__PauseReleaseRequest)
HUB_OFFLOADED(resume_release, Ferry__V1__ResumeReleaseRequest)
HUB_OFFLOADED(cancel_release, Ferry__V1__CancelReleaseRequest)
HUB_OFFLOADED(rollback_release, Ferry__V1__RollbackReleaseRequest)
HUB_OFFLOADED(get_release_summary, Ferry__V1__GetReleaseSummaryRequest)

void hub_releases_bind(ferry_hub_t *hub)
{
    hub->admin.create_release = create_release;
    hub->admin.list_releases = list_releases;
    hub->admin.get_release = get_release;
    hub->admin.pause_release = pause_release;
    hub->admin.resume_release = resume_release;
    hub->admin.cancel_release = cancel_release;
    hub->admin.rollback_release = rollback_release;
    hub->admin.get_release_summary = get_release_summary;
}
