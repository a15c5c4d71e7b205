/*
 * The daemon's runtime: threads, the server link (stream + heartbeat) and the work
 * loop that performs what core.c decides. Reports and uploads: post.c; the tray's
 * API: local.c.
 */
#include "agentd.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cfgapply.h"
#include "download.h"
#include "license.h"
#include "ferry/engine/pipeline.h"
#include "ferry/model/hooks.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/transfer.h"
#include "ferry/v1/agent.ferry-client.h"
#include "verify.h"

/* ---- small shared helpers ------------------------------------------------------------ */

int64_t agentd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double agentd_rand01(void)
{
    uint32_t r = 0;
    if (ferry_random_bytes(&r, sizeof(r), NULL) != FERRY_OK)
        r = (uint32_t)agentd_now_ms() * 2654435761u;
    return (double)r / 4294967296.0;
}

void agentd_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    ferry_log_mask_secrets(line);
    ferry_log(FERRY_LOG_INFO, "%s", line);
}

void agentd_changed_locked(agentd_t *ad)
{
    ad->status_gen++;
    pthread_cond_broadcast(&ad->status_cv);
}

static void set_link_locked(agentd_t *ad, int link, const char *error)
{
    if (ad->link != link)
        agentd_log("link: %s", link == AGENTD_LINK_STREAMING ? "streaming"
                               : link == AGENTD_LINK_POLLING ? "polling"
                               : link == AGENTD_LINK_OFFLINE ? "offline"
                               : link == AGENTD_LINK_UNBOUND ? "not bound"
                                                             : "auth failed: bind again");
    ad->link = link;
    if (error != NULL)
        snprintf(ad->last_error, sizeof(ad->last_error), "%s", error);
    else
        ad->last_error[0] = '\0';
    if (link == AGENTD_LINK_STREAMING || link == AGENTD_LINK_POLLING)
        ad->last_contact_ms = agentd_now_ms();
    agentd_changed_locked(ad);
}

/* Sleeps on |cv| until |ms| passed or stop/|flag| set. mu held. */
static void wait_ms_locked(agentd_t *ad, pthread_cond_t *cv, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(cv, &ad->mu, &ts);
}

/* ---- clients --------------------------------------------------------------------------- */

static ferry_rpc_client_t *make_client(const agentd_binding_t *b, const char *token, uint32_t timeout_ms,
                                       ferry_err_t *err)
{
    ferry_rpc_client_config_t c = {0};
    c.base_url = b->server_url;
    c.ca_file = b->ca_file[0] ? b->ca_file : NULL;
    c.pin_sha256 = b->pin_sha256[0] ? b->pin_sha256 : NULL;
    c.bearer_token = token != NULL && token[0] ? token : NULL;
    c.default_timeout_ms = timeout_ms;
    c.max_retries = 2;
    c.user_agent = "ferry-agent/" AGENTD_VERSION;
    /* Over cleartext, one HTTP/1.1 connection per call: libcurl 7.88's h2c Upgrade is
     * unreliable (shared/notes/platform-facts.md); TLS negotiates h2. */
    if (strncmp(b->server_url, "http://", 7) == 0)
        c.http_version = FERRY_RPC_HTTP_1_1;
    return ferry_rpc_client_new(&c, err);
}

ferry_err_code_t agentd_clients_rebuild_locked(agentd_t *ad, ferry_err_t *err)
{
    ferry_rpc_client_t *a = NULL, *s = NULL;
    if (ad->bound) {
        if ((a = make_client(&ad->binding, ad->token, 30000, err)) == NULL ||
            (s = make_client(&ad->binding, ad->token, 0, err)) == NULL) {
            ferry_rpc_client_free(a);
            return err != NULL ? err->code : FERRY_E_INTERNAL;
        }
    }
    /* Old clients may be in use by a thread that has not noticed the new bind_gen yet:
     * they are parked, not freed (a bind happens a handful of times in a node's life). */
    ferry_rpc_client_cancel_all(ad->stream); /* the link thread reconnects with the new one */
    ad->rpc = a;
    ad->stream = s;
    ad->bind_gen++;
    ad->stream_cancel = 1;
    agentd_changed_locked(ad);
    return FERRY_OK;
}

/* ---- what the agent says about itself ---------------------------------------------------- */

typedef struct agent_info {
    Ferry__V1__AgentInfo info;
    Ferry__V1__HostInfo host;
    struct utsname u;
    char os[160];
    char version[64];
} agent_info_t;

static void agent_info_fill(agentd_t *ad, agent_info_t *ai)
{
    ferry__v1__agent_info__init(&ai->info);
    ferry__v1__host_info__init(&ai->host);
    memset(&ai->u, 0, sizeof(ai->u));
    (void)uname(&ai->u);
    snprintf(ai->os, sizeof(ai->os), "%s %s", ai->u.sysname, ai->u.release);
    ai->host.hostname = ai->u.nodename;
    ai->host.os = ai->os;
    ai->host.arch = ai->u.machine;
    ai->info.host = &ai->host;
    ai->info.agent_version = (char *)AGENTD_VERSION;
    pthread_mutex_lock(&ad->mu);
    snprintf(ai->version, sizeof(ai->version), "%s", ad->installed_version);
    if (ad->cfg != NULL) {
        uint64_t fb = 0;
        if (ferry_fs_free_bytes(ad->cfg->paths.backup_root, &fb, NULL) == FERRY_OK)
            ai->info.free_disk_bytes = fb;
        ai->info.node_config_version = ad->cfg->config_version;
    }
    pthread_mutex_unlock(&ad->mu);
    ai->info.installed_version = ai->version;
}

/* ---- assignments ------------------------------------------------------------------------ */

static int64_t ts_ms(const Google__Protobuf__Timestamp *t)
{
    return t == NULL ? 0 : (int64_t)t->seconds * 1000 + t->nanos / 1000000;
}

static void merge_assignment(agentd_t *ad, const Ferry__V1__Assignment *a)
{
    agentd_task_t t;
    ferry_err_t err = {0};
    int is_new = 0, revived = 0;
    char key[96];
    if (a == NULL || a->task == NULL || a->task->id == NULL || a->task->id[0] == '\0')
        return;
    const Ferry__V1__UpdateTask *u = a->task;
    memset(&t, 0, sizeof(t));
    snprintf(t.id, sizeof(t.id), "%s", u->id);
    snprintf(t.release_id, sizeof(t.release_id), "%s", u->release_id ? u->release_id : "");
    t.kind = u->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK ? AGENTD_KIND_ROLLBACK : AGENTD_KIND_UPDATE;
    t.policy = u->policy == FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL ? AGENTD_POLICY_OPTIONAL
                                                                               : AGENTD_POLICY_FORCED;
    snprintf(t.version, sizeof(t.version), "%s", u->package_version ? u->package_version : "");
    /* What the update brings (the prompt shows it); the task's own message is what the
     * server last said of the task ("created by release 2"), not news for the user. */
    snprintf(t.description, sizeof(t.description), "%s", a->description ? a->description : "");
    snprintf(t.rollback_backup, sizeof(t.rollback_backup), "%s",
             a->rollback_backup_path ? a->rollback_backup_path : "");
    t.deadline_ms = ts_ms(u->deadline);
    t.created_ms = ts_ms(u->created_at);
    t.halted = u->halted;
    t.forced_now = a->forced_now;
    t.prompt = AGENTD_PROMPT_NONE;
    /* The server's view; agentd_core_merge decides what of it the local record takes. */
    t.last_state = (int)u->state;
    t.attempt = u->attempt;
    if (a->manifest != NULL)
        t.size = a->manifest->size;
    /* The attempt's skip list and resume checkpoint go in first: a revived task may be
     * picked up by the work loop as soon as the merge below commits. Written on every
     * assignment (empty included), so a list never outlives the attempt it was given for. */
    char skip[FERRY_HOOK_CTX_MAX * FERRY_HOOK_CTX_ITEM] = "";
    size_t sl = 0;
    if (a->skip_hook_id != NULL && a->skip_hook_id[0] != '\0' && strchr(a->skip_hook_id, '\n') == NULL)
        sl += (size_t)snprintf(skip + sl, sizeof(skip) - sl, "%s", a->skip_hook_id);
    for (size_t i = 0; i < a->n_skip_hook_ids && i < FERRY_HOOK_CTX_MAX && sl < sizeof(skip); i++)
        if (a->skip_hook_ids[i] != NULL && a->skip_hook_ids[i][0] != '\0' &&
            strchr(a->skip_hook_ids[i], '\n') == NULL)
            sl += (size_t)snprintf(skip + sl, sizeof(skip) - sl, "%s%s", sl ? "\n" : "", a->skip_hook_ids[i]);
    if (sl < sizeof(skip) && t.kind == AGENTD_KIND_UPDATE &&
        !ferry_state_is_terminal((ferry_state_t)u->state)) {
        snprintf(key, sizeof(key), "skip:%.80s", t.id);
        (void)agentd_store_kv_set(ad->store, key, skip, NULL);
        snprintf(key, sizeof(key), "checkpoint:%.80s", t.id);
        (void)agentd_store_kv_set(ad->store, key, a->resume_checkpoint != NULL ? a->resume_checkpoint : "",
                                  NULL);
    }
    if (agentd_store_merge_task(ad->store, &t, &is_new, &revived, &err) != FERRY_OK) {
        agentd_log("task %s: cannot record: %s", t.id, err.msg);
        return;
    }
    if (is_new)
        agentd_log("task %s: assigned (%s %s, %s)", t.id,
                   t.kind == AGENTD_KIND_ROLLBACK ? "rollback" : "update", t.version,
                   t.policy == AGENTD_POLICY_OPTIONAL ? "optional" : "forced");
    if (revived)
        agentd_log("task %s: retried by the server: attempt %u starts (%s%s)", t.id, t.attempt,
                   sl > 0 ? "skipping " : "no hook skipped", sl > 0 ? skip : "");
    pthread_mutex_lock(&ad->mu);
    ad->wake = 1;
    pthread_cond_broadcast(&ad->cv);
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
}

