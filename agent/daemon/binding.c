#include "binding.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ferry/encoding.h"
#include "ferry/fs.h"

static int path_in(char *buf, size_t size, const char *dir, const char *name)
{
    return ferry_fs_join(buf, size, dir, name) == FERRY_OK ? 0 : -1;
}

static void get_str(json_t *o, const char *key, char *out, size_t size)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(out, size, "%s", v != NULL ? v : "");
}

ferry_err_code_t agentd_binding_load(const char *state_dir, agentd_binding_t *b, int *found, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char path[1024];
    char *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    json_error_t jerr;
    memset(b, 0, sizeof(*b));
    *found = 0;
    if (path_in(path, sizeof(path), state_dir, "binding.json") != 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "state dir path too long");
        goto out;
    }
    if (!ferry_fs_exists(path))
        goto out;
    if ((rc = ferry_fs_read_file(path, 64 * 1024, &text, &len, err)) != FERRY_OK)
        goto out;
    if ((root = json_loadb(text, len, 0, &jerr)) == NULL || !json_is_object(root)) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "%s: not a JSON object (line %d: %s)", path, jerr.line,
                           jerr.text);
        goto out;
    }
    get_str(root, "serverUrl", b->server_url, sizeof(b->server_url));
    get_str(root, "nodeCode", b->node_code, sizeof(b->node_code));
    get_str(root, "nodeName", b->node_name, sizeof(b->node_name));
    get_str(root, "customerCode", b->customer_code, sizeof(b->customer_code));
    get_str(root, "storeCode", b->store_code, sizeof(b->store_code));
    get_str(root, "caFile", b->ca_file, sizeof(b->ca_file));
    get_str(root, "pinSha256", b->pin_sha256, sizeof(b->pin_sha256));
    b->environment = (int)json_integer_value(json_object_get(root, "environment"));
    b->bound_at_ms = (int64_t)json_integer_value(json_object_get(root, "boundAtMs"));
    json_t *keys = json_object_get(root, "signingKeys");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (b->n_keys >= AGENTD_MAX_KEYS)
            break;
        agentd_key_t *dst = &b->keys[b->n_keys];
        const char *hex = json_string_value(json_object_get(k, "publicKey"));
        get_str(k, "keyId", dst->key_id, sizeof(dst->key_id));
        if (hex == NULL ||
            ferry_hex_decode(hex, strlen(hex), dst->pub, sizeof(dst->pub)) != (long)sizeof(dst->pub)) {
            rc = ferry_err_set(err, FERRY_E_CORRUPT, "%s: signing key %zu is not 32 bytes of hex", path, i);
            goto out;
        }
        b->n_keys++;
    }
    if (b->server_url[0] == '\0' || b->node_code[0] == '\0') {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "%s: serverUrl or nodeCode missing", path);
        goto out;
    }
    *found = 1;
out:
    json_decref(root);
    free(text);
    return rc;
}

ferry_err_code_t agentd_binding_save(const char *state_dir, const agentd_binding_t *b, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char path[1024];
    char *text = NULL;
    json_t *root = json_object();
    json_t *keys = json_array();
    if (root == NULL || keys == NULL) {
        json_decref(keys);
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    json_object_set_new(root, "serverUrl", json_string(b->server_url));
    json_object_set_new(root, "nodeCode", json_string(b->node_code));
    json_object_set_new(root, "nodeName", json_string(b->node_name));
    json_object_set_new(root, "environment", json_integer(b->environment));
    json_object_set_new(root, "customerCode", json_string(b->customer_code));
    json_object_set_new(root, "storeCode", json_string(b->store_code));
    json_object_set_new(root, "caFile", json_string(b->ca_file));
    json_object_set_new(root, "pinSha256", json_string(b->pin_sha256));
    json_object_set_new(root, "boundAtMs", json_integer(b->bound_at_ms));
    for (size_t i = 0; i < b->n_keys; i++) {
        char hex[2 * FERRY_ED25519_PUBLIC_LEN + 1];
        ferry_hex_encode(b->keys[i].pub, sizeof(b->keys[i].pub), hex);
        json_t *k = json_object();
        json_object_set_new(k, "keyId", json_string(b->keys[i].key_id));
        json_object_set_new(k, "algorithm", json_string("ed25519"));
        json_object_set_new(k, "publicKey", json_string(hex));
        json_array_append_new(keys, k);
    }
    json_object_set_new(root, "signingKeys", keys);
    if ((text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if (path_in(path, sizeof(path), state_dir, "binding.json") != 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "state dir path too long");
        goto out;
    }
    if ((rc = ferry_fs_mkdir_p(state_dir, 0700, err)) != FERRY_OK)
        goto out;
    rc = ferry_fs_write_atomic(path, text, strlen(text), 0600, err);
out:
    free(text);
    json_decref(root);
    return rc;
}

ferry_err_code_t agentd_token_load(const char *state_dir, char *out, size_t size, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char path[1024];
    char *text = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (path_in(path, sizeof(path), state_dir, "token") != 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "state dir path too long");
    if (!ferry_fs_exists(path))
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "no token in %s: bind first", state_dir);
    if ((rc = ferry_fs_read_file(path, AGENTD_TOKEN_MAX, &text, &len, err)) != FERRY_OK)
        goto out;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (len == 0 || len >= size) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "token file %s is empty or too long", path);
        goto out;
    }
    memcpy(out, text, len);
    out[len] = '\0';
out:
    if (text != NULL) {
        explicit_bzero(text, len);
        free(text);
    }
    return rc;
}

ferry_err_code_t agentd_token_save(const char *state_dir, const char *token, ferry_err_t *err)
{
    char path[1024];
    ferry_err_code_t rc;
    if (path_in(path, sizeof(path), state_dir, "token") != 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "state dir path too long");
    if ((rc = ferry_fs_mkdir_p(state_dir, 0700, err)) != FERRY_OK)
        return rc;
    return ferry_fs_write_atomic(path, token, strlen(token), 0600, err);
}

ferry_err_code_t agentd_binding_remove(const char *state_dir, ferry_err_t *err)
{
    char path[1024];
    static const char *const names[] = {"token", "binding.json"};
    for (size_t i = 0; i < 2; i++) {
        if (path_in(path, sizeof(path), state_dir, names[i]) != 0)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "state dir path too long");
        if (unlink(path) != 0 && ferry_fs_exists(path))
            return ferry_err_set(err, FERRY_E_IO, "cannot remove %s", path);
    }
    return ferry_fs_fsync_dir(state_dir, err);
}

static const char *const ENVS[] = {"?", "DEV", "TEST", "UAT", "PROD"};

int agentd_env_parse(const char *s)
{
    if (s == NULL)
        return 0;
    if (strncasecmp(s, "ENVIRONMENT_", 12) == 0)
        s += 12;
    for (int i = 1; i <= 4; i++)
        if (strcasecmp(s, ENVS[i]) == 0)
            return i;
    return 0;
}

const char *agentd_env_name(int env)
{
    return env >= 1 && env <= 4 ? ENVS[env] : "?";
}
