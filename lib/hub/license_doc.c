/*
 * The licence document (ferry.v1.LicenseDocument) of one node, built from the STORED
 * licence row.
 *
 * Its own file, below both of its users: the fleet table (fleet_status.c) keeps each
 * node's document digest, and licenses.c signs the document and serves it; licenses.c
 * also tells the table about licence changes, so the document cannot live in either
 * without the two calling each other.
 *
 * The document is deterministic (no signing time in it): the same revision for the
 * same node gives the same bytes and the same SHA-256, which is how an idle CheckIn
 * tells from memory that the agent already holds the current one.
 */
#include <string.h>

#include "ferry/hash.h"
#include "hub_fleet.h"

#define LIC_DOC_MAX 8192 /* bytes of one packed document */

/*
 * Packs the document of licence |l| (STORED status) for node |node_code| into |a|;
 * |sha| receives its SHA-256.
 */
static ferry_err_code_t pack_document(hub_arena_t *a, const Ferry__V1__License *l, const char *node_code,
                                      ProtobufCBinaryData *out, uint8_t sha[32], ferry_err_t *err)
{
    Ferry__V1__LicenseDocument d = FERRY__V1__LICENSE_DOCUMENT__INIT;
    size_t len;

    d.license_id = l->id;
    d.license_key = l->license_key;
    d.customer_code = l->customer_code;
    d.node_code = (char *)node_code;
    d.type = l->type;
    d.starts_at = l->starts_at;
    d.ends_at = l->ends_at;
    d.max_users = l->max_users;
    d.max_companies = l->max_companies;
    d.features = l->features;
    d.n_features = l->n_features;
    d.status = l->status;
    d.offline_grace = l->offline_grace;
    d.issued_at = l->updated_at;
    d.revision = l->revision;
    len = ferry__v1__license_document__get_packed_size(&d);
    if (len > LIC_DOC_MAX)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "licence document of %zu bytes exceeds %d", len,
                             LIC_DOC_MAX);
    if ((out->data = hub_arena_alloc(a, len + 1)) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "licence document: out of memory");
    out->len = ferry__v1__license_document__pack(&d, out->data);
    {
        ferry_sha256_t *h = ferry_sha256_new();
        if (h == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "licence document: out of memory");
        ferry_sha256_update(h, out->data, out->len);
        ferry_sha256_final(h, sha);
        ferry_sha256_free(h);
    }
    return FERRY_OK;
}

ferry_err_code_t hub_license_doc_load(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id, int64_t customer_id,
                                      const char *node_code, Ferry__V1__License **lic,
                                      ProtobufCBinaryData *doc, uint8_t sha[32], ferry_err_t *err)
{
    ferry_store_license_meta_t meta;
    ferry_err_code_t rc;

    *lic = NULL;
    doc->len = 0;
    doc->data = NULL;
    rc = ferry_store_license_for_node_ro(hub->store, a, node_id, customer_id, lic, &meta, err);
    if (rc == FERRY_OK && *lic != NULL)
        rc = pack_document(a, *lic, node_code, doc, sha, err);
    return rc;
}