static void halt_task(agentd_t *ad, const char *id, const char *why)
{
    agentd_task_t t;
    int found = 0;
    if (agentd_store_get_task(ad->store, id, &t, &found, NULL) != FERRY_OK || !found || t.halted)
        return;
    agentd_log("task %s: halted by the server (%s)", id, why ? why : "");
    (void)agentd_store_halt(ad->store, id, 1, NULL);
    pthread_mutex_lock(&ad->mu);
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
}

/* Whether a failed call means the token is no longer valid. */
static bool auth_failed(ferry_rpc_code_t c, const ferry_rpc_status_t *st)
{
    return c == FERRY_RPC_UNAUTHENTICATED || strcmp(st->app_code, "E_AUTH_INVALID") == 0;
}

/* ---- heartbeat (CheckIn) ------------------------------------------------------------------ */

/* A SignedLicense from CheckIn or WatchAssignments; a refused one is logged by accept. */
static void take_license(agentd_t *ad, const Ferry__V1__SignedLicense *sl)
{
    ferry_err_t err = {0};
    (void)agentd_license_accept(ad, sl->document.data, sl->document.len, sl->signature.data,
                                sl->signature.len, sl->key_id, &err);
}

static void check_in_once(agentd_t *ad, ferry_rpc_client_t *rpc)
{
    agent_info_t ai;
    Ferry__V1__CheckInRequest req = FERRY__V1__CHECK_IN_REQUEST__INIT;
    Ferry__V1__CheckInResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    char task[AGENTD_ID_MAX];
    char lic_sha[65];
    agent_info_fill(ad, &ai);
    req.agent = &ai.info;
    pthread_mutex_lock(&ad->mu);
    snprintf(task, sizeof(task), "%s", ad->current_task);
    snprintf(lic_sha, sizeof(lic_sha), "%s", ad->license.have ? ad->license.sha256 : "");
    req.current_state = (Ferry__V1__TaskState)(task[0] ? ad->current_state : 0);
    pthread_mutex_unlock(&ad->mu);
    req.current_task_id = task;
    req.license_sha256 = lic_sha; /* the server sends the signed licence only when it differs */
    ferry_rpc_code_t c = ferry_v1_agent_service_check_in(rpc, &req, &resp, NULL, &st);
    pthread_mutex_lock(&ad->mu);
    if (c == FERRY_RPC_OK) {
        if (resp->poll_interval != NULL && resp->poll_interval->seconds > 0)
            ad->poll_interval_ms = (int64_t)resp->poll_interval->seconds * 1000;
        if (!ad->stream_up)
            set_link_locked(ad, AGENTD_LINK_POLLING, NULL);
        else
            ad->last_contact_ms = agentd_now_ms();
    } else if (auth_failed(c, &st)) {
        set_link_locked(ad, AGENTD_LINK_AUTH_FAILED, st.message);
    } else if (!ad->stream_up) {
        set_link_locked(ad, AGENTD_LINK_OFFLINE, st.message);
    }
    pthread_mutex_unlock(&ad->mu);
    if (c != FERRY_RPC_OK)
        return;
    for (size_t i = 0; i < resp->n_assignments; i++)
        merge_assignment(ad, resp->assignments[i]);
    for (size_t i = 0; i < resp->n_halted_task_ids; i++)
        halt_task(ad, resp->halted_task_ids[i], "halted");
    if (resp->signed_license != NULL)
        take_license(ad, resp->signed_license);
    for (size_t i = 0; i < resp->n_config_assignments; i++)
        agentd_cfg_offer(ad, resp->config_assignments[i]);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void *beat_main(void *arg)
{
    agentd_t *ad = arg;
    pthread_mutex_lock(&ad->mu);
    while (!ad->stop) {
        ferry_rpc_client_t *rpc = ad->bound && ad->link != AGENTD_LINK_AUTH_FAILED ? ad->rpc : NULL;
        ad->beat_now = 0;
        pthread_mutex_unlock(&ad->mu);
        if (rpc != NULL)
            check_in_once(ad, rpc);
        pthread_mutex_lock(&ad->mu);
        ad->beat_now = 0;
        agentd_changed_locked(ad); /* CheckForUpdates waits for this */
        /* Polling replaces the stream while it is down: then a short, backed-off interval. */
        int64_t next = ad->poll_interval_ms;
        if (!ad->stream_up && ad->link != AGENTD_LINK_OFFLINE && next > 15000)
            next = 15000;
        if (ad->link == AGENTD_LINK_OFFLINE)
            next = agentd_backoff_ms(3, 1000, 30000, agentd_rand01());
        next = agentd_jitter_ms(next, agentd_rand01());
        int64_t until = agentd_now_ms() + next;
        while (!ad->stop && !ad->beat_now && agentd_now_ms() < until)
            wait_ms_locked(ad, &ad->status_cv, until - agentd_now_ms());
    }
    pthread_mutex_unlock(&ad->mu);
    return NULL;
}

/* ---- push (WatchAssignments) --------------------------------------------------------------- */

static int on_watch(Ferry__V1__WatchAssignmentsResponse *m, void *user)
{
    agentd_t *ad = user;
    pthread_mutex_lock(&ad->mu);
    if (!ad->stream_up) {
        ad->stream_up = 1;
        set_link_locked(ad, AGENTD_LINK_STREAMING, NULL);
    }
    ad->last_contact_ms = agentd_now_ms();
    int stop = ad->stop || ad->stream_cancel;
    pthread_mutex_unlock(&ad->mu);
    switch (m->event_case) {
    case FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_ASSIGNMENT:
        merge_assignment(ad, m->assignment);
        break;
    case FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_HALT:
        if (m->halt != NULL && m->halt->task_id != NULL)
            halt_task(ad, m->halt->task_id, m->halt->reason);
        break;
    case FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_LICENSE:
        if (m->license != NULL)
            take_license(ad, m->license);
        break;
    case FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_CONFIG_ASSIGNMENT:
        agentd_cfg_offer(ad, m->config_assignment);
        break;
    default:
        break;
    }
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return stop;
}

static void *link_main(void *arg)
{
    agentd_t *ad = arg;
    unsigned failures = 0;
    pthread_mutex_lock(&ad->mu);
    while (!ad->stop) {
        if (!ad->bound || ad->link == AGENTD_LINK_AUTH_FAILED) {
            wait_ms_locked(ad, &ad->status_cv, 1000);
            continue;
        }
        ferry_rpc_client_t *c = ad->stream;
        ad->stream_cancel = 0;
        pthread_mutex_unlock(&ad->mu);

        agent_info_t ai;
        Ferry__V1__WatchAssignmentsRequest req = FERRY__V1__WATCH_ASSIGNMENTS_REQUEST__INIT;
        Google__Protobuf__Duration ka = GOOGLE__PROTOBUF__DURATION__INIT;
        ferry_rpc_status_t st = {0};
        /* No opts->cancel: that would wake this thread every 20 ms for hours. Stop and
         * re-bind cancel the stream with ferry_rpc_client_cancel_all() instead. */
        ferry_rpc_call_opts_t opts = {0};
        char lic_sha[65];
        agent_info_fill(ad, &ai);
        ka.seconds = 15;
        req.agent = &ai.info;
        pthread_mutex_lock(&ad->mu);
        snprintf(lic_sha, sizeof(lic_sha), "%s", ad->license.have ? ad->license.sha256 : "");
        pthread_mutex_unlock(&ad->mu);
        req.license_sha256 = lic_sha;
        req.keep_alive = &ka;
        int64_t t0 = agentd_now_ms();
        ferry_rpc_code_t rc = ferry_v1_agent_service_watch_assignments(c, &req, on_watch, ad, &opts, &st);

        pthread_mutex_lock(&ad->mu);
        bool was_up = ad->stream_up;
        ad->stream_up = 0;
        if (ad->stop)
            break;
        if (auth_failed(rc, &st)) {
            set_link_locked(ad, AGENTD_LINK_AUTH_FAILED, st.message);
            continue;
        }
        if (was_up && agentd_now_ms() - t0 > 10000)
            failures = 0; /* it ran for a while: a fresh outage starts the backoff over */
        agentd_log("watch: stream ended (%s%s%s); reconnecting", ferry_rpc_code_name(rc),
                   st.message[0] ? ": " : "", st.message);
        if (ad->link == AGENTD_LINK_STREAMING)
            set_link_locked(ad, AGENTD_LINK_POLLING, st.message);
        ad->beat_now = 1; /* poll at once while the stream is down */
        pthread_cond_broadcast(&ad->status_cv);
        int64_t delay = agentd_backoff_ms(failures < 16 ? failures : 16, 500, 30000, agentd_rand01());
        failures++;
        int64_t until = agentd_now_ms() + delay;
        while (!ad->stop && agentd_now_ms() < until)
            wait_ms_locked(ad, &ad->status_cv, until - agentd_now_ms());
    }
    pthread_mutex_unlock(&ad->mu);
    return NULL;
}

/* ---- work: download + verify ------------------------------------------------------------------ */

typedef struct dl_progress {
    agentd_t *ad;
    const char *task_id;
    int64_t last_ms;
} dl_progress_t;

static int on_dl_progress(void *user, uint64_t done, uint64_t total)
{
    dl_progress_t *p = user;
    agentd_t *ad = p->ad;
    int64_t now = agentd_now_ms();
    int pct = total > 0 ? (int)(done * 100 / total) : 0;
    pthread_mutex_lock(&ad->mu);
    ad->current_percent = pct;
    agentd_changed_locked(ad);
    int stop = ad->stop;
    pthread_mutex_unlock(&ad->mu);
    if (now - p->last_ms >= 1000) {
        p->last_ms = now;
        agentd_report_t r = {
            .task_id = p->task_id, .state = 20, .percent = pct, .bytes_done = done, .bytes_total = total};
        (void)agentd_report(ad, &r);
    }
    return stop;
}

static void set_current(agentd_t *ad, const char *task, int state, int percent, const char *msg)
{
    pthread_mutex_lock(&ad->mu);
    snprintf(ad->current_task, sizeof(ad->current_task), "%s", task != NULL ? task : "");
    ad->current_state = state;
    ad->current_percent = percent;
    snprintf(ad->current_message, sizeof(ad->current_message), "%s", msg != NULL ? msg : "");
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
}

typedef struct checkpoint_scan {
    char last[FERRY_JOURNAL_TEXT + 8];
    bool stop;
} checkpoint_scan_t;

/* The engine keeps, in a new attempt, the PASS results of the pre_upgrade hooks first met
 * up to its resume checkpoint (ferry_journal_new_attempt): the checkpoint is the last
 * hook of the unbroken run of passed pre_upgrade hooks, in the order they were met. */
static void checkpoint_hook(void *user, const ferry_hook_rec_t *rec)
{
    checkpoint_scan_t *c = user;
    if (c->stop || strcmp(rec->phase, ferry_hook_phase_name(FERRY_HOOK_PRE_UPGRADE)) != 0)
        return;
    if (rec->done && strcmp(rec->outcome, FERRY_HOOK_PASS) == 0)
        snprintf(c->last, sizeof(c->last), "%s", rec->hook_id);
    else
        c->stop = true;
}

static void finish_task_at(agentd_t *ad, agentd_task_t *t, int state, ferry_err_code_t code, const char *msg,
                           const char *backup, const char *checkpoint)
{
    agentd_report_t r = {.task_id = t->id,
                         .state = state,
                         .error_code = code != FERRY_OK ? ferry_err_name(code) : "",
                         .message = msg,
                         .percent = 100,
                         .backup_path = backup,
                         .checkpoint = checkpoint};
    t->phase = AGENTD_PHASE_DONE;
    t->last_state = state;
    snprintf(t->error_code, sizeof(t->error_code), "%s", code != FERRY_OK ? ferry_err_name(code) : "");
    (void)agentd_store_save_task(ad->store, t, NULL);
    /* last_task first: the report below publishes the final state, and a watcher that sees
     * it must also find the result (message, backup path) in the same status. */
    pthread_mutex_lock(&ad->mu);
    ad->have_last_done = true;
    ad->last_done = *t;
    snprintf(ad->last_done_message, sizeof(ad->last_done_message), "%s", msg != NULL ? msg : "");
    snprintf(ad->last_done_backup, sizeof(ad->last_done_backup), "%s", backup != NULL ? backup : "");
    ad->last_done_ms = agentd_now_ms();
    pthread_mutex_unlock(&ad->mu);
    (void)agentd_report(ad, &r);
    agentd_log("task %s: %d %s%s%s%s%s", t->id, state, ferry_state_name(state), code ? " " : "",
               code ? ferry_err_name(code) : "", msg && msg[0] ? ": " : "", msg ? msg : "");
    set_current(ad, NULL, 0, 0, NULL);
}

static void finish_task(agentd_t *ad, agentd_task_t *t, int state, ferry_err_code_t code, const char *msg,
                        const char *backup)
{
    finish_task_at(ad, t, state, code, msg, backup, NULL);
}

static void package_path(agentd_t *ad, const agentd_task_t *t, char *buf, size_t size)
{
    snprintf(buf, size, "%s/ferry-dl-%s.zip", ad->cfg->paths.temp_dir, t->id);
}

/* Download + verify. Returns FERRY_OK (READY), a terminal failure (reported), or
 * FERRY_E_UNAVAILABLE / FERRY_E_CANCELED (try again later). */
static ferry_err_code_t do_download(agentd_t *ad, agentd_task_t *t)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_err_t err = {0};
    Ferry__V1__GetDownloadRequest req = FERRY__V1__GET_DOWNLOAD_REQUEST__INIT;
    Ferry__V1__GetDownloadResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_xfer_t *x = NULL;
    agentd_source_t src[AGENTD_MAX_SOURCES];
    agentd_dl_stats_t stats;
    char path[AGENTD_PATH_MAX], installed[64];
    static unsigned rounds; /* consecutive failed rounds of this task (one task at a time) */
    static char rounds_task[AGENTD_ID_MAX];

    if (strcmp(rounds_task, t->id) != 0) {
        snprintf(rounds_task, sizeof(rounds_task), "%s", t->id);
        rounds = 0;
    }
    pthread_mutex_lock(&ad->mu);
    ferry_rpc_client_t *rpc = ad->rpc;
    snprintf(installed, sizeof(installed), "%s", ad->installed_version);
    pthread_mutex_unlock(&ad->mu);
    if (rpc == NULL)
        return FERRY_E_UNAVAILABLE;
    memset(&stats, 0, sizeof(stats));
    set_current(ad, t->id, 20, 0, "downloading");
    if (t->last_state < 20) {
        agentd_report_t r = {.task_id = t->id, .state = 20, .message = "download started"};
        (void)agentd_report(ad, &r);
        t->last_state = 20;
        (void)agentd_store_save_task(ad->store, t, NULL);
    }
    req.task_id = t->id;
    if (ferry_v1_agent_service_get_download(rpc, &req, &resp, NULL, &st) != FERRY_RPC_OK) {
        agentd_log("task %s: GetDownload: %s %s", t->id, st.app_code, st.message);
        if (st.code == FERRY_RPC_NOT_FOUND || st.code == FERRY_RPC_PERMISSION_DENIED ||
            st.code == FERRY_RPC_FAILED_PRECONDITION) {
            finish_task(ad, t, 110, FERRY_E_DOWNLOAD_FAILED, st.message, NULL);
            rc = FERRY_E_DOWNLOAD_FAILED;
        } else {
            rc = FERRY_E_UNAVAILABLE;
        }
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < resp->n_sources && n < AGENTD_MAX_SOURCES; i++) {
        if (resp->sources[i]->url == NULL || resp->sources[i]->url[0] == '\0')
            continue;
        src[n].name = resp->sources[i]->name;
        src[n].url = resp->sources[i]->url;
        src[n].priority = resp->sources[i]->priority;
        n++;
    }
    package_path(ad, t, path, sizeof(path));
    ferry_xfer_config_t xc = {0};
    pthread_mutex_lock(&ad->mu);
    xc.ca_file = ad->binding.ca_file[0] ? ad->binding.ca_file : NULL;
    xc.pin_sha256 = ad->binding.pin_sha256[0] ? ad->binding.pin_sha256 : NULL;
    pthread_mutex_unlock(&ad->mu);
    xc.user_agent = "ferry-agent/" AGENTD_VERSION;
    xc.max_bytes_per_sec = (uint64_t)ad->cfg->download.max_kib_per_sec * 1024u; /* 0 = unlimited */
    if ((x = ferry_xfer_new(&xc, &err)) == NULL) {
        rc = FERRY_E_UNAVAILABLE;
        goto out;
    }
    dl_progress_t prog = {.ad = ad, .task_id = t->id};
    rc = agentd_download(x, src, n, path, resp->size, resp->sha256, on_dl_progress, &prog, &ad->stop, &stats,
                         &err);
    if (rc == FERRY_E_CANCELED) {
        goto out;
    }
    if (rc == FERRY_E_DOWNLOAD_FAILED && ++rounds < 6) {
        agentd_log("task %s: download round %u failed: %s; retrying", t->id, rounds, err.msg);
        rc = FERRY_E_UNAVAILABLE;
        goto out;
    }
    if (rc != FERRY_OK) {
        agentd_report_t r = {.task_id = t->id, .state = 20, .message = err.msg, .download = &stats};
        (void)agentd_report(ad, &r);
        finish_task(ad, t, 110, rc, err.msg, NULL);
        goto out;
    }
    /* Verifying: signature first, nothing parsed before it holds. */
    {
        agentd_report_t r = {.task_id = t->id,
                             .state = 30,
                             .message = "verifying signature and digest",
                             .download = &stats,
                             .bytes_done = resp->size,
                             .bytes_total = resp->size,
                             .percent = 100};
        (void)agentd_report(ad, &r);
        t->last_state = 30;
        set_current(ad, t->id, 30, 0, "verifying");
    }
    const Ferry__V1__SignedManifest *sm = resp->signed_manifest;
    agentd_expect_t ex = {.task_id = t->id,
                          .node_code = "",
                          .customer_code = "",
                          .version = t->version,
                          .sha256 = resp->sha256 ? resp->sha256 : "",
                          .size = resp->size,
                          .installed_version = installed,
                          .now_ms = agentd_now_ms()};
    agentd_manifest_t man;
    pthread_mutex_lock(&ad->mu);
    agentd_binding_t b = ad->binding;
    pthread_mutex_unlock(&ad->mu);
    ex.node_code = b.node_code;
    ex.customer_code = b.customer_code;
    if (sm == NULL) {
        rc = ferry_err_set(&err, FERRY_E_SIGNATURE_INVALID, "server sent no signed manifest");
    } else {
        rc = agentd_verify_manifest(b.keys, b.n_keys, sm->key_id ? sm->key_id : "", sm->manifest.data,
                                    sm->manifest.len, sm->signature.data, sm->signature.len, &ex, &man, &err);
    }
    if (rc != FERRY_OK) {
        (void)unlink(path);
        finish_task(ad, t, 110, rc, err.msg, NULL);
        goto out;
    }
    t->phase = AGENTD_PHASE_READY;
    t->size = resp->size;
    (void)agentd_store_save_task(ad->store, t, NULL);
    agentd_log("task %s: package %s downloaded from %s and verified", t->id, t->version, stats.source_name);
    rounds = 0;
    set_current(ad, NULL, 0, 0, NULL); /* ready: waiting for its turn or the user is not "running" */
out:
    ferry_xfer_free(x);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* ---- work: apply ------------------------------------------------------------------------------ */

typedef struct apply_ctx {
    agentd_t *ad;
    agentd_task_t *t;
    int64_t last_progress_ms;
} apply_ctx_t;

static void on_engine_event(void *user, const ferry_pipeline_event_t *ev)
{
    apply_ctx_t *c = user;
    int s = (int)ev->state;
    int64_t now = agentd_now_ms();
    /* 10..40 were reported by the daemon itself (pending, download, verify, prompt). */
    if (s < 50 && c->t->last_state >= 30)
        return;
    if (ferry_state_is_terminal(ev->state))
        return; /* the final report carries the error and backup path: finish_task */
    set_current(c->ad, c->t->id, s, ev->percent >= 0 ? ev->percent : 0, ev->message);
    if (!ev->transition && now - c->last_progress_ms < 500)
        return;
    c->last_progress_ms = now;
    agentd_report_t r = {.task_id = c->t->id,
                         .state = s,
                         .message = ev->message,
                         .percent = ev->percent >= 0 ? ev->percent : 0,
                         .bytes_done = ev->done,
                         .bytes_total = ev->total};
    (void)agentd_report(c->ad, &r);
    c->t->last_state = s;
}

/*
 * A hook's result as ProgressReport.hook (seed 002): the server lists it on the task and
 * `ferry task retry --skip-failed-hook` skips the ones that failed. The engine's phases
 * are in HookStage order, from 1; NOT_APPLICABLE is a skip whose message says why.
 */
static void hook_report(agentd_t *ad, const char *task_id, int state, const ferry_hook_t *h,
                        const ferry_hook_rec_t *rec)
{
    int result = strcmp(rec->outcome, FERRY_HOOK_PASS) == 0   ? FERRY__V1__HOOK_RESULT__HOOK_RESULT_PASS
                 : strcmp(rec->outcome, FERRY_HOOK_WARN) == 0 ? FERRY__V1__HOOK_RESULT__HOOK_RESULT_WARN
                 : strcmp(rec->outcome, FERRY_HOOK_FAIL) == 0 ? FERRY__V1__HOOK_RESULT__HOOK_RESULT_FAIL
                                                              : FERRY__V1__HOOK_RESULT__HOOK_RESULT_SKIPPED;
    char msg[96 + 1024];
    if (strcmp(rec->outcome, FERRY_HOOK_NOT_APPLICABLE) == 0)
        snprintf(msg, sizeof(msg), "not applicable: %.1000s", rec->reason);
    else
        snprintf(msg, sizeof(msg), "%.1000s", rec->reason);
    agentd_hook_t hk = {.stage = (int)h->phase + 1,
                        .id = h->id,
                        .name = h->name,
                        .result = result,
                        .message = msg,
                        .stderr_tail = result == FERRY__V1__HOOK_RESULT__HOOK_RESULT_FAIL ? rec->output : "",
                        .duration_ms = rec->ended_ms > rec->started_ms ? rec->ended_ms - rec->started_ms : 0,
                        .exit_status = rec->exit_code};
    char line[160];
    snprintf(line, sizeof(line), "hook %s (%s): %s", h->id, ferry_hook_phase_name(h->phase), rec->outcome);
    agentd_report_t r = {.task_id = task_id, .state = state, .message = line, .hook = &hk};
    (void)agentd_report(ad, &r);
}

/* Hook results of an apply or rollback go out under the state the server last heard. */
static void on_engine_hook(void *user, const ferry_hook_t *h, const ferry_hook_rec_t *rec)
{
    apply_ctx_t *c = user;
    int s = c->t->last_state;
    if (!ferry_state_valid(s) || ferry_state_is_terminal((ferry_state_t)s))
        return; /* cannot be: an apply starts after 30 */
    hook_report(c->ad, c->t->id, s, h, rec);
}

typedef struct excerpt {
    FILE *f;
    unsigned n;
} excerpt_t;

static void excerpt_line(void *user, const ferry_journal_event_t *ev)
{
    excerpt_t *x = user;
    char when[32], msg[FERRY_ERR_MSG_MAX + 64];
    time_t t = (time_t)(ev->at_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(msg, sizeof(msg), "%s", ev->message != NULL ? ev->message : "");
    ferry_log_mask_secrets(msg);
    fprintf(x->f, "%s.%03dZ %3d -> %3d %-17s attempt %u%s%s: %s\n", when, (int)(ev->at_ms % 1000),
            (int)ev->from, (int)ev->to, ferry_state_name((int)ev->to), ev->attempt, ev->error_code ? " " : "",
            ev->error_code ? ferry_err_name(ev->error_code) : "", msg);
    x->n++;
}

/* The task's history from the engine journal as a text file (the LOG upload of a failed
 * task: what ran, when, with which error), secrets masked. */
static void upload_task_log(agentd_t *ad, const ferry_task_t *jt)
{
    ferry_journal_t *j = NULL;
    char p[AGENTD_PATH_MAX], name[96];
    excerpt_t x = {0};
    if (ad->cfg == NULL || ferry_journal_open(ad->cfg->state_dir, &j, NULL) != FERRY_OK)
        return;
    snprintf(name, sizeof(name), "task-%.40s.log", jt->task_id);
    if (snprintf(p, sizeof(p), "%s/%s.tmp", ad->state_dir, name) < (int)sizeof(p) &&
        (x.f = fopen(p, "w")) != NULL) {
        fprintf(x.f, "ferry-agent %s, task %s, %s %s, ended %d %s %s\n", AGENTD_VERSION, jt->task_id,
                jt->kind, jt->version, (int)jt->state, ferry_state_name((int)jt->state),
                ferry_err_name(jt->error_code));
        (void)ferry_journal_events(j, jt->task_id, excerpt_line, &x, NULL);
        fclose(x.f);
        agentd_queue_upload(ad, 2, jt->task_id, p, name, "text/plain", jt->error_msg, true);
        (void)unlink(p);
    }
    ferry_journal_close(j);
}

static void upload_task_files(agentd_t *ad, const ferry_task_t *jt)
{
    char p[AGENTD_PATH_MAX];
    upload_task_log(ad, jt);
    if (jt->diag_path[0] != '\0' && ferry_fs_exists(jt->diag_path)) {
        const char *base = strrchr(jt->diag_path, '/');
        agentd_queue_upload(ad, 3, jt->task_id, jt->diag_path, base ? base + 1 : jt->diag_path,
                            "application/zip", jt->error_msg, false);
    }
    if (jt->error_code == FERRY_E_SQL_FAILED_SCHEMA || jt->error_code == FERRY_E_SQL_FAILED_DATA ||
        jt->failed_state == FERRY_STATE_RUNNING_SQL) {
        if (snprintf(p, sizeof(p), "%s/sql.log", jt->backup_path) < (int)sizeof(p) && ferry_fs_exists(p))
            agentd_queue_upload(ad, 4, jt->task_id, p, "sql.log", "text/plain", jt->error_msg, true);
    }
}

/* The trusted installed version (anti-rollback), persisted before it is used. */
static void set_installed(agentd_t *ad, const char *version)
{
    (void)agentd_store_kv_set(ad->store, "installed_version", version, NULL);
    pthread_mutex_lock(&ad->mu);
    snprintf(ad->installed_version, sizeof(ad->installed_version), "%s", version);
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
}

/* ---- upgrade hooks: report upload, post_upgrade in the background ---------------------- */

/* Queues the task's upgrade-report.json (FILE_KIND_UPGRADE_REPORT) when its package had
 * hooks; a package without hooks.json has nothing to report beyond the task itself. */
static void upload_report(agentd_t *ad, const ferry_node_config_t *cfg, const char *task_id)
{
    char path[AGENTD_PATH_MAX], summary[128];
    json_error_t je;
    if (cfg == NULL || ferry_pipeline_report_path(cfg, task_id, path, sizeof(path), NULL) != FERRY_OK)
        return;
    json_t *r = json_load_file(path, 0, &je);
    json_t *tot = r != NULL ? json_object_get(r, "totals") : NULL;
    json_int_t hooks = tot != NULL ? json_integer_value(json_object_get(tot, "hooks")) : 0;
    if (hooks > 0) {
        snprintf(summary, sizeof(summary), "upgrade report: %lld hook(s), %lld PASS, %lld WARN, %lld FAIL%s",
                 (long long)hooks, (long long)json_integer_value(json_object_get(tot, "PASS")),
                 (long long)json_integer_value(json_object_get(tot, "WARN")),
                 (long long)json_integer_value(json_object_get(tot, "FAIL")),
                 json_is_true(json_object_get(r, "flagged")) ? " (flagged)" : "");
        agentd_queue_upload(ad, FERRY__V1__FILE_KIND__FILE_KIND_UPGRADE_REPORT, task_id, path,
                            "upgrade-report.json", "application/json", summary, true);
    }
    json_decref(r);
}

typedef struct post_job {
    agentd_t *ad;
    char task_id[64];
    char package[AGENTD_PATH_MAX];
} post_job_t;

static void on_post_event(void *user, const ferry_pipeline_event_t *ev)
{
    const post_job_t *j = user;
    /* The task is final on the server (100): progress goes to the agent log. */
    if (ev->message != NULL && ev->message[0] != '\0')
        agentd_log("task %s: post_upgrade: %s (%llu/%llu)", j->task_id, ev->message,
                   (unsigned long long)ev->done, (unsigned long long)ev->total);
}

/* post_upgrade runs after the task's final 100: its results are reported under 100, which
 * the server takes as a hook-only report (it changes nothing else of a final task). */
static void on_post_hook(void *user, const ferry_hook_t *h, const ferry_hook_rec_t *rec)
{
    const post_job_t *j = user;
    hook_report(j->ad, j->task_id, 100, h, rec);
}

static void *post_upgrade_main(void *arg)
{
    post_job_t *j = arg;
    agentd_t *ad = j->ad;
    ferry_node_config_t *cfg = NULL;
    ferry_err_t err = {0};
    int ran = 0;
    /* Its own copy: the work loop may reload (and free) ad->cfg meanwhile. */
    if (ferry_node_config_load(ad->config_path, &cfg, &err) != FERRY_OK) {
        agentd_log("task %s: post_upgrade not started: %s", j->task_id, err.msg);
        goto out;
    }
    ferry_pipeline_opts_t o = {.cfg = cfg,
                               .on_event = on_post_event,
                               .on_hook = on_post_hook,
                               .user = j,
                               .stop = &ad->stop,
                               .config_path = ad->config_path};
    agentd_log("task %s: post_upgrade hooks start in the background", j->task_id);
    ferry_err_code_t rc = ferry_pipeline_post_upgrade(&o, j->task_id, &ran, &err);
    if (rc == FERRY_E_CANCELED) {
        agentd_log("task %s: post_upgrade stopped (%s); resumes at next start", j->task_id, err.msg);
        goto out; /* the package stays for the resume */
    }
    if (rc != FERRY_OK)
        agentd_log("task %s: post_upgrade failed: %s: %s (the update stays applied; report flagged)",
                   j->task_id, ferry_err_name(rc), err.msg);
    else
        agentd_log("task %s: post_upgrade %s", j->task_id, ran ? "done" : "had nothing to do");
    if (ran)
        upload_report(ad, cfg, j->task_id);
    if (j->package[0] != '\0')
        (void)unlink(j->package);
out:
    ferry_node_config_free(cfg);
    pthread_mutex_lock(&ad->mu);
    ad->hooks_state = 2;
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
    free(j);
    return NULL;
}

/* One post_upgrade phase at a time; a second request while one runs is dropped (the
 * running one belongs to the newest Succeeded update). */
static void start_post_upgrade(agentd_t *ad, const char *task_id, const char *package)
{
    post_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->ad = ad;
    snprintf(j->task_id, sizeof(j->task_id), "%s", task_id);
    snprintf(j->package, sizeof(j->package), "%s", package != NULL ? package : "");
    pthread_mutex_lock(&ad->mu);
    int st = ad->hooks_state;
    pthread_mutex_unlock(&ad->mu);
    if (st == 1) {
        agentd_log("task %s: post_upgrade of task %s still runs; this one waits for the next start", task_id,
                   ad->hooks_task);
        free(j);
        return;
    }
    if (st == 2)
        pthread_join(ad->hooks_th, NULL);
    pthread_mutex_lock(&ad->mu);
    ad->hooks_state = 1;
    snprintf(ad->hooks_task, sizeof(ad->hooks_task), "%s", task_id);
    pthread_mutex_unlock(&ad->mu);
    if (pthread_create(&ad->hooks_th, NULL, post_upgrade_main, j) != 0) {
        agentd_log("task %s: cannot start the post_upgrade thread", task_id);
        pthread_mutex_lock(&ad->mu);
        ad->hooks_state = 0;
        pthread_mutex_unlock(&ad->mu);
        free(j);
    }
}

/* At start: a post_upgrade phase left pending or interrupted (restart, crash) goes on. */
static void resume_post_upgrade(agentd_t *ad)
{
    char pending[FERRY_TASK_ID_LEN + 1], path[AGENTD_PATH_MAX] = "";
    int have = 0, known = 0;
    agentd_task_t t;
    if (ad->cfg == NULL ||
        ferry_pipeline_post_upgrade_pending(ad->cfg, pending, sizeof(pending), &have, NULL) != FERRY_OK ||
        !have)
        return;
    if (agentd_store_get_task(ad->store, pending, &t, &known, NULL) == FERRY_OK && known)
        package_path(ad, &t, path, sizeof(path));
    start_post_upgrade(ad, pending, path);
}

static void engine_done(agentd_t *ad, agentd_task_t *t, ferry_err_code_t rc, const ferry_task_t *jt,
                        const ferry_err_t *err)
{
    if (rc == FERRY_E_CANCELED) {
        agentd_log("task %s: stopping between steps; resumes at next start", t->id);
        return; /* phase stays APPLYING: resumed from the journal */
    }
    if (rc != FERRY_OK && !ferry_state_is_terminal(jt->state)) {
        /* The engine could not run at all (config, lock): nothing touched. */
        finish_task(ad, t, 110, err->code, err->msg, NULL);
        return;
    }
    int s = (int)jt->state;
    if (s == 100 && t->kind == AGENTD_KIND_UPDATE)
        set_installed(ad, t->version);
    if (s == 130 && t->kind == AGENTD_KIND_ROLLBACK) {
        /* The node is back to what ran before |version| was installed. */
        char key[96], before[64];
        snprintf(key, sizeof(key), "before:%.80s", t->version);
        if (agentd_store_kv_get(ad->store, key, before, sizeof(before), NULL) == FERRY_OK)
            set_installed(ad, before);
    }
    checkpoint_scan_t cp = {0};
    if (s != 100)
        upload_task_files(ad, jt);
    if (s == 110 && t->kind == AGENTD_KIND_UPDATE) {
        /* Where `ferry task retry` resumes (Assignment.resume_checkpoint): the server keeps it. */
        ferry_journal_t *j = NULL;
        if (ad->cfg != NULL && ferry_journal_open(ad->cfg->state_dir, &j, NULL) == FERRY_OK)
            (void)ferry_journal_hooks(j, jt->task_id, checkpoint_hook, &cp, NULL);
        ferry_journal_close(j);
    }
    finish_task_at(ad, t, s, jt->error_code,
                   jt->error_msg[0] ? jt->error_msg : (s == 100 ? "update applied" : ""), jt->backup_path,
                   cp.last);
    if (t->kind == AGENTD_KIND_UPDATE)
        upload_report(ad, ad->cfg, jt->task_id);
    if (t->kind == AGENTD_KIND_UPDATE && s == 100) {
        char path[AGENTD_PATH_MAX], pending[FERRY_TASK_ID_LEN + 1];
        int have = 0;
        package_path(ad, t, path, sizeof(path));
        /* post_upgrade needs the package's hook files: its thread removes the package. */
        if (ferry_pipeline_post_upgrade_pending(ad->cfg, pending, sizeof(pending), &have, NULL) == FERRY_OK &&
            have && strcmp(pending, jt->task_id) == 0)
            start_post_upgrade(ad, jt->task_id, path);
        else
            (void)unlink(path);
    }
}

static void do_apply(agentd_t *ad, agentd_task_t *t, bool forced)
{
    ferry_err_t err = {0};
    ferry_task_t jt;
    apply_ctx_t ctx = {.ad = ad, .t = t};
    char path[AGENTD_PATH_MAX];
    ferry_pipeline_opts_t o = {0};
    o.cfg = ad->cfg;
    o.on_event = on_engine_event;
    o.on_hook = on_engine_hook;
    o.user = &ctx;
    o.stop = &ad->stop;
    o.task_id = t->id;
    o.config_path = ad->config_path;
    /* site_ids of hooks.json match the binding's customer, store and node codes. */
    char codes[3][64], from[64], skip_buf[FERRY_HOOK_CTX_MAX * FERRY_HOOK_CTX_ITEM] = "", skip_key[96];
    const char *sites[3], *skip[FERRY_HOOK_CTX_MAX];
    size_t n_sites = 0, n_skip = 0;
    pthread_mutex_lock(&ad->mu);
    snprintf(codes[0], sizeof(codes[0]), "%s", ad->binding.customer_code);
    snprintf(codes[1], sizeof(codes[1]), "%s", ad->binding.store_code);
    snprintf(codes[2], sizeof(codes[2]), "%s", ad->binding.node_code);
    snprintf(from, sizeof(from), "%s", ad->installed_version);
    pthread_mutex_unlock(&ad->mu);
    for (int i = 0; i < 3; i++)
        if (codes[i][0] != '\0' && strpbrk(codes[i], " ,\t\n") == NULL)
            sites[n_sites++] = codes[i];
    o.sites = sites;
    o.n_sites = n_sites;
    o.from_version = from[0] != '\0' ? from : NULL;
    snprintf(skip_key, sizeof(skip_key), "skip:%.80s", t->id);
    if (agentd_store_kv_get(ad->store, skip_key, skip_buf, sizeof(skip_buf), NULL) == FERRY_OK) {
        for (char *p = skip_buf; p != NULL && *p != '\0' && n_skip < FERRY_HOOK_CTX_MAX;) {
            char *nl = strchr(p, '\n');
            if (nl != NULL)
                *nl = '\0';
            skip[n_skip++] = p;
            p = nl != NULL ? nl + 1 : NULL;
        }
    }
    o.skip_hooks = skip;
    o.n_skip_hooks = n_skip;
    /* A new attempt (RetryTask) resumes after the server's checkpoint; "" = from the start. */
    char ckpt[FERRY_HOOK_CTX_ITEM] = "", ckpt_key[96], start_key[96], start_v[32] = "";
    snprintf(ckpt_key, sizeof(ckpt_key), "checkpoint:%.80s", t->id);
    (void)agentd_store_kv_get(ad->store, ckpt_key, ckpt, sizeof(ckpt), NULL);
    o.resume_checkpoint = ckpt;
    memset(&jt, 0, sizeof(jt));
    if (forced && t->prompt != AGENTD_PROMPT_FORCED) {
        t->prompt = AGENTD_PROMPT_FORCED;
        agentd_log("task %s: deadline passed, applying without asking", t->id);
    }
    bool resume = t->phase == AGENTD_PHASE_APPLYING;
    if (!resume && t->kind == AGENTD_KIND_UPDATE) {
        /* What a rollback of this version goes back to. */
        char key[96], cur[64];
        pthread_mutex_lock(&ad->mu);
        snprintf(cur, sizeof(cur), "%s", ad->installed_version);
        pthread_mutex_unlock(&ad->mu);
        snprintf(key, sizeof(key), "before:%.80s", t->version);
        (void)agentd_store_kv_set(ad->store, key, cur, NULL);
    }
    /* When this run was handed to the engine: after a crash, a finished journal row older
     * than this is an earlier attempt's result (the same task id), not this attempt's. */
    snprintf(start_key, sizeof(start_key), "start:%.80s", t->id);
    if (!resume) {
        snprintf(start_v, sizeof(start_v), "%lld", (long long)agentd_now_ms());
        (void)agentd_store_kv_set(ad->store, start_key, start_v, NULL);
    } else {
        (void)agentd_store_kv_get(ad->store, start_key, start_v, sizeof(start_v), NULL);
    }
    t->phase = AGENTD_PHASE_APPLYING;
    (void)agentd_store_save_task(ad->store, t, NULL);
    set_current(ad, t->id, 50, 0, resume ? "resuming" : "applying");
    ferry_err_code_t rc;
    if (resume) {
        int found = 0;
        rc = ferry_pipeline_resume(&o, &jt, &found, &err);
        if (rc == FERRY_OK && !found) {
            /* Nothing active in the journal: it finished (latest) or never started. */
            if (strcmp(jt.task_id, t->id) == 0 && ferry_state_is_terminal(jt.state) &&
                jt.finished_ms >= strtoll(start_v, NULL, 10)) {
                engine_done(ad, t, FERRY_OK, &jt, &err);
                return;
            }
            resume = false;
        }
    }
    if (!resume) {
        if (t->kind == AGENTD_KIND_ROLLBACK) {
            o.backup_path = t->rollback_backup;
            rc = ferry_pipeline_rollback(&o, t->version, &jt, &err);
        } else {
            package_path(ad, t, path, sizeof(path));
            rc = ferry_pipeline_apply(&o, path, t->version, NULL, &jt, &err);
        }
    }
    engine_done(ad, t, rc, &jt, &err);
}

/* At start: a task the journal holds active (crash, reboot) is finished first. */
static void resume_journal(agentd_t *ad)
{
    ferry_err_t err = {0};
    ferry_task_t jt;
    int found = 0;
    agentd_task_t t;
    int known = 0;
    if (ad->cfg == NULL)
        return;
    ferry_pipeline_opts_t o = {0};
    o.cfg = ad->cfg;
    o.stop = &ad->stop;
    /* Find the daemon's own record first so the events are reported under its id. */
    agentd_task_t tasks[64];
    size_t n = 0;
    (void)agentd_store_list_tasks(ad->store, tasks, 64, &n, 0, NULL);
    for (size_t i = 0; i < n; i++)
        if (tasks[i].phase == AGENTD_PHASE_APPLYING) {
            t = tasks[i];
            known = 1;
            break;
        }
    if (known) {
        agentd_log("task %s: interrupted while applying; resuming from the journal", t.id);
        do_apply(ad, &t, false);
        return;
    }
    ferry_pipeline_event_fn none = NULL;
    o.on_event = none;
    if (ferry_pipeline_resume(&o, &jt, &found, &err) != FERRY_OK)
        agentd_log("journal: resume failed: %s", err.msg);
    else if (found)
        agentd_log("journal: finished interrupted local task %s: %d %s", jt.task_id, (int)jt.state,
                   ferry_state_name((int)jt.state));
}

static void do_prompt(agentd_t *ad, agentd_task_t *t)
{
    t->prompt = AGENTD_PROMPT_WAITING;
    (void)agentd_store_save_task(ad->store, t, NULL);
    if (t->last_state != 40) {
        agentd_report_t r = {
            .task_id = t->id, .state = 40, .message = "waiting for the user (update now or later)"};
        (void)agentd_report(ad, &r);
        t->last_state = 40;
        (void)agentd_store_save_task(ad->store, t, NULL);
    }
    agentd_log("task %s: optional update %s waits for the user", t->id, t->version);
    pthread_mutex_lock(&ad->mu);
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
}

ferry_err_code_t agentd_answer(agentd_t *ad, const char *task_id, int choice, int64_t defer_ms,
                               agentd_task_t *out, ferry_err_t *err)
{
    agentd_task_t t;
    int found = 0;
    ferry_err_code_t rc;
    if ((rc = agentd_store_get_task(ad->store, task_id, &t, &found, err)) != FERRY_OK)
        return rc;
    if (!found)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "no task '%.64s' on this node", task_id);
    if (t.kind == AGENTD_KIND_UPDATE && t.policy == AGENTD_POLICY_FORCED && choice == AGENTD_CHOICE_NOW &&
        t.phase != AGENTD_PHASE_DONE) {
        /* Manual start of a forced update: it runs anyway, nothing to change. */
    } else if ((rc = agentd_core_answer(&t, choice, defer_ms, agentd_now_ms(), err)) != FERRY_OK) {
        return rc;
    }
    if ((rc = agentd_store_save_task(ad->store, &t, err)) != FERRY_OK)
        return rc;
    if (choice == AGENTD_CHOICE_DEFER) {
        char msg[128];
        time_t until = (time_t)(t.deferred_until_ms / 1000);
        struct tm tm;
        gmtime_r(&until, &tm);
        strftime(msg, sizeof(msg), "deferred by the user until %Y-%m-%dT%H:%M:%SZ", &tm);
        agentd_report_t r = {.task_id = t.id, .state = 40, .message = msg};
        (void)agentd_report(ad, &r);
        agentd_log("task %s: %s", t.id, msg);
    } else {
        agentd_log("task %s: the user chose to update now", t.id);
    }
    pthread_mutex_lock(&ad->mu);
    ad->wake = 1;
    pthread_cond_broadcast(&ad->cv);
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
    if (out != NULL)
        *out = t;
    return FERRY_OK;
}

static void load_config(agentd_t *ad);
static void cfg_stamp(const char *path, char *out, size_t size);

static void work_loop(agentd_t *ad)
{
    agentd_task_t tasks[64];
    int64_t retry_at = 0;
    resume_journal(ad);
    resume_post_upgrade(ad);
    pthread_mutex_lock(&ad->mu);
    while (!ad->stop) {
        ad->wake = 0;
        pthread_mutex_unlock(&ad->mu);
        char stamp[sizeof(ad->cfg_stamp)];
        cfg_stamp(ad->config_path, stamp, sizeof(stamp));
        if (strcmp(stamp, ad->cfg_stamp) != 0)
            load_config(ad); /* edited by hand or saved by the tray: between tasks only */
        size_t n = 0;
        agentd_action_t a = {.act = AGENTD_ACT_NONE};
        bool listed =
            ad->cfg != NULL && agentd_store_list_tasks(ad->store, tasks, 64, &n, 0, NULL) == FERRY_OK;
        if (listed && agentd_now_ms() >= retry_at)
            a = agentd_core_next(tasks, n, agentd_now_ms());
        if (a.act != AGENTD_ACT_NONE) {
            agentd_task_t *t = &tasks[a.index];
            if (a.act == AGENTD_ACT_DOWNLOAD) {
                ferry_err_code_t rc = do_download(ad, t);
                if (rc == FERRY_E_UNAVAILABLE)
                    retry_at = agentd_now_ms() + agentd_backoff_ms(2, 1000, 30000, agentd_rand01());
                if (rc != FERRY_OK)
                    set_current(ad, NULL, 0, 0, NULL);
            } else if (a.act == AGENTD_ACT_PROMPT) {
                do_prompt(ad, t);
            } else {
                do_apply(ad, t, a.forced);
            }
            pthread_mutex_lock(&ad->mu);
            continue;
        }
        /* Configuration only between updates: a task not yet final (downloading, waiting
         * for the user, deferred) or post_upgrade hooks still running hold it back. */
        pthread_mutex_lock(&ad->mu);
        bool hooks_running = ad->hooks_state == 1;
        pthread_mutex_unlock(&ad->mu);
        if (listed && agentd_cfg_work(ad, hooks_running || agentd_cfg_update_busy(tasks, n))) {
            pthread_mutex_lock(&ad->mu);
            continue;
        }
        pthread_mutex_lock(&ad->mu);
        int64_t wait = 5000; /* also how soon a hand edit of node-config.json is noticed */
        int64_t now = agentd_now_ms();
        if (a.wake_ms > 0 && a.wake_ms - now < wait)
            wait = a.wake_ms - now;
        if (retry_at > now && retry_at - now < wait)
            wait = retry_at - now;
        if (wait < 10)
            wait = 10;
        if (!ad->wake && !ad->stop)
            wait_ms_locked(ad, &ad->cv, wait);
    }
    pthread_mutex_unlock(&ad->mu);
}

/* ---- binding -------------------------------------------------------------------------------- */

ferry_err_code_t agentd_bind(const char *state_dir, const char *server_url, const char *node_code, int env,
                             const char *token, const char *ca_file, const char *pin, agentd_binding_t *out,
                             ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    agentd_binding_t b;
    ferry_rpc_client_t *c = NULL;
    Ferry__V1__BindRequest req = FERRY__V1__BIND_REQUEST__INIT;
    Ferry__V1__BindResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    memset(&b, 0, sizeof(b));
    if (server_url == NULL ||
        (strncmp(server_url, "http://", 7) != 0 && strncmp(server_url, "https://", 8) != 0)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "--server must be an http:// or https:// URL");
        goto out;
    }
    if (node_code == NULL || node_code[0] == '\0' || strlen(node_code) >= sizeof(b.node_code)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "--node must be a node code of 1..63 characters");
        goto out;
    }
    if (env < 1 || env > 4) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "--env must be DEV, TEST, UAT or PROD");
        goto out;
    }
    if (token == NULL || token[0] == '\0' || strlen(token) >= AGENTD_TOKEN_MAX) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "token is empty or too long");
        goto out;
    }
    snprintf(b.server_url, sizeof(b.server_url), "%s", server_url);
    size_t ul = strlen(b.server_url);
    while (ul > 0 && b.server_url[ul - 1] == '/')
        b.server_url[--ul] = '\0';
    snprintf(b.ca_file, sizeof(b.ca_file), "%s", ca_file ? ca_file : "");
    snprintf(b.pin_sha256, sizeof(b.pin_sha256), "%s", pin ? pin : "");
    if ((c = make_client(&b, NULL, 30000, err)) == NULL) {
        rc = err != NULL ? err->code : FERRY_E_INVALID_ARG;
        goto out;
    }
    req.node_code = (char *)node_code;
    req.environment = (Ferry__V1__Environment)env;
    req.token = (char *)token;
    if (ferry_v1_agent_service_bind(c, &req, &resp, NULL, &st) != FERRY_RPC_OK) {
        ferry_err_code_t code = ferry_err_from_name(st.app_code);
        if (code == FERRY_OK)
            code = st.code == FERRY_RPC_UNAUTHENTICATED ? FERRY_E_AUTH_INVALID : FERRY_E_UNAVAILABLE;
        rc = ferry_err_set(err, code, "%s: %s", server_url, st.message);
        goto out;
    }
    if (resp->node != NULL) {
        snprintf(b.node_code, sizeof(b.node_code), "%s", resp->node->code ? resp->node->code : node_code);
        snprintf(b.node_name, sizeof(b.node_name), "%s", resp->node->name ? resp->node->name : "");
        snprintf(b.customer_code, sizeof(b.customer_code), "%s",
                 resp->node->customer_code ? resp->node->customer_code : "");
        snprintf(b.store_code, sizeof(b.store_code), "%s",
                 resp->node->store_code ? resp->node->store_code : "");
    } else {
        snprintf(b.node_code, sizeof(b.node_code), "%s", node_code);
    }
    b.environment = env;
    for (size_t i = 0; i < resp->n_signing_keys && b.n_keys < AGENTD_MAX_KEYS; i++) {
        const Ferry__V1__SigningKey *k = resp->signing_keys[i];
        if (k->public_key.len != FERRY_ED25519_PUBLIC_LEN)
            continue;
        snprintf(b.keys[b.n_keys].key_id, sizeof(b.keys[b.n_keys].key_id), "%s", k->key_id ? k->key_id : "");
        memcpy(b.keys[b.n_keys].pub, k->public_key.data, FERRY_ED25519_PUBLIC_LEN);
        b.n_keys++;
    }
    if (b.n_keys == 0) {
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "%s sent no Ed25519 signing key: refusing to bind",
                           server_url);
        goto out;
    }
    b.bound_at_ms = agentd_now_ms();
    /* Token first: a binding without its token is useless, a token without binding is ignored. */
    if ((rc = agentd_token_save(state_dir, token, err)) != FERRY_OK ||
        (rc = agentd_binding_save(state_dir, &b, err)) != FERRY_OK)
        goto out;
    if (out != NULL)
        *out = b;
out:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(c);
    return rc;
}

/* ---- run ------------------------------------------------------------------------------------ */

/* SIGTERM/SIGINT are blocked in every thread and taken here with sigwait(), so the
 * stop can be announced under the mutex and every waiting thread woken at once. */
static void *signal_main(void *arg)
{
    agentd_t *ad = arg;
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1); /* sent by agentd_run() itself to end this thread */
    (void)sigwait(&set, &sig);
    pthread_mutex_lock(&ad->mu);
    if (sig != SIGUSR1)
        agentd_log("%s: stopping after the current step", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ad->stop = 1;
    ad->stream_cancel = 1;
    ferry_rpc_client_cancel_all(ad->stream);
    pthread_cond_broadcast(&ad->cv);
    pthread_cond_broadcast(&ad->status_cv);
    pthread_mutex_unlock(&ad->mu);
    return NULL;
}

/* Identity of node-config.json on disk (mtime, size, inode): a change means reload. */
static void cfg_stamp(const char *path, char *out, size_t size)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        snprintf(out, size, "missing");
    else
        snprintf(out, size, "%lld.%09ld/%lld/%llu", (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
                 (long long)sb.st_size, (unsigned long long)sb.st_ino);
}

/*
 * (Re)loads node-config.json. Only the work loop calls it, between tasks, so nothing
 * else holds the old configuration: the swap happens under mu for LocalService readers.
 * An invalid file keeps the configuration in effect (the error shows in status).
 */
