/**
 * @file audit.h
 * Repository of the audit log: one row per mutating admin call, with its targets
 * ("kind:id,kind:id") split into rows of their own for filtering.
 */
#ifndef FERRY_STORE_AUDIT_H
#define FERRY_STORE_AUDIT_H

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

#define FERRY_STORE_AUDIT_TARGETS_MAX 512 /**< bytes of a row's target list */

/** One audit row. Strings may be NULL (stored as ""). */
typedef struct ferry_store_audit_row {
    int64_t at; /**< unix ms */
    const char *actor_token_id;
    const char *actor_name;
    int actor_role;     /**< Ferry__V1__Role, 0 for none */
    const char *method; /**< "ferry.v1.AdminService/CreateCustomer" */
    const char *target; /**< "customer:ACME,store:S1" or "" */
    const char *request_id;
    int outcome;            /**< Ferry__V1__AuditOutcome */
    const char *error_code; /**< "" on success, else the E_* name */
    const char *remote_addr;
    const char *detail; /**< AuditEntry.details_json: a JSON object, or NULL ("") */
} ferry_store_audit_row_t;

/** Inserts |row| and its targets. Store lock held (inside the caller's transaction when there is one). */
ferry_err_code_t ferry_store_audit_insert(ferry_store_t *s, const ferry_store_audit_row_t *row,
                                          ferry_err_t *err);

/** Filters of a ListAuditLogs page; "" / 0 means "any". */
typedef struct ferry_store_audit_filter {
    const char *page_token;
    int32_t page_size;
    const char *actor_token_id;
    const char *method; /**< with or without a leading '/' */
    const char *target_kind;
    const char *target_id;
    bool has_since, has_until; /**< whether since / until bound the time */
    int64_t since, until;      /**< unix ms */
    int outcome;
} ferry_store_audit_filter_t;

/** One page, newest first (read-only connection). Items are Ferry__V1__AuditEntry. */
ferry_err_code_t ferry_store_audit_list_ro(ferry_store_t *s, const ferry_store_audit_filter_t *f,
                                           ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err);

#endif
