/* Hostile-input-safe zip reading and extraction (see zipsafe.h for the contract). */
#include "ferry/model/zipsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "ferry/fs.h"

#define NAME_MAX_BYTES      1024u
#define COMPONENT_MAX_BYTES 255u
#define SYMLINK_MAX_BYTES   4096u
/* Raw central-directory scan: the end record lies in the last 64 KiB + 22 bytes. */
#define EOCD_SEARCH (65535u + 22u)
#define CD_BUF      (128u * 1024u) /* > 46-byte header + 65535-byte name */

enum kind { K_FILE, K_DIR, K_LINK };

typedef struct entry {
    const char *name; /* owned by libzip, valid while the archive is open */
    enum kind kind;
    mode_t perm;
    uint64_t size;
    struct timespec mtime;
} entry_t;

struct ferry_zip {
    zip_t *za;
    char *temp_path; /* member copied to disk; unlinked on close */
    char label[512]; /* "pkg.zip" or "pkg.zip!server.zip", for messages */
    ferry_zip_limits_t limits;
    unsigned flags;
    uint64_t n;
    entry_t *ents;
    uint64_t total;
};

void ferry_zip_limits_default(ferry_zip_limits_t *l)
{
    l->max_entries = 200000;
    l->max_entry_bytes = 8ull << 30;
    l->max_total_bytes = 32ull << 30;
    l->max_ratio = 200;
    l->ratio_min_bytes = 1u << 20;
    l->space_margin_bytes = 1u << 20;
}

/* ---- little-endian helpers for the raw scan and extra fields ---- */

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static ferry_err_code_t bad(ferry_err_t *err, const ferry_zip_t *z, const char *entry, const char *why)
{
    return ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: entry '%s': %s", z->label, entry, why);
}

/* ---- raw central directory scan ----
 * libzip replaces NUL bytes inside names by spaces, so "a\0../../x" would reach us as an
 * innocent-looking name. We read the central directory ourselves once, only to refuse
 * names containing NUL and to cross-check the entry count. */

static int src_read_at(zip_source_t *src, uint64_t off, void *buf, size_t len)
{
    if (zip_source_seek(src, (zip_int64_t)off, SEEK_SET) != 0)
        return -1;
    size_t got = 0;
    while (got < len) {
        zip_int64_t r = zip_source_read(src, (char *)buf + got, len - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* |names| (may be NULL) collects every raw name (malloc'd) so a caller can name the
   duplicate libzip refused without saying which. */
static ferry_err_code_t raw_scan(zip_source_t *src, const ferry_zip_t *z, uint64_t *count_out, char **names,
                                 ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    uint8_t *buf = NULL;
    int opened = 0;
    if (zip_source_open(src) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "%s: open: %s", z->label,
                           zip_error_strerror(zip_source_error(src)));
        goto out;
    }
    opened = 1;
    if (zip_source_seek(src, 0, SEEK_END) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "%s: seek failed", z->label);
        goto out;
    }
    zip_int64_t len = zip_source_tell(src);
    if (len < 22) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: not a zip archive (too short)", z->label);
        goto out;
    }
    size_t tail = (uint64_t)len < EOCD_SEARCH ? (size_t)len : EOCD_SEARCH;
    buf = malloc(tail > CD_BUF ? tail : CD_BUF);
    if (buf == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", z->label);
        goto out;
    }
    uint64_t tail_off = (uint64_t)len - tail;
    if (src_read_at(src, tail_off, buf, tail) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "%s: read failed", z->label);
        goto out;
    }
    /* The last end record whose comment reaches exactly the end of the file. */
    long eocd = -1;
    for (long i = (long)tail - 22; i >= 0; i--) {
        if (le32(buf + i) == 0x06054b50u && (uint64_t)i + 22 + le16(buf + i + 20) == tail) {
            eocd = i;
            break;
        }
    }
    if (eocd < 0) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: not a zip archive (no end record)", z->label);
        goto out;
    }
    uint64_t count = le16(buf + eocd + 10), cd_size = le32(buf + eocd + 12);
    uint64_t cd_end = tail_off + (uint64_t)eocd;
    if (count == 0xffff || cd_size == 0xffffffffu || le32(buf + eocd + 16) == 0xffffffffu) {
        uint8_t loc[20], z64[56];
        if (cd_end < 20 || src_read_at(src, cd_end - 20, loc, 20) != 0 || le32(loc) != 0x07064b50u ||
            src_read_at(src, le64(loc + 8), z64, 56) != 0 || le32(z64) != 0x06064b50u) {
            rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: bad zip64 end record", z->label);
            goto out;
        }
        count = le64(z64 + 32);
        cd_size = le64(z64 + 40);
        cd_end = le64(loc + 8);
    }
    if (cd_size > cd_end || count > z->limits.max_entries) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: central directory of %llu entries is %s",
                           z->label, (unsigned long long)count,
                           cd_size > cd_end ? "out of bounds" : "over the entry cap");
        goto out;
    }
    /* Walk the headers with a bounded window over [cd_end - cd_size, cd_end). */
    uint64_t pos = cd_end - cd_size, seen = 0;
    size_t have = 0, at = 0;
    uint64_t buf_pos = pos;
    while (pos < cd_end) {
        if (seen >= count + 1)
            break;
        /* make sure the fixed header is buffered */
        size_t need = 46;
        for (int pass = 0; pass < 2; pass++) {
            if (have - at < need) {
                memmove(buf, buf + at, have - at);
                have -= at;
                buf_pos += at;
                at = 0;
                uint64_t left = cd_end - (buf_pos + have);
                size_t want = CD_BUF - have;
                if (want > left)
                    want = (size_t)left;
                if (want > 0 && src_read_at(src, buf_pos + have, buf + have, want) != 0) {
                    rc = ferry_err_set(err, FERRY_E_IO, "%s: read central directory failed", z->label);
                    goto out;
                }
                have += want;
                if (have - at < need) {
                    rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: truncated central directory",
                                       z->label);
                    goto out;
                }
            }
            if (pass == 0) {
                if (le32(buf + at) != 0x02014b50u) {
                    rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: bad central directory header #%llu",
                                       z->label, (unsigned long long)seen);
                    goto out;
                }
                need = 46u + le16(buf + at + 28); /* with the name */
            }
        }
        uint16_t nlen = le16(buf + at + 28);
        size_t rec = 46u + nlen + le16(buf + at + 30) + le16(buf + at + 32);
        if (memchr(buf + at + 46, '\0', nlen) != NULL) {
            rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: entry #%llu ('%.*s...'): name contains NUL",
                               z->label, (unsigned long long)seen, (int)strnlen((char *)buf + at + 46, nlen),
                               (char *)buf + at + 46);
            goto out;
        }
        if (names != NULL && seen < count && (names[seen] = strndup((char *)buf + at + 46, nlen)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", z->label);
            goto out;
        }
        seen++;
        pos += rec;
        if (have - at >= rec) {
            at += rec;
        } else { /* skip extra and comment beyond the window */
            buf_pos = pos;
            have = at = 0;
        }
    }
    if (seen != count) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "%s: central directory holds %llu entries, end record says %llu", z->label,
                           (unsigned long long)seen, (unsigned long long)count);
        goto out;
    }
    *count_out = count;
