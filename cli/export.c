/*
 * `ferry package export VERSION --out DIR`: a package zip and its signed offline
 * manifest for an air-gapped site (AdminService.ExportPackage, then the zip through
 * the runtime's transfer client). The agent's LocalService.ApplyOfflinePackage takes
 * both files.
 *
 * Crash safety: the zip grows in DIR/.<version>.zip.part (resumed across the attempts
 * of one run), is checked against the package's size and SHA-256, then renamed into
 * place and the directory fsynced; the manifest is written atomically after it. A run
 * that fails removes what it wrote, so DIR holds either both files or neither new one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/transfer.h"
#include "ferry/version.h"

#define EXPORT_ATTEMPTS    4   /* download attempts of one run (each resumes the last) */
#define EXPORT_STALL_S     60  /* no progress for this long fails an attempt */
#define EXPORT_PROGRESS_MS 100 /* progress bar redraws at most this often */
#define EXPORT_FILE_MODE   0644

ferry_err_code_t ferry_cli_parse_valid_days(const char *s, uint32_t *days, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    uint32_t v = 0;

    *days = FERRY_CLI_EXPORT_DEFAULT_DAYS;
    if (s == NULL)
        goto out;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > FERRY_CLI_EXPORT_MAX_DAYS) {
            v = 0;
            break;
        }
        v = v * 10 + (uint32_t)(*p - '0');
    }
    if (v < 1 || v > FERRY_CLI_EXPORT_MAX_DAYS) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "--valid-days: '%.32s' is not a number of days in 1..%d",
                           s, FERRY_CLI_EXPORT_MAX_DAYS);
        goto out;
    }
    *days = v;
out:
    return rc;
}

ferry_err_code_t ferry_cli_export_paths(const char *dir, const char *version, ferry_cli_export_paths_t *p,
                                        ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    size_t dl = dir != NULL ? strlen(dir) : 0;
    const char *sep;

    memset(p, 0, sizeof(*p));
    if (!ferry_version_is_path_safe(version)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "VERSION '%.64s' cannot name a file",
                           version ? version : "");
        goto out;
    }
    if (dl == 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "--out: a directory is required");
        goto out;
    }
    while (dl > 1 && dir[dl - 1] == '/') /* "out/" names the same directory */
        dl--;
    sep = dl == 1 && dir[0] == '/' ? "" : "/";
    if ((size_t)snprintf(p->dir, sizeof(p->dir), "%.*s", (int)dl, dir) >= sizeof(p->dir) ||
        (size_t)snprintf(p->zip, sizeof(p->zip), "%s%s%s.zip", p->dir, sep, version) >= sizeof(p->zip) ||
        (size_t)snprintf(p->manifest, sizeof(p->manifest), "%s%s%s.manifest.json", p->dir, sep, version) >=
            sizeof(p->manifest) ||
        (size_t)snprintf(p->part, sizeof(p->part), "%s%s.%s.zip.part", p->dir, sep, version) >=
            sizeof(p->part))
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "--out: path longer than %zu bytes", sizeof(p->part) - 1);
out:
    return rc;
}

ferry_err_code_t ferry_cli_export_manifest_json(const Ferry__V1__SignedManifest *sm, char **out, size_t *len,
                                                ferry_err_t *err)
{
    ferry_err_code_t rc;
    char *text = NULL, *grown;
    size_t n = 0;

    *out = NULL;
    *len = 0;
    if ((rc = ferry_json_encode(&sm->base, 1, &text, &n, err)) != FERRY_OK)
        goto out;
    if ((grown = realloc(text, n + 2)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "manifest: out of memory");
        goto out;
    }
    text = grown;
    text[n++] = '\n';
    text[n] = '\0';
    *out = text;
    *len = n;
    text = NULL;
out:
    free(text);
    return rc;
}

/* ---- the download --------------------------------------------------------------------- */

