/*
 * Licences (seed 001 授权): CreateLicense, ListLicenses, GetLicense, UpdateLicense,
 * RevokeLicense (admin, audited) and GetLicenseStatus (agent), and the signed licence
 * document nodes receive.
 *
 * The row keeps what an admin set; GRACE, EXPIRED and `expiring` are computed at read
 * time (hub_license_effective), so nothing has to wake up when a licence ends. The
 * document (ferry.v1.LicenseDocument) is built for one node from the STORED state by
 * license_doc.c and is deterministic, so an idle CheckIn tells from memory that the
 * agent already holds the current one (fleet_status.c). Ed25519 signatures are
 * deterministic too; signing happens only when a document is actually sent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/encoding.h"
#include "ferry/hash.h"
#include "ferry/store/tree.h"
#include "hub_fleet.h"
#include "hub_pkg.h" /* hub_signing_key_id */

#define LIC_ACTIVE    FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE
#define LIC_EXPIRED   FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED
#define LIC_SUSPENDED FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_SUSPENDED
#define LIC_REVOKED   FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_REVOKED
#define LIC_GRACE     FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE

#define LIC_GRACE_MAX_S (365LL * 86400)          /* longest offline grace */
#define LIC_SPAN_MAX_MS (100LL * 365 * 86400000) /* longest licence */
#define LIC_REASON_MAX  256

/* ---- pure rules ------------------------------------------------------------------------ */

void hub_license_effective(ferry_hub_t *hub, Ferry__V1__License *l, int64_t now)
{
    ferry_fleet_config_t c;
    int64_t ends = hub_ts_ms(l->ends_at);
    int64_t grace = l->offline_grace != NULL ? l->offline_grace->seconds * 1000 : 0;

    hub_fleet_config(hub, &c);
    l->expiring = false;
    if (l->status != LIC_ACTIVE)
        return; /* SUSPENDED and REVOKED are an admin's word */
    if (now > ends + grace)
        l->status = LIC_EXPIRED;
    else if (now > ends)
        l->status = LIC_GRACE;
    else
        l->expiring = ends - now <= (int64_t)c.license_warn_s * 1000;
}

/* "FL-XXXXX-XXXXX-XXXXX-XXXXX" from 20 random symbols of Crockford's base32 (100 bits). */
static ferry_err_code_t new_key(char out[FERRY_STORE_LICENSE_KEY_LEN + 1], ferry_err_t *err)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t rnd[20];
    size_t o = 0;
    ferry_err_code_t rc;

    if ((rc = ferry_random_bytes(rnd, sizeof(rnd), err)) != FERRY_OK)
        return rc;
    out[o++] = 'F';
    out[o++] = 'L';
    for (size_t i = 0; i < sizeof(rnd); i++) {
        if (i % 5 == 0)
            out[o++] = '-';
        out[o++] = alphabet[rnd[i] & 31];
    }
    out[o] = '\0';
    return FERRY_OK;
}

/* Feature names: 1..64 printable bytes without spaces, at most 64, no duplicates. */
static ferry_err_code_t check_features(char *const *f, size_t n, ferry_err_t *err)
{
    if (n > FERRY_STORE_LICENSE_FEATURES_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "features: at most %d (got %zu)",
                             FERRY_STORE_LICENSE_FEATURES_MAX, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(f[i]);
        if (len == 0 || len > FERRY_STORE_LICENSE_FEATURE_LEN)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "feature '%.64s': must be 1..%d bytes", f[i],
                                 FERRY_STORE_LICENSE_FEATURE_LEN);
        for (size_t j = 0; j < len; j++)
            if ((unsigned char)f[i][j] <= ' ' || f[i][j] == 0x7f)
                return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                     "feature '%.64s': no spaces or control characters", f[i]);
        for (size_t k = 0; k < i; k++)
            if (strcmp(f[k], f[i]) == 0)
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "feature '%.64s' is listed twice", f[i]);
    }
    return FERRY_OK;
}

/* ---- the signed document (built by license_doc.c) ------------------------------------- */

