/*
 * Health probes after a start: TCP connect, or a minimal blocking HTTP/1.1 GET over a
 * socket with deadlines (the engine links no HTTP library; TLS is out of scope, so
 * https targets are refused at configuration time).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/engine/svcctl.h"

#define HOST_MAX     256
#define PATH_MAX_URL 2048

typedef struct target {
    char host[HOST_MAX];
    unsigned port;
    char path[PATH_MAX_URL];
} target_t;

/* "host:port" or "[v6]:port"; with |default_port| 0 the port is mandatory. */
static ferry_err_code_t parse_hostport(const char *s, size_t n, unsigned default_port, target_t *t,
                                       ferry_err_t *err)
{
    const char *host = s, *colon = NULL;
    size_t hl;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': missing ']' after an IPv6 address", s);
        host = s + 1;
        hl = (size_t)(close - host);
        if (close + 1 < s + n) {
            if (close[1] != ':')
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': expected ':' after ']'", s);
            colon = close + 1;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        hl = colon != NULL ? (size_t)(colon - s) : n;
    }
    if (hl == 0 || hl >= HOST_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': host name is empty or too long", s);
    memcpy(t->host, host, hl);
    t->host[hl] = '\0';
    for (size_t i = 0; i < hl; i++)
        if (t->host[i] <= ' ' || t->host[i] == '/' || t->host[i] == '@')
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': invalid character in host name", s);
    if (colon == NULL) {
        if (default_port == 0)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': expected host:port", s);
        t->port = default_port;
        return FERRY_OK;
    }
    unsigned long p = 0;
    const char *q = colon + 1;
    if (q >= s + n)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': empty port", s);
    for (; q < s + n; q++) {
        if (*q < '0' || *q > '9' || p > 65535)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': port must be 1..65535", s);
        p = p * 10 + (unsigned long)(*q - '0');
    }
    if (p == 0 || p > 65535)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': port must be 1..65535", s);
    t->port = (unsigned)p;
    return FERRY_OK;
}

static ferry_err_code_t parse_target(ferry_health_kind_t kind, const char *target, target_t *t,
                                     ferry_err_t *err)
{
    memset(t, 0, sizeof(*t));
    if (target == NULL || target[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "health check target is empty");
    if (kind == FERRY_HEALTH_TCP)
        return parse_hostport(target, strlen(target), 0, t, err);
    if (strncasecmp(target, "https://", 8) == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "'%.100s': https is not supported by the health check (no TLS); use http or tcp",
                             target);
    if (strncasecmp(target, "http://", 7) != 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': must start with http://", target);
    const char *hp = target + 7;
    const char *slash = strchr(hp, '/');
    size_t hpl = slash != NULL ? (size_t)(slash - hp) : strlen(hp);
    ferry_err_code_t rc = parse_hostport(hp, hpl, 80, t, err);
    if (rc != FERRY_OK)
        return rc;
    const char *path = slash != NULL ? slash : "/";
    if (strlen(path) >= sizeof(t->path))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.100s': path too long", target);
    for (const char *p = path; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "'%.100s': spaces and control characters are not allowed", target);
    snprintf(t->path, sizeof(t->path), "%s", path);
    return FERRY_OK;
}

ferry_err_code_t ferry_health_target_check(ferry_health_kind_t kind, const char *target, ferry_err_t *err)
{
    target_t t;
    if (kind == FERRY_HEALTH_NONE)
        return FERRY_OK;
    return parse_target(kind, target, &t, err);
}

static int remaining(int64_t deadline)
{
    int64_t left = deadline - ferry_now_ms();
    return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* Connects to t within the deadline; *fd is a non-blocking socket. */
static ferry_err_code_t connect_to(const target_t *t, int64_t deadline, int *fd, ferry_err_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[8];
    ferry_err_code_t rc = FERRY_E_UNAVAILABLE;
    int last = 0;
    snprintf(port, sizeof(port), "%u", t->port);
    *fd = -1;
    int g = getaddrinfo(t->host, port, &hints, &res);
    if (g != 0)
        return ferry_err_set(err, FERRY_E_UNAVAILABLE, "resolve %s: %s", t->host, gai_strerror(g));
    for (struct addrinfo *ai = res; ai != NULL && *fd < 0; ai = ai->ai_next) {
        int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (s < 0) {
            last = errno;
            continue;
        }
        if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last = errno;
            close(s);
            continue;
        }
        struct pollfd p = {.fd = s, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        int pr = poll(&p, 1, remaining(deadline));
        if (pr <= 0) {
            last = pr == 0 ? ETIMEDOUT : errno;
            close(s);
            continue;
        }
        getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
            last = soerr;
            close(s);
            continue;
        }
        *fd = s;
        rc = FERRY_OK;
    }
    freeaddrinfo(res);
    if (rc != FERRY_OK)
        ferry_err_set(err, FERRY_E_UNAVAILABLE, "connect to %s:%u: %s", t->host, t->port, strerror(last));
    return rc;
}

static ferry_err_code_t http_get(const target_t *t, int fd, int64_t deadline, ferry_err_t *err)
{
    char req[PATH_MAX_URL + HOST_MAX + 128];
    int n =
        snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: ferry-agent\r\nConnection: close\r\n\r\n",
                 t->path, strchr(t->host, ':') ? "[" : "", t->host, strchr(t->host, ':') ? "]" : "", t->port);
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return ferry_err_set(err, FERRY_E_UNAVAILABLE, "send to %s:%u: %s", t->host, t->port,
                                 strerror(errno));
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, remaining(deadline)) <= 0)
            return ferry_err_set(err, FERRY_E_UNAVAILABLE, "send to %s:%u: timed out", t->host, t->port);
    }
    char resp[512];
    size_t got = 0;
    while (got < sizeof(resp) - 1 && memchr(resp, '\n', got) == NULL) {
        ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            return ferry_err_set(err, FERRY_E_UNAVAILABLE, "read from %s:%u: %s", t->host, t->port,
                                 strerror(errno));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, remaining(deadline)) <= 0)
            return ferry_err_set(err, FERRY_E_UNAVAILABLE, "no HTTP response from %s:%u before the deadline",
                                 t->host, t->port);
    }
    resp[got] = '\0';
    int major = 0, minor = 0, status = 0;
    if (sscanf(resp, "HTTP/%d.%d %3d", &major, &minor, &status) != 3)
        return ferry_err_set(err, FERRY_E_UNAVAILABLE, "GET %s on %s:%u: not an HTTP response", t->path,
                             t->host, t->port);
    if (status < 200 || status > 299)
        return ferry_err_set(err, FERRY_E_UNAVAILABLE, "GET %s on %s:%u answered %d", t->path, t->host,
                             t->port, status);
    return FERRY_OK;
}

ferry_err_code_t ferry_health_probe(ferry_health_kind_t kind, const char *target, int64_t deadline_ms,
                                    ferry_err_t *err)
{
    target_t t;
    int fd = -1;
    ferry_err_code_t rc;
    if (kind == FERRY_HEALTH_NONE)
        return FERRY_OK;
    if ((rc = parse_target(kind, target, &t, err)) != FERRY_OK)
        return rc;
    if ((rc = connect_to(&t, deadline_ms, &fd, err)) != FERRY_OK)
        return rc;
    if (kind == FERRY_HEALTH_HTTP)
        rc = http_get(&t, fd, deadline_ms, err);
    close(fd);
    return rc;
}
