/*
 * Reports and files going to the server. A report is committed to the outbox
 * (store.c) before anything is sent; this thread sends the oldest one, deletes it only
 * when ferryd acknowledged it (a duplicate counts: the server had it already), and
 * backs off while the server is unreachable. Order is preserved: the oldest report
 * blocks the ones behind it, so the server never sees a sequence out of order.
 * Configuration results (ReportConfigResult, cfgapply.c) share the outbox and its order.
 * Uploads (CreateFileUpload -> signed PUT -> CommitFileUpload) run when the outbox is
 * empty.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd.h"
#include "download.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/transfer.h"
#include "ferry/v1/report.ferry-client.h"

/* HookReport.stderr_tail: the journal keeps 4 KiB of a hook's output; ferryd takes <= 10 KiB. */
#define HOOK_TAIL_MAX 4096

typedef struct fill_ctx {
    const agentd_report_t *r;
} fill_ctx_t;

static int fill_report(void *user, uint64_t seq, uint8_t **body, size_t *len)
{
    fill_ctx_t *c = user;
    const agentd_report_t *r = c->r;
    Ferry__V1__ProgressReport p = FERRY__V1__PROGRESS_REPORT__INIT;
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Ferry__V1__DownloadStats ds = FERRY__V1__DOWNLOAD_STATS__INIT;
    Google__Protobuf__Duration dur = GOOGLE__PROTOBUF__DURATION__INIT;
    Ferry__V1__HookReport hr = FERRY__V1__HOOK_REPORT__INIT;
    Google__Protobuf__Duration hdur = GOOGLE__PROTOBUF__DURATION__INIT;
    char *fb[8];
    char msg[1024], hmsg[1024], htail[HOOK_TAIL_MAX + 1];
    int64_t now = agentd_now_ms();
    p.task_id = (char *)r->task_id;
    p.sequence = seq;
    p.state = (Ferry__V1__TaskState)r->state;
    p.error_code = (char *)(r->error_code ? r->error_code : "");
    snprintf(msg, sizeof(msg), "%s", r->message ? r->message : "");
    ferry_log_mask_secrets(msg);
    p.message = msg;
    p.percent = r->percent > 0 ? (uint32_t)r->percent : 0;
    p.bytes_done = r->bytes_done;
    p.bytes_total = r->bytes_total;
    p.backup_local_path = (char *)(r->backup_path ? r->backup_path : "");
    p.checkpoint = (char *)(r->checkpoint ? r->checkpoint : "");
    at.seconds = now / 1000;
    at.nanos = (int32_t)(now % 1000) * 1000000;
    p.reported_at = &at;
    if (r->download != NULL) {
        const agentd_dl_stats_t *s = r->download;
        ds.source_name = (char *)s->source_name;
        ds.bytes = s->bytes;
        ds.resumed_bytes = s->resumed_bytes;
        ds.attempts = s->attempts;
        dur.seconds = (int64_t)s->seconds;
        dur.nanos = (int32_t)((s->seconds - (double)dur.seconds) * 1e9);
        ds.duration = &dur;
        ds.n_fallbacks = s->n_fallbacks < 8 ? s->n_fallbacks : 8;
        for (size_t i = 0; i < ds.n_fallbacks; i++)
            fb[i] = (char *)s->fallbacks[i];
        ds.fallbacks = fb;
        p.download = &ds;
    }
    if (r->hook != NULL) {
        /* Hook output may hold what a script printed of its configuration: masked like
         * the agent's own log lines before it leaves the node. */
        const agentd_hook_t *h = r->hook;
        const char *tail = h->stderr_tail != NULL ? h->stderr_tail : "";
        size_t tl = strlen(tail);
        if (tl > HOOK_TAIL_MAX)
            tail += tl - HOOK_TAIL_MAX; /* the end says why it failed */
        snprintf(hmsg, sizeof(hmsg), "%s", h->message != NULL ? h->message : "");
        snprintf(htail, sizeof(htail), "%s", tail);
        ferry_log_mask_secrets(hmsg);
        ferry_log_mask_secrets(htail);
        hr.stage = (Ferry__V1__HookStage)h->stage;
        hr.hook_id = (char *)(h->id != NULL ? h->id : "");
        hr.name = (char *)(h->name != NULL ? h->name : "");
        hr.result = (Ferry__V1__HookResult)h->result;
        hr.message = hmsg;
        hr.stderr_tail = htail;
        hdur.seconds = h->duration_ms / 1000;
        hdur.nanos = (int32_t)(h->duration_ms % 1000) * 1000000;
        hr.duration = &hdur;
        hr.exit_status = h->exit_status;
        p.hook = &hr;
    }
    *len = ferry__v1__progress_report__get_packed_size(&p);
    if ((*body = malloc(*len > 0 ? *len : 1)) == NULL)
        return -1;
    ferry__v1__progress_report__pack(&p, *body);
    return 0;
}