out:
    free(buf);
    if (opened)
        zip_source_close(src);
    return rc;
}

/* ---- name checks ---- */

static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        int n;
        unsigned min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        s++;
        for (int i = 0; i < n; i++, s++) {
            if ((*s & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (*s & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
    }
    return 1;
}

/* Returns NULL when |name| is an acceptable relative path, else why not. |trusted|
   (Ferry's own backups of Linux trees) keeps only the structural rules. */
static const char *name_problem(const char *name, int trusted)
{
    size_t len = strlen(name);
    if (len == 0)
        return "empty name";
    if (len > NAME_MAX_BYTES)
        return "name too long";
    if (name[0] == '/')
        return "absolute path";
    if (!trusted && !utf8_valid((const unsigned char *)name))
        return "name is not valid UTF-8";
    for (size_t i = 0; i < len && !trusted; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '\\')
            return "backslash in name";
        if (c == ':')
            return "':' in name (drive or stream syntax)";
        if (c < 0x20 || c == 0x7f)
            return "control character in name";
    }
    /* components; a single trailing '/' marks a directory */
    size_t end = name[len - 1] == '/' ? len - 1 : len;
    size_t start = 0;
    for (size_t i = 0; i <= end; i++) {
        if (i < end && name[i] != '/')
            continue;
        size_t cl = i - start;
        if (cl == 0)
            return "empty path component";
        if (cl > COMPONENT_MAX_BYTES)
            return "path component too long";
        if ((cl == 1 && name[start] == '.') || (cl == 2 && name[start] == '.' && name[start + 1] == '.'))
            return "'.' or '..' path component";
        start = i + 1;
    }
    return NULL;
}

/* ---- duplicate / prefix detection: open-addressing set of folded names ---- */

typedef struct nset {
    int exact; /* trusted archives: case-sensitive, like the Linux tree they came from */
    uint64_t cap;
    int64_t *slot; /* entry index or -1 */
} nset_t;

static size_t folded_len(const char *s)
{
    size_t l = strlen(s);
    return (l > 0 && s[l - 1] == '/') ? l - 1 : l;
}

static uint64_t fold_hash(const char *s, size_t len, int exact)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!exact && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        h = (h ^ c) * 1099511628211ull;
    }
    return h;
}

