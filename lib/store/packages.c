/*
 * Repository: packages (see ferry/store/packages.h).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/store/packages.h"
#include "ferry/store_sqlite.h"

#define PACKAGE_SELECT                                                                                       \
    "SELECT p.id, p.version, p.v_major, p.v_minor, p.v_patch, p.v_revision, p.v_build, p.description,"       \
    " p.type, p.size, p.sha256, p.manifest, p.signature, p.key_id, p.created_at, a.token_id"                 \
    " FROM package p LEFT JOIN admin_token a ON a.id = p.created_by"

/* A copy of a blob column in |a| (one spare byte: never a zero-sized allocation). */
static uint8_t *col_blob(ferry_arena_t *a, sqlite3_stmt *st, int i, size_t *len)
{
    const void *b = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    uint8_t *copy = ferry_arena_alloc(a, n + 1);
    *len = 0;
    if (copy == NULL)
        return NULL;
    if (n > 0 && b != NULL)
        memcpy(copy, b, n);
    *len = n;
    return copy;
}

static void read_package(ferry_arena_t *a, sqlite3_stmt *st, Ferry__V1__Package *p)
{
    Ferry__V1__Version *v = ferry_arena_alloc(a, sizeof(*v));
    Ferry__V1__SignedManifest *sm = ferry_arena_alloc(a, sizeof(*sm));

    ferry__v1__package__init(p);
    p->version = ferry_store_col_dup(a, st, 1);
    if (v != NULL) {
        ferry__v1__version__init(v);
        v->major = (uint32_t)sqlite3_column_int64(st, 2);
        v->minor = (uint32_t)sqlite3_column_int64(st, 3);
        v->patch = (uint32_t)sqlite3_column_int64(st, 4);
        v->revision = (uint32_t)sqlite3_column_int64(st, 5);
        v->build = (uint32_t)sqlite3_column_int64(st, 6);
        p->version_info = v;
    }
    p->description = ferry_store_col_dup(a, st, 7);
    p->type = sqlite3_column_int(st, 8);
    p->size = (uint64_t)sqlite3_column_int64(st, 9);
    p->sha256 = ferry_store_col_dup(a, st, 10);
    p->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 14));
    p->created_by = ferry_store_col_dup(a, st, 15);
    if (sm != NULL) {
        size_t ml = 0, sl = 0;
        uint8_t *mcopy, *scopy;
        ferry__v1__signed_manifest__init(sm);
        mcopy = col_blob(a, st, 11, &ml);
        scopy = col_blob(a, st, 12, &sl);
        if (mcopy != NULL && scopy != NULL) {
            sm->manifest.data = mcopy;
            sm->manifest.len = ml;
            sm->signature.data = scopy;
            sm->signature.len = sl;
        }
        sm->key_id = ferry_store_col_dup(a, st, 13);
        p->signed_manifest = sm;
        /* The parts come from the signed bytes themselves: what agents will verify. */
        if (mcopy != NULL) {
            Ferry__V1__PackageManifest *m = ferry__v1__package_manifest__unpack(NULL, ml, mcopy);
            if (m != NULL) {
                p->n_parts = m->n_parts;
                p->parts = m->parts;
                ferry_arena_own(a, &m->base);
            }
        }
    }
}

