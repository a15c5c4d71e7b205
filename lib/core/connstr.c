/*
 * Connection-string password masking (see ferry/connstr.h): one lexer pass that copies
 * the text, replaces Password/Pwd values with "***" and withholds anything it cannot
 * read with certainty.
 */
#include "ferry/connstr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest key compared (normalised); longer keys are unknown. */
#define KEY_MAX 48

/* Known keywords, lower case, inner blanks single: the engine's (mssql_connstr.c) and
 * the usual ADO.NET / ODBC ones for SQL Server. */
static const char *const known_keys[] = {"server",
                                         "data source",
                                         "address",
                                         "addr",
                                         "network address",
                                         "host",
                                         "port",
                                         "database",
                                         "initial catalog",
                                         "user id",
                                         "uid",
                                         "user",
                                         "user name",
                                         "password",
                                         "pwd",
                                         "encrypt",
                                         "trustservercertificate",
                                         "trust server certificate",
                                         "connect timeout",
                                         "connection timeout",
                                         "timeout",
                                         "command timeout",
                                         "application name",
                                         "app",
                                         "workstation id",
                                         "wsid",
                                         "packet size",
                                         "pooling",
                                         "min pool size",
                                         "max pool size",
                                         "pool blocking period",
                                         "multipleactiveresultsets",
                                         "multiple active result sets",
                                         "mars_connection",
                                         "persist security info",
                                         "persistsecurityinfo",
                                         "multisubnetfailover",
                                         "multi subnet failover",
                                         "connection lifetime",
                                         "load balance timeout",
                                         "integrated security",
                                         "trusted_connection",
                                         "driver",
                                         "dsn",
                                         "provider",
                                         "failover partner",
                                         "failover_partner",
                                         "applicationintent",
                                         "application intent",
                                         "column encryption setting",
                                         "attachdbfilename",
                                         "current language",
                                         "language",
                                         "network library",
                                         "network",
                                         "net",
                                         "enlist",
                                         "replication",
                                         "type system version",
                                         "user instance",
                                         "connect retry count",
                                         "connectretrycount",
                                         "connect retry interval",
                                         "connectretryinterval",
                                         "transparent network ip resolution",
                                         "transparentnetworkipresolution",
                                         "hostnameincertificate",
                                         "host name in certificate",
                                         "server certificate",
                                         "servercertificate",
                                         "server spn",
                                         "serverspn",
                                         "ip address preference",
                                         "ipaddresspreference",
                                         "authentication",
                                         "connection reset",
                                         "context connection",
                                         "asynchronous processing",
                                         "async",
                                         NULL};

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Lower-cased, trimmed, inner runs of blanks as one space; false when longer than KEY_MAX. */
static bool norm_key(const char *k, size_t n, char out[KEY_MAX + 1])
{
    size_t w = 0;
    bool ok = true, gap = false;

    while (n > 0 && blank(*k))
        k++, n--;
    while (n > 0 && blank(k[n - 1]))
        n--;
    for (size_t i = 0; i < n && ok; i++) {
        if (blank(k[i])) {
            gap = true;
            continue;
        }
        if (w + (gap ? 2 : 1) > KEY_MAX) {
            ok = false;
            continue;
        }
        if (gap)
            out[w++] = ' ';
        gap = false;
        out[w++] = (char)tolower((unsigned char)k[i]);
    }
    out[ok ? w : 0] = '\0';
    return ok;
}

bool ferry_connstr_is_password_key(const char *key, size_t len)
{
    char k[KEY_MAX + 1];
    return norm_key(key, len, k) && (strcmp(k, "password") == 0 || strcmp(k, "pwd") == 0);
}

bool ferry_connstr_known_key(const char *key, size_t len)
{
    char k[KEY_MAX + 1];
    bool known = false;

    if (norm_key(key, len, k))
        for (size_t i = 0; known_keys[i] != NULL && !known; i++)
            known = strcmp(k, known_keys[i]) == 0;
    return known;
}

/* Appends [p, p + n) to |out| (capacity |cap|, sized by the caller to always fit). */
static void put(char *out, size_t *len, const char *p, size_t n)
{
    memcpy(out + *len, p, n);
    *len += n;
    out[*len] = '\0';
}

/* Scans a value starting at |p| (just after '='); *end = where it stops (';' or NUL).
 * False when a quote is not closed or text follows the closing quote. */
static bool scan_value(const char *p, const char **end)
{
    bool ok = true;

    while (blank(*p))
        p++;
    if (*p == '{' || *p == '"' || *p == '\'') {
        char close = (char)(*p == '{' ? '}' : *p);
        for (p++; ok; p++) {
            if (*p == '\0') {
                ok = false;
            } else if (*p == close) {
                if (p[1] != close)
                    break;
                p++; /* doubled: a literal close */
            }
        }
        if (ok) {
            p++;
            while (blank(*p))
                p++;
            ok = *p == '\0' || *p == ';';
        }
    } else {
        while (*p != '\0' && *p != ';')
            p++;
    }
    *end = p;
    return ok;
}

char *ferry_connstr_mask(const char *in, unsigned flags)
{
    const char *withheld = (flags & FERRY_CONNSTR_SAY_WITHHELD) ? FERRY_CONNSTR_WITHHELD : FERRY_CONNSTR_MASK;
    char *out = NULL, *res = NULL;
    size_t len = 0, n;
    const char *p;
    bool ok = true;

    if (in == NULL || (n = strnlen(in, FERRY_CONNSTR_MAX + 1)) > FERRY_CONNSTR_MAX)
        goto withhold;
    /* A masked value is never longer than 3 bytes, so the output fits in n + 3 per pair. */
    if ((out = malloc(n + 3 * (n / 2 + 1) + 1)) == NULL)
        goto out;
    out[0] = '\0';
    for (p = in; *p != '\0' && ok;) {
        const char *seg = p, *eq, *v, *vend;
        while (*p != '\0' && *p != ';' && *p != '=')
            p++;
        if (*p != '=') {
            /* Only a blank segment may lack '=': anything else may be a password's tail. */
            for (const char *q = seg; q < p && ok; q++)
                ok = blank(*q);
            if (ok)
                put(out, &len, seg, (size_t)(p - seg) + (*p == ';' ? 1 : 0));
            p += *p == ';' ? 1 : 0;
            continue;
        }
        eq = p;
        v = p + 1;
        if (!ferry_connstr_known_key(seg, (size_t)(eq - seg)) || !scan_value(v, &vend)) {
            ok = false;
            continue;
        }
        put(out, &len, seg, (size_t)(v - seg));
        if (!ferry_connstr_is_password_key(seg, (size_t)(eq - seg)))
            put(out, &len, v, (size_t)(vend - v));
        else if (vend > v)
            put(out, &len, FERRY_CONNSTR_MASK, strlen(FERRY_CONNSTR_MASK));
        p = vend;
        if (*p == ';')
            put(out, &len, p++, 1);
    }
    if (ok) {
        res = out;
        out = NULL;
        goto out;
    }
withhold:
    res = strdup(withheld);
out:
    if (out != NULL) /* a partial copy of a withheld string */
        explicit_bzero(out, len);
    free(out);
    return res;
}