static int fold_eq(const char *a, size_t al, const char *b, size_t bl, int exact)
{
    if (al != bl)
        return 0;
    if (exact)
        return memcmp(a, b, al) == 0;
    for (size_t i = 0; i < al; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

/* Finds |s|[0..len) in the set: returns the entry index or -1; *slot_out gets the slot. */
static int64_t nset_find(const nset_t *set, const entry_t *ents, const char *s, size_t len,
                         uint64_t *slot_out)
{
    uint64_t i = fold_hash(s, len, set->exact) & (set->cap - 1);
    while (set->slot[i] >= 0) {
        const char *o = ents[set->slot[i]].name;
        if (fold_eq(o, folded_len(o), s, len, set->exact))
            break;
        i = (i + 1) & (set->cap - 1);
    }
    if (slot_out != NULL)
        *slot_out = i;
    return set->slot[i];
}

/* ---- extra fields: mtime with the best precision available ---- */

static struct timespec entry_mtime(zip_t *za, uint64_t i, time_t dos)
{
    struct timespec ts = {.tv_sec = dos, .tv_nsec = 0};
    zip_uint16_t len = 0;
    const zip_uint8_t *d =
        zip_file_extra_field_get_by_id(za, i, 0x000a, 0, &len, ZIP_FL_CENTRAL | ZIP_FL_LOCAL);
    /* NTFS: reserved(4), then tag/size records; tag 1 holds mtime, atime, ctime as FILETIME. */
    if (d != NULL && len >= 4 + 4 + 24) {
        for (size_t p = 4; p + 4 <= len;) {
            uint16_t tag = le16(d + p), sz = le16(d + p + 2);
            if (p + 4 + sz > len)
                break;
            if (tag == 1 && sz >= 24) {
                uint64_t ft = le64(d + p + 4);
                const uint64_t epoch_diff = 116444736000000000ull; /* 1601 -> 1970 in 100 ns */
                if (ft >= epoch_diff) {
                    ts.tv_sec = (time_t)((ft - epoch_diff) / 10000000ull);
                    ts.tv_nsec = (long)((ft - epoch_diff) % 10000000ull) * 100;
                    return ts;
                }
            }
            p += 4u + sz;
        }
    }
    d = zip_file_extra_field_get_by_id(za, i, 0x5455, 0, &len, ZIP_FL_CENTRAL | ZIP_FL_LOCAL);
    if (d != NULL && len >= 5 && (d[0] & 1))
        ts.tv_sec = (time_t)(int32_t)le32(d + 1);
    return ts;
}

/* ---- open + validate ---- */

static ferry_err_code_t validate(ferry_zip_t *z, uint64_t raw_count, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int trusted = (z->flags & FERRY_ZIP_TRUSTED_BACKUP) != 0;
    nset_t set = {trusted, 0, NULL};
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    if (n < 0 || (uint64_t)n != raw_count) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: entry count mismatch (%lld vs %llu)", z->label,
                           (long long)n, (unsigned long long)raw_count);
        goto out;
    }
    if ((uint64_t)n > z->limits.max_entries) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: %lld entries exceed the cap of %llu", z->label,
                           (long long)n, (unsigned long long)z->limits.max_entries);
        goto out;
    }
    z->n = (uint64_t)n;
    z->ents = calloc(z->n ? z->n : 1, sizeof(*z->ents));
    set.cap = 16;
    while (set.cap < z->n * 2)
        set.cap <<= 1;
    set.slot = malloc(set.cap * sizeof(*set.slot));
    if (z->ents == NULL || set.slot == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory for %llu entries", z->label,
                           (unsigned long long)z->n);
        goto out;
    }
    memset(set.slot, 0xff, set.cap * sizeof(*set.slot));
    for (uint64_t i = 0; i < z->n; i++) {
        entry_t *e = &z->ents[i];
        zip_stat_t st;
        const char *name = zip_get_name(z->za, i, ZIP_FL_ENC_RAW);
        if (name == NULL || zip_stat_index(z->za, i, ZIP_FL_ENC_RAW, &st) != 0) {
            rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: entry #%llu unreadable: %s", z->label,
                               (unsigned long long)i, zip_strerror(z->za));
            goto out;
        }
        e->name = name;
        const char *why = name_problem(name, trusted);
        if (why != NULL) {
            rc = bad(err, z, name, why);
            goto out;
        }
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
            rc = bad(err, z, name, "encrypted entry");
            goto out;
        }
        if (!(st.valid & ZIP_STAT_COMP_METHOD) || !zip_compression_method_supported(st.comp_method, 0)) {
            rc = bad(err, z, name, "unsupported compression method");
            goto out;
        }
        size_t len = strlen(name);
        e->kind = name[len - 1] == '/' ? K_DIR : K_FILE;
        e->perm = 0;
        zip_uint8_t opsys = 0;
        zip_uint32_t attr = 0;
        if (zip_file_get_external_attributes(z->za, i, 0, &opsys, &attr) == 0 && opsys == ZIP_OPSYS_UNIX) {
            mode_t m = (mode_t)(attr >> 16);
            switch (m & S_IFMT) {
            case 0:
                break;
            case S_IFREG:
                if (e->kind != K_FILE) {
                    rc = bad(err, z, name, "regular-file attributes on a directory name");
                    goto out;
                }
                break;
            case S_IFDIR:
                if (e->kind != K_DIR) {
                    rc = bad(err, z, name, "directory attributes on a file name");
                    goto out;
                }
                break;
            case S_IFLNK:
                if (!trusted || e->kind != K_FILE) {
                    rc = bad(err, z, name, "symlink entry");
                    goto out;
                }
                e->kind = K_LINK;
                break;
            default:
                rc = bad(err, z, name, "device, fifo or socket entry");
                goto out;
            }
            /* A package never grants setuid/setgid/sticky nor group/world write (libzip's
               own default for added files is 0666); our own backups keep every bit. */
            e->perm = m & (trusted ? 07777 : 0755);
        }
        if (e->perm == 0)
            e->perm = e->kind == K_DIR ? 0755 : 0644;
        e->size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
        uint64_t csize = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
        if (e->kind == K_DIR && e->size != 0) {
            rc = bad(err, z, name, "directory entry with data");
            goto out;
        }
        if (e->kind == K_LINK && (e->size == 0 || e->size > SYMLINK_MAX_BYTES)) {
            rc = bad(err, z, name, "symlink target empty or too long");
            goto out;
        }
        if (e->size > z->limits.max_entry_bytes) {
            rc = bad(err, z, name, "uncompressed size over the per-entry cap");
            goto out;
        }
        if (e->size > z->limits.ratio_min_bytes && (csize == 0 || e->size / csize >= z->limits.max_ratio)) {
            rc = bad(err, z, name, "compression ratio over the cap (zip bomb)");
            goto out;
        }
        z->total += e->size;
        if (z->total > z->limits.max_total_bytes) {
            rc = bad(err, z, name, "total uncompressed size over the cap");
            goto out;
        }
        e->mtime = entry_mtime(z->za, i, (st.valid & ZIP_STAT_MTIME) ? st.mtime : 0);
        uint64_t slot;
        size_t fl = folded_len(name);
        int64_t other = nset_find(&set, z->ents, name, fl, &slot);
        if (other >= 0) {
            char why2[NAME_MAX_BYTES + 64];
            snprintf(why2, sizeof(why2), "duplicate of entry '%s'%s", z->ents[other].name,
                     trusted ? "" : " (names compare case-insensitively)");
            rc = bad(err, z, name, why2);
            goto out;
        }
        set.slot[slot] = (int64_t)i;
    }
    /* A file or symlink may not be a parent of another entry ("a" and "a/b"). */
    for (uint64_t i = 0; i < z->n; i++) {
        const char *name = z->ents[i].name;
        size_t fl = folded_len(name);
        for (size_t p = 0; p < fl; p++) {
            if (name[p] != '/')
                continue;
            int64_t o = nset_find(&set, z->ents, name, p, NULL);
            if (o >= 0 && z->ents[o].kind != K_DIR) {
                rc = bad(err, z, name, "a parent path is a file entry");
                goto out;
            }
        }
    }
