/*
 * Packages (seed 000 §5.3, appendix A): resumable upload through signed URLs, then
 * CommitPackage, which on the worker pool:
 *   1. parses the version (E_VERSION_INVALID) and refuses a known one (E_VERSION_DUPLICATE;
 *      the UNIQUE column enforces it again at insert, against a concurrent commit);
 *   2. checks the upload is complete (received == declared size, else E_HASH_MISMATCH
 *      naming both numbers; the upload stays open so the client can resume);
 *   3. validates the zip with the shared hostile-input-safe reader (ferry/model/zipsafe.h): the outer zip
 *      and every entry name, at least one of server.zip / client.zip / 结构.sql / data.sql,
 *      inner zips open and pass the same entry checks, SQL scripts are valid UTF-8 (BOM
 *      allowed); each part's SHA-256 and size are computed streaming (E_PACKAGE_INVALID);
 *   4. moves the upload into the content-addressed blob store, which hashes it and checks
 *      the client's announced SHA-256 (E_HASH_MISMATCH keeps the upload untouched);
 *   5. builds the PackageManifest (version, size, SHA-256 of the zip and of each part),
 *      signs its serialized bytes with the hub's Ed25519 key, and inserts the package row
 *      and the audit row in one transaction.
 * A failed commit leaves no package row and no new blob.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "ferry/encoding.h"
#include "ferry/model/zipsafe.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/version.h"
#include "hub_pkg.h"
#include "ferry/store/packages.h"
#include "ferry/store/releases.h"
#include "ferry/store/uploads.h"
#include "hub_frame.h"

#define HASH_BUF (256u << 10)

/* ---- UTF-8 (pure) ---------------------------------------------------------------------------- */

bool hub_utf8_feed(hub_utf8_t *u, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len && !u->bad; i++, u->offset++) {
        uint8_t c = p[i];
        if (u->need == 0) {
            if (c < 0x80)
                continue;
            if (c >= 0xc2 && c <= 0xdf)
                u->need = 1, u->cp = c & 0x1f, u->min = 0x80;
            else if (c >= 0xe0 && c <= 0xef)
                u->need = 2, u->cp = c & 0x0f, u->min = 0x800;
            else if (c >= 0xf0 && c <= 0xf4)
                u->need = 3, u->cp = c & 0x07, u->min = 0x10000;
            else
                goto bad;
            continue;
        }
        if ((c & 0xc0) != 0x80)
            goto bad;
        u->cp = (u->cp << 6) | (c & 0x3f);
        if (--u->need == 0 && (u->cp < u->min || u->cp > 0x10ffff || (u->cp >= 0xd800 && u->cp <= 0xdfff)))
            goto bad;
        continue;
    bad:
        u->bad = true;
        u->bad_at = u->offset;
    }
    return !u->bad;
}

bool hub_utf8_finish(hub_utf8_t *u)
{
    if (!u->bad && u->need != 0) {
        u->bad = true;
        u->bad_at = u->offset;
    }
    return !u->bad;
}

/* ---- validation ------------------------------------------------------------------------------ */

typedef struct part {
    int kind;
    const char *name;
    uint64_t size;
    char sha[FERRY_SHA256_HEX_LEN + 1];
} part_t;

static const struct {
    int kind;
    const char *name;
    bool is_zip;
} part_names[] = {
    {FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP, FERRY_PKG_SERVER_ZIP, true},
    {FERRY__V1__PART_KIND__PART_KIND_CLIENT_ZIP, FERRY_PKG_CLIENT_ZIP, true},
    {FERRY__V1__PART_KIND__PART_KIND_SCHEMA_SQL, FERRY_PKG_SCHEMA_SQL, false},
    {FERRY__V1__PART_KIND__PART_KIND_DATA_SQL, FERRY_PKG_DATA_SQL, false},
};

/*
 * Streams entry |name| of the zip at |path| (already validated by zipsafe) through
 * SHA-256 and, for SQL scripts, the UTF-8 check. libzip verifies the CRC at the end.
 */
