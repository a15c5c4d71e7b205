/* `ferry license create|list|get|renew|suspend|resume|revoke` (seed 001 授权; issue 12),
 * and the small parsers the fleet commands share (fleet.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fleet.h"

/* ---- shared parsers --------------------------------------------------------------------- */

/* |s| without a "PREFIX_" (case-insensitive) when it has one. */
static const char *strip(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncasecmp(s, prefix, n) == 0 ? s + n : s;
}

static int lookup(const char *s, const char *prefix, const char *const *names, int n)
{
    if (s == NULL)
        return -1;
    s = strip(s, prefix);
    for (int i = 1; i < n; i++)
        if (names[i] != NULL && strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

static const char *const LIC_TYPES[] = {NULL, "TRIAL", "OFFICIAL", "INTERNAL"};
static const char *const LIC_STATUSES[] = {"-", "ACTIVE", "EXPIRED", "SUSPENDED", "REVOKED", "GRACE"};
static const char *const NODE_STATUSES[] = {"-", "ONLINE", "OFFLINE", "MAINTENANCE", "EXPIRED"};

int ferry_cli_parse_license_type(const char *s)
{
    return lookup(s, "LICENSE_TYPE_", LIC_TYPES, 4);
}

int ferry_cli_parse_license_status(const char *s)
{
    return lookup(s, "LICENSE_STATUS_", LIC_STATUSES, 6);
}

int ferry_cli_parse_node_status(const char *s)
{
    return lookup(s, "NODE_STATUS_", NODE_STATUSES, 5);
}

const char *ferry_cli_license_status_name(int v)
{
    return v >= 0 && v < 6 ? LIC_STATUSES[v] : "?";
}

const char *ferry_cli_node_status_name(int v)
{
    return v >= 0 && v < 5 ? NODE_STATUSES[v] : "?";
}

ferry_err_code_t ferry_cli_parse_date(const char *flag, const char *s, bool end_of_day, int64_t *secs,
                                      int32_t *nanos, ferry_err_t *err)
{
    int y, m, d, used = 0;
    struct tm tm;

    if (s != NULL && strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &used) == 3 && used == 10) {
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
        if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
            goto bad;
        *secs = (int64_t)timegm(&tm);
        if (tm.tm_mday != d) /* 2026-02-30 normalised to March */
            goto bad;
        *nanos = 0;
        if (end_of_day) {
            *secs += 86399;
            *nanos = 999000000;
        }
        return FERRY_OK;
    }
    if (s != NULL && ferry_cli_parse_rfc3339(s, secs, nanos, NULL) == FERRY_OK)
        return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "--%s '%s': expected YYYY-MM-DD or an RFC 3339 time", flag,
                         s != NULL ? s : "");
}

/* ---- output ------------------------------------------------------------------------------- */

static void license_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__License *l = item;
    char ends[40], st[32];
    snprintf(st, sizeof(st), "%s%s", ferry_cli_license_status_name((int)l->status),
             l->expiring ? " (expiring)" : "");
    const char *cells[] = {l->id,
                           l->license_key,
                           l->customer_code,
                           l->node_code[0] ? l->node_code : "*",
                           (int)l->type > 0 && (int)l->type < 4 ? LIC_TYPES[l->type] : "?",
                           st,
                           ferry_cli_fmt_time(l->ends_at, ends, sizeof(ends))};
    ferry_cli_table_row(t, cells);
}

/* One licence: its own JSON object (keys id, licenseKey, ...) or key: value lines. */
static int show_license(ferry_cli_t *cli, const Ferry__V1__License *l, const char *headline)
{
    json_t *o = l != NULL ? ferry_cli_msg_json(&l->base) : NULL;
    if (o == NULL)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_NOMEM", "cannot render the licence");
    /* Always present, even when false: scripts read it. */
    json_object_set_new(o, "expiring", json_boolean(l->expiring));
    if (cli->g.json)
        return ferry_cli_emit(cli, o);
    if (headline != NULL)
        fprintf(cli->out, "%s\n", headline);
    ferry_cli_print_kv(cli->out, o, "");
    json_decref(o);
    return FERRY_CLI_EXIT_OK;
}

/* ---- commands -------------------------------------------------------------------------------- */

static int parse_u32(ferry_cli_t *cli, const char *flag, const char *v, uint32_t *out)
{
    char *end = NULL;
    unsigned long long n;
    if (v == NULL)
        return 0;
    n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || end == NULL || *end != '\0' || n > UINT32_MAX)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                              "--%s '%s': expected a number 0..%u", flag, v, UINT32_MAX);
    *out = (uint32_t)n;
    return 0;
}

static int date_flag(ferry_cli_t *cli, const ferry_cli_args_t *a, const char *flag, bool end_of_day,
                     Google__Protobuf__Timestamp *ts, Google__Protobuf__Timestamp **slot)
{
    ferry_err_t err = {0};
    const char *v = ferry_cli_arg(a, flag);
    if (v == NULL)
        return 0;
    if (ferry_cli_parse_date(flag, v, end_of_day, &ts->seconds, &ts->nanos, &err) != FERRY_OK)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG", "%s", err.msg);
    *slot = ts;
    return 0;
}

