/* The web console's static files at /console/ (see console.h). Opening a small file
 * runs on the loop thread: the files are a few hundred KiB, read once per browser
 * thanks to the immutable assets, and the bytes themselves go out through the
 * runtime's file sender. */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/log.h"
#include "ferry/rpc_route.h"

#define CONSOLE_PREFIX "/console"

/* No inline script or style, no eval, fetches to this origin only (the RPC API and the
 * signed upload URLs ferryd hands out), never framed. */
#define CONSOLE_CSP                                                                                          \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "       \
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct ferry_console {
    char dir[FERRY_CONSOLE_DIR_MAX];
};

static bool has_index(const char *dir)
{
    char p[FERRY_CONSOLE_DIR_MAX + 16];
    struct stat st;
    int n = snprintf(p, sizeof(p), "%s/index.html", dir);
    return n > 0 && (size_t)n < sizeof(p) && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

ferry_console_t *ferry_console_new(const char *dir, ferry_err_t *err)
{
    ferry_console_t *c = NULL;
    size_t len = dir != NULL ? strlen(dir) : 0;

    if (len == 0 || len >= FERRY_CONSOLE_DIR_MAX) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "console dir: empty or longer than %d bytes",
                      FERRY_CONSOLE_DIR_MAX - 1);
        goto out;
    }
    if (!has_index(dir)) {
        ferry_err_set(err, FERRY_E_NOT_FOUND,
                      "console dir '%s' holds no index.html (build it: cmake --build "
                      "BUILD --target ferry_console)",
                      dir);
        goto out;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(c->dir, dir, len + 1);
    while (len > 1 && c->dir[len - 1] == '/') /* "dist/" and "dist" serve the same files */
        c->dir[--len] = '\0';
out:
    return c;
}

const char *ferry_console_dir(const ferry_console_t *c)
{
    return c->dir;
}

void ferry_console_free(ferry_console_t *c)
{
    free(c);
}

int ferry_console_find_default(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    const char *rel[] = {"../web/dist", "../share/ferry/console"};
    int rc = -1;

    if (size == 0)
        goto out;
    buf[0] = '\0';
    if (n <= 0)
        goto out;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        goto out;
    *slash = '\0';
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char cand[PATH_MAX + 32];
        snprintf(cand, sizeof(cand), "%s/%s", exe, rel[i]);
        char real[PATH_MAX];
        const char *p = realpath(cand, real) != NULL ? real : cand;
        if (has_index(p) && strlen(p) < size) {
            memcpy(buf, p, strlen(p) + 1);
            rc = 0;
            goto out;
        }
    }
    snprintf(buf, size, "%s/../web/dist, %s/../share/ferry/console", exe, exe);
out:
    return rc;
}

/* A relative path is served only when every segment is [A-Za-z0-9._-]+ and does not
 * start with '.': no "..", no hidden files, no percent-escapes to decode. */