ferry_err_code_t agentd_report(agentd_t *ad, const agentd_report_t *r)
{
    ferry_err_t err = {0};
    fill_ctx_t c = {.r = r};
    uint64_t seq = 0;
    ferry_err_code_t rc = agentd_store_outbox_add(ad->store, r->task_id, fill_report, &c, &seq, &err);
    if (rc != FERRY_OK) {
        agentd_log("task %s: cannot queue report: %s", r->task_id, err.msg);
        return rc;
    }
    pthread_mutex_lock(&ad->mu);
    if (r->state != 0 && strcmp(ad->current_task, r->task_id) == 0)
        ad->current_state = r->state;
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
    return FERRY_OK;
}

void agentd_queue_upload(agentd_t *ad, int kind, const char *task_id, const char *path, const char *name,
                         const char *content_type, const char *summary, bool copy)
{
    agentd_upload_t u;
    ferry_err_t err = {0};
    memset(&u, 0, sizeof(u));
    u.kind = kind;
    snprintf(u.task_id, sizeof(u.task_id), "%s", task_id ? task_id : "");
    snprintf(u.name, sizeof(u.name), "%s", name);
    snprintf(u.content_type, sizeof(u.content_type), "%s", content_type);
    snprintf(u.summary, sizeof(u.summary), "%s", summary ? summary : "");
    ferry_log_mask_secrets(u.summary);
    if (copy) {
        /* A private copy: the original may be rewritten (node-config) or pruned (backups). */
        char *data = NULL;
        size_t len = 0;
        snprintf(u.path, sizeof(u.path), "%s/uploads", ad->state_dir);
        (void)ferry_fs_mkdir_p(u.path, 0700, NULL);
        /* ms + a counter: two uploads of the same name queued in one ms (a save from the
         * tray and the work loop's reload) get two files. */
        static _Atomic unsigned seq;
        snprintf(u.path, sizeof(u.path), "%s/uploads/%lld-%u-%s", ad->state_dir, (long long)agentd_now_ms(),
                 atomic_fetch_add(&seq, 1), name);
        if (ferry_fs_read_file(path, 64u << 20, &data, &len, &err) != FERRY_OK ||
            ferry_fs_write_atomic(u.path, data, len, 0600, &err) != FERRY_OK) {
            agentd_log("upload %s: cannot copy: %s", name, err.msg);
            free(data);
            return;
        }
        free(data);
        u.owned = 1;
    } else {
        snprintf(u.path, sizeof(u.path), "%s", path);
    }
    if (agentd_store_upload_add(ad->store, &u, &err) != FERRY_OK)
        agentd_log("upload %s: cannot queue: %s", name, err.msg);
    pthread_mutex_lock(&ad->mu);
    agentd_changed_locked(ad); /* bumps status_gen: a bare broadcast left the post thread asleep */
    pthread_mutex_unlock(&ad->mu);
}

