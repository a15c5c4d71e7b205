/* Output helpers of the `ferry` CLI: errors, JSON objects, tables, progress bars,
 * and the connection to the server. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ferry/json.h"

int ferry_cli_connect(ferry_cli_t *cli)
{
    ferry_rpc_client_config_t cc;
    ferry_err_t err = {0};

    if (cli->client != NULL)
        return FERRY_CLI_EXIT_OK;
    if (cli->cfg.server[0] == '\0')
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL,
                              "no server: use --server URL, FERRY_SERVER or \"server\" in %s",
                              cli->cfg.config_path[0] ? cli->cfg.config_path : "the config file");
    memset(&cc, 0, sizeof(cc));
    cc.base_url = cli->cfg.server;
    cc.bearer_token = cli->cfg.token[0] ? cli->cfg.token : NULL;
    cc.ca_file = cli->cfg.ca_file[0] ? cli->cfg.ca_file : NULL;
    cc.pin_sha256 = cli->cfg.pin_sha256[0] ? cli->cfg.pin_sha256 : NULL;
    cc.insecure_skip_verify = cli->g.insecure;
    cc.default_timeout_ms = 0;
    cc.user_agent = "ferry-cli/0.1";
    cc.max_message_bytes = 16u << 20;
    ferry_rpc_client_register_service(&ferry_v1_admin_service_desc);
    cli->client = ferry_rpc_client_new(&cc, &err);
    if (cli->client == NULL)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, ferry_err_name(err.code), "cannot set up client: %s",
                              err.msg);
    return FERRY_CLI_EXIT_OK;
}

ferry_rpc_call_opts_t ferry_cli_opts(ferry_cli_t *cli, bool stream)
{
    ferry_rpc_call_opts_t o;

    memset(&o, 0, sizeof(o));
    o.timeout_ms = stream ? 0 : (uint32_t)cli->cfg.timeout_ms;
    o.cancel = &cli->cancel;
    return o;
}

int ferry_cli_exit_for_rpc(ferry_rpc_code_t code)
{
    if (code == FERRY_RPC_OK)
        return FERRY_CLI_EXIT_OK;
    if (code == FERRY_RPC_UNAUTHENTICATED || code == FERRY_RPC_PERMISSION_DENIED)
        return FERRY_CLI_EXIT_AUTH;
    return FERRY_CLI_EXIT_RPC;
}

json_t *ferry_cli_error_json(const char *code, const char *app_code, const char *message)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(code ? code : "unknown"));
    json_object_set_new(e, "errorCode", json_string(app_code ? app_code : ""));
    json_object_set_new(e, "message", json_string(message ? message : ""));
    return json_pack("{s:o}", "error", e);
}

/* Whether |s| is valid UTF-8 for jansson; messages from the server should be. */
static void print_error(ferry_cli_t *cli, int exit_code, const char *code, const char *app_code,
                        const char *msg)
{
    if (cli->g.json) {
        json_t *o = ferry_cli_error_json(code, app_code, msg);
        if (o == NULL)
            o = ferry_cli_error_json(code, app_code, "(message not printable)");
        ferry_cli_emit(cli, o);
        return;
    }
    if (app_code != NULL && app_code[0] != '\0')
        fprintf(cli->errf, "ferry: error: %s [%s]: %s\n", code, app_code, msg);
    else
        fprintf(cli->errf, "ferry: error: %s: %s\n", code, msg);
    if (exit_code == FERRY_CLI_EXIT_USAGE)
        fprintf(cli->errf, "Run 'ferry help' or add --help to a command for usage.\n");
}

int ferry_cli_fail_rpc(ferry_cli_t *cli, const char *what, const ferry_rpc_status_t *st)
{
    char msg[1024];
    int ec = ferry_cli_exit_for_rpc(st->code);

    if (st->app_code[0] != '\0' && strstr(st->message, st->app_code) == NULL)
        snprintf(msg, sizeof(msg), "%s: %s: %s", what, st->app_code, st->message);
    else
        snprintf(msg, sizeof(msg), "%s: %s", what,
                 st->message[0] ? st->message : ferry_rpc_code_name(st->code));
    print_error(cli, ec, ferry_rpc_code_name(st->code), st->app_code, msg);
    return ec;
}

int ferry_cli_fail(ferry_cli_t *cli, int exit_code, const char *app_code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    const char *code = exit_code == FERRY_CLI_EXIT_USAGE ? "usage" : "local";

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error(cli, exit_code, code, app_code, msg);
    return exit_code;
}

