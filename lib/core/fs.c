#include "ferry/fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

ferry_err_code_t ferry_fs_join(char *buf, size_t size, const char *a, const char *b)
{
    size_t al = strlen(a);
    while (al > 1 && a[al - 1] == '/')
        al--;
    while (*b == '/')
        b++;
    int n = snprintf(buf, size, "%.*s%s%s", (int)al, a, (al > 0 && a[al - 1] == '/') ? "" : "/", b);
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            buf[0] = '\0';
        return FERRY_E_TOO_LARGE;
    }
    return FERRY_OK;
}

ferry_err_code_t ferry_fs_fsync_dir(const char *dir, ferry_err_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open dir '%s'", dir);
    ferry_err_code_t rc = FERRY_OK;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "fsync dir '%s'", dir);
    close(fd);
    return rc;
}

ferry_err_code_t ferry_fs_fsync_parent(const char *path, ferry_err_t *err)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return ferry_fs_fsync_dir(".", err);
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1;
    if (n >= sizeof(dir))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    return ferry_fs_fsync_dir(dir, err);
}

static ferry_err_code_t write_all(int fd, const void *data, size_t len, const char *what, ferry_err_t *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "write '%s'", what);
        }
        p += w;
        len -= (size_t)w;
    }
    return FERRY_OK;
}

ferry_err_code_t ferry_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                       ferry_err_t *err)
{
    char tmp[PATH_MAX];
    int fd = -1;
    ferry_err_code_t rc = FERRY_OK;
    /* pid + a process-wide counter: two threads writing the same file must not share a
     * temp name (one's rename would take the other's half-written file, or fail). */
    static _Atomic unsigned long seq;
    unsigned long k = atomic_fetch_add(&seq, 1);
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%lu", path, (long)getpid(), k);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", path);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "create '%s'", tmp);
        goto out;
    }
    if ((rc = write_all(fd, data, len, tmp, err)) != FERRY_OK)
        goto out;
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "sync '%s'", tmp);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "close '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "rename '%s' to '%s'", tmp, path);
        goto out;
    }
    rc = ferry_fs_fsync_parent(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (rc != FERRY_OK)
        unlink(tmp);
    return rc;
}

ferry_err_code_t ferry_fs_mkdir_p(const char *path, mode_t mode, ferry_err_t *err)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "bad directory path '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "mkdir '%s'", buf);
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ferry_err_set(err, FERRY_E_IO, "'%s' exists and is not a directory", path);
    return FERRY_OK;
}

static ferry_err_code_t rm_at(int parent, const char *name, const char *display, ferry_err_t *err)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return FERRY_OK;
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "stat '%s'", display);
    }
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open '%s'", display);
        DIR *d = fdopendir(fd);
        if (d == NULL) {
            close(fd);
            return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "opendir '%s'", display);
        }
        ferry_err_code_t rc = FERRY_OK;
        struct dirent *de;
        while (rc == FERRY_OK && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            rc = rm_at(dirfd(d), de->d_name, display, err);
        }
        closedir(d);
        if (rc != FERRY_OK)
            return rc;
        if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
            return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "rmdir under '%s'", display);
        return FERRY_OK;
    }
    if (unlinkat(parent, name, 0) != 0 && errno != ENOENT)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "unlink under '%s'", display);
    return FERRY_OK;
}

ferry_err_code_t ferry_fs_rm_rf(const char *path, ferry_err_t *err)
{
    return rm_at(AT_FDCWD, path, path, err);
}

ferry_err_code_t ferry_fs_read_file(const char *path, size_t max_bytes, char **out, size_t *len_out,
                                    ferry_err_t *err)
{
    int fd = -1;
    char *buf = NULL;
    ferry_err_code_t rc = FERRY_OK;
    struct stat st;
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open '%s'", path);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "stat '%s'", path);
        goto out;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max_bytes) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "'%s' is %lld bytes, over the %zu-byte limit", path,
                           (long long)st.st_size, max_bytes);
        goto out;
    }
    size_t cap = (size_t)st.st_size, len = 0;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "read '%s': out of memory", path);
        goto out;
    }
    /* The file may grow while read; never read past what was allocated. */
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "read '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    if (len_out != NULL)
        *len_out = len;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

ferry_err_code_t ferry_fs_free_bytes(const char *path, uint64_t *out, ferry_err_t *err)
{
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "statvfs '%s'", path);
    *out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return FERRY_OK;
}

int ferry_fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int ferry_fs_is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