ferry_err_code_t hub_license_for_node(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id, int64_t customer_id,
                                      const char *node_code, const char *have_sha256,
                                      Ferry__V1__License **lic, Ferry__V1__SignedLicense **signed_out,
                                      uint8_t sha[32], ferry_err_t *err)
{
    ProtobufCBinaryData doc = {0, NULL};
    Ferry__V1__SignedLicense *sl;
    uint8_t *sig;
    char key_id[17];
    ferry_err_code_t rc;

    *lic = NULL;
    if (signed_out != NULL)
        *signed_out = NULL;
    if ((rc = hub_license_doc_load(hub, a, node_id, customer_id, node_code, lic, &doc, sha, err)) !=
            FERRY_OK ||
        *lic == NULL)
        return rc;
    if (signed_out != NULL && have_sha256 != NULL) {
        char hex[2 * FERRY_SHA256_LEN + 1];
        ferry_hex_encode(sha, FERRY_SHA256_LEN, hex);
        if (strcmp(hex, have_sha256) == 0)
            signed_out = NULL; /* the caller holds this very document: no signature needed */
    }
    if (signed_out != NULL) {
        sl = hub_arena_alloc(a, sizeof(*sl));
        sig = hub_arena_alloc(a, FERRY_ED25519_SIG_LEN);
        if (sl == NULL || sig == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "licence document: out of memory");
        if ((rc = ferry_signer_sign(hub->signer, doc.data, doc.len, sig, err)) != FERRY_OK)
            return rc;
        hub_signing_key_id(hub, key_id);
        ferry__v1__signed_license__init(sl);
        sl->document = doc;
        sl->signature.data = sig;
        sl->signature.len = FERRY_ED25519_SIG_LEN;
        sl->key_id = hub_arena_strdup(a, key_id);
        *signed_out = sl;
    }
    hub_license_effective(hub, *lic, hub_now_ms());
    return FERRY_OK;
}

/* ---- admin RPCs ---------------------------------------------------------------------------- */

static void license_done(hub_frame_t *f, const void *req, void *resp);

HUB_METHOD(admin, create_license, Ferry__V1__CreateLicenseRequest, Ferry__V1__CreateLicenseResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, license_done)
HUB_METHOD(admin, update_license, Ferry__V1__UpdateLicenseRequest, Ferry__V1__UpdateLicenseResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, license_done)
HUB_METHOD(admin, revoke_license, Ferry__V1__RevokeLicenseRequest, Ferry__V1__RevokeLicenseResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, license_done)
HUB_METHOD(admin, get_license, Ferry__V1__GetLicenseRequest, Ferry__V1__GetLicenseResponse, HUB_FRAME_OFFLOAD,
           NULL)