out:
    free(set.slot);
    return rc;
}

/* Takes ownership of |src| in all cases. */
static ferry_err_code_t open_source(zip_source_t *src, const char *label, const ferry_zip_limits_t *limits,
                                    unsigned flags, char *temp_path, ferry_zip_t **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_zip_t *z = calloc(1, sizeof(*z));
    uint64_t raw_count = 0;
    if (z == NULL) {
        zip_source_free(src);
        if (temp_path != NULL)
            unlink(temp_path);
        free(temp_path);
        return ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", label);
    }
    z->temp_path = temp_path;
    snprintf(z->label, sizeof(z->label), "%s", label);
    if (limits != NULL)
        z->limits = *limits;
    else
        ferry_zip_limits_default(&z->limits);
    z->flags = flags;
    if ((rc = raw_scan(src, z, &raw_count, NULL, err)) != FERRY_OK) {
        zip_source_free(src);
        goto out;
    }
    zip_error_t ze;
    zip_error_init(&ze);
    z->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (z->za == NULL && zip_error_code_zip(&ze) == ZIP_ER_EXISTS) {
        /* libzip refuses exact duplicates without naming them: find the name ourselves */
        char **names = calloc(raw_count ? raw_count : 1, sizeof(*names));
        const char *dup = NULL;
        if (names != NULL && raw_scan(src, z, &raw_count, names, NULL) == FERRY_OK) {
            qsort(names, raw_count, sizeof(*names), cmp_cstr);
            for (uint64_t i = 1; i < raw_count && dup == NULL; i++)
                if (strcmp(names[i - 1], names[i]) == 0)
                    dup = names[i];
        }
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: entry '%s': duplicate name", label,
                           dup != NULL ? dup : "?");
        for (uint64_t i = 0; names != NULL && i < raw_count; i++)
            free(names[i]);
        free(names);
        zip_error_fini(&ze);
        zip_source_free(src);
        goto out;
    }
    if (z->za == NULL) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: not a valid zip: %s", label,
                           zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        goto out;
    }
    zip_error_fini(&ze);
    rc = validate(z, raw_count, err);
