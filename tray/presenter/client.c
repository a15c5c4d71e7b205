/*
 * ferry-tray -> ferry-agent over LocalService (client.h): endpoint discovery from the
 * state dir, generated stubs, errors as ferry_err_t, one reconnect when the agent
 * restarted (new port or secret).
 */
#include "ferry/tray/client.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/rpc_client.h"
#include "ferry/tray/presenter.h"
#include "ferry/v1/local.ferry-client.h"

/* Per-call deadlines: loopback calls are quick; Bind and CheckForUpdates talk to the server. */
#define CALL_TIMEOUT_MS   15000
#define SERVER_TIMEOUT_MS 60000

struct ferry_tray_client {
    char state_dir[PATH_MAX];
    char url[256];
    char secret[128];
    ferry_rpc_client_t *rpc;
};

/* Reads local.json's URL and local.secret into |url| and |secret|. */
static ferry_err_code_t read_endpoint(const char *dir, char *url, size_t url_size, char *secret,
                                      size_t secret_size, ferry_err_t *err)
{
    char p[PATH_MAX + 32];
    char *text = NULL;
    size_t len = 0;
    ferry_err_code_t rc = FERRY_OK;
    json_t *root = NULL;
    ferry_err_t e = {0};
    snprintf(p, sizeof(p), "%s/local.json", dir);
    if (ferry_fs_read_file(p, 4096, &text, &len, &e) != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_UNAVAILABLE,
                           "the agent is not running (no %s): start ferry-agent run, or pass its --state-dir",
                           p);
        goto out;
    }
    root = json_loadb(text, len, 0, NULL);
    const char *u = json_string_value(json_object_get(root, "url"));
    if (u == NULL || strncmp(u, "http://127.0.0.1:", 17) != 0 || strlen(u) >= url_size) {
        rc = ferry_err_set(err, FERRY_E_UNAVAILABLE, "%s does not name a loopback URL: is the agent running?",
                           p);
        goto out;
    }
    snprintf(url, url_size, "%s", u);
    free(text);
    text = NULL;
    snprintf(p, sizeof(p), "%s/local.secret", dir);
    if (ferry_fs_read_file(p, 256, &text, &len, &e) != FERRY_OK) {
        rc = ferry_err_set(err, e.code == FERRY_E_NOT_FOUND ? FERRY_E_UNAVAILABLE : FERRY_E_PERMISSION,
                           "cannot read %s (%s): run as the agent's user or root", p,
                           e.code == FERRY_E_NOT_FOUND ? "missing" : "not readable");
        goto out;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len == 0 || len >= secret_size) {
        rc = ferry_err_set(err, FERRY_E_PERMISSION, "%s is empty or too long", p);
        goto out;
    }
    memcpy(secret, text, len);
    secret[len] = '\0';
out:
    if (text != NULL) {
        explicit_bzero(text, len);
        free(text);
    }
    json_decref(root);
    return rc;
}

