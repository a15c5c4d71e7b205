#include "ferry/model/states.h"

#include <stddef.h>

static const struct {
    ferry_state_t code;
    const char *name;
} STATES[FERRY_STATE_COUNT] = {
    {FERRY_STATE_PENDING, "Pending"},
    {FERRY_STATE_DOWNLOADING, "Downloading"},
    {FERRY_STATE_VERIFYING, "Verifying"},
    {FERRY_STATE_WAITING_USER, "WaitingUser"},
    {FERRY_STATE_STOPPING_SERVICE, "StoppingService"},
    {FERRY_STATE_BACKING_UP, "BackingUp"},
    {FERRY_STATE_INSTALLING_SERVER, "InstallingServer"},
    {FERRY_STATE_INSTALLING_CLIENT, "InstallingClient"},
    {FERRY_STATE_RUNNING_SQL, "RunningSql"},
    {FERRY_STATE_STARTING_SERVICE, "StartingService"},
    {FERRY_STATE_SUCCEEDED, "Succeeded"},
    {FERRY_STATE_FAILED, "Failed"},
    {FERRY_STATE_ROLLBACKING, "Rollbacking"},
    {FERRY_STATE_ROLLBACKED, "Rollbacked"},
};

/*
 * Allowed transitions besides redo (from == to, permitted for every non-terminal
 * state except RunningSql). Written out as data so a test can walk it and the
 * journal can refuse anything else.
 */
static const struct {
    ferry_state_t from;
    ferry_state_t to[7];
} EDGES[] = {
    {FERRY_STATE_PENDING,
     {FERRY_STATE_DOWNLOADING, FERRY_STATE_VERIFYING, FERRY_STATE_FAILED, FERRY_STATE_ROLLBACKING}},
    {FERRY_STATE_DOWNLOADING, {FERRY_STATE_VERIFYING, FERRY_STATE_FAILED}},
    {FERRY_STATE_VERIFYING, {FERRY_STATE_WAITING_USER, FERRY_STATE_STOPPING_SERVICE, FERRY_STATE_FAILED}},
    {FERRY_STATE_WAITING_USER, {FERRY_STATE_STOPPING_SERVICE, FERRY_STATE_FAILED}},
    {FERRY_STATE_STOPPING_SERVICE, {FERRY_STATE_BACKING_UP, FERRY_STATE_FAILED}},
    {FERRY_STATE_BACKING_UP,
     {FERRY_STATE_INSTALLING_SERVER, FERRY_STATE_INSTALLING_CLIENT, FERRY_STATE_RUNNING_SQL,
      FERRY_STATE_FAILED}},
    {FERRY_STATE_INSTALLING_SERVER,
     {FERRY_STATE_INSTALLING_CLIENT, FERRY_STATE_RUNNING_SQL, FERRY_STATE_STARTING_SERVICE,
      FERRY_STATE_ROLLBACKING}},
    {FERRY_STATE_INSTALLING_CLIENT,
     {FERRY_STATE_RUNNING_SQL, FERRY_STATE_STARTING_SERVICE, FERRY_STATE_ROLLBACKING}},
    {FERRY_STATE_RUNNING_SQL, {FERRY_STATE_STARTING_SERVICE, FERRY_STATE_ROLLBACKING}},
    {FERRY_STATE_STARTING_SERVICE, {FERRY_STATE_SUCCEEDED, FERRY_STATE_ROLLBACKING}},
    {FERRY_STATE_ROLLBACKING, {FERRY_STATE_ROLLBACKED, FERRY_STATE_FAILED}},
};

const char *ferry_state_name(int code)
{
    for (size_t i = 0; i < FERRY_STATE_COUNT; i++) {
        if ((int)STATES[i].code == code)
            return STATES[i].name;
    }
    return "Unknown";
}

bool ferry_state_valid(int code)
{
    for (size_t i = 0; i < FERRY_STATE_COUNT; i++) {
        if ((int)STATES[i].code == code)
            return true;
    }
    return false;
}

ferry_state_t ferry_state_at(unsigned i)
{
    return i < FERRY_STATE_COUNT ? STATES[i].code : FERRY_STATE_FAILED;
}

