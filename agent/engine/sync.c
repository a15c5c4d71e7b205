/* Tree sync into a target directory, crash-safely (see sync.h for the contract). */
#include "ferry/engine/sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fs.h"

#define COPY_BUF (1u << 20)
/* Our own leftovers from an interrupted run; removed wherever they are met. */
#define TMP_PREFIX     ".ferry-tmp."
#define TMP_PREFIX_LEN (sizeof(TMP_PREFIX) - 1)

typedef struct pending {
    char tmp[32];
    char *name;
} pending_t;

typedef struct ctx {
    const ferry_sync_opts_t *o;
    unsigned flags;
    char *protect[FERRY_SYNC_MAX_PROTECT];
    size_t n_protect;
    ferry_sync_stats_t st;
    char *buf, *buf2;
    uint64_t done, total;
    int is_root;
    char src[PATH_MAX], dst[PATH_MAX];
    size_t dst_root_len; /* dst + dst_root_len + 1 is the relative path */
    char crash_file[96], crash_delete[96];
    ferry_err_t *err;
} ctx_t;

/* ---- path helpers ---- */

static const char *rel_of(const ctx_t *c)
{
    return c->dst[c->dst_root_len] == '\0' ? "" : c->dst + c->dst_root_len + 1;
}

static ferry_err_code_t push(ctx_t *c, char *path, size_t *saved, const char *name)
{
    size_t len = strlen(path);
    *saved = len;
    if (len + 1 + strlen(name) + 1 > PATH_MAX)
        return ferry_err_set(c->err, FERRY_E_TOO_LARGE, "path too long: '%s/%s'", path, name);
    path[len] = '/';
    memcpy(path + len + 1, name, strlen(name) + 1);
    return FERRY_OK;
}

static int protected_at(const ctx_t *c, const char *rel)
{
    for (size_t i = 0; i < c->n_protect; i++) {
        size_t pl = strlen(c->protect[i]);
        if (pl == 0 || (strncmp(rel, c->protect[i], pl) == 0 && (rel[pl] == '\0' || rel[pl] == '/')))
            return 1;
    }
    return 0;
}

static int protected_below(const ctx_t *c, const char *rel)
{
    size_t rl = strlen(rel);
    for (size_t i = 0; i < c->n_protect; i++)
        if (rl == 0 || (strncmp(c->protect[i], rel, rl) == 0 && c->protect[i][rl] == '/'))
            return 1;
    return 0;
}

/* ---- directory listing, sorted for determinism ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static ferry_err_code_t list_dir(const char *path, char ***out, size_t *n_out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(path);
    if (d == NULL) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open dir '%s'", path);
        goto out;
    }
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (nn == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory listing '%s'", path);
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory listing '%s'", path);
            goto out;
        }
        n++;
        errno = 0;
    }
    if (errno != 0)
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "read dir '%s'", path);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
out:
    if (d != NULL)
        closedir(d);
    if (rc != FERRY_OK) {
        free_list(names, n);
        names = NULL;
        n = 0;
    }
    *out = names;
    *n_out = n;
    return rc;
}

static int in_list(char **names, size_t n, const char *name)
{
    return n > 0 && bsearch(&name, names, n, sizeof(*names), cmp_str) != NULL;
}

/* ---- file helpers ---- */

static ferry_err_code_t copy_fd(ctx_t *c, int in, int out, const char *from, const char *to)
{
    /* copy_file_range lets the kernel move the bytes (no user-space copy, reflinks on
       file systems that have them); plain read/write when it is not supported. */
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
        if (n == 0)
            return FERRY_OK;
        if (n > 0) {
            c->done += (uint64_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)
            break;
        return ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "copy '%s' to '%s'", from, to);
    }
    for (;;) {
        ssize_t r = read(in, c->buf, COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "read '%s'", from);
        if (r == 0)
            return FERRY_OK;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, c->buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "write '%s'", to);
            off += w;
        }
        c->done += (uint64_t)r;
    }
}

