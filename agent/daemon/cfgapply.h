/**
 * @file cfgapply.h
 * Configuration assignments at run time (docs/fleet.md, agent contract "Configuration";
 * the decisions are in cfgplan.h): an offer from CheckIn or WatchAssignments is kept in
 * agent.db (content included) before anything else, so a queued or half-applied job
 * survives kill -9 and server outages; the work loop applies it when no update is under
 * way, under the engine's task lock; the result goes through the durable outbox
 * (ReportConfigResult, sent by post.c).
 *
 * Applying one job (a crash at any point resumes from the phase recorded in agent.db):
 *   QUEUED:    SHA-256 of the content and the target path checked (lexically, then on
 *              disk: no symlink leading out of the server dir); the current file copied
 *              to `<target>.ferry-prev` (durably); any failure -> FAILED, nothing written;
 *   APPLYING:  the new file written durably (temp + fsync + rename + fsync dir); with
 *              restart_service the managed service restarted with the engine's service
 *              control and the node-config health check -> APPLIED;
 *   RESTORING: the restart failed: `.ferry-prev` written back (or the new file removed
 *              when there was none), the service restarted again -> ROLLED_BACK.
 */
#ifndef FERRY_AGENTD_CFGAPPLY_H
#define FERRY_AGENTD_CFGAPPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "cfgplan.h"
#include "ferry/err.h"

struct agentd;
struct Ferry__V1__ConfigAssignment;

/** An assignment offered by the server (any thread): stored or re-reported (cfgplan.h rules). */
void agentd_cfg_offer(struct agentd *ad, const struct Ferry__V1__ConfigAssignment *a);

/**
 * Work loop: one step on the open jobs, |update_busy| telling whether an update is under
 * way. Returns true when it did something (call again), false when there is nothing to
 * do now (nothing open, waiting for the update, node-config not in effect, lock held).
 */
bool agentd_cfg_work(struct agentd *ad, bool update_busy);

/** At start: the last result kept in agent.db becomes the status' last configuration. */
void agentd_cfg_load(struct agentd *ad);

/**
 * Resolves |target| under |server_dir| into |out|: the lexical rules of
 * agentd_cfg_path_check(), then on disk: the nearest existing ancestor resolves
 * (symlinks followed) inside the server dir, and an existing target is a regular file,
 * not a symlink. FERRY_E_INVALID_ARG naming the path otherwise, FERRY_E_IO when the
 * server dir cannot be resolved.
 */
ferry_err_code_t agentd_cfg_target(const char *server_dir, const char *target, char *out, size_t size,
                                   ferry_err_t *err);

#endif
