/*
 * The diagnostic zip written when the service cannot be stopped (see diag.h).
 * Gathering is best effort: whatever cannot be collected becomes a note inside the
 * zip, because a diagnostic file with a gap beats no diagnostic file.
 */
#include "ferry/engine/diag.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "ferry/fs.h"
#include "ferry/log.h"

#define PROC_WALK_CAP (1024 * 1024)

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Adds |text| (owned; freed in all cases) as |name|, masked. */
static ferry_err_code_t add_text(zip_t *z, const char *name, char *text, ferry_err_t *err)
{
    if (text == NULL)
        text = xasprintf("(could not be collected: out of memory)\n");
    if (text == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "diagnostic %s: out of memory", name);
    size_t len = ferry_log_mask_secrets(text);
    if (len == 0) {
        /* libzip does not take ownership of a zero-length buffer, and an empty entry
         * tells the reader less than saying so. */
        free(text);
        if ((text = xasprintf("(empty)\n")) == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "diagnostic %s: out of memory", name);
        len = strlen(text);
    }
    zip_source_t *src = zip_source_buffer(z, text, len, 1);
    if (src == NULL) {
        free(text);
        return ferry_err_set(err, FERRY_E_IO, "diagnostic %s: %s", name, zip_strerror(z));
    }
    if (zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE) < 0) {
        zip_source_free(src);
        return ferry_err_set(err, FERRY_E_IO, "diagnostic %s: %s", name, zip_strerror(z));
    }
    return FERRY_OK;
}

/* The last |max| bytes of |path|, starting at a line boundary when possible. */
static char *file_tail(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return xasprintf("(agent log %s could not be opened: %s)\n", path, strerror(errno));
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0)
        goto out;
    off_t from = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
    size_t want = (size_t)(st.st_size - from);
    buf = malloc(want + 1);
    if (buf == NULL)
        goto out;
    ssize_t r = pread(fd, buf, want, from);
    if (r < 0) {
        free(buf);
        buf = xasprintf("(agent log %s could not be read: %s)\n", path, strerror(errno));
        goto out;
    }
    buf[r] = '\0';
    if (from > 0) {
        char *nl = strchr(buf, '\n');
        if (nl != NULL)
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
out:
    close(fd);
    return buf;
}

/* A process list from /proc when ps is not installed. */
static char *proc_walk(void)
{
    size_t cap = PROC_WALK_CAP, len = 0;
    char *out = malloc(cap);
    DIR *d = opendir("/proc");
    if (out == NULL || d == NULL) {
        free(out);
        if (d != NULL)
            closedir(d);
        return xasprintf("(no ps and /proc unreadable)\n");
    }
    len = (size_t)snprintf(out, cap, "PID PPID STATE CMDLINE (from /proc)\n");
    struct dirent *e;
    while ((e = readdir(d)) != NULL && len + 600 < cap) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char p[300], stat_line[512] = "", cmd[400] = "";
        snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(p, "re");
        if (f != NULL) {
            if (fgets(stat_line, sizeof(stat_line), f) == NULL)
                stat_line[0] = '\0';
            fclose(f);
        }
        snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r = read(fd, cmd, sizeof(cmd) - 1);
            close(fd);
            if (r > 0) {
                for (ssize_t i = 0; i < r; i++)
                    if (cmd[i] == '\0')
                        cmd[i] = ' ';
                cmd[r] = '\0';
            }
        }
        char state = '?';
        int ppid = 0;
        const char *rp = strrchr(stat_line, ')');
        if (rp != NULL)
            sscanf(rp + 1, " %c %d", &state, &ppid);
        if (cmd[0] == '\0' && rp != NULL) {
            const char *lp = strchr(stat_line, '(');
            if (lp != NULL)
                snprintf(cmd, sizeof(cmd), "[%.*s]", (int)(rp - lp - 1), lp + 1);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s %d %c %s\n", e->d_name, ppid, state, cmd);
    }
    closedir(d);
    return out;
}

static char *process_list(void)
{
    char *argv[] = {"ps", "auxww", NULL};
    ferry_proc_result_t r;
    if (ferry_proc_run(argv, ferry_now_ms() + 10000, FERRY_DIAG_OUTPUT_CAP, &r, NULL) == FERRY_OK) {
        if (r.exited && r.exit_code == 0) {
            char *out = r.output;
            r.output = NULL;
            ferry_proc_result_clear(&r);
            return out;
        }
        ferry_proc_result_clear(&r);
    }
    return proc_walk();
}

