/**
 * @file client.h
 * ferry-tray's link to the running agent: LocalService (idl/ferry/v1/local.proto)
 * through the generated client stubs, found through the agent's state dir
 * (`local.json` holds the loopback URL, `local.secret` the bearer secret, see
 * docs/agent.md). Failures come back as ferry_err_t with the seed's E_* code the
 * agent sent (E_AUTH_INVALID, E_HASH_MISMATCH...) or a generic one, and a message.
 *
 * The agent makes a new secret and may take a new port at each start: a call refused
 * as unauthenticated or unreachable re-reads local.json and local.secret and is tried
 * once more when they changed, so a tray outlives agent restarts.
 *
 * Secrets: the local secret and a bind token are held only as long as needed, scrubbed
 * on free, never logged or written; every message is passed through
 * ferry_log_mask_secrets(). One client per thread (the reconnect swaps the connection).
 */
#ifndef FERRY_TRAY_CLIENT_H
#define FERRY_TRAY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/v1/local.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The agent's default state dir (docs/agent.md). */
#define FERRY_TRAY_DEFAULT_STATE_DIR "/var/lib/ferry-agent"

typedef struct ferry_tray_client ferry_tray_client_t;

/**
 * Connects to the agent whose state dir is |state_dir| (NULL = the default). Fails with
 * FERRY_E_UNAVAILABLE "the agent is not running (no DIR/local.json)" or
 * FERRY_E_PERMISSION when local.secret cannot be read (run as the agent's user or root).
 * Nothing is sent yet.
 */
ferry_tray_client_t *ferry_tray_client_new(const char *state_dir, ferry_err_t *err);

/** Frees |c| and scrubs the secret. NULL is a no-op. */
void ferry_tray_client_free(ferry_tray_client_t *c);

/** The state dir |c| reads (as given, or the default). */
const char *ferry_tray_client_state_dir(const ferry_tray_client_t *c);

/** Ends a WatchStatus in progress on |c| from another thread. */
void ferry_tray_client_cancel(ferry_tray_client_t *c);

/* Each call below: FERRY_OK and *out (free with protobuf_c_message_free_unpacked(&(*out)->base,
 * NULL)), or the agent's refusal in |err| and *out NULL. */

/** GetStatus. */
ferry_err_code_t ferry_tray_get_status(ferry_tray_client_t *c, Ferry__V1__AgentStatus **out,
                                       ferry_err_t *err);

/**
 * Bind (seed 000 §5.1): the agent calls the server's Bind and stores the token itself.
 * |token| is only sent; the request copy is scrubbed afterwards.
 */
ferry_err_code_t ferry_tray_bind(ferry_tray_client_t *c, const char *server_url, const char *node_code,
                                 Ferry__V1__Environment env, const char *token, const char *ca_file,
                                 const char *pin_sha256, Ferry__V1__LocalBindResponse **out,
                                 ferry_err_t *err);

/** GetNodeConfig (defaults filled in, password masked). */
ferry_err_code_t ferry_tray_get_config(ferry_tray_client_t *c, Ferry__V1__GetLocalNodeConfigResponse **out,
                                       ferry_err_t *err);

/** ValidateNodeConfig; |deep| also checks directories, service and database on this machine. */
ferry_err_code_t ferry_tray_validate_config(ferry_tray_client_t *c, const Ferry__V1__NodeConfig *cfg,
                                            bool deep, Ferry__V1__ValidateNodeConfigResponse **out,
                                            ferry_err_t *err);

/**
 * SaveNodeConfig with config_version 0 (the agent takes the next one) and the upload
 * unless |no_upload|. A configuration with blocking issues comes back with saved
 * false and the issues (FERRY_OK: the call worked).
 */
ferry_err_code_t ferry_tray_save_config(ferry_tray_client_t *c, const Ferry__V1__NodeConfig *cfg,
                                        bool no_upload, Ferry__V1__SaveNodeConfigResponse **out,
                                        ferry_err_t *err);

/** ListPendingUpdates. */
ferry_err_code_t ferry_tray_list_updates(ferry_tray_client_t *c, Ferry__V1__ListPendingUpdatesResponse **out,
                                         ferry_err_t *err);

/** CheckForUpdates (the agent checks in at once; waits up to ~10 s). */
ferry_err_code_t ferry_tray_check_updates(ferry_tray_client_t *c, Ferry__V1__CheckForUpdatesResponse **out,
                                          ferry_err_t *err);

/** RespondToPrompt NOW (|defer_s| ignored) or DEFER for |defer_s| seconds. */
ferry_err_code_t ferry_tray_respond(ferry_tray_client_t *c, const char *task_id, bool now, int64_t defer_s,
                                    Ferry__V1__RespondToPromptResponse **out, ferry_err_t *err);

/** StartManualUpdate of |task_id| ("" or NULL = the oldest pending update). */
ferry_err_code_t ferry_tray_update_now(ferry_tray_client_t *c, const char *task_id,
                                       Ferry__V1__StartManualUpdateResponse **out, ferry_err_t *err);

/** ApplyOfflinePackage; relative paths are made absolute against the working directory first. */
ferry_err_code_t ferry_tray_apply_offline(ferry_tray_client_t *c, const char *package_path,
                                          const char *manifest_path,
                                          Ferry__V1__ApplyOfflinePackageResponse **out, ferry_err_t *err);

/** ListBackups. */
ferry_err_code_t ferry_tray_list_backups(ferry_tray_client_t *c, Ferry__V1__ListBackupsResponse **out,
                                         ferry_err_t *err);

/**
 * Called with each status WatchStatus delivers (keep-alives are not passed on); owns
 * nothing (|st| is freed after the call). Return non-zero to stop watching.
 */
typedef int (*ferry_tray_status_cb)(const Ferry__V1__AgentStatus *st, void *user);

/**
 * WatchStatus until |cb| returns non-zero, ferry_tray_client_cancel(), or the stream
 * ends (the agent stopped: FERRY_E_UNAVAILABLE). Runs on the calling thread.
 */
ferry_err_code_t ferry_tray_watch(ferry_tray_client_t *c, ferry_tray_status_cb cb, void *user,
                                  ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