static int license_create(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__CreateLicenseRequest req = FERRY__V1__CREATE_LICENSE_REQUEST__INIT;
    Ferry__V1__CreateLicenseResponse *resp = NULL;
    Google__Protobuf__Timestamp start = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                end = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Duration grace = GOOGLE__PROTOBUF__DURATION__INIT;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    uint32_t days = 0;
    size_t nf = 0;
    const char *const *feat = ferry_cli_arg_multi(a, "feature", &nf);
    int type, rc;

    if ((type = ferry_cli_parse_license_type(ferry_cli_arg(a, "type"))) < 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                              "--type '%s': expected TRIAL, OFFICIAL or INTERNAL", ferry_cli_arg(a, "type"));
    req.type = (Ferry__V1__LicenseType)type;
    req.node_code = ferry_cli_s(ferry_cli_arg(a, "node"));
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if ((rc = date_flag(cli, a, "start", false, &start, &req.starts_at)) != 0 ||
        (rc = date_flag(cli, a, "end", true, &end, &req.ends_at)) != 0 ||
        (rc = parse_u32(cli, "max-users", ferry_cli_arg(a, "max-users"), &req.max_users)) != 0 ||
        (rc = parse_u32(cli, "max-companies", ferry_cli_arg(a, "max-companies"), &req.max_companies)) != 0)
        return rc;
    if (ferry_cli_arg(a, "grace-days") != NULL) {
        if ((rc = parse_u32(cli, "grace-days", ferry_cli_arg(a, "grace-days"), &days)) != 0)
            return rc;
        grace.seconds = (int64_t)days * 86400;
        req.offline_grace = &grace;
    }
    req.features = (char **)feat;
    req.n_features = nf;
    if (ferry_v1_admin_service_create_license(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "create licence", &st);
        goto out;
    }
    rc = show_license(cli, resp->license, "Licence created.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int license_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListLicensesRequest req = FERRY__V1__LIST_LICENSES_REQUEST__INIT;
    Ferry__V1__ListLicensesResponse *resp = NULL;
    Google__Protobuf__Timestamp before = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"ID", "KEY", "CUSTOMER", "NODE", "TYPE", "STATUS", "ENDS"};
    const char *s = ferry_cli_arg(a, "status");
    uint32_t days = 0;
    int v, rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    req.node_code = ferry_cli_s(ferry_cli_arg(a, "node"));
    if (s != NULL) {
        if ((v = ferry_cli_parse_license_status(s)) < 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "--status '%s': expected ACTIVE, GRACE, EXPIRED, SUSPENDED or REVOKED", s);
        req.status = (Ferry__V1__LicenseStatus)v;
    }
    if (ferry_cli_arg(a, "expiring-within") != NULL) {
        /* Still running and ending within DAYS: ACTIVE (not yet ended) and ends before now + DAYS. */
        if ((rc = parse_u32(cli, "expiring-within", ferry_cli_arg(a, "expiring-within"), &days)) != 0)
            return rc;
        if (days > 36500)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "--expiring-within: at most 36500 days");
        before.seconds = (int64_t)time(NULL) + (int64_t)days * 86400;
        req.ends_before = &before;
        if (s == NULL)
            req.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE;
    }
    if (ferry_v1_admin_service_list_licenses(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list licences", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 7, head, (void *const *)resp->licenses, resp->n_licenses,
                              license_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int license_get(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetLicenseRequest req = FERRY__V1__GET_LICENSE_REQUEST__INIT;
    Ferry__V1__GetLicenseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_license(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get licence", &st);
        goto out;
    }
    rc = show_license(cli, resp->license, NULL);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* renew (--end), suspend, resume: UpdateLicense. */
static int license_update(ferry_cli_t *cli, const ferry_cli_args_t *a, int suspend, const char *headline)
{
    Ferry__V1__UpdateLicenseRequest req = FERRY__V1__UPDATE_LICENSE_REQUEST__INIT;
    Ferry__V1__UpdateLicenseResponse *resp = NULL;
    Google__Protobuf__Timestamp end = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__BoolValue susp = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
    Google__Protobuf__UInt32Value mu = GOOGLE__PROTOBUF__UINT32_VALUE__INIT,
                                  mc = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    if (suspend >= 0) {
        susp.value = suspend != 0;
        req.suspended = &susp;
    } else {
        if ((rc = date_flag(cli, a, "end", true, &end, &req.ends_at)) != 0)
            return rc;
        if (ferry_cli_arg(a, "max-users") != NULL) {
            if ((rc = parse_u32(cli, "max-users", ferry_cli_arg(a, "max-users"), &mu.value)) != 0)
                return rc;
            req.max_users = &mu;
        }
        if (ferry_cli_arg(a, "max-companies") != NULL) {
            if ((rc = parse_u32(cli, "max-companies", ferry_cli_arg(a, "max-companies"), &mc.value)) != 0)
                return rc;
            req.max_companies = &mc;
        }
        if (ferry_cli_arg_set(a, "feature")) {
            size_t nf = 0;
            req.features = (char **)ferry_cli_arg_multi(a, "feature", &nf);
            req.n_features = nf;
            req.replace_features = true;
        }
    }
    if (ferry_v1_admin_service_update_license(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "update licence", &st);
        goto out;
    }
    rc = show_license(cli, resp->license, headline);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int license_renew(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return license_update(cli, a, -1, "Licence renewed.");
}

static int license_suspend(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return license_update(cli, a, 1, "Licence suspended.");
}

static int license_resume(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return license_update(cli, a, 0, "Licence resumed.");
}

static int license_revoke(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__RevokeLicenseRequest req = FERRY__V1__REVOKE_LICENSE_REQUEST__INIT;
    Ferry__V1__RevokeLicenseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    req.reason = ferry_cli_s(ferry_cli_arg(a, "reason"));
    if (ferry_v1_admin_service_revoke_license(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "revoke licence", &st);
        goto out;
    }
    rc = show_license(cli, resp->license, "Licence revoked.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t CREATE_FLAGS[] = {
    {"node", FERRY_CLI_FLAG_STR, "CODE", "the node the licence is bound to", false},
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "without --node: every node of this customer", false},
    {"type", FERRY_CLI_FLAG_STR, "T", "TRIAL, OFFICIAL or INTERNAL", true},
    {"start", FERRY_CLI_FLAG_STR, "DATE", "first valid day (YYYY-MM-DD or RFC 3339; default now)", false},
    {"end", FERRY_CLI_FLAG_STR, "DATE", "last valid day (YYYY-MM-DD: through the end of that day, UTC)",
     true},
    {"max-users", FERRY_CLI_FLAG_STR, "N", "maximum concurrent users", false},
    {"max-companies", FERRY_CLI_FLAG_STR, "N", "maximum companies", false},
    {"feature", FERRY_CLI_FLAG_MULTI, "F", "a licensed feature", false},
    {"grace-days", FERRY_CLI_FLAG_STR, "N", "offline grace past the end (default: the server's, 7)", false},
    {NULL, 0, NULL, NULL, false},
};

static const ferry_cli_flag_t LIST_FLAGS[] = {
    {"expiring-within", FERRY_CLI_FLAG_STR, "DAYS", "only running licences ending within DAYS", false},
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "only this customer's licences", false},
    {"node", FERRY_CLI_FLAG_STR, "CODE", "only licences applying to this node", false},
    {"status", FERRY_CLI_FLAG_STR, "S", "ACTIVE, GRACE, EXPIRED, SUSPENDED or REVOKED", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

static const ferry_cli_flag_t RENEW_FLAGS[] = {
    {"end", FERRY_CLI_FLAG_STR, "DATE", "new last valid day", false},
    {"max-users", FERRY_CLI_FLAG_STR, "N", "new user limit", false},
    {"max-companies", FERRY_CLI_FLAG_STR, "N", "new company limit", false},
    {"feature", FERRY_CLI_FLAG_MULTI, "F", "replace the feature list", false},
    {NULL, 0, NULL, NULL, false},
};

static const ferry_cli_flag_t REVOKE_FLAGS[] = {
    {"reason", FERRY_CLI_FLAG_STR, "TEXT", "why (kept in the audit log)", false},
    {NULL, 0, NULL, NULL, false},
};

static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_license_cmds[] = {
    {"create", "create a licence for a node (or every node of a customer)", NULL, 0, CREATE_FLAGS,
     "Prints the licence; with --json one object with keys id, licenseKey, customerCode, nodeCode, type,\n"
     "startsAt, endsAt, maxUsers, maxCompanies, features, status, expiring, offlineGrace, revision.\n"
     "The node receives it signed with the server's key on its next check-in (or at once when streaming).",
     license_create, false},
    {"list", "list licences, ordered by end date", NULL, 0, LIST_FLAGS,
     "STATUS is computed now: GRACE past the end within the offline grace, EXPIRED after it;\n"
     "'(expiring)' marks running licences within the server's reminder window (default 30 days).",
     license_list, false},
    {"get", "show one licence", "ID", 1, NO_FLAGS, NULL, license_get, false},
    {"renew", "change a licence's end date (and limits, features)", "ID", 1, RENEW_FLAGS, NULL, license_renew,
     false},
    {"suspend", "suspend a licence (resume undoes it)", "ID", 1, NO_FLAGS, NULL, license_suspend, false},
    {"resume", "reactivate a suspended licence", "ID", 1, NO_FLAGS, NULL, license_resume, false},
    {"revoke", "revoke a licence for good", "ID", 1, REVOKE_FLAGS, NULL, license_revoke, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
