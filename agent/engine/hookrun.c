/*
 * Upgrade hooks (hooks.json, seed 002): extraction of the files they reference, the
 * per-hook checkpoints, and the three kinds (check: a count against a threshold; sql: a
 * script through the node's executor; exec: a program of the package in a clean
 * environment with a timeout). See ferry/model/hooks.h for the manifest and docs/hooks.md
 * for when each phase runs and what a failure does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/engine/sqlexec.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/version.h"
#include "steps.h"

#define HOOKS_TREE     "hooks.tree"
#define LOG_CAP        (16u << 20) /* bytes of one hook's output kept in its log file */
#define TERM_GRACE_MS  5000        /* SIGTERM -> SIGKILL after a timeout */
#define DRAIN_GRACE_MS 2000        /* after the hook exits, children still holding its output */
#define ENV_MAX        32
#define HOOK_PATH_ENV  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Output goes into JSON and onto terminals: keep valid UTF-8, '\n' and '\t', replace the rest. */
static void sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s, *w = p;
    while (*p != '\0') {
        unsigned char c = *p;
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        bool ok = n > 0;
        for (size_t i = 1; ok && i < n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (n == 1 && c < 0x20 && c != '\n' && c != '\t')
            ok = false;
        if (!ok) {
            *w++ = '?';
            p++;
            continue;
        }
        memmove(w, p, n);
        w += n;
        p += n;
    }
    *w = '\0';
}

/* ---- files ------------------------------------------------------------------------- */

static ferry_err_code_t tree_dir(const ferry_run_t *r, char *out, size_t size, ferry_err_t *err)
{
    if (ferry_fs_join(out, size, r->work_dir, HOOKS_TREE) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "work dir path too long");
    return FERRY_OK;
}

static ferry_err_code_t load_hooks(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    if (r->hooks_loaded)
        return FERRY_OK;
    /* A manual rollback has no package and so no hooks. */
    if (r->task->package_path[0] == '\0') {
        r->hooks_loaded = true;
        return FERRY_OK;
    }
    /* Reopened after a restart: need_pkg checks the package is still the verified one. */
    if ((rc = ferry_steps_need_pkg(r, err)) != FERRY_OK)
        return rc;
    if ((rc = ferry_pkg_hooks(r->pkg, &r->hooks, err)) != FERRY_OK)
        return rc;
    r->hooks_loaded = true;
    return FERRY_OK;
}

static ferry_err_code_t extract_one(ferry_run_t *r, const char *tree, const char *rel, bool program,
                                    ferry_err_t *err)
{
    char path[PATH_MAX], parent[PATH_MAX];
    if (rel == NULL)
        return FERRY_OK;
    if (ferry_fs_join(path, sizeof(path), tree, rel) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "hook path too long: '%s'", rel);
    if (ferry_fs_exists(path))
        return FERRY_OK; /* referenced twice */
    snprintf(parent, sizeof(parent), "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash != NULL)
        *slash = '\0';
    ferry_err_code_t rc = ferry_fs_mkdir_p(parent, 0700, err);
    if (rc == FERRY_OK)
        rc = ferry_zip_extract_entry(r->pkg, rel, path, err);
    if (rc == FERRY_OK && chmod(path, program ? 0700 : 0600) != 0)
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "chmod '%s'", path);
    return rc;
}

ferry_err_code_t ferry_hooks_prepare(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char tree[PATH_MAX];
    if ((rc = load_hooks(r, err)) != FERRY_OK || r->hooks == NULL)
        goto out;
    if ((rc = tree_dir(r, tree, sizeof(tree), err)) != FERRY_OK ||
        (rc = ferry_fs_rm_rf(tree, err)) != FERRY_OK || (rc = ferry_fs_mkdir_p(tree, 0700, err)) != FERRY_OK)
        goto out;
    for (int p = 0; p < FERRY_HOOK_PHASES; p++) {
        for (size_t i = 0; i < r->hooks->n[p]; i++) {
            const ferry_hook_t *h = &r->hooks->hooks[p][i];
            if ((rc = extract_one(r, tree, h->run, true, err)) != FERRY_OK ||
                (rc = extract_one(r, tree, h->rollback, true, err)) != FERRY_OK ||
                (rc = extract_one(r, tree, h->file, false, err)) != FERRY_OK) {
                ferry_err_prefix(err, "hook %s", h->id);
                goto out;
            }
        }
    }
out:
    return rc;
}

