/**
 * @file hub.h
 * The central server's domain logic ("the hub"): the customer/store/node tree, tokens,
 * storage configuration, packages, releases, tasks, audit, the agent and report
 * services, signed blob URLs, metrics. ferryd is a thin program around it: it parses
 * flags, creates the RPC server, calls ferry_hub_attach() and runs.
 */
#ifndef FERRY_HUB_H
#define FERRY_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/rpc_server.h"

typedef struct ferry_hub ferry_hub_t;

/** Settings; zero values mean the documented defaults. */
typedef struct ferry_hub_config {
    const char *data_dir; /**< required: created by ferry_hub_init() */
    const char
        *public_base_url;     /**< base of signed URLs handed to clients, e.g. "https://ferry.example:8443";
                                   default "http://127.0.0.1:<port>" of the attached server */
    uint32_t poll_interval_s; /**< agents' check-in interval, default 60 */
    uint32_t offline_after_s; /**< no check-in for this long = offline, default 3 x poll interval */
    uint32_t url_ttl_s;       /**< lifetime of signed URLs, default 900 */
    uint32_t keepalive_s;     /**< keep-alive period on WatchAssignments / WatchRelease streams, default 25 */
    uint32_t manifest_ttl_s;  /**< lifetime of the manifest GetDownload signs for a task, default 86400 */
    uint32_t upload_ttl_s;    /**< an upload never committed is reclaimed after this long, default 86400 */
    uint32_t upload_sweep_s;  /**< period of the sweep reclaiming expired uploads, default 600 */
    /* Upload quotas (uploads.c); 0 = the default below. */
    uint32_t upload_max_open;       /**< open package uploads per admin token */
    uint64_t upload_max_bytes;      /**< bytes announced by one admin token's open package uploads */
    uint32_t node_upload_max_open;  /**< open file uploads per node */
    uint64_t node_upload_max_bytes; /**< bytes announced by one node's open file uploads */
    uint64_t upload_disk_reserve;   /**< free bytes on the data dir node uploads never take (admins') */
} ferry_hub_config_t;

/** Defaults of the upload quotas (`ferryd serve --upload-max-open` ...: docs/operations.md). */
#define FERRY_HUB_UPLOAD_OPEN_DEFAULT       16u
#define FERRY_HUB_UPLOAD_BYTES_DEFAULT      (256ull << 30)
#define FERRY_HUB_NODE_UPLOAD_OPEN_DEFAULT  8u
#define FERRY_HUB_NODE_UPLOAD_BYTES_DEFAULT (4ull << 30)
#define FERRY_HUB_UPLOAD_RESERVE_DEFAULT    (1ull << 30)

/** Bounds of ferry_hub_config_t.manifest_ttl_s (`ferryd serve --manifest-ttl`). */
#define FERRY_HUB_MANIFEST_TTL_DEFAULT 86400u
#define FERRY_HUB_MANIFEST_TTL_MAX     (30u * 86400u)

/** Bounds of ferry_hub_config_t.upload_ttl_s (`ferryd serve --upload-ttl`). */
#define FERRY_HUB_UPLOAD_TTL_DEFAULT 86400u
#define FERRY_HUB_UPLOAD_TTL_MAX     (30u * 86400u)

/** Longest token ferry_hub_init() prints (plus NUL). */
#define FERRY_HUB_TOKEN_MAX 128

/**
 * `ferryd init`: creates |data_dir| (0700), the database, the URL-signing secret, the
 * Ed25519 package-signing key and the first system-administrator token, which is
 * written to |admin_token| (size >= FERRY_HUB_TOKEN_MAX) and never stored in clear.
 * Refuses (FERRY_E_EXISTS) when |data_dir| is already initialised: nothing changes.
 */
ferry_err_code_t ferry_hub_init(const char *data_dir, char *admin_token, size_t size, ferry_err_t *err);

/** Opens an initialised data dir (FERRY_E_PRECONDITION with a hint to run `ferryd init` otherwise). */
ferry_hub_t *ferry_hub_open(const ferry_hub_config_t *cfg, ferry_err_t *err);

/**
 * Registers every Ferry service (admin, agent, report), the authentication /
 * audit / metrics interceptors and the HTTP routes (/metrics, signed blob URLs) on
 * |srv|. Call before ferry_rpc_server_start(); |hub| must outlive |srv|.
 */
ferry_err_code_t ferry_hub_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv, ferry_err_t *err);

/** Tells the hub the server's bound port (for the default public_base_url). */
void ferry_hub_set_port(ferry_hub_t *hub, uint16_t port);

/** Stops background work and frees the hub (after the server has stopped). NULL is a no-op. */
void ferry_hub_free(ferry_hub_t *hub);

#endif
