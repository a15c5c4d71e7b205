/*
 * The store tests' shared fixture (store_fixture.h). Test code: ck-asserts on every
 * failure instead of returning errors.
 */
#include "store_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferry/fs.h"
#include "ferry/store_sqlite.h"

ferry_store_t *sf_open(store_fixture_t *f, const char *tag)
{
    ferry_err_t e = {0};
    snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ferry.db", f->dir);
    f->st = NULL;
    ck_assert_msg(ferry_store_open(f->path, &f->st, &e) == FERRY_OK, "open %s: %s", f->path, e.msg);
    return f->st;
}

void sf_close(store_fixture_t *f)
{
    ferry_store_free(f->st);
    f->st = NULL;
    if (f->dir[0] != '\0')
        ferry_fs_rm_rf(f->dir, NULL);
    f->dir[0] = '\0';
}

void sf_exec(ferry_store_t *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(ferry_store_sqlite(st), sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg != NULL ? msg : "");
    sqlite3_free(msg);
}

long long sf_scalar(ferry_store_t *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    ck_assert_msg(sqlite3_prepare_v2(ferry_store_sqlite(st), sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(ferry_store_sqlite(st)));
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}
