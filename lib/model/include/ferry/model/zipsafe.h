/**
 * @file zipsafe.h
 * Hostile-input-safe reading of update packages and of the zips inside them (libzip).
 *
 * A package is `{version}.zip` whose top level may hold `server.zip`, `client.zip`,
 * `结构.sql` and `data.sql` (seed 000 appendix A, exact UTF-8 names, at least one).
 *
 * Every archive is validated as a whole BEFORE anything is written. An archive is
 * rejected with FERRY_E_PACKAGE_INVALID (message names the entry) when an entry:
 *   - has a name that is not valid UTF-8, is empty, absolute ("/x"), contains a
 *     backslash, a ':' (Windows drive / stream syntax, this product is Windows-born),
 *     a control byte or NUL (checked on the raw central directory, because libzip
 *     silently turns NUL into a space), an empty, "." or ".." component, a component
 *     over 255 bytes or a path over 1024 bytes;
 *   - duplicates another entry's name. Duplicates are compared ASCII-case-insensitively
 *     ("A.dll" vs "a.dll"): on the Windows side of this product they would overwrite each
 *     other silently, so no legitimate package contains them;
 *   - is a file and also a parent of another entry ("a" and "a/b");
 *   - is a symlink, device, fifo or socket (Unix external attributes);
 *   - is encrypted, or uses a compression method libzip cannot decompress;
 *   - exceeds the caps of ferry_zip_limits_t (entry count, per-entry size, total size,
 *     per-entry compression ratio = zip bomb).
 * FERRY_ZIP_TRUSTED_BACKUP (Ferry's own client.zip, made from a Linux tree) relaxes this to
 * what such a tree can hold: any bytes but NUL in names (structure rules kept: no absolute
 * path, no empty/"."/".." component), case-sensitive duplicates, symlink entries (created
 * after all files, so nothing is ever written through one), setuid/setgid/sticky bits.
 * While streaming, the declared size is enforced (more or fewer bytes than declared is
 * an error) and the CRC-32 is verified (a mismatch is an error).
 *
 * Memory: one bounded copy buffer (FERRY_ZIP_BUF_SIZE) per extraction, plus a small
 * per-entry index; never a whole file in memory.
 *
 * Crash points: "extract.file" (after each regular file of an extraction is written).
 */
#ifndef FERRY_MODEL_ZIPSAFE_H
#define FERRY_MODEL_ZIPSAFE_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/hooks.h"
#include "ferry/model/hooks.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Copy buffer used for streaming entries (bytes). */
#define FERRY_ZIP_BUF_SIZE (1u << 20)

/** Exact top-level member names of a package (seed 000 appendix A). */
#define FERRY_PKG_SERVER_ZIP "server.zip"
#define FERRY_PKG_CLIENT_ZIP "client.zip"
#define FERRY_PKG_SCHEMA_SQL "\xe7\xbb\x93\xe6\x9e\x84.sql" /* 结构.sql */
#define FERRY_PKG_DATA_SQL   "data.sql"

/** Caps applied to one archive. Fill with ferry_zip_limits_default() then adjust. */
typedef struct ferry_zip_limits {
    uint64_t max_entries;        /**< entries in the archive (default 200,000) */
    uint64_t max_entry_bytes;    /**< uncompressed size of one entry (default 8 GiB) */
    uint64_t max_total_bytes;    /**< sum of uncompressed sizes (default 32 GiB) */
    uint32_t max_ratio;          /**< uncompressed/compressed per entry (default 200) ... */
    uint64_t ratio_min_bytes;    /**< ... checked only for entries larger than this (default 1 MiB) */
    uint64_t space_margin_bytes; /**< extra free bytes demanded beyond the declared total (default 1 MiB) */
} ferry_zip_limits_t;

/** Sets the defaults documented on each field. */
void ferry_zip_limits_default(ferry_zip_limits_t *limits);

/** Extraction flags. */
enum {
    /** Ferry's own client.zip backup: relaxed name rules, symlinks (see file comment). */
    FERRY_ZIP_TRUSTED_BACKUP = 1u << 0,
    /** Skip the free-space check (the caller did its own, or a test forces a mid-write ENOSPC). */
    FERRY_ZIP_NO_SPACE_CHECK = 1u << 1,
};

/** An open archive (a file on disk, or an entry of another open archive). Opaque. */
typedef struct ferry_zip ferry_zip_t;

/**
 * Opens the zip file |path| read-only and validates every entry (see file comment).
 * |limits| NULL = defaults. On success *out owns the archive (ferry_zip_close()).
 * Errors: FERRY_E_NOT_FOUND / FERRY_E_IO for the file itself, FERRY_E_PACKAGE_INVALID
 * for a malformed archive or a rejected entry.
 */
ferry_err_code_t ferry_zip_open(const char *path, const ferry_zip_limits_t *limits, unsigned flags,
                                ferry_zip_t **out, ferry_err_t *err);

/**
 * Like ferry_zip_open(), but every message (and the labels of members opened from it)
 * names the archive |label| instead of |path|: a server validating an upload says
 * "package", never where the upload sits on its disk.
 */
