/**
 * @file sqlsplit.h
 * Splits a SQL Server script into batches on `GO` lines, as sqlcmd does, streaming:
 * bytes go in by chunks of any size and each batch is handed to a callback as soon as
 * its GO line (or the end of input) is seen, so a 200 MB data.sql is never held whole.
 * Memory is bounded by the batch size cap. The splitter does no I/O of its own
 * (ferry_sqlsplit_file() is a convenience that reads a file in 64 KiB chunks).
 *
 * Rules (T-SQL / sqlcmd):
 * - A separator is a line holding only `GO` (any case), optional surrounding spaces or
 *   tabs, an optional repeat count (`GO 5`: the batch runs 5 times; 1..FERRY_SQLSPLIT_MAX_REPEAT,
 *   `GO 0` is refused), and an optional trailing `-- comment` or a block comment closed on
 *   the same line. `GO` on the first line is a separator (it ends an empty batch).
 * - Not separators: `GOTO label`, `GO;` (sqlcmd rejects a semicolon after GO and the
 *   SQL Server documentation says "Do not use a semicolon as a statement terminator
 *   after GO", so the line stays in the batch and the server reports it), `GO x`, and
 *   any GO while inside a string literal ('...' with '' escapes, N'...'), a quoted
 *   identifier ("..." with "" escapes, [...] with ]] escapes) or a block comment
 *   (slash-star ... star-slash, nested as T-SQL nests them). `--` comments end at the line end.
 * - A UTF-8 BOM at the very start is dropped; CRLF and LF both end lines (batch text
 *   keeps the original line endings; a GO line's CR is ignored).
 * - Input must be valid UTF-8, else FERRY_E_PACKAGE_INVALID naming the line.
 * - Batches holding only whitespace are skipped. A script ending inside a string,
 *   quoted identifier or block comment is refused (FERRY_E_PACKAGE_INVALID): a server
 *   would swallow every later GO, which is never what the author meant.
 */
#ifndef FERRY_ENGINE_SQLSPLIT_H
#define FERRY_ENGINE_SQLSPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

/** Default cap on one batch's size in bytes (a batch larger than this is refused). */
#define FERRY_SQLSPLIT_DEFAULT_MAX_BATCH (64u * 1024u * 1024u)
/** Largest accepted `GO n`. */
#define FERRY_SQLSPLIT_MAX_REPEAT 100000u

/** One batch, valid only during the callback. */
typedef struct ferry_sql_batch {
    const char *sql;     /**< batch text, NUL-terminated, GO line excluded */
    size_t len;          /**< strlen(sql) */
    uint64_t index;      /**< 1-based number among non-empty batches */
    uint64_t start_line; /**< 1-based line of the batch's first non-blank line */
    uint32_t repeat;     /**< times to execute (GO n), >= 1 */
} ferry_sql_batch_t;

/**
 * Receives each non-empty batch. Return FERRY_OK to continue; any other code stops the
 * split and is returned by the feeding call (with |err| as the callback filled it).
 */
typedef ferry_err_code_t (*ferry_sql_batch_fn)(void *user, const ferry_sql_batch_t *batch, ferry_err_t *err);

typedef struct ferry_sqlsplit ferry_sqlsplit_t;

/**
 * New splitter. |max_batch| caps one batch (0 = FERRY_SQLSPLIT_DEFAULT_MAX_BATCH).
 * |fn| is called for each batch. Returns NULL on allocation failure.
 */
ferry_sqlsplit_t *ferry_sqlsplit_new(size_t max_batch, ferry_sql_batch_fn fn, void *user);

/**
 * Feeds |len| more bytes. Returns FERRY_E_PACKAGE_INVALID (bad UTF-8, GO 0, batch over
 * the cap) with the line named, or the callback's error. After an error the splitter
 * refuses further input.
 */
ferry_err_code_t ferry_sqlsplit_feed(ferry_sqlsplit_t *s, const void *data, size_t len, ferry_err_t *err);

/** Ends the input: emits the last batch and checks nothing is left unterminated. */
ferry_err_code_t ferry_sqlsplit_finish(ferry_sqlsplit_t *s, ferry_err_t *err);

/** Lines seen so far (for progress and messages). */
uint64_t ferry_sqlsplit_lines(const ferry_sqlsplit_t *s);

/** Frees |s|. NULL is a no-op. */
void ferry_sqlsplit_free(ferry_sqlsplit_t *s);

/** Splits a whole buffer: new + feed + finish + free. */
ferry_err_code_t ferry_sqlsplit_buffer(const void *data, size_t len, size_t max_batch, ferry_sql_batch_fn fn,
                                       void *user, ferry_err_t *err);

/**
 * Streams the file |path| through a splitter in 64 KiB reads. I/O errors are
 * FERRY_E_IO (or NOT_FOUND) naming the path; split errors are prefixed with the path's
 * base name and carry the same code.
 */
ferry_err_code_t ferry_sqlsplit_file(const char *path, size_t max_batch, ferry_sql_batch_fn fn, void *user,
                                     ferry_err_t *err);

#endif
