/*
 * The fleet's assembly: binds, starts and stops its parts, and the agent-facing hooks
 * that draw on more than one of them.
 *
 * Why a file of its own: the parts (licenses.c, configs.c, server_backup.c) all build on
 * the fleet table of fleet_status.c (configuration, node facts, licence changes). What
 * calls INTO those parts lives here, above all four, so the table never calls back up.
 */
#include "hub_fleet.h"

void hub_fleet_bind(ferry_hub_t *hub)
{
    hub_fleet_status_bind(hub);
    hub_licenses_bind(hub);
    hub_configs_bind(hub);
    hub_server_backup_bind(hub);
}

ferry_err_code_t hub_fleet_start(ferry_hub_t *hub, ferry_err_t *err)
{
    ferry_err_code_t rc;
    if ((rc = hub_fleet_status_start(hub, err)) != FERRY_OK)
        goto out;
    rc = hub_backup_sched_start(hub, &hub->backups, err);
out:
    return rc;
}

void hub_fleet_free(ferry_hub_t *hub)
{
    if (hub != NULL) {
        hub_backup_sched_stop(hub->backups); /* first: a backup in progress finishes */
        hub->backups = NULL;
        hub_fleet_status_free(hub);
    }
}

void ferry_hub_set_fleet_config(ferry_hub_t *hub, const ferry_fleet_config_t *cfg)
{
    /* A kick restarts the backup schedule (a backup at once when one is set): only when the settings
     * were taken. */
    if (hub_fleet_set_config(hub, cfg))
        hub_backup_sched_kick(hub->backups);
}

/* ---- hooks ---------------------------------------------------------------------------- */

ferry_err_code_t hub_fleet_checkin_fill(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                        const char *license_sha256, Ferry__V1__CheckInResponse *resp,
                                        ferry_err_t *err)
{
    char code[65];
    int64_t customer_id = 0;
    uint8_t sha[32];
    ferry_err_code_t rc;

    if (!hub_fleet_node_facts(hub, node_id, code, &customer_id))
        return FERRY_OK;
    /* signed_license stays NULL when the agent holds this document (no signature made) */
    if ((rc = hub_license_for_node(hub, a, node_id, customer_id, code,
                                   license_sha256 != NULL ? license_sha256 : "", &resp->license,
                                   &resp->signed_license, sha, err)) != FERRY_OK)
        return rc;
    return hub_configs_open(hub, a, node_id, &resp->config_assignments, &resp->n_config_assignments, err);
}

ferry_err_code_t hub_fleet_watch_messages(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id, unsigned what,
                                          const char *license_sha256,
                                          Ferry__V1__WatchAssignmentsResponse ***out, size_t *n,
                                          ferry_err_t *err)
{
    char code[65];
    int64_t customer_id = 0;
    uint8_t sha[32];
    Ferry__V1__License *lic = NULL;
    Ferry__V1__SignedLicense *sl = NULL;
    Ferry__V1__ConfigAssignment **cas = NULL;
    size_t n_cas = 0;
    ferry_err_code_t rc = FERRY_OK;

    *out = NULL;
    *n = 0;
    if (!hub_fleet_node_facts(hub, node_id, code, &customer_id))
        return FERRY_OK;
    if ((what & HUB_FLEET_EV_LICENSE) &&
        (rc =
             hub_license_for_node(hub, a, node_id, customer_id, code,
                                  license_sha256 != NULL && license_sha256[0] != '\0' ? license_sha256 : NULL,
                                  &lic, &sl, sha, err)) != FERRY_OK)
        return rc; /* sl NULL: no licence, or the agent has it */
    if ((what & HUB_FLEET_EV_CONFIG) &&
        (rc = hub_configs_open(hub, a, node_id, &cas, &n_cas, err)) != FERRY_OK)
        return rc;
    if ((*out = hub_arena_alloc(a, (n_cas + 1) * sizeof(**out))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "watch: out of memory");
    if (sl != NULL) {
        Ferry__V1__WatchAssignmentsResponse *m = hub_arena_alloc(a, sizeof(*m));
        if (m == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "watch: out of memory");
        ferry__v1__watch_assignments_response__init(m);
        m->event_case = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_LICENSE;
        m->license = sl;
        (*out)[(*n)++] = m;
    }
    for (size_t i = 0; i < n_cas; i++) {
        Ferry__V1__WatchAssignmentsResponse *m = hub_arena_alloc(a, sizeof(*m));
        if (m == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "watch: out of memory");
        ferry__v1__watch_assignments_response__init(m);
        m->event_case = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_CONFIG_ASSIGNMENT;
        m->config_assignment = cas[i];
        (*out)[(*n)++] = m;
    }
    return rc;
}
