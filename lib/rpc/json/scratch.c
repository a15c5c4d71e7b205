/*
 * Per-thread scratch memory for jansson. The codec builds a jansson tree for every
 * message it reads or writes and throws it away before returning; with malloc, that
 * tree's allocations and frees were a third of a JSON call's CPU. Inside a scratch
 * window (ferry_json_scratch_begin/end) jansson allocates by bumping a pointer in this
 * thread's chunks and frees are no-ops; outside one, it uses malloc and free as usual,
 * so other jansson users in the process are unaffected.
 */
#include "json_internal.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>

#include <jansson.h>

#define CHUNK_MIN   (64u << 10)  /* first chunk, kept between windows */
#define SCRATCH_MAX (256u << 20) /* past this a window falls back to malloc */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
} chunk_t;

typedef struct scratch {
    chunk_t *chunks; /* newest first; the last one is the kept CHUNK_MIN chunk */
    size_t total;
    int depth; /* nested windows */
} scratch_t;

static _Thread_local scratch_t *tls_scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void release_chunks(scratch_t *s, bool keep_first)
{
    chunk_t *c = s->chunks;
    while (c != NULL && (c->next != NULL || !keep_first || c->cap > CHUNK_MIN)) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    s->chunks = c;
    if (c != NULL)
        c->used = 0;
    s->total = 0;
}

static void thread_exit(void *p)
{
    scratch_t *s = p;
    release_chunks(s, false);
    free(s);
}

static bool owned(const scratch_t *s, const void *p)
{
    for (const chunk_t *c = s->chunks; c != NULL; c = c->next)
        if ((const unsigned char *)p >= c->data && (const unsigned char *)p < c->data + c->cap)
            return true;
    return false;
}

static void *scratch_malloc(size_t n)
{
    scratch_t *s = tls_scratch;
    if (s == NULL || s->depth == 0)
        return malloc(n);
    size_t need = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (need < n || need > SCRATCH_MAX - s->total)
        return malloc(n); /* freed by free(): scratch_free only skips its own chunks */
    chunk_t *c = s->chunks;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > CHUNK_MIN ? need : (c == NULL ? CHUNK_MIN : 4 * CHUNK_MIN);
        chunk_t *nc = malloc(sizeof(*nc) + cap);
        if (nc == NULL)
            return NULL;
        nc->cap = cap;
        nc->used = 0;
        if (c == NULL) {
            nc->next = NULL;
            s->chunks = nc;
        } else {
            /* the kept first chunk stays last so release_chunks can find it */
            nc->next = s->chunks;
            s->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    s->total += need;
    return p;
}

static void scratch_free(void *p)
{
    scratch_t *s = tls_scratch;
    if (p == NULL)
        return;
    if (s != NULL && s->depth > 0 && owned(s, p))
        return; /* released with the window */
    free(p);
}

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, thread_exit);
    json_set_alloc_funcs(scratch_malloc, scratch_free);
}

void ferry_json_scratch_begin(void)
{
    pthread_once(&scratch_once, scratch_init);
    scratch_t *s = tls_scratch;
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return; /* jansson then simply uses malloc */
        tls_scratch = s;
        pthread_setspecific(scratch_key, s);
    }
    s->depth++;
}

void ferry_json_scratch_end(void)
{
    scratch_t *s = tls_scratch;
    if (s == NULL || s->depth == 0)
        return;
    if (--s->depth == 0)
        release_chunks(s, true);
}