static ferry_err_code_t hash_part(zip_t *z, const char *name, bool sql, part_t *out, ferry_err_t *err)
{
    zip_stat_t zs;
    zip_file_t *f = NULL;
    ferry_sha256_t *h = NULL;
    uint8_t *buf = NULL, digest[FERRY_SHA256_LEN];
    hub_utf8_t u = {0};
    uint64_t total = 0;
    ferry_err_code_t rc;
    zip_int64_t idx = zip_name_locate(z, name, ZIP_FL_ENC_RAW);

    if (idx < 0 || zip_stat_index(z, (zip_uint64_t)idx, 0, &zs) != 0) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "package entry '%s' cannot be read", name);
        goto out;
    }
    if ((buf = malloc(HASH_BUF)) == NULL || (h = ferry_sha256_new()) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "hash '%s': out of memory", name);
        goto out;
    }
    if ((f = zip_fopen_index(z, (zip_uint64_t)idx, 0)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "package entry '%s': %s", name, zip_strerror(z));
        goto out;
    }
    for (;;) {
        zip_int64_t n = zip_fread(f, buf, HASH_BUF);
        if (n < 0) {
            rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "package entry '%s' is corrupt: %s", name,
                               zip_file_strerror(f));
            goto out;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        ferry_sha256_update(h, buf, (size_t)n);
        /* A BOM is valid UTF-8 itself, so it needs no special case. */
        if (sql && !hub_utf8_feed(&u, buf, (size_t)n)) {
            rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "'%s' is not valid UTF-8 (byte %" PRIu64 ")",
                               name, u.bad_at);
            goto out;
        }
    }
    if (sql && !hub_utf8_finish(&u)) {
        rc =
            ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                          "'%s' is not valid UTF-8 (truncated sequence at byte %" PRIu64 ")", name, u.bad_at);
        goto out;
    }
    if (total != zs.size) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "package entry '%s' declares %" PRIu64 " bytes but holds %" PRIu64, name,
                           (uint64_t)zs.size, total);
        goto out;
    }
    ferry_sha256_final(h, digest);
    ferry_hex_encode(digest, sizeof(digest), out->sha);
    out->size = total;
    rc = FERRY_OK;
out:
    if (f != NULL)
        zip_fclose(f);
    ferry_sha256_free(h);
    free(buf);
    return rc;
}

/*
 * Validates the package zip at |path| and fills |parts| (up to 4) in appendix A order.
 * |tmp_dir| receives temporary copies of compressed inner zips while they are checked.
 */
static ferry_err_code_t validate_package(const char *path, const char *tmp_dir, part_t parts[4],
                                         size_t *n_parts, ferry_err_t *err)
{
    ferry_zip_t *pkg = NULL, *inner = NULL;
    ferry_pkg_manifest_t man;
    zip_t *z = NULL;
    int zerr = 0;
    ferry_err_code_t rc;
    bool present[4];

    *n_parts = 0;
    /* Labelled "package": the reader's messages name the package and the entry, never
     * where the upload sits in the data dir (members read "package!server.zip"). */
    if ((rc = ferry_zip_open_as(path, "package", NULL, 0, &pkg, err)) != FERRY_OK) {
        /* Prefix and recode in place: formatting err->msg into itself would overlap. */
        if (rc != FERRY_E_PACKAGE_INVALID) {
            ferry_err_prefix(err, "package is not a readable zip");
            rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
        }
        goto out;
    }
    if (ferry_pkg_manifest(pkg, &man, err) != FERRY_OK) {
        /* A hooks.json refusal names the field (ferry/model/hooks.h): keep that message. */
        if (err != NULL &&
            strncmp(err->msg, FERRY_PKG_HOOKS_JSON ":", strlen(FERRY_PKG_HOOKS_JSON ":")) == 0) {
            rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
            goto out;
        }
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "package holds none of server.zip, client.zip, \xe7\xbb\x93\xe6\x9e\x84.sql, "
                           "data.sql at its top level");
        goto out;
    }
    present[0] = man.has_server_zip, present[1] = man.has_client_zip;
    present[2] = man.has_schema_sql, present[3] = man.has_data_sql;
    if ((z = zip_open(path, ZIP_RDONLY, &zerr)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "package is not a readable zip (libzip error %d)",
                           zerr);
        goto out;
    }
    for (size_t i = 0; i < 4; i++) {
        if (!present[i])
            continue;
        if (part_names[i].is_zip) {
            if ((rc = ferry_zip_open_member(pkg, part_names[i].name, tmp_dir, NULL, 0, &inner, err)) !=
                FERRY_OK) {
                if (rc == FERRY_E_NOSPACE || rc == FERRY_E_IO) {
                    /* The server's own failure (its temporary copy): the log keeps the
                     * paths, the client learns which part could not be checked. */
                    FERRY_WARN("package validation: %s: %s", part_names[i].name, err->msg);
                    ferry_err_set(err, rc, "%s: the server could not check it (%s; see ferryd's log)",
                                  part_names[i].name,
                                  rc == FERRY_E_NOSPACE ? "no space left on the server" : "server I/O error");
                } else {
                    rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
                    ferry_err_prefix(err, "%s", part_names[i].name);
                }
                goto out;
            }
            ferry_zip_close(inner);
            inner = NULL;
        }
        parts[*n_parts].kind = part_names[i].kind;
        parts[*n_parts].name = part_names[i].name;
        if ((rc = hash_part(z, part_names[i].name, !part_names[i].is_zip, &parts[*n_parts], err)) != FERRY_OK)
            goto out;
        (*n_parts)++;
    }
    rc = FERRY_OK;
