/* Resumable package upload: local state in the cache dir, chunked PUTs to the
 * signed URL with Content-Range, HEAD for the server's offset (Upload-Offset). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "ferry/fs.h"
#include "ferry/transfer.h"
#include "upload.h"

ferry_err_code_t ferry_cli_cache_dir(ferry_cli_getenv_fn ge, char *buf, size_t size, ferry_err_t *err)
{
    const char *p;
    int n;

    if ((p = ge("FERRY_CACHE_DIR")) != NULL && p[0] != '\0')
        n = snprintf(buf, size, "%s", p);
    else if ((p = ge("XDG_CACHE_HOME")) != NULL && p[0] != '\0')
        n = snprintf(buf, size, "%s/ferry", p);
    else if ((p = ge("HOME")) != NULL && p[0] != '\0')
        n = snprintf(buf, size, "%s/.cache/ferry", p);
    else
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "no cache dir: set HOME or FERRY_CACHE_DIR");
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "cache dir path too long");
    return FERRY_OK;
}

ferry_err_code_t ferry_cli_upload_state_path(ferry_cli_getenv_fn ge, const char *sha256, char *buf,
                                             size_t size, ferry_err_t *err)
{
    char dir[1024];
    int n;

    if (ferry_cli_cache_dir(ge, dir, sizeof(dir), err) != FERRY_OK)
        return err->code;
    n = snprintf(buf, size, "%s/uploads/%s.json", dir, sha256);
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "cache path too long");
    return FERRY_OK;
}

ferry_err_code_t ferry_cli_upload_state_load(const char *path, ferry_cli_upload_state_t *st, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    json_t *root = NULL;
    json_error_t jerr;
    const char *server, *id, *sha;
    json_t *size;

    memset(st, 0, sizeof(*st));
    if (!ferry_fs_exists(path)) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no upload state");
        goto out;
    }
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    server = json_string_value(json_object_get(root, "server"));
    id = json_string_value(json_object_get(root, "uploadId"));
    sha = json_string_value(json_object_get(root, "sha256"));
    size = json_object_get(root, "size");
    if (root == NULL || server == NULL || id == NULL || sha == NULL || !json_is_integer(size) ||
        strlen(server) >= sizeof(st->server) || strlen(id) >= sizeof(st->upload_id) ||
        strlen(sha) != FERRY_SHA256_HEX_LEN || json_integer_value(size) < 0) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "upload state '%s' is unreadable", path);
        goto out;
    }
    /* Lengths checked above. */
    memcpy(st->server, server, strlen(server) + 1);
    memcpy(st->upload_id, id, strlen(id) + 1);
    memcpy(st->sha256, sha, strlen(sha) + 1);
    st->size = (uint64_t)json_integer_value(size);
out:
    json_decref(root);
    return rc;
}

ferry_err_code_t ferry_cli_upload_state_save(const char *path, const ferry_cli_upload_state_t *st,
                                             const char *file_path, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    json_t *o = NULL;
    char *text = NULL;
    char dir[1200];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        if ((rc = ferry_fs_mkdir_p(dir, 0700, err)) != FERRY_OK)
            goto out;
    }
    o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "server", st->server, "uploadId", st->upload_id, "sha256",
                  st->sha256, "size", (json_int_t)st->size, "file", file_path ? file_path : "");
    if (o == NULL || (text = json_dumps(o, JSON_INDENT(2))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "cannot encode upload state (file name not UTF-8?)");
        goto out;
    }
    rc = ferry_fs_write_atomic(path, text, strlen(text), 0600, err);
out:
    free(text);
    json_decref(o);
    return rc;
}

/* ---- HTTP (through the RPC runtime's transfer client) ------------------- */

#define MAX_HEADERS 16

/* One transfer client and the request headers for |hs|. */
typedef struct http_call {
    ferry_xfer_t *x;
    char lines[MAX_HEADERS][1024];
    const char *headers[MAX_HEADERS + 1];
    int64_t upload_offset; /* -1 when the header was absent */
} http_call_t;

