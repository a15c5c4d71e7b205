#include "core.h"

#include <string.h>

static bool runnable(const agentd_task_t *t)
{
    return t->phase != AGENTD_PHASE_DONE && !t->halted;
}

/* Oldest first; ties broken by id so the order is total and stable. */
static bool older(const agentd_task_t *a, const agentd_task_t *b)
{
    if (a->created_ms != b->created_ms)
        return a->created_ms < b->created_ms;
    return strcmp(a->id, b->id) < 0;
}

static void wake_at(agentd_action_t *a, int64_t t)
{
    if (t > 0 && (a->wake_ms == 0 || t < a->wake_ms))
        a->wake_ms = t;
}

agentd_action_t agentd_core_next(const agentd_task_t *tasks, size_t n, int64_t now_ms)
{
    agentd_action_t a = {.act = AGENTD_ACT_NONE};
    /* A task the engine holds (interrupted between steps, crash) goes first, halted or
     * not: the installation is half done and the engine refuses any other task. */
    for (size_t i = 0; i < n; i++)
        if (tasks[i].phase == AGENTD_PHASE_APPLYING) {
            a.act = tasks[i].kind == AGENTD_KIND_ROLLBACK ? AGENTD_ACT_ROLLBACK : AGENTD_ACT_APPLY;
            a.index = i;
            return a;
        }
    /* Selection in age order without sorting the caller's array: n is small (a node
     * rarely has more than a handful of open tasks), so O(n^2) is fine and allocation-free. */
    int64_t last_created = INT64_MIN;
    const char *last_id = "";
    for (size_t round = 0; round < n; round++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            const agentd_task_t *t = &tasks[i];
            bool after =
                t->created_ms > last_created || (t->created_ms == last_created && strcmp(t->id, last_id) > 0);
            if (!after)
                continue;
            if (best == n || older(t, &tasks[best]))
                best = i;
        }
        if (best == n)
            break;
        const agentd_task_t *t = &tasks[best];
        last_created = t->created_ms;
        last_id = t->id;
        if (!runnable(t))
            continue;
        if (t->kind == AGENTD_KIND_ROLLBACK) {
            a.act = AGENTD_ACT_ROLLBACK;
            a.index = best;
            return a;
        }
        if (t->phase == AGENTD_PHASE_NEW) {
            a.act = AGENTD_ACT_DOWNLOAD;
            a.index = best;
            return a;
        }
        /* READY */
        if (t->policy != AGENTD_POLICY_OPTIONAL || t->prompt == AGENTD_PROMPT_ACCEPTED) {
            a.act = AGENTD_ACT_APPLY;
            a.index = best;
            return a;
        }
        if (t->forced_now || t->prompt == AGENTD_PROMPT_FORCED ||
            (t->deadline_ms > 0 && now_ms >= t->deadline_ms)) {
            a.act = AGENTD_ACT_APPLY;
            a.index = best;
            a.forced = true;
            return a;
        }
        if (t->prompt == AGENTD_PROMPT_DEFERRED && now_ms < t->deferred_until_ms) {
            wake_at(&a, t->deferred_until_ms);
            wake_at(&a, t->deadline_ms);
            continue;
        }
        if (t->prompt != AGENTD_PROMPT_WAITING) {
            a.act = AGENTD_ACT_PROMPT;
            a.index = best;
            return a;
        }
        /* Waiting for the user: does not block later tasks; wakes at the deadline. */
        wake_at(&a, t->deadline_ms);
    }
    return a;
}

/* 100 Succeeded, 110 Failed, 130 Rollbacked (120 Rollbacking is still running). */
static bool server_final(int state)
{
    return state == 100 || state == 110 || state == 130;
}

bool agentd_core_merge(const agentd_task_t *cur, const agentd_task_t *srv, agentd_task_t *out)
{
    bool revived = false;
    *out = *srv;
    if (cur == NULL) {
        /* First sight: final on the server already (reported before a crash, or an old
         * task offered again) means nothing to do. */
        out->phase = server_final(srv->last_state) ? AGENTD_PHASE_DONE : AGENTD_PHASE_NEW;
        out->prompt = AGENTD_PROMPT_NONE;
        out->deferred_until_ms = 0;
        out->percent = 0;
        out->error_code[0] = '\0';
        goto out;
    }
    out->phase = cur->phase;
    out->prompt = cur->prompt;
    out->deferred_until_ms = cur->deferred_until_ms;
    out->last_state = cur->last_state;
    out->percent = cur->percent;
    memcpy(out->error_code, cur->error_code, sizeof(out->error_code));
    out->attempt = cur->attempt > srv->attempt ? cur->attempt : srv->attempt;
    if (out->size == 0)
        out->size = cur->size;
    if (srv->attempt > cur->attempt && cur->phase == AGENTD_PHASE_DONE && !server_final(srv->last_state)) {
        out->phase = AGENTD_PHASE_NEW;
        out->last_state = srv->last_state;
        out->percent = 0;
        out->error_code[0] = '\0';
        out->prompt = AGENTD_PROMPT_NONE;
        out->deferred_until_ms = 0;
        revived = true;
    }
    /* A task still in hand (NEW, READY, APPLYING) when the attempt goes up keeps its
     * phase: the engine's journal owns an APPLYING task, and its result answers the new
     * attempt; a final server view of a higher attempt only moves the counter. */
out:
    return revived;
}

ferry_err_code_t agentd_core_answer(agentd_task_t *t, int choice, int64_t defer_ms, int64_t now_ms,
                                    ferry_err_t *err)
{
    if (choice != AGENTD_CHOICE_NOW && choice != AGENTD_CHOICE_DEFER)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "choice must be NOW or DEFER (got %d)", choice);
    if (t->kind != AGENTD_KIND_UPDATE || t->policy != AGENTD_POLICY_OPTIONAL)
        return ferry_err_set(err, FERRY_E_PRECONDITION,
                             "task %s is not an optional update: nothing to answer", t->id);
    if (t->phase == AGENTD_PHASE_APPLYING || t->phase == AGENTD_PHASE_DONE)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "task %s is %s: too late to answer", t->id,
                             t->phase == AGENTD_PHASE_DONE ? "finished" : "already running");
    if (t->halted)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "task %s is halted by the server (release paused)",
                             t->id);
    if (choice == AGENTD_CHOICE_NOW) {
        t->prompt = AGENTD_PROMPT_ACCEPTED;
        t->deferred_until_ms = 0;
        return FERRY_OK;
    }
    if (t->forced_now || (t->deadline_ms > 0 && now_ms >= t->deadline_ms))
        return ferry_err_set(err, FERRY_E_PRECONDITION, "task %s: the deadline has passed, it runs now",
                             t->id);
    if (defer_ms <= 0)
        defer_ms = 3600 * 1000;
    int64_t until = now_ms + defer_ms;
    if (t->deadline_ms > 0 && until > t->deadline_ms)
        until = t->deadline_ms;
    t->prompt = AGENTD_PROMPT_DEFERRED;
    t->deferred_until_ms = until;
    return FERRY_OK;
}

int64_t agentd_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, double rand01)
{
    int64_t d = base_ms;
    for (unsigned i = 0; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 >= 1)
        rand01 = 0.999999;
    int64_t half = d / 2; /* at least half the delay, plus up to the other half at random */
    return half + (int64_t)((double)(d - half) * rand01);
}

int64_t agentd_jitter_ms(int64_t interval_ms, double rand01)
{
    int64_t j = interval_ms / 10;
    int64_t v = interval_ms - j + (int64_t)(2.0 * (double)j * rand01);
    return v < 1000 ? 1000 : v;
}