static void load_config(agentd_t *ad)
{
    ferry_err_t err = {0};
    ferry_node_config_t *cfg = NULL;
    cfg_stamp(ad->config_path, ad->cfg_stamp, sizeof(ad->cfg_stamp));
    if (ferry_node_config_load(ad->config_path, &cfg, &err) != FERRY_OK) {
        pthread_mutex_lock(&ad->mu);
        snprintf(ad->cfg_error, sizeof(ad->cfg_error), "%s", err.msg);
        agentd_changed_locked(ad);
        pthread_mutex_unlock(&ad->mu);
        agentd_log("node-config: %s (%s)", err.msg,
                   ad->cfg != NULL ? "keeping the configuration in effect"
                                   : "updates wait until it is fixed");
        return;
    }
    pthread_mutex_lock(&ad->mu);
    ferry_node_config_t *old = ad->cfg;
    ad->cfg = cfg;
    ad->cfg_error[0] = '\0';
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
    if (old != NULL)
        agentd_log("node-config: reloaded (configVersion %lld)", (long long)cfg->config_version);
    ferry_node_config_free(old);
    /* Upload it when it changed since the last upload (seed 000 §5.2): secrets masked. */
    char *dump = NULL;
    if (ferry_node_config_dump_effective(cfg, &dump, &err) == FERRY_OK)
        agentd_nodecfg_upload_if_changed(ad, dump);
    free(dump);
}

