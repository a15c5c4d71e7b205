/* Shared test support; see ferry_test_util.h. */
#include "ferry_test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "ferry/fs.h"
#include "ferry/hash.h"

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "ftu: %s '%s': %s\n", what, path, strerror(errno));
    return -1;
}

int ftu_mkdtemp(char *out, size_t size, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, size, "%s/ferry-%s-XXXXXX", base != NULL && base[0] ? base : "/tmp", tag);
    return mkdtemp(out) != NULL ? 0 : fail("mkdtemp", out);
}

static int make_parents(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    return ferry_fs_mkdir_p(dir, 0755, NULL) == FERRY_OK ? 0 : fail("mkdir -p", dir);
}

int ftu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    if (make_parents(path) != 0)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return fail("create", path);
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            close(fd);
            return fail("write", path);
        }
        p += w;
        len -= (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || close(fd) != 0)
        return fail("close", path);
    return 0;
}

int ftu_write_pattern(const char *path, uint64_t size, uint32_t seed, mode_t mode)
{
    static uint32_t buf[16384];
    if (make_parents(path) != 0)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return fail("create", path);
    uint32_t x = seed * 2654435761u + 1;
    while (size > 0) {
        for (size_t i = 0; i < 16384; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = x;
        }
        size_t n = size < sizeof(buf) ? (size_t)size : sizeof(buf);
        if (write(fd, buf, n) != (ssize_t)n) {
            close(fd);
            return fail("write", path);
        }
        size -= n;
    }
    if (fchmod(fd, mode) != 0 || close(fd) != 0)
        return fail("close", path);
    return 0;
}

char *ftu_read_file(const char *path, size_t *len_out)
{
    char *buf = NULL;
    size_t len = 0;
    if (ferry_fs_read_file(path, (size_t)1 << 30, &buf, &len, NULL) != FERRY_OK)
        return NULL;
    if (len_out != NULL)
        *len_out = len;
    return buf;
}

int ftu_set_mtime(const char *path, time_t sec, long nsec)
{
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : fail("utimensat", path);
}

int ftu_zip_build(const char *path, const ftu_zip_entry_t *e, size_t n)
{
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (za == NULL) {
        fprintf(stderr, "ftu: zip_open '%s' failed (%d)\n", path, zerr);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        zip_int64_t idx;
        if (e[i].kind == FTU_DIR) {
            idx = zip_dir_add(za, e[i].name, ZIP_FL_ENC_RAW);
        } else {
            zip_source_t *src;
            if (e[i].src_file != NULL) {
                src = zip_source_file(za, e[i].src_file, 0, -1);
            } else {
                size_t len = e[i].len ? e[i].len : (e[i].data ? strlen(e[i].data) : 0);
                src = zip_source_buffer(za, e[i].data, len, 0);
            }
            if (src == NULL) {
                fprintf(stderr, "ftu: zip source for '%s': %s\n", e[i].name, zip_strerror(za));
                zip_discard(za);
                return -1;
            }
            /* ZIP_FL_OVERWRITE not given: libzip refuses duplicates, so add duplicates
               under a placeholder and rename via raw patching if a test needs them. */
            idx = zip_file_add(za, e[i].name, src, ZIP_FL_ENC_RAW);
            if (idx < 0)
                zip_source_free(src);
        }
        if (idx < 0) {
            fprintf(stderr, "ftu: add '%s': %s\n", e[i].name, zip_strerror(za));
            zip_discard(za);
            return -1;
        }
        if (e[i].store)
            zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
        if (e[i].mode != 0 || e[i].kind == FTU_SYMLINK) {
            unsigned type = e[i].kind == FTU_DIR ? S_IFDIR : e[i].kind == FTU_SYMLINK ? S_IFLNK : S_IFREG;
            unsigned mode = e[i].mode ? e[i].mode : 0777;
            zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX, (type | mode) << 16);
        }
        if (e[i].mtime != 0)
            zip_file_set_mtime(za, (zip_uint64_t)idx, e[i].mtime, 0);
        if (e[i].password != NULL &&
            zip_file_set_encryption(za, (zip_uint64_t)idx, ZIP_EM_AES_256, e[i].password) != 0) {
            fprintf(stderr, "ftu: encrypt '%s': %s\n", e[i].name, zip_strerror(za));
            zip_discard(za);
            return -1;
        }
    }
    if (zip_close(za) != 0) {
        fprintf(stderr, "ftu: zip_close '%s': %s\n", path, zip_strerror(za));
        zip_discard(za);
        return -1;
    }
    return 0;
}

