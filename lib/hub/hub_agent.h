/*
 * Private contracts between the hub's agent-facing modules: agent.c (AgentService,
 * node presence), report.c (ReportService), bus.c (task-event pub/sub and its
 * dispatcher thread), watch.c (WatchAssignments / WatchRelease streams) and
 * metrics.c. Pure rules (transitions, sequences, connectivity) are declared here so
 * unit tests can reach them without a server.
 */
#ifndef FERRY_HUB_AGENT_H
#define FERRY_HUB_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub_internal.h"
#include "hub_pkg.h" /* hub_arena_t, hub_task_load, hub_offload, ... */

/* ---- pure rules (report.c / agent.c) ------------------------------------------ */

/**
 * Whether a report may move a task from state |from| to |to| (seed 000 §8.2 codes).
 * The state machine's edge table (ferry/model/states.h) decides real transitions; a
 * report in the same non-final state is a progress report and is always allowed
 * (including RunningSql, which the engine never *redoes* but reports progress in). A
 * final state never changes.
 */
bool hub_report_transition_ok(int from, int to);

/** Outcome of comparing a report's sequence with the task's last accepted one. */
typedef enum hub_seq_verdict {
    HUB_SEQ_INVALID = -1,  /**< sequence 0: never valid (they start at 1) */
    HUB_SEQ_DUPLICATE = 0, /**< <= last accepted: acknowledge again, store nothing */
    HUB_SEQ_APPLY = 1      /**< > last accepted: validate and store */
} hub_seq_verdict_t;

/** Sequence rule of ReportProgress. */
hub_seq_verdict_t hub_report_seq_check(uint64_t last_accepted, uint64_t seq);

/** True for "" and for every error name of seed 000 §8.3 plus Ferry's documented additions. */
bool hub_report_error_code_known(const char *name);

/**
 * Ferry__V1__Connectivity of a node: NEVER_SEEN when |last_seen_ms| <= 0, ONLINE when
 * it is within |offline_after_s| of |now_ms|, OFFLINE otherwise (hawkBit: poll
 * interval + overdue time; the hub's offline_after_s already includes both).
 */
int hub_connectivity(int64_t last_seen_ms, int64_t now_ms, uint32_t offline_after_s);

/* ---- node presence (presence.c) -------------------------------------------------- */

/** What a check-in tells about the agent (copied). */
typedef struct hub_agent_facts {
    const char *agent_version;     /**< NULL = unchanged */
    const char *installed_version; /**< NULL = unchanged */
    uint64_t free_disk_bytes;
    int64_t current_task_id; /**< 0 = idle */
    bool has_facts;          /**< false: only the last-seen time changes (keep-alive) */
} hub_agent_facts_t;

/**
 * Starts presence tracking: last-seen times live in memory and a background thread
 * writes the changed ones to `node` every HUB_PRESENCE_FLUSH_MS in one transaction
 * (so a check-in costs no fsync; a crash loses at most that much last-seen history,
 * which only affects the online/offline display). Loads recent last-seen times.
 */
ferry_err_code_t hub_presence_init(ferry_hub_t *hub, ferry_err_t *err);
/** Stops the flusher after a final flush. */
void hub_presence_free(ferry_hub_t *hub);
/** Records a sign of life of |node_id| now. Thread-safe, never touches the disk. */
void hub_presence_touch(ferry_hub_t *hub, int64_t node_id, const hub_agent_facts_t *facts);
/** Writes pending last-seen changes now (tests, shutdown). */
ferry_err_code_t hub_presence_flush(ferry_hub_t *hub, ferry_err_t *err);
/** Last-seen time in ms known in memory (0 = not since start). */
int64_t hub_presence_last_seen(ferry_hub_t *hub, int64_t node_id);
/** Nodes whose last sign of life is within offline_after_s. */
uint64_t hub_presence_count_online(ferry_hub_t *hub);
/** A task for |node_id| appeared (bus): the next CheckIn must look in the database. */
void hub_presence_note_work(ferry_hub_t *hub, int64_t node_id);
/**
 * hub_presence_touch() and hub_presence_work_hint() in one lookup (every CheckIn):
 * 1 when |node_id| may have work (*gen = its generation), 0 when it is idle.
 */
