/*
 * Internals shared by the hub's modules. Each module (one .c file, see the table in
 * assembly.c) fills its members of the generated service structs in its *_bind()
 * function and uses the shared services declared here: the database, principals,
 * audit, storage URLs and the event bus.
 *
 * Threading: handlers run on event-loop threads. Anything that touches the disk
 * durably (a write transaction with synchronous=FULL, hashing, zip parsing) goes to
 * the worker pool with ferry_rpc_call_offload(); short reads may run inline.
 */
#ifndef FERRY_HUB_INTERNAL_H
#define FERRY_HUB_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "ferry/blob.h"
#include "ferry/hub.h"
#include "ferry/sign.h"
#include "ferry/store.h"
#include "ferry/v1/admin.ferry-server.h"
#include "ferry/v1/agent.ferry-server.h"
#include "ferry/v1/report.ferry-server.h"

/* Files in the data dir. */
#define HUB_DB_FILE          "ferry.db"
#define HUB_URL_KEY_FILE     "url-signing.key"
#define HUB_SIGNING_KEY_FILE "package-signing.pem"
#define HUB_BLOB_DIR         "blobs"

struct hub_bus;
struct hub_presence;
struct hub_metrics;
struct hub_auth;
struct hub_janitor;
struct hub_fleet;
struct hub_backup_sched;

struct ferry_hub {
    ferry_hub_config_t cfg;
    char data_dir[PATH_MAX];
    char base_url[256];

    /* The store owns the connections, the writer lock, transactions and the
     * prepared-once statements; handlers reach the data through its repositories
     * (ferry/store/<aggregate>.h). */
    ferry_store_t *store;

    ferry_blob_store_t *blobs;
    ferry_signer_t *signer;
    uint8_t signing_pub[FERRY_ED25519_PUBLIC_LEN];
    uint8_t url_key[32];

    struct hub_bus *bus;
    struct hub_presence *presence; /* presence.c: last-seen table (started and stopped with the bus) */
    struct hub_metrics *metrics;
    struct hub_auth *auth;            /* auth.c: token cache, read-only connection */
    struct hub_janitor *janitor;      /* uploads.c: the expiry sweep of uploads */
    struct hub_fleet *fleet;          /* fleet_status.c: node status, licence digests (hub_fleet.h) */
    struct hub_backup_sched *backups; /* server_backup.c: scheduled backups (started by fleet.c) */
    int64_t waves_last_sweep_ms; /* waves.c: the maintenance-window sweep's previous look (its thread only) */

    /* The generated service tables; modules fill their members. */
    ferry_v1_admin_service_server_t admin;
    ferry_v1_agent_service_server_t agent;
    ferry_v1_report_service_server_t report;
};

/* ---- database ---------------------------------------------------------------- */

/* Inline, not in assembly.c: every module uses them, and assembly.c (which binds every module)
 * must stay the one file above them all. */

/** The store's writer lock: held for the whole of a write transaction. */
static inline void hub_db_lock(ferry_hub_t *hub)
{
    ferry_store_lock(hub->store);
}
static inline void hub_db_unlock(ferry_hub_t *hub)
{
    ferry_store_unlock(hub->store);
}

/** Unix time in milliseconds (what every *_at column stores). */
static inline int64_t hub_now_ms(void)
{
    return ferry_store_now_ms();
}

/* ---- principals (auth.c) --------------------------------------------------------- */

typedef enum hub_principal_kind {
    HUB_PRINCIPAL_ADMIN = 1, /**< an admin token: role SYSADMIN or IMPLEMENTER */
    HUB_PRINCIPAL_NODE = 2   /**< a node token: only agent/report RPCs of that node */
} hub_principal_kind_t;

typedef struct hub_principal {
    hub_principal_kind_t kind;
    int role;            /**< Ferry__V1__Role for admins, 0 for nodes */
    int64_t row_id;      /**< admin_token.id or node.id */
    char token_id[40];   /**< the public id part of the token (audit "who") */
    int64_t node_id;     /**< for nodes: node.id; 0 for admins */
    int64_t customer_id; /**< for nodes: its customer (storage selection) */
} hub_principal_t;