out:
    ferry_zip_close(inner);
    if (z != NULL)
        zip_discard(z);
    ferry_zip_close(pkg);
    return rc;
}

/*
 * Last guard before a CommitPackage refusal leaves: a message naming a path in the data
 * dir (an upload's .part file, the blob store, tmp/) is logged in full and replaced by
 * one naming the upload; the culprit inside the package is named by the validators
 * above, which never see a path.
 */
static void hide_server_paths(const ferry_hub_t *hub, const char *upload_id, ferry_err_t *err)
{
    if (err->code == FERRY_OK || hub->data_dir[0] == '\0' || strstr(err->msg, hub->data_dir) == NULL)
        return;
    FERRY_WARN("commit package (upload %.64s): %s", upload_id != NULL ? upload_id : "", err->msg);
    ferry_err_set(err, err->code,
                  "upload '%.64s' could not be committed: %s on the server (see ferryd's log)",
                  upload_id != NULL ? upload_id : "", ferry_err_name(err->code));
}

/* ---- rows -> messages ---------------------------------------------------------------------- */

void hub_signing_key_id(const ferry_hub_t *hub, char out[17])
{
    uint8_t d[FERRY_SHA256_LEN];
    ferry_sha256_t *h = ferry_sha256_new();
    if (h == NULL) {
        snprintf(out, 17, "%s", "");
        return;
    }
    ferry_sha256_update(h, hub->signing_pub, sizeof(hub->signing_pub));
    ferry_sha256_final(h, d);
    ferry_sha256_free(h);
    ferry_hex_encode(d, 8, out);
}

ferry_err_code_t hub_manifest_sign(ferry_hub_t *hub, hub_arena_t *a, const Ferry__V1__Package *pkg,
                                   const hub_manifest_binding_t *b, int64_t now_ms,
                                   Ferry__V1__SignedManifest **out, ferry_err_t *err)
{
    Ferry__V1__PackageManifest man = FERRY__V1__PACKAGE_MANIFEST__INIT;
    Ferry__V1__SignedManifest *sm;
    uint8_t *mbuf, *sig;
    size_t mlen;
    char key_id[17];
    ferry_err_code_t rc;

    *out = NULL;
    if (b->expires_ms <= now_ms)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "manifest expiry must be in the future");
    man.version = pkg->version;
    man.version_info = pkg->version_info;
    man.size = pkg->size;
    man.sha256 = pkg->sha256;
    man.n_parts = pkg->n_parts;
    man.parts = pkg->parts;
    man.type = pkg->type;
    man.signed_at = hub_arena_ts(a, now_ms);
    man.expires_at = hub_arena_ts(a, b->expires_ms);
    man.task_id = (char *)(b->task_id != NULL ? b->task_id : "");
    man.node_code = (char *)(b->node_code != NULL ? b->node_code : "");
    man.task_kind = (Ferry__V1__TaskKind)b->task_kind;
    man.customer_code = (char *)(b->customer_code != NULL ? b->customer_code : "");
    mlen = ferry__v1__package_manifest__get_packed_size(&man);
    if (mlen > HUB_MANIFEST_MAX)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "manifest of %zu bytes exceeds %u", mlen,
                             HUB_MANIFEST_MAX);
    sm = hub_arena_alloc(a, sizeof(*sm));
    mbuf = hub_arena_alloc(a, mlen + 1);
    sig = hub_arena_alloc(a, FERRY_ED25519_SIG_LEN);
    if (sm == NULL || mbuf == NULL || sig == NULL || man.signed_at == NULL || man.expires_at == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "manifest: out of memory");
    ferry__v1__package_manifest__pack(&man, mbuf);
    if ((rc = ferry_signer_sign(hub->signer, mbuf, mlen, sig, err)) != FERRY_OK)
        return rc;
    hub_signing_key_id(hub, key_id);
    ferry__v1__signed_manifest__init(sm);
    sm->manifest.data = mbuf;
    sm->manifest.len = mlen;
    sm->signature.data = sig;
    sm->signature.len = FERRY_ED25519_SIG_LEN;
    sm->key_id = hub_arena_strdup(a, key_id);
    if (sm->key_id == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "manifest: out of memory");
    *out = sm;
    return FERRY_OK;
}

ferry_err_code_t hub_package_load(ferry_hub_t *hub, hub_arena_t *a, const char *version,
                                  Ferry__V1__Package *out, int64_t *package_id, char *blob_sha,
                                  ferry_err_t *err)
{
    return ferry_store_package_get(hub->store, a, version, out, package_id, blob_sha, err);
}

