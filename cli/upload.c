/* Resumable package upload: local state in the cache dir, chunked PUTs to the
 * signed URL with Content-Range, HEAD for the server's offset (Upload-Offset). */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/encoding.h"
#include "ferry/fs.h"
#include "upload.h"

#define BODY_CAP 4096

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
    strcpy(st->server, server);
    strcpy(st->upload_id, id);
    strcpy(st->sha256, sha);
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

/* ---- HTTP --------------------------------------------------------------- */

typedef struct http_ctx {
    FILE *f;
    uint64_t left;
    char body[BODY_CAP];
    size_t body_len;
    int64_t upload_offset; /* -1 when the header was absent */
} http_ctx_t;

static size_t read_cb(char *buf, size_t size, size_t n, void *user)
{
    http_ctx_t *h = user;
    size_t want = size * n;
    size_t got;

    if (want > h->left)
        want = (size_t)h->left;
    if (want == 0)
        return 0;
    got = fread(buf, 1, want, h->f);
    if (got == 0)
        return CURL_READFUNC_ABORT;
    h->left -= got;
    return got;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *user)
{
    http_ctx_t *h = user;
    size_t len = size * n;
    size_t room = sizeof(h->body) - 1 - h->body_len;
    size_t c = len < room ? len : room;

    memcpy(h->body + h->body_len, buf, c);
    h->body_len += c;
    h->body[h->body_len] = '\0';
    return len;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *user)
{
    http_ctx_t *h = user;
    size_t len = size * n;
    static const char name[] = "upload-offset:";
    char tmp[64];

    if (len > sizeof(name) - 1 && len < sizeof(name) + sizeof(tmp) - 1 &&
        strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        size_t vl = len - (sizeof(name) - 1);
        memcpy(tmp, buf + sizeof(name) - 1, vl);
        tmp[vl] = '\0';
        h->upload_offset = strtoll(tmp, NULL, 10);
    }
    return len;
}

/* Common TLS settings; pin given as hex SHA-256 of the SPKI. */
static ferry_err_code_t setup_tls(CURL *c, const ferry_cli_http_t *hs, char *pinbuf, size_t pinsize,
                                  ferry_err_t *err)
{
    uint8_t raw[32];

    if (hs->ca_file && hs->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, hs->ca_file);
    if (hs->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (hs->pin_sha256 && hs->pin_sha256[0]) {
        size_t l;
        if (strlen(hs->pin_sha256) != 64 || ferry_hex_decode(hs->pin_sha256, 64, raw, sizeof(raw)) != 32)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "--pin-sha256 must be 64 hex digits");
        memcpy(pinbuf, "sha256//", 8);
        l = ferry_b64_encode(raw, sizeof(raw), pinbuf + 8, 0, 1);
        pinbuf[8 + l] = '\0';
        (void)pinsize;
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, pinbuf);
    }
    return FERRY_OK;
}

static struct curl_slist *add_headers(struct curl_slist *l, const ferry_cli_http_t *hs)
{
    char line[1024];

    for (size_t i = 0; i < hs->n_headers; i++) {
        snprintf(line, sizeof(line), "%s: %s", hs->header_names[i], hs->header_values[i]);
        l = curl_slist_append(l, line);
    }
    return curl_slist_append(l, "Expect:");
}

ferry_err_code_t ferry_cli_http_head_offset(const ferry_cli_http_t *hs, const char *url, uint64_t *offset,
                                            long *status, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    http_ctx_t h;
    char pin[128];
    CURLcode cc;

    memset(&h, 0, sizeof(h));
    h.upload_offset = -1;
    *status = 0;
    if (c == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "curl init failed");
        goto out;
    }
    if ((rc = setup_tls(c, hs, pin, sizeof(pin), err)) != FERRY_OK)
        goto out;
    hl = add_headers(NULL, hs);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)hs->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if ((cc = curl_easy_perform(c)) != CURLE_OK) {
        rc = ferry_err_set(err, FERRY_E_UNAVAILABLE, "HEAD upload URL: %s", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (*status < 200 || *status > 299) {
        rc = ferry_err_set(err, *status >= 500 ? FERRY_E_UNAVAILABLE : FERRY_E_PROTOCOL,
                           "HEAD upload URL: HTTP %ld", *status);
        goto out;
    }
    if (h.upload_offset < 0) {
        rc = ferry_err_set(err, FERRY_E_PROTOCOL, "HEAD upload URL: no Upload-Offset header");
        goto out;
    }
    *offset = (uint64_t)h.upload_offset;
out:
    curl_slist_free_all(hl);
    if (c != NULL)
        curl_easy_cleanup(c);
    return rc;
}

ferry_err_code_t ferry_cli_http_put_chunk(const ferry_cli_http_t *hs, const char *url, FILE *f,
                                          uint64_t start, uint64_t len, uint64_t total, long *status,
                                          ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    http_ctx_t h;
    char pin[128], range[128];
    CURLcode cc;

    memset(&h, 0, sizeof(h));
    h.upload_offset = -1;
    h.f = f;
    h.left = len;
    *status = 0;
    if (c == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "curl init failed");
        goto out;
    }
    if (fseeko(f, (off_t)start, SEEK_SET) != 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "seek");
        goto out;
    }
    if ((rc = setup_tls(c, hs, pin, sizeof(pin), err)) != FERRY_OK)
        goto out;
    snprintf(range, sizeof(range), "Content-Range: bytes %llu-%llu/%llu", (unsigned long long)start,
             (unsigned long long)(start + len - 1), (unsigned long long)total);
    hl = add_headers(NULL, hs);
    hl = curl_slist_append(hl, range);
    hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, hs->method && hs->method[0] ? hs->method : "PUT");
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)hs->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if ((cc = curl_easy_perform(c)) != CURLE_OK) {
        rc = ferry_err_set(err, FERRY_E_UNAVAILABLE, "PUT chunk at %llu: %s", (unsigned long long)start,
                           curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (*status < 200 || *status > 299) {
        /* Keep the body short and printable. */
        for (size_t i = 0; i < h.body_len; i++)
            if ((unsigned char)h.body[i] < 0x20)
                h.body[i] = ' ';
        if (h.body_len > 300)
            h.body[300] = '\0';
        rc = ferry_err_set(err, *status >= 500 ? FERRY_E_UNAVAILABLE : FERRY_E_PROTOCOL,
                           "PUT chunk at %llu: HTTP %ld %s", (unsigned long long)start, *status, h.body);
        goto out;
    }
out:
    curl_slist_free_all(hl);
    if (c != NULL)
        curl_easy_cleanup(c);
    return rc;
}