/** The authenticated principal of |call| (set by the auth interceptor), or NULL. */
const hub_principal_t *hub_principal(const ferry_rpc_call_t *call);

/* ---- audit (audit.c) ------------------------------------------------------------ */

/**
 * Records one audit row for a mutating admin call: who (from the call's principal),
 * what (the method), |target| ("customer:ACME", "release:12"), the request id, time
 * and |outcome| ("ok" or the error name). Call inside the same DB lock as the
 * change when possible so the audit row commits with it.
 */
ferry_err_code_t hub_audit(ferry_hub_t *hub, const ferry_rpc_call_t *call, const char *target,
                           const char *outcome, ferry_err_t *err);

/* ---- storage (storage.c) ------------------------------------------------------------ */

/**
 * A signed URL for |method| ("GET" / "PUT" / "HEAD") on blob path |path| (e.g.
 * "/blobs/sha256/<hex>" or "/uploads/<id>"), valid for the configured TTL, from the
 * storage configuration that applies to |customer_id| (0 = global). Today every kind
 * resolves to ferryd's own local store; an S3-compatible kind plugs in here.
 */
ferry_err_code_t hub_storage_signed_url(ferry_hub_t *hub, int64_t customer_id, const char *method,
                                        const char *path, char *url, size_t size, int64_t *expires_at,
                                        ferry_err_t *err);

/* ---- event bus (bus.c) -------------------------------------------------------------- */

/** A task change published to streams (WatchRelease, WatchAssignments). */
typedef struct hub_task_event {
    int64_t task_id;
    int64_t release_id;
    int64_t node_id;
    int state;
    int percent;
    uint64_t bytes;
    char error_code[48];
    char message[256];
    int new_assignment;  /**< 1 when the task was just created/offered to the node */
    unsigned fleet;      /**< HUB_FLEET_EV_* (hub_fleet.h): a licence or config change, no task */
    int release_changed; /**< the release itself changed (waves.c): WatchRelease sends it, no task */
} hub_task_event_t;

/** Publishes |ev| to every subscriber of its release and of its node. Thread-safe, never blocks. */
void hub_bus_publish(ferry_hub_t *hub, const hub_task_event_t *ev);

/** Lifecycle of the bus and metrics (called by ferry_hub_attach / ferry_hub_free). */
ferry_err_code_t hub_bus_init(ferry_hub_t *hub, ferry_err_t *err);
void hub_bus_free(ferry_hub_t *hub);
void hub_metrics_free(ferry_hub_t *hub);
void hub_auth_free(ferry_hub_t *hub);

/** uploads.c: the thread that sweeps expired uploads at start and every cfg.upload_sweep_s. */
ferry_err_code_t hub_janitor_start(ferry_hub_t *hub, ferry_err_t *err);
void hub_janitor_stop(ferry_hub_t *hub);

/* ---- module binders: each fills its members of hub->admin / agent / report ---- */

ferry_err_code_t hub_auth_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv, ferry_err_t *err); /* auth.c */
void hub_tree_bind(ferry_hub_t *hub);     /* tree.c: customers, stores, nodes, node tokens */
void hub_tokens_bind(ferry_hub_t *hub);   /* tokens.c: WhoAmI, admin tokens */
void hub_audit_bind(ferry_hub_t *hub);    /* audit.c: ListAuditLogs */
void hub_storage_bind(ferry_hub_t *hub);  /* storage.c: storage configuration */
void hub_packages_bind(ferry_hub_t *hub); /* packages.c */
void hub_releases_bind(ferry_hub_t *hub); /* releases.c: releases, rollback, summary */
void hub_tasks_bind(ferry_hub_t *hub);    /* tasks.c: tasks, events, report files, node configs */
void hub_agent_bind(ferry_hub_t *hub);    /* agent.c: AgentService */
void hub_report_bind(ferry_hub_t *hub);   /* report.c: ReportService */
void hub_watch_bind(ferry_hub_t *hub);    /* watch.c: WatchRelease, WatchAssignments (uses bus.c) */
ferry_err_code_t hub_blobs_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv,
                                  ferry_err_t *err); /* blobs_http.c */
ferry_err_code_t hub_metrics_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv,
                                    ferry_err_t *err); /* metrics.c */

#endif
