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
 *   - COMPLETED is derived when reading: ACTIVE with no task left in a non-final state
 *     (and, with waves, the last wave started).
 *   - Rollouts (waves, canaries, thresholds, approval, maintenance windows, issue 13):
 *     planned here at creation through waves.c, which creates only the first wave's
 *     tasks here and the others when their wave starts. A pause records its reason
 *     ("paused by admin:<token id>"); a resume clears it and acknowledges the current
 *     wave's failures, then lets waves.c re-evaluate the wave.
 * The data is reached through the releases and tasks repositories (ferry/store/
 * releases.h, tasks.h). The reads are framed (HUB_METHOD); the writes keep their own
 * frame because agents must hear about committed tasks even when the reply fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"
#include "hub_agent.h"
#include "hub_pkg.h"
#include "ferry/store/packages.h"
#include "ferry/store/releases.h"
#include "ferry/store/tasks.h"
#include "hub_frame.h"
#include "hub_waves.h"
#include "ferry/store/waves.h"

/* Arrays of message pointers are sized with sizeof(void *): every pointer to a struct has
 * the same size, and sizeof(*p) of one reads as a mistake to clang-tidy. */

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

ferry_err_code_t hub_release_load(ferry_hub_t *hub, hub_arena_t *a, int64_t id, Ferry__V1__Release *out,
                                  ferry_err_t *err)
{
    return ferry_store_release_get(hub->store, a, id, out, err);
}

/* ---- shared write helpers (store lock held, inside a transaction) -------------------------------- */

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
    ferry_store_task_event_new_t e = {task_id, state, error_code, message, source, now};
    return ferry_store_task_event_add(hub->store, &e, err);
}

static void source_of(ferry_rpc_call_t *call, char *buf, size_t size)
{
    const hub_principal_t *who = hub_principal(call);
    snprintf(buf, size, "admin:%s", who != NULL ? who->token_id : "");
}

/* Records the failure's audit row after the rollback and fails the call. Store lock held. */
static void fail_audited(ferry_hub_t *hub, ferry_rpc_call_t *call, const char *target, bool in_tx,
                         const ferry_err_t *err)
{
    ferry_err_t e2 = {0};
    if (in_tx)
        ferry_store_tx_rollback(hub->store);
    hub_audit(hub, call, target, ferry_err_name(err->code), &e2);
}

/* ---- CreateRelease ---------------------------------------------------------------------------------- */

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
                                      const ferry_store_scope_t *sc, const bool *sel, ferry_err_t *err)
{
    char names[400] = "";
    int hits = 0;
    ferry_err_code_t rc;

    for (size_t i = 0; i < sc->n_nodes; i++) {
        bool has = false;
        int64_t rid = 0;
        int state = 0;
        if (!sel[i])
            continue;
        if ((rc = ferry_store_release_node_has_version(hub->store, sc->nodes[i].id, package_id, &has, &rid,
                                                       &state, err)) != FERRY_OK)
            return rc;
        if (!has)
            continue;
        if (hits < MSG_NODES_MAX) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof(names) - len, "%s%s (release %lld, state %d)", hits ? ", " : "",
                     sc->nodes[i].code, (long long)rid, state);
        }
        hits++;
    }
    if (hits > 0)
        return ferry_err_set(err, FERRY_E_VERSION_DUPLICATE,
                             "version %s is already published to %d node(s): %s%s", version, hits, names,
                             hits > MSG_NODES_MAX ? ", ..." : "");
    return FERRY_OK;
}

/* The scope's selected nodes (with waves: those of wave 1) become release |release_id|'s tasks
 * (Pending) with their history row. */
