/**
 * @file arena.h
 * The reply arena: every string and sub-message of one reply (or one repository
 * result), freed at once. Zero-initialise; ferry_arena_free() releases everything.
 */
#ifndef FERRY_ARENA_H
#define FERRY_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/timestamp.pb-c.h"

typedef struct ferry_arena {
    struct ferry_arena_block *head;
    bool failed; /**< an allocation failed: the result is incomplete, answer NOMEM */
} ferry_arena_t;

/** Zeroed memory owned by |a|, or NULL (and a->failed) when out of memory. */
void *ferry_arena_alloc(ferry_arena_t *a, size_t n);
/**
 * A copy of |s| (NULL -> ""), owned by |a|. When out of memory: a->failed is set and
 * the result is a fresh "" of the caller's own (never shared memory a caller could
 * write into): NULL is never returned. See ferry_arena_strdup's notes in arena.c.
 */
char *ferry_arena_strdup(ferry_arena_t *a, const char *s);
/** printf into arena memory (at most 511 bytes); "" when out of memory. */
char *ferry_arena_printf(ferry_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** A Timestamp for unix milliseconds |ms|, or NULL when |ms| <= 0 (unset). */
Google__Protobuf__Timestamp *ferry_arena_ts(ferry_arena_t *a, int64_t ms);
/** Hands an unpacked protobuf-c message to |a| (freed with it; on OOM freed at once). */
void ferry_arena_own(ferry_arena_t *a, ProtobufCMessage *m);
/** Frees everything |a| owns; |a| can be reused. NULL is a no-op. */
void ferry_arena_free(ferry_arena_t *a);

#endif
