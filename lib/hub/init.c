/*
 * `ferryd init`: creates a data dir with the database (migrated), the URL-signing
 * secret, the Ed25519 package-signing key and the first SYSADMIN token.
 *
 * Crash safety: everything is built in a sibling temp dir ("<dir>.init-XXXXXX") and
 * renamed onto |data_dir| at the end, so a crash leaves either no data dir (or the
 * empty one the operator made) or a complete one — never a half-initialised dir
 * that a second `init` would refuse and `ferryd` could not open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "auth_internal.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/store/tokens.h"

/* 1 if |dir| exists and holds anything, 0 if missing or empty, -1 on error. */
static int dir_nonempty(const char *dir, ferry_err_t *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR) {
            ferry_err_set(err, FERRY_E_EXISTS, "'%s' exists and is not a directory", dir);
            return -1;
        }
        ferry_err_set_errno(err, FERRY_E_IO, errno, "open '%s'", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            found = 1;
            break;
        }
    }
    closedir(d);
    return found;
}

/* Creates the database in |dir| with the bootstrap token row. */
static ferry_err_code_t create_db(const char *dir, const hub_token_t *tok, ferry_err_t *err)
{
    char path[PATH_MAX];
    ferry_store_t *store = NULL;
    ferry_store_admin_token_new_t row = {0};
    ferry_err_code_t rc;

    if (ferry_fs_join(path, sizeof(path), dir, HUB_DB_FILE) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "data dir path too long");
    if ((rc = ferry_store_open(path, &store, err)) != FERRY_OK)
        goto out;
    row.token_id = tok->id;
    memcpy(row.hash, tok->hash, sizeof(row.hash));
    row.role = FERRY__V1__ROLE__ROLE_SYSADMIN;
    row.name = "bootstrap";
    row.created_at = hub_now_ms();
    /* One statement in autocommit: durable when it returns (synchronous=FULL). */
    ferry_store_lock(store);
    rc = ferry_store_admin_token_insert(store, &row, err);
    ferry_store_unlock(store);
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "init: insert admin token");
out:
    ferry_store_free(store);
    return rc;
}

ferry_err_code_t ferry_hub_init(const char *data_dir, char *admin_token, size_t size, ferry_err_t *err)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    uint8_t url_key[32];
    hub_token_t tok;
    ferry_err_code_t rc = FERRY_OK;
    bool made_tmp = false;
    int ne;

    memset(&tok, 0, sizeof(tok));
    if (data_dir == NULL || data_dir[0] == '\0' || admin_token == NULL || size < HUB_TOKEN_LEN + 1) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "init: data dir and a token buffer of %d bytes are required", HUB_TOKEN_LEN + 1);
        goto out;
    }
    admin_token[0] = '\0';
    if ((ne = dir_nonempty(data_dir, err)) < 0) {
        rc = err != NULL ? err->code : FERRY_E_IO;
        goto out;
    }
    if (ne > 0) {
        ferry_fs_join(path, sizeof(path), data_dir, HUB_DB_FILE);
        rc = ferry_err_set(err, FERRY_E_EXISTS,
                           ferry_fs_exists(path) ? "'%s' is already initialised: refusing to overwrite it"
                                                 : "'%s' is not empty: init needs a new or empty directory",
                           data_dir);
        goto out;
    }
    /* The parent must exist for the temp dir and the final rename. */
    snprintf(path, sizeof(path), "%s", data_dir);
    {
        char *slash = strrchr(path, '/');
        if (slash != NULL && slash != path) {
            *slash = '\0';
            if ((rc = ferry_fs_mkdir_p(path, 0755, err)) != FERRY_OK)
                goto out;
        }
    }
    if (snprintf(tmp, sizeof(tmp), "%s.init-XXXXXX", data_dir) >= (int)sizeof(tmp) - 16) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "init: data dir path too long");
        goto out;
    }
    if (mkdtemp(tmp) == NULL) { /* mode 0700 */
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "init: create temp dir beside '%s'", data_dir);
        goto out;
    }
    made_tmp = true;
    if ((rc = hub_token_new(HUB_TOKEN_ADMIN, &tok, err)) != FERRY_OK ||
        (rc = create_db(tmp, &tok, err)) != FERRY_OK)
        goto out;
    if (ferry_fs_join(path, sizeof(path), tmp, HUB_SIGNING_KEY_FILE) != FERRY_OK ||
        (rc = ferry_sign_keygen_file(path, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_random_bytes(url_key, sizeof(url_key), err)) != FERRY_OK)
        goto out;
    if (ferry_fs_join(path, sizeof(path), tmp, HUB_URL_KEY_FILE) != FERRY_OK ||
        (rc = ferry_fs_write_atomic(path, url_key, sizeof(url_key), 0600, err)) != FERRY_OK)
        goto out;
    if (ferry_fs_join(path, sizeof(path), tmp, HUB_BLOB_DIR) != FERRY_OK ||
        (rc = ferry_fs_mkdir_p(path, 0700, err)) != FERRY_OK ||
        (rc = ferry_fs_fsync_dir(tmp, err)) != FERRY_OK)
        goto out;
    /* rename(2) replaces a missing or EMPTY directory atomically; anything that
     * appeared meanwhile makes it fail with ENOTEMPTY/EEXIST and nothing changes. */
    if (rename(tmp, data_dir) != 0) {
        rc = ferry_err_set_errno(err, errno == ENOTEMPTY || errno == EEXIST ? FERRY_E_EXISTS : FERRY_E_IO,
                                 errno, "init: move the new data dir into place at '%s'", data_dir);
        goto out;
    }
    made_tmp = false;
    if (chmod(data_dir, 0700) != 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "init: chmod 0700 '%s'", data_dir);
        goto out;
    }
    if ((rc = ferry_fs_fsync_parent(data_dir, err)) != FERRY_OK)
        goto out;
    snprintf(admin_token, size, "%s", tok.token);
out:
    if (made_tmp)
        ferry_fs_rm_rf(tmp, NULL);
    memset(url_key, 0, sizeof(url_key));
    memset(&tok, 0, sizeof(tok));
    return rc;
}