static ferry_err_code_t call_open(http_call_t *hc, const ferry_cli_http_t *hs, ferry_err_t *err)
{
    ferry_xfer_config_t cfg = {0};
    size_t n = 0;

    memset(hc, 0, sizeof(*hc));
    hc->upload_offset = -1;
    cfg.ca_file = hs->ca_file && hs->ca_file[0] ? hs->ca_file : NULL;
    cfg.pin_sha256 = hs->pin_sha256 && hs->pin_sha256[0] ? hs->pin_sha256 : NULL;
    cfg.insecure_skip_verify = hs->insecure;
    cfg.user_agent = "ferry-cli/0.1";
    /* hs->timeout_ms bounded a whole request; the transfer client bounds a stall
     * instead (no progress for that long), so a dead server costs the same. */
    cfg.low_speed_timeout_s = hs->timeout_ms > 0 ? (uint32_t)((hs->timeout_ms + 999) / 1000) : 0;
    for (size_t i = 0; i < hs->n_headers && i < MAX_HEADERS; i++) {
        snprintf(hc->lines[n], sizeof(hc->lines[n]), "%s: %s", hs->header_names[i], hs->header_values[i]);
        hc->headers[n] = hc->lines[n];
        n++;
    }
    hc->headers[n] = NULL;
    if ((hc->x = ferry_xfer_new(&cfg, err)) == NULL) {
        if (err->code == FERRY_E_INVALID_ARG)
            ferry_err_set(err, FERRY_E_INVALID_ARG, "--pin-sha256 must be 64 hex digits");
        return err->code;
    }
    return FERRY_OK;
}

static void on_resp_header(void *user, const char *name, const char *value)
{
    http_call_t *hc = user;

    if (strcasecmp(name, "upload-offset") == 0)
        hc->upload_offset = strtoll(value, NULL, 10);
}

/* The CLI's codes: transport and 5xx are E_UNAVAILABLE (retried), other HTTP errors
 * E_PROTOCOL; local file errors keep their own code. */
static ferry_err_code_t cli_code(ferry_err_code_t rc, long status)
{
    if (status >= 500 || (status == 0 && rc != FERRY_E_IO && rc != FERRY_E_NOSPACE &&
                          rc != FERRY_E_INVALID_ARG && rc != FERRY_E_NOMEM))
        return FERRY_E_UNAVAILABLE;
    return status > 0 ? FERRY_E_PROTOCOL : rc;
}

ferry_err_code_t ferry_cli_http_head_offset(const ferry_cli_http_t *hs, const char *url, uint64_t *offset,
                                            long *status, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    http_call_t hc;
    int st = 0;

    *status = 0;
    if ((rc = call_open(&hc, hs, err)) != FERRY_OK)
        goto out;
    rc = ferry_xfer_head(hc.x, url, hc.headers, &st, on_resp_header, &hc, err);
    *status = st;
    if (rc != FERRY_OK) {
        ferry_err_prefix(err, "HEAD upload URL");
        rc = ferry_err_recode(err, cli_code(rc, st));
        goto out;
    }
    if (hc.upload_offset < 0) {
        rc = ferry_err_set(err, FERRY_E_PROTOCOL, "HEAD upload URL: no Upload-Offset header");
        goto out;
    }
    *offset = (uint64_t)hc.upload_offset;
out:
    ferry_xfer_free(hc.x);
    return rc;
}

ferry_err_code_t ferry_cli_http_put_chunk(const ferry_cli_http_t *hs, const char *url, FILE *f,
                                          uint64_t start, uint64_t len, uint64_t total, long *status,
                                          ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    http_call_t hc;
    char fd_path[64];
    int st = 0;

    *status = 0;
    memset(&hc, 0, sizeof(hc));
    if (hs->method && hs->method[0] && strcasecmp(hs->method, "PUT") != 0) {
        rc = ferry_err_set(err, FERRY_E_UNSUPPORTED, "upload method '%s' is not supported (PUT only)",
                           hs->method);
        goto out;
    }
    if ((rc = call_open(&hc, hs, err)) != FERRY_OK)
        goto out;
    /* The transfer client reads by path: the same file through our open descriptor
     * (even if the name was replaced since). */
    snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fileno(f));
    rc = ferry_xfer_put_file(hc.x, url, fd_path, start, len, total, hc.headers, &st, NULL, NULL, err);
    *status = st;
    if (rc != FERRY_OK) {
        ferry_err_prefix(err, "PUT chunk at %llu", (unsigned long long)start);
        rc = ferry_err_recode(err, cli_code(rc, st));
        goto out;
    }
out:
    ferry_xfer_free(hc.x);
    return rc;
}
