/*
 * What the parts of the h2o adapter share on a loop thread (runtime_internal.h): the
 * thread's loop, the clock and the method index. The index is built by start() in
 * server.c and probed by every request in call.c.
 */
#include "runtime_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

_Thread_local loop_thread_t *ferry_tls_loop;

uint64_t ferry_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- method index ----------------------------------------------------------------- */

/* Eight bytes per step: paths are ~30 bytes and hashed on every call. The table is
 * fixed at start, so a crafted path can only cost a probe sequence, never grow it. */
static uint64_t hash_path(const char *s, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

ferry_err_code_t ferry_server_build_index(ferry_rpc_server_t *srv, ferry_err_t *err)
{
    size_t size = 16;
    while (size < srv->n_routes * 2)
        size *= 2;
    srv->route_index = calloc(size, sizeof(route_t *));
    if (srv->route_index == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "rpc server: out of memory");
    srv->route_index_size = size;
    for (size_t i = 0; i < srv->n_routes; i++) {
        const char *p = srv->routes[i].method->path;
        srv->routes[i].path_len = strlen(p);
        size_t slot = hash_path(p, srv->routes[i].path_len) & (size - 1);
        while (srv->route_index[slot] != NULL)
            slot = (slot + 1) & (size - 1);
        srv->route_index[slot] = &srv->routes[i];
    }
    return FERRY_OK;
}

const route_t *ferry_server_find_route(const ferry_rpc_server_t *srv, const char *path, size_t len)
{
    if (srv->route_index_size == 0)
        return NULL;
    size_t mask = srv->route_index_size - 1;
    for (size_t slot = hash_path(path, len) & mask;; slot = (slot + 1) & mask) {
        const route_t *r = srv->route_index[slot];
        if (r == NULL)
            return NULL;
        if (r->path_len == len && memcmp(r->method->path, path, len) == 0)
            return r;
    }
}