/* The tree must exist when a phase runs; a resume in a later process finds it gone if
 * the temp dir was cleaned. */
static ferry_err_code_t ensure_tree(ferry_run_t *r, char *tree, size_t size, ferry_err_t *err)
{
    ferry_err_code_t rc = tree_dir(r, tree, size, err);
    if (rc == FERRY_OK && !ferry_fs_is_dir(tree))
        rc = ferry_hooks_prepare(r, err);
    return rc;
}

/* ---- exec -------------------------------------------------------------------------- */

typedef struct out_buf {
    char tail[FERRY_HOOK_OUTPUT_TAIL + 1];
    size_t tail_len;
    int log_fd;
    uint64_t logged, dropped;
} out_buf_t;

static void out_add(out_buf_t *o, const char *data, size_t n)
{
    if (o->log_fd >= 0) {
        size_t keep = o->logged >= LOG_CAP ? 0 : (size_t)(LOG_CAP - o->logged < n ? LOG_CAP - o->logged : n);
        for (size_t off = 0; off < keep;) {
            ssize_t w = write(o->log_fd, data + off, keep - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        o->logged += keep;
        o->dropped += n - keep;
    }
    if (n >= FERRY_HOOK_OUTPUT_TAIL) {
        memcpy(o->tail, data + n - FERRY_HOOK_OUTPUT_TAIL, FERRY_HOOK_OUTPUT_TAIL);
        o->tail_len = FERRY_HOOK_OUTPUT_TAIL;
    } else {
        size_t drop = o->tail_len + n > FERRY_HOOK_OUTPUT_TAIL ? o->tail_len + n - FERRY_HOOK_OUTPUT_TAIL : 0;
        memmove(o->tail, o->tail + drop, o->tail_len - drop);
        o->tail_len -= drop;
        memcpy(o->tail + o->tail_len, data, n);
        o->tail_len += n;
    }
    o->tail[o->tail_len] = '\0';
}

static void out_line(out_buf_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_line(out_buf_t *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_add(o, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/*
 * Runs argv[0] with |envp| in |cwd|, stdin /dev/null, stdout+stderr into |o|, in its own
 * process group. At the deadline the group gets SIGTERM, 5 s later SIGKILL. When the
 * program exits, whatever it left in its group is killed: a hook must not leave
 * processes behind. *status: exit code, 128+N for signal N, 127 not executable.
 */
static ferry_err_code_t spawn(char *const argv[], char *const envp[], const char *cwd, unsigned timeout_s,
                              volatile int *stop, out_buf_t *o, int *status, bool *timed_out,
                              ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int pfd[2] = {-1, -1}, devnull = -1;
    pid_t pid = -1;
    *status = -1;
    *timed_out = false;
    if (pipe2(pfd, O_CLOEXEC) != 0 || (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "hook: pipe");
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "hook: fork");
        goto out;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only (the daemon has threads). */
        setpgid(0, 0);
        if (dup2(devnull, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0 || chdir(cwd) != 0)
            _exit(126);
        syscall(SYS_close_range, 3u, ~0u, 0u);
        /* The daemon blocks SIGTERM/SIGINT in every thread and ignores SIGPIPE; a hook
         * (and what it starts) must get the defaults, or a timeout's SIGTERM never lands. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve(argv[0], argv, envp);
        _exit(errno == ENOENT ? 127 : 126);
    }
    setpgid(pid, pid); /* both sides: no window where a kill of the group misses it */
    close(pfd[1]);
    pfd[1] = -1;

    int64_t start = mono_ms(), deadline = start + (int64_t)timeout_s * 1000, term_at = 0, exited_at = 0;
    bool open_pipe = true, reaped = false, killed = false;
    char buf[8192];
    while (open_pipe || !reaped) {
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        if (open_pipe) {
            int pr = poll(&pf, 1, 100);
            if (pr > 0) {
                ssize_t n = read(pfd[0], buf, sizeof(buf));
                if (n > 0)
                    out_add(o, buf, (size_t)n);
                else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                    open_pipe = false;
            }
        } else {
            usleep(20 * 1000);
        }
        if (!reaped) {
            int ws = 0;
            pid_t w = waitpid(pid, &ws, WNOHANG);
            if (w == pid) {
                reaped = true;
                exited_at = mono_ms();
                *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : -1;
                kill(-pid, SIGKILL); /* leftovers of the group */
            }
        }
        int64_t now = mono_ms();
        if (!reaped && stop != NULL && *stop && term_at == 0) {
            term_at = now;
            kill(-pid, SIGTERM);
            rc = ferry_err_set(err, FERRY_E_CANCELED, "hook stopped: the agent is shutting down");
        }
        if (!reaped && now >= deadline && term_at == 0) {
            *timed_out = true;
            term_at = now;
            kill(-pid, SIGTERM);
        }
        if (!reaped && term_at != 0 && now >= term_at + TERM_GRACE_MS && !killed) {
            killed = true;
            kill(-pid, SIGKILL);
        }
        if (reaped && open_pipe && now >= exited_at + DRAIN_GRACE_MS)
            open_pipe = false; /* a process outside the group still holds the pipe */
    }
out:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (devnull >= 0)
        close(devnull);
    return rc;
}

typedef struct env_buf {
    char *v[ENV_MAX + 1];
    size_t n;
} env_buf_t;

static void env_add(env_buf_t *e, const char *key, const char *val)
{
    if (e->n >= ENV_MAX || val == NULL)
        return;
    if (asprintf(&e->v[e->n], "%s=%s", key, val) >= 0)
        e->n++;
}

static void env_free(env_buf_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
}

/* The clean environment: nothing of the agent's own (no tokens, no proxies), the FERRY_*
 * facts a hook needs, never the SQL connection string (it holds a password). */
static void build_env(ferry_run_t *r, const ferry_hook_t *h, const char *tree, unsigned attempt,
                      bool rolling_back, env_buf_t *e)
{
    const ferry_node_config_t *c = r->cfg;
    char sites[FERRY_HOOK_CTX_MAX * FERRY_HOOK_CTX_ITEM] = "", num[16];
    size_t len = 0;
    for (size_t i = 0; i < r->hctx.n_sites && len < sizeof(sites); i++)
        len += (size_t)snprintf(sites + len, sizeof(sites) - len, "%s%s", i ? "," : "", r->hctx.sites[i]);
    e->v[e->n++] = strdup(HOOK_PATH_ENV);
    env_add(e, "LANG", "C.UTF-8");
    env_add(e, "HOME", tree);
    env_add(e, "FERRY_TASK_ID", r->task->task_id);
    env_add(e, "FERRY_PHASE", ferry_hook_phase_name(h->phase));
    env_add(e, "FERRY_HOOK_ID", h->id);
    env_add(e, "FERRY_FROM_VERSION", r->hctx.from_version);
    env_add(e, "FERRY_TO_VERSION", r->task->version);
    env_add(e, "FERRY_SITE_CODES", sites);
    env_add(e, "FERRY_PACKAGE_DIR", tree);
    env_add(e, "FERRY_SERVER_DIR", c->paths.server_dir);
    env_add(e, "FERRY_CLIENT_DIR", c->paths.client_dir);
    env_add(e, "FERRY_BACKUP_DIR", r->task->backup_path);
    env_add(e, "FERRY_STATE_DIR", c->state_dir);
    env_add(e, "FERRY_REPORT_DIR", r->report_dir);
    env_add(e, "FERRY_NODE_CONFIG", r->config_path != NULL ? r->config_path : "");
    env_add(e, "FERRY_DB_ENGINE", c->backup.db.engine == FERRY_DB_ENGINE_MSSQL ? "mssql" : "sqlite");
    env_add(e, "FERRY_DB", c->backup.db.n_databases > 0 ? c->backup.db.databases[0] : "");
    snprintf(num, sizeof(num), "%u", attempt);
    env_add(e, "FERRY_ATTEMPT", num);
    if (rolling_back)
        env_add(e, "FERRY_HOOK_ROLLBACK", "1");
    e->v[e->n] = NULL;
}

/* One exec of |prog| (a package path) with the hook's args; *exit_code as spawn(). */
static ferry_err_code_t run_program(ferry_run_t *r, const ferry_hook_t *h, const char *tree, const char *prog,
                                    unsigned attempt, bool rolling_back, out_buf_t *o, int *exit_code,
                                    bool *timed_out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char path[PATH_MAX];
    char *argv[FERRY_HOOK_ARGS_MAX + 2];
    env_buf_t env = {0};
    size_t n = 0;
    if (ferry_fs_join(path, sizeof(path), tree, prog) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "hook path too long");
    argv[n++] = path;
    for (size_t i = 0; i < h->n_args && !rolling_back; i++)
        argv[n++] = h->args[i];
    argv[n] = NULL;
    build_env(r, h, tree, attempt, rolling_back, &env);
    rc = spawn(argv, env.v, tree, h->timeout_s, r->hook_stop, o, exit_code, timed_out, err);
    env_free(&env);
    return rc;
}

/* ---- the phase --------------------------------------------------------------------- */

typedef struct hook_run {
    ferry_run_t *r;
    bool canceled;      /* the agent is stopping (post_upgrade only): leave the hook "started" */
    ferry_sqlexec_t *x; /* opened on the first check / sql hook of the phase */
    char tree[PATH_MAX];
} hook_run_t;

static ferry_err_code_t need_exec(hook_run_t *hr, ferry_err_t *err)
{
    if (hr->x != NULL)
        return FERRY_OK;
    return ferry_sqlexec_open_config(hr->r->cfg, &hr->x, err);
}

static void tail_of(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    snprintf(dst, size, "%s", n >= size ? src + n - (size - 1) : src);
    sanitize(dst);
}

/* One try of |h|. Fills rec->outcome (PASS/WARN/FAIL), reason, count, exit code, output. */
static void run_once(hook_run_t *hr, const ferry_hook_t *h, unsigned attempt, out_buf_t *o,
                     ferry_hook_rec_t *rec)
{
    ferry_run_t *r = hr->r;
    ferry_err_t e = {0};
    rec->count = -1;
    rec->exit_code = -1;
    switch (h->kind) {
    case FERRY_HOOK_CHECK: {
        int64_t count = 0;
        int64_t t0 = mono_ms();
        ferry_err_code_t crc = need_exec(hr, &e);
        if (crc == FERRY_OK) {
            ferry_sqlexec_set_timeout(hr->x, h->timeout_s);
            crc = ferry_sqlexec_count(hr->x, h->sql, &count, &e);
            ferry_sqlexec_set_timeout(hr->x, 0);
        }
        if (crc != FERRY_OK) {
            snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_FAIL);
            if (mono_ms() - t0 >= (int64_t)h->timeout_s * 1000)
                snprintf(rec->reason, sizeof(rec->reason), "check query timed out after %u s (interrupted)",
                         h->timeout_s);
            else
                snprintf(rec->reason, sizeof(rec->reason), "check query failed: %.450s", e.msg);
            ferry_sqlexec_free(hr->x); /* a broken connection is not reused by the retry */
            hr->x = NULL;
            break;
        }
        rec->count = count;
        if (count <= h->threshold) {
            snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_PASS);
            snprintf(rec->reason, sizeof(rec->reason), "%lld record(s), threshold %lld", (long long)count,
                     (long long)h->threshold);
        } else {
            snprintf(rec->outcome, sizeof(rec->outcome), "%s",
                     h->warn_only ? FERRY_HOOK_WARN : FERRY_HOOK_FAIL);
            snprintf(rec->reason, sizeof(rec->reason), "%lld record(s) found, threshold %lld",
                     (long long)count, (long long)h->threshold);
        }
        break;
    }
    case FERRY_HOOK_SQL: {
        char file[PATH_MAX], log[PATH_MAX], label[FERRY_HOOK_ID_MAX + PATH_MAX / 4];
        const char *log_dir = r->task->backup_path[0] != '\0' ? r->task->backup_path : r->report_dir;
        if (ferry_fs_join(file, sizeof(file), hr->tree, h->file) != FERRY_OK ||
            ferry_fs_join(log, sizeof(log), log_dir, "sql.log") != FERRY_OK) {
            snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_FAIL);
            snprintf(rec->reason, sizeof(rec->reason), "path too long");
            break;
        }
        snprintf(label, sizeof(label), "hook %s %.200s", h->id, h->file);
        ferry_sql_run_opts_t so = {.sql_log = log, .file = file, .file_label = label};
        int64_t t0 = mono_ms();
        if (need_exec(hr, &e) == FERRY_OK) {
            so.exec = hr->x;
            /* The whole script shares the hook's timeout. */
            ferry_sqlexec_set_timeout(hr->x, h->timeout_s);
            ferry_err_code_t src = ferry_sql_run_dir(&so, &e);
            ferry_sqlexec_set_timeout(hr->x, 0);
            if (src == FERRY_OK) {
                snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_PASS);
                snprintf(rec->reason, sizeof(rec->reason), "script ran; batches logged in %.400s", log);
                break;
            }
        }
        snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_FAIL);
        if (mono_ms() - t0 >= (int64_t)h->timeout_s * 1000)
            snprintf(rec->reason, sizeof(rec->reason), "timed out after %u s (interrupted): %.400s",
                     h->timeout_s, e.msg);
        else
            snprintf(rec->reason, sizeof(rec->reason), "%s", e.msg);
        ferry_sqlexec_free(hr->x);
        hr->x = NULL;
        break;
    }
    case FERRY_HOOK_EXEC: {
        int code = -1;
        bool timed_out = false;
        out_line(o, "=== %s try %u ===\n", h->id, attempt);
        if (run_program(r, h, hr->tree, h->run, attempt, false, o, &code, &timed_out, &e) != FERRY_OK) {
            hr->canceled = e.code == FERRY_E_CANCELED;
            snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_FAIL);
            snprintf(rec->reason, sizeof(rec->reason), "%s", e.msg);
            break;
        }
        rec->exit_code = code;
        if (timed_out) {
            snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_FAIL);
            snprintf(rec->reason, sizeof(rec->reason), "timed out after %u s (killed)", h->timeout_s);
        } else if (code == 0) {
            snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_PASS);
            snprintf(rec->reason, sizeof(rec->reason), "exit 0");
        } else {
            snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_FAIL);
            snprintf(rec->reason, sizeof(rec->reason), "%s %d%s", code > 128 ? "killed by signal" : "exit",
                     code > 128 ? code - 128 : code,
                     code == 127   ? " (not found or not executable)"
                     : code == 126 ? " (cannot execute)"
                                   : "");
        }
        break;
    }
    }
}