HUB_METHOD(admin, list_licenses, Ferry__V1__ListLicensesRequest, Ferry__V1__ListLicensesResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(agent, get_license_status, Ferry__V1__GetLicenseStatusRequest, Ferry__V1__GetLicenseStatusResponse,
           HUB_FRAME_NODE | HUB_FRAME_OFFLOAD, NULL)

/* The three writers answer with one licence; the done hook pushes it to its nodes. */
static void license_done(hub_frame_t *f, const void *req, void *resp)
{
    /* Every *LicenseResponse has `license` as its only member: read it generically. */
    const ProtobufCMessage *m = resp;
    const Ferry__V1__License *l = NULL;
    int64_t node_id = 0, customer_id = 0;
    bool disabled;
    (void)req;
    if (m->descriptor == &ferry__v1__create_license_response__descriptor)
        l = ((const Ferry__V1__CreateLicenseResponse *)resp)->license;
    else if (m->descriptor == &ferry__v1__update_license_response__descriptor)
        l = ((const Ferry__V1__UpdateLicenseResponse *)resp)->license;
    else if (m->descriptor == &ferry__v1__revoke_license_response__descriptor)
        l = ((const Ferry__V1__RevokeLicenseResponse *)resp)->license;
    if (l == NULL || ferry_store_tree_id_ro(f->store, FERRY_STORE_CUSTOMER, l->customer_code, &customer_id,
                                            &disabled, NULL) != FERRY_OK)
        return;
    if (l->node_code[0] != '\0' && ferry_store_tree_id_ro(f->store, FERRY_STORE_NODE, l->node_code, &node_id,
                                                          &disabled, NULL) != FERRY_OK)
        return;
    hub_fleet_license_changed(f->hub, customer_id, node_id);
}

static ferry_err_code_t parse_license_id(const char *s, int64_t *id, ferry_err_t *err)
{
    return hub_parse_id(s, "id", id, err);
}

/* The licence |id| as the API shows it (effective status), from the writer. */
static ferry_err_code_t load(hub_frame_t *f, int64_t id, Ferry__V1__License **out,
                             ferry_store_license_meta_t *meta, ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_store_license_get(f->store, &f->arena, id, out, meta, err);
    if (rc == FERRY_OK)
        hub_license_effective(f->hub, *out, hub_now_ms());
    return rc;
}

static ferry_err_code_t create_license_body(hub_frame_t *f, const Ferry__V1__CreateLicenseRequest *req,
                                            Ferry__V1__CreateLicenseResponse *resp, ferry_err_t *err)
{
    ferry_store_license_new_t row = {0};
    ferry_fleet_config_t cfg;
    char key[FERRY_STORE_LICENSE_KEY_LEN + 1];
    int64_t id = 0, now = hub_now_ms();
    bool disabled;
    ferry_err_code_t rc;

    hub_fleet_config(f->hub, &cfg);
    if (req->node_code[0] != '\0')
        hub_frame_target(f, "node:%.64s", req->node_code);
    else
        hub_frame_target(f, "customer:%.64s", req->customer_code);
    if (req->node_code[0] == '\0' && req->customer_code[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "node_code or customer_code: one is required");
    if (req->type < FERRY__V1__LICENSE_TYPE__LICENSE_TYPE_TRIAL ||
        req->type > FERRY__V1__LICENSE_TYPE__LICENSE_TYPE_INTERNAL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "type: required, TRIAL, OFFICIAL or INTERNAL (got %d)",
                             (int)req->type);
    if (req->ends_at == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "ends_at: required");
    row.starts_at = req->starts_at != NULL ? hub_ts_ms(req->starts_at) : now;
    row.ends_at = hub_ts_ms(req->ends_at);
    if (row.ends_at <= row.starts_at)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "ends_at: must be after starts_at");
    if (row.ends_at - row.starts_at > LIC_SPAN_MAX_MS)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "ends_at: a licence lasts at most 100 years");
    row.grace_ms = (int64_t)cfg.license_grace_s * 1000;
    if (req->offline_grace != NULL) {
        if (req->offline_grace->seconds < 0 || req->offline_grace->seconds > LIC_GRACE_MAX_S)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "offline_grace: 0..365 days (got %" PRId64 " s)",
                                 (int64_t)req->offline_grace->seconds);
        row.grace_ms = req->offline_grace->seconds * 1000;
    }
    if ((rc = check_features(req->features, req->n_features, err)) != FERRY_OK)
        return rc;
    if (req->node_code[0] != '\0') {
        Ferry__V1__Node *node = NULL;
        ferry_store_node_view_t view = {0};
        if ((rc = hub_check_code("node_code", req->node_code, err)) != FERRY_OK ||
            (rc = ferry_store_tree_get(f->store, &f->arena, FERRY_STORE_NODE, req->node_code, &view,
                                       (void **)&node, err)) != FERRY_OK ||
            (rc = ferry_store_tree_id(f->store, FERRY_STORE_NODE, req->node_code, &row.node_id, &disabled,
                                      err)) != FERRY_OK)
            return rc;
        if (req->customer_code[0] != '\0' && strcmp(req->customer_code, node->customer_code) != 0)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "node '%s' belongs to customer '%s', not '%.64s'",
                                 req->node_code, node->customer_code, req->customer_code);
        if ((rc = ferry_store_tree_id(f->store, FERRY_STORE_CUSTOMER, node->customer_code, &row.customer_id,
                                      &disabled, err)) != FERRY_OK)
            return rc;
    } else if ((rc = hub_check_code("customer_code", req->customer_code, err)) != FERRY_OK ||
               (rc = ferry_store_tree_id(f->store, FERRY_STORE_CUSTOMER, req->customer_code, &row.customer_id,
                                         &disabled, err)) != FERRY_OK) {
        return rc;
    }
    if ((rc = new_key(key, err)) != FERRY_OK)
        return rc;
    row.license_key = key;
    row.type = (int)req->type;
    row.max_users = req->max_users;
    row.max_companies = req->max_companies;
    row.features = (const char *const *)req->features;
    row.n_features = req->n_features;
    row.created_at = now;
    row.created_by = f->me != NULL ? f->me->row_id : 0;
    if ((rc = ferry_store_license_insert(f->store, &row, &id, err)) != FERRY_OK)
        return rc;
    if (req->node_code[0] != '\0')
        hub_frame_target(f, "license:%" PRId64 ",node:%.64s", id, req->node_code);
    else
        hub_frame_target(f, "license:%" PRId64 ",customer:%.64s", id, req->customer_code);
    return load(f, id, &resp->license, NULL, err);
}