/* Length of "scheme://host[:port]" of |url| (0 when it has none). */
static size_t origin_len(const char *url)
{
    const char *p = strstr(url, "://");
    return p == NULL ? 0 : (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
}

/* Whether |url| is served by the configured server (same scheme, host and port). */
static bool same_origin(const char *url, const char *server)
{
    size_t n = origin_len(url);
    return n > 0 && n == origin_len(server) && strncasecmp(url, server, n) == 0;
}

typedef struct progress {
    ferry_cli_t *cli;
    uint64_t size;
    int64_t last_ms;
} progress_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_data(void *user, uint64_t offset, const uint8_t *data, size_t len)
{
    progress_t *p = user;
    int64_t now = mono_ms();
    char done[32], total[32], extra[80];

    (void)data;
    if (now - p->last_ms >= EXPORT_PROGRESS_MS || offset + len >= p->size) {
        p->last_ms = now;
        snprintf(extra, sizeof(extra), "%s / %s", ferry_cli_fmt_bytes(offset + len, done, sizeof(done)),
                 ferry_cli_fmt_bytes(p->size, total, sizeof(total)));
        ferry_cli_progress(p->cli, "download", p->size ? (double)(offset + len) / (double)p->size : 1.0,
                           extra);
    }
    return 0;
}

/* Whether another attempt may help after |rc| (the partial file is kept and resumed). */
static bool retryable(ferry_err_code_t rc)
{
    return rc == FERRY_E_UNAVAILABLE || rc == FERRY_E_CORRUPT || rc == FERRY_E_PRECONDITION;
}

/*
 * Downloads |url| into |part| (|size| bytes) and checks its SHA-256 against |sha256|.
 * A failed attempt that may be transient is retried (resuming); a corrupt or oversized
 * partial file is restarted. The exit code on failure (|part| left for the caller).
 */
static int download(ferry_cli_t *cli, const char *url, const char *part, uint64_t size, const char *sha256)
{
    ferry_xfer_config_t cfg = {0};
    ferry_xfer_t *x = NULL;
    ferry_xfer_get_result_t res;
    ferry_err_t err = {0};
    ferry_err_code_t code = FERRY_OK;
    progress_t prog = {cli, size, 0};
    char got[FERRY_SHA256_HEX_LEN + 1];
    uint64_t got_size = 0;
    int rc = FERRY_CLI_EXIT_OK;

    cfg.ca_file = cli->cfg.ca_file[0] ? cli->cfg.ca_file : NULL;
    /* The pin is the server's key: a link to other storage (a CDN) is checked by CA only. */
    cfg.pin_sha256 = cli->cfg.pin_sha256[0] && same_origin(url, cli->cfg.server) ? cli->cfg.pin_sha256 : NULL;
    cfg.insecure_skip_verify = cli->g.insecure;
    cfg.low_speed_timeout_s = EXPORT_STALL_S;
    cfg.user_agent = "ferry-cli/0.1";
    if ((x = ferry_xfer_new(&cfg, &err)) == NULL) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, ferry_err_name(err.code), "download: %s", err.msg);
        goto out;
    }
    for (int attempt = 1; attempt <= EXPORT_ATTEMPTS; attempt++) {
        memset(&res, 0, sizeof(res));
        code = ferry_xfer_get_file(x, url, part, size, on_data, &prog, &cli->cancel, &res, &err);
        if (code == FERRY_OK || !retryable(code) || cli->cancel)
            break;
        if (code != FERRY_E_UNAVAILABLE) /* the partial file itself is wrong: start over */
            unlink(part);
        if (attempt < EXPORT_ATTEMPTS)
            usleep((useconds_t)(250000u << attempt));
    }
    if (cli->tty && !cli->g.json)
        fputc('\n', cli->errf);
    if (code != FERRY_OK) {
        /* The server's or the network's failure (3), or a local one (1). */
        bool local = code == FERRY_E_IO || code == FERRY_E_NOSPACE || code == FERRY_E_CANCELED ||
                     code == FERRY_E_NOMEM || code == FERRY_E_INVALID_ARG;
        rc = ferry_cli_fail(cli, local ? FERRY_CLI_EXIT_OTHER : FERRY_CLI_EXIT_RPC, ferry_err_name(code),
                            "download the package: %s", err.msg);
        goto out;
    }
    if (ferry_sha256_file(part, got, &got_size, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, ferry_err_name(err.code), "%s", err.msg);
        goto out;
    }
    if (got_size != size || strcmp(got, sha256) != 0) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_HASH_MISMATCH",
                            "downloaded package has %llu bytes, SHA-256 %s; the package has %llu bytes, %s",
                            (unsigned long long)got_size, got, (unsigned long long)size, sha256);
        goto out;
    }
out:
    ferry_xfer_free(x);
    return rc;
}

/* ---- the command ---------------------------------------------------------------------------- */

/* The signed bytes must describe the package the response names. */
static bool manifest_matches(const Ferry__V1__PackageManifest *m, const Ferry__V1__Package *p)
{
    return m != NULL && p != NULL && m->version != NULL && p->version != NULL && m->sha256 != NULL &&
           p->sha256 != NULL && strcmp(m->version, p->version) == 0 && strcmp(m->sha256, p->sha256) == 0 &&
           m->size == p->size;
}

