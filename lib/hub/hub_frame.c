/*
 * The handler frame (see hub_frame.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/log.h"
#include "hub_frame.h"

void hub_frame_target(hub_frame_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->target, sizeof(f->target), fmt, ap);
    va_end(ap);
    if (f->call != NULL)
        hub_audit_target(f->call, f->target);
}

void hub_frame_secret(hub_frame_t *f, void *p, size_t n)
{
    for (size_t i = 0; i < HUB_FRAME_SECRETS; i++) {
        if (f->secrets[i].p == NULL) {
            f->secrets[i].p = p;
            f->secrets[i].n = n;
            return;
        }
    }
    memset(p, 0, n); /* no slot left: never keep a secret we cannot wipe later */
}

void hub_frame_init(hub_frame_t *f, ferry_hub_t *hub, ferry_store_t *store)
{
    memset(f, 0, sizeof(*f));
    f->hub = hub;
    f->store = store;
}

void hub_frame_clear(hub_frame_t *f)
{
    for (size_t i = 0; i < HUB_FRAME_SECRETS; i++) {
        if (f->secrets[i].p != NULL)
            memset(f->secrets[i].p, 0, f->secrets[i].n);
        f->secrets[i].p = NULL;
    }
    hub_arena_free(&f->arena);
}

ferry_err_code_t hub_frame_exec(hub_frame_t *f, const hub_method_t *m, const void *req, void *resp,
                                ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    bool locked = false;

    if (m->flags & HUB_FRAME_WRITE) {
        ferry_store_lock(f->store);
        locked = true;
        if ((rc = ferry_store_tx_begin(f->store, err)) != FERRY_OK)
            goto done;
    }
    if ((rc = m->body(f, req, resp, err)) != FERRY_OK)
        goto done;
    if (f->arena.failed) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", m->name);
        goto done;
    }
    if (m->flags & HUB_FRAME_AUDIT) {
        if (!locked) {
            ferry_store_lock(f->store);
            locked = true;
        }
        if ((rc = hub_audit_write(f->store, &f->actor, f->target, NULL, err)) != FERRY_OK)
            goto done;
    }
    if (m->flags & HUB_FRAME_WRITE)
        rc = ferry_store_tx_commit(f->store, err);
done:
    if (rc != FERRY_OK && locked)
        ferry_store_tx_rollback(f->store);
    if (rc != FERRY_OK && (m->flags & HUB_FRAME_AUDIT)) {
        /* After the rollback, in its own statement: the refusal is on record even though
         * nothing of the change is. */
        ferry_err_t aerr = {0};
        if (!locked) {
            ferry_store_lock(f->store);
            locked = true;
        }
        if (hub_audit_write(f->store, &f->actor, f->target, ferry_err_name(rc), &aerr) == FERRY_OK)
            f->audited_failure = true;
        else
            FERRY_ERROR("audit: %s: could not record %s: %s", f->actor.request_id, f->actor.method, aerr.msg);
    }
    if (locked)
        ferry_store_unlock(f->store);
    return rc;
}

static void frame_run(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req, const hub_method_t *m)
{
    hub_frame_t f;
    ferry_err_t err = {0};
    void *resp;

    hub_frame_init(&f, hub, hub->store);
    f.call = call;
    f.me = hub_principal(call);
    hub_audit_actor_of(call, &f.actor);
    if ((resp = hub_arena_alloc(&f.arena, m->resp_desc->sizeof_message)) == NULL) {
        ferry_err_set(&err, FERRY_E_NOMEM, "%s: out of memory", m->name);
        goto fail;
    }
    protobuf_c_message_init(m->resp_desc, resp);
    if (hub_frame_exec(&f, m, req, resp, &err) != FERRY_OK)
        goto fail;
    if (m->flags & HUB_FRAME_AUDIT)
        hub_audit_written(call, f.target, true);
    if (m->done != NULL)
        m->done(&f, req, resp);
    m->reply(call, resp);
    goto out;
fail:
    if (f.audited_failure)
        hub_audit_written(call, f.target, false);
    hub_fail(call, &err);
out:
    hub_frame_clear(&f);
}

typedef struct frame_job {
    ferry_hub_t *hub;
    const void *req;
    const hub_method_t *m;
} frame_job_t;

static void frame_job_run(ferry_rpc_call_t *call, void *arg)
{
    frame_job_t j = *(frame_job_t *)arg;
    free(arg);
    frame_run(call, j.hub, j.req, j.m);
}

void hub_frame_call(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req, const hub_method_t *m)
{
    frame_job_t *j = NULL;
    ferry_err_t err = {0};

    if ((m->flags & HUB_FRAME_NODE) && hub_node_principal(call) == NULL)
        return; /* failed unauthenticated */
    if (!(m->flags & HUB_FRAME_OFFLOAD)) {
        frame_run(call, hub, req, m);
        return;
    }
    if ((j = malloc(sizeof(*j))) == NULL) {
        ferry_err_set(&err, FERRY_E_UNAVAILABLE, "server out of memory");
        goto fail;
    }
    *j = (frame_job_t){hub, req, m};
    if (ferry_rpc_call_offload(call, frame_job_run, j) != FERRY_OK) {
        free(j);
        ferry_err_set(&err, FERRY_E_UNAVAILABLE, "server busy: worker pool full, retry later");
        goto fail;
    }
    return;
fail:
    hub_fail(call, &err);
}