static bool in_skip(const ferry_hook_ctx_t *c, const char *id)
{
    for (size_t i = 0; i < c->n_skip; i++)
        if (strcmp(c->skip[i], id) == 0)
            return true;
    return false;
}

static ferry_err_code_t put(ferry_run_t *r, const ferry_hook_rec_t *rec, ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_journal_hook_put(r->journal, r->task->task_id, rec, err);
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "checkpoint of hook %s", rec->hook_id);
    return rc;
}

/* A result the journal holds goes to the listener (the daemon reports it to the server). */
static void announce(const ferry_run_t *r, const ferry_hook_t *h, const ferry_hook_rec_t *rec)
{
    if (r->on_hook != NULL && rec->done)
        r->on_hook(r->user, h, rec);
}

static void note(ferry_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ferry_run_t *r, const char *fmt, ...)
{
    char msg[FERRY_ERR_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ferry_err_t e = {0};
    FERRY_INFO("task %s: %s", r->task->task_id, msg);
    if (ferry_journal_note(r->journal, r->task, msg, &e) != FERRY_OK)
        FERRY_WARN("%s", e.msg);
}

/*
 * Runs |h| to a result (its retries included) and checkpoints it. Returns FERRY_OK with
 * rec->outcome telling the result, or a journal / setup error.
 */
static ferry_err_code_t run_hook(hook_run_t *hr, const ferry_hook_t *h, ferry_hook_rec_t *rec,
                                 ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_run_t *r = hr->r;
    out_buf_t *o = calloc(1, sizeof(*o));
    char dir[PATH_MAX], name[FERRY_HOOK_ID_MAX + 8];
    if (o == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    o->log_fd = -1;
    /* Checkpoint first: a crash from here on is "interrupted" for the resume. */
    unsigned runs = rec->runs + 1;
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->hook_id, sizeof(rec->hook_id), "%s", h->id);
    snprintf(rec->phase, sizeof(rec->phase), "%s", ferry_hook_phase_name(h->phase));
    snprintf(rec->outcome, sizeof(rec->outcome), FERRY_HOOK_RUNNING);
    rec->runs = runs;
    rec->count = -1;
    rec->exit_code = -1;
    rec->started_ms = wall_ms();
    if (h->kind == FERRY_HOOK_EXEC) {
        snprintf(name, sizeof(name), "%s.log", h->id);
        if (ferry_fs_join(dir, sizeof(dir), r->report_dir, "hooks") == FERRY_OK &&
            ferry_fs_mkdir_p(dir, 0700, NULL) == FERRY_OK &&
            ferry_fs_join(rec->log_path, sizeof(rec->log_path), dir, name) == FERRY_OK)
            o->log_fd = open(rec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (o->log_fd < 0)
            rec->log_path[0] = '\0';
    }
    /* A check only reads and is always re-run after a crash: its start needs no synced
     * checkpoint (one fsync less per check; seed 002 wants a million rows in 2 min). */
    if (h->kind != FERRY_HOOK_CHECK && (rc = put(r, rec, err)) != FERRY_OK)
        goto out;
    ferry_crashpoint("hook.begin");

    unsigned tries = 0;
    for (;;) {
        tries++;
        run_once(hr, h, tries, o, rec);
        if (hr->canceled) {
            /* No result checkpoint: the next start sees an interrupted hook. */
            rc = ferry_err_set(err, FERRY_E_CANCELED, "hook %s stopped: the agent is shutting down", h->id);
            goto out;
        }
        if (strcmp(rec->outcome, FERRY_HOOK_FAIL) != 0 || tries > h->retries)
            break;
        /* A failing check above its threshold is a fact about the data, not a hiccup. */
        if (h->kind == FERRY_HOOK_CHECK && rec->count >= 0)
            break;
        note(r, "hook %s: try %u failed (%s); retrying", h->id, tries, rec->reason);
        sleep(tries < 5 ? tries : 5);
    }
    rec->tries = tries;
    if (strcmp(rec->outcome, FERRY_HOOK_FAIL) == 0 && h->rollback != NULL &&
        h->phase == FERRY_HOOK_PRE_UPGRADE) {
        int code = -1;
        bool timed_out = false;
        ferry_err_t re = {0};
        out_line(o, "=== %s rollback %s ===\n", h->id, h->rollback);
        ferry_err_code_t rrc = run_program(r, h, hr->tree, h->rollback, 1, true, o, &code, &timed_out, &re);
        size_t l = strlen(rec->reason);
        snprintf(rec->reason + l, sizeof(rec->reason) - l, "; rollback %s: %s", h->rollback,
                 rrc != FERRY_OK ? re.msg
                 : timed_out     ? "timed out"
                 : code == 0     ? "exit 0"
                                 : "failed");
    }
    if (o->dropped > 0)
        out_line(o, "\n(%llu more bytes not logged)\n", (unsigned long long)o->dropped);
    if (h->kind == FERRY_HOOK_EXEC)
        tail_of(rec->output, sizeof(rec->output), o->tail);
    if (o->log_fd >= 0 && fdatasync(o->log_fd) != 0)
        FERRY_WARN("hook %s: fdatasync log: %s", h->id, strerror(errno));
    rec->done = 1;
    rec->ended_ms = wall_ms();
    sanitize(rec->reason);
    if ((rc = put(r, rec, err)) != FERRY_OK)
        goto out;
    ferry_crashpoint("hook.end");
    announce(r, h, rec);
    /* The hook row holds every result; the task's history names those worth reading. */
    if (h->kind != FERRY_HOOK_CHECK || strcmp(rec->outcome, FERRY_HOOK_PASS) != 0)
        note(r, "hook %s (%s): %s: %s", h->id, rec->phase, rec->outcome, rec->reason);
out:
    if (o->log_fd >= 0)
        close(o->log_fd);
    free(o);
    return rc;
}

static ferry_err_code_t record_final(ferry_run_t *r, const ferry_hook_t *h, const char *outcome,
                                     const char *reason, ferry_err_t *err)
{
    ferry_hook_rec_t rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.hook_id, sizeof(rec.hook_id), "%s", h->id);
    snprintf(rec.phase, sizeof(rec.phase), "%s", ferry_hook_phase_name(h->phase));
    snprintf(rec.outcome, sizeof(rec.outcome), "%s", outcome);
    snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
    rec.done = 1;
    rec.count = -1;
    rec.exit_code = -1;
    rec.started_ms = rec.ended_ms = wall_ms();
    ferry_err_code_t rc = put(r, &rec, err);
    if (rc == FERRY_OK)
        announce(r, h, &rec);
    return rc;
}

ferry_err_code_t ferry_hooks_run_phase(ferry_run_t *r, ferry_hook_phase_t phase, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    hook_run_t hr = {.r = r};
    ferry_version_t from, to;
    bool have_from = false, have_to = false;
    const ferry_err_code_t fail_code =
        phase == FERRY_HOOK_PRE_CHECK ? FERRY_E_PRECHECK_FAILED : FERRY_E_HOOK_FAILED;
    char failed[FERRY_ERR_MSG_MAX] = "";
    size_t n_failed = 0;
    const char *sites[FERRY_HOOK_CTX_MAX];

    if ((rc = load_hooks(r, err)) != FERRY_OK) {
        rc = ferry_err_recode(err, fail_code);
        goto out;
    }
    if (r->hooks == NULL || r->hooks->n[phase] == 0)
        goto out;
    if ((rc = ensure_tree(r, hr.tree, sizeof(hr.tree), err)) != FERRY_OK) {
        rc = ferry_err_recode(err, fail_code);
        goto out;
    }
    have_from =
        r->hctx.from_version[0] != '\0' && ferry_version_parse(r->hctx.from_version, &from, NULL) == FERRY_OK;
    have_to = ferry_version_parse(r->task->version, &to, NULL) == FERRY_OK;
    for (size_t i = 0; i < r->hctx.n_sites; i++)
        sites[i] = r->hctx.sites[i];
    ferry_hook_target_t target = {.sites = sites,
                                  .n_sites = r->hctx.n_sites,
                                  .from = have_from ? &from : NULL,
                                  .to = have_to ? &to : NULL};
    size_t n = r->hooks->n[phase];
    for (size_t i = 0; i < n; i++) {
        const ferry_hook_t *h = &r->hooks->hooks[phase][i];
        ferry_hook_rec_t rec;
        int found = 0;
        if (r->hook_stop != NULL && *r->hook_stop) {
            rc = ferry_err_set(err, FERRY_E_CANCELED, "%s stopped before hook %s: the agent is shutting down",
                               ferry_hook_phase_name(phase), h->id);
            goto out;
        }
        char what[160], why[FERRY_ERR_MSG_MAX];
        snprintf(what, sizeof(what), "%s %s", ferry_hook_phase_name(phase), h->id);
        ferry_run_emit(r, false, i, n, what);
        if ((rc = ferry_journal_hook_get(r->journal, r->task->task_id, h->id, &rec, &found, err)) != FERRY_OK)
            goto out;
        if (found && rec.done) {
            /* Finished before a crash or in an earlier run of this step: never run twice.
             * Announced again: the listener may have lost it in that crash. */
            announce(r, h, &rec);
            if (strcmp(rec.outcome, FERRY_HOOK_FAIL) == 0 &&
                !(h->on_failure_continue && phase != FERRY_HOOK_PRE_CHECK)) {
                n_failed++;
                if (phase != FERRY_HOOK_PRE_CHECK) {
                    rc = ferry_err_set(err, fail_code, "hook %s (%s) failed: %s", h->id,
                                       ferry_hook_phase_name(phase), rec.reason);
                    goto out;
                }
                size_t l = strlen(failed);
                snprintf(failed + l, sizeof(failed) - l, "%s%s (%.200s)", l ? ", " : "", h->id, rec.reason);
            }
            continue;
        }
        if (found && !rec.done && !(h->idempotent || h->kind == FERRY_HOOK_CHECK)) {
            snprintf(why, sizeof(why),
                     "interrupted while running (the agent stopped) and not idempotent: not run again");
            note(r, "hook %s: %s", h->id, why);
            if ((rc = record_final(r, h, FERRY_HOOK_FAIL, why, err)) != FERRY_OK)
                goto out;
            rc = ferry_err_set(err, fail_code, "hook %s (%s) %s", h->id, ferry_hook_phase_name(phase), why);
            goto out;
        }
        if (found && !rec.done)
            note(r, "hook %s was interrupted; it is idempotent: running it again", h->id);
        if (in_skip(&r->hctx, h->id)) {
            if ((rc = record_final(r, h, FERRY_HOOK_SKIPPED,
                                   "skipped by an administrator (task retry --skip)", err)) != FERRY_OK)
                goto out;
            note(r, "hook %s (%s): SKIPPED by an administrator", h->id, ferry_hook_phase_name(phase));
            continue;
        }
        if (!ferry_hook_applies(h, &target, why, sizeof(why))) {
            if ((rc = record_final(r, h, FERRY_HOOK_NOT_APPLICABLE, why, err)) != FERRY_OK)
                goto out;
            continue;
        }
        if (!found)
            rec.runs = 0;
        if ((rc = run_hook(&hr, h, &rec, err)) != FERRY_OK)
            goto out;
        if (strcmp(rec.outcome, FERRY_HOOK_FAIL) != 0)
            continue;
        if (phase == FERRY_HOOK_PRE_CHECK) {
            /* Every check runs: the report lists all the data problems at once. */
            n_failed++;
            size_t l = strlen(failed);
            snprintf(failed + l, sizeof(failed) - l, "%s%s (%.200s)", l ? ", " : "", h->id, rec.reason);
            continue;
        }
        if (h->on_failure_continue) {
            note(r, "hook %s failed; on_failure is continue", h->id);
            continue;
        }
        rc = ferry_err_set(err, fail_code, "hook %s (%s) failed: %s", h->id, ferry_hook_phase_name(phase),
                           rec.reason);
        goto out;
    }
    ferry_run_emit(r, false, n, n, ferry_hook_phase_name(phase));
    if (n_failed > 0)
        rc = ferry_err_set(err, FERRY_E_PRECHECK_FAILED, "%zu pre-check(s) failed: %s; nothing was changed",
                           n_failed, failed);
out:
    ferry_sqlexec_free(hr.x);
    return rc;
}