ferry_err_code_t ferry_zip_open_as(const char *path, const char *label, const ferry_zip_limits_t *limits,
                                   unsigned flags, ferry_zip_t **out, ferry_err_t *err);

/**
 * Opens the entry |name| of |outer| as an archive and validates it like ferry_zip_open().
 * A stored (uncompressed) member is read in place, never written to disk; a compressed
 * member (not seekable through libzip) is first streamed, CRC-checked, into a unique
 * temporary file under |temp_dir| that is unlinked when the result is closed.
 * |outer| must stay open while the result is open.
 */
ferry_err_code_t ferry_zip_open_member(ferry_zip_t *outer, const char *name, const char *temp_dir,
                                       const ferry_zip_limits_t *limits, unsigned flags, ferry_zip_t **out,
                                       ferry_err_t *err);

/** Closes |zip| (NULL is fine) and removes its temporary file, if any. */
void ferry_zip_close(ferry_zip_t *zip);

/** Number of entries and sum of declared uncompressed sizes of a validated archive. */
void ferry_zip_totals(const ferry_zip_t *zip, uint64_t *entries, uint64_t *bytes);

/** The archive comment (raw bytes, not NUL-terminated; *len 0 and NULL when there is none).
    Valid while |zip| is open. */
const char *ferry_zip_comment(const ferry_zip_t *zip, size_t *len);

/** True if the archive has an entry named exactly |name| (byte comparison). */
bool ferry_zip_has(const ferry_zip_t *zip, const char *name);

/**
 * Extracts the whole archive so that |dest_dir| exists afterwards with exactly its
 * content. |dest_dir| must not exist; its parent must. Work happens in a fresh sibling
 * "<dest_dir>.part-XXXXXX" that is renamed to |dest_dir| at the end (after a syncfs, so
 * the tree is durable), and removed on any failure: on error |dest_dir| does not exist
 * and nothing else was changed. Modes come from Unix external attributes when present
 * (masked with 0755 - no setuid/setgid/sticky, no group/world write - unless trusted),
 * else 0644 / 0755; mtimes from the NTFS (0x000a) or
 * extended-timestamp (0x5455) extra field, else the DOS time. Empty directories are
 * kept. The free space on |dest_dir|'s file system is checked first against the declared
 * total plus the limits' margin (FERRY_E_NOSPACE) unless FERRY_ZIP_NO_SPACE_CHECK.
 * Progress: bytes written of the declared total, |what| = entry name.
 * Errors: FERRY_E_PACKAGE_INVALID (content: lying size, CRC), FERRY_E_NOSPACE,
 * FERRY_E_IO, FERRY_E_EXISTS (dest_dir exists).
 */
ferry_err_code_t ferry_zip_extract(ferry_zip_t *zip, const char *dest_dir, unsigned flags,
                                   ferry_progress_t progress, ferry_err_t *err);

/**
 * Streams the single entry |name| into a new file |dest_path| (must not exist), durably
 * (temp, fsync, rename, fsync dir), mode 0644. For the SQL scripts. Same checks as
 * extraction (declared size, CRC). FERRY_E_NOT_FOUND if there is no such entry.
 */
ferry_err_code_t ferry_zip_extract_entry(ferry_zip_t *zip, const char *name, const char *dest_path,
                                         ferry_err_t *err);

/**
 * Reads the whole entry |name| (a file of at most |max_bytes|) into a new NUL-terminated
 * buffer *out (free()), *len_out bytes, with the same size and CRC checks as extraction.
 * FERRY_E_NOT_FOUND if there is no such file entry, FERRY_E_TOO_LARGE above the cap.
 */
ferry_err_code_t ferry_zip_read_entry(ferry_zip_t *zip, const char *name, size_t max_bytes, char **out,
                                      size_t *len_out, ferry_err_t *err);

/** Which parts a package holds (seed 000 appendix A). */
typedef struct ferry_pkg_manifest {
    bool has_server_zip;
    bool has_client_zip;
    bool has_schema_sql; /**< 结构.sql */
    bool has_data_sql;
    bool has_hooks; /**< hooks.json (seed 002 upgrade hooks), validated */
} ferry_pkg_manifest_t;

/**
 * Reads the manifest of an opened package. FERRY_E_PACKAGE_INVALID when none of the
 * four parts is present, or when the package holds a `hooks.json` that does not
 * validate (ferry/model/hooks.h: schema, unknown keys, referenced files present, versions,
 * unique ids; the message names the field). Other top-level entries are allowed and
 * ignored (a later signed manifest lives there). The server calls this at package
 * commit and the agent at verification, so both refuse the same packages.
 */
ferry_err_code_t ferry_pkg_manifest(const ferry_zip_t *pkg, ferry_pkg_manifest_t *out, ferry_err_t *err);

/**
 * Loads and validates the package's hooks.json. *out is NULL (and FERRY_OK) when the
 * package has none; else it owns the model (ferry_hooks_free()).
 */
ferry_err_code_t ferry_pkg_hooks(const ferry_zip_t *pkg, ferry_hooks_t **out, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
