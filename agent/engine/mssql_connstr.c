/*
 * Pure helpers of the SQL Server executor (see mssql.h): connection-string parsing,
 * T-SQL quoting and statement building, message formatting. Kept free of FreeTDS so
 * they are unit-tested here without a server.
 */
#include "ferry/engine/mssql.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/log.h"

enum key_id {
    K_SERVER,
    K_DATABASE,
    K_USER,
    K_PASSWORD,
    K_ENCRYPT,
    K_TRUST,
    K_TIMEOUT,
    K_APP,
    K_WSID,
    K_PACKET,
    K_IGNORED,
    K_INTEGRATED
};

static const struct {
    const char *name;
    enum key_id id;
} key_names[] = {
    {"server", K_SERVER},
    {"data source", K_SERVER},
    {"address", K_SERVER},
    {"addr", K_SERVER},
    {"network address", K_SERVER},
    {"database", K_DATABASE},
    {"initial catalog", K_DATABASE},
    {"user id", K_USER},
    {"uid", K_USER},
    {"user", K_USER},
    {"user name", K_USER},
    {"password", K_PASSWORD},
    {"pwd", K_PASSWORD},
    {"encrypt", K_ENCRYPT},
    {"trustservercertificate", K_TRUST},
    {"trust server certificate", K_TRUST},
    {"connect timeout", K_TIMEOUT},
    {"connection timeout", K_TIMEOUT},
    {"timeout", K_TIMEOUT},
    {"application name", K_APP},
    {"app", K_APP},
    {"workstation id", K_WSID},
    {"wsid", K_WSID},
    {"packet size", K_PACKET},
    {"pooling", K_IGNORED},
    {"min pool size", K_IGNORED},
    {"max pool size", K_IGNORED},
    {"multipleactiveresultsets", K_IGNORED},
    {"persist security info", K_IGNORED},
    {"persistsecurityinfo", K_IGNORED},
    {"multisubnetfailover", K_IGNORED},
    {"connection lifetime", K_IGNORED},
    {"load balance timeout", K_IGNORED},
    {"integrated security", K_INTEGRATED},
    {"trusted_connection", K_INTEGRATED},
};

/* Case-insensitive key comparison that treats runs of spaces as one. */
static bool key_eq(const char *k, size_t n, const char *name)
{
    size_t i = 0;
    while (i < n && *name != '\0') {
        if (k[i] == ' ') {
            if (*name != ' ')
                return false;
            while (i < n && k[i] == ' ')
                i++;
            name++;
            continue;
        }
        if (tolower((unsigned char)k[i]) != *name)
            return false;
        i++;
        name++;
    }
    return i == n && *name == '\0';
}

static bool parse_bool(const char *v, bool *out)
{
    if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0) {
        *out = true;
        return true;
    }
    if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_uint(const char *v, unsigned long max, unsigned long *out)
{
    if (*v == '\0')
        return false;
    unsigned long r = 0;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        r = r * 10 + (unsigned long)(*p - '0');
        if (r > max)
            return false;
    }
    *out = r;
    return true;
}

static ferry_err_code_t copy_value(char *dst, const char *v, const char *key, ferry_err_t *err)
{
    if (strlen(v) >= FERRY_MSSQL_MAX_VALUE)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: value longer than %d bytes", key,
                             FERRY_MSSQL_MAX_VALUE - 1);
    memcpy(dst, v, strlen(v) + 1);
    return FERRY_OK;
}

