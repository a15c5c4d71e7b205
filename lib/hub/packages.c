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
#include "auth_internal.h"
#include "hub_pkg.h"
#include "hub_sql.h" /* not yet on a repository: scripts/check-layering.sh allow-list */

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
    if ((rc = ferry_pkg_manifest(pkg, &man, err)) != FERRY_OK) {
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

#define PACKAGE_SELECT                                                                                       \
    "SELECT p.id, p.version, p.v_major, p.v_minor, p.v_patch, p.v_revision, p.v_build, p.description,"       \
    " p.type, p.size, p.sha256, p.manifest, p.signature, p.key_id, p.created_at, a.token_id"                 \
    " FROM package p LEFT JOIN admin_token a ON a.id = p.created_by"

static void read_package(hub_arena_t *a, sqlite3_stmt *st, Ferry__V1__Package *p)
{
    Ferry__V1__Version *v = hub_arena_alloc(a, sizeof(*v));
    Ferry__V1__SignedManifest *sm = hub_arena_alloc(a, sizeof(*sm));
    const void *mb = sqlite3_column_blob(st, 11);
    size_t ml = (size_t)sqlite3_column_bytes(st, 11);
    const void *sb = sqlite3_column_blob(st, 12);
    size_t sl = (size_t)sqlite3_column_bytes(st, 12);

    ferry__v1__package__init(p);
    p->version = hub_arena_strdup(a, (const char *)sqlite3_column_text(st, 1));
    if (v != NULL) {
        ferry__v1__version__init(v);
        v->major = (uint32_t)sqlite3_column_int64(st, 2);
        v->minor = (uint32_t)sqlite3_column_int64(st, 3);
        v->patch = (uint32_t)sqlite3_column_int64(st, 4);
        v->revision = (uint32_t)sqlite3_column_int64(st, 5);
        v->build = (uint32_t)sqlite3_column_int64(st, 6);
        p->version_info = v;
    }
    p->description = hub_arena_strdup(a, (const char *)sqlite3_column_text(st, 7));
    p->type = sqlite3_column_int(st, 8);
    p->size = (uint64_t)sqlite3_column_int64(st, 9);
    p->sha256 = hub_arena_strdup(a, (const char *)sqlite3_column_text(st, 10));
    p->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 14));
    p->created_by = hub_arena_strdup(a, (const char *)sqlite3_column_text(st, 15));
    if (sm != NULL) {
        ferry__v1__signed_manifest__init(sm);
        uint8_t *mcopy = hub_arena_alloc(a, ml + 1), *scopy = hub_arena_alloc(a, sl + 1);
        if (mcopy != NULL && scopy != NULL) {
            if (ml > 0)
                memcpy(mcopy, mb, ml);
            if (sl > 0)
                memcpy(scopy, sb, sl);
            sm->manifest.data = mcopy;
            sm->manifest.len = ml;
            sm->signature.data = scopy;
            sm->signature.len = sl;
        }
        sm->key_id = hub_arena_strdup(a, (const char *)sqlite3_column_text(st, 13));
        p->signed_manifest = sm;
        /* The parts come from the signed bytes themselves: what agents will verify. */
        Ferry__V1__PackageManifest *m = ferry__v1__package_manifest__unpack(NULL, ml, mb);
        if (m != NULL) {
            p->n_parts = m->n_parts;
            p->parts = m->parts;
            hub_arena_own(a, &m->base);
        }
    }
}