bool ferry_state_is_terminal(ferry_state_t s)
{
    return s == FERRY_STATE_SUCCEEDED || s == FERRY_STATE_FAILED || s == FERRY_STATE_ROLLBACKED;
}

bool ferry_state_touches_install(ferry_state_t s)
{
    return s == FERRY_STATE_INSTALLING_SERVER || s == FERRY_STATE_INSTALLING_CLIENT ||
           s == FERRY_STATE_RUNNING_SQL || s == FERRY_STATE_STARTING_SERVICE || s == FERRY_STATE_ROLLBACKING;
}

bool ferry_state_transition_allowed(ferry_state_t from, ferry_state_t to)
{
    if (!ferry_state_valid((int)from) || !ferry_state_valid((int)to))
        return false;
    if (from == to)
        return !ferry_state_is_terminal(from) && from != FERRY_STATE_RUNNING_SQL;
    for (size_t i = 0; i < sizeof(EDGES) / sizeof(EDGES[0]); i++) {
        if (EDGES[i].from != from)
            continue;
        for (size_t k = 0; k < sizeof(EDGES[i].to) / sizeof(EDGES[i].to[0]); k++) {
            if (EDGES[i].to[k] == to)
                return true;
        }
        return false;
    }
    return false;
}

ferry_err_code_t ferry_sm_failure_code(ferry_state_t s, const ferry_sm_facts_t *facts)
{
    switch (s) {
    case FERRY_STATE_DOWNLOADING:
        return FERRY_E_DOWNLOAD_FAILED;
    case FERRY_STATE_VERIFYING:
        return FERRY_E_PACKAGE_INVALID;
    case FERRY_STATE_STOPPING_SERVICE:
        return FERRY_E_SERVICE_STOP_FAILED;
    case FERRY_STATE_BACKING_UP:
        return FERRY_E_BACKUP_FAILED_SERVER;
    case FERRY_STATE_INSTALLING_SERVER:
        return FERRY_E_INSTALL_FAILED_SERVER;
    case FERRY_STATE_INSTALLING_CLIENT:
        return FERRY_E_INSTALL_FAILED_CLIENT;
    case FERRY_STATE_RUNNING_SQL:
        return facts != NULL && facts->sql_data_started ? FERRY_E_SQL_FAILED_DATA : FERRY_E_SQL_FAILED_SCHEMA;
    case FERRY_STATE_STARTING_SERVICE:
        return FERRY_E_SERVICE_START_FAILED;
    case FERRY_STATE_ROLLBACKING:
        return FERRY_E_ROLLBACK_FAILED;
    default:
        return FERRY_E_INTERNAL;
    }
}

/* The first install state at or after |from| that the package needs, else StartingService. */
static ferry_state_t next_install_state(ferry_state_t from, unsigned parts)
{
    if (from <= FERRY_STATE_INSTALLING_SERVER && (parts & FERRY_PART_SERVER))
        return FERRY_STATE_INSTALLING_SERVER;
    if (from <= FERRY_STATE_INSTALLING_CLIENT && (parts & FERRY_PART_CLIENT))
        return FERRY_STATE_INSTALLING_CLIENT;
    if (from <= FERRY_STATE_RUNNING_SQL && (parts & (FERRY_PART_SQL_SCHEMA | FERRY_PART_SQL_DATA)))
        return FERRY_STATE_RUNNING_SQL;
    return FERRY_STATE_STARTING_SERVICE;
}

