/**
 * @file tokens.h
 * Repository of admin tokens, and the credential lookups behind every authenticated
 * call (admin and node tokens). Only SHA-256 of a token is stored; the public id
 * ("fya_<16 hex>") names it.
 */
#ifndef FERRY_STORE_TOKENS_H
#define FERRY_STORE_TOKENS_H

#include "ferry/hash.h"
#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/** A new admin token row. */
typedef struct ferry_store_admin_token_new {
    const char *token_id;
    uint8_t hash[FERRY_SHA256_LEN];
    int role;           /**< Ferry__V1__Role */
    const char *name;   /**< "" allowed */
    int64_t created_at; /**< unix ms */
    int64_t created_by; /**< admin_token.id of the creator, 0 = nobody (ferryd init) */
    int64_t expires_at; /**< unix ms, 0 = never */
} ferry_store_admin_token_new_t;

/** Inserts |t|. Store lock held. FERRY_E_IO on a database error (a duplicate id included). */
ferry_err_code_t ferry_store_admin_token_insert(ferry_store_t *s, const ferry_store_admin_token_new_t *t,
                                                ferry_err_t *err);

/**
 * The token |token_id| as the API shows it (no secret, no hash), allocated in |a|.
 * Store lock held. FERRY_E_NOT_FOUND "admin token '<id>' not found".
 */
ferry_err_code_t ferry_store_admin_token_get(ferry_store_t *s, ferry_arena_t *a, const char *token_id,
                                             Ferry__V1__AdminToken **out, ferry_err_t *err);

/** Role and revocation of |token_id|. Store lock held. FERRY_E_NOT_FOUND as above. */
ferry_err_code_t ferry_store_admin_token_state(ferry_store_t *s, const char *token_id, int *role,
                                               bool *revoked, ferry_err_t *err);

/** How many tokens of |role|, neither revoked nor expired at |now|, other than |except_id| exist. Lock held.
 */
ferry_err_code_t ferry_store_admin_tokens_count_usable(ferry_store_t *s, int role, int64_t now,
                                                       const char *except_id, int64_t *count,
                                                       ferry_err_t *err);

/** Sets revoked_at = |now| on |token_id|. Store lock held. */
ferry_err_code_t ferry_store_admin_token_revoke(ferry_store_t *s, const char *token_id, int64_t now,
                                                ferry_err_t *err);

/**
 * One page of admin tokens in id order (read-only connection): from after the page
 * token |page_token| (FERRY_E_INVALID_ARG if it is not one this server issued),
 * usable ones only unless |include_revoked| (usable: not revoked, not expired at
 * |now|). Items are Ferry__V1__AdminToken.
 */
ferry_err_code_t ferry_store_admin_tokens_list_ro(ferry_store_t *s, const char *page_token, int32_t page_size,
                                                  bool include_revoked, int64_t now, ferry_arena_t *a,
                                                  ferry_store_page_t *out, ferry_err_t *err);

/** What the database says about a presented token (the caller compares the hash). */
typedef struct ferry_store_credential {
    int64_t row_id; /**< admin_token.id or node.id */
    uint8_t hash[64];
    size_t hash_len; /**< bytes of the stored hash (FERRY_SHA256_LEN when well formed) */
    /* admin tokens */
    int role;
    char name[64];
    bool revoked;
    int64_t expires_at; /**< unix ms, 0 = never */
    /* node tokens: the one rule for "enabled" needs all three */
    bool node_disabled, store_disabled, customer_disabled;
    int64_t customer_id;
} ferry_store_credential_t;

/**
 * The admin token / node token with public id |token_id| (read-only connection,
 * statements prepared once). FERRY_E_NOT_FOUND when no such token exists.
 */
ferry_err_code_t ferry_store_admin_credential_ro(ferry_store_t *s, const char *token_id,
                                                 ferry_store_credential_t *out, ferry_err_t *err);
ferry_err_code_t ferry_store_node_credential_ro(ferry_store_t *s, const char *token_id,
                                                ferry_store_credential_t *out, ferry_err_t *err);

#endif