/* One queued file: returns 0 done (or dropped), -1 retry later. */
static int send_upload(agentd_t *ad, ferry_rpc_client_t *rpc, const agentd_upload_t *u)
{
    int ret = -1;
    ferry_err_t err = {0};
    char hex[65];
    struct stat sb;
    ferry_rpc_status_t st = {0};
    Ferry__V1__CreateFileUploadRequest creq = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cres = NULL;
    Ferry__V1__CommitFileUploadRequest mreq = FERRY__V1__COMMIT_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CommitFileUploadResponse *mres = NULL;
    ferry_xfer_t *x = NULL;
    const char **hdrs = NULL;
    char **hbuf = NULL;
    size_t nh = 0;
    if (stat(u->path, &sb) != 0 || ferry_sha256_file(u->path, hex, NULL, &err) != FERRY_OK) {
        agentd_log("upload %s: file gone (%s); dropped", u->name, u->path);
        ret = 0;
        goto out;
    }
    creq.kind = (Ferry__V1__FileKind)u->kind;
    creq.task_id = (char *)u->task_id;
    creq.file_name = (char *)u->name;
    creq.size = (uint64_t)sb.st_size;
    creq.sha256 = hex;
    creq.content_type = (char *)u->content_type;
    if (ferry_v1_report_service_create_file_upload(rpc, &creq, &cres, NULL, &st) != FERRY_RPC_OK) {
        agentd_log("upload %s: CreateFileUpload: %s %s", u->name, st.app_code, st.message);
        if (st.code == FERRY_RPC_INVALID_ARGUMENT || st.code == FERRY_RPC_PERMISSION_DENIED ||
            st.code == FERRY_RPC_NOT_FOUND)
            ret = 0; /* the server will never take it */
        goto out;
    }
    if (cres->target == NULL || cres->target->url == NULL) {
        ret = 0;
        goto out;
    }
    ferry_xfer_config_t xc = {0};
    pthread_mutex_lock(&ad->mu);
    xc.ca_file = ad->binding.ca_file[0] ? ad->binding.ca_file : NULL;
    xc.pin_sha256 = ad->binding.pin_sha256[0] ? ad->binding.pin_sha256 : NULL;
    pthread_mutex_unlock(&ad->mu);
    if ((x = ferry_xfer_new(&xc, &err)) == NULL)
        goto out;
    const Ferry__V1__UploadTarget *tg = cres->target;
    hdrs = calloc(tg->n_headers + 1, sizeof(*hdrs));
    hbuf = calloc(tg->n_headers + 1, sizeof(*hbuf));
    if (hdrs == NULL || hbuf == NULL)
        goto out;
    for (size_t i = 0; i < tg->n_headers; i++) {
        size_t l = strlen(tg->headers[i]->key) + strlen(tg->headers[i]->value) + 3;
        if ((hbuf[nh] = malloc(l)) == NULL)
            goto out;
        snprintf(hbuf[nh], l, "%s: %s", tg->headers[i]->key, tg->headers[i]->value);
        hdrs[nh] = hbuf[nh];
        nh++;
    }
    int status = 0;
    uint64_t size = (uint64_t)sb.st_size;
    uint64_t chunk = tg->max_chunk_size > 0 ? tg->max_chunk_size : size;
    for (uint64_t off = tg->received_bytes; off < size || (size == 0 && off == 0);) {
        uint64_t n = size - off < chunk ? size - off : chunk;
        if (ferry_xfer_put_file(x, tg->url, u->path, off, n, size, hdrs, &status, NULL, NULL, &err) !=
            FERRY_OK) {
            agentd_log("upload %s: PUT: %s", u->name, err.msg);
            goto out;
        }
        off += n;
        if (size == 0)
            break;
    }
    mreq.upload_id = cres->upload_id;
    mreq.summary = (char *)u->summary;
    if (ferry_v1_report_service_commit_file_upload(rpc, &mreq, &mres, NULL, &st) != FERRY_RPC_OK) {
        agentd_log("upload %s: CommitFileUpload: %s %s", u->name, st.app_code, st.message);
        goto out;
    }
    agentd_log("uploaded %s (%lld bytes)%s%s", u->name, (long long)sb.st_size,
               u->task_id[0] ? " for task " : "", u->task_id);
    if (u->kind == FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)agentd_now_ms());
        (void)agentd_store_kv_set(ad->store, "node_config_uploaded_ms", v, NULL);
        pthread_mutex_lock(&ad->mu);
        snprintf(v, sizeof(v), "%lld", (long long)(ad->cfg != NULL ? ad->cfg->config_version : 0));
        pthread_mutex_unlock(&ad->mu);
        (void)agentd_store_kv_set(ad->store, "node_config_uploaded_version", v, NULL);
    }
    ret = 0;