/* ---- uploads --------------------------------------------------------------------------------- */

/* Package upload |id| (store lock held). A node's upload is no package upload: not found. */
static ferry_err_code_t upload_get(ferry_hub_t *hub, const char *id, ferry_store_upload_t *u,
                                   ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_store_upload_get(hub->store, id, u, err);
    if (rc == FERRY_E_NOT_FOUND || (rc == FERRY_OK && strcmp(u->purpose, FERRY_STORE_UPLOAD_PACKAGE) != 0))
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no package upload '%.64s'", id);
    return rc;
}

static ferry_err_code_t make_target(ferry_hub_t *hub, hub_arena_t *a, const char *id, uint64_t received,
                                    Ferry__V1__UploadTarget **out, ferry_err_t *err)
{
    char path[96], url[1024];
    int64_t expires = 0;
    Ferry__V1__UploadTarget *t = hub_arena_alloc(a, sizeof(*t));
    if (t == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "upload target: out of memory");
    snprintf(path, sizeof(path), "/uploads/%s", id);
    /* Packages live in the global storage (seed 000 §5.3 step 3). */
    if (hub_storage_signed_url(hub, 0, "PUT", path, url, sizeof(url), &expires, err) != FERRY_OK)
        return ferry_err_prefix(err, "upload target");
    ferry__v1__upload_target__init(t);
    t->url = hub_arena_strdup(a, url);
    t->method = hub_arena_strdup(a, "PUT");
    t->expires_at = hub_arena_ts(a, hub_expiry_ms(expires));
    t->max_chunk_size = HUB_CHUNK_MAX;
    t->received_bytes = received;
    *out = t;
    return FERRY_OK;
}

static bool sha_hex_ok(const char *s)
{
    if (strlen(s) != FERRY_SHA256_HEX_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* The method rows: what the frame does around each body. CommitPackage is not framed:
 * it validates the zip (seconds for a large one) with no lock held, then writes. */
HUB_METHOD(admin, create_package_upload, Ferry__V1__CreatePackageUploadRequest,
           Ferry__V1__CreatePackageUploadResponse, HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT,
           NULL)
HUB_METHOD(admin, get_package_upload, Ferry__V1__GetPackageUploadRequest, Ferry__V1__GetPackageUploadResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, list_packages, Ferry__V1__ListPackagesRequest, Ferry__V1__ListPackagesResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, get_package, Ferry__V1__GetPackageRequest, Ferry__V1__GetPackageResponse, HUB_FRAME_OFFLOAD,
           NULL)
HUB_METHOD(admin, abort_package_upload, Ferry__V1__AbortPackageUploadRequest,
           Ferry__V1__AbortPackageUploadResponse, HUB_FRAME_OFFLOAD | HUB_FRAME_AUDIT, NULL)
HUB_METHOD(admin, export_package, Ferry__V1__ExportPackageRequest, Ferry__V1__ExportPackageResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_AUDIT, NULL)

static ferry_err_code_t create_package_upload_body(hub_frame_t *f,
                                                   const Ferry__V1__CreatePackageUploadRequest *req,
                                                   Ferry__V1__CreatePackageUploadResponse *resp,
                                                   ferry_err_t *err)
{
    ferry_store_upload_new_t row = {0};
    ferry_hub_t *hub = f->hub;
    uint8_t rnd[16];
    char *id = hub_arena_alloc(&f->arena, 33);
    ferry_err_code_t rc;

    if (id == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "create upload: out of memory");
    if (req->size == 0 || req->size > FERRY_BLOB_MAX_UPLOAD)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "size %" PRIu64 " must be between 1 and %llu bytes",
                             req->size, (unsigned long long)FERRY_BLOB_MAX_UPLOAD);
    if (req->sha256[0] != '\0' && !sha_hex_ok(req->sha256))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "sha256 '%.80s' is not 64 lowercase hex digits",
                             req->sha256);
    if (strlen(req->file_name) > 255)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "file_name longer than 255 bytes");
    row.created_by = f->me != NULL && f->me->kind == HUB_PRINCIPAL_ADMIN ? f->me->row_id : 0;
    if ((rc = hub_upload_quota_check(hub, FERRY_STORE_UPLOAD_PACKAGE, row.created_by, req->size, err)) !=
        FERRY_OK)
        return rc;
    if ((rc = ferry_random_bytes(rnd, sizeof(rnd), err)) != FERRY_OK)
        return rc;
    ferry_hex_encode(rnd, sizeof(rnd), id);
    hub_frame_target(f, "upload:%s", id);
    row.id = id;
    row.file_name = req->file_name;
    row.expected_size = req->size;
    row.expected_sha256 = req->sha256;
    row.created_at = ferry_store_now_ms();
    row.expires_at = row.created_at + (int64_t)hub->cfg.upload_ttl_s * 1000;
    if ((rc = ferry_store_package_upload_insert(f->store, &row, err)) != FERRY_OK ||
        (rc = ferry_blob_upload_begin(hub->blobs, id, err)) != FERRY_OK)
        return rc;
    /* A failure from here on rolls the row back: its (empty) bytes go too. A commit that
     * fails after this leaves an orphan file, which the upload sweep removes. */
    if ((rc = make_target(hub, &f->arena, id, 0, &resp->target, err)) != FERRY_OK) {
        ferry_blob_upload_abort(hub->blobs, id, NULL);
        return rc;
    }
    resp->upload_id = id;
    return FERRY_OK;
}

