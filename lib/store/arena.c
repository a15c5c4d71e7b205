/*
 * The reply arena (see ferry/arena.h): one calloc per allocation, chained, so a
 * failure leaves everything allocated so far releasable at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/arena.h"

struct ferry_arena_block {
    struct ferry_arena_block *next;
    ProtobufCMessage *msg; /* an unpacked message to free with the arena, or NULL */
    max_align_t data[];
};

void *ferry_arena_alloc(ferry_arena_t *a, size_t n)
{
    struct ferry_arena_block *b = calloc(1, sizeof(*b) + n);
    if (b == NULL) {
        a->failed = true;
        return NULL;
    }
    b->next = a->head;
    a->head = b;
    return b->data;
}

/* Out of memory: the empty string lives in read-only storage, so no caller can write
 * into memory shared by every failed copy (a writable static "" could be modified by
 * one reply and then be seen non-empty by another). a->failed makes the caller answer
 * NOMEM anyway; the pointer is only there so no field is ever NULL. */
static const char arena_empty[1] = "";

char *ferry_arena_strdup(ferry_arena_t *a, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    char *p = ferry_arena_alloc(a, n + 1);
    if (p == NULL)
        return (char *)arena_empty; /* read-only: see arena_empty */
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ferry_arena_printf(ferry_arena_t *a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return ferry_arena_strdup(a, buf);
}

Google__Protobuf__Timestamp *ferry_arena_ts(ferry_arena_t *a, int64_t ms)
{
    Google__Protobuf__Timestamp *t;
    if (ms <= 0 || (t = ferry_arena_alloc(a, sizeof(*t))) == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
    return t;
}

void ferry_arena_own(ferry_arena_t *a, ProtobufCMessage *m)
{
    struct ferry_arena_block *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        a->failed = true;
        return;
    }
    b->msg = m;
    b->next = a->head;
    a->head = b;
}

void ferry_arena_free(ferry_arena_t *a)
{
    struct ferry_arena_block *b, *n;
    if (a == NULL)
        return;
    b = a->head;
    while (b != NULL) {
        n = b->next;
        if (b->msg != NULL)
            protobuf_c_message_free_unpacked(b->msg, NULL);
        free(b);
        b = n;
    }
    a->head = NULL;
}