out:
    for (size_t i = 0; i < nh; i++)
        free(hbuf[i]);
    free(hbuf);
    free(hdrs);
    ferry_xfer_free(x);
    if (cres != NULL)
        protobuf_c_message_free_unpacked(&cres->base, NULL);
    if (mres != NULL)
        protobuf_c_message_free_unpacked(&mres->base, NULL);
    return ret;
}

/* Whether a failed call means the server will never take this row: keeping it would
 * block every later report (it is logged, then dropped). */
static bool refused(ferry_rpc_code_t c)
{
    return c == FERRY_RPC_INVALID_ARGUMENT || c == FERRY_RPC_FAILED_PRECONDITION ||
           c == FERRY_RPC_NOT_FOUND || c == FERRY_RPC_PERMISSION_DENIED;
}

static void contact(agentd_t *ad)
{
    pthread_mutex_lock(&ad->mu);
    ad->last_contact_ms = agentd_now_ms();
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
}

/*
 * What an answer to the outbox row |row| means, the same for every kind: taken (ack,
 * contact) or refused for good (logged naming |what|, then dropped: keeping it would block
 * every later row) -> 1; anything else (unreachable, overloaded) -> -1, retried with
 * backoff and shown as the last error.
 */
static int settle(agentd_t *ad, int64_t row, ferry_rpc_code_t c, const ferry_rpc_status_t *st,
                  const char *what)
{
    if (c == FERRY_RPC_OK) {
        (void)agentd_store_outbox_ack(ad->store, row, NULL);
        contact(ad);
        return 1;
    }
    if (refused(c)) {
        agentd_log("outbox: %s refused: %s %s; dropped", what, st->app_code, st->message);
        (void)agentd_store_outbox_ack(ad->store, row, NULL);
        return 1;
    }
    pthread_mutex_lock(&ad->mu);
    snprintf(ad->last_error, sizeof(ad->last_error), "report: %.400s", st->message);
    pthread_mutex_unlock(&ad->mu);
    return -1;
}

/* A configuration result (ReportConfigResult): 1 sent (or dropped), -1 retry later. The
 * server acknowledges a repeat of the state it has, so a resend after a lost reply is fine. */
static int send_config(agentd_t *ad, ferry_rpc_client_t *rpc, int64_t row, const uint8_t *body, size_t len)
{
    int ret = -1;
    ferry_rpc_status_t st = {0};
    Ferry__V1__ReportConfigResultRequest *q =
        ferry__v1__report_config_result_request__unpack(NULL, len, body);
    Ferry__V1__ReportConfigResultResponse *resp = NULL;
    if (q == NULL) {
        agentd_log("outbox: configuration result %lld unreadable; dropped", (long long)row);
        (void)agentd_store_outbox_ack(ad->store, row, NULL);
        ret = 1;
        goto out;
    }
    ferry_rpc_code_t c = ferry_v1_report_service_report_config_result(rpc, q, &resp, NULL, &st);
    char what[160];
    snprintf(what, sizeof(what), "config %s result %s", q->assignment_id,
             agentd_cfg_state_name((int)q->state));
    ret = settle(ad, row, c, &st, what);
out:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (q != NULL)
        protobuf_c_message_free_unpacked(&q->base, NULL);
    return ret;
}