ferry_err_code_t ferry_store_package_insert(ferry_store_t *s, const ferry_store_package_new_t *p,
                                            ferry_err_t *err)
{
    static const char sql[] =
        "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, description,"
        " type, size, sha256, has_server, has_client, has_schema_sql, has_data_sql, manifest,"
        " signature, key_id, created_by, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db, sql, &st, "commit package", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, p->version);
    sqlite3_bind_int64(st, 2, p->major);
    sqlite3_bind_int64(st, 3, p->minor);
    sqlite3_bind_int64(st, 4, p->patch);
    sqlite3_bind_int64(st, 5, p->revision);
    sqlite3_bind_int64(st, 6, p->build);
    ferry_store_bind_text(st, 7, p->description);
    sqlite3_bind_int(st, 8, p->type);
    sqlite3_bind_int64(st, 9, (int64_t)p->size);
    ferry_store_bind_text(st, 10, p->sha256);
    sqlite3_bind_int(st, 11, p->has_server);
    sqlite3_bind_int(st, 12, p->has_client);
    sqlite3_bind_int(st, 13, p->has_schema_sql);
    sqlite3_bind_int(st, 14, p->has_data_sql);
    sqlite3_bind_blob(st, 15, p->manifest, (int)p->manifest_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 16, p->signature, (int)p->signature_len, SQLITE_STATIC);
    ferry_store_bind_text(st, 17, p->key_id);
    if (p->created_by > 0)
        sqlite3_bind_int64(st, 18, p->created_by);
    sqlite3_bind_int64(st, 19, p->created_at);
    step = sqlite3_step(st);
    if (step == SQLITE_CONSTRAINT)
        rc = ferry_err_set(err, FERRY_E_VERSION_DUPLICATE, "package version %s already exists", p->version);
    else if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "commit package", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_package_id(ferry_store_t *s, const char *version, int64_t *id, ferry_err_t *err)
{
    static const char sql[] = "SELECT id FROM package WHERE version = ?";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *id = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "package", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, version);
    if ((step = sqlite3_step(st)) == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no package version '%s'", version)
                                 : ferry_store_sql_err(db, "package", err);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_package_exists(ferry_store_t *s, const char *version, bool *known,
                                            ferry_err_t *err)
{
    static const char sql[] = "SELECT count(*) FROM package WHERE version = ?";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *known = false;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "version lookup", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, version);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "version lookup", err);
    else
        *known = sqlite3_column_int64(st, 0) > 0;
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_package_get(ferry_store_t *s, ferry_arena_t *a, const char *version,
                                         Ferry__V1__Package *out, int64_t *package_id,
                                         char blob_sha[FERRY_SHA256_HEX_LEN + 1], ferry_err_t *err)
{
    static const char sql[] = PACKAGE_SELECT " WHERE p.version = ?";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "load package", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, version);
    if ((step = sqlite3_step(st)) != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no package version '%s'", version)
                                 : ferry_store_sql_err(db, "load package", err);
        goto out;
    }
    read_package(a, st, out);
    if (package_id != NULL)
        *package_id = sqlite3_column_int64(st, 0);
    if (blob_sha != NULL)
        snprintf(blob_sha, FERRY_SHA256_HEX_LEN + 1, "%s", ferry_store_col_text(st, 10));
    if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "load package: out of memory");
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

static void *package_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__Package *p = ferry_arena_alloc(a, sizeof(*p));
    (void)ctx;
    (void)err;
    if (p != NULL)
        read_package(a, st, p);
    return p;
}

ferry_err_code_t ferry_store_packages_list(ferry_store_t *s, const char *query, const char *page_token,
                                           int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                           ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    ferry_store_list_t l = {FERRY_STORE_CONN_MAIN,
                            "list packages",
                            ferry_store_page_limit(page_size),
                            0,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            package_row,
                            NULL};
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &l.offset, err)) != FERRY_OK)
        return rc;
    ferry_store_query_text(&q,
                           PACKAGE_SELECT
                           " WHERE (?1 = '' OR instr(p.version, ?1) > 0) ORDER BY p.v_major DESC,"
                           " p.v_minor DESC, p.v_patch DESC, p.v_revision DESC, p.v_build DESC"
                           " LIMIT ?2 OFFSET ?3",
                           query != NULL ? query : "");
    return ferry_store_list(s, &l, &q, a, out, err);
}

ferry_err_code_t ferry_store_blob_in_use(ferry_store_t *s, const char *sha256, bool *used, ferry_err_t *err)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM package WHERE sha256 = ?1) + (SELECT count(*) FROM"
        " report_file WHERE blob_sha256 = ?1)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *used = true; /* when in doubt, a blob stays */
    if ((rc = ferry_store_prepare(db, sql, &st, "blob references", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, sha256);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "blob references", err);
    else
        *used = sqlite3_column_int64(st, 0) != 0;
out:
    sqlite3_finalize(st);
    return rc;
}