static ferry_state_t next_on_success(ferry_state_t cur, const ferry_sm_facts_t *f)
{
    switch (cur) {
    case FERRY_STATE_PENDING:
        if (f->manual_rollback)
            return FERRY_STATE_ROLLBACKING;
        return f->needs_download ? FERRY_STATE_DOWNLOADING : FERRY_STATE_VERIFYING;
    case FERRY_STATE_DOWNLOADING:
        return FERRY_STATE_VERIFYING;
    case FERRY_STATE_VERIFYING:
        return f->needs_user ? FERRY_STATE_WAITING_USER : FERRY_STATE_STOPPING_SERVICE;
    case FERRY_STATE_WAITING_USER:
        return FERRY_STATE_STOPPING_SERVICE;
    case FERRY_STATE_STOPPING_SERVICE:
        return FERRY_STATE_BACKING_UP;
    case FERRY_STATE_BACKING_UP:
        /* A package without parts never passes Verifying; StartingService here would
         * be a bug, and the edge table refuses it. */
        return next_install_state(FERRY_STATE_INSTALLING_SERVER, f->parts);
    case FERRY_STATE_INSTALLING_SERVER:
        return next_install_state(FERRY_STATE_INSTALLING_CLIENT, f->parts);
    case FERRY_STATE_INSTALLING_CLIENT:
        return next_install_state(FERRY_STATE_RUNNING_SQL, f->parts);
    case FERRY_STATE_RUNNING_SQL:
        return FERRY_STATE_STARTING_SERVICE;
    case FERRY_STATE_STARTING_SERVICE:
        return FERRY_STATE_SUCCEEDED;
    case FERRY_STATE_ROLLBACKING:
        return FERRY_STATE_ROLLBACKED;
    default:
        return cur;
    }
}

static ferry_sm_decision_t on_failure(ferry_state_t cur, ferry_err_code_t code)
{
    ferry_sm_decision_t d = {.next = FERRY_STATE_FAILED, .error = code};
    if (code == FERRY_OK)
        d.error = FERRY_E_INTERNAL; /* a failure must carry a cause */
    if (cur == FERRY_STATE_ROLLBACKING) {
        /* A missing backup keeps its own code (§8.3): it tells the operator why. */
        d.error = code == FERRY_E_BACKUP_MISSING ? FERRY_E_BACKUP_MISSING : FERRY_E_ROLLBACK_FAILED;
    } else if (ferry_state_touches_install(cur)) {
        d.next = FERRY_STATE_ROLLBACKING;
    } else if (cur == FERRY_STATE_BACKING_UP) {
        /* The service is down but nothing was installed: bring it back as it was. */
        d.flags = FERRY_SM_RESTART_SERVICE;
    }
    return d;
}

ferry_sm_decision_t ferry_sm_next(ferry_state_t current, const ferry_sm_facts_t *facts,
                                  const ferry_sm_event_t *ev)
{
    static const ferry_sm_facts_t no_facts;
    const ferry_sm_facts_t *f = facts != NULL ? facts : &no_facts;
    ferry_sm_decision_t d = {.next = current};

    if (!ferry_state_valid((int)current) || ev == NULL) {
        d.next = FERRY_STATE_FAILED;
        d.error = FERRY_E_INTERNAL;
        goto out;
    }
    if (ferry_state_is_terminal(current))
        goto out;

    switch (ev->kind) {
    case FERRY_SM_STEP_OK:
        d.next = next_on_success(current, f);
        break;
    case FERRY_SM_STEP_FAILED:
        d = on_failure(current, ev->code);
        break;
    case FERRY_SM_RESUMED:
        if (current == FERRY_STATE_RUNNING_SQL || ev->attempts >= FERRY_SM_MAX_ATTEMPTS) {
            /* In SQL, some batches may have committed and running the scripts again could
             * apply them twice: the only safe way out is the backup. Otherwise Mender's
             * "state looping" guard: a step that keeps killing the engine must end the
             * task, not loop forever. */
            d = on_failure(current, ferry_sm_failure_code(current, f));
        } else {
            d.redo = true;
            if (current == FERRY_STATE_BACKING_UP || current == FERRY_STATE_INSTALLING_SERVER ||
                current == FERRY_STATE_INSTALLING_CLIENT)
                d.flags = FERRY_SM_ENSURE_STOPPED;
        }
        break;
    default:
        d.next = FERRY_STATE_FAILED;
        d.error = FERRY_E_INTERNAL;
        break;
    }
    if (d.next != current && !ferry_state_transition_allowed(current, d.next)) {
        d.next = FERRY_STATE_FAILED;
        d.error = FERRY_E_TRANSITION_INVALID;
        d.flags = 0;
    }
out:
    return d;
}