static ferry_err_code_t get_package_upload_body(hub_frame_t *f, const Ferry__V1__GetPackageUploadRequest *req,
                                                Ferry__V1__GetPackageUploadResponse *resp, ferry_err_t *err)
{
    ferry_store_upload_t u;
    uint64_t got = 0;
    ferry_err_code_t rc;

    ferry_store_lock(f->store);
    rc = upload_get(f->hub, req->upload_id, &u, err);
    ferry_store_unlock(f->store);
    if (rc != FERRY_OK)
        return rc;
    if (strcmp(u.status, FERRY_STORE_UPLOAD_OPEN) != 0 && strcmp(u.status, FERRY_STORE_UPLOAD_COMMITTED) != 0)
        return ferry_err_set(err, FERRY_E_PRECONDITION,
                             "upload '%.64s' is %s (refused at commit, aborted or expired): its bytes are "
                             "gone, start a new upload",
                             req->upload_id, u.status);
    resp->upload_id = (char *)req->upload_id;
    resp->size = u.expected_size;
    resp->committed = strcmp(u.status, FERRY_STORE_UPLOAD_COMMITTED) == 0;
    if (resp->committed)
        got = u.expected_size;
    else if ((rc = ferry_blob_upload_offset(f->hub->blobs, req->upload_id, &got, err)) != FERRY_OK)
        return rc;
    resp->received_bytes = got;
    if (!resp->committed &&
        (rc = make_target(f->hub, &f->arena, req->upload_id, got, &resp->target, err)) != FERRY_OK)
        return rc;
    return FERRY_OK;
}

