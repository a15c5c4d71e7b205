/**
 * @file agentd.h
 * The long-running agent (`ferry-agent run`): binds to ferryd, keeps a WatchAssignments
 * stream open (CheckIn polling while it is down), downloads and verifies packages,
 * asks the tray about optional updates, applies through the engine, reports every
 * state through a durable outbox, uploads diagnostic files, and serves LocalService on
 * loopback for the tray.
 *
 * Threads: the caller's thread runs the work loop (download, prompt, apply: one task
 * at a time); `link` keeps the stream, `beat` checks in, `post` drains the outbox and
 * the upload queue; the LocalService server has its own loop and worker threads. They
 * share `agentd_t` under `mu`; `cv` wakes the work loop, `status_cv` the status
 * watchers. The decisions live in core.c (no I/O).
 */
#ifndef FERRY_AGENTD_AGENTD_H
#define FERRY_AGENTD_AGENTD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "binding.h"
#include "cfgplan.h"
#include "core.h"
#include "ferry/engine/config.h"
#include "ferry/err.h"
#include "ferry/rpc_client.h"
#include "ferry/rpc_server.h"
#include "license.h"
#include "store.h"

#define AGENTD_VERSION "0.4.0"

/** local.proto ServerLink numbering. */
enum {
    AGENTD_LINK_UNBOUND = 1,
    AGENTD_LINK_STREAMING = 2,
    AGENTD_LINK_POLLING = 3,
    AGENTD_LINK_OFFLINE = 4,
    AGENTD_LINK_AUTH_FAILED = 5
};

typedef struct agentd_opts {
    const char *state_dir;   /**< default /var/lib/ferry-agent */
    const char *config_path; /**< node-config.json; default {state_dir}/node-config.json */
    int local_port;          /**< LocalService port on 127.0.0.1; 0 = pick one (written to local.json) */
} agentd_opts_t;

typedef struct agentd agentd_t;

struct agentd {
    agentd_opts_t o;
    char state_dir[512]; /**< at most 400 characters (checked at start) */
    char config_path[1024];
    agentd_store_t *store;
    ferry_node_config_t *cfg; /**< NULL while node-config.json is missing or invalid */
    char cfg_error[512];      /**< why the file on disk is not in effect ("" = it is) */
    char cfg_stamp[96];       /**< mtime/size/inode of the file last loaded (work loop only) */

    pthread_mutex_t mu;
    pthread_cond_t cv;        /**< work loop: new task, answer, shutdown */
    pthread_cond_t status_cv; /**< status watchers and link/beat threads */
    volatile int stop;        /**< SIGTERM/SIGINT: finish the current step, then leave */
    int wake;                 /**< work loop must re-evaluate */
    int beat_now;             /**< CheckForUpdates: check in at once */
    uint64_t status_gen;      /**< bumps on every visible change */

    /* Binding (under mu). */
    bool bound;
    agentd_binding_t binding;
    char token[AGENTD_TOKEN_MAX];
    ferry_rpc_client_t *rpc;    /**< unary calls; NULL while unbound */
    ferry_rpc_client_t *stream; /**< the WatchAssignments stream */
    volatile int stream_cancel;
    uint64_t bind_gen; /**< bumps on bind/unbind: threads rebuild their clients */

    /* Status (under mu). */
    int link;
    int stream_up;
    int64_t last_contact_ms;
    char last_error[512];
    int64_t poll_interval_ms;
    char installed_version[64];
    char current_task[AGENTD_ID_MAX];
    int current_state;
    int current_percent;
    char current_message[256];
    int64_t last_progress_ms;
    /* The task that ended last (LocalService AgentStatus.last_task): final state, error,
     * message and backup path, which the task table does not keep. */
    bool have_last_done;
    agentd_task_t last_done;
    char last_done_message[256];
    char last_done_backup[AGENTD_PATH_MAX];
    int64_t last_done_ms;
    int64_t started_ms;

