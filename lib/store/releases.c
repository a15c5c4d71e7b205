/*
 * Repository: releases (see ferry/store/releases.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/store/releases.h"
#include "ferry/store_sqlite.h"

ferry_err_code_t ferry_store_release_customer(ferry_store_t *s, const char *code, int64_t *id, bool *disabled,
                                              ferry_err_t *err)
{
    static const char sql[] = "SELECT id, disabled FROM customer WHERE code = ?";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *id = 0;
    *disabled = false;
    if ((rc = ferry_store_prepare(db, sql, &st, "customer", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, code);
    if ((step = sqlite3_step(st)) != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no customer '%s'", code)
                                 : ferry_store_sql_err(db, "customer", err);
        goto out;
    }
    *id = sqlite3_column_int64(st, 0);
    *disabled = sqlite3_column_int(st, 1) != 0;
out:
    sqlite3_finalize(st);
    return rc;
}
