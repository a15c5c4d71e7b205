/*
 * Private to the SQL executors: constructors with options the public API does not
 * need to offer.
 */
#ifndef FERRY_ENGINE_SQLEXEC_INT_H
#define FERRY_ENGINE_SQLEXEC_INT_H

#include <stdbool.h>

#include "ferry/engine/sqlexec.h"

/* Like ferry_sqlexec_open_sqlite(); |create| allows a missing file (restore after loss). */
ferry_err_code_t ferry_sqlexec_open_sqlite_ex(const char *db_path, bool create, ferry_sqlexec_t **out,
                                              ferry_err_t *err);

/* Passes |msg| to the executor's sink, if any. */
void ferry_sqlexec_emit(ferry_sqlexec_t *x, const char *msg);

#endif
