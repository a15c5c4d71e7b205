/* `ferry package ...`: resumable upload, list, get; export lives in export.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/hash.h"
#include "upload.h"

#define DEFAULT_CHUNK   (1u << 20)
#define MAX_RETRIES     5
#define MAX_RESYNCS     8
#define CHUNK_TIMEOUT_S 600

/* One upload in progress. */
typedef struct upload {
    ferry_cli_t *cli;
    const char *path;
    char sha256[FERRY_SHA256_HEX_LEN + 1];
    uint64_t size;
    struct stat st0;
    char state_path[1200];
    ferry_cli_upload_state_t state;
    Ferry__V1__UploadTarget *target; /* owned by resp_create or resp_get */
    Ferry__V1__CreatePackageUploadResponse *resp_create;
    Ferry__V1__GetPackageUploadResponse *resp_get;
    uint64_t offset, resumed_from, sent;
    bool resumed;
} upload_t;

static void drop_target(upload_t *u)
{
    FERRY_CLI_FREE(u->resp_create);
    FERRY_CLI_FREE(u->resp_get);
    u->resp_create = NULL;
    u->resp_get = NULL;
    u->target = NULL;
}

/* Asks the server where an upload stands. Returns an RPC code; sets u->target. */
static ferry_rpc_code_t fetch_upload(upload_t *u, ferry_rpc_status_t *st)
{
    Ferry__V1__GetPackageUploadRequest req = FERRY__V1__GET_PACKAGE_UPLOAD_REQUEST__INIT;
    ferry_rpc_call_opts_t o = ferry_cli_opts(u->cli, false);
    ferry_rpc_code_t code;

    drop_target(u);
    req.upload_id = u->state.upload_id;
    code = ferry_v1_admin_service_get_package_upload(u->cli->client, &req, &u->resp_get, &o, st);
    if (code == FERRY_RPC_OK) {
        u->target = u->resp_get->target;
        u->offset = u->resp_get->received_bytes;
    }
    return code;
}

static void remove_state(upload_t *u)
{
    if (u->state_path[0] != '\0')
        unlink(u->state_path);
}

/* Finds or creates the server-side upload. Returns an exit code. */
static int begin_upload(upload_t *u)
{
    ferry_cli_t *cli = u->cli;
    Ferry__V1__CreatePackageUploadRequest req = FERRY__V1__CREATE_PACKAGE_UPLOAD_REQUEST__INIT;
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_rpc_status_t st = {0};
    ferry_err_t err = {0};
    ferry_cli_upload_state_t old;
    const char *base;

    if (ferry_cli_upload_state_load(u->state_path, &old, &err) == FERRY_OK &&
        strcmp(old.server, cli->cfg.server) == 0 && old.size == u->size &&
        strcmp(old.sha256, u->sha256) == 0) {
        u->state = old;
        if (fetch_upload(u, &st) == FERRY_RPC_OK && !u->resp_get->committed && u->target != NULL &&
            u->resp_get->size == u->size) {
            u->resumed = true;
            return FERRY_CLI_EXIT_OK;
        }
        if (st.code == FERRY_RPC_UNAUTHENTICATED || st.code == FERRY_RPC_PERMISSION_DENIED ||
            st.code == FERRY_RPC_UNAVAILABLE || st.code == FERRY_RPC_DEADLINE_EXCEEDED)
            return ferry_cli_fail_rpc(cli, "check previous upload", &st);
        if (!cli->g.json)
            fprintf(cli->errf, "ferry: previous upload %s cannot be resumed (%s); starting over\n",
                    old.upload_id, st.code == FERRY_RPC_OK ? "already committed" : st.message);
        drop_target(u);
    }
    memset(&u->state, 0, sizeof(u->state));
    base = strrchr(u->path, '/');
    req.file_name = (char *)(base ? base + 1 : u->path);
    req.size = u->size;
    req.sha256 = u->sha256;
    if (ferry_v1_admin_service_create_package_upload(cli->client, &req, &u->resp_create, &o, &st) !=
        FERRY_RPC_OK)
        return ferry_cli_fail_rpc(cli, "create package upload", &st);
    if (u->resp_create->target == NULL || u->resp_create->target->url == NULL ||
        u->resp_create->target->url[0] == '\0' ||
        strlen(u->resp_create->upload_id) >= sizeof(u->state.upload_id))
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_PROTOCOL", "server returned no upload target");
    u->target = u->resp_create->target;
    u->offset = u->target->received_bytes;
    snprintf(u->state.server, sizeof(u->state.server), "%s", cli->cfg.server);
    snprintf(u->state.upload_id, sizeof(u->state.upload_id), "%s", u->resp_create->upload_id);
    snprintf(u->state.sha256, sizeof(u->state.sha256), "%s", u->sha256);
    u->state.size = u->size;
    if (ferry_cli_upload_state_save(u->state_path, &u->state, u->path, &err) != FERRY_OK && !cli->g.json)
        fprintf(cli->errf, "ferry: warning: cannot remember the upload for resuming: %s\n", err.msg);
    return FERRY_CLI_EXIT_OK;
}