    pthread_t link_th, beat_th, post_th, sig_th;
    /* post_upgrade hooks (seed 002 升级后处理) of the last Succeeded update, run in the
     * background after 100 was reported: 0 idle, 1 running, 2 ended (not yet joined). */
    pthread_t hooks_th;
    int hooks_state;
    char hooks_task[64];
    ferry_rpc_server_t *local;
    char local_secret_hash[65]; /**< SHA-256 hex of the local secret */
    agentd_license_t license;   /**< the verified cached licence (under mu) */
    /* The configuration assignment finished last (LocalService AgentStatus.last_config),
     * kept in agent.db across restarts (under mu). */
    bool have_last_cfg;
    agentd_cfg_job_t last_cfg;
};

/** `ferry-agent run`: runs until SIGTERM/SIGINT. Returns 0, or 3 when it could not start. */
int agentd_run(const agentd_opts_t *o);

/**
 * Calls AgentService.Bind on |server_url| and, only on success, stores binding and
 * token. E_AUTH_INVALID (nothing stored) for a wrong token, node or environment.
 * |out| (may be NULL) gets the binding.
 */
ferry_err_code_t agentd_bind(const char *state_dir, const char *server_url, const char *node_code, int env,
                             const char *token, const char *ca_file, const char *pin, agentd_binding_t *out,
                             ferry_err_t *err);

/* ---- shared by the daemon's files -------------------------------------------------- */

int64_t agentd_now_ms(void);
double agentd_rand01(void);
void agentd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Marks a visible change: bumps status_gen, wakes watchers. Call with mu held. */
void agentd_changed_locked(agentd_t *ad);

/** One upgrade hook's result for ProgressReport.hook (strings may be NULL). */
typedef struct agentd_hook {
    int stage; /**< ferry.v1.HookStage (1 pre_check .. 5 post_upgrade) */
    const char *id, *name;
    int result;              /**< ferry.v1.HookResult */
    const char *message;     /**< the journal's reason */
    const char *stderr_tail; /**< the output tail, for a failure; masked before queueing */
    int64_t duration_ms;
    int exit_status;
} agentd_hook_t;

/** A report to queue (strings may be NULL). */
typedef struct agentd_report {
    const char *task_id;
    int state;
    const char *error_code;
    const char *message;
    int percent;
    uint64_t bytes_done, bytes_total;
    const char *backup_path;
    const void *download;      /**< const agentd_dl_stats_t * or NULL */
    const char *checkpoint;    /**< seed 002 resume point (last passed pre_upgrade hook) or NULL */
    const agentd_hook_t *hook; /**< a hook's result, or NULL */
} agentd_report_t;

/** Commits a report to the outbox (durable) and wakes the sender. */
ferry_err_code_t agentd_report(agentd_t *ad, const agentd_report_t *r);
/** Queues a file upload (copied when |copy|, so the original may change). */
/** Queues node-config.json (|dump|: the effective configuration, secrets masked) for upload
 * unless that exact content was queued last; safe from any thread. */
void agentd_nodecfg_upload_if_changed(agentd_t *ad, const char *dump);

void agentd_queue_upload(agentd_t *ad, int kind, const char *task_id, const char *path, const char *name,
                         const char *content_type, const char *summary, bool copy);
/** The outbox/upload sender thread. */
void *agentd_post_main(void *arg);

/** Starts LocalService on loopback and writes local.json + local.secret. */
ferry_err_code_t agentd_local_start(agentd_t *ad, ferry_err_t *err);
void agentd_local_stop(agentd_t *ad);
/** Builds the current status (caller frees with agentd_status_free). Takes mu. */
struct Ferry__V1__AgentStatus *agentd_status_build(agentd_t *ad);
void agentd_status_free(struct Ferry__V1__AgentStatus *st);
/** CheckForUpdates: asks the beat thread to check in now and waits up to |ms| for it. */
void agentd_check_now(agentd_t *ad, int ms);
/** Applies a prompt answer (LocalService RespondToPrompt / StartManualUpdate). */
ferry_err_code_t agentd_answer(agentd_t *ad, const char *task_id, int choice, int64_t defer_ms,
                               agentd_task_t *out, ferry_err_t *err);
/** Rebuilds the RPC clients from binding + token (after bind). Call with mu held. */
ferry_err_code_t agentd_clients_rebuild_locked(agentd_t *ad, ferry_err_t *err);

#endif