json_t *ferry_cli_msg_json(const ProtobufCMessage *msg)
{
    char *text = NULL;
    size_t len = 0;
    ferry_err_t err = {0};
    json_t *o = NULL;

    if (msg == NULL)
        return json_object();
    if (ferry_json_encode(msg, 0, &text, &len, &err) != FERRY_OK)
        goto out;
    o = json_loadb(text, len, 0, NULL);
out:
    free(text);
    return o;
}

json_t *ferry_cli_task_json(const Ferry__V1__UpdateTask *t)
{
    json_t *o = ferry_cli_msg_json(&t->base);

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "node", json_string(t->node_code ? t->node_code : ""));
    json_object_set_new(o, "state", json_integer((json_int_t)t->state));
    json_object_set_new(o, "stateName", json_string(ferry_cli_task_state_name((int)t->state)));
    json_object_set_new(o, "errorCode", json_string(t->error_code ? t->error_code : ""));
    return o;
}

int ferry_cli_emit(ferry_cli_t *cli, json_t *obj)
{
    char *s;

    if (obj == NULL) {
        fprintf(cli->out, "{\"error\":{\"code\":\"internal\",\"errorCode\":\"\",\"message\":\"cannot "
                          "encode output\"}}\n");
        return FERRY_CLI_EXIT_OTHER;
    }
    s = json_dumps(obj, (cli->out_tty ? JSON_INDENT(2) : JSON_COMPACT));
    json_decref(obj);
    if (s == NULL)
        return FERRY_CLI_EXIT_OTHER;
    fprintf(cli->out, "%s\n", s);
    free(s);
    return FERRY_CLI_EXIT_OK;
}

void ferry_cli_print_kv(FILE *f, const json_t *obj, const char *prefix)
{
    const char *key;
    json_t *v;
    char path[256];

    json_object_foreach((json_t *)obj, key, v)
    {
        snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "", prefix && prefix[0] ? "." : "", key);
        if (json_is_object(v)) {
            ferry_cli_print_kv(f, v, path);
        } else if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                char ip[300];
                snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
                if (json_is_object(e)) {
                    ferry_cli_print_kv(f, e, ip);
                } else {
                    char *s = json_dumps(e, JSON_ENCODE_ANY);
                    fprintf(f, "%s: %s\n", ip, s ? s : "?");
                    free(s);
                }
            }
        } else if (json_is_string(v)) {
            fprintf(f, "%s: %s\n", path, json_string_value(v));
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            fprintf(f, "%s: %s\n", path, s ? s : "?");
            free(s);
        }
    }
}

void ferry_cli_table_init(ferry_cli_table_t *t, size_t n_cols, const char *const *head)
{
    memset(t, 0, sizeof(*t));
    t->n_cols = n_cols > FERRY_CLI_TABLE_COLS ? FERRY_CLI_TABLE_COLS : n_cols;
    for (size_t i = 0; i < t->n_cols; i++)
        t->head[i] = head[i];
}

void ferry_cli_table_row(ferry_cli_table_t *t, const char *const *cells)
{
    if (t->n_rows >= FERRY_CLI_TABLE_ROWS) {
        t->truncated = true;
        return;
    }
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **nc = realloc(t->cells, cap * t->n_cols * sizeof(char *));
        if (nc == NULL) {
            t->truncated = true;
            return;
        }
        t->cells = nc;
        t->cap_rows = cap;
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        const char *c = cells[i] && cells[i][0] ? cells[i] : "-";
        t->cells[t->n_rows * t->n_cols + i] = strdup(c);
    }
    t->n_rows++;
}