static ferry_err_code_t parse_server(const char *v, ferry_mssql_connstr_t *cs, ferry_err_t *err)
{
    char buf[FERRY_MSSQL_MAX_VALUE];
    if (strlen(v) >= sizeof(buf))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "Server: value longer than %zu bytes",
                             sizeof(buf) - 1);
    memcpy(buf, v, strlen(v) + 1);
    char *h = buf;
    if (strncasecmp(h, "tcp:", 4) == 0)
        h += 4;
    else if (strncasecmp(h, "np:", 3) == 0 || strncasecmp(h, "lpc:", 4) == 0 ||
             strncasecmp(h, "admin:", 6) == 0)
        return ferry_err_set(
            err, FERRY_E_INVALID_ARG,
            "Server: only TCP is supported (named pipes and shared memory are Windows-local)");
    char *comma = strchr(h, ',');
    if (comma != NULL) {
        *comma = '\0';
        char *ps = comma + 1;
        while (*ps == ' ')
            ps++;
        size_t pl = strlen(ps);
        while (pl > 0 && ps[pl - 1] == ' ')
            ps[--pl] = '\0';
        unsigned long port;
        if (!parse_uint(ps, 65535, &port) || port == 0)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "Server: port '%.16s' is not in 1..65535", ps);
        cs->port = (unsigned)port;
    }
    char *bs = strchr(h, '\\');
    if (bs != NULL) {
        *bs = '\0';
        if (bs[1] == '\0')
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "Server: empty instance name after '\\'");
        snprintf(cs->instance, sizeof(cs->instance), "%s", bs + 1);
    }
    size_t hl = strlen(h);
    while (hl > 0 && h[hl - 1] == ' ')
        h[--hl] = '\0';
    if (hl == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "Server: empty host name");
    for (const char *p = h; *p != '\0'; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "Server: host name '%.64s' contains a space or control character", h);
    if (strcmp(h, ".") == 0 || strcasecmp(h, "(local)") == 0)
        h = "127.0.0.1";
    snprintf(cs->host, sizeof(cs->host), "%s", h);
    return FERRY_OK;
}

/*
 * Reads one value starting at s[*i] (after '='). Quoted forms: {...} with }} escape,
 * "..." / '...' with doubled quote escape. Unquoted: up to ';', trimmed.
 */
static ferry_err_code_t read_value(const char *s, size_t *i, char *out, size_t out_size, const char *key,
                                   ferry_err_t *err)
{
    size_t p = *i, w = 0;
    while (s[p] == ' ' || s[p] == '\t')
        p++;
    char open = s[p];
    if (open == '{' || open == '"' || open == '\'') {
        char close = (char)(open == '{' ? '}' : open);
        p++;
        for (;;) {
            if (s[p] == '\0')
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: quoted value is not closed", key);
            if (s[p] == close) {
                if (s[p + 1] == close) {
                    p++;
                } else {
                    p++;
                    break;
                }
            }
            if (w + 1 >= out_size)
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: value longer than %zu bytes", key,
                                     out_size - 1);
            out[w++] = s[p++];
        }
        while (s[p] == ' ' || s[p] == '\t')
            p++;
        if (s[p] != ';' && s[p] != '\0')
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: unexpected text after the closing quote",
                                 key);
    } else {
        while (s[p] != ';' && s[p] != '\0') {
            if (w + 1 >= out_size)
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: value longer than %zu bytes", key,
                                     out_size - 1);
            out[w++] = s[p++];
        }
        while (w > 0 && (out[w - 1] == ' ' || out[w - 1] == '\t'))
            w--;
    }
    out[w] = '\0';
    *i = p;
    return FERRY_OK;
}

