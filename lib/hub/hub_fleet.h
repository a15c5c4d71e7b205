/*
 * Fleet management inside the hub (issue 12, seeds 001 and 004): licences
 * (licenses.c, the document in license_doc.c), node status (fleet_status.c),
 * configuration distribution (configs.c) and server backups (server_backup.c), assembled
 * by fleet.c, and what the agent-facing modules call to take part.
 *
 * The fleet table: one in-memory entry per node (fleet_status.c) with its recorded
 * status, the maintenance flag, the SHA-256 of its current licence document and a
 * "config pending" flag, so an idle CheckIn decides from memory whether it needs the
 * database (20,000 CheckIn/s must hold). A sweep thread turns presence (agent.c) and
 * licence dates into status transitions, written only when the status changes.
 *
 * Layers: fleet.c calls into every part; licenses.c, configs.c and server_backup.c call
 * into fleet_status.c; fleet_status.c calls none of them (only license_doc.c and the
 * store). Declarations below are grouped by the file that defines them.
 *
 * Hooks for other modules (each call is cheap and thread-safe unless noted):
 *   agent.c   hub_fleet_node_blocked()      before handing out a task that has not started
 *             hub_fleet_checkin_pending()   on the idle CheckIn path (memory only)
 *             hub_fleet_checkin_fill()      on the worker path of CheckIn (DB reads, signing)
 *   watch.c   hub_fleet_watch_messages()    at stream start, and on a bus event with .fleet set
 */
#ifndef FERRY_HUB_FLEET_H
#define FERRY_HUB_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/fleet.h"
#include "ferry/store/licenses.h"
#include "hub_frame.h"

/* ---- fleet.c: lifecycle (assembly.c) and the hooks that draw on several parts ---------- */

/** Binds the fleet's admin/agent/report handlers into hub->admin / agent / report. */
void hub_fleet_bind(ferry_hub_t *hub);
/** Loads the fleet table, starts the status sweep thread and the backup schedule (ferry_hub_attach). */
ferry_err_code_t hub_fleet_start(ferry_hub_t *hub, ferry_err_t *err);
/** Stops the backup schedule and the sweep thread, frees the table (before the store is closed). NULL-safe.
 */
void hub_fleet_free(ferry_hub_t *hub);

/**
 * Fills |resp|'s license and signed_license (when the document differs from
 * |license_sha256|) and config_assignments (open ones, rendered, template included).
 * Worker thread: reads the database, signs.
 */
ferry_err_code_t hub_fleet_checkin_fill(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                        const char *license_sha256, Ferry__V1__CheckInResponse *resp,
                                        ferry_err_t *err);

/**
 * The WatchAssignments messages for |node_id|: with HUB_FLEET_EV_LICENSE the signed
 * licence (when it differs from |license_sha256|; "" = always), with
 * HUB_FLEET_EV_CONFIG every open configuration assignment. Worker/dispatcher thread.
 */
ferry_err_code_t hub_fleet_watch_messages(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id, unsigned what,
                                          const char *license_sha256,
                                          Ferry__V1__WatchAssignmentsResponse ***out, size_t *n,
                                          ferry_err_t *err);

/* ---- fleet_status.c: the fleet table ------------------------------------------------------ */

/** Binds SetNodeMaintenance, ListNodeStatuses and ListNodeEvents (called by hub_fleet_bind). */
void hub_fleet_status_bind(ferry_hub_t *hub);
/**
 * Loads the fleet table (nodes, licence facts, open configuration work) and starts the
 * status sweep thread (called by hub_fleet_start).
 */
ferry_err_code_t hub_fleet_status_start(ferry_hub_t *hub, ferry_err_t *err);
/** Stops the sweep thread and frees the table (called by hub_fleet_free). NULL-safe. */
void hub_fleet_status_free(ferry_hub_t *hub);

/**
 * Takes |cfg| as the fleet settings (the sweep period at once); false when nothing was
 * taken (|cfg| NULL, out of memory). Thread-safe. ferry_hub_set_fleet_config() wraps it.
 */
bool hub_fleet_set_config(ferry_hub_t *hub, const ferry_fleet_config_t *cfg);

/** The fleet configuration in effect (defaults filled). */
void hub_fleet_config(ferry_hub_t *hub, ferry_fleet_config_t *out);

/**
 * Whether no task may be started on |node_id| now: MAINTENANCE (admin flag) or EXPIRED
 * (its licence ended more than its grace ago). A task already running is not affected
 * (the agent finishes it and reports); the assignment path skips tasks that have not
 * started (state PENDING) while this is true. Memory only.
 */
bool hub_fleet_node_blocked(ferry_hub_t *hub, int64_t node_id);

/**
 * Whether a CheckIn of |node_id| must take the worker path: its licence document differs
 * from |license_sha256| (what the agent holds, "" = none) or a configuration assignment
 * waits. Memory only (safe on an event loop).
 */