static ssize_t read_full(int fd, char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* 1 = same bytes, 0 = different, -1 = error (err set). Both have the same size. */
static int same_content(ctx_t *c, const char *a, const char *b)
{
    int fa = open(a, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), fb = -1, res = -1;
    if (fa < 0) {
        ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "open '%s'", a);
        goto out;
    }
    fb = open(b, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fb < 0) {
        res = 0; /* unreadable target: rewrite it */
        goto out;
    }
    for (;;) {
        ssize_t x = read_full(fa, c->buf, COPY_BUF), y = read_full(fb, c->buf2, COPY_BUF);
        if (x < 0 || y < 0) {
            ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "read '%s' or '%s'", a, b);
            goto out;
        }
        if (x != y || memcmp(c->buf, c->buf2, (size_t)x) != 0) {
            res = 0;
            goto out;
        }
        if (x == 0)
            break;
    }
    res = 1;
out:
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return res;
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Owner an entry should get: the source's (FERRY_SYNC_OWNERS), the replaced entry's, or
   the target directory's. Only when running as root; otherwise -1 (leave as created). */
static void pick_owner(const ctx_t *c, const struct stat *src, const struct stat *old, const struct stat *dir,
                       uid_t *u, gid_t *g)
{
    *u = (uid_t)-1;
    *g = (gid_t)-1;
    if (!c->is_root)
        return;
    const struct stat *from = (c->flags & FERRY_SYNC_OWNERS) ? src : old != NULL ? old : dir;
    *u = from->st_uid;
    *g = from->st_gid;
}

/* Applies mode, owner and mtime of |s| to the entry at |path| (a file, dir or symlink). */
static ferry_err_code_t set_meta(ctx_t *c, const char *path, const struct stat *s, uid_t u, gid_t g)
{
    struct timespec times[2] = {s->st_mtim, s->st_mtim};
    if (u != (uid_t)-1 && lchown(path, u, g) != 0)
        return ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "chown '%s'", path);
    if (!S_ISLNK(s->st_mode) && chmod(path, s->st_mode & 07777) != 0)
        return ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "chmod '%s'", path);
    if (utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) != 0)
        return ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "set mtime '%s'", path);
    return FERRY_OK;
}

static ferry_err_code_t remove_entry(ctx_t *c, const char *path)
{
    ferry_err_code_t rc = ferry_fs_rm_rf(path, c->err);
    if (rc != FERRY_OK)
        return rc;
    c->st.deleted++;
    if (c->o->crash_prefix != NULL)
        ferry_crashpoint(c->crash_delete);
    return FERRY_OK;
}

/* Deletes what is in target dir c->dst but not in |src_names|, keeping protected entries
   (and the protected paths below an otherwise doomed directory). */