out:
    if (rc != FERRY_OK) {
        ferry_zip_close(z);
        z = NULL;
    }
    *out = z;
    return rc;
}

ferry_err_code_t ferry_zip_open(const char *path, const ferry_zip_limits_t *limits, unsigned flags,
                                ferry_zip_t **out, ferry_err_t *err)
{
    return ferry_zip_open_as(path, path, limits, flags, out, err);
}

ferry_err_code_t ferry_zip_open_as(const char *path, const char *label, const ferry_zip_limits_t *limits,
                                   unsigned flags, ferry_zip_t **out, ferry_err_t *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open zip '%s'", label);
    if (!S_ISREG(st.st_mode))
        return ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "'%s' is not a regular file", label);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_file_create(path, 0, -1, &ze);
    if (src == NULL) {
        ferry_err_code_t rc =
            ferry_err_set(err, FERRY_E_IO, "open zip '%s': %s", label, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);
    return open_source(src, label, limits, flags, NULL, out, err);
}

/* Streams entry |i| into |fd|, enforcing its declared size and (through libzip) its CRC. */
static ferry_err_code_t stream_entry(ferry_zip_t *z, uint64_t i, int fd, char *buf, size_t bufsize,
                                     const char *dest, uint64_t *done, uint64_t total,
                                     ferry_progress_t progress, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const entry_t *e = &z->ents[i];
    zip_file_t *zf = zip_fopen_index(z->za, i, 0);
    if (zf == NULL) {
        rc = bad(err, z, e->name, zip_strerror(z->za));
        goto out;
    }
    uint64_t got = 0;
    for (;;) {
        /* Ask for one byte beyond the declared size so a longer stream is noticed. */
        uint64_t left = e->size - got + 1;
        size_t want = left < bufsize ? (size_t)left : bufsize;
        zip_int64_t r = zip_fread(zf, buf, want);
        if (r < 0) {
            char why[256];
            snprintf(why, sizeof(why), "read failed: %s", zip_file_strerror(zf));
            rc = bad(err, z, e->name, why);
            goto out;
        }
        if (r == 0)
            break;
        got += (uint64_t)r;
        if (got > e->size) {
            rc = bad(err, z, e->name, "more data than the declared size");
            goto out;
        }
        for (size_t off = 0; off < (size_t)r;) {
            ssize_t w = write(fd, buf + off, (size_t)r - off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "write '%s'", dest);
                goto out;
            }
            off += (size_t)w;
        }
        *done += (uint64_t)r;
        ferry_progress_report(progress, *done, total, e->name);
    }
    if (got != e->size) {
        rc = bad(err, z, e->name, "less data than the declared size");
        goto out;
    }
out:
    if (zf != NULL && zip_fclose(zf) != 0 && rc == FERRY_OK)
        rc = bad(err, z, e->name, "CRC or consistency error at close");
    return rc;
}

ferry_err_code_t ferry_zip_open_member(ferry_zip_t *outer, const char *name, const char *temp_dir,
                                       const ferry_zip_limits_t *limits, unsigned flags, ferry_zip_t **out,
                                       ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char label[512];
    char *tmp = NULL;
    char *buf = NULL;
    int fd = -1;
    *out = NULL;
    snprintf(label, sizeof(label), "%.380s!%.120s", outer->label, name);
    zip_int64_t idx = zip_name_locate(outer->za, name, ZIP_FL_ENC_RAW);
    if (idx < 0 || outer->ents[idx].kind != K_FILE)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "%s: no such member", label);
    zip_stat_t st;
    if (zip_stat_index(outer->za, (zip_uint64_t)idx, 0, &st) != 0)
        return ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s: %s", label, zip_strerror(outer->za));
    if (st.comp_method == ZIP_CM_STORE) {
        /* Stored: libzip can seek inside it, so read it in place. */
        zip_source_t *src = zip_source_zip(outer->za, outer->za, (zip_uint64_t)idx, 0, 0, -1);
        if (src != NULL) {
            zip_source_keep(src);
            rc = open_source(src, label, limits, flags, NULL, out, NULL);
            zip_source_free(src);
            if (rc == FERRY_OK)
                return rc;
            /* Unseekable after all, or invalid: the copy below reports the real error. */
        }
    }
    size_t tl = strlen(temp_dir) + 32;
    tmp = malloc(tl);
    buf = malloc(FERRY_ZIP_BUF_SIZE);
    if (tmp == NULL || buf == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", label);
        goto out;
    }
    snprintf(tmp, tl, "%s/.ferry-member-XXXXXX", temp_dir);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "create temp file in '%s'",
                                 temp_dir);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    uint64_t done = 0;
    ferry_progress_t none = {0};
    if ((rc = stream_entry(outer, (uint64_t)idx, fd, buf, FERRY_ZIP_BUF_SIZE, tmp, &done, 0, none, err)) !=
        FERRY_OK)
        goto out;
    close(fd);
    fd = -1;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_file_create(tmp, 0, -1, &ze);
    if (src == NULL) {
        rc = ferry_err_set(err, FERRY_E_IO, "%s: open copy '%s': %s", label, tmp, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        goto out;
    }
    zip_error_fini(&ze);
    rc = open_source(src, label, limits, flags, tmp, out, err);
    tmp = NULL; /* owned (and on failure unlinked) by open_source */
out:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL) {
        unlink(tmp);
        free(tmp);
    }
    free(buf);
    return rc;
}