ferry_err_code_t hub_package_load(ferry_hub_t *hub, hub_arena_t *a, const char *version,
                                  Ferry__V1__Package *out, int64_t *package_id, char *blob_sha,
                                  ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int s;
    static const char sql[] = PACKAGE_SELECT " WHERE p.version = ?";
    if ((rc = hub_prepare_cached(hub, sql, &st, "load package", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC);
    if ((s = sqlite3_step(st)) != SQLITE_ROW) {
        rc = s == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no package version '%s'", version)
                              : ferry_err_set(err, FERRY_E_IO, "load package: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
    read_package(a, st, out);
    if (package_id != NULL)
        *package_id = sqlite3_column_int64(st, 0);
    if (blob_sha != NULL)
        snprintf(blob_sha, FERRY_SHA256_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 10));
    rc = a->failed ? ferry_err_set(err, FERRY_E_NOMEM, "load package: out of memory") : FERRY_OK;
out:
    hub_stmt_release(hub, st);
    return rc;
}

/* ---- uploads --------------------------------------------------------------------------------- */

typedef struct upload_info {
    char purpose[16];
    char status[16];
    uint64_t expected_size;
    char expected_sha[FERRY_SHA256_HEX_LEN + 1];
    int64_t expires_at;
} upload_info_t;

/* Caller holds the DB lock. */
static ferry_err_code_t upload_get(ferry_hub_t *hub, const char *id, upload_info_t *u, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int s;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT purpose, status, expected_size, expected_sha256, expires_at FROM upload WHERE id = ?", -1,
            &st, NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_IO, "upload: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    if (s != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "package") != 0) {
        rc = s == SQLITE_ROW || s == SQLITE_DONE
                 ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no package upload '%.64s'", id)
                 : ferry_err_set(err, FERRY_E_IO, "upload: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
    snprintf(u->purpose, sizeof(u->purpose), "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(u->status, sizeof(u->status), "%s", (const char *)sqlite3_column_text(st, 1));
    u->expected_size = (uint64_t)sqlite3_column_int64(st, 2);
    snprintf(u->expected_sha, sizeof(u->expected_sha), "%s", (const char *)sqlite3_column_text(st, 3));
    u->expires_at = sqlite3_column_int64(st, 4);
    rc = FERRY_OK;
out:
    sqlite3_finalize(st);
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

static void create_package_upload_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreatePackageUploadRequest *req = vreq;
    Ferry__V1__CreatePackageUploadResponse resp = FERRY__V1__CREATE_PACKAGE_UPLOAD_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    uint8_t rnd[16];
    char id[33], target[48];
    int64_t now = hub_now_ms();
    const hub_principal_t *who = hub_principal(call);
    bool locked = false, in_tx = false, begun = false;

    if (req->size == 0 || req->size > FERRY_BLOB_MAX_UPLOAD) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "size %" PRIu64 " must be between 1 and %llu bytes",
                      req->size, (unsigned long long)FERRY_BLOB_MAX_UPLOAD);
        goto fail;
    }
    if (req->sha256[0] != '\0' && !sha_hex_ok(req->sha256)) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "sha256 '%.80s' is not 64 lowercase hex digits",
                      req->sha256);
        goto fail;
    }
    if (strlen(req->file_name) > 255) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "file_name longer than 255 bytes");
        goto fail;
    }
    if (ferry_random_bytes(rnd, sizeof(rnd), &err) != FERRY_OK)
        goto fail;
    ferry_hex_encode(rnd, sizeof(rnd), id);
    snprintf(target, sizeof(target), "upload:%s", id);
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO upload (id, purpose, file_name, expected_size, expected_sha256, created_by,"
            " created_at, expires_at) VALUES (?, 'package', ?, ?, ?, ?, ?, ?)",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, req->file_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)req->size);
    sqlite3_bind_text(st, 4, req->sha256, -1, SQLITE_STATIC);
    if (who != NULL && who->kind == HUB_PRINCIPAL_ADMIN)
        sqlite3_bind_int64(st, 5, who->row_id);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, now + (int64_t)hub->cfg.upload_ttl_s * 1000);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    st = NULL;
    if (ferry_blob_upload_begin(hub->blobs, id, &err) != FERRY_OK)
        goto fail;
    begun = true;
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK || hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = false;
    hub_db_unlock(hub);
    locked = false;
    resp.upload_id = id;
    if (make_target(hub, &a, id, 0, &resp.target, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    ferry_v1_admin_service_create_package_upload_reply(call, &resp);
    goto out;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "create upload: %s", sqlite3_errmsg(hub->db));
fail:
    sqlite3_finalize(st);
    st = NULL;
    if (in_tx)
        hub_tx_rollback(hub);
    if (begun)
        ferry_blob_upload_abort(hub->blobs, id, NULL);
    hub_fail(call, &err);
out:
    if (locked)
        hub_db_unlock(hub);
    hub_arena_free(&a);
}