static int print_result(ferry_cli_t *cli, const Ferry__V1__ExportPackageResponse *resp,
                        const Ferry__V1__PackageManifest *m, const ferry_cli_export_paths_t *paths)
{
    const char *customer = m->customer_code != NULL && m->customer_code[0] ? m->customer_code : NULL;
    char until[40], bytes[32];
    json_t *obj;

    if (cli->g.json) {
        obj = ferry_cli_msg_json(&resp->base);
        if (obj != NULL) {
            json_object_set_new(obj, "manifest", ferry_cli_msg_json(&m->base));
            json_object_set_new(obj, "zipPath", json_string(paths->zip));
            json_object_set_new(obj, "manifestPath", json_string(paths->manifest));
        }
        return ferry_cli_emit(cli, obj);
    }
    fprintf(cli->out,
            "Exported package %s (%s, sha256 %s)\n"
            "for %s%s, valid until %s:\n"
            "  %s\n"
            "  %s\n"
            "Apply both on the node with the tray (LocalService.ApplyOfflinePackage).\n",
            resp->package->version, ferry_cli_fmt_bytes(resp->package->size, bytes, sizeof(bytes)),
            resp->package->sha256, customer != NULL ? "customer " : "any customer",
            customer != NULL ? customer : "", ferry_cli_fmt_time(m->expires_at, until, sizeof(until)),
            paths->zip, paths->manifest);
    return FERRY_CLI_EXIT_OK;
}

int ferry_cli_package_export(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ExportPackageRequest req = FERRY__V1__EXPORT_PACKAGE_REQUEST__INIT;
    Ferry__V1__ExportPackageResponse *resp = NULL;
    Ferry__V1__PackageManifest *m = NULL;
    Google__Protobuf__Duration valid = GOOGLE__PROTOBUF__DURATION__INIT;
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_rpc_status_t st = {0};
    ferry_err_t err = {0};
    ferry_cli_export_paths_t paths;
    struct stat sb;
    uint32_t days;
    char *text = NULL;
    size_t text_len = 0;
    bool dir_made = false, part_made = false, zip_made = false;
    int rc;

    if (ferry_cli_parse_valid_days(ferry_cli_arg(a, "valid-days"), &days, &err) != FERRY_OK ||
        ferry_cli_export_paths(ferry_cli_arg(a, "out"), a->pos[0], &paths, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "%s", err.msg);
        goto out;
    }
    if (stat(paths.dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_IO", "--out: '%s' exists and is not a directory",
                            paths.dir);
        goto out;
    }
    dir_made = !ferry_fs_exists(paths.dir); /* created below, removed again on failure */
    req.version = (char *)a->pos[0];
    valid.seconds = (int64_t)days * 86400;
    req.valid_for = &valid;
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if (ferry_v1_admin_service_export_package(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "export package", &st);
        goto out;
    }
    if (resp->package == NULL || resp->download == NULL || resp->download->url == NULL ||
        resp->signed_manifest == NULL ||
        (m = ferry__v1__package_manifest__unpack(NULL, resp->signed_manifest->manifest.len,
                                                 resp->signed_manifest->manifest.data)) == NULL ||
        !manifest_matches(m, resp->package)) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_PROTOCOL",
                            "export package: the server's answer lacks the package, its link or a manifest "
                            "describing it");
        goto out;
    }
    if (ferry_cli_export_manifest_json(resp->signed_manifest, &text, &text_len, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, ferry_err_name(err.code), "manifest: %s", err.msg);
        goto out;
    }
    if (ferry_fs_mkdir_p(paths.dir, 0755, &err) != FERRY_OK) {
        dir_made = false;
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, ferry_err_name(err.code), "--out: %s", err.msg);
        goto out;
    }
    part_made = true;
    if ((rc = download(cli, resp->download->url, paths.part, resp->package->size, resp->package->sha256)) !=
        FERRY_CLI_EXIT_OK)
        goto out;
    if (chmod(paths.part, EXPORT_FILE_MODE) != 0 || rename(paths.part, paths.zip) != 0) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_IO", "write '%s': %s", paths.zip, strerror(errno));
        goto out;
    }
    part_made = false;
    zip_made = true;
    if (ferry_fs_fsync_dir(paths.dir, &err) != FERRY_OK ||
        ferry_fs_write_atomic(paths.manifest, text, text_len, EXPORT_FILE_MODE, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, ferry_err_name(err.code), "%s", err.msg);
        goto out;
    }
    zip_made = false; /* both files are in place */
    dir_made = false;
    rc = print_result(cli, resp, m, &paths);
out:
    if (part_made)
        unlink(paths.part);
    if (zip_made)
        unlink(paths.zip);
    if (dir_made)
        rmdir(paths.dir); /* only if still empty (a parent made by mkdir -p stays) */
    free(text);
    if (m != NULL)
        ferry__v1__package_manifest__free_unpacked(m, NULL);
    FERRY_CLI_FREE(resp);
    return rc;
}