/* The bytes go first, then the row (uploads.c): the audit row follows once both are done. */
static ferry_err_code_t abort_package_upload_body(hub_frame_t *f,
                                                  const Ferry__V1__AbortPackageUploadRequest *req,
                                                  Ferry__V1__AbortPackageUploadResponse *resp,
                                                  ferry_err_t *err)
{
    uint64_t bytes = 0;
    ferry_err_code_t rc;

    hub_frame_target(f, "upload:%.64s", req->upload_id);
    if (req->upload_id[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "upload_id: required");
    if ((rc = hub_upload_abort(f->hub, req->upload_id, FERRY_STORE_UPLOAD_PACKAGE, &bytes, err)) != FERRY_OK)
        return rc;
    resp->upload_id = (char *)req->upload_id;
    resp->reclaimed_bytes = bytes;
    return FERRY_OK;
}

/* Removes blob |sha| unless a package or a file references it (store lock held). */
static void drop_blob_if_unused(ferry_hub_t *hub, const char *sha)
{
    char path[PATH_MAX];
    bool used = true;
    if (ferry_store_blob_in_use(hub->store, sha, &used, NULL) == FERRY_OK && !used &&
        ferry_blob_path(hub->blobs, sha, path, sizeof(path), NULL) == FERRY_OK)
        unlink(path);
}

static void commit_package_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CommitPackageRequest *req = vreq;
    Ferry__V1__CommitPackageResponse resp = FERRY__V1__COMMIT_PACKAGE_RESPONSE__INIT;
    Ferry__V1__Package pkg;
    Ferry__V1__PackageManifest man = FERRY__V1__PACKAGE_MANIFEST__INIT;
    Ferry__V1__Version vinfo = FERRY__V1__VERSION__INIT;
    Ferry__V1__PackagePart pparts[4], *pptrs[4];
    Google__Protobuf__Timestamp signed_at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ferry_store_package_new_t row = {0};
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    ferry_version_t ver;
    ferry_store_upload_t u = {0};
    part_t parts[4];
    size_t n_parts = 0, mlen;
    uint64_t got = 0, size = 0;
    uint8_t *mbuf = NULL, sig[FERRY_ED25519_SIG_LEN];
    char sha[FERRY_SHA256_HEX_LEN + 1] = "", part_path[PATH_MAX], tmp_dir[PATH_MAX], key_id[17];
    char target[96];
    int64_t now = ferry_store_now_ms();
    int type = req->type != 0 ? (int)req->type : FERRY__V1__PACKAGE_TYPE__PACKAGE_TYPE_FULL;
    const hub_principal_t *who = hub_principal(call);
    bool claimed = false, locked = false, in_tx = false, blob_made = false, known = false;
    bool refused = false; /* on content: the upload can never commit, reclaim it */

    snprintf(target, sizeof(target), "package:%.80s", req->version);
    if (ferry_version_parse(req->version, &ver, &err) != FERRY_OK)
        goto fail;
    if (type != FERRY__V1__PACKAGE_TYPE__PACKAGE_TYPE_FULL &&
        type != FERRY__V1__PACKAGE_TYPE__PACKAGE_TYPE_INCREMENTAL) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "unknown package type %d", type);
        goto fail;
    }
    if (!hub_upload_claim(req->upload_id)) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "upload '%.64s' is busy (a chunk or another commit)",
                      req->upload_id);
        goto fail;
    }
    claimed = true;
    ferry_store_lock(hub->store);
    ferry_err_code_t rc = upload_get(hub, req->upload_id, &u, &err);
    if (rc == FERRY_OK)
        rc = ferry_store_package_exists(hub->store, req->version, &known, &err);
    ferry_store_unlock(hub->store);
    if (rc != FERRY_OK)
        goto fail;
    if (known) {
        ferry_err_set(&err, FERRY_E_VERSION_DUPLICATE, "package version %s already exists", req->version);
        goto fail;
    }
    if (strcmp(u.status, FERRY_STORE_UPLOAD_OPEN) != 0) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "upload '%s' is %s", req->upload_id, u.status);
        goto fail;
    }
    if (ferry_blob_upload_offset(hub->blobs, req->upload_id, &got, &err) != FERRY_OK)
        goto fail;
    if (got != u.expected_size) {
        ferry_err_set(&err, FERRY_E_HASH_MISMATCH,
                      "upload incomplete: received %" PRIu64 " of %" PRIu64
                      " bytes (resume the upload, then commit)",
                      got, u.expected_size);
        goto fail;
    }
    if (ferry_blob_upload_path(hub->blobs, req->upload_id, part_path, sizeof(part_path), &err) != FERRY_OK ||
        ferry_fs_join(tmp_dir, sizeof(tmp_dir), hub->data_dir, "tmp") != FERRY_OK)
        goto fail;
    if (mkdir(tmp_dir, 0700) != 0 && errno != EEXIST) {
        ferry_err_set_errno(&err, ferry_err_from_errno(errno), errno, "create %s", tmp_dir);
        goto fail;
    }
    if (validate_package(part_path, tmp_dir, parts, &n_parts, &err) != FERRY_OK) {
        refused = err.code == FERRY_E_PACKAGE_INVALID;
        goto fail;
    }
    /* Hashes while moving into the store; complete bytes that do not hash to the
     * announced SHA-256 are refused (and reclaimed below). */
    if (ferry_blob_upload_commit(hub->blobs, req->upload_id, u.expected_sha256[0] ? u.expected_sha256 : NULL,
                                 u.expected_size, sha, &size, &err) != FERRY_OK) {
        refused = err.code == FERRY_E_HASH_MISMATCH;
        goto fail;
    }
    blob_made = true;

    vinfo.major = ver.major, vinfo.minor = ver.minor, vinfo.patch = ver.patch;
    vinfo.revision = ver.revision, vinfo.build = ver.build;
    man.version = (char *)req->version;
    man.version_info = &vinfo;
    man.size = size;
    man.sha256 = sha;
    for (size_t i = 0; i < n_parts; i++) {
        ferry__v1__package_part__init(&pparts[i]);
        pparts[i].kind = parts[i].kind;
        pparts[i].name = (char *)parts[i].name;
        pparts[i].size = parts[i].size;
        pparts[i].sha256 = parts[i].sha;
        pptrs[i] = &pparts[i];
    }
    man.n_parts = n_parts;
    man.parts = pptrs;
    signed_at.seconds = now / 1000;
    signed_at.nanos = (int32_t)(now % 1000) * 1000000;
    man.signed_at = &signed_at;
    man.type = type;
    mlen = ferry__v1__package_manifest__get_packed_size(&man);
    if (mlen > HUB_MANIFEST_MAX) {
        ferry_err_set(&err, FERRY_E_TOO_LARGE, "manifest of %zu bytes exceeds %u", mlen, HUB_MANIFEST_MAX);
        goto fail;
    }
    if ((mbuf = malloc(mlen + 1)) == NULL) {
        ferry_err_set(&err, FERRY_E_NOMEM, "manifest: out of memory");
        goto fail;
    }
    ferry__v1__package_manifest__pack(&man, mbuf);
    if (ferry_signer_sign(hub->signer, mbuf, mlen, sig, &err) != FERRY_OK)
        goto fail;
    hub_signing_key_id(hub, key_id);

    row.version = req->version;
    row.major = ver.major, row.minor = ver.minor, row.patch = ver.patch;
    row.revision = ver.revision, row.build = ver.build;
    row.description = req->description;
    row.type = type;
    row.size = size;
    row.sha256 = sha;
    for (size_t i = 0; i < n_parts; i++) {
        row.has_server |= parts[i].kind == FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP;
        row.has_client |= parts[i].kind == FERRY__V1__PART_KIND__PART_KIND_CLIENT_ZIP;
        row.has_schema_sql |= parts[i].kind == FERRY__V1__PART_KIND__PART_KIND_SCHEMA_SQL;
        row.has_data_sql |= parts[i].kind == FERRY__V1__PART_KIND__PART_KIND_DATA_SQL;
    }
    row.manifest = mbuf;
    row.manifest_len = mlen;
    row.signature = sig;
    row.signature_len = sizeof(sig);
    row.key_id = key_id;
    row.created_by = who != NULL && who->kind == HUB_PRINCIPAL_ADMIN ? who->row_id : 0;
    row.created_at = now;

    ferry_store_lock(hub->store);
    locked = true;
    if (ferry_store_tx_begin(hub->store, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (ferry_store_package_insert(hub->store, &row, &err) != FERRY_OK ||
        ferry_store_upload_close(hub->store, req->upload_id, sha, NULL, &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        ferry_store_tx_commit(hub->store, &err) != FERRY_OK)
        goto fail;
    /* Committed: the blob is owned by the package row now, nothing is rolled back. */
    rc = hub_package_load(hub, &a, req->version, &pkg, NULL, NULL, &err);
    ferry_store_unlock(hub->store);
    locked = false;
    hub_upload_release(req->upload_id); /* before answering: the client may retry at once */
    claimed = false;
    if (rc != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    resp.package = &pkg;
    ferry_v1_admin_service_commit_package_reply(call, &resp);
    goto out;
fail:
    /* Refused on content (set only while the store lock is not held): nothing of the
     * upload stays on disk, the client starts a new one. */
    if (refused && claimed && !locked && hub_upload_refuse(hub, req->upload_id, u.expected_size, true)) {
        char why[FERRY_ERR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", err.msg);
        ferry_err_set(&err, err.code, "%s (upload '%.64s' discarded: start a new upload)", why,
                      req->upload_id);
    }
    if (!locked) {
        ferry_store_lock(hub->store);
        locked = true;
    }
    if (in_tx)
        ferry_store_tx_rollback(hub->store);
    if (blob_made)
        drop_blob_if_unused(hub, sha);
    {
        ferry_err_t e2 = {0};
        hub_audit(hub, call, target, ferry_err_name(err.code), &e2);
    }
    if (claimed) { /* before answering: the client may retry at once */
        hub_upload_release(req->upload_id);
        claimed = false;
    }
    hide_server_paths(hub, req->upload_id, &err);
    hub_fail(call, &err);
out:
    if (locked)
        ferry_store_unlock(hub->store);
    if (claimed)
        hub_upload_release(req->upload_id);
    free(mbuf);
    hub_arena_free(&a);
}

static ferry_err_code_t list_packages_body(hub_frame_t *f, const Ferry__V1__ListPackagesRequest *req,
                                           Ferry__V1__ListPackagesResponse *resp, ferry_err_t *err)
{
    ferry_store_page_t rows;
    ferry_err_code_t rc = ferry_store_packages_list(f->store, req->query, req->page_token, req->page_size,
                                                    &f->arena, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    resp->packages = (Ferry__V1__Package **)rows.items;
    resp->n_packages = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t get_package_body(hub_frame_t *f, const Ferry__V1__GetPackageRequest *req,
                                         Ferry__V1__GetPackageResponse *resp, ferry_err_t *err)
{
    Ferry__V1__Package *p = hub_arena_alloc(&f->arena, sizeof(*p));
    ferry_err_code_t rc;

    if (p == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "get package: out of memory");
    ferry_store_lock(f->store);
    rc = ferry_store_package_get(f->store, &f->arena, req->version, p, NULL, NULL, err);
    ferry_store_unlock(f->store);
    if (rc != FERRY_OK ||
        (rc = hub_blob_download_link(f->hub, &f->arena, 0, p->sha256, &resp->download, err)) != FERRY_OK)
        return rc;
    resp->package = p;
    return FERRY_OK;
}

/* ---- export (offline manifests) ---------------------------------------------------------------- */

/* Validity of an exported manifest: at least an hour, at most 366 days. */
#define EXPORT_VALID_MIN_MS (3600ll * 1000)
#define EXPORT_VALID_MAX_MS (366ll * 24 * 3600 * 1000)

/* valid_for in milliseconds, or FERRY_E_INVALID_ARG naming valid_for. */
static ferry_err_code_t export_validity(const Google__Protobuf__Duration *d, int64_t *ms, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;

    *ms = 0;
    if (d == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "valid_for: required (1 h .. 366 days)");
        goto out;
    }
    /* Bounded before multiplying: no overflow whatever the client sends. */
    if (d->seconds < 0 || d->seconds > EXPORT_VALID_MAX_MS / 1000 || d->nanos < 0 || d->nanos > 999999999) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "valid_for: %" PRId64 "s is outside 1 h .. 366 days (3600s .. 31622400s)",
                           (int64_t)d->seconds);
        goto out;
    }
    *ms = (int64_t)d->seconds * 1000 + d->nanos / 1000000;
    if (*ms < EXPORT_VALID_MIN_MS || *ms > EXPORT_VALID_MAX_MS)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "valid_for: %" PRId64 ".%03ds is outside 1 h .. 366 days (3600s .. 31622400s)",
                           *ms / 1000, (int)(*ms % 1000));
out:
    return rc;
}

/* The id of enabled customer |code| (store lock held); NOT_FOUND / PRECONDITION naming customer_code. */
static ferry_err_code_t export_customer(ferry_hub_t *hub, const char *code, int64_t *id, ferry_err_t *err)
{
    bool disabled = false;
    ferry_err_code_t rc;

    *id = 0;
    if ((rc = hub_check_code("customer_code", code, err)) != FERRY_OK)
        return rc;
    rc = ferry_store_release_customer(hub->store, code, id, &disabled, err);
    if (rc == FERRY_E_NOT_FOUND)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "customer_code: no customer '%s'", code);
    if (rc == FERRY_OK && disabled) {
        *id = 0;
        rc = ferry_err_set(err, FERRY_E_PRECONDITION, "customer_code: customer '%s' is disabled", code);
    }
    return rc;
}

/*
 * ExportPackage: a manifest signed now for no task and no node (task kind UPDATE),
 * limited to customer_code when given, valid for valid_for; and a signed link to the
 * zip from the storage in effect for that customer (else the global one). Nothing is
 * stored but the audit row.
 */
static ferry_err_code_t export_package_body(hub_frame_t *f, const Ferry__V1__ExportPackageRequest *req,
                                            Ferry__V1__ExportPackageResponse *resp, ferry_err_t *err)
{
    Ferry__V1__Package *pkg = hub_arena_alloc(&f->arena, sizeof(*pkg));
    int64_t now = ferry_store_now_ms(), valid_ms = 0, customer_id = 0;
    const char *customer = req->customer_code != NULL ? req->customer_code : "";
    ferry_err_code_t rc;

    hub_frame_target(f, "package:%.80s", req->version != NULL ? req->version : "");
    if (pkg == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "export package: out of memory");
    ferry__v1__package__init(pkg);
    if (req->version == NULL || req->version[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "version: required");
    if ((rc = export_validity(req->valid_for, &valid_ms, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(f->store);
    rc = customer[0] != '\0' ? export_customer(f->hub, customer, &customer_id, err) : FERRY_OK;
    if (rc == FERRY_OK)
        rc = ferry_store_package_get(f->store, &f->arena, req->version, pkg, NULL, NULL, err);
    ferry_store_unlock(f->store);
    if (rc != FERRY_OK)
        return rc;
    hub_manifest_binding_t b = {"", "", FERRY__V1__TASK_KIND__TASK_KIND_UPDATE, customer, now + valid_ms};
    if ((rc = hub_blob_download_link(f->hub, &f->arena, customer_id, pkg->sha256, &resp->download, err)) !=
            FERRY_OK ||
        (rc = hub_manifest_sign(f->hub, &f->arena, pkg, &b, now, &resp->signed_manifest, err)) != FERRY_OK)
        return rc;
    resp->package = pkg;
    return FERRY_OK;
}

HUB_OFFLOADED(commit_package, Ferry__V1__CommitPackageRequest)

void hub_packages_bind(ferry_hub_t *hub)
{
    hub->admin.create_package_upload = create_package_upload;
    hub->admin.get_package_upload = get_package_upload;
    hub->admin.commit_package = commit_package;
    hub->admin.list_packages = list_packages;
    hub->admin.get_package = get_package;
    hub->admin.export_package = export_package;
    hub->admin.abort_package_upload = abort_package_upload;
}