static ferry_err_code_t delete_extras(ctx_t *c, char **src_names, size_t n_src, int *dirty)
{
    ferry_err_code_t rc = FERRY_OK;
    char **names = NULL;
    size_t n = 0;
    if ((rc = list_dir(c->dst, &names, &n, c->err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t saved;
        int ours = strncmp(names[i], TMP_PREFIX, TMP_PREFIX_LEN) == 0;
        if (!ours && (!(c->flags & FERRY_SYNC_DELETE) || in_list(src_names, n_src, names[i])))
            continue;
        if ((rc = push(c, c->dst, &saved, names[i])) != FERRY_OK)
            goto out;
        const char *rel = rel_of(c);
        struct stat st;
        if (ours) {
            rc = ferry_fs_rm_rf(c->dst, c->err);
            *dirty = 1;
        } else if (protected_at(c, rel)) {
            c->st.protected_kept++;
        } else if (protected_below(c, rel) && lstat(c->dst, &st) == 0 && S_ISDIR(st.st_mode)) {
            int sub_dirty = 0;
            rc = delete_extras(c, NULL, 0, &sub_dirty);
            if (rc == FERRY_OK && sub_dirty && !(c->flags & FERRY_SYNC_DEFER_DURABILITY))
                rc = ferry_fs_fsync_dir(c->dst, c->err);
        } else {
            rc = remove_entry(c, c->dst);
            *dirty = 1;
        }
        c->dst[saved] = '\0';
        if (rc != FERRY_OK)
            goto out;
    }
out:
    free_list(names, n);
    return rc;
}

static ferry_err_code_t sync_dir(ctx_t *c, const struct stat *dst_dir_st);

/* Handles one source entry |name| of the current directories. */
static ferry_err_code_t sync_entry(ctx_t *c, const char *name, const struct stat *dir_st, pending_t *pend,
                                   size_t *n_pend, int *dirty)
{
    ferry_err_code_t rc = FERRY_OK;
    size_t s_saved = 0, d_saved = 0;
    struct stat s, t;
    int have_t;
    uid_t u;
    gid_t g;
    int fin = -1, fout = -1;
    if ((rc = push(c, c->src, &s_saved, name)) != FERRY_OK)
        return rc;
    if ((rc = push(c, c->dst, &d_saved, name)) != FERRY_OK) {
        c->src[s_saved] = '\0';
        return rc;
    }
    if (lstat(c->src, &s) != 0) {
        rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "stat '%s'", c->src);
        goto out;
    }
    have_t = lstat(c->dst, &t) == 0;
    if (S_ISDIR(s.st_mode)) {
        if (have_t && !S_ISDIR(t.st_mode)) {
            if ((rc = remove_entry(c, c->dst)) != FERRY_OK)
                goto out;
            have_t = 0;
        }
        if (!have_t) {
            if (mkdir(c->dst, 0700) != 0) {
                rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "mkdir '%s'", c->dst);
                goto out;
            }
            c->st.dirs_created++;
            *dirty = 1;
            if (lstat(c->dst, &t) != 0) {
                rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "stat '%s'", c->dst);
                goto out;
            }
        }
        if ((rc = sync_dir(c, &t)) != FERRY_OK)
            goto out;
        pick_owner(c, &s, have_t ? &t : NULL, dir_st, &u, &g);
        rc = set_meta(c, c->dst, &s, u, g);
        goto out;
    }
    if (!S_ISREG(s.st_mode) && !S_ISLNK(s.st_mode))
        goto out; /* sockets, fifos, devices: runtime artefacts, not content; skipped */
    if (have_t && S_ISDIR(t.st_mode)) {
        if ((rc = remove_entry(c, c->dst)) != FERRY_OK)
            goto out;
        have_t = 0;
    }
    pick_owner(c, &s, have_t ? &t : NULL, dir_st, &u, &g);
    if (S_ISLNK(s.st_mode)) {
        char a[PATH_MAX], b[PATH_MAX];
        ssize_t al = readlink(c->src, a, sizeof(a) - 1);
        if (al < 0) {
            rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "readlink '%s'", c->src);
            goto out;
        }
        a[al] = '\0';
        c->st.symlinks++;
        if (have_t && S_ISLNK(t.st_mode)) {
            ssize_t bl = readlink(c->dst, b, sizeof(b) - 1);
            if (bl == al && memcmp(a, b, (size_t)al) == 0) {
                if (!same_time(&s.st_mtim, &t.st_mtim) ||
                    (u != (uid_t)-1 && (t.st_uid != u || t.st_gid != g)))
                    rc = set_meta(c, c->dst, &s, u, g);
                goto out;
            }
        }
        if (c->flags & FERRY_SYNC_DEFER_DURABILITY) {
            if ((have_t && unlink(c->dst) != 0) || symlink(a, c->dst) != 0) {
                rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "symlink '%s'", c->dst);
                goto out;
            }
            rc = set_meta(c, c->dst, &s, u, g);
            goto out;
        }
        snprintf(pend[*n_pend].tmp, sizeof(pend[*n_pend].tmp), TMP_PREFIX "%zu", *n_pend);
        c->dst[d_saved] = '\0';
        size_t dummy;
        push(c, c->dst, &dummy, pend[*n_pend].tmp);
        unlink(c->dst);
        if (symlink(a, c->dst) != 0 || (rc = set_meta(c, c->dst, &s, u, g)) != FERRY_OK) {
            if (rc == FERRY_OK)
                rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "symlink '%s'", c->dst);
            unlink(c->dst);
            goto out;
        }
        if ((pend[*n_pend].name = strdup(name)) == NULL) {
            unlink(c->dst);
            rc = ferry_err_set(c->err, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        (*n_pend)++;
        goto out;
    }
    /* regular file */
    if (have_t && S_ISREG(t.st_mode) && t.st_size == s.st_size) {
        int same = same_content(c, c->src, c->dst);
        if (same < 0) {
            rc = c->err != NULL ? c->err->code : FERRY_E_IO;
            goto out;
        }
        if (same) {
            if ((t.st_mode & 07777) != (s.st_mode & 07777) || !same_time(&s.st_mtim, &t.st_mtim) ||
                (u != (uid_t)-1 && (t.st_uid != u || t.st_gid != g)))
                rc = set_meta(c, c->dst, &s, u, g);
            c->st.files_same++;
            c->done += (uint64_t)s.st_size;
            goto out;
        }
    }
    c->st.files_written++;
    c->st.bytes_written += (uint64_t)s.st_size;
    if (c->flags & FERRY_SYNC_MOVE) {
        /* The source is durable (extracted then syncfs'd): one atomic rename is enough. */
        if (u != (uid_t)-1 && lchown(c->src, u, g) != 0) {
            rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "chown '%s'", c->src);
            goto out;
        }
        if (rename(c->src, c->dst) == 0) {
            c->done += (uint64_t)s.st_size;
            *dirty = 1;
            if (c->o->crash_prefix != NULL)
                ferry_crashpoint(c->crash_file);
            goto out;
        }
        if (errno != EXDEV) {
            rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "rename '%s' to '%s'",
                                     c->src, c->dst);
            goto out;
        }
    }
    int defer = (c->flags & FERRY_SYNC_DEFER_DURABILITY) != 0;
    if (!defer) {
        snprintf(pend[*n_pend].tmp, sizeof(pend[*n_pend].tmp), TMP_PREFIX "%zu", *n_pend);
        c->dst[d_saved] = '\0';
        size_t dummy;
        push(c, c->dst, &dummy, pend[*n_pend].tmp);
    }
    if (!defer || (have_t && !S_ISREG(t.st_mode)))
        unlink(c->dst); /* a stale temporary, or (defer) a symlink in the way */
    fin = open(c->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fin < 0) {
        rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "open '%s'", c->src);
        goto out;
    }
    fout = open(c->dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fout < 0) {
        rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "create '%s'", c->dst);
        goto out;
    }
    if ((rc = copy_fd(c, fin, fout, c->src, c->dst)) != FERRY_OK)
        goto out;
    struct timespec times[2] = {s.st_mtim, s.st_mtim};
    if ((u != (uid_t)-1 && fchown(fout, u, g) != 0) || fchmod(fout, s.st_mode & 07777) != 0 ||
        futimens(fout, times) != 0) {
        rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "set mode/owner/mtime '%s'",
                                 c->dst);
        goto out;
    }
    if (close(fout) != 0) {
        fout = -1;
        rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "close '%s'", c->dst);
        goto out;
    }
    fout = -1;
    if (defer) {
        if (c->o->crash_prefix != NULL)
            ferry_crashpoint(c->crash_file);
    } else {
        if ((pend[*n_pend].name = strdup(name)) == NULL) {
            rc = ferry_err_set(c->err, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        (*n_pend)++;
    }
    ferry_progress_report(c->o->progress, c->done, c->total, rel_of(c));
out:
    if (fin >= 0)
        close(fin);
    if (fout >= 0) {
        close(fout);
        unlink(c->dst);
    }
    c->src[s_saved] = '\0';
    c->dst[d_saved] = '\0';
    return rc;
}

/* Syncs the directory pair currently in c->src / c->dst (both exist, dst a real dir). */
static ferry_err_code_t sync_dir(ctx_t *c, const struct stat *dst_dir_st)
{
    ferry_err_code_t rc = FERRY_OK;
    char **names = NULL;
    size_t n = 0, n_pend = 0;
    pending_t *pend = NULL;
    int dirty = 0;
    if ((rc = list_dir(c->src, &names, &n, c->err)) != FERRY_OK)
        goto out;
    if ((rc = delete_extras(c, names, n, &dirty)) != FERRY_OK)
        goto out;
    pend = calloc(n ? n : 1, sizeof(*pend));
    if (pend == NULL) {
        rc = ferry_err_set(c->err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = sync_entry(c, names[i], dst_dir_st, pend, &n_pend, &dirty)) != FERRY_OK)
            goto out;
    if (n_pend > 0) {
        /* One syncfs makes every temporary of this directory durable before any rename. */
        int dfd = open(c->dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || syncfs(dfd) != 0) {
            rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "sync '%s'", c->dst);
            if (dfd >= 0)
                close(dfd);
            goto out;
        }
        close(dfd);
        for (size_t i = 0; i < n_pend; i++) {
            char from[PATH_MAX], to[PATH_MAX];
            if (ferry_fs_join(from, sizeof(from), c->dst, pend[i].tmp) != FERRY_OK ||
                ferry_fs_join(to, sizeof(to), c->dst, pend[i].name) != FERRY_OK) {
                rc = ferry_err_set(c->err, FERRY_E_TOO_LARGE, "path too long in '%s'", c->dst);
                goto out;
            }
            if (rename(from, to) != 0) {
                rc = ferry_err_set_errno(c->err, ferry_err_from_errno(errno), errno, "rename '%s' to '%s'",
                                         from, to);
                goto out;
            }
            if (c->o->crash_prefix != NULL)
                ferry_crashpoint(c->crash_file);
        }
        dirty = 1;
    }
    if (dirty && !(c->flags & FERRY_SYNC_DEFER_DURABILITY))
        rc = ferry_fs_fsync_dir(c->dst, c->err);
out:
    if (pend != NULL) {
        for (size_t i = 0; i < n_pend; i++)
            free(pend[i].name);
        free(pend);
    }
    free_list(names, n);
    return rc;
}