ferry_err_code_t ferry_mssql_connstr_parse(const char *s, ferry_mssql_connstr_t *cs, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    unsigned seen = 0;
    char value[FERRY_MSSQL_MAX_VALUE];
    memset(cs, 0, sizeof(*cs));
    cs->encrypt = true;
    cs->connect_timeout_s = 15;
    strcpy(cs->app_name, "ferry-agent");
    if (strlen(s) > FERRY_MSSQL_MAX_CONNSTR) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "longer than %d bytes", FERRY_MSSQL_MAX_CONNSTR);
        goto out;
    }
    size_t i = 0;
    unsigned pair = 0;
    char prev_key[64] = "";
    bool prev_was_password = false;
    for (;;) {
        while (s[i] == ' ' || s[i] == '\t' || s[i] == ';')
            i++;
        if (s[i] == '\0')
            break;
        pair++;
        size_t ks = i;
        while (s[i] != '=' && s[i] != ';' && s[i] != '\0')
            i++;
        size_t ke = i;
        while (ke > ks && (s[ke - 1] == ' ' || s[ke - 1] == '\t'))
            ke--;
        if (s[i] != '=') {
            /* Never echo the text: it may be the tail of a password that held a ';'. */
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "pair %u%s%s%s: expected key=value (quote values containing ';' with {...})",
                               pair, prev_key[0] ? " (after '" : "", prev_key, prev_key[0] ? "')" : "");
            goto out;
        }
        if (ke == ks) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "pair %u: empty key before '='", pair);
            goto out;
        }
        i++; /* '=' */
        const char *kname = NULL;
        enum key_id id = K_IGNORED;
        for (size_t k = 0; k < sizeof(key_names) / sizeof(key_names[0]); k++) {
            if (key_eq(s + ks, ke - ks, key_names[k].name)) {
                kname = key_names[k].name;
                id = key_names[k].id;
                break;
            }
        }
        char keyshow[64];
        snprintf(keyshow, sizeof(keyshow), "%.*s", (int)(ke - ks > 60 ? 60 : ke - ks), s + ks);
        if (kname == NULL) {
            if (prev_was_password) /* the "key" may be the rest of a password holding ';' */
                rc = ferry_err_set(
                    err, FERRY_E_INVALID_ARG,
                    "pair %u (after 'Password'): key is not supported (quote values containing ';' "
                    "with {...})",
                    pair);
            else
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "key '%s' is not supported", keyshow);
            goto out;
        }
        prev_was_password = id == K_PASSWORD;
        if ((rc = read_value(s, &i, value, sizeof(value), keyshow, err)) != FERRY_OK)
            goto out;
        snprintf(prev_key, sizeof(prev_key), "%s", keyshow);
        if (id == K_INTEGRATED) {
            bool on = false;
            if (parse_bool(value, &on) && !on)
                continue; /* "Integrated Security=False" is harmless */
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "%s: Windows authentication is not supported; use User Id and Password",
                               keyshow);
            goto out;
        }
        if (id != K_IGNORED) {
            if (seen & (1u << id)) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: given more than once", keyshow);
                goto out;
            }
            seen |= 1u << id;
        }
        unsigned long n;
        switch (id) {
        case K_SERVER:
            rc = parse_server(value, cs, err);
            break;
        case K_DATABASE:
            rc = copy_value(cs->database, value, keyshow, err);
            break;
        case K_USER:
            rc = copy_value(cs->user, value, keyshow, err);
            break;
        case K_PASSWORD:
            rc = copy_value(cs->password, value, keyshow, err);
            break;
        case K_APP:
            rc = copy_value(cs->app_name, value, keyshow, err);
            break;
        case K_WSID:
            rc = copy_value(cs->workstation, value, keyshow, err);
            break;
        case K_ENCRYPT:
            if (strcasecmp(value, "mandatory") == 0 || strcasecmp(value, "strict") == 0)
                cs->encrypt = true;
            else if (strcasecmp(value, "optional") == 0)
                cs->encrypt = false;
            else if (!parse_bool(value, &cs->encrypt))
                rc = ferry_err_set(
                    err, FERRY_E_INVALID_ARG,
                    "%s: must be true, false, yes, no, mandatory, optional or strict (got '%.32s')", keyshow,
                    value);
            break;
        case K_TRUST:
            if (!parse_bool(value, &cs->trust_server_certificate))
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be true or false (got '%.32s')",
                                   keyshow, value);
            break;
        case K_TIMEOUT:
            if (!parse_uint(value, 3600, &n) || n == 0)
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                                   "%s: must be 1..3600 seconds (got '%.32s'; 0 would wait forever)", keyshow,
                                   value);
            else
                cs->connect_timeout_s = (unsigned)n;
            break;
        case K_PACKET:
            if (!parse_uint(value, 32767, &n) || n < 512)
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be 512..32767 (got '%.32s')", keyshow,
                                   value);
            else
                cs->packet_size = (unsigned)n;
            break;
        default:
            break;
        }
        if (rc != FERRY_OK)
            goto out;
    }
    if (cs->host[0] == '\0') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "Server: required");
        goto out;
    }
    if (cs->user[0] == '\0') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "User Id: required (SQL Server authentication)");
        goto out;
    }