void agentd_nodecfg_upload_if_changed(agentd_t *ad, const char *dump)
{
    /* The tray's save (local API thread) and the work loop's reload both land here with the
     * same content: one compare-and-queue at a time, so it is uploaded once. */
    static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
    ferry_err_t err = {0};
    char hex[65], last[80] = "";
    ferry_sha256_hex(dump, strlen(dump), hex);
    pthread_mutex_lock(&once);
    (void)agentd_store_kv_get(ad->store, "node_config_sha256", last, sizeof(last), NULL);
    if (strcmp(hex, last) != 0) {
        char p[AGENTD_PATH_MAX];
        snprintf(p, sizeof(p), "%s/node-config.masked.json", ad->state_dir);
        if (ferry_fs_write_atomic(p, dump, strlen(dump), 0600, &err) == FERRY_OK) {
            agentd_queue_upload(ad, 1, "", p, "node-config.json", "application/json", "node-config.json",
                                true);
            (void)agentd_store_kv_set(ad->store, "node_config_sha256", hex, NULL);
        } else {
            agentd_log("node-config: cannot stage the upload: %s", err.msg);
        }
    }
    pthread_mutex_unlock(&once);
}

int agentd_run(const agentd_opts_t *o)
{
    int ret = 3;
    ferry_err_t err = {0};
    agentd_t *ad = calloc(1, sizeof(*ad));
    bool threads = false;
    int found = 0;
    if (ad == NULL)
        return 3;
    ad->o = *o;
    const char *sd = o->state_dir ? o->state_dir : "/var/lib/ferry-agent";
    if (strlen(sd) > 400) {
        fprintf(stderr, "ferry-agent: --state-dir longer than 400 characters\n");
        free(ad);
        return 3;
    }
    snprintf(ad->state_dir, sizeof(ad->state_dir), "%s", sd);
    if (o->config_path != NULL)
        snprintf(ad->config_path, sizeof(ad->config_path), "%s", o->config_path);
    else
        snprintf(ad->config_path, sizeof(ad->config_path), "%s/node-config.json", ad->state_dir);
    pthread_mutex_init(&ad->mu, NULL);
    pthread_cond_init(&ad->cv, NULL);
    pthread_cond_init(&ad->status_cv, NULL);
    /* Before any thread exists (the RPC clients start I/O threads): all inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_create(&ad->sig_th, NULL, signal_main, ad);
    ad->poll_interval_ms = 60000;
    ad->started_ms = agentd_now_ms();
    ferry_log_set_ident("ferry-agent");
    if (agentd_store_open(ad->state_dir, &ad->store, &err) != FERRY_OK) {
        fprintf(stderr, "ferry-agent: %s\n", err.msg);
        goto out;
    }
    (void)agentd_store_kv_get(ad->store, "installed_version", ad->installed_version,
                              sizeof(ad->installed_version), NULL);
    if (agentd_binding_load(ad->state_dir, &ad->binding, &found, &err) != FERRY_OK) {
        fprintf(stderr, "ferry-agent: %s\n", err.msg);
        goto out;
    }
    if (found && agentd_token_load(ad->state_dir, ad->token, sizeof(ad->token), &err) == FERRY_OK)
        ad->bound = true;
    else if (found)
        agentd_log("binding found but no token (%s): bind again", err.msg);
    ad->link = ad->bound ? AGENTD_LINK_OFFLINE : AGENTD_LINK_UNBOUND;
    pthread_mutex_lock(&ad->mu);
    ferry_err_code_t crc = agentd_clients_rebuild_locked(ad, &err);
    pthread_mutex_unlock(&ad->mu);
    if (crc != FERRY_OK) {
        fprintf(stderr, "ferry-agent: %s\n", err.msg);
        goto out;
    }
    load_config(ad);
    agentd_license_load(ad); /* after the config: it names license.file */
    agentd_cfg_load(ad);

    if (agentd_local_start(ad, &err) != FERRY_OK) {
        fprintf(stderr, "ferry-agent: local API: %s\n", err.msg);
        goto out;
    }
    agentd_log("started: version %s, state dir %s, %s%s, installed %s", AGENTD_VERSION, ad->state_dir,
               ad->bound ? "bound to " : "not bound", ad->bound ? ad->binding.server_url : "",
               ad->installed_version[0] ? ad->installed_version : "(unknown)");
    pthread_create(&ad->link_th, NULL, link_main, ad);
    pthread_create(&ad->beat_th, NULL, beat_main, ad);
    pthread_create(&ad->post_th, NULL, agentd_post_main, ad);
    threads = true;
    work_loop(ad);
    ret = 0;
out:
    if (threads) {
        pthread_mutex_lock(&ad->mu);
        ad->stop = 1;
        ad->stream_cancel = 1;
        pthread_cond_broadcast(&ad->cv);
        pthread_cond_broadcast(&ad->status_cv);
        pthread_mutex_unlock(&ad->mu);
        /* The stream may have started just after the stop was announced: cancel again
         * until the link thread is gone. */
        for (;;) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            if (pthread_timedjoin_np(ad->link_th, NULL, &ts) == 0)
                break;
            ferry_rpc_client_cancel_all(ad->stream);
        }
        pthread_join(ad->beat_th, NULL);
        pthread_join(ad->post_th, NULL);
    }
    /* ad->stop is set: a running hook is killed and its phase left to resume. */
    pthread_mutex_lock(&ad->mu);
    int hooks_state = ad->hooks_state;
    pthread_mutex_unlock(&ad->mu);
    if (hooks_state != 0)
        pthread_join(ad->hooks_th, NULL);
    agentd_local_stop(ad);
    pthread_kill(ad->sig_th, SIGUSR1);
    pthread_join(ad->sig_th, NULL);
    agentd_log("stopped");
    ferry_node_config_free(ad->cfg);
    agentd_store_close(ad->store);
    explicit_bzero(ad->token, sizeof(ad->token));
    /* Clients are not freed here on purpose: a parked client from a re-bind may still be
     * referenced by nothing, and the process exits right after. */
    ferry_rpc_client_free(ad->rpc);
    ferry_rpc_client_free(ad->stream);
    free(ad);
    return ret;
}