/* Display width of a UTF-8 string: code points, CJK counted as two columns. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    while (*p) {
        if (*p < 0x80) {
            w++;
            p++;
        } else if ((*p & 0xE0) == 0xC0) {
            w++;
            p += p[1] ? 2 : 1;
        } else if ((*p & 0xF0) == 0xE0) {
            w += 2;
            for (int i = 0; i < 3 && *p; i++)
                p++;
        } else {
            w += 2;
            for (int i = 0; i < 4 && *p; i++)
                p++;
        }
    }
    return w;
}

void ferry_cli_table_print(const ferry_cli_table_t *t, FILE *f)
{
    size_t w[FERRY_CLI_TABLE_COLS] = {0};

    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = text_width(t->head[c]);
        for (size_t r = 0; r < t->n_rows; r++) {
            size_t cw = text_width(t->cells[r * t->n_cols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
        if (w[c] > 60)
            w[c] = 60;
    }
    for (size_t r = 0; r <= t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->n_cols + c];
            size_t sw = text_width(s);
            fputs(s ? s : "", f);
            if (c + 1 < t->n_cols)
                for (size_t k = sw; k < w[c] + 2; k++)
                    fputc(' ', f);
        }
        fputc('\n', f);
    }
    if (t->truncated)
        fprintf(f, "(output truncated)\n");
}

void ferry_cli_table_free(ferry_cli_table_t *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

const char *ferry_cli_fmt_time(const Google__Protobuf__Timestamp *ts, char *buf, size_t size)
{
    struct tm tm;
    time_t s;

    if (ts == NULL || (ts->seconds == 0 && ts->nanos == 0)) {
        snprintf(buf, size, "-");
        return buf;
    }
    s = (time_t)ts->seconds;
    if (gmtime_r(&s, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)ts->seconds);
    return buf;
}

const char *ferry_cli_fmt_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

const char *ferry_cli_bar(double frac, int width, char *buf, size_t size)
{
    int filled;
    size_t i = 0;

    if (frac < 0 || frac != frac)
        frac = 0;
    if (frac > 1)
        frac = 1;
    if (width < 1)
        width = 1;
    if ((size_t)width + 3 > size)
        width = (int)size - 3;
    filled = (int)(frac * width + 1e-9);
    buf[i++] = '[';
    for (int k = 0; k < width; k++)
        buf[i++] = k < filled ? '#' : '.';
    buf[i++] = ']';
    buf[i] = '\0';
    return buf;
}

void ferry_cli_progress(ferry_cli_t *cli, const char *label, double frac, const char *extra)
{
    char bar[64];

    if (!cli->tty || cli->g.json)
        return;
    ferry_cli_bar(frac, 30, bar, sizeof(bar));
    fprintf(cli->errf, "\r\033[K%s %s %3d%% %s", label, bar, (int)(frac * 100.0 + 1e-9), extra ? extra : "");
    fflush(cli->errf);
}

int ferry_cli_show(ferry_cli_t *cli, const ProtobufCMessage *resp, const ProtobufCMessage *obj,
                   const char *headline)
{
    json_t *o;

    if (cli->g.json)
        return ferry_cli_emit(cli, ferry_cli_msg_json(resp));
    if (headline != NULL && headline[0] != '\0')
        fprintf(cli->out, "%s\n", headline);
    o = ferry_cli_msg_json(obj ? obj : resp);
    if (o == NULL)
        return FERRY_CLI_EXIT_OTHER;
    ferry_cli_print_kv(cli->out, o, NULL);
    json_decref(o);
    return FERRY_CLI_EXIT_OK;
}

void ferry_cli_next_page(ferry_cli_t *cli, const char *token)
{
    if (!cli->g.json && token != NULL && token[0] != '\0')
        fprintf(cli->out, "(more: add --page-token %s)\n", token);
}

int ferry_cli_print_list(ferry_cli_t *cli, const ProtobufCMessage *resp, size_t n_cols,
                         const char *const *head, void *const *items, size_t n, ferry_cli_row_fn row,
                         const char *next_page_token)
{
    ferry_cli_table_t t;
    int rc = 0;

    if (cli->g.json) {
        rc = ferry_cli_show(cli, resp, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, n_cols, head);
    for (size_t i = 0; i < n; i++)
        row(&t, items[i]);
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, next_page_token);
out:
    return rc;
}

char *ferry_cli_s(const char *s)
{
    return (char *)(s ? s : "");
}

int ferry_cli_paging(ferry_cli_t *cli, const ferry_cli_args_t *a, int32_t *page_size, char **page_token)
{
    const char *ps = ferry_cli_arg(a, "page-size");
    char *end = NULL;
    long v;

    if (ps != NULL) {
        v = strtol(ps, &end, 10);
        if (*ps == '\0' || *end != '\0' || v < 1 || v > 10000)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--page-size must be 1..10000");
        *page_size = (int32_t)v;
    }
    *page_token = ferry_cli_s(ferry_cli_arg(a, "page-token"));
    return FERRY_CLI_EXIT_OK;
}
