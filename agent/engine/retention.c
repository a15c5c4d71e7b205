/* Keep the newest N backup folders (see retention.h). */
#include "ferry/engine/retention.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/fs.h"
#include "ferry/engine/backup.h"

typedef struct cand {
    char *name;
    int64_t age; /* startedAt, unix seconds */
    int complete;
    int keep;
} cand_t;

static int newest_first(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->age != y->age)
        return x->age < y->age ? 1 : -1;
    return -strcmp(x->name, y->name); /* "1.2_2025..." after "1.2": the retry is newer */
}

/* Reads startedAt from the stamp; -1 when absent or unreadable. */
static int64_t stamp_time(const char *dir)
{
    char p[PATH_MAX];
    char *text = NULL;
    int64_t t = -1;
    if (ferry_fs_join(p, sizeof(p), dir, FERRY_BACKUP_STARTED_FILE) != FERRY_OK ||
        ferry_fs_read_file(p, 64 * 1024, &text, NULL, NULL) != FERRY_OK)
        return -1;
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (o != NULL && json_is_integer(json_object_get(o, "startedAt")))
        t = json_integer_value(json_object_get(o, "startedAt"));
    json_decref(o);
    free(text);
    return t;
}

static int is_kept(const char *root, const char *name, const char *const *keep, size_t n_keep)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    for (size_t i = 0; i < n_keep; i++) {
        const char *k = keep[i];
        if (k == NULL)
            continue;
        if (k[0] == '/') {
            if (strncmp(k, root, rl) != 0 || k[rl] != '/')
                continue;
            k += rl + 1;
        }
        size_t kl = strlen(k);
        while (kl > 0 && k[kl - 1] == '/')
            kl--;
        if (strlen(name) == kl && strncmp(k, name, kl) == 0)
            return 1;
    }
    return 0;
}

ferry_err_code_t ferry_retention_apply(const char *backup_root, unsigned keep_n, const char *const *keep,
                                       size_t n_keep, unsigned *deleted, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    cand_t *c = NULL;
    size_t n = 0;
    unsigned removed = 0;
    DIR *d = NULL;
    char p[PATH_MAX];
    if (keep_n == 0)
        goto out;
    d = opendir(backup_root);
    if (d == NULL) {
        if (errno != ENOENT)
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open backup root '%s'",
                                     backup_root);
        goto out;
    }
    c = calloc(FERRY_RETENTION_MAX_DIRS, sizeof(*c));
    if (c == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (ferry_fs_join(p, sizeof(p), backup_root, de->d_name) != FERRY_OK)
            continue;
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode))
            continue; /* symlinks and files are never ours */
        char s1[PATH_MAX], s2[PATH_MAX];
        if (ferry_fs_join(s1, sizeof(s1), p, FERRY_BACKUP_STARTED_FILE) != FERRY_OK ||
            ferry_fs_join(s2, sizeof(s2), p, FERRY_BACKUP_COMPLETE_FILE) != FERRY_OK)
            continue;
        int started = ferry_fs_exists(s1), complete = ferry_fs_exists(s2);
        if (!started && !complete)
            continue; /* not a Ferry backup: never touched */
        if (n == FERRY_RETENTION_MAX_DIRS) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE,
                               "more than %d backup folders under '%s'; nothing deleted",
                               FERRY_RETENTION_MAX_DIRS, backup_root);
            goto out;
        }
        int64_t t = stamp_time(p);
        c[n].age = t >= 0 ? t : (int64_t)st.st_mtim.tv_sec;
        c[n].complete = complete;
        c[n].keep = is_kept(backup_root, de->d_name, keep, n_keep);
        if ((c[n].name = strdup(de->d_name)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    qsort(c, n, sizeof(*c), newest_first);
    /* the folders the caller needs count toward N first, wherever they sort */
    unsigned kept = 0;
    for (size_t i = 0; i < n; i++)
        kept += (unsigned)c[i].keep;
    int newer_kept = 0;
    for (size_t i = 0; i < n; i++) {
        int del;
        if (c[i].keep) {
            newer_kept = 1;
            continue;
        }
        if (c[i].complete) {
            del = kept >= keep_n;
            if (!del) {
                kept++;
                newer_kept = 1;
            }
        } else {
            /* an incomplete backup can never be restored; it goes once something newer is kept */
            del = newer_kept;
        }
        if (!del)
            continue;
        ferry_fs_join(p, sizeof(p), backup_root, c[i].name);
        if ((rc = ferry_fs_rm_rf(p, err)) != FERRY_OK) {
            ferry_err_prefix(err, "retention: remove old backup");
            goto out;
        }
        removed++;
    }
    if (removed > 0)
        rc = ferry_fs_fsync_dir(backup_root, err);
out:
    if (d != NULL)
        closedir(d);
    if (c != NULL) {
        for (size_t i = 0; i < n; i++)
            free(c[i].name);
        free(c);
    }
    if (deleted != NULL)
        *deleted = removed;
    return rc;
}