static ferry_err_code_t create_tasks(ferry_hub_t *hub, int64_t release_id, const ferry_store_scope_t *sc,
                                     const bool *sel, const int *wave_of, bool waved, const char *source,
                                     int64_t now, pub_t **pubs, size_t *n_pub, size_t *cap_pub,
                                     ferry_err_t *err)
{
    char msg[64];
    ferry_err_code_t rc;

    snprintf(msg, sizeof(msg), "created by release %lld", (long long)release_id);
    for (size_t i = 0; i < sc->n_nodes; i++) {
        ferry_store_task_new_t t = {release_id,
                                    sc->nodes[i].id,
                                    FERRY__V1__TASK_KIND__TASK_KIND_UPDATE,
                                    FERRY_STATE_PENDING,
                                    "",
                                    0,
                                    "",
                                    "",
                                    "",
                                    now,
                                    wave_of[i]};
        pub_t p = {0, sc->nodes[i].id, FERRY_STATE_PENDING, ""};
        /* With waves only the first wave's nodes get a task now (waves.c starts the others). */
        if (!sel[i] || (waved && wave_of[i] != 1))
            continue;
        if ((rc = ferry_store_task_insert(hub->store, &t, &p.task_id, err)) != FERRY_OK)
            return rc;
        if (!pubs_push(pubs, n_pub, cap_pub, p))
            return ferry_err_set(err, FERRY_E_NOMEM, "create release: out of memory");
    }
    for (size_t i = 0; i < *n_pub; i++)
        if ((rc = add_event(hub, (*pubs)[i].task_id, FERRY_STATE_PENDING, "", msg, source, now, err)) !=
            FERRY_OK)
            return rc;
    return FERRY_OK;
}

static void create_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreateReleaseRequest *req = vreq;
    const Ferry__V1__ReleaseScope *sc = req->scope;
    Ferry__V1__CreateReleaseResponse resp = FERRY__V1__CREATE_RELEASE_RESPONSE__INIT;
    Ferry__V1__Release rel;
    ferry_store_scope_t scope = {0};
    ferry_store_release_new_t row = {0};
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_rollout_req_t ro;
    int *wave_of = NULL;
    bool *sel = NULL, in_tx = false, cust_disabled = false;
    size_t count = 0, n_pub = 0, cap_pub = 0;
    pub_t *pubs = NULL;
    int64_t now = ferry_store_now_ms(), deadline, release_id = 0;
    char target[128], source[64];
    const hub_principal_t *who = hub_principal(call);

    snprintf(target, sizeof(target), "release:%.60s", req->package_version);
    source_of(call, source, sizeof(source));
    ferry_store_lock(hub->store);
    if (check_request(req, now, &deadline, &err) != FERRY_OK ||
        hub_rollout_check(req, &ro, &err) != FERRY_OK || ferry_store_tx_begin(hub->store, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (ferry_store_package_id(hub->store, req->package_version, &row.package_id, &err) != FERRY_OK ||
        ferry_store_release_customer(hub->store, sc->customer_code, &row.customer_id, &cust_disabled, &err) !=
            FERRY_OK)
        goto fail;
    if (cust_disabled) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "customer '%s' is disabled", sc->customer_code);
        goto fail;
    }
    if (ferry_store_release_scope(hub->store, &a, row.customer_id, sc->environment, &scope, &err) != FERRY_OK)
        goto fail;
    if ((sel = calloc(scope.n_nodes + 1, sizeof(*sel))) == NULL ||
        (wave_of = calloc(scope.n_nodes + 1, sizeof(*wave_of))) == NULL) {
        ferry_err_set(&err, FERRY_E_NOMEM, "scope: out of memory");
        goto fail;
    }
    if (hub_scope_select(scope.nodes, scope.n_nodes, scope.store_codes, scope.n_store_codes,
                         (const char *const *)sc->store_codes, sc->n_store_codes,
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
    if (check_overlap(hub, row.package_id, req->package_version, &scope, sel, &err) != FERRY_OK)
        goto fail;
    row.environment = sc->environment;
    row.policy = req->policy;
    row.deadline_at = deadline;
    row.description = req->description;
    row.created_by = who != NULL && who->kind == HUB_PRINCIPAL_ADMIN ? who->row_id : 0;
    row.now = now;
    if (ferry_store_release_insert(hub->store, &row, &release_id, &err) != FERRY_OK)
        goto fail;
    snprintf(target, sizeof(target), "release:%lld", (long long)release_id);
    /* The scope as requested. */
    for (size_t i = 0; i < sc->n_store_codes + sc->n_node_codes; i++) {
        bool node = i >= sc->n_store_codes;
        const char *code = node ? sc->node_codes[i - sc->n_store_codes] : sc->store_codes[i];
        if (ferry_store_release_target_add(hub->store, release_id, row.customer_id, sc->environment, code,
                                           node, &err) != FERRY_OK)
            goto fail;
    }
    if (hub_rollout_create(hub, release_id, &ro, req, &scope, sel, wave_of, &err) != FERRY_OK ||
        create_tasks(hub, release_id, &scope, sel, wave_of, ro.waved, source, now, &pubs, &n_pub, &cap_pub,
                     &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        ferry_store_tx_commit(hub->store, &err) != FERRY_OK)
        goto fail;

    /* The reply: the release and its tasks (read back, as every reader sees them). */
    if (ferry_store_release_get(hub->store, &a, release_id, &rel, &err) != FERRY_OK)
        goto reply_fail;
    if ((resp.tasks = hub_arena_alloc(&a, n_pub * sizeof(void *) + 1)) == NULL) {
        ferry_err_set(&err, FERRY_E_NOMEM, "create release: out of memory");
        goto reply_fail;
    }
    for (size_t i = 0; i < n_pub; i++) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(&a, sizeof(*t));
        if (t == NULL || ferry_store_task_get(hub->store, &a, pubs[i].task_id, now, t, &err) != FERRY_OK) {
            if (t == NULL)
                ferry_err_set(&err, FERRY_E_NOMEM, "create release: out of memory");
            goto reply_fail;
        }
        resp.tasks[resp.n_tasks++] = t;
    }
    ferry_store_unlock(hub->store);
    publish_all(hub, release_id, pubs, n_pub, 1, "new release");
    resp.release = &rel;
    ferry_v1_admin_service_create_release_reply(call, &resp);
    goto out;
reply_fail:
    /* Committed already: agents must still hear about their tasks. */
    ferry_store_unlock(hub->store);
    publish_all(hub, release_id, pubs, n_pub, 1, "new release");
    hub_fail(call, &err);
    goto out;
fail:
    fail_audited(hub, call, target, in_tx, &err);
    ferry_store_unlock(hub->store);
    hub_fail(call, &err);
out:
    free(sel);
    free(wave_of);
    free(pubs);
    hub_arena_free(&a);
}

/* ---- reads ------------------------------------------------------------------------------------------ */

HUB_METHOD(admin, get_release, Ferry__V1__GetReleaseRequest, Ferry__V1__GetReleaseResponse, HUB_FRAME_OFFLOAD,
           NULL)
HUB_METHOD(admin, list_releases, Ferry__V1__ListReleasesRequest, Ferry__V1__ListReleasesResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, get_release_summary, Ferry__V1__GetReleaseSummaryRequest,
           Ferry__V1__GetReleaseSummaryResponse, HUB_FRAME_OFFLOAD, NULL)

static ferry_err_code_t get_release_body(hub_frame_t *f, const Ferry__V1__GetReleaseRequest *req,
                                         Ferry__V1__GetReleaseResponse *resp, ferry_err_t *err)
{
    Ferry__V1__Release *rel = hub_arena_alloc(&f->arena, sizeof(*rel));
    int64_t id;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->id, "release id", &id, err)) != FERRY_OK)
        return rc;
    if (rel == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "get release: out of memory");
    ferry_store_lock(f->store);
    rc = ferry_store_release_get(f->store, &f->arena, id, rel, err);
    ferry_store_unlock(f->store);
    if (rc == FERRY_OK)
        resp->release = rel;
    return rc;
}

