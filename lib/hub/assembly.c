/*
 * The hub's assembly: opening the data dir and wiring the modules onto the RPC
 * server. The one file above every module (it binds them; none calls into it).
 * Module map (one file each, all using hub_internal.h; SQL only through the
 * lib/store repositories, checked by scripts/check-layering.sh):
 *
 *   init.c        ferryd init: data dir, database, keys, first admin token
 *   auth.c        token checks (constant time), principals, role policy, interceptor
 *   audit.c       audit rows for mutating admin calls; ListAuditLogs
 *   tree.c        customers, stores, nodes; node tokens shown once
 *   tokens.c      WhoAmI; admin tokens
 *   storage.c     storage configuration (global + per customer); signed URLs
 *   blobs_http.c  the signed-URL HTTP routes: GET with Range, chunked resumable PUT
 *   packages.c    package uploads, validation (zip manifest), signing
 *   uploads.c     reclaiming uploads: on refusal, and the expiry sweep (janitor thread)
 *   releases.c    releases: scope -> tasks, pause/resume/cancel, rollback, summary
 *   tasks.c       task queries, history, report files, node configuration index
 *   agent.c       AgentService: Bind, CheckIn, GetAssignment, GetDownload
 *   report.c      ReportService: progress (idempotent, validated), file uploads
 *   bus.c         in-process pub/sub of task events for the streams
 *   presence.c    last-seen table of nodes (memory, flushed in batches)
 *   hub_frame.c   the handler frame (HUB_METHOD: principal, offload, transaction, audit)
 *   watch.c       WatchRelease and WatchAssignments streams
 *   metrics.c     /metrics (Prometheus text) and the metrics interceptor
 *   fleet.c       fleet management, assembled: fleet_status.c (node status, the fleet
 *                 table), licenses.c + license_doc.c (licences), configs.c
 *                 (configuration distribution), server_backup.c (backups) (hub_fleet.h)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/fs.h"
#include "hub_internal.h"
#include "hub_fleet.h"
#include "hub_waves.h"

static ferry_err_code_t data_path(const ferry_hub_t *hub, const char *name, char *buf, size_t size,
                                  ferry_err_t *err)
{
    if (ferry_fs_join(buf, size, hub->data_dir, name) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "data dir path too long");
    return FERRY_OK;
}

ferry_hub_t *ferry_hub_open(const ferry_hub_config_t *cfg, ferry_err_t *err)
{
    ferry_hub_t *hub = NULL;
    char path[PATH_MAX];
    char *key = NULL;
    size_t key_len = 0;

    if (cfg == NULL || cfg->data_dir == NULL) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "hub: data dir is required");
        return NULL;
    }
    hub = calloc(1, sizeof(*hub));
    if (hub == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "hub: out of memory");
        return NULL;
    }
    hub->cfg = *cfg;
    if (hub->cfg.poll_interval_s == 0)
        hub->cfg.poll_interval_s = 60;
    if (hub->cfg.offline_after_s == 0)
        hub->cfg.offline_after_s = 3 * hub->cfg.poll_interval_s;
    if (hub->cfg.url_ttl_s == 0)
        hub->cfg.url_ttl_s = 900;
    if (hub->cfg.keepalive_s == 0)
        hub->cfg.keepalive_s = 25;
    if (hub->cfg.manifest_ttl_s == 0)
        hub->cfg.manifest_ttl_s = FERRY_HUB_MANIFEST_TTL_DEFAULT;
    else if (hub->cfg.manifest_ttl_s > FERRY_HUB_MANIFEST_TTL_MAX)
        hub->cfg.manifest_ttl_s = FERRY_HUB_MANIFEST_TTL_MAX;
    if (hub->cfg.upload_ttl_s == 0)
        hub->cfg.upload_ttl_s = FERRY_HUB_UPLOAD_TTL_DEFAULT;
    else if (hub->cfg.upload_ttl_s > FERRY_HUB_UPLOAD_TTL_MAX)
        hub->cfg.upload_ttl_s = FERRY_HUB_UPLOAD_TTL_MAX;
    if (hub->cfg.upload_sweep_s == 0)
        hub->cfg.upload_sweep_s = 600;
    if (strlen(cfg->data_dir) >= sizeof(hub->data_dir)) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "hub: data dir path too long");
        goto fail;
    }
    memcpy(hub->data_dir, cfg->data_dir, strlen(cfg->data_dir) + 1); /* length checked above */
    hub->cfg.data_dir = hub->data_dir;
    if (cfg->public_base_url != NULL)
        snprintf(hub->base_url, sizeof(hub->base_url), "%s", cfg->public_base_url);
    hub->cfg.public_base_url = NULL; /* not owned; base_url holds the copy */

    if (data_path(hub, HUB_URL_KEY_FILE, path, sizeof(path), err) != FERRY_OK)
        goto fail;
    if (!ferry_fs_exists(path)) {
        ferry_err_set(err, FERRY_E_PRECONDITION,
                      "'%s' is not an initialised Ferry data dir: run `ferryd init --data-dir %s`",
                      hub->data_dir, hub->data_dir);
        goto fail;
    }
    if (ferry_fs_read_file(path, 64, &key, &key_len, err) != FERRY_OK)
        goto fail;
    if (key_len != sizeof(hub->url_key)) {
        ferry_err_set(err, FERRY_E_CORRUPT, "'%s' must hold exactly %zu bytes", path, sizeof(hub->url_key));
        goto fail;
    }
    memcpy(hub->url_key, key, sizeof(hub->url_key));

    if (data_path(hub, HUB_SIGNING_KEY_FILE, path, sizeof(path), err) != FERRY_OK)
        goto fail;
    if ((hub->signer = ferry_signer_load(path, err)) == NULL)
        goto fail;
    ferry_signer_public_key(hub->signer, hub->signing_pub);

    if (data_path(hub, HUB_DB_FILE, path, sizeof(path), err) != FERRY_OK ||
        ferry_store_open(path, &hub->store, err) != FERRY_OK)
        goto fail;
    if (data_path(hub, HUB_BLOB_DIR, path, sizeof(path), err) != FERRY_OK ||
        (hub->blobs = ferry_blob_store_open(path, err)) == NULL)
        goto fail;
    if (hub_bus_init(hub, err) != FERRY_OK)
        goto fail;
    goto out;