out:
    explicit_bzero(value, sizeof(value));
    if (rc != FERRY_OK)
        explicit_bzero(cs->password, sizeof(cs->password));
    return rc;
}

/* Appends printf output to buf at *used; returns false when it does not fit. */
static bool appendf(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool appendf(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size)
        return false;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size - *used)
        return false;
    *used += (size_t)n;
    return true;
}

/* Appends key=value; with {} quoting when the value would not survive unquoted. */
static bool append_pair(char *buf, size_t size, size_t *used, const char *key, const char *v)
{
    bool quote = v[0] == '{' || v[0] == '"' || v[0] == '\'' || v[0] == ' ' || strchr(v, ';') != NULL ||
                 (v[0] != '\0' && v[strlen(v) - 1] == ' ');
    if (!appendf(buf, size, used, "%s=%s", key, quote ? "{" : ""))
        return false;
    for (const char *p = v; *p != '\0'; p++) {
        bool twice = quote && *p == '}';
        if (*used + (twice ? 2 : 1) >= size)
            return false;
        buf[(*used)++] = *p;
        if (twice)
            buf[(*used)++] = '}';
        buf[*used] = '\0';
    }
    return appendf(buf, size, used, "%s;", quote ? "}" : "");
}

ferry_err_code_t ferry_mssql_connstr_format_masked(const ferry_mssql_connstr_t *cs, char *buf, size_t size)
{
    size_t used = 0;
    char server[FERRY_MSSQL_MAX_VALUE * 2 + 16];
    if (cs->instance[0] != '\0')
        snprintf(server, sizeof(server), "%s\\%s", cs->host, cs->instance);
    else
        snprintf(server, sizeof(server), "%s", cs->host);
    if (cs->port != 0) {
        size_t l = strlen(server);
        snprintf(server + l, sizeof(server) - l, ",%u", cs->port);
    }
    bool ok =
        append_pair(buf, size, &used, "Server", server) &&
        (cs->database[0] == '\0' || append_pair(buf, size, &used, "Database", cs->database)) &&
        append_pair(buf, size, &used, "User Id", cs->user) &&
        appendf(buf, size, &used, "Password=***;Encrypt=%s;TrustServerCertificate=%s;Connect Timeout=%u;",
                cs->encrypt ? "True" : "False", cs->trust_server_certificate ? "True" : "False",
                cs->connect_timeout_s) &&
        append_pair(buf, size, &used, "Application Name", cs->app_name);
    if (!ok) {
        if (size > 0)
            buf[0] = '\0';
        return FERRY_E_TOO_LARGE;
    }
    return FERRY_OK;
}

ferry_err_code_t ferry_mssql_server_name(const ferry_mssql_connstr_t *cs, char *buf, size_t size)
{
    int n;
    if (cs->port != 0)
        n = snprintf(buf, size, "%s:%u", cs->host, cs->port);
    else if (cs->instance[0] != '\0')
        n = snprintf(buf, size, "%s\\%s", cs->host, cs->instance);
    else
        n = snprintf(buf, size, "%s:%u", cs->host, FERRY_MSSQL_DEFAULT_PORT);
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            buf[0] = '\0';
        return FERRY_E_TOO_LARGE;
    }
    return FERRY_OK;
}

/* Copies |s| into buf between |open| and |close|, doubling |esc|. */
static ferry_err_code_t quote(const char *s, const char *open, char close, char esc, char *buf, size_t size,
                              const char *what, ferry_err_t *err)
{
    size_t used = 0;
    if (!appendf(buf, size, &used, "%s", open))
        goto too_long;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s contains a control character (0x%02X)", what,
                                 *p);
        if (used + 3 >= size)
            goto too_long;
        buf[used++] = (char)*p;
        if (*p == (unsigned char)esc)
            buf[used++] = (char)*p;
    }
    if (used + 2 > size)
        goto too_long;
    buf[used++] = close;
    buf[used] = '\0';
    return FERRY_OK;
too_long:
    if (size > 0)
        buf[0] = '\0';
    return ferry_err_set(err, FERRY_E_TOO_LARGE, "%s is too long to quote", what);
}