bool hub_fleet_checkin_pending(ferry_hub_t *hub, int64_t node_id, const char *license_sha256);

/** What a fleet bus event (hub_task_event_t.fleet) announces. */
#define HUB_FLEET_EV_LICENSE 0x1u
#define HUB_FLEET_EV_CONFIG  0x2u
#define HUB_FLEET_EV_TASKS                                                                                   \
    0x4u /**< the node was released (maintenance off, licence renewed): resend held tasks */

/**
 * The fleet's series in the Prometheus text format (metrics.c appends them to
 * /metrics): ferry_nodes_by_status{status}, ferry_node_heartbeat_age_seconds (histogram),
 * ferry_licenses{status}, ferry_licenses_expiring. malloc'd; NULL on failure.
 */
char *hub_fleet_metrics(ferry_hub_t *hub);

/** Nodes per NodeStatus now (index = status) and nodes whose licence is expiring (memory only). */
void hub_fleet_counts(ferry_hub_t *hub, uint64_t by_status[5], uint64_t *expiring);

/** After a licence commit: recompute the documents of the nodes it covers, push them. */
void hub_fleet_license_changed(ferry_hub_t *hub, int64_t customer_id, int64_t node_id);

/** After an assignment commit: |node_id| has open configuration work; push it. */
void hub_fleet_config_pending(ferry_hub_t *hub, int64_t node_id, bool pending);

/** Licence facts of one node in the table, for status lists. */
typedef struct hub_fleet_node_license {
    bool has;
    int status; /**< effective Ferry__V1__LicenseStatus */
    int64_t ends_at;
} hub_fleet_node_license_t;

/** The licence facts of |node_id| kept in the table (memory only). */
hub_fleet_node_license_t hub_fleet_node_license(ferry_hub_t *hub, int64_t node_id);

/** The code (<= 64 bytes) and customer row id of |node_id| (a node created since the last sweep is loaded).
 */
bool hub_fleet_node_facts(ferry_hub_t *hub, int64_t node_id, char code[65], int64_t *customer_id);

/* ---- license_doc.c: the licence document ------------------------------------------------- */

/**
 * The licence in force for |node_id| as STORED (no time-based status overlaid) in *lic,
 * and its document for that node packed into |a| as |doc| with its SHA-256 in |sha|.
 * *lic NULL (|doc| empty) when the node has none. Reads the database.
 */
ferry_err_code_t hub_license_doc_load(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id, int64_t customer_id,
                                      const char *node_code, Ferry__V1__License **lic,
                                      ProtobufCBinaryData *doc, uint8_t sha[32], ferry_err_t *err);

/* ---- licenses.c ------------------------------------------------------------------------ */

/** Binds the licence RPCs (called by hub_fleet_bind). */
void hub_licenses_bind(ferry_hub_t *hub);

/**
 * Overlays the time-based state on a licence as stored: GRACE past ends_at, EXPIRED
 * past ends_at + grace (for ACTIVE ones), and `expiring` within the warning window.
 */
void hub_license_effective(ferry_hub_t *hub, Ferry__V1__License *l, int64_t now_ms);

/**
 * The licence in force for |node_id| (effective status), the SHA-256 of its document for
 * that node in |sha|, and the signed document in *signed_out (NULL |signed_out|: not
 * wanted; left NULL too when the document's digest equals |have_sha256|, so an agent
 * that holds it costs no signature). *lic NULL when the node has none.
 */
ferry_err_code_t hub_license_for_node(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id, int64_t customer_id,
                                      const char *node_code, const char *have_sha256,
                                      Ferry__V1__License **lic, Ferry__V1__SignedLicense **signed_out,
                                      uint8_t sha[32], ferry_err_t *err);

/* ---- configs.c ------------------------------------------------------------------------- */

/** Binds the configuration RPCs (called by hub_fleet_bind). */
void hub_configs_bind(ferry_hub_t *hub);

/** The open (PENDING, newest per template) assignments of |node_id|, rendered, template included. */
ferry_err_code_t hub_configs_open(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                  Ferry__V1__ConfigAssignment ***out, size_t *n, ferry_err_t *err);

/* ---- server_backup.c ------------------------------------------------------------------- */

/** Binds CreateServerBackup, ListServerBackups and GetServerHealth (called by hub_fleet_bind). */
void hub_server_backup_bind(ferry_hub_t *hub);

/** Scheduled backups: a thread that backs up every backup_every_s and prunes (started by hub_fleet_start). */
ferry_err_code_t hub_backup_sched_start(ferry_hub_t *hub, struct hub_backup_sched **out, ferry_err_t *err);
/** Stops the schedule (a backup in progress finishes) and frees it. NULL-safe. */
void hub_backup_sched_stop(struct hub_backup_sched *s);
/** The settings changed: the schedule restarts now (a backup at once when one is set). NULL-safe. */
void hub_backup_sched_kick(struct hub_backup_sched *s);

#endif