static void http_from_target(const upload_t *u, ferry_cli_http_t *hs)
{
    const ferry_cli_config_t *cfg = &u->cli->cfg;

    memset(hs, 0, sizeof(*hs));
    hs->ca_file = cfg->ca_file;
    hs->pin_sha256 = cfg->pin_sha256;
    hs->insecure = u->cli->g.insecure;
    hs->timeout_ms = CHUNK_TIMEOUT_S * 1000L;
    hs->method = u->target->method;
    for (size_t i = 0; i < u->target->n_headers && i < 16; i++) {
        hs->header_names[i] = u->target->headers[i]->key;
        hs->header_values[i] = u->target->headers[i]->value;
        hs->n_headers++;
    }
}

static void show_progress(upload_t *u, time_t t0)
{
    char done[32], total[32], extra[128];
    double el = difftime(time(NULL), t0);
    double rate = el > 0 ? (double)u->sent / el : 0;
    char rb[32];

    snprintf(extra, sizeof(extra), "%s / %s  %s/s", ferry_cli_fmt_bytes(u->offset, done, sizeof(done)),
             ferry_cli_fmt_bytes(u->size, total, sizeof(total)),
             ferry_cli_fmt_bytes((uint64_t)rate, rb, sizeof(rb)));
    ferry_cli_progress(u->cli, "upload", u->size ? (double)u->offset / (double)u->size : 1.0, extra);
}

/* Sends the bytes from u->offset to the end. Returns an exit code. */
static int send_bytes(upload_t *u, uint64_t chunk, long stop_after)
{
    ferry_cli_t *cli = u->cli;
    FILE *f = NULL;
    ferry_cli_http_t hs;
    ferry_err_t err = {0};
    ferry_rpc_status_t st = {0};
    long status = 0, chunks = 0;
    int retries = 0, resyncs = 0, rc = FERRY_CLI_EXIT_OK;
    uint64_t srv;
    time_t t0 = time(NULL);

    if ((f = fopen(u->path, "rb")) == NULL) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_IO", "open '%s': %s", u->path, strerror(errno));
        goto out;
    }
    if (u->target->max_chunk_size > 0 && chunk > u->target->max_chunk_size)
        chunk = u->target->max_chunk_size;
    http_from_target(u, &hs);
    /* The server's own view of the offset is authoritative. */
    if (ferry_cli_http_head_offset(&hs, u->target->url, &srv, &status, &err) == FERRY_OK && srv <= u->size)
        u->offset = srv;
    u->resumed_from = u->offset;
    if (u->resumed && !cli->g.json)
        fprintf(cli->errf, "ferry: resuming upload %s at byte %llu of %llu\n", u->state.upload_id,
                (unsigned long long)u->offset, (unsigned long long)u->size);
    while (u->offset < u->size) {
        uint64_t len = u->size - u->offset < chunk ? u->size - u->offset : chunk;

        if (cli->cancel) {
            rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_CANCELED",
                                "upload interrupted at byte %llu; run the same command again to resume",
                                (unsigned long long)u->offset);
            goto out;
        }
        if (stop_after > 0 && chunks >= stop_after) {
            rc =
                ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_CANCELED",
                               "upload stopped after %ld chunks (FERRY_CLI_UPLOAD_STOP_AFTER_CHUNKS) at byte "
                               "%llu; run the same command again to resume",
                               chunks, (unsigned long long)u->offset);
            goto out;
        }
        show_progress(u, t0);
        if (ferry_cli_http_put_chunk(&hs, u->target->url, f, u->offset, len, u->size, &status, &err) ==
            FERRY_OK) {
            u->offset += len;
            u->sent += len;
            chunks++;
            retries = 0;
            continue;
        }
        if (status == 401 || status == 403) {
            /* Expired or refused signature: ask for a fresh URL once per failure streak. */
            if (retries++ >= 1 || fetch_upload(u, &st) != FERRY_RPC_OK || u->target == NULL) {
                rc = st.code != FERRY_RPC_OK
                         ? ferry_cli_fail_rpc(cli, "refresh upload URL", &st)
                         : ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_PERMISSION", "%s", err.msg);
                goto out;
            }
            http_from_target(u, &hs);
            continue;
        }
        if (status == 409 || status == 412 || status == 416 || status == 400) {
            /* Offset disagreement: resynchronise with the server. */
            if (resyncs++ >= MAX_RESYNCS ||
                ferry_cli_http_head_offset(&hs, u->target->url, &srv, &status, &err) != FERRY_OK ||
                srv > u->size) {
                rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_PROTOCOL", "%s", err.msg);
                goto out;
            }
            u->offset = srv;
            continue;
        }
        if (retries++ >= MAX_RETRIES) {
            rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_UNAVAILABLE",
                                "%s (after %d retries; run the same command again to resume)", err.msg,
                                MAX_RETRIES);
            goto out;
        }
        usleep((useconds_t)(250000u << (retries > 4 ? 4 : retries)));
        if (ferry_cli_http_head_offset(&hs, u->target->url, &srv, &status, &err) == FERRY_OK &&
            srv <= u->size)
            u->offset = srv;
    }
    show_progress(u, t0);
    if (cli->tty && !cli->g.json)
        fputc('\n', cli->errf);
