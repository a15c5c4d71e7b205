/*
 * The audit trail of admin calls (audit.c): who did what to which target, and the
 * outcome. The rows live in the store's audit repository (ferry/store/audit.h); this
 * is the hub's side: the actor of a call, and telling the interceptor's `after` hook
 * what a handler already wrote so no call gets two rows or none.
 */
#ifndef FERRY_HUB_AUDIT_H
#define FERRY_HUB_AUDIT_H

#include <stdbool.h>

#include "ferry/store/audit.h"
#include "hub_internal.h"

/** Who did it. */
typedef struct hub_audit_actor {
    char token_id[40];
    char name[64];
    int role;
    char method[160]; /**< "ferry.v1.AdminService/CreateCustomer" */
    char request_id[128];
    char peer[80];
} hub_audit_actor_t;

/** The actor of |call| (its principal, method, request id and peer); zeroed for NULL. */
void hub_audit_actor_of(const ferry_rpc_call_t *call, hub_audit_actor_t *out);

/**
 * Writes one audit row for |who| on |target|: success when |error_code| is NULL or
 * "", else a failure carrying that E_* name (DENIED for E_PERMISSION). Store lock held.
 */
ferry_err_code_t hub_audit_write(ferry_store_t *s, const hub_audit_actor_t *who, const char *target,
                                 const char *error_code, ferry_err_t *err);

/** Tells |call|'s after hook that a row for its outcome (|ok| or not) is written. NULL is a no-op. */
void hub_audit_written(ferry_rpc_call_t *call, const char *target, bool ok);

/** Announces the call's target(s) ("customer:ACME") before the outcome is known. */
void hub_audit_target(ferry_rpc_call_t *call, const char *target);

#endif
