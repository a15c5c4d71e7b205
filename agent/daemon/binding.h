/**
 * @file binding.h
 * The agent's binding to a node: `{state_dir}/binding.json` (server URL, node identity,
 * TLS trust, the server's pinned manifest-signing keys; no secret, mode 0600 all the
 * same) and `{state_dir}/token` (the node token, mode 0600). Both are written crash-safely
 * (temp file, fsync, rename, fsync dir). The token is never logged and never passed on a
 * command line.
 */
#ifndef FERRY_AGENTD_BINDING_H
#define FERRY_AGENTD_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "verify.h"

#define AGENTD_MAX_KEYS  8
#define AGENTD_TOKEN_MAX 256

typedef struct agentd_binding {
    char server_url[512];
    char node_code[64];
    char node_name[128];
    int environment; /**< common.proto Environment */
    char customer_code[64];
    char store_code[64];
    char ca_file[512];
    char pin_sha256[65];
    agentd_key_t keys[AGENTD_MAX_KEYS];
    size_t n_keys;
    int64_t bound_at_ms;
} agentd_binding_t;

/** Loads the binding; *found = 0 (and FERRY_OK) when the agent is not bound. */
ferry_err_code_t agentd_binding_load(const char *state_dir, agentd_binding_t *b, int *found,
                                     ferry_err_t *err);
/** Writes the binding (crash-safe, 0600). */
ferry_err_code_t agentd_binding_save(const char *state_dir, const agentd_binding_t *b, ferry_err_t *err);
/** Reads the token (trailing newline dropped). FERRY_E_NOT_FOUND when absent. */
ferry_err_code_t agentd_token_load(const char *state_dir, char *out, size_t size, ferry_err_t *err);
/** Writes the token (crash-safe, 0600). */
ferry_err_code_t agentd_token_save(const char *state_dir, const char *token, ferry_err_t *err);
/** Removes binding and token (Unbind). */
ferry_err_code_t agentd_binding_remove(const char *state_dir, ferry_err_t *err);
/** "DEV" -> 1 ... "PROD" -> 4 (also "ENVIRONMENT_PROD"); 0 if unknown. */
int agentd_env_parse(const char *s);
/** 1 -> "DEV" ...; "?" if unknown. */
const char *agentd_env_name(int env);

#endif