out:
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Refuses early (before sending any byte) when the version already exists; the server
 * checks again at commit. Returns an exit code (0 = go on). */
static int precheck_version(ferry_cli_t *cli, const char *version)
{
    Ferry__V1__GetPackageRequest req = FERRY__V1__GET_PACKAGE_REQUEST__INIT;
    Ferry__V1__GetPackageResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_rpc_code_t code;
    int rc = FERRY_CLI_EXIT_OK;

    req.version = (char *)version;
    code = ferry_v1_admin_service_get_package(cli->client, &req, &resp, &o, &st);
    if (code == FERRY_RPC_OK) {
        st.code = FERRY_RPC_ALREADY_EXISTS;
        snprintf(st.app_code, sizeof(st.app_code), "E_VERSION_DUPLICATE");
        snprintf(st.message, sizeof(st.message),
                 "E_VERSION_DUPLICATE: version %s already exists on the server", version);
        rc = ferry_cli_fail_rpc(cli, "upload package", &st);
    } else if (code == FERRY_RPC_UNAUTHENTICATED || code == FERRY_RPC_PERMISSION_DENIED) {
        rc = ferry_cli_fail_rpc(cli, "upload package", &st);
    }
    FERRY_CLI_FREE(resp);
    return rc;
}

static int package_upload(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    upload_t u;
    Ferry__V1__CommitPackageRequest creq = FERRY__V1__COMMIT_PACKAGE_REQUEST__INIT;
    Ferry__V1__CommitPackageResponse *cresp = NULL;
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_rpc_status_t st = {0};
    ferry_err_t err = {0};
    struct stat st1;
    uint64_t chunk = DEFAULT_CHUNK;
    long stop_after = 0;
    int type = 1, rc;
    const char *env_stop = getenv("FERRY_CLI_UPLOAD_STOP_AFTER_CHUNKS");
    json_t *obj;

    memset(&u, 0, sizeof(u));
    u.cli = cli;
    u.path = a->pos[0];
    if (ferry_cli_arg(a, "chunk-size") != NULL &&
        (ferry_cli_parse_size(ferry_cli_arg(a, "chunk-size"), &chunk, &err) != FERRY_OK || chunk == 0)) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--chunk-size: %s",
                            err.msg[0] ? err.msg : "must be > 0");
        goto out;
    }
    if (ferry_cli_arg(a, "type") != NULL &&
        (type = ferry_cli_parse_package_type(ferry_cli_arg(a, "type"))) < 0) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--type must be full or incremental");
        goto out;
    }
    if (env_stop != NULL && env_stop[0] != '\0')
        stop_after = strtol(env_stop, NULL, 10);
    if (stat(u.path, &u.st0) != 0 || !S_ISREG(u.st0.st_mode)) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_IO", "'%s' is not a readable file", u.path);
        goto out;
    }
    if ((rc = precheck_version(cli, ferry_cli_arg(a, "version"))) != FERRY_CLI_EXIT_OK)
        goto out;
    if (ferry_sha256_file(u.path, u.sha256, &u.size, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, ferry_err_name(err.code), "%s", err.msg);
        goto out;
    }
    if (ferry_cli_upload_state_path(getenv, u.sha256, u.state_path, sizeof(u.state_path), &err) != FERRY_OK &&
        !cli->g.json)
        fprintf(cli->errf, "ferry: warning: %s (the upload cannot be resumed)\n", err.msg);
    if ((rc = begin_upload(&u)) != FERRY_CLI_EXIT_OK)
        goto out;
    if ((rc = send_bytes(&u, chunk, stop_after)) != FERRY_CLI_EXIT_OK)
        goto out;
    /* The file must not have changed while it was sent (the server checks the hash too). */
    if (stat(u.path, &st1) != 0 || st1.st_size != u.st0.st_size ||
        st1.st_mtim.tv_sec != u.st0.st_mtim.tv_sec || st1.st_mtim.tv_nsec != u.st0.st_mtim.tv_nsec) {
        remove_state(&u);
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_HASH_MISMATCH",
                            "'%s' changed during the upload; run the command again", u.path);
        goto out;
    }
    creq.upload_id = u.state.upload_id;
    creq.version = ferry_cli_s(ferry_cli_arg(a, "version"));
    creq.description = ferry_cli_s(ferry_cli_arg(a, "description"));
    creq.type = (Ferry__V1__PackageType)type;
    o.timeout_ms = o.timeout_ms < 600000 ? 600000 : o.timeout_ms; /* the server hashes and validates */
    if (ferry_v1_admin_service_commit_package(cli->client, &creq, &cresp, &o, &st) != FERRY_RPC_OK) {
        if (strcmp(st.app_code, "E_HASH_MISMATCH") == 0 || st.code == FERRY_RPC_NOT_FOUND)
            remove_state(&u);
        rc = ferry_cli_fail_rpc(cli, "commit package", &st);
        goto out;
    }
    remove_state(&u);
    if (cli->g.json) {
        obj = ferry_cli_msg_json(&cresp->base);
        if (obj != NULL) {
            json_object_set_new(obj, "uploadId", json_string(u.state.upload_id));
            json_object_set_new(obj, "resumedFrom", json_integer((json_int_t)u.resumed_from));
            json_object_set_new(obj, "bytesSent", json_integer((json_int_t)u.sent));
        }
        rc = ferry_cli_emit(cli, obj);
    } else {
        char line[512];
        snprintf(line, sizeof(line), "Uploaded package %s (%llu bytes, sha256 %s)%s.", creq.version,
                 (unsigned long long)u.size, u.sha256, u.resumed_from ? ", resumed" : "");
        rc = ferry_cli_show(cli, &cresp->base, cresp->package ? &cresp->package->base : NULL, line);
    }