static ferry_err_code_t connect_rpc(ferry_tray_client_t *c, ferry_err_t *err)
{
    ferry_rpc_client_config_t cc = {.base_url = c->url,
                                    .bearer_token = c->secret,
                                    .default_timeout_ms = CALL_TIMEOUT_MS,
                                    .http_version = FERRY_RPC_HTTP_1_1,
                                    .max_retries = 1,
                                    .user_agent = "ferry-tray"};
    ferry_rpc_client_t *r = ferry_rpc_client_new(&cc, err);
    if (r == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_INTERNAL;
    ferry_rpc_client_free(c->rpc);
    c->rpc = r;
    return FERRY_OK;
}

ferry_tray_client_t *ferry_tray_client_new(const char *state_dir, ferry_err_t *err)
{
    ferry_tray_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(c->state_dir, sizeof(c->state_dir), "%s",
             state_dir != NULL ? state_dir : FERRY_TRAY_DEFAULT_STATE_DIR);
    if (read_endpoint(c->state_dir, c->url, sizeof(c->url), c->secret, sizeof(c->secret), err) != FERRY_OK ||
        connect_rpc(c, err) != FERRY_OK) {
        ferry_tray_client_free(c);
        return NULL;
    }
    return c;
}

void ferry_tray_client_free(ferry_tray_client_t *c)
{
    if (c == NULL)
        return;
    ferry_rpc_client_free(c->rpc);
    explicit_bzero(c->secret, sizeof(c->secret));
    free(c);
}

const char *ferry_tray_client_state_dir(const ferry_tray_client_t *c)
{
    return c->state_dir;
}

void ferry_tray_client_cancel(ferry_tray_client_t *c)
{
    if (c != NULL)
        ferry_rpc_client_cancel_all(c->rpc);
}

/*
 * After a failed call: true when the agent moved (new local.json or secret) and the
 * connection was rebuilt, so the call may be tried once more. Only for "not reached"
 * (unavailable) and "wrong secret" (unauthenticated): nothing happened on the agent.
 */
static bool reconnected(ferry_tray_client_t *c, ferry_rpc_code_t code)
{
    char url[sizeof(c->url)], secret[sizeof(c->secret)];
    bool moved = false;
    if (code != FERRY_RPC_UNAVAILABLE && code != FERRY_RPC_UNAUTHENTICATED)
        return false;
    if (read_endpoint(c->state_dir, url, sizeof(url), secret, sizeof(secret), NULL) == FERRY_OK &&
        (strcmp(url, c->url) != 0 || strcmp(secret, c->secret) != 0)) {
        snprintf(c->url, sizeof(c->url), "%s", url);
        snprintf(c->secret, sizeof(c->secret), "%s", secret);
        moved = connect_rpc(c, NULL) == FERRY_OK;
    }
    explicit_bzero(secret, sizeof(secret));
    return moved;
}

/* The agent's refusal as a ferry_err_t: its E_* name when it sent one, else by RPC code. */
static ferry_err_code_t fail(ferry_rpc_code_t code, const ferry_rpc_status_t *st, const char *what,
                             ferry_err_t *err)
{
    ferry_err_code_t e = ferry_err_from_name(st->app_code);
    char msg[FERRY_ERR_MSG_MAX];
    if (e == FERRY_OK) {
        switch (code) {
        case FERRY_RPC_UNAVAILABLE:
            e = FERRY_E_UNAVAILABLE;
            break;
        case FERRY_RPC_DEADLINE_EXCEEDED:
            e = FERRY_E_TIMEOUT;
            break;
        case FERRY_RPC_UNAUTHENTICATED:
            e = FERRY_E_AUTH_INVALID;
            break;
        case FERRY_RPC_NOT_FOUND:
            e = FERRY_E_NOT_FOUND;
            break;
        case FERRY_RPC_INVALID_ARGUMENT:
            e = FERRY_E_INVALID_ARG;
            break;
        case FERRY_RPC_FAILED_PRECONDITION:
            e = FERRY_E_PRECONDITION;
            break;
        case FERRY_RPC_PERMISSION_DENIED:
            e = FERRY_E_PERMISSION;
            break;
        case FERRY_RPC_CANCELED:
            e = FERRY_E_CANCELED;
            break;
        default:
            e = FERRY_E_INTERNAL;
            break;
        }
    }
    if (code == FERRY_RPC_UNAVAILABLE && st->app_code[0] == '\0')
        snprintf(msg, sizeof(msg), "%s: cannot reach the agent (%.300s): is ferry-agent running?", what,
                 st->message);
    else
        snprintf(msg, sizeof(msg), "%.40s: %.400s", what,
                 st->message[0] ? st->message : ferry_rpc_code_name(code));
    ferry_log_mask_secrets(msg);
    return ferry_err_set(err, e, "%s", msg);
}

/* One call with the retry-after-reconnect rule; |expr| is the generated stub call. */
#define TRAY_CALL(c, what, expr, err)                                                                        \
    do {                                                                                                     \
        ferry_rpc_code_t code_;                                                                              \
        for (int try_ = 0;; try_++) {                                                                        \
            memset(&st, 0, sizeof(st));                                                                      \
            code_ = (expr);                                                                                  \
            if (code_ == FERRY_RPC_OK || try_ > 0 || !reconnected((c), code_))                               \
                break;                                                                                       \
        }                                                                                                    \
        rc = code_ == FERRY_RPC_OK ? FERRY_OK : fail(code_, &st, (what), (err));                             \
    } while (0)

ferry_err_code_t ferry_tray_get_status(ferry_tray_client_t *c, Ferry__V1__AgentStatus **out, ferry_err_t *err)
{
    Ferry__V1__GetStatusRequest req = FERRY__V1__GET_STATUS_REQUEST__INIT;
    Ferry__V1__GetStatusResponse *resp = NULL;
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    *out = NULL;
    TRAY_CALL(c, "status", ferry_v1_local_service_get_status(c->rpc, &req, &resp, NULL, &st), err);
    if (rc == FERRY_OK) {
        if (resp->status == NULL) {
            rc = ferry_err_set(err, FERRY_E_PROTOCOL, "status: the agent sent no status");
        } else {
            *out = resp->status;
            resp->status = NULL;
        }
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

ferry_err_code_t ferry_tray_bind(ferry_tray_client_t *c, const char *server_url, const char *node_code,
                                 Ferry__V1__Environment env, const char *token, const char *ca_file,
                                 const char *pin_sha256, Ferry__V1__LocalBindResponse **out, ferry_err_t *err)
{
    Ferry__V1__LocalBindRequest req = FERRY__V1__LOCAL_BIND_REQUEST__INIT;
    ferry_rpc_status_t st;
    ferry_rpc_call_opts_t o = {.timeout_ms = SERVER_TIMEOUT_MS};
    ferry_err_code_t rc;
    *out = NULL;
    req.server_url = (char *)(server_url != NULL ? server_url : "");
    req.node_code = (char *)(node_code != NULL ? node_code : "");
    req.environment = env;
    req.token = (char *)(token != NULL ? token : "");
    req.ca_file = (char *)(ca_file != NULL ? ca_file : "");
    req.pin_sha256 = (char *)(pin_sha256 != NULL ? pin_sha256 : "");
    TRAY_CALL(c, "bind", ferry_v1_local_service_bind(c->rpc, &req, out, &o, &st), err);
    return rc;
}

ferry_err_code_t ferry_tray_get_config(ferry_tray_client_t *c, Ferry__V1__GetLocalNodeConfigResponse **out,
                                       ferry_err_t *err)
{
    Ferry__V1__GetLocalNodeConfigRequest req = FERRY__V1__GET_LOCAL_NODE_CONFIG_REQUEST__INIT;
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    *out = NULL;
    TRAY_CALL(c, "node configuration", ferry_v1_local_service_get_node_config(c->rpc, &req, out, NULL, &st),
              err);
    if (rc == FERRY_OK && (*out)->config == NULL) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
        rc = ferry_err_set(err, FERRY_E_PROTOCOL, "node configuration: the agent sent none");
    }
    return rc;
}

ferry_err_code_t ferry_tray_validate_config(ferry_tray_client_t *c, const Ferry__V1__NodeConfig *cfg,
                                            bool deep, Ferry__V1__ValidateNodeConfigResponse **out,
                                            ferry_err_t *err)
{
    Ferry__V1__ValidateNodeConfigRequest req = FERRY__V1__VALIDATE_NODE_CONFIG_REQUEST__INIT;
    ferry_rpc_status_t st;
    ferry_rpc_call_opts_t o = {.timeout_ms = SERVER_TIMEOUT_MS};
    ferry_err_code_t rc;
    *out = NULL;
    req.config = (Ferry__V1__NodeConfig *)cfg;
    req.deep = deep;
    TRAY_CALL(c, "validate", ferry_v1_local_service_validate_node_config(c->rpc, &req, out, &o, &st), err);
    return rc;
}

ferry_err_code_t ferry_tray_save_config(ferry_tray_client_t *c, const Ferry__V1__NodeConfig *cfg,
                                        bool no_upload, Ferry__V1__SaveNodeConfigResponse **out,
                                        ferry_err_t *err)
{
    Ferry__V1__SaveNodeConfigRequest req = FERRY__V1__SAVE_NODE_CONFIG_REQUEST__INIT;
    Ferry__V1__NodeConfig *copy = ferry_tray_config_dup(cfg);
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    *out = NULL;
    if (copy == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "save: out of memory");
    copy->config_version = 0; /* the agent takes the next version */
    req.config = copy;
    req.skip_upload = no_upload;
    TRAY_CALL(c, "save", ferry_v1_local_service_save_node_config(c->rpc, &req, out, NULL, &st), err);
    protobuf_c_message_free_unpacked(&copy->base, NULL);
    return rc;
}

ferry_err_code_t ferry_tray_list_updates(ferry_tray_client_t *c, Ferry__V1__ListPendingUpdatesResponse **out,
                                         ferry_err_t *err)
{
    Ferry__V1__ListPendingUpdatesRequest req = FERRY__V1__LIST_PENDING_UPDATES_REQUEST__INIT;
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    *out = NULL;
    TRAY_CALL(c, "pending updates", ferry_v1_local_service_list_pending_updates(c->rpc, &req, out, NULL, &st),
              err);
    return rc;
}

ferry_err_code_t ferry_tray_check_updates(ferry_tray_client_t *c, Ferry__V1__CheckForUpdatesResponse **out,
                                          ferry_err_t *err)
{
    Ferry__V1__CheckForUpdatesRequest req = FERRY__V1__CHECK_FOR_UPDATES_REQUEST__INIT;
    ferry_rpc_status_t st;
    ferry_rpc_call_opts_t o = {.timeout_ms = SERVER_TIMEOUT_MS};
    ferry_err_code_t rc;
    *out = NULL;
    TRAY_CALL(c, "check for updates", ferry_v1_local_service_check_for_updates(c->rpc, &req, out, &o, &st),
              err);
    return rc;
}

ferry_err_code_t ferry_tray_respond(ferry_tray_client_t *c, const char *task_id, bool now, int64_t defer_s,
                                    Ferry__V1__RespondToPromptResponse **out, ferry_err_t *err)
{
    Ferry__V1__RespondToPromptRequest req = FERRY__V1__RESPOND_TO_PROMPT_REQUEST__INIT;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    *out = NULL;
    req.task_id = (char *)(task_id != NULL ? task_id : "");
    req.choice =
        now ? FERRY__V1__PROMPT_CHOICE__PROMPT_CHOICE_NOW : FERRY__V1__PROMPT_CHOICE__PROMPT_CHOICE_DEFER;
    if (!now) {
        d.seconds = defer_s;
        req.defer_for = &d;
    }
    TRAY_CALL(c, now ? "update now" : "defer",
              ferry_v1_local_service_respond_to_prompt(c->rpc, &req, out, NULL, &st), err);
    return rc;
}

ferry_err_code_t ferry_tray_update_now(ferry_tray_client_t *c, const char *task_id,
                                       Ferry__V1__StartManualUpdateResponse **out, ferry_err_t *err)
{
    Ferry__V1__StartManualUpdateRequest req = FERRY__V1__START_MANUAL_UPDATE_REQUEST__INIT;
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    *out = NULL;
    req.task_id = (char *)(task_id != NULL ? task_id : "");
    TRAY_CALL(c, "update now", ferry_v1_local_service_start_manual_update(c->rpc, &req, out, NULL, &st), err);
    return rc;
}

/* |in| made absolute against the working directory into |buf|. */
static ferry_err_code_t absolute(const char *in, const char *what, char *buf, size_t size, ferry_err_t *err)
{
    char cwd[PATH_MAX];
    if (in == NULL || in[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: required", what);
    if (in[0] == '/') {
        if ((size_t)snprintf(buf, size, "%s", in) >= size)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: path too long", what);
        return FERRY_OK;
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL || (size_t)snprintf(buf, size, "%s/%s", cwd, in) >= size)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: cannot make '%.200s' absolute", what, in);
    return FERRY_OK;
}

ferry_err_code_t ferry_tray_apply_offline(ferry_tray_client_t *c, const char *package_path,
                                          const char *manifest_path,
                                          Ferry__V1__ApplyOfflinePackageResponse **out, ferry_err_t *err)
{
    Ferry__V1__ApplyOfflinePackageRequest req = FERRY__V1__APPLY_OFFLINE_PACKAGE_REQUEST__INIT;
    char pkg[PATH_MAX], man[PATH_MAX];
    ferry_rpc_status_t st;
    ferry_rpc_call_opts_t o = {.timeout_ms = SERVER_TIMEOUT_MS};
    ferry_err_code_t rc;
    *out = NULL;
    if ((rc = absolute(package_path, "package", pkg, sizeof(pkg), err)) != FERRY_OK ||
        (rc = absolute(manifest_path, "--manifest", man, sizeof(man), err)) != FERRY_OK)
        return rc;
    if (!ferry_fs_exists(pkg))
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "package: %s does not exist", pkg);
    if (!ferry_fs_exists(man))
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "--manifest: %s does not exist", man);
    req.package_path = pkg;
    req.manifest_path = man;
    TRAY_CALL(c, "apply offline package",
              ferry_v1_local_service_apply_offline_package(c->rpc, &req, out, &o, &st), err);
    return rc;
}

ferry_err_code_t ferry_tray_list_backups(ferry_tray_client_t *c, Ferry__V1__ListBackupsResponse **out,
                                         ferry_err_t *err)
{
    Ferry__V1__ListBackupsRequest req = FERRY__V1__LIST_BACKUPS_REQUEST__INIT;
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    *out = NULL;
    TRAY_CALL(c, "backups", ferry_v1_local_service_list_backups(c->rpc, &req, out, NULL, &st), err);
    return rc;
}

typedef struct watch_ctx {
    ferry_tray_status_cb cb;
    void *user;
    bool stopped; /* the callback asked to stop */
} watch_ctx_t;

static int on_watch(Ferry__V1__WatchStatusResponse *m, void *user)
{
    watch_ctx_t *w = user;
    int r = 0;
    if (m->event_case == FERRY__V1__WATCH_STATUS_RESPONSE__EVENT_STATUS && m->status != NULL)
        r = w->cb(m->status, w->user);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    if (r != 0)
        w->stopped = true;
    return r;
}

ferry_err_code_t ferry_tray_watch(ferry_tray_client_t *c, ferry_tray_status_cb cb, void *user,
                                  ferry_err_t *err)
{
    Ferry__V1__WatchStatusRequest req = FERRY__V1__WATCH_STATUS_REQUEST__INIT;
    Google__Protobuf__Duration ka = GOOGLE__PROTOBUF__DURATION__INIT;
    /* A watch lasts as long as its window (0 would mean the 15 s default): a day, then the
     * caller watches again; keep-alives every 10 s reveal a dead agent. */
    ferry_rpc_call_opts_t o = {.timeout_ms = 24u * 3600u * 1000u};
    watch_ctx_t w = {cb, user, false};
    ferry_rpc_status_t st;
    ferry_err_code_t rc;
    ka.seconds = 10;
    req.keep_alive = &ka;
    TRAY_CALL(c, "watch status", ferry_v1_local_service_watch_status(c->rpc, &req, on_watch, &w, &o, &st),
              err);
    if (w.stopped) {
        ferry_err_clear(err);
        return FERRY_OK;
    }
    if (rc == FERRY_OK)
        rc = ferry_err_set(err, FERRY_E_UNAVAILABLE, "watch status: the agent ended the stream (stopped?)");
    return rc;
}