static ferry_err_code_t update_license_body(hub_frame_t *f, const Ferry__V1__UpdateLicenseRequest *req,
                                            Ferry__V1__UpdateLicenseResponse *resp, ferry_err_t *err)
{
    ferry_store_license_change_t c = {0};
    ferry_store_license_meta_t meta;
    Ferry__V1__License *cur = NULL;
    int64_t id;
    ferry_err_code_t rc;

    hub_frame_target(f, "license:%.40s", req->id);
    if ((rc = parse_license_id(req->id, &id, err)) != FERRY_OK ||
        (rc = ferry_store_license_get(f->store, &f->arena, id, &cur, &meta, err)) != FERRY_OK)
        return rc;
    if (meta.status == LIC_REVOKED)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "licence '%s' is revoked: create a new one", req->id);
    if (req->ends_at != NULL) {
        c.has_ends_at = true;
        c.ends_at = hub_ts_ms(req->ends_at);
        if (c.ends_at <= hub_ts_ms(cur->starts_at))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "ends_at: must be after the licence's start");
        if (c.ends_at - hub_ts_ms(cur->starts_at) > LIC_SPAN_MAX_MS)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "ends_at: a licence lasts at most 100 years");
    }
    if (req->max_users != NULL) {
        c.has_max_users = true;
        c.max_users = req->max_users->value;
    }
    if (req->max_companies != NULL) {
        c.has_max_companies = true;
        c.max_companies = req->max_companies->value;
    }
    if (req->replace_features) {
        if ((rc = check_features(req->features, req->n_features, err)) != FERRY_OK)
            return rc;
        c.replace_features = true;
        c.features = (const char *const *)req->features;
        c.n_features = req->n_features;
    } else if (req->n_features > 0) {
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "features: given without replace_features");
    }
    if (req->suspended != NULL) {
        c.has_status = true;
        c.status = req->suspended->value ? LIC_SUSPENDED : LIC_ACTIVE;
    }
    if (!c.has_ends_at && !c.has_max_users && !c.has_max_companies && !c.replace_features && !c.has_status)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "nothing to change: give ends_at, limits, features or "
                             "suspended");
    if ((rc = ferry_store_license_update(f->store, id, &c, hub_now_ms(), err)) != FERRY_OK)
        return rc;
    return load(f, id, &resp->license, NULL, err);
}

static ferry_err_code_t revoke_license_body(hub_frame_t *f, const Ferry__V1__RevokeLicenseRequest *req,
                                            Ferry__V1__RevokeLicenseResponse *resp, ferry_err_t *err)
{
    ferry_store_license_change_t c = {0};
    ferry_store_license_meta_t meta;
    Ferry__V1__License *cur = NULL;
    int64_t id;
    ferry_err_code_t rc;

    hub_frame_target(f, "license:%.40s", req->id);
    if (strlen(req->reason) > LIC_REASON_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "reason: at most %d bytes", LIC_REASON_MAX);
    if ((rc = parse_license_id(req->id, &id, err)) != FERRY_OK ||
        (rc = ferry_store_license_get(f->store, &f->arena, id, &cur, &meta, err)) != FERRY_OK)
        return rc;
    /* Revoking twice keeps the first revocation (no new revision for the nodes). */
    if (meta.status != LIC_REVOKED) {
        c.has_status = true;
        c.status = LIC_REVOKED;
        if ((rc = ferry_store_license_update(f->store, id, &c, hub_now_ms(), err)) != FERRY_OK)
            return rc;
    }
    return load(f, id, &resp->license, NULL, err);
}

