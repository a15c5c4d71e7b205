/*
 * ferry-testd: a small real daemon standing in for the customer's service in tests.
 *
 *   ferry-testd --pidfile F [--daemon] [--port P] [--http-status N] [--refuse-stop]
 *               [--fail-start] [--exit-after-ms N] [--listen-delay-ms N] [--log F]
 *   ferry-testd --status --pidfile F   exit 0 if the pid in F is alive (not a zombie), else 1
 *   ferry-testd --stop --pidfile F     send SIGTERM to the pid in F (exit 1 if none)
 *
 * --daemon detaches (double fork, setsid, stdio to /dev/null) and returns only once the
 * pid file is written and the port (if any) is listening, so a start command finishes
 * with the service up. --port P listens on 127.0.0.1:P and answers `GET /health` with
 * --http-status (default 200), anything else with 404. --refuse-stop ignores SIGTERM.
 * --fail-start exits 1 at once, before writing anything. --exit-after-ms N exits by
 * itself after N ms (a crash after start). --listen-delay-ms N opens the port only
 * after N ms (a slow service).
 *
 * Command-kind lines for node-config.json ("control": "command"):
 *   "startCommand":  "ferry-testd --daemon --pidfile /tmp/svc.pid --port 18080"
 *   "stopCommand":   "ferry-testd --stop --pidfile /tmp/svc.pid"
 *   "statusCommand": "ferry-testd --status --pidfile /tmp/svc.pid"
 * (plain-shell equivalents: stop `kill "$(cat /tmp/svc.pid)"`, status
 * `kill -0 "$(cat /tmp/svc.pid)"`, which cannot tell a zombie from a live process.)
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static const char *log_path;

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    if (log_path == NULL)
        return;
    FILE *f = fopen(log_path, "ae");
    if (f == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(f, "[%ld] ", (long)getpid());
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
    fclose(f);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "re");
    long pid = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid > 0 ? (pid_t)pid : 0;
}

/* Alive and not a zombie (kill -0 succeeds on zombies nobody reaped). */
static int alive(pid_t pid)
{
    char p[64], buf[256];
    if (pid <= 0 || kill(pid, 0) != 0)
        return 0;
    snprintf(p, sizeof(p), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(p, "re");
    if (f == NULL)
        return 1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return !(rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

static int write_pidfile(const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static int listen_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0)
        return -1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 16) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static void serve_one(int ls, int status)
{
    int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    char req[1024];
    size_t got = 0;
    struct pollfd p = {.fd = c, .events = POLLIN};
    while (got < sizeof(req) - 1 && poll(&p, 1, 1000) > 0) {
        ssize_t r = read(c, req + got, sizeof(req) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[got] = '\0';
    int code = strncmp(req, "GET /health ", 12) == 0 ? status : 404;
    char resp[256];
    int n =
        snprintf(resp, sizeof(resp), "HTTP/1.1 %d %s\r\nContent-Length: 3\r\nConnection: close\r\n\r\n%s\n",
                 code, code >= 200 && code < 300 ? "OK" : "Not OK", code >= 200 && code < 300 ? "ok" : "no");
    ssize_t w = write(c, resp, (size_t)n);
    (void)w;
    close(c);
}

static void usage(void)
{
    fprintf(stderr, "usage: ferry-testd --pidfile F [--daemon] [--port P] [--http-status N] [--refuse-stop]\n"
                    "                   [--fail-start] [--exit-after-ms N] [--listen-delay-ms N] [--log F]\n"
                    "       ferry-testd --status|--stop --pidfile F\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *pidfile = NULL;
    int port = 0, http_status = 200, refuse_stop = 0, fail_start = 0, daemonize = 0, mode_status = 0,
        mode_stop = 0;
    long exit_after = -1, listen_delay = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--pidfile") == 0 && v) {
            pidfile = v;
            i++;
        } else if (strcmp(a, "--port") == 0 && v) {
            port = atoi(v);
            i++;
        } else if (strcmp(a, "--http-status") == 0 && v) {
            http_status = atoi(v);
            i++;
        } else if (strcmp(a, "--exit-after-ms") == 0 && v) {
            exit_after = atol(v);
            i++;
        } else if (strcmp(a, "--listen-delay-ms") == 0 && v) {
            listen_delay = atol(v);
            i++;
        } else if (strcmp(a, "--log") == 0 && v) {
            log_path = v;
            i++;
        } else if (strcmp(a, "--refuse-stop") == 0) {
            refuse_stop = 1;
        } else if (strcmp(a, "--fail-start") == 0) {
            fail_start = 1;
        } else if (strcmp(a, "--daemon") == 0) {
            daemonize = 1;
        } else if (strcmp(a, "--status") == 0) {
            mode_status = 1;
        } else if (strcmp(a, "--stop") == 0) {
            mode_stop = 1;
        } else {
            usage();
        }
    }
    if (pidfile == NULL)
        usage();
    if (mode_status)
        return alive(read_pid(pidfile)) ? 0 : 1;
    if (mode_stop) {
        pid_t pid = read_pid(pidfile);
        if (!alive(pid)) {
            fprintf(stderr, "ferry-testd: not running (%s)\n", pidfile);
            return 1;
        }
        return kill(pid, SIGTERM) == 0 ? 0 : 1;
    }
    if (fail_start) {
        fprintf(stderr, "ferry-testd: --fail-start: refusing to start\n");
        return 1;
    }

    /* Bind before detaching so "port in use" fails the start command itself. */
    int ls = -1;
    if (port > 0 && listen_delay == 0 && (ls = listen_on(port)) < 0) {
        fprintf(stderr, "ferry-testd: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    int ready[2] = {-1, -1};
    if (daemonize) {
        if (pipe(ready) != 0)
            return 1;
        pid_t p = fork();
        if (p < 0)
            return 1;
        if (p > 0) {
            close(ready[1]);
            char ok = 0;
            ssize_t r = read(ready[0], &ok, 1); /* wait until the grandchild wrote its pid file */
            waitpid(p, NULL, 0);                /* reap the intermediate child: no zombie left */
            return r == 1 && ok == 1 ? 0 : 1;
        }
        close(ready[0]);
        setsid();
        p = fork();
        if (p < 0)
            _exit(1);
        if (p > 0)
            _exit(0);
        int dn = open("/dev/null", O_RDWR);
        if (dn >= 0) {
            dup2(dn, 0);
            dup2(dn, 1);
            dup2(dn, 2);
            if (dn > 2)
                close(dn);
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = refuse_stop ? SIG_IGN : on_term;
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_term;
    sigaction(SIGINT, &sa, NULL);
    if (write_pidfile(pidfile) != 0) {
        logf_("cannot write pid file %s: %s", pidfile, strerror(errno));
        return 1;
    }
    logf_("started port=%d refuse_stop=%d", port, refuse_stop);
    if (ready[1] >= 0) {
        char ok = 1;
        ssize_t w = write(ready[1], &ok, 1);
        (void)w;
        close(ready[1]);
    }
    long t0 = now_ms();
    while (!stop_requested) {
        if (exit_after >= 0 && now_ms() - t0 >= exit_after) {
            logf_("exit-after-ms reached");
            break;
        }
        if (ls < 0 && port > 0 && now_ms() - t0 >= listen_delay)
            ls = listen_on(port);
        struct pollfd p = {.fd = ls, .events = POLLIN};
        if (poll(&p, ls >= 0 ? 1 : 0, 50) > 0)
            serve_one(ls, http_status);
    }
    if (stop_requested)
        logf_("SIGTERM received, exiting");
    if (read_pid(pidfile) == getpid())
        unlink(pidfile);
    if (ls >= 0)
        close(ls);
    return 0;
}