static void get_package_upload_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetPackageUploadRequest *req = vreq;
    Ferry__V1__GetPackageUploadResponse resp = FERRY__V1__GET_PACKAGE_UPLOAD_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    upload_info_t u;
    uint64_t got = 0;
    ferry_err_code_t rc;

    hub_db_lock(hub);
    rc = upload_get(hub, req->upload_id, &u, &err);
    hub_db_unlock(hub);
    if (rc != FERRY_OK)
        goto fail;
    if (strcmp(u.status, "open") != 0 && strcmp(u.status, "committed") != 0) {
        ferry_err_set(
            &err, FERRY_E_PRECONDITION,
            "upload '%.64s' is %s (refused at commit or expired): its bytes are gone, start a new upload",
            req->upload_id, u.status);
        goto fail;
    }
    resp.upload_id = req->upload_id;
    resp.size = u.expected_size;
    resp.committed = strcmp(u.status, "committed") == 0;
    if (resp.committed)
        got = u.expected_size;
    else if (ferry_blob_upload_offset(hub->blobs, req->upload_id, &got, &err) != FERRY_OK)
        goto fail;
    resp.received_bytes = got;
    if (!resp.committed && make_target(hub, &a, req->upload_id, got, &resp.target, &err) != FERRY_OK)
        goto fail;
    ferry_v1_admin_service_get_package_upload_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

