/* Connection settings of the `ferry` CLI: flags > environment > config file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define CONFIG_MAX_BYTES (64 * 1024)

const char *ferry_cli_source_name(ferry_cli_source_t s)
{
    switch (s) {
    case FERRY_CLI_SRC_FLAG:
        return "flag";
    case FERRY_CLI_SRC_ENV:
        return "environment";
    case FERRY_CLI_SRC_FILE:
        return "config file";
    default:
        return "unset";
    }
}

static ferry_err_code_t copy(char *dst, size_t size, const char *src, const char *what, ferry_err_t *err)
{
    if (strlen(src) >= size)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s is too long", what);
    memcpy(dst, src, strlen(src) + 1);
    return FERRY_OK;
}

static const char *nonempty(const char *s)
{
    return (s != NULL && s[0] != '\0') ? s : NULL;
}

/* Finds the config file path; *explicit_path tells whether it must exist. */
static ferry_err_code_t config_path(const ferry_cli_globals_t *g, ferry_cli_getenv_fn ge, char *buf,
                                    size_t size, bool *explicit_path, ferry_err_t *err)
{
    const char *p;
    int n;

    *explicit_path = true;
    if ((p = nonempty(g->config)) != NULL || (p = nonempty(ge("FERRY_CONFIG"))) != NULL)
        return copy(buf, size, p, "config path", err);
    *explicit_path = false;
    if ((p = nonempty(ge("XDG_CONFIG_HOME"))) != NULL)
        n = snprintf(buf, size, "%s/ferry/config.json", p);
    else if ((p = nonempty(ge("HOME"))) != NULL)
        n = snprintf(buf, size, "%s/.config/ferry/config.json", p);
    else
        n = snprintf(buf, size, "%s", "");
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "config path is too long");
    return FERRY_OK;
}

static const char *obj_str(json_t *root, const char *a, const char *b)
{
    json_t *v = json_object_get(root, a);
    if (v == NULL && b != NULL)
        v = json_object_get(root, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Loads the config file (if any) into *root (NULL when absent). */
static ferry_err_code_t load_file(const char *path, bool must_exist, json_t **root, char *warning,
                                  size_t wsize, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    FILE *f = NULL;
    struct stat st;
    json_error_t jerr;

    *root = NULL;
    if (path[0] == '\0')
        goto out;
    f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT && !must_exist)
            goto out;
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "config file '%s'", path);
        goto out;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "config file '%s' is not a regular file under 64 KiB",
                           path);
        goto out;
    }
    *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (*root == NULL || !json_is_object(*root)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "config file '%s': %s (line %d)", path,
                           *root ? "not a JSON object" : jerr.text, jerr.line);
        json_decref(*root);
        *root = NULL;
        goto out;
    }
    if (obj_str(*root, "token", NULL) != NULL) {
        if (st.st_mode & (S_IROTH | S_IWOTH)) {
            rc = ferry_err_set(err, FERRY_E_PERMISSION,
                               "config file '%s' holds a token and is accessible by other users "
                               "(mode %03o): run `chmod 600 %s`",
                               path, (unsigned)(st.st_mode & 0777), path);
            json_decref(*root);
            *root = NULL;
            goto out;
        }
        if (st.st_mode & (S_IRGRP | S_IWGRP))
            snprintf(warning, wsize, "config file '%s' holds a token and is group-accessible (mode %03o)",
                     path, (unsigned)(st.st_mode & 0777));
    }
out:
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Picks flag, env or file value in that order. */
static ferry_err_code_t pick(const char *flag, const char *env, const char *file, char *dst, size_t size,
                             ferry_cli_source_t *src, const char *what, ferry_err_t *err)
{
    ferry_cli_source_t s = FERRY_CLI_SRC_NONE;
    const char *v = NULL;

    if ((v = nonempty(flag)) != NULL)
        s = FERRY_CLI_SRC_FLAG;
    else if ((v = nonempty(env)) != NULL)
        s = FERRY_CLI_SRC_ENV;
    else if ((v = nonempty(file)) != NULL)
        s = FERRY_CLI_SRC_FILE;
    if (src != NULL)
        *src = s;
    dst[0] = '\0';
    return v ? copy(dst, size, v, what, err) : FERRY_OK;
}

ferry_err_code_t ferry_cli_config_resolve(const ferry_cli_globals_t *g, ferry_cli_getenv_fn ge,
                                          ferry_cli_config_t *out, ferry_err_t *err)
{
    ferry_err_code_t rc;
    json_t *root = NULL;
    bool must_exist = false;
    char tbuf[32];
    const char *timeout;
    json_t *tv;

    memset(out, 0, sizeof(*out));
    if ((rc = config_path(g, ge, out->config_path, sizeof(out->config_path), &must_exist, err)) != FERRY_OK)
        goto out;
    if ((rc = load_file(out->config_path, must_exist, &root, out->warning, sizeof(out->warning), err)) !=
        FERRY_OK)
        goto out;
    if ((rc = pick(g->server, ge("FERRY_SERVER"), obj_str(root, "server", NULL), out->server,
                   sizeof(out->server), &out->server_src, "server URL", err)) != FERRY_OK)
        goto out;
    if ((rc = pick(g->token, ge("FERRY_TOKEN"), obj_str(root, "token", NULL), out->token, sizeof(out->token),
                   &out->token_src, "token", err)) != FERRY_OK)
        goto out;
    if ((rc = pick(g->ca_file, ge("FERRY_CA_FILE"), obj_str(root, "caFile", "ca_file"), out->ca_file,
                   sizeof(out->ca_file), NULL, "CA file path", err)) != FERRY_OK)
        goto out;
    if ((rc = pick(g->pin_sha256, ge("FERRY_PIN_SHA256"), obj_str(root, "pinSha256", "pin_sha256"),
                   out->pin_sha256, sizeof(out->pin_sha256), NULL, "pin", err)) != FERRY_OK)
        goto out;
    timeout = obj_str(root, "timeout", NULL);
    tv = root ? json_object_get(root, "timeout") : NULL;
    if (json_is_integer(tv)) {
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)json_integer_value(tv));
        timeout = tbuf;
    }
    out->timeout_ms = FERRY_CLI_DEFAULT_TO_MS;
    if ((timeout = nonempty(g->timeout)            ? g->timeout
                   : nonempty(ge("FERRY_TIMEOUT")) ? ge("FERRY_TIMEOUT")
                                                   : timeout) != NULL)
        rc = ferry_cli_parse_duration_ms(timeout, &out->timeout_ms, err);
out:
    json_decref(root);
    return rc;
}