static ferry_err_code_t list_releases_body(hub_frame_t *f, const Ferry__V1__ListReleasesRequest *req,
                                           Ferry__V1__ListReleasesResponse *resp, ferry_err_t *err)
{
    ferry_store_release_filter_t flt = {req->customer_code, req->package_version, req->environment,
                                        req->state};
    ferry_store_page_t rows;
    ferry_err_code_t rc;

    if ((rc = ferry_store_releases_list(f->store, &flt, req->page_token, req->page_size, &f->arena, &rows,
                                        err)) != FERRY_OK)
        return rc;
    resp->releases = (Ferry__V1__Release **)rows.items;
    resp->n_releases = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t get_release_summary_body(hub_frame_t *f,
                                                 const Ferry__V1__GetReleaseSummaryRequest *req,
                                                 Ferry__V1__GetReleaseSummaryResponse *resp, ferry_err_t *err)
{
    Ferry__V1__Release *rel = hub_arena_alloc(&f->arena, sizeof(*rel));
    ferry_store_release_node_seen_t *nodes = NULL;
    size_t n_nodes = 0;
    int64_t id, cutoff = ferry_store_now_ms() - (int64_t)f->hub->cfg.offline_after_s * 1000;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->id, "release id", &id, err)) != FERRY_OK)
        return rc;
    if (rel == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "summary: out of memory");
    ferry_store_lock(f->store);
    rc = ferry_store_release_get(f->store, &f->arena, id, rel, err);
    if (rc == FERRY_OK)
        rc = ferry_store_release_summary(f->store, &f->arena, id, resp, &nodes, &n_nodes, err);
    ferry_store_unlock(f->store);
    if (rc != FERRY_OK)
        return rc;
    resp->release = rel;
    /* The stored last_seen_at lags the in-memory presence by up to a flush interval:
     * a node seen since counts as online too. */
    for (size_t i = 0; i < n_nodes; i++) {
        int64_t mem = hub_presence_last_seen(f->hub, nodes[i].node_id), seen = nodes[i].last_seen_at;
        if ((mem > seen ? mem : seen) >= cutoff)
            resp->nodes_online++;
    }
    return FERRY_OK;
}