/* Sum of regular file sizes below |path| (for progress totals); errors ignored. */
static uint64_t tree_bytes(char *path)
{
    uint64_t sum = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    size_t len = strlen(path);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (len + 2 + strlen(de->d_name) > PATH_MAX)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, strlen(de->d_name) + 1);
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (S_ISREG(st.st_mode))
                sum += (uint64_t)st.st_size;
            else if (S_ISDIR(st.st_mode))
                sum += tree_bytes(path);
        }
        path[len] = '\0';
    }
    closedir(d);
    return sum;
}

static ferry_err_code_t normalize_protect(ctx_t *c, const char *target, ferry_err_t *err)
{
    const ferry_sync_opts_t *o = c->o;
    if (o->n_protect > FERRY_SYNC_MAX_PROTECT)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%zu protect paths (at most %d)", o->n_protect,
                             FERRY_SYNC_MAX_PROTECT);
    size_t tl = strlen(target);
    while (tl > 1 && target[tl - 1] == '/')
        tl--;
    for (size_t i = 0; i < o->n_protect; i++) {
        const char *p = o->protect[i];
        if (p == NULL)
            continue;
        if (p[0] == '/') {
            if (strncmp(p, target, tl) != 0 || (p[tl] != '/' && p[tl] != '\0'))
                continue; /* outside the target: nothing here to protect */
            p += tl;
        }
        while (*p == '/' || (p[0] == '.' && p[1] == '/'))
            p += p[0] == '/' ? 1 : 2;
        char *q = strdup(p);
        if (q == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        size_t ql = strlen(q);
        while (ql > 0 && q[ql - 1] == '/')
            q[--ql] = '\0';
        if (strcmp(q, ".") == 0)
            q[0] = '\0';
        c->protect[c->n_protect++] = q;
        if (strstr(q, "..") != NULL &&
            (strcmp(q, "..") == 0 || strncmp(q, "../", 3) == 0 || strstr(q, "/../") != NULL ||
             (ql >= 3 && strcmp(q + ql - 3, "/..") == 0)))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "protect path '%s' contains '..'", o->protect[i]);
    }
    return FERRY_OK;
}