void ferry_zip_close(ferry_zip_t *z)
{
    if (z == NULL)
        return;
    if (z->za != NULL)
        zip_discard(z->za);
    if (z->temp_path != NULL) {
        unlink(z->temp_path);
        free(z->temp_path);
    }
    free(z->ents);
    free(z);
}

void ferry_zip_totals(const ferry_zip_t *z, uint64_t *entries, uint64_t *bytes)
{
    if (entries != NULL)
        *entries = z->n;
    if (bytes != NULL)
        *bytes = z->total;
}

const char *ferry_zip_comment(const ferry_zip_t *z, size_t *len)
{
    int l = 0;
    const char *c = zip_get_archive_comment(z->za, &l, ZIP_FL_ENC_RAW);
    *len = c != NULL && l > 0 ? (size_t)l : 0;
    return *len > 0 ? c : NULL;
}

bool ferry_zip_has(const ferry_zip_t *z, const char *name)
{
    for (uint64_t i = 0; i < z->n; i++)
        if (strcmp(z->ents[i].name, name) == 0)
            return true;
    return false;
}

/* A hooks.json path names a regular file entry (directories end in '/', never match). */
static bool pkg_has_file(void *user, const char *path)
{
    const ferry_zip_t *z = user;
    for (uint64_t i = 0; i < z->n; i++)
        if (z->ents[i].kind == K_FILE && strcmp(z->ents[i].name, path) == 0)
            return true;
    return false;
}

ferry_err_code_t ferry_pkg_hooks(const ferry_zip_t *pkg, ferry_hooks_t **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char *json = NULL;
    size_t len = 0;
    *out = NULL;
    if (!pkg_has_file((void *)pkg, FERRY_PKG_HOOKS_JSON))
        goto out;
    /* Reading does not change the archive; libzip's handle is merely not const. */
    rc = ferry_zip_read_entry((ferry_zip_t *)pkg, FERRY_PKG_HOOKS_JSON, FERRY_HOOKS_JSON_MAX, &json, &len,
                              err);
    if (rc == FERRY_E_TOO_LARGE)
        rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
    if (rc != FERRY_OK)
        goto out;
    rc = ferry_hooks_parse(json, len, pkg_has_file, (void *)pkg, out, err);
out:
    free(json);
    return rc;
}

ferry_err_code_t ferry_pkg_manifest(const ferry_zip_t *pkg, ferry_pkg_manifest_t *m, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_hooks_t *hooks = NULL;
    m->has_server_zip = ferry_zip_has(pkg, FERRY_PKG_SERVER_ZIP);
    m->has_client_zip = ferry_zip_has(pkg, FERRY_PKG_CLIENT_ZIP);
    m->has_schema_sql = ferry_zip_has(pkg, FERRY_PKG_SCHEMA_SQL);
    m->has_data_sql = ferry_zip_has(pkg, FERRY_PKG_DATA_SQL);
    m->has_hooks = false;
    if (!m->has_server_zip && !m->has_client_zip && !m->has_schema_sql && !m->has_data_sql) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "%s: package holds none of server.zip, client.zip, " FERRY_PKG_SCHEMA_SQL
                           ", data.sql at its top level",
                           pkg->label);
        goto out;
    }
    if ((rc = ferry_pkg_hooks(pkg, &hooks, err)) != FERRY_OK)
        goto out;
    m->has_hooks = hooks != NULL;
out:
    ferry_hooks_free(hooks);
    return rc;
}

/* ---- extraction ---- */

/* mkdir -p of the parent directories of |rel| below the directory fd |root|. */
static ferry_err_code_t make_parents(int root, const char *rel, const char *disp_root, ferry_err_t *err)
{
    char buf[NAME_MAX_BYTES + 1];
    snprintf(buf, sizeof(buf), "%s", rel);
    for (char *p = buf; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdirat(root, buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            *p = '/';
            return ferry_err_set_errno(err, ferry_err_from_errno(e), e, "mkdir '%s/%s'", disp_root, buf);
        }
        *p = '/';
    }
    return FERRY_OK;
}

