/**
 * @file hub_harness.h
 * A real ferryd hub, in-process, for integration tests (static lib `ferry_hub_harness`,
 * defined in tests/integration/hub_admin.cmake; link it and `ferry_idl_client`).
 *
 * What hh_start() sets up, all real: a fresh temp data dir (ferry_hub_init(): SQLite
 * file, keys, the first SYSADMIN token), ferry_hub_open(), an RPC server on
 * 127.0.0.1:<free port> (cleartext; HTTP/2 via Upgrade or HTTP/1.1) with the hub
 * attached, and `h->admin`, a client authenticated with the sysadmin token.
 * hh_stop() shuts everything down and removes the data dir (unless $FERRY_KEEP_TMP
 * is set, for post-mortems).
 *
 * Typical use:
 *
 *     hh_t h;
 *     ck_assert_int_eq(hh_start(&h, NULL), 0);
 *     char tok[HH_TOKEN_MAX];
 *     ck_assert_int_eq(hh_create_tree(&h, "ACME", "S1", "N1", FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD,
 *                                     tok, sizeof(tok)), 0);
 *     ferry_rpc_client_t *node = hh_client(&h, tok);   // an agent's client for node N1
 *     long before = hh_count(&h, "update_task", NULL);
 *     ... call RPCs with the generated stubs (ferry_v1_agent_service_check_in(node, ...)) ...
 *     ck_assert_int_eq(hh_count(&h, "update_task", NULL), before);   // "nothing changed"
 *     ferry_rpc_client_free(node);
 *     hh_stop(&h);
 *
 * Functions return 0 on success and -1 on failure after printing why to stderr (so
 * tests can ck_assert_int_eq(..., 0)). Not thread-safe per hh_t, except the clients,
 * which may be used from several threads (see rpc_client.h).
 */
#ifndef FERRY_HUB_HARNESS_H
#define FERRY_HUB_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/hub.h"
#include "ferry/rpc_client.h"
#include "ferry/rpc_server.h"
#include "ferry/v1/admin.ferry-client.h"

/** Room for any token the hub issues (admin or node), plus NUL. */
#define HH_TOKEN_MAX FERRY_HUB_TOKEN_MAX

/** Optional settings of hh_start(); zero values mean defaults. */
typedef struct hh_options {
    uint32_t poll_interval_s; /**< hub config (0 = hub default) */
    uint32_t offline_after_s;
    uint32_t url_ttl_s;
    uint32_t keepalive_s;
    uint32_t upload_ttl_s;   /**< hub config: uploads not committed are swept after this long */
    uint32_t upload_sweep_s; /**< hub config: period of that sweep */
    unsigned threads;        /**< RPC event-loop threads (default 2) */
    unsigned workers;        /**< RPC worker pool (default 4) */
    const char *tag;         /**< temp dir name tag (default "hub") */
} hh_options_t;

/** One running hub. Read the members freely; change them only through hh_*. */
typedef struct hh {
    char dir[PATH_MAX];             /**< the data dir */
    char db_path[PATH_MAX];         /**< <dir>/ferry.db */
    char admin_token[HH_TOKEN_MAX]; /**< the bootstrap SYSADMIN token from ferry_hub_init() */
    char base_url[64];              /**< "http://127.0.0.1:<port>" */
    uint16_t port;
    ferry_hub_t *hub;
    ferry_rpc_server_t *srv;
    ferry_rpc_client_t *admin; /**< client with admin_token, owned by the harness */
    hh_options_t opts;
} hh_t;

/** Creates the data dir, initialises, opens and serves the hub; connects h->admin. */
int hh_start(hh_t *h, const hh_options_t *opts);

/**
 * Stops the server and frees the hub, then serves the SAME data dir again (new port:
 * h->port / base_url / admin are refreshed). For restart and durability tests.
 */
int hh_restart(hh_t *h);

/** Stops and frees everything and removes the data dir. Safe on a zeroed or half-started hh_t. */
void hh_stop(hh_t *h);

/** A new client for |token| (NULL = no authorization header) on h->base_url. Caller frees
 * with ferry_rpc_client_free(). 30 s default deadline. */
ferry_rpc_client_t *hh_client(const hh_t *h, const char *token);

/** CreateCustomer through h->admin. */
int hh_create_customer(hh_t *h, const char *code, const char *name);

/** CreateStore through h->admin. */
int hh_create_store(hh_t *h, const char *customer_code, const char *code, const char *name);

/** CreateNode through h->admin (|env|: Ferry__V1__Environment); the node token (shown once) goes to
 * |token| (size >= HH_TOKEN_MAX; may be NULL). */
int hh_create_node(hh_t *h, const char *store_code, const char *code, int env, char *token, size_t size);

/** Customer + store + node in one go (customer/store are created only if missing). */
int hh_create_tree(hh_t *h, const char *customer_code, const char *store_code, const char *node_code, int env,
                   char *token, size_t size);

/** CreateAdminToken through h->admin with |role| (Ferry__V1__Role); the secret goes to |token|. */
int hh_create_admin_token(hh_t *h, int role, const char *name, char *token, size_t size);

/**
 * SELECT count(*) FROM |table| [WHERE |where|] on a separate read-only SQLite
 * connection (what clients saw committed). |table| must be a plain identifier;
 * |where| is test-written SQL (never user input), may be NULL. Returns -1 on error.
 */
long hh_count(const hh_t *h, const char *table, const char *where);

/**
 * Runs one query returning a single integer (first column of the first row) on a
 * read-only connection, e.g. "SELECT state FROM update_task WHERE id=3". -1 on error
 * or no row (tests compare with known non-negative values).
 */
long long hh_query_int(const hh_t *h, const char *sql);

/** Same, for a text result copied into |out| (""). Returns 0, or -1 on error / no row. */
int hh_query_text(const hh_t *h, const char *sql, char *out, size_t size);

#endif