out:
    drop_target(&u);
    FERRY_CLI_FREE(cresp);
    return rc;
}

static const char *parts_text(const Ferry__V1__Package *p, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < p->n_parts && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "", p->parts[i]->name);
    return buf;
}

static int package_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListPackagesRequest req = FERRY__V1__LIST_PACKAGES_REQUEST__INIT;
    Ferry__V1__ListPackagesResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"VERSION", "TYPE", "SIZE", "PARTS", "CREATED", "DESCRIPTION"};
    ferry_cli_table_t t;
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.query = ferry_cli_s(ferry_cli_arg(a, "query"));
    if (ferry_v1_admin_service_list_packages(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list packages", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, 6, head);
    for (size_t i = 0; i < resp->n_packages; i++) {
        const Ferry__V1__Package *p = resp->packages[i];
        char size[32], created[40], parts[256];
        const char *cells[6] = {p->version,
                                p->type == FERRY__V1__PACKAGE_TYPE__PACKAGE_TYPE_INCREMENTAL ? "incremental"
                                                                                             : "full",
                                ferry_cli_fmt_bytes(p->size, size, sizeof(size)),
                                parts_text(p, parts, sizeof(parts)),
                                ferry_cli_fmt_time(p->created_at, created, sizeof(created)),
                                p->description};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int package_get(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetPackageRequest req = FERRY__V1__GET_PACKAGE_REQUEST__INIT;
    Ferry__V1__GetPackageResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.version = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_package(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get package", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* Gives up an open upload on the server: its bytes are deleted there at once. */
static int package_abort(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__AbortPackageUploadRequest req = FERRY__V1__ABORT_PACKAGE_UPLOAD_REQUEST__INIT;
    Ferry__V1__AbortPackageUploadResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    char bytes[32];
    int rc;

    req.upload_id = (char *)a->pos[0];
    if (ferry_v1_admin_service_abort_package_upload(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "abort package upload", &st);
        goto out;
    }
    if (cli->g.json)
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
    else {
        fprintf(cli->out, "upload %s aborted: %s deleted on the server\n", resp->upload_id,
                ferry_cli_fmt_bytes(resp->reclaimed_bytes, bytes, sizeof(bytes)));
        rc = FERRY_CLI_EXIT_OK;
    }
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t UPLOAD_FLAGS[] = {
    {"version", FERRY_CLI_FLAG_STR, "V", "package version, e.g. 1.25.12.13(12521)", true},
    {"description", FERRY_CLI_FLAG_STR, "TEXT", "free text", false},
    {"type", FERRY_CLI_FLAG_STR, "TYPE", "full (default) or incremental", false},
    {"chunk-size", FERRY_CLI_FLAG_STR, "SIZE",
     "bytes per PUT, default 1M (capped by the server; larger chunks cost ferryd twice their size in memory)",
     false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t LIST_FLAGS[] = {
    {"query", FERRY_CLI_FLAG_STR, "TEXT", "only versions containing TEXT", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t EXPORT_FLAGS[] = {
    {"out", FERRY_CLI_FLAG_STR, "DIR",
     "directory for <VERSION>.zip and <VERSION>.manifest.json (created if missing)", true},
    {"valid-days", FERRY_CLI_FLAG_STR, "N", "days the signed manifest stays valid, 1..366 (default 30)",
     false},
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "limit the manifest to one customer (default: any customer)",
     false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_package_cmds[] = {
    {"upload", "upload a package zip (resumable) and commit it", "FILE.zip", 1, UPLOAD_FLAGS,
     "The file is sent in chunks to a signed URL, then committed: the server checks the version\n"
     "(E_VERSION_INVALID, E_VERSION_DUPLICATE), size and SHA-256 (E_HASH_MISMATCH) and the zip\n"
     "(E_PACKAGE_INVALID). If the upload is interrupted (Ctrl-C, network), run the same command\n"
     "again: it continues from the server's offset. Unfinished uploads are remembered in\n"
     "$FERRY_CACHE_DIR or ~/.cache/ferry/uploads/<sha256-of-file>.json. A progress bar is shown\n"
     "on a terminal. Test hook: FERRY_CLI_UPLOAD_STOP_AFTER_CHUNKS=N stops after N chunks.",
     package_upload, false},
    {"abort", "give up an unfinished upload (its bytes are deleted on the server)", "UPLOAD_ID", 1, NO_FLAGS,
     "UPLOAD_ID is the id `ferry package upload` printed or remembered. The server deletes the bytes\n"
     "received so far at once; the upload can no longer be resumed or committed. E_NOT_FOUND for an\n"
     "unknown upload, E_PRECONDITION for one already committed, refused, expired or aborted.\n"
     "Audited on the server (AbortPackageUpload, target upload:<UPLOAD_ID>).",
     package_abort, false},
    {"list", "list packages, newest version first", NULL, 0, LIST_FLAGS, NULL, package_list, false},
    {"get", "show one package (with a download link)", "VERSION", 1, NO_FLAGS, NULL, package_get, false},
    {"export", "download a package with a signed offline manifest (air-gapped sites)", "VERSION", 1,
     EXPORT_FLAGS,
     "Asks the server to sign a manifest for no task and no node (optionally limited to one\n"
     "customer) valid for --valid-days, downloads the zip from the storage in effect for that\n"
     "customer (else the global one), checks its size and SHA-256 against the package, and\n"
     "writes DIR/<VERSION>.zip and DIR/<VERSION>.manifest.json (the SignedManifest as proto3\n"
     "JSON) crash-safely. Copy both to the site; the tray applies them there\n"
     "(LocalService.ApplyOfflinePackage), verifying the signature against the node's pinned\n"
     "key, the expiry, the customer and the SHA-256. Nothing is written when a step fails.\n"
     "Audited on the server (ExportPackage, target package:<VERSION>).",
     ferry_cli_package_export, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