fail:
    ferry_hub_free(hub);
    hub = NULL;
out:
    if (key != NULL) {
        memset(key, 0, key_len);
        free(key);
    }
    return hub;
}

void ferry_hub_set_port(ferry_hub_t *hub, uint16_t port)
{
    if (hub->base_url[0] == '\0')
        snprintf(hub->base_url, sizeof(hub->base_url), "http://127.0.0.1:%u", (unsigned)port);
}

ferry_err_code_t ferry_hub_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv, ferry_err_t *err)
{
    hub->admin.user = hub;
    hub->agent.user = hub;
    hub->report.user = hub;
    hub_tree_bind(hub);
    hub_tokens_bind(hub);
    hub_audit_bind(hub);
    hub_storage_bind(hub);
    hub_packages_bind(hub);
    hub_releases_bind(hub);
    hub_waves_bind(hub);
    hub_tasks_bind(hub);
    hub_agent_bind(hub);
    hub_report_bind(hub);
    hub_watch_bind(hub);
    hub_fleet_bind(hub); /* after hub_agent_bind: it binds GetLicenseStatus */
    if (hub_auth_attach(hub, srv, err) != FERRY_OK || hub_metrics_attach(hub, srv, err) != FERRY_OK ||
        hub_blobs_attach(hub, srv, err) != FERRY_OK ||
        ferry_v1_admin_service_server_register(srv, &hub->admin, err) != FERRY_OK ||
        ferry_v1_agent_service_server_register(srv, &hub->agent, err) != FERRY_OK ||
        ferry_v1_report_service_server_register(srv, &hub->report, err) != FERRY_OK ||
        hub_janitor_start(hub, err) != FERRY_OK || hub_fleet_start(hub, err) != FERRY_OK)
        return ferry_err_prefix(err, "attach hub");
    return FERRY_OK;
}

void ferry_hub_free(ferry_hub_t *hub)
{
    if (hub == NULL)
        return;
    hub_janitor_stop(hub); /* first: its sweep uses the DB and the blob store */
    hub_fleet_free(hub);   /* its sweep reads presence (bus) and writes the DB */
    hub_bus_free(hub);
    hub_metrics_free(hub);
    hub_auth_free(hub);
    ferry_blob_store_free(hub->blobs);
    ferry_store_free(hub->store); /* after the bus: its final presence flush uses the DB */
    ferry_signer_free(hub->signer);
    memset(hub->url_key, 0, sizeof(hub->url_key));
    free(hub);
}