static int cmp_depth_desc(const void *a, const void *b)
{
    /* deeper (more '/') first, so children get their mtimes before their parents */
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    size_t dx = 0, dy = 0;
    for (const char *p = x->name; *p; p++)
        dx += *p == '/';
    for (const char *p = y->name; *p; p++)
        dy += *p == '/';
    return dx < dy ? 1 : dx > dy ? -1 : strcmp(x->name, y->name);
}

ferry_err_code_t ferry_zip_extract(ferry_zip_t *z, const char *dest_dir, unsigned flags,
                                   ferry_progress_t progress, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char work[PATH_MAX];
    int root = -1, fd = -1, made = 0;
    char *buf = NULL;
    entry_t **dirs = NULL;
    size_t ndirs = 0;
    if (ferry_fs_exists(dest_dir))
        return ferry_err_set(err, FERRY_E_EXISTS, "extract %s: destination '%s' already exists", z->label,
                             dest_dir);
    if (snprintf(work, sizeof(work), "%s.part-XXXXXX", dest_dir) >= (int)sizeof(work))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", dest_dir);
    if (!(flags & FERRY_ZIP_NO_SPACE_CHECK)) {
        uint64_t avail = 0;
        /* each file costs at least a block beyond its bytes */
        uint64_t need = z->total + z->n * 4096u + z->limits.space_margin_bytes;
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", dest_dir);
        char *slash = strrchr(parent, '/');
        if (slash == parent)
            slash[1] = '\0';
        else if (slash != NULL)
            *slash = '\0';
        else
            snprintf(parent, sizeof(parent), ".");
        if ((rc = ferry_fs_free_bytes(parent, &avail, err)) != FERRY_OK)
            goto out;
        if (avail < need) {
            rc = ferry_err_set(err, FERRY_E_NOSPACE,
                               "extract %s: not enough free space in '%s': need %llu bytes, %llu available",
                               z->label, parent, (unsigned long long)need, (unsigned long long)avail);
            goto out;
        }
    }
    if (mkdtemp(work) == NULL) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "create '%s'", work);
        goto out;
    }
    made = 1;
    root = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    buf = malloc(FERRY_ZIP_BUF_SIZE);
    dirs = calloc(z->n ? z->n : 1, sizeof(*dirs));
    if (root < 0 || buf == NULL || dirs == NULL) {
        rc = root < 0 ? ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open '%s'", work)
                      : ferry_err_set(err, FERRY_E_NOMEM, "extract %s: out of memory", z->label);
        goto out;
    }
    uint64_t done = 0;
    /* Pass 1: directories and files. Names were validated, the tree is fresh and holds no
       symlink yet, so no path below |root| can lead outside it. */
    for (uint64_t i = 0; i < z->n; i++) {
        entry_t *e = &z->ents[i];
        if (e->kind == K_LINK)
            continue;
        if ((rc = make_parents(root, e->name, work, err)) != FERRY_OK)
            goto out;
        if (e->kind == K_DIR) {
            char d[NAME_MAX_BYTES + 1];
            snprintf(d, sizeof(d), "%.*s", (int)folded_len(e->name), e->name);
            if (mkdirat(root, d, 0755) != 0 && errno != EEXIST) {
                rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "mkdir '%s/%s'", work, d);
                goto out;
            }
            dirs[ndirs++] = e;
            continue;
        }
        fd = openat(root, e->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc =
                ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "create '%s/%s'", work, e->name);
            goto out;
        }
        char disp[PATH_MAX + NAME_MAX_BYTES + 2];
        snprintf(disp, sizeof(disp), "%s/%s", work, e->name);
        if ((rc = stream_entry(z, i, fd, buf, FERRY_ZIP_BUF_SIZE, disp, &done, z->total, progress, err)) !=
            FERRY_OK)
            goto out;
        struct timespec times[2] = {e->mtime, e->mtime};
        if (fchmod(fd, e->perm) != 0 || futimens(fd, times) != 0) {
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "set mode/mtime '%s/%s'", work,
                                     e->name);
            goto out;
        }
        if (close(fd) != 0) {
            fd = -1;
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "close '%s/%s'", work, e->name);
            goto out;
        }
        fd = -1;
        ferry_crashpoint("extract.file");
    }
    /* Pass 2: symlinks (only with FERRY_ZIP_TRUSTED_BACKUP), after every file so that no
       later write can go through one. */
    for (uint64_t i = 0; i < z->n; i++) {
        entry_t *e = &z->ents[i];
        if (e->kind != K_LINK)
            continue;
        char target[SYMLINK_MAX_BYTES + 1];
        zip_file_t *zf = zip_fopen_index(z->za, i, 0);
        zip_int64_t r = zf != NULL ? zip_fread(zf, target, SYMLINK_MAX_BYTES) : -1;
        if (zf == NULL || r != (zip_int64_t)e->size || zip_fclose(zf) != 0) {
            rc = bad(err, z, e->name, "symlink target unreadable or of the wrong size");
            goto out;
        }
        target[r] = '\0';
        if (strlen(target) != (size_t)r) {
            rc = bad(err, z, e->name, "symlink target contains NUL");
            goto out;
        }
        struct timespec times[2] = {e->mtime, e->mtime};
        if (symlinkat(target, root, e->name) != 0 ||
            utimensat(root, e->name, times, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "symlink '%s/%s'", work,
                                     e->name);
            goto out;
        }
    }
    /* Pass 3: directory modes and mtimes, deepest first. */
    qsort(dirs, ndirs, sizeof(*dirs), cmp_depth_desc);
    for (size_t k = 0; k < ndirs; k++) {
        char d[NAME_MAX_BYTES + 1];
        snprintf(d, sizeof(d), "%.*s", (int)folded_len(dirs[k]->name), dirs[k]->name);
        struct timespec times[2] = {dirs[k]->mtime, dirs[k]->mtime};
        if (fchmodat(root, d, dirs[k]->perm, 0) != 0 || utimensat(root, d, times, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "set mode/mtime '%s/%s'", work,
                                     d);
            goto out;
        }
    }
    /* One syncfs makes every extracted file durable; then publish the tree by rename. */
    if (syncfs(root) != 0 || fchmod(root, 0755) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "sync '%s'", work);
        goto out;
    }
    if (rename(work, dest_dir) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "rename '%s' to '%s'", work,
                                 dest_dir);
        goto out;
    }
    made = 0;
    rc = ferry_fs_fsync_parent(dest_dir, err);
