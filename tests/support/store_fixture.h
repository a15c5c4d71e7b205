/**
 * @file store_fixture.h
 * A real store on a fresh temporary directory, for the store repository tests
 * (tests/unit/store_*_test.c): open, raw SQL to arrange and to look, close. Every
 * failure ck-aborts naming the SQL, so a test reads as its intent.
 */
#ifndef FERRY_TEST_STORE_FIXTURE_H
#define FERRY_TEST_STORE_FIXTURE_H

#include "ferry/store.h"

typedef struct store_fixture {
    char dir[64];   /**< /tmp/ferry-<tag>-XXXXXX */
    char path[128]; /**< <dir>/ferry.db */
    ferry_store_t *st;
} store_fixture_t;

/** Seed rows several store tests start from: customer 1 'C' and its store 1 'S'. */
#define SF_SEED_CUSTOMER_STORE                                                                               \
    "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'C', 0, 0);"              \
    "INSERT INTO store (id, customer_id, code, name, created_at, updated_at) VALUES (1, 1, 'S', 'S', 0, 0);"

/** Package 1, version '1.0.0': the row only (no blob behind it). */
#define SF_SEED_PACKAGE                                                                                      \
    "INSERT INTO package (id, version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"        \
    " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"        \
    " VALUES (1, '1.0.0', 1, 0, 0, 0, 0, 1, 'aa', 1, 0, 0, 0, x'00', x'00', 'k', 0);"

/** Creates the directory and opens ferry.db there (migrations applied); returns f->st. */
ferry_store_t *sf_open(store_fixture_t *f, const char *tag);

/** Frees the store (NULL after) and removes the directory; a closed fixture is a no-op. */
void sf_close(store_fixture_t *f);

/** Runs |sql| (several statements allowed) on |st|'s writer connection. */
void sf_exec(ferry_store_t *st, const char *sql);

/** Column 0 of the first row of |sql| as an integer; -1 when there is no row. */
long long sf_scalar(ferry_store_t *st, const char *sql);

#endif