/* Removes blob |sha| unless a package or a file references it (DB lock held). */
static void drop_blob_if_unused(ferry_hub_t *hub, const char *sha)
{
    sqlite3_stmt *st = NULL;
    char path[PATH_MAX];
    bool used = true;
    if (sqlite3_prepare_v2(hub->db,
                           "SELECT (SELECT count(*) FROM package WHERE sha256 = ?1) + (SELECT count(*) FROM"
                           " report_file WHERE blob_sha256 = ?1)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
        used = sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 0;
    }
    sqlite3_finalize(st);
    if (!used && ferry_blob_path(hub->blobs, sha, path, sizeof(path), NULL) == FERRY_OK)
        unlink(path);
}

static ferry_err_code_t version_known(ferry_hub_t *hub, const char *version, bool *known, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    if (sqlite3_prepare_v2(hub->db, "SELECT count(*) FROM package WHERE version = ?", -1, &st, NULL) !=
            SQLITE_OK ||
        (sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC), sqlite3_step(st)) != SQLITE_ROW)
        rc = ferry_err_set(err, FERRY_E_IO, "version lookup: %s", sqlite3_errmsg(hub->db));
    else
        *known = sqlite3_column_int64(st, 0) > 0;
    sqlite3_finalize(st);
    return rc;
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
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    ferry_version_t ver;
    upload_info_t u;
    part_t parts[4];
    size_t n_parts = 0, mlen;
    uint64_t got = 0, size = 0;
    uint8_t *mbuf = NULL, sig[FERRY_ED25519_SIG_LEN];
    char sha[FERRY_SHA256_HEX_LEN + 1] = "", part_path[PATH_MAX], tmp_dir[PATH_MAX], key_id[17];
    char target[96];
    int64_t now = hub_now_ms();
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
    hub_db_lock(hub);
    ferry_err_code_t rc = upload_get(hub, req->upload_id, &u, &err);
    if (rc == FERRY_OK)
        rc = version_known(hub, req->version, &known, &err);
    hub_db_unlock(hub);
    if (rc != FERRY_OK)
        goto fail;
    if (known) {
        ferry_err_set(&err, FERRY_E_VERSION_DUPLICATE, "package version %s already exists", req->version);
        goto fail;
    }
    if (strcmp(u.status, "open") != 0) {
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
    if (ferry_blob_upload_commit(hub->blobs, req->upload_id, u.expected_sha[0] ? u.expected_sha : NULL,
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

    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, description,"
            " type, size, sha256, has_server, has_client, has_schema_sql, has_data_sql, manifest,"
            " signature, key_id, created_by, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    bool has[5] = {false};
    for (size_t i = 0; i < n_parts; i++)
        has[parts[i].kind] = true;
    sqlite3_bind_text(st, 1, req->version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ver.major);
    sqlite3_bind_int64(st, 3, ver.minor);
    sqlite3_bind_int64(st, 4, ver.patch);
    sqlite3_bind_int64(st, 5, ver.revision);
    sqlite3_bind_int64(st, 6, ver.build);
    sqlite3_bind_text(st, 7, req->description, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, type);
    sqlite3_bind_int64(st, 9, (int64_t)size);
    sqlite3_bind_text(st, 10, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, has[FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP]);
    sqlite3_bind_int(st, 12, has[FERRY__V1__PART_KIND__PART_KIND_CLIENT_ZIP]);
    sqlite3_bind_int(st, 13, has[FERRY__V1__PART_KIND__PART_KIND_SCHEMA_SQL]);
    sqlite3_bind_int(st, 14, has[FERRY__V1__PART_KIND__PART_KIND_DATA_SQL]);
    sqlite3_bind_blob(st, 15, mbuf, (int)mlen, SQLITE_STATIC);
    sqlite3_bind_blob(st, 16, sig, sizeof(sig), SQLITE_STATIC);
    sqlite3_bind_text(st, 17, key_id, -1, SQLITE_STATIC);
    if (who != NULL && who->kind == HUB_PRINCIPAL_ADMIN)
        sqlite3_bind_int64(st, 18, who->row_id);
    else
        sqlite3_bind_null(st, 18);
    sqlite3_bind_int64(st, 19, now);
    int s = sqlite3_step(st);
    if (s == SQLITE_CONSTRAINT) {
        ferry_err_set(&err, FERRY_E_VERSION_DUPLICATE, "package version %s already exists", req->version);
        goto fail;
    }
    if (s != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(hub->db, "UPDATE upload SET status = 'committed', blob_sha256 = ? WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, req->upload_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    st = NULL;
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK || hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = false;
    blob_made = false; /* owned by the package row now */
    if (hub_package_load(hub, &a, req->version, &pkg, NULL, NULL, &err) != FERRY_OK) {
        hub_db_unlock(hub);
        locked = false;
        if (claimed) { /* before answering: the client may retry at once */
            hub_upload_release(req->upload_id);
            claimed = false;
        }
        hub_fail(call, &err);
        goto out;
    }
    hub_db_unlock(hub);
    locked = false;
    if (claimed) { /* before answering: the client may retry at once */
        hub_upload_release(req->upload_id);
        claimed = false;
    }
    resp.package = &pkg;
    ferry_v1_admin_service_commit_package_reply(call, &resp);
    goto out;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "commit package: %s", sqlite3_errmsg(hub->db));
fail:
    sqlite3_finalize(st);
    st = NULL;
    /* Refused on content (set only while the DB lock is not held): nothing of the upload
     * stays on disk, the client starts a new one. */
    if (refused && claimed && !locked && hub_upload_refuse(hub, req->upload_id, u.expected_size, true)) {
        char why[FERRY_ERR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", err.msg);
        ferry_err_set(&err, err.code, "%s (upload '%.64s' discarded: start a new upload)", why,
                      req->upload_id);
    }
    if (!locked) {
        hub_db_lock(hub);
        locked = true;
    }
    if (in_tx)
        hub_tx_rollback(hub);
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
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
    if (claimed)
        hub_upload_release(req->upload_id);
    free(mbuf);
    hub_arena_free(&a);
}

static void *package_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__Package *p = hub_arena_alloc(a, sizeof(*p));
    (void)ctx;
    (void)err;
    if (p != NULL)
        read_package(a, st, p);
    return p;
}

static void list_packages_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListPackagesRequest *req = vreq;
    Ferry__V1__ListPackagesResponse resp = FERRY__V1__LIST_PACKAGES_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    hub_list_t l = {HUB_DB_MAIN, "list packages",    hub_page_limit(req->page_size),
                    0,           HUB_PAGE_BY_OFFSET, package_row,
                    NULL};

    hub_query_text(&q,
                   PACKAGE_SELECT " WHERE (?1 = '' OR instr(p.version, ?1) > 0) ORDER BY p.v_major DESC,"
                                  " p.v_minor DESC, p.v_patch DESC, p.v_revision DESC, p.v_build DESC"
                                  " LIMIT ?2 OFFSET ?3",
                   req->query);
    if (hub_page_token_read(req->page_token, &l.offset, &err) != FERRY_OK ||
        hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    resp.packages = (Ferry__V1__Package **)rows.items;
    resp.n_packages = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_packages_reply(call, &resp);
out:
    hub_arena_free(&a);
}

static void get_package_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetPackageRequest *req = vreq;
    Ferry__V1__GetPackageResponse resp = FERRY__V1__GET_PACKAGE_RESPONSE__INIT;
    Ferry__V1__Package p;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    ferry_err_code_t rc;

    hub_db_lock(hub);
    rc = hub_package_load(hub, &a, req->version, &p, NULL, NULL, &err);
    hub_db_unlock(hub);
    if (rc != FERRY_OK || hub_blob_download_link(hub, &a, 0, p.sha256, &resp.download, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    resp.package = &p;
    ferry_v1_admin_service_get_package_reply(call, &resp);
out:
    hub_arena_free(&a);
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

/* The id of enabled customer |code| (DB lock held); NOT_FOUND / PRECONDITION naming customer_code. */
static ferry_err_code_t export_customer(ferry_hub_t *hub, const char *code, int64_t *id, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int s;

    *id = 0;
    if ((rc = hub_check_code("customer_code", code, err)) != FERRY_OK ||
        (rc = hub_prepare(hub->db, "SELECT id, disabled FROM customer WHERE code = ?", &st, "customer",
                          err)) != FERRY_OK)
        goto out;
    hub_bind_text(st, 1, code);
    if ((s = sqlite3_step(st)) != SQLITE_ROW) {
        rc = s == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "customer_code: no customer '%s'", code)
                              : hub_sql_err(hub->db, "customer", err);
        goto out;
    }
    if (sqlite3_column_int(st, 1) != 0) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION, "customer_code: customer '%s' is disabled", code);
        goto out;
    }
    *id = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

/*
 * ExportPackage: a manifest signed now for no task and no node (task kind UPDATE),
 * limited to customer_code when given, valid for valid_for; and a signed link to the
 * zip from the storage in effect for that customer (else the global one). Nothing is
 * stored but the audit row.
 */
static void export_package_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ExportPackageRequest *req = vreq;
    Ferry__V1__ExportPackageResponse resp = FERRY__V1__EXPORT_PACKAGE_RESPONSE__INIT;
    Ferry__V1__Package pkg = FERRY__V1__PACKAGE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    int64_t now = hub_now_ms(), valid_ms = 0, customer_id = 0;
    const char *customer = req->customer_code != NULL ? req->customer_code : "";
    char target[96];
    bool locked = false;

    snprintf(target, sizeof(target), "package:%.80s", req->version != NULL ? req->version : "");
    hub_audit_target(call, target); /* a failure's audit row names it too */
    if (req->version == NULL || req->version[0] == '\0') {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "version: required");
        goto fail;
    }
    if (export_validity(req->valid_for, &valid_ms, &err) != FERRY_OK)
        goto fail;
    hub_db_lock(hub);
    locked = true;
    if ((customer[0] != '\0' && export_customer(hub, customer, &customer_id, &err) != FERRY_OK) ||
        hub_package_load(hub, &a, req->version, &pkg, NULL, NULL, &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    hub_manifest_binding_t b = {"", "", FERRY__V1__TASK_KIND__TASK_KIND_UPDATE, customer, now + valid_ms};
    if (hub_blob_download_link(hub, &a, customer_id, pkg.sha256, &resp.download, &err) != FERRY_OK ||
        hub_manifest_sign(hub, &a, &pkg, &b, now, &resp.signed_manifest, &err) != FERRY_OK)
        goto fail;
    hub_db_lock(hub);
    locked = true;
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    resp.package = &pkg;
    ferry_v1_admin_service_export_package_reply(call, &resp);
    goto out;
fail:
    if (locked) {
        hub_db_unlock(hub);
        locked = false;
    }
    hub_fail_named(call, &err);
out:
    hub_arena_free(&a);
}

HUB_OFFLOADED(create_package_upload, Ferry__V1__CreatePackageUploadRequest)
HUB_OFFLOADED(get_package_upload, Ferry__V1__GetPackageUploadRequest)
HUB_OFFLOADED(commit_package, Ferry__V1__CommitPackageRequest)
HUB_OFFLOADED(list_packages, Ferry__V1__ListPackagesRequest)
HUB_OFFLOADED(get_package, Ferry__V1__GetPackageRequest)
HUB_OFFLOADED(export_package, Ferry__V1__ExportPackageRequest)

void hub_packages_bind(ferry_hub_t *hub)
{
    hub->admin.create_package_upload = create_package_upload;
    hub->admin.get_package_upload = get_package_upload;
    hub->admin.commit_package = commit_package;
    hub->admin.list_packages = list_packages;
    hub->admin.get_package = get_package;
    hub->admin.export_package = export_package;
}