/* ---- pause / resume / cancel --------------------------------------------------------------------- */

typedef enum { OP_PAUSE, OP_RESUME, OP_CANCEL } op_t;

/*
 * The paused reason an admin's pause records ("paused by admin:<token id>"); a resume
 * clears it and acknowledges every wave's failures so far (waves.c pauses again only on
 * a further failure that puts a wave above the error threshold).
 */
static ferry_err_code_t paused_reason(ferry_hub_t *hub, int64_t id, op_t op, const char *source,
                                      ferry_err_t *err)
{
    char why[96];
    ferry_err_code_t rc = FERRY_OK;

    if (op == OP_PAUSE) {
        snprintf(why, sizeof(why), "paused by %s", source);
        rc = ferry_store_rollout_paused_reason(hub->store, id, why, err);
    } else if (op == OP_RESUME) {
        if ((rc = ferry_store_waves_ack(hub->store, id, err)) == FERRY_OK)
            rc = ferry_store_rollout_paused_reason(hub->store, id, "", err);
    }
    return rc;
}

/*
 * Applies |op| to release |id| inside one transaction; collects the tasks it changed
 * in |pubs| for publishing after the commit.
 */
static ferry_err_code_t apply_op(ferry_hub_t *hub, hub_arena_t *a, ferry_rpc_call_t *call, int64_t id,
                                 op_t op, const char *reason, pub_t **pubs, size_t *n_pub, size_t *cap_pub,
                                 ferry_err_t *err)
{
    static const char *const names[] = {"pause", "resume", "cancel"};
    static const ferry_store_release_op_t store_op[] = {FERRY_STORE_RELEASE_PAUSE, FERRY_STORE_RELEASE_RESUME,
                                                        FERRY_STORE_RELEASE_CANCEL};
    ferry_store_task_change_t *changed = NULL;
    size_t n_changed = 0;
    int64_t now = ferry_store_now_ms();
    int status = 0;
    char source[64], msg[320];
    ferry_err_code_t rc;

    source_of(call, source, sizeof(source));
    if ((rc = ferry_store_release_status(hub->store, id, &status, err)) != FERRY_OK)
        return rc;
    if (status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_CANCELED) {
        if (op != OP_CANCEL)
            return ferry_err_set(err, FERRY_E_PRECONDITION, "release %lld is canceled: cannot %s it",
                                 (long long)id, names[op]);
        return FERRY_OK; /* cancel of a canceled release: nothing to do */
    }
    if ((op == OP_PAUSE && status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED) ||
        (op == OP_RESUME && status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE))
        return FERRY_OK; /* already there */

    int new_status = op == OP_PAUSE    ? FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED
                     : op == OP_RESUME ? FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE
                                       : FERRY__V1__RELEASE_STATE__RELEASE_STATE_CANCELED;
    if (op == OP_CANCEL)
        snprintf(msg, sizeof(msg), "release canceled%s%s", reason[0] ? ": " : "", reason);
    else
        snprintf(msg, sizeof(msg), "release %s", op == OP_PAUSE ? "paused" : "resumed");
    if ((rc = ferry_store_release_set_status(hub->store, id, new_status, now, err)) != FERRY_OK ||
        (rc = ferry_store_release_tasks_apply(hub->store, a, id, store_op[op], msg, now, &changed, &n_changed,
                                              err)) != FERRY_OK ||
        (rc = paused_reason(hub, id, op, source, err)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < n_changed; i++) {
        pub_t p = {changed[i].task_id, changed[i].node_id, changed[i].state, ""};
        if (op == OP_CANCEL)
            snprintf(p.error_code, sizeof(p.error_code), "E_CANCELED");
        if (!pubs_push(pubs, n_pub, cap_pub, p))
            return ferry_err_set(err, FERRY_E_NOMEM, "%s release: out of memory", names[op]);
    }
    for (size_t i = 0; i < *n_pub; i++)
        if ((rc = add_event(hub, (*pubs)[i].task_id, (*pubs)[i].state, (*pubs)[i].error_code, msg, source,
                            now, err)) != FERRY_OK)
            return rc;
    return FERRY_OK;
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
    ferry_store_lock(hub->store);
    if (hub_parse_id(r.id, "release id", &id, &err) != FERRY_OK ||
        ferry_store_tx_begin(hub->store, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (apply_op(hub, &a, call, id, op, r.reason, &pubs, &n_pub, &cap_pub, &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        ferry_store_tx_commit(hub->store, &err) != FERRY_OK)
        goto fail;
    ferry_err_code_t lrc = ferry_store_release_get(hub->store, &a, id, &rel, &err);
    ferry_store_unlock(hub->store);
    publish_all(hub, id, pubs, n_pub, op == OP_RESUME,
                op == OP_PAUSE    ? "release paused"
                : op == OP_RESUME ? "release resumed"
                                  : "release canceled");
    hub_waves_release_changed(hub, id);
    if (op == OP_RESUME)
        hub_waves_evaluate(hub, id); /* the wave may have reached its threshold while paused */
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
    fail_audited(hub, call, target, in_tx, &err);
    ferry_store_unlock(hub->store);
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

/* Adds |code| to the skipped list of |resp| (arena memory) and to the message's names. */
static bool skip_node(hub_arena_t *a, Ferry__V1__RollbackReleaseResponse *resp, size_t *cap, const char *code,
                      const char *why, char *names, size_t names_size)
{
    if (resp->n_skipped_node_codes == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **x = hub_arena_alloc(a, nc * sizeof(*x));
        if (x == NULL)
            return false;
        if (resp->n_skipped_node_codes)
            memcpy(x, resp->skipped_node_codes, resp->n_skipped_node_codes * sizeof(*x));
        resp->skipped_node_codes = x, *cap = nc;
    }
    resp->skipped_node_codes[resp->n_skipped_node_codes++] = hub_arena_strdup(a, code);
    size_t len = strlen(names);
    if (resp->n_skipped_node_codes <= MSG_NODES_MAX)
        snprintf(names + len, names_size - len, "%s%s (%s)", len ? ", " : "", code, why);
    return true;
}

static void rollback_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__RollbackReleaseRequest *req = vreq;
    Ferry__V1__RollbackReleaseResponse resp = FERRY__V1__ROLLBACK_RELEASE_RESPONSE__INIT;
    ferry_store_rollback_candidate_t *cands = NULL;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    pub_t *pubs = NULL;
    size_t n_pub = 0, cap_pub = 0, n_rows = 0, missing = 0, n_cands = 0, cap_skip = 0;
    int64_t id = 0, now = ferry_store_now_ms();
    int status = 0;
    bool in_tx = false;
    char target[48], source[64], msg[320], skipped_names[400] = "";

    snprintf(target, sizeof(target), "release:%.30s", req->id);
    source_of(call, source, sizeof(source));
    snprintf(msg, sizeof(msg), "rollback requested%s%s", req->reason[0] ? ": " : "", req->reason);
    ferry_store_lock(hub->store);
    if (req->n_node_codes > HUB_SCOPE_CODES_MAX || strlen(req->reason) > 1024) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "at most %d nodes and a reason of 1024 bytes",
                      HUB_SCOPE_CODES_MAX);
        goto fail;
    }
    if (hub_parse_id(req->id, "release id", &id, &err) != FERRY_OK ||
        ferry_store_tx_begin(hub->store, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (ferry_store_release_status(hub->store, id, &status, &err) != FERRY_OK)
        goto fail;
    /* Named nodes must belong to the release. */
    for (size_t i = 0; i < req->n_node_codes; i++) {
        bool has = false;
        if (ferry_store_release_has_node(hub->store, id, req->node_codes[i], &has, &err) != FERRY_OK)
            goto fail;
        if (!has) {
            ferry_err_set(&err, FERRY_E_NOT_FOUND, "node '%s' has no task in release %lld",
                          req->node_codes[i], (long long)id);
            goto fail;
        }
    }
    if ((resp.skipped_node_codes = hub_arena_alloc(&a, sizeof(char *) * 1)) == NULL)
        goto nomem;
    if (ferry_store_release_update_tasks(hub->store, &a, id, &cands, &n_cands, &err) != FERRY_OK)
        goto fail;
    for (size_t i = 0; i < n_cands; i++) {
        const ferry_store_rollback_candidate_t *c = &cands[i];
        bool named = req->n_node_codes == 0 ||
                     in_list(c->node_code, (const char *const *)req->node_codes, req->n_node_codes);
        bool has_backup = c->backup_local_path[0] != '\0';
        if (!named)
            continue;
        n_rows++;
        if (!has_backup || (c->state != FERRY_STATE_SUCCEEDED && c->state != FERRY_STATE_FAILED) ||
            c->has_rollback) {
            if (!has_backup)
                missing++;
            if (!skip_node(&a, &resp, &cap_skip, c->node_code,
                           !has_backup       ? "no backup"
                           : c->has_rollback ? "already has a rollback task"
                                             : "task not finished",
                           skipped_names, sizeof(skipped_names)))
                goto nomem;
            continue;
        }
        ferry_store_task_new_t t = {id,
                                    c->node_id,
                                    FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK,
                                    FERRY_STATE_PENDING,
                                    msg,
                                    c->task_id,
                                    c->backup_local_path,
                                    c->server_dir,
                                    c->client_dir,
                                    now};
        pub_t p = {0, c->node_id, FERRY_STATE_PENDING, ""};
        if (ferry_store_task_insert(hub->store, &t, &p.task_id, &err) != FERRY_OK)
            goto fail;
        if (!pubs_push(&pubs, &n_pub, &cap_pub, p))
            goto nomem;
    }
    if (n_pub == 0) {
        ferry_err_set(&err, missing > 0 ? FERRY_E_BACKUP_MISSING : FERRY_E_PRECONDITION,
                      "nothing to roll back in release %lld: %s", (long long)id,
                      n_rows ? skipped_names : "no update task");
        goto fail;
    }
    for (size_t i = 0; i < n_pub; i++)
        if (add_event(hub, pubs[i].task_id, FERRY_STATE_PENDING, "", msg, source, now, &err) != FERRY_OK)
            goto fail;
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        ferry_store_tx_commit(hub->store, &err) != FERRY_OK)
        goto fail;
    if ((resp.tasks = hub_arena_alloc(&a, n_pub * sizeof(void *))) == NULL)
        goto committed_nomem;
    for (size_t i = 0; i < n_pub; i++) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(&a, sizeof(*t));
        if (t == NULL)
            goto committed_nomem;
        if (ferry_store_task_get(hub->store, &a, pubs[i].task_id, now, t, &err) != FERRY_OK)
            goto committed_fail;
        resp.tasks[resp.n_tasks++] = t;
    }
    ferry_store_unlock(hub->store);
    publish_all(hub, id, pubs, n_pub, 1, "rollback requested");
    ferry_v1_admin_service_rollback_release_reply(call, &resp);
    goto out;
committed_nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "rollback: out of memory");
committed_fail:
    ferry_store_unlock(hub->store);
    publish_all(hub, id, pubs, n_pub, 1, "rollback requested");
    hub_fail(call, &err);
    goto out;
nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "rollback: out of memory");
fail:
    fail_audited(hub, call, target, in_tx, &err);
    ferry_store_unlock(hub->store);
    if (err.code == FERRY_E_BACKUP_MISSING)
        /* Not "not found": the release exists, its nodes lack what a rollback needs. */
        ferry_rpc_call_fail(call, FERRY_RPC_FAILED_PRECONDITION, "E_BACKUP_MISSING", "%s", err.msg);
    else
        hub_fail(call, &err);
out:
    free(pubs);
    hub_arena_free(&a);
}

HUB_OFFLOADED(create_release, Ferry__V1__CreateReleaseRequest)
HUB_OFFLOADED(pause_release, Ferry__V1__PauseReleaseRequest)
HUB_OFFLOADED(resume_release, Ferry__V1__ResumeReleaseRequest)
HUB_OFFLOADED(cancel_release, Ferry__V1__CancelReleaseRequest)
HUB_OFFLOADED(rollback_release, Ferry__V1__RollbackReleaseRequest)

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
