/*
 * Configuration decisions (cfgplan.h): pure functions over plain tables, no I/O.
 */
#include "cfgplan.h"

#include <string.h>

agentd_cfg_offer_t agentd_cfg_on_offer(const agentd_cfg_job_t *known, const char *offered_id,
                                       const char *newest_of_template)
{
    agentd_cfg_offer_t d = AGENTD_CFG_OFFER_QUEUE;
    if (known != NULL) {
        /* A finished one whose report already waits in the outbox needs no second copy;
         * a dropped (superseded) one has nothing to report. */
        if (known->phase != AGENTD_CFG_DONE || known->report_queued || known->state == 0)
            d = AGENTD_CFG_OFFER_IGNORE;
        else
            d = AGENTD_CFG_OFFER_REPORT_AGAIN;
        goto out;
    }
    if (newest_of_template != NULL && newest_of_template[0] != '\0' && offered_id != NULL &&
        agentd_cfg_id_cmp(newest_of_template, offered_id) > 0)
        d = AGENTD_CFG_OFFER_IGNORE; /* applying it would put an older version back */
out:
    return d;
}

int agentd_cfg_id_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    bool da = la > 0 && strspn(a, "0123456789") == la, db = lb > 0 && strspn(b, "0123456789") == lb;
    /* ferryd's ids are decimal without leading zeros: a longer one is larger. */
    if (da && db && la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

bool agentd_cfg_update_busy(const agentd_task_t *tasks, size_t n)
{
    bool busy = false;
    for (size_t i = 0; i < n && !busy; i++)
        busy = tasks[i].phase != AGENTD_PHASE_DONE &&
               (!tasks[i].halted || tasks[i].phase == AGENTD_PHASE_APPLYING);
    return busy;
}

agentd_cfg_action_t agentd_cfg_next(const agentd_cfg_job_t *jobs, size_t n, bool update_busy)
{
    agentd_cfg_action_t a = {.act = AGENTD_CFG_ACT_NONE};
    size_t oldest = n;
    /* Half-applied first: the node's file may be between two versions. */
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].phase == AGENTD_CFG_APPLYING || jobs[i].phase == AGENTD_CFG_RESTORING) {
            a.act = jobs[i].phase == AGENTD_CFG_APPLYING ? AGENTD_CFG_ACT_RESUME : AGENTD_CFG_ACT_RESTORE;
            a.index = i;
            goto out;
        }
        if (jobs[i].phase == AGENTD_CFG_QUEUED &&
            (oldest == n || agentd_cfg_id_cmp(jobs[i].id, jobs[oldest].id) < 0))
            oldest = i;
    }
    if (oldest == n)
        goto out;
    if (update_busy) {
        a.act = AGENTD_CFG_ACT_WAIT;
        goto out;
    }
    a.index = oldest;
    a.act = AGENTD_CFG_ACT_APPLY;
    for (size_t i = 0; i < n; i++)
        if (i != oldest && jobs[i].phase == AGENTD_CFG_QUEUED &&
            strcmp(jobs[i].template_name, jobs[oldest].template_name) == 0 &&
            agentd_cfg_id_cmp(jobs[i].id, jobs[oldest].id) > 0)
            a.act = AGENTD_CFG_ACT_SUPERSEDED;
out:
    return a;
}

ferry_err_code_t agentd_cfg_path_check(const char *target, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    size_t n = target != NULL ? strlen(target) : 0;
    const char *seg = target;
    if (n == 0 || n >= AGENTD_CFG_TARGET_MAX) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "target path: 1..%d bytes (got %zu)",
                           AGENTD_CFG_TARGET_MAX - 1, n);
        goto out;
    }
    if (target[0] == '/') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "target path '%s' is absolute (must be relative to the server dir)", target);
        goto out;
    }
    for (size_t i = 0; i <= n; i++) {
        if (i < n && ((unsigned char)target[i] < 0x20 || target[i] == '\\')) {
            /* The path itself is not echoed: it holds the offending byte. */
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "target path: backslashes and control characters are not allowed (byte %zu)",
                               i);
            goto out;
        }
        if (i == n || target[i] == '/') {
            size_t len = (size_t)(target + i - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                                   "target path '%s' leaves the server dir (empty, '.' or '..' segment)",
                                   target);
                goto out;
            }
            seg = target + i + 1;
        }
    }
out:
    return rc;
}

const char *agentd_cfg_state_name(int state)
{
    return state == AGENTD_CFG_APPLIED       ? "APPLIED"
           : state == AGENTD_CFG_FAILED      ? "FAILED"
           : state == AGENTD_CFG_ROLLED_BACK ? "ROLLED_BACK"
                                             : "-";
}