int ftu_file_replace(const char *path, const void *find, const void *repl, size_t len)
{
    size_t flen = 0;
    char *buf = ftu_read_file(path, &flen);
    int count = 0;
    if (buf == NULL)
        return fail("read", path);
    for (size_t i = 0; i + len <= flen; i++) {
        if (memcmp(buf + i, find, len) == 0) {
            memcpy(buf + i, repl, len);
            count++;
        }
    }
    int rc = ftu_write_file(path, buf, flen, 0644);
    free(buf);
    return rc == 0 ? count : -1;
}

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

int ftu_zip_patch(const char *path, const char *name, int field, uint32_t value)
{
    size_t flen = 0, nlen = strlen(name);
    unsigned char *b = (unsigned char *)ftu_read_file(path, &flen);
    int patched = 0;
    if (b == NULL)
        return fail("read", path);
    for (size_t i = 0; i + 46 <= flen; i++) {
        uint32_t sig = rd32(b + i);
        if (sig == 0x04034b50u && i + 30 + nlen <= flen && rd16(b + i + 26) == nlen &&
            memcmp(b + i + 30, name, nlen) == 0) {
            wr32(b + i + (field == FTU_FIELD_CRC ? 14 : 22), value);
            patched++;
        } else if (sig == 0x02014b50u && i + 46 + nlen <= flen && rd16(b + i + 28) == nlen &&
                   memcmp(b + i + 46, name, nlen) == 0) {
            wr32(b + i + (field == FTU_FIELD_CRC ? 16 : 24), value);
            patched++;
        }
    }
    int rc = patched == 2 ? ftu_write_file(path, b, flen, 0644) : -1;
    if (patched != 2)
        fprintf(stderr, "ftu: patch '%s' in '%s': %d headers found\n", name, path, patched);
    free(b);
    return rc;
}