ferry_err_code_t ferry_sync_tree(const char *source_dir, const char *target_dir,
                                 const ferry_sync_opts_t *opts, ferry_sync_stats_t *stats, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_sync_opts_t none = {0};
    ctx_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    c->o = opts != NULL ? opts : &none;
    c->flags = c->o->flags;
    c->err = err;
    c->is_root = geteuid() == 0;
    c->buf = malloc(COPY_BUF);
    c->buf2 = malloc(COPY_BUF);
    if (c->buf == NULL || c->buf2 == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if (c->o->crash_prefix != NULL) {
        snprintf(c->crash_file, sizeof(c->crash_file), "%.80s.file", c->o->crash_prefix);
        snprintf(c->crash_delete, sizeof(c->crash_delete), "%.80s.delete", c->o->crash_prefix);
    }
    if ((rc = normalize_protect(c, target_dir, err)) != FERRY_OK)
        goto out;
    if (strlen(source_dir) >= PATH_MAX || strlen(target_dir) >= PATH_MAX) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", target_dir);
        goto out;
    }
    struct stat s, t;
    if (stat(source_dir, &s) != 0 || !S_ISDIR(s.st_mode)) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "sync source '%s' is not a directory", source_dir);
        goto out;
    }
    if ((rc = ferry_fs_mkdir_p(target_dir, 0755, err)) != FERRY_OK)
        goto out;
    if (stat(target_dir, &t) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "stat '%s'", target_dir);
        goto out;
    }
    snprintf(c->src, sizeof(c->src), "%s", source_dir);
    snprintf(c->dst, sizeof(c->dst), "%s", target_dir);
    for (size_t l = strlen(c->src); l > 1 && c->src[l - 1] == '/'; l--)
        c->src[l - 1] = '\0';
    for (size_t l = strlen(c->dst); l > 1 && c->dst[l - 1] == '/'; l--)
        c->dst[l - 1] = '\0';
    c->dst_root_len = strlen(c->dst);
    c->total = tree_bytes(c->src);
    if ((rc = sync_dir(c, &t)) != FERRY_OK)
        goto out;
    /* The root takes the source root's mode and mtime too (a faithful mirror). */
    uid_t u;
    gid_t g;
    pick_owner(c, &s, &t, &t, &u, &g);
    rc = set_meta(c, c->dst, &s, u, g);
    ferry_progress_report(c->o->progress, c->done, c->total, "");