out:
    if (fd >= 0)
        close(fd);
    if (root >= 0)
        close(root);
    if (made)
        ferry_fs_rm_rf(work, NULL);
    free(buf);
    free(dirs);
    return rc;
}

ferry_err_code_t ferry_zip_read_entry(ferry_zip_t *z, const char *name, size_t max_bytes, char **out,
                                      size_t *len_out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char *buf = NULL;
    zip_file_t *zf = NULL;
    *out = NULL;
    *len_out = 0;
    zip_int64_t idx = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (idx < 0 || z->ents[idx].kind != K_FILE)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "%s: no member '%s'", z->label, name);
    const entry_t *e = &z->ents[idx];
    if (e->size > max_bytes)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "%s: '%s' is %llu bytes, more than %zu", z->label, name,
                             (unsigned long long)e->size, max_bytes);
    if ((buf = malloc((size_t)e->size + 2)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if ((zf = zip_fopen_index(z->za, (zip_uint64_t)idx, 0)) == NULL) {
        rc = bad(err, z, e->name, zip_strerror(z->za));
        goto out;
    }
    /* One byte beyond the declared size is asked for, so a longer stream is noticed. */
    uint64_t got = 0;
    for (;;) {
        zip_int64_t r = zip_fread(zf, buf + got, (zip_uint64_t)(e->size + 1 - got));
        if (r < 0) {
            rc = bad(err, z, e->name, "read failed");
            goto out;
        }
        if (r == 0)
            break;
        got += (uint64_t)r;
        if (got > e->size) {
            rc = bad(err, z, e->name, "more data than the declared size");
            goto out;
        }
    }
    if (got != e->size) {
        rc = bad(err, z, e->name, "less data than the declared size");
        goto out;
    }
    buf[got] = '\0';
    *len_out = (size_t)got;
out:
    if (zf != NULL && zip_fclose(zf) != 0 && rc == FERRY_OK)
        rc = bad(err, z, e->name, "CRC or consistency error at close");
    if (rc == FERRY_OK) {
        *out = buf;
        buf = NULL;
    }
    free(buf);
    return rc;
}

ferry_err_code_t ferry_zip_extract_entry(ferry_zip_t *z, const char *name, const char *dest_path,
                                         ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char tmp[PATH_MAX];
    char *buf = NULL;
    int fd = -1, made = 0;
    zip_int64_t idx = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (idx < 0 || z->ents[idx].kind != K_FILE)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "%s: no member '%s'", z->label, name);
    if (ferry_fs_exists(dest_path))
        return ferry_err_set(err, FERRY_E_EXISTS, "'%s' already exists", dest_path);
    if (snprintf(tmp, sizeof(tmp), "%s.part-XXXXXX", dest_path) >= (int)sizeof(tmp))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", dest_path);
    buf = malloc(FERRY_ZIP_BUF_SIZE);
    if (buf == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "create '%s'", tmp);
        goto out;
    }
    made = 1;
    uint64_t done = 0;
    ferry_progress_t none = {0};
    if ((rc = stream_entry(z, (uint64_t)idx, fd, buf, FERRY_ZIP_BUF_SIZE, tmp, &done, 0, none, err)) !=
        FERRY_OK)
        goto out;
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "sync '%s'", tmp);
        goto out;
    }
    if (rename(tmp, dest_path) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "rename '%s'", dest_path);
        goto out;
    }
    made = 0;
    rc = ferry_fs_fsync_parent(dest_path, err);
out:
    if (fd >= 0)
        close(fd);
    if (made)
        unlink(tmp);
    free(buf);
    return rc;
}