/* ---- tree comparison ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list(const char *dir, size_t *n_out)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    *n_out = 0;
    if (d == NULL)
        return NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, cap * sizeof(*names));
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    *n_out = n;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int files_equal(const char *a, const char *b)
{
    static char ba[65536], bb[65536];
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa != NULL && fb != NULL;
    while (eq) {
        size_t x = fread(ba, 1, sizeof(ba), fa), y = fread(bb, 1, sizeof(bb), fb);
        if (x != y || memcmp(ba, bb, x) != 0)
            eq = 0;
        if (x == 0 || x != y)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return eq;
}

static int meta_equal(const struct stat *x, const struct stat *y, unsigned flags, const char *path, char *why,
                      size_t ws)
{
    if ((x->st_mode & S_IFMT) != (y->st_mode & S_IFMT)) {
        snprintf(why, ws, "'%s': type differs", path);
        return 0;
    }
    if (!S_ISLNK(x->st_mode) && (x->st_mode & 07777) != (y->st_mode & 07777)) {
        snprintf(why, ws, "'%s': mode %o vs %o", path, x->st_mode & 07777, y->st_mode & 07777);
        return 0;
    }
    if (flags & (FTU_CMP_MTIME | FTU_CMP_MTIME_100NS)) {
        long xn = x->st_mtim.tv_nsec, yn = y->st_mtim.tv_nsec;
        if (flags & FTU_CMP_MTIME_100NS) {
            xn /= 100;
            yn /= 100;
        }
        if (x->st_mtim.tv_sec != y->st_mtim.tv_sec || xn != yn) {
            snprintf(why, ws, "'%s': mtime %lld.%09ld vs %lld.%09ld", path, (long long)x->st_mtim.tv_sec,
                     x->st_mtim.tv_nsec, (long long)y->st_mtim.tv_sec, y->st_mtim.tv_nsec);
            return 0;
        }
    }
    if ((flags & FTU_CMP_OWNER) && (x->st_uid != y->st_uid || x->st_gid != y->st_gid)) {
        snprintf(why, ws, "'%s': owner differs", path);
        return 0;
    }
    return 1;
}

static int tree_eq(const char *a, const char *b, const char *rel, unsigned flags, char *why, size_t ws)
{
    size_t na, nb;
    char **la = list(a, &na), **lb = list(b, &nb);
    int eq = 1;
    size_t i = 0, j = 0;
    while (eq && (i < na || j < nb)) {
        int c = i >= na ? 1 : j >= nb ? -1 : strcmp(la[i], lb[j]);
        if (c != 0) {
            snprintf(why, ws, "'%s/%s' only in %s", rel, c < 0 ? la[i] : lb[j], c < 0 ? a : b);
            eq = 0;
            break;
        }
        char pa[PATH_MAX], pb[PATH_MAX], pr[PATH_MAX];
        snprintf(pa, sizeof(pa), "%s/%s", a, la[i]);
        snprintf(pb, sizeof(pb), "%s/%s", b, lb[j]);
        snprintf(pr, sizeof(pr), "%s/%s", rel, la[i]);
        struct stat sa, sb;
        if (lstat(pa, &sa) != 0 || lstat(pb, &sb) != 0) {
            snprintf(why, ws, "'%s': stat failed", pr);
            eq = 0;
        } else if (!meta_equal(&sa, &sb, flags, pr, why, ws)) {
            eq = 0;
        } else if (S_ISREG(sa.st_mode)) {
            if (sa.st_size != sb.st_size || !files_equal(pa, pb)) {
                snprintf(why, ws, "'%s': content differs", pr);
                eq = 0;
            }
        } else if (S_ISLNK(sa.st_mode)) {
            char ta[PATH_MAX] = {0}, tb[PATH_MAX] = {0};
            if (readlink(pa, ta, sizeof(ta) - 1) < 0 || readlink(pb, tb, sizeof(tb) - 1) < 0 ||
                strcmp(ta, tb) != 0) {
                snprintf(why, ws, "'%s': symlink target differs", pr);
                eq = 0;
            }
        } else if (S_ISDIR(sa.st_mode)) {
            eq = tree_eq(pa, pb, pr, flags, why, ws);
        }
        i++;
        j++;
    }
    free_names(la, na);
    free_names(lb, nb);
    return eq;
}

int ftu_tree_equal(const char *a, const char *b, unsigned flags, char *why, size_t why_size)
{
    char local[512];
    if (why == NULL) {
        why = local;
        why_size = sizeof(local);
    }
    why[0] = '\0';
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0 || !S_ISDIR(sa.st_mode) || !S_ISDIR(sb.st_mode)) {
        snprintf(why, why_size, "'%s' or '%s' is not a directory", a, b);
        return -1;
    }
    if ((flags & FTU_CMP_ROOT) && !meta_equal(&sa, &sb, flags, ".", why, why_size))
        return -1;
    return tree_eq(a, b, ".", flags, why, why_size) ? 0 : -1;
}

static void hash_tree(ferry_sha256_t *h, const char *dir, const char *rel)
{
    size_t n;
    char **names = list(dir, &n);
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX], line[PATH_MAX + 64];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        int l = snprintf(line, sizeof(line), "%s/%s\n%o\n", rel, names[i], (unsigned)st.st_mode);
        ferry_sha256_update(h, line, (size_t)l);
        if (S_ISREG(st.st_mode)) {
            FILE *f = fopen(p, "rb");
            char buf[65536];
            size_t r;
            while (f != NULL && (r = fread(buf, 1, sizeof(buf), f)) > 0)
                ferry_sha256_update(h, buf, r);
            if (f)
                fclose(f);
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t tl = readlink(p, line, sizeof(line));
            if (tl > 0)
                ferry_sha256_update(h, line, (size_t)tl);
        } else if (S_ISDIR(st.st_mode)) {
            char r2[PATH_MAX];
            snprintf(r2, sizeof(r2), "%s/%s", rel, names[i]);
            hash_tree(h, p, r2);
        }
    }
    free_names(names, n);
}

int ftu_tree_hash(const char *dir, char hex_out[65])
{
    ferry_sha256_t *h = ferry_sha256_new();
    uint8_t d[32];
    if (h == NULL)
        return -1;
    hash_tree(h, dir, ".");
    ferry_sha256_final(h, d);
    ferry_sha256_free(h);
    for (int i = 0; i < 32; i++)
        snprintf(hex_out + 2 * i, 3, "%02x", d[i]);
    return 0;
}

long ftu_peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int ftu_mount_tmpfs(const char *dir, const char *size, char *why, size_t why_size)
{
    char opts[64];
    if (geteuid() != 0) {
        snprintf(why, why_size, "not root: cannot mount a small tmpfs");
        return -1;
    }
    snprintf(opts, sizeof(opts), "size=%s", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
        snprintf(why, why_size, "mount tmpfs on '%s' failed: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

void ftu_umount(const char *dir)
{
    umount2(dir, MNT_DETACH);
}

void ftu_rm_rf(const char *path)
{
    ferry_fs_rm_rf(path, NULL);
}
