/* Resumable package upload pieces (upload.c), exposed for cmd_package.c and tests. */
#ifndef FERRY_CLI_UPLOAD_H
#define FERRY_CLI_UPLOAD_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "ferry/hash.h"

/** What the CLI remembers about an unfinished upload (keyed by the file's SHA-256). */
typedef struct ferry_cli_upload_state {
    char server[1024];
    char upload_id[128];
    char sha256[FERRY_SHA256_HEX_LEN + 1];
    uint64_t size;
} ferry_cli_upload_state_t;

/** <cache dir>/uploads/<sha256>.json */
ferry_err_code_t ferry_cli_upload_state_path(ferry_cli_getenv_fn ge, const char *sha256, char *buf,
                                             size_t size, ferry_err_t *err);
/** FERRY_E_NOT_FOUND when absent, FERRY_E_CORRUPT when unreadable. */
ferry_err_code_t ferry_cli_upload_state_load(const char *path, ferry_cli_upload_state_t *st,
                                             ferry_err_t *err);
/** Writes the state atomically with mode 0600 (creating the directory 0700). */
ferry_err_code_t ferry_cli_upload_state_save(const char *path, const ferry_cli_upload_state_t *st,
                                             const char *file_path, ferry_err_t *err);

/** HTTP settings for signed-URL transfers. */
typedef struct ferry_cli_http {
    const char *ca_file;
    const char *pin_sha256;
    bool insecure;
    long timeout_ms;
    const char *method;
    size_t n_headers;
    const char *header_names[16];
    const char *header_values[16];
} ferry_cli_http_t;

/** HEAD |url|: the server's Upload-Offset. */
ferry_err_code_t ferry_cli_http_head_offset(const ferry_cli_http_t *hs, const char *url, uint64_t *offset,
                                            long *status, ferry_err_t *err);
/** PUT bytes [start, start+len) of |f| with Content-Range .../total. */
ferry_err_code_t ferry_cli_http_put_chunk(const ferry_cli_http_t *hs, const char *url, FILE *f,
                                          uint64_t start, uint64_t len, uint64_t total, long *status,
                                          ferry_err_t *err);

#endif
