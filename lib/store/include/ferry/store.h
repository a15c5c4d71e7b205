/**
 * @file store.h
 * The server's store: the one owner of its database connections, the writer lock,
 * transactions and prepared statements. Callers see no SQL: the repositories
 * (ferry/store/<aggregate>.h) take and return plain C structs and protobuf-c messages
 * allocated in a ferry_arena_t, so a different database can implement them later
 * without touching a handler.
 *
 * Concurrency: one read-write connection serialized by the store lock (hold it for
 * the whole of a write transaction: ferry_store_lock, ferry_store_tx_begin ...
 * ferry_store_tx_commit, ferry_store_unlock), and one read-only connection (WAL
 * readers never wait for the writer) serialized by its own mutex, used by the
 * repositories' "_ro" reads, which take that mutex themselves. A repository function
 * without "_ro" in its name must be called with the store lock held.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/arena.h"
#include "ferry/err.h"

typedef struct ferry_store ferry_store_t;

/**
 * Opens (creating if needed, migrating to the newest schema: ferry_db_open) the
 * database at |path|. The read-only connection is opened on first use. *out is
 * freed with ferry_store_free().
 */
ferry_err_code_t ferry_store_open(const char *path, ferry_store_t **out, ferry_err_t *err);

/** Closes both connections and finalizes every cached statement; NULL is a no-op. */
void ferry_store_free(ferry_store_t *s);

/** The writer lock: held for the whole of a write transaction. */
void ferry_store_lock(ferry_store_t *s);
void ferry_store_unlock(ferry_store_t *s);

/** Begins a write transaction (BEGIN IMMEDIATE). Store lock held. */
ferry_err_code_t ferry_store_tx_begin(ferry_store_t *s, ferry_err_t *err);
/** Commits; on failure rolls back and returns FERRY_E_IO. Store lock held. */
ferry_err_code_t ferry_store_tx_commit(ferry_store_t *s, ferry_err_t *err);
/** Rolls back the open transaction, if any. Store lock held. */
void ferry_store_tx_rollback(ferry_store_t *s);
/** True while a transaction is open on the writer connection. Store lock held. */
bool ferry_store_in_tx(ferry_store_t *s);

/** Unix time in milliseconds (what every *_at column stores). */
int64_t ferry_store_now_ms(void);

/* ---- pages --------------------------------------------------------------------------------- */

#define FERRY_STORE_PAGE_DEFAULT 100  /**< page size when a request says 0 (or less) */
#define FERRY_STORE_PAGE_MAX     1000 /**< largest page a list returns */

/** Page size from a request value: <= 0 -> FERRY_STORE_PAGE_DEFAULT, capped at FERRY_STORE_PAGE_MAX. */
int ferry_store_page_limit(int32_t requested);

/**
 * One page of a list: items are repository-specific messages; every member is owned
 * by the arena the list was given. |next_page_token| is "" on the last page.
 */
typedef struct ferry_store_page {
    void **items;
    size_t n;
    char *next_page_token;
} ferry_store_page_t;

/**
 * Page tokens are decimal numbers (an offset, or the key after which the next page
 * starts): "" -> 0; FERRY_E_INVALID_ARG for anything else.
 */
ferry_err_code_t ferry_store_page_token_read(const char *token, int64_t *out, ferry_err_t *err);

#endif