static ferry_err_code_t get_license_body(hub_frame_t *f, const Ferry__V1__GetLicenseRequest *req,
                                         Ferry__V1__GetLicenseResponse *resp, ferry_err_t *err)
{
    int64_t id;
    ferry_err_code_t rc;
    if ((rc = parse_license_id(req->id, &id, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(f->store);
    rc = load(f, id, &resp->license, NULL, err);
    ferry_store_unlock(f->store);
    return rc;
}

static ferry_err_code_t list_licenses_body(hub_frame_t *f, const Ferry__V1__ListLicensesRequest *req,
                                           Ferry__V1__ListLicensesResponse *resp, ferry_err_t *err)
{
    int64_t now = hub_now_ms();
    ferry_store_license_filter_t flt = {req->customer_code,
                                        req->node_code,
                                        (int)req->status,
                                        now,
                                        req->ends_before != NULL ? hub_ts_ms(req->ends_before) : 0,
                                        0,
                                        req->page_token,
                                        req->page_size};
    ferry_store_page_t page;
    ferry_err_code_t rc;

    if ((int)req->status < 0 || (int)req->status > LIC_GRACE)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "status: unknown value %d", (int)req->status);
    if ((rc = ferry_store_licenses_list_ro(f->store, &flt, &f->arena, &page, err)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < page.n; i++)
        hub_license_effective(f->hub, page.items[i], now);
    resp->licenses = (Ferry__V1__License **)page.items;
    resp->n_licenses = page.n;
    resp->next_page_token = page.next_page_token;
    return FERRY_OK;
}

/* ---- agent: GetLicenseStatus ------------------------------------------------------------ */

static ferry_err_code_t get_license_status_body(hub_frame_t *f, const Ferry__V1__GetLicenseStatusRequest *req,
                                                Ferry__V1__GetLicenseStatusResponse *resp, ferry_err_t *err)
{
    int64_t now = hub_now_ms(), customer_id = 0, node_id = f->me->node_id;
    uint8_t sha[32];
    char code[65];
    ferry_err_code_t rc;
    Google__Protobuf__Duration *left;

    if (!hub_fleet_node_facts(f->hub, node_id, code, &customer_id))
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "node %" PRId64 " not found", node_id);
    if ((rc = hub_license_for_node(f->hub, &f->arena, node_id, customer_id, code, NULL, &resp->license,
                                   &resp->signed_license, sha, err)) != FERRY_OK)
        return rc;
    resp->server_time = hub_arena_ts(&f->arena, now);
    if (resp->license == NULL)
        return FERRY_OK;
    if (req->license_key[0] != '\0' && strcmp(req->license_key, resp->license->license_key) != 0) {
        /* The agent holds another key: it learns the one in force (and that its own is not). */
        resp->valid = false;
    }
    if ((left = hub_arena_alloc(&f->arena, sizeof(*left))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    google__protobuf__duration__init(left);
    {
        int64_t ends = hub_ts_ms(resp->license->ends_at), starts = hub_ts_ms(resp->license->starts_at);
        int st = resp->license->status;
        left->seconds = ends > now ? (ends - now) / 1000 : 0;
        resp->valid =
            (st == LIC_ACTIVE || st == LIC_GRACE) && now >= starts &&
            (req->license_key[0] == '\0' || strcmp(req->license_key, resp->license->license_key) == 0);
    }
    resp->remaining = left;
    return FERRY_OK;
}

void hub_licenses_bind(ferry_hub_t *hub)
{
    hub->admin.create_license = create_license;
    hub->admin.list_licenses = list_licenses;
    hub->admin.get_license = get_license;
    hub->admin.update_license = update_license;
    hub->admin.revoke_license = revoke_license;
    hub->agent.get_license_status = get_license_status;
}