ferry_err_code_t ferry_mssql_quote_ident(const char *name, char *buf, size_t size, ferry_err_t *err)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        if ((*p & 0xC0) != 0x80)
            chars++;
    if (chars == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "database name must not be empty");
    if (chars > 128)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "database name longer than 128 characters");
    return quote(name, "[", ']', ']', buf, size, "database name", err);
}

ferry_err_code_t ferry_mssql_quote_nstring(const char *s, char *buf, size_t size, ferry_err_t *err)
{
    return quote(s, "N'", '\'', '\'', buf, size, "string literal", err);
}

ferry_err_code_t ferry_mssql_build_backup(const char *database, const char *file, char *buf, size_t size,
                                          ferry_err_t *err)
{
    char id[600], lit[8192];
    ferry_err_code_t rc;
    if ((rc = ferry_mssql_quote_ident(database, id, sizeof(id), err)) != FERRY_OK ||
        (rc = ferry_mssql_quote_nstring(file, lit, sizeof(lit), err)) != FERRY_OK)
        return rc;
    int n = snprintf(buf, size, "BACKUP DATABASE %s TO DISK = %s WITH INIT", id, lit);
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "BACKUP statement too long");
    return FERRY_OK;
}

ferry_err_code_t ferry_mssql_build_verify(const char *file, char *buf, size_t size, ferry_err_t *err)
{
    char lit[8192];
    ferry_err_code_t rc = ferry_mssql_quote_nstring(file, lit, sizeof(lit), err);
    if (rc != FERRY_OK)
        return rc;
    int n = snprintf(buf, size, "RESTORE VERIFYONLY FROM DISK = %s", lit);
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "RESTORE VERIFYONLY statement too long");
    return FERRY_OK;
}

ferry_err_code_t ferry_mssql_build_restore(int step, const char *database, const char *file, char *buf,
                                           size_t size, ferry_err_t *err)
{
    char id[600], lit[8192];
    ferry_err_code_t rc;
    int n = -1;
    if ((rc = ferry_mssql_quote_ident(database, id, sizeof(id), err)) != FERRY_OK)
        return rc;
    switch (step) {
    case 0:
        n = snprintf(buf, size, "ALTER DATABASE %s SET SINGLE_USER WITH ROLLBACK IMMEDIATE", id);
        break;
    case 1:
        if ((rc = ferry_mssql_quote_nstring(file, lit, sizeof(lit), err)) != FERRY_OK)
            return rc;
        n = snprintf(buf, size, "RESTORE DATABASE %s FROM DISK = %s WITH REPLACE", id, lit);
        break;
    case 2:
        n = snprintf(buf, size, "ALTER DATABASE %s SET MULTI_USER", id);
        break;
    default:
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "restore step %d does not exist", step);
    }
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "RESTORE statement too long");
    return FERRY_OK;
}

void ferry_mssql_format_message(char *buf, size_t size, long msgno, int severity, int state, int line,
                                const char *server, const char *proc, const char *text)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    if (severity > 0) {
        appendf(buf, size, &used, "Msg %ld, Level %d, State %d", msgno, severity, state);
        if (server != NULL && server[0] != '\0')
            appendf(buf, size, &used, ", Server %s", server);
        if (proc != NULL && proc[0] != '\0')
            appendf(buf, size, &used, ", Procedure %s", proc);
        if (line > 0)
            appendf(buf, size, &used, ", Line %d", line);
        appendf(buf, size, &used, ": ");
    }
    snprintf(buf + used, size - used, "%s", text != NULL ? text : "");
    ferry_log_mask_secrets(buf);
}

void ferry_mssql_format_dberror(char *buf, size_t size, int dberr, int severity, const char *text,
                                const char *ostext)
{
    if (size == 0)
        return;
    if (ostext != NULL && ostext[0] != '\0')
        snprintf(buf, size, "db-lib error %d (severity %d): %s (OS: %s)", dberr, severity, text ? text : "",
                 ostext);
    else
        snprintf(buf, size, "db-lib error %d (severity %d): %s", dberr, severity, text ? text : "");
    ferry_log_mask_secrets(buf);
}