static void fmt_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (t == 0) {
        snprintf(buf, size, "unknown");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

ferry_err_code_t ferry_diag_write(const ferry_diag_input_t *in, char *path, size_t size, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    zip_t *z = NULL;
    char tmp[PATH_MAX + 8], final[PATH_MAX], ver[128], stamp[32], t_start[32], t_fail[32], host[256] = "";
    int zerr = 0;
    time_t failed = in->failed != 0 ? in->failed : time(NULL);
    struct tm tm;
    tmp[0] = '\0';
    if (size > 0)
        path[0] = '\0';
    if (in->out_dir == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "diagnostic file: no output directory");
    if ((rc = ferry_fs_mkdir_p(in->out_dir, 0700, err)) != FERRY_OK)
        goto out;
    /* The version goes into a file name: keep it to safe characters. */
    snprintf(ver, sizeof(ver), "%s", in->version != NULL ? in->version : "unknown");
    for (char *p = ver; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              strchr("._-()", *p) != NULL))
            *p = '_';
    gmtime_r(&failed, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    for (int n = 0;; n++) {
        int w = n == 0 ? snprintf(final, sizeof(final), "%s/diag-%s-%s.zip", in->out_dir, ver, stamp)
                       : snprintf(final, sizeof(final), "%s/diag-%s-%s-%d.zip", in->out_dir, ver, stamp, n);
        if (w < 0 || (size_t)w >= sizeof(final) - 8) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "diagnostic file path too long in %s", in->out_dir);
            goto out;
        }
        if (!ferry_fs_exists(final))
            break;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", final);
    unlink(tmp);
    if ((z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr)) == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        rc = ferry_err_set(err, FERRY_E_IO, "create %s: %s", tmp, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        goto out;
    }

    gethostname(host, sizeof(host) - 1);
    fmt_time(in->started, t_start, sizeof(t_start));
    fmt_time(failed, t_fail, sizeof(t_fail));
    char *summary = xasprintf("Ferry diagnostic file\nerror: %s (%d)\nmessage: %s\nversion: %s\nstarted: %s\n"
                              "failed: %s\nhost: %s\nservice: %s (%s)\n",
                              ferry_err_name(in->code), (int)in->code, in->message ? in->message : "",
                              in->version ? in->version : "unknown", t_start, t_fail, host,
                              in->svc != NULL ? in->svc->name : "unknown",
                              in->svc != NULL ? in->svc->ops->kind : "no service control");
    if ((rc = add_text(z, "summary.txt", summary, err)) != FERRY_OK)
        goto out;

    char *status = NULL;
    if (in->svc != NULL) {
        ferry_err_t e = {0};
        if (ferry_svcctl_describe(in->svc, &status, &e) != FERRY_OK)
            status = xasprintf("(service status could not be collected: %s)\n", e.msg);
    } else {
        status = xasprintf("(no service control given)\n");
    }
    if ((rc = add_text(z, "service-status.txt", status, err)) != FERRY_OK)
        goto out;
    if ((rc = add_text(z, "processes.txt", process_list(), err)) != FERRY_OK)
        goto out;
    char *tail = in->agent_log != NULL ? file_tail(in->agent_log, FERRY_DIAG_LOG_TAIL)
                                       : xasprintf("(no agent log path given)\n");
    if ((rc = add_text(z, "agent-log-tail.txt", tail, err)) != FERRY_OK)
        goto out;
    char *cfg = NULL;
    if (in->config != NULL) {
        ferry_err_t e = {0};
        if (ferry_node_config_dump_effective(in->config, &cfg, &e) != FERRY_OK)
            cfg = xasprintf("{\"error\": \"effective config unavailable\"}\n");
    } else {
        cfg = xasprintf("{\"error\": \"no configuration given\"}\n");
    }
    if ((rc = add_text(z, "effective-config.json", cfg, err)) != FERRY_OK)
        goto out;

    if (zip_close(z) != 0) {
        rc = ferry_err_set(err, errno == ENOSPC ? FERRY_E_NOSPACE : FERRY_E_IO, "write %s: %s", tmp,
                           zip_strerror(z));
        goto out;
    }
    z = NULL;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "fsync %s", tmp);
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    if (rename(tmp, final) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "rename %s", tmp);
        goto out;
    }
    if ((rc = ferry_fs_fsync_dir(in->out_dir, err)) != FERRY_OK)
        goto out;
    if (snprintf(path, size, "%s", final) >= (int)size)
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "diagnostic path does not fit the caller's buffer");
out:
    if (z != NULL)
        zip_discard(z);
    if (rc != FERRY_OK && tmp[0] != '\0')
        unlink(tmp);
    return rc;
}