out:
    if (stats != NULL)
        *stats = c->st;
    for (size_t i = 0; i < c->n_protect; i++)
        free(c->protect[i]);
    free(c->buf);
    free(c->buf2);
    free(c);
    return rc;
}

ferry_err_code_t ferry_install_member(ferry_zip_t *pkg, const char *member, const char *target_dir,
                                      const char *temp_dir, const ferry_zip_limits_t *limits,
                                      const ferry_sync_opts_t *opts, ferry_err_code_t fail_code,
                                      ferry_sync_stats_t *stats, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_zip_t *inner = NULL;
    char work[PATH_MAX];
    int made = 0;
    ferry_sync_opts_t o = {0};
    if (opts != NULL)
        o = *opts;
    o.flags |= FERRY_SYNC_MOVE;
    if ((rc = ferry_fs_mkdir_p(temp_dir, 0700, err)) != FERRY_OK)
        goto out;
    /* A fixed name: an extraction left by a crash is found and removed on the redo. */
    if (snprintf(work, sizeof(work), "%s/%s.extract", temp_dir, member) >= (int)sizeof(work)) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", temp_dir);
        goto out;
    }
    if ((rc = ferry_fs_rm_rf(work, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_zip_open_member(pkg, member, temp_dir, limits, 0, &inner, err)) != FERRY_OK)
        goto out;
    made = 1;
    if ((rc = ferry_zip_extract(inner, work, 0, o.progress, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_sync_tree(work, target_dir, &o, stats, err)) != FERRY_OK)
        goto out;
out:
    ferry_zip_close(inner);
    if (made)
        ferry_fs_rm_rf(work, NULL);
    if (rc != FERRY_OK && rc != FERRY_E_PACKAGE_INVALID) {
        ferry_err_prefix(err, "install %s into '%s'", member, target_dir);
        rc = ferry_err_recode(err, fail_code);
    }
    return rc;
}