int hub_presence_touch_hint(ferry_hub_t *hub, int64_t node_id, const hub_agent_facts_t *facts, uint32_t *gen);
/** 1 if |node_id| may have work (and *gen = its generation). */
int hub_presence_work_hint(ferry_hub_t *hub, int64_t node_id, uint32_t *gen);
/** The node had nothing open at generation |gen|: idle until the next offer. */
void hub_presence_clear_hint(ferry_hub_t *hub, int64_t node_id, uint32_t gen);

#define HUB_PRESENCE_FLUSH_MS 5000

/* ---- assignments (agent.c) ---------------------------------------------------- */

/**
 * Builds the open (non-final) assignments of |node_id|, oldest first; with
 * |only_task| > 0 just that task (whatever its state). Tasks of paused or canceled
 * releases go to |halted| (ids) instead, when |halted| is not NULL. Takes the DB lock.
 * Everything is allocated from |a|.
 */
ferry_err_code_t hub_agent_load_assignments(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                            int64_t only_task, Ferry__V1__Assignment ***out, size_t *n,
                                            char ***halted, size_t *n_halted, ferry_err_t *err);

/**
 * Builds the UpdateTask rows of release |release_id| (or the single task |task_id|
 * when > 0) in the admin's form. Takes the DB lock. FERRY_E_NOT_FOUND when the
 * release (task) does not exist.
 */
ferry_err_code_t hub_agent_load_tasks(ferry_hub_t *hub, hub_arena_t *a, int64_t release_id, int64_t task_id,
                                      Ferry__V1__UpdateTask ***out, size_t *n, ferry_err_t *err);

/* ---- the bus's subscribers (bus.c; used by watch.c) ----------------------------- */

typedef enum hub_bus_key_kind { HUB_BUS_NODE = 1, HUB_BUS_RELEASE = 2 } hub_bus_key_kind_t;

typedef struct hub_bus_sub hub_bus_sub_t;

/**
 * What a subscriber does; every callback runs on the bus's dispatcher thread, one at a
 * time per subscriber, so a stream's sends are naturally ordered. A callback returning
 * non-OK ends the subscription: end() is called once with that code.
 */
typedef struct hub_bus_sub_ops {
    /** First delivery: the snapshot (pending tasks / current task states). */
    ferry_rpc_code_t (*start)(hub_bus_sub_t *sub, char *msg, size_t msg_size);
    /** One event (progress of a task may have been coalesced: see bus.c). */
    ferry_rpc_code_t (*deliver)(hub_bus_sub_t *sub, const hub_task_event_t *ev, char *msg, size_t msg_size);
    /** Nothing was sent for keepalive_s. */
    ferry_rpc_code_t (*keepalive)(hub_bus_sub_t *sub, char *msg, size_t msg_size);
    /** The subscription is over (canceled, failed, shutdown): complete the call. Last touch. */
    void (*end)(hub_bus_sub_t *sub, ferry_rpc_code_t code, const char *msg);
} hub_bus_sub_ops_t;

/** Per-subscriber bound of queued events; beyond it the watcher is disconnected. */
#define HUB_BUS_SUB_QUEUE 32

/**
 * A subscription, embedded by its owner (watch.c streams). Members below the line are
 * the bus's; zero them before hub_bus_subscribe().
 */
struct hub_bus_sub {
    const hub_bus_sub_ops_t *ops;
    ferry_hub_t *hub;
    hub_bus_key_kind_t kind;
    int64_t key;
    /* ---- bus-private ---- */
    hub_bus_sub_t *bucket_next; /* index chain (bus rwlock) */
    hub_bus_sub_t *all_prev, *all_next;
    hub_bus_sub_t *ready_next; /* dispatcher queue (bus mutex) */
    hub_task_event_t *ring;    /* allocated while events wait (bus mutex) */
    uint8_t ring_head, ring_count;
    uint8_t flags;
    uint8_t queued;
    int64_t next_keepalive_ms;
};

/** Registers |sub| and schedules its start(). Thread-safe. */
void hub_bus_subscribe(ferry_hub_t *hub, hub_bus_sub_t *sub);
/** Asks the dispatcher to end |sub| (peer gone). Safe from any thread, idempotent. */
void hub_bus_cancel(ferry_hub_t *hub, hub_bus_sub_t *sub);
/** Number of live subscriptions (metrics). */
uint64_t hub_bus_subscribers(ferry_hub_t *hub);

/* ---- metrics (metrics.c) ------------------------------------------------------ */

/** Counts one WatchAssignments/WatchRelease stream opening or closing. */
void hub_metrics_stream(ferry_hub_t *hub, int delta);

#endif