static bool rel_path_ok(const char *rel)
{
    bool seg_start = true;
    for (const char *p = rel; *p; p++) {
        char ch = *p;
        if (ch == '/') {
            if (seg_start)
                return false; /* "//" */
            seg_start = true;
            continue;
        }
        if (seg_start && ch == '.')
            return false;
        seg_start = false;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static const char *content_type_of(const char *rel)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(rel, '.');
    const char *slash = strrchr(rel, '/');
    if (dot != NULL && (slash == NULL || dot > slash))
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* Whether the last segment names a file (has an extension) rather than a client route. */
static bool looks_like_file(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return strchr(slash != NULL ? slash + 1 : rel, '.') != NULL;
}

static bool accepts_gzip(ferry_route_req_t *r)
{
    size_t len = 0;
    const char *v = ferry_route_header(r, "accept-encoding", &len);
    /* "gzip" as a token; a q=0 refusal is rare enough to ignore (the file is still valid) */
    return v != NULL && memmem(v, len, "gzip", 4) != NULL;
}

/* Opens |dir|/|rel| (|gz|: the .gz sibling) as a regular file, or -1. */
static int open_file(const ferry_console_t *c, const char *rel, bool gz)
{
    char p[FERRY_CONSOLE_DIR_MAX + FERRY_ROUTE_URL_PART_MAX + 8];
    struct stat st;
    int n = snprintf(p, sizeof(p), "%s/%s%s", c->dir, rel, gz ? ".gz" : "");
    int fd = -1;

    if (n <= 0 || (size_t)n >= sizeof(p))
        goto out;
    if ((fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        goto out;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        fd = -1;
    }
out:
    return fd;
}

static void on_console(ferry_route_req_t *r, void *user)
{
    const ferry_console_t *c = user;
    const char *method = ferry_route_method(r);
    const char *path = ferry_route_path(r);
    const char *rel;
    int fd = -1;
    bool gz = false;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        ferry_route_set_header(r, "allow", "GET, HEAD");
        ferry_route_fail(r, 405, "E_INVALID_ARG", "the console accepts GET and HEAD, not %s", method);
        goto out;
    }
    if (path == NULL || strncmp(path, CONSOLE_PREFIX, strlen(CONSOLE_PREFIX)) != 0) {
        ferry_route_fail(r, 404, "E_NOT_FOUND", "no such console path");
        goto out;
    }
    rel = path + strlen(CONSOLE_PREFIX);
    if (rel[0] == '\0') {
        ferry_route_set_header(r, "location", CONSOLE_PREFIX "/");
        ferry_route_reply(r, 308, "text/plain; charset=utf-8", "see /console/\n", 14);
        goto out;
    }
    if (rel[0] != '/') { /* "/consolefoo" */
        ferry_route_fail(r, 404, "E_NOT_FOUND", "no such path");
        goto out;
    }
    rel++;
    if (rel[0] == '\0')
        rel = "index.html";
    if (!rel_path_ok(rel)) {
        ferry_route_fail(r, 404, "E_NOT_FOUND", "no such console file");
        goto out;
    }
    if (looks_like_file(rel)) {
        if (accepts_gzip(r) && (fd = open_file(c, rel, true)) >= 0)
            gz = true;
        else
            fd = open_file(c, rel, false);
        if (fd < 0) {
            ferry_route_fail(r, 404, "E_NOT_FOUND", "no such console file");
            goto out;
        }
    } else {
        rel = "index.html"; /* a client-side route: the app reads the path itself */
        if (accepts_gzip(r) && (fd = open_file(c, rel, true)) >= 0)
            gz = true;
        else if ((fd = open_file(c, rel, false)) < 0) {
            ferry_route_fail(r, 404, "E_NOT_FOUND", "the console's index.html is missing");
            goto out;
        }
    }
    /* Vite names everything under assets/ by content hash: a changed file is a new URL. */
    ferry_route_set_header(r, "cache-control",
                           strncmp(rel, "assets/", 7) == 0 ? "public, max-age=31536000, immutable"
                                                           : "no-cache");
    ferry_route_set_header(r, "content-security-policy", CONSOLE_CSP);
    ferry_route_set_header(r, "x-content-type-options", "nosniff");
    ferry_route_set_header(r, "referrer-policy", "no-referrer");
    ferry_route_set_header(r, "x-frame-options", "DENY");
    ferry_route_set_header(r, "cross-origin-opener-policy", "same-origin");
    ferry_route_set_header(r, "vary", "accept-encoding");
    if (gz)
        ferry_route_set_header(r, "content-encoding", "gzip");
    ferry_route_send_file(r, fd, content_type_of(rel));
out:
    return;
}

ferry_err_code_t ferry_console_register(ferry_console_t *c, ferry_rpc_server_t *srv, ferry_err_t *err)
{
    return ferry_rpc_server_add_transfer_route(srv, CONSOLE_PREFIX, on_console, c, err);
}