/* Sends the oldest report: 1 sent (or dropped), 0 outbox empty, -1 retry later. */
static int send_one(agentd_t *ad, ferry_rpc_client_t *rpc)
{
    int64_t row = 0;
    uint8_t *body = NULL;
    size_t len = 0;
    int found = 0, kind = 0;
    int ret = -1;
    ferry_err_t err = {0};
    Ferry__V1__ProgressReport *p = NULL;
    Ferry__V1__ReportProgressResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    if (agentd_store_outbox_peek(ad->store, &row, &kind, &body, &len, &found, &err) != FERRY_OK)
        goto out;
    if (!found) {
        ret = 0;
        goto out;
    }
    if (kind == AGENTD_OUTBOX_CONFIG) {
        ret = send_config(ad, rpc, row, body, len);
        goto out;
    }
    if ((p = ferry__v1__progress_report__unpack(NULL, len, body)) == NULL) {
        agentd_log("outbox: report %lld unreadable; dropped", (long long)row);
        (void)agentd_store_outbox_ack(ad->store, row, NULL);
        ret = 1;
        goto out;
    }
    Ferry__V1__ReportProgressRequest req = FERRY__V1__REPORT_PROGRESS_REQUEST__INIT;
    req.report = p;
    ferry_rpc_code_t c = ferry_v1_report_service_report_progress(rpc, &req, &resp, NULL, &st);
    if (c == FERRY_RPC_OK && resp->directive == FERRY__V1__REPORT_DIRECTIVE__REPORT_DIRECTIVE_HALT)
        (void)agentd_store_halt(ad->store, p->task_id, 1, NULL);
    char what[160]; /* a refusal is e.g. a transition the server forbids */
    snprintf(what, sizeof(what), "task %.64s report %llu (state %d)", p->task_id,
             (unsigned long long)p->sequence, (int)p->state);
    ret = settle(ad, row, c, &st, what);
out:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (p != NULL)
        protobuf_c_message_free_unpacked(&p->base, NULL);
    free(body);
    return ret;
}

void *agentd_post_main(void *arg)
{
    agentd_t *ad = arg;
    unsigned failures = 0;
    pthread_mutex_lock(&ad->mu);
    while (!ad->stop) {
        ferry_rpc_client_t *rpc = ad->bound && ad->link != AGENTD_LINK_AUTH_FAILED ? ad->rpc : NULL;
        /* Taken before looking at the queues: whatever is queued after this wakes the wait. */
        uint64_t gen = ad->status_gen;
        pthread_mutex_unlock(&ad->mu);
        int r = rpc != NULL ? send_one(ad, rpc) : 0;
        if (r == 0 && rpc != NULL) {
            agentd_upload_t u;
            int found = 0;
            if (agentd_store_upload_peek(ad->store, &u, &found, NULL) == FERRY_OK && found) {
                if (send_upload(ad, rpc, &u) == 0) {
                    if (u.owned)
                        (void)unlink(u.path);
                    (void)agentd_store_upload_done(ad->store, u.row, NULL);
                    r = 1;
                } else {
                    (void)agentd_store_upload_failed(ad->store, u.row, NULL);
                    r = -1;
                }
            }
        }
        pthread_mutex_lock(&ad->mu);
        if (r == 1) {
            failures = 0;
            continue;
        }
        int64_t wait = 30000; /* idle: a new report or upload wakes us through status_cv */
        if (r < 0)
            wait = agentd_backoff_ms(failures < 10 ? failures++ : 10, 250, 15000, agentd_rand01());
        else
            failures = 0;
        /* agentd_report() and uploads bump status_gen: a new report wakes us at once. */
        int64_t until = agentd_now_ms() + wait;
        while (!ad->stop && agentd_now_ms() < until && (r < 0 || gen == ad->status_gen)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ms = until - agentd_now_ms();
            int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
            ts.tv_sec += ms / 1000 + ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&ad->status_cv, &ad->mu, &ts);
        }
    }
    /* Last chance on a clean stop: flush what is queued (bounded), the rest stays durable. */
    pthread_mutex_unlock(&ad->mu);
    for (int i = 0; i < 50 && ad->rpc != NULL && ad->bound; i++)
        if (send_one(ad, ad->rpc) != 1)
            break;
    return NULL;
}
