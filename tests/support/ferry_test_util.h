/**
 * @file ferry_test_util.h
 * Shared test support (static lib `ferry_test_support`): temp dirs, files, zip files
 * with chosen (also hostile) entries, byte-level zip patching, tree comparison and
 * hashing, peak RSS, tmpfs mounts. Functions return 0 on success and -1 on failure
 * (after printing why to stderr) so tests can ck_assert_int_eq(..., 0).
 */
#ifndef FERRY_TEST_UTIL_H
#define FERRY_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/** Creates /tmp/ferry-<tag>-XXXXXX (or under $TMPDIR) into |out|. */
int ftu_mkdtemp(char *out, size_t size, const char *tag);

/** Writes |len| bytes to |path| (parents created 0755) with |mode|. */
int ftu_write_file(const char *path, const void *data, size_t len, mode_t mode);

/** Writes |size| pseudo-random bytes from |seed| to |path| (streamed, 64 KiB at a time). */
int ftu_write_pattern(const char *path, uint64_t size, uint32_t seed, mode_t mode);

/** Reads |path| into a NUL-terminated malloc'd buffer (NULL on error). */
char *ftu_read_file(const char *path, size_t *len_out);

/** Sets the mtime (and atime) of |path| without following a final symlink. */
int ftu_set_mtime(const char *path, time_t sec, long nsec);

/** Kinds of zip entries for ftu_zip_build(). */
enum { FTU_FILE = 0, FTU_DIR = 1, FTU_SYMLINK = 2 };

/** One entry of a zip to build. Zero-initialise; only |name| is required. */
typedef struct ftu_zip_entry {
    const char *name;     /**< stored name as given (may be hostile: "../x", "/etc/x") */
    const void *data;     /**< content (file) or link target (symlink) */
    size_t len;           /**< 0 with data != NULL: strlen(data) */
    const char *src_file; /**< take the content from this file instead (large entries) */
    int kind;             /**< FTU_FILE, FTU_DIR, FTU_SYMLINK */
    unsigned mode;        /**< permission bits; 0 = no Unix attributes stored */
    int store;            /**< 1 = no compression */
    const char *password; /**< non-NULL: encrypt with AES-256 (needs libzip crypto) */
    time_t mtime;         /**< 0 = leave libzip's default */
} ftu_zip_entry_t;

/** Builds the zip |path| from |n| entries, in order, with libzip. */
int ftu_zip_build(const char *path, const ftu_zip_entry_t *entries, size_t n);

/** Replaces every occurrence of |find| in |path| with |repl| (same length |len|). Returns the count, -1 on
 * error. */
int ftu_file_replace(const char *path, const void *find, const void *repl, size_t len);

/** Header fields ftu_zip_patch() can change (in both the local and the central header). */
enum { FTU_FIELD_CRC = 0, FTU_FIELD_USIZE = 1 };

/** Sets |field| of entry |name| to |value| in both headers of the zip |path|. */
int ftu_zip_patch(const char *path, const char *name, int field, uint32_t value);

/** Comparison flags for ftu_tree_equal(). */
enum {
    FTU_CMP_MTIME = 1u << 0,       /**< compare mtimes of files, dirs and symlinks (ns exact) */
    FTU_CMP_MTIME_100NS = 1u << 1, /**< ... truncated to 100 ns (zip NTFS time) */
    FTU_CMP_ROOT = 1u << 2,        /**< also compare the two roots' own mode/mtime */
    FTU_CMP_OWNER = 1u << 3,       /**< compare uid/gid */
};

/**
 * Compares two trees entry by entry: names, types, modes (07777), sizes, bytes, symlink
 * targets (not followed), and per |flags| mtimes and owners. Returns 0 when equal, else
 * -1 with the first difference in |why| (may be NULL).
 */
int ftu_tree_equal(const char *a, const char *b, unsigned flags, char *why, size_t why_size);

/** SHA-256 over a canonical walk (sorted names, types, modes, contents, link targets). */
int ftu_tree_hash(const char *dir, char hex_out[65]);

/** Peak resident set size of this process, in KiB (getrusage). */
long ftu_peak_rss_kb(void);

/**
 * Mounts a tmpfs of |size| ("2m") on the existing directory |dir|. Returns 0, or -1 with
 * the reason in |why| when not root or the mount fails (callers skip with exit 77).
 */
int ftu_mount_tmpfs(const char *dir, const char *size, char *why, size_t why_size);

/** Unmounts |dir| (lazy). */
void ftu_umount(const char *dir);

/** rm -rf |path| (never follows symlinks). */
void ftu_rm_rf(const char *path);

#endif
