/*
 * Name mangling. The C type and descriptor names must match protoc-c's output byte
 * for byte, or the generated tables would reference symbols that do not exist; the
 * rules below mirror protobuf-c 1.4.1's c_helpers.cc (ToCamel, CamelToLower,
 * FullNameToC, FullNameToLower), checked against its output.
 */
#include <ctype.h>
#include <string.h>

#include "plugin.h"

/* Appends |c| at *len, keeping room for the terminator. */
static int put(char *out, size_t n, size_t *len, char c)
{
    if (*len + 1 >= n) {
        return -1;
    }
    out[(*len)++] = c;
    out[*len] = '\0';
    return 0;
}

/* ToCamel on s[0..len): drop '_' and upper-case the character after it and the first one. */
static int to_camel(const char *s, size_t slen, char *out, size_t n, size_t *len)
{
    int next_upper = 1;
    for (size_t i = 0; i < slen; i++) {
        if (s[i] == '_') {
            next_upper = 1;
            continue;
        }
        char c = next_upper ? (char)toupper((unsigned char)s[i]) : s[i];
        next_upper = 0;
        if (put(out, n, len, c) != 0) {
            return -1;
        }
    }
    return 0;
}

/* CamelToLower on s[0..len): '_' before an upper-case letter that follows a non-upper one. */
static int to_lower(const char *s, size_t slen, char *out, size_t n, size_t *len)
{
    int was_upper = 1;
    for (size_t i = 0; i < slen; i++) {
        int is_upper = isupper((unsigned char)s[i]) != 0;
        if (is_upper && !was_upper && put(out, n, len, '_') != 0) {
            return -1;
        }
        if (put(out, n, len, (char)tolower((unsigned char)s[i])) != 0) {
            return -1;
        }
        was_upper = is_upper;
    }
    return 0;
}

/* Applies |piece| to each dot-separated component of |full|, joined by |sep|. */
static int map_pieces(const char *full, const char *sep,
                      int (*piece)(const char *, size_t, char *, size_t, size_t *), char *out, size_t n)
{
    size_t len = 0;
    const char *p = full;

    if (n == 0) {
        return -1;
    }
    out[0] = '\0';
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t plen = dot ? (size_t)(dot - p) : strlen(p);
        if (plen > 0) {
            if (len > 0) {
                for (const char *s = sep; *s; s++) {
                    if (put(out, n, &len, *s) != 0) {
                        return -1;
                    }
                }
            }
            if (piece(p, plen, out, n, &len) != 0) {
                return -1;
            }
        }
        p += plen;
        if (*p == '.') {
            p++;
        }
    }
    return 0;
}

int name_to_c(const char *full, char *out, size_t n)
{
    return map_pieces(full, "__", to_camel, out, n);
}

int name_to_lower(const char *full, char *out, size_t n)
{
    return map_pieces(full, "__", to_lower, out, n);
}

int camel_to_lower(const char *s, char *out, size_t n)
{
    size_t len = 0;
    if (n == 0) {
        return -1;
    }
    out[0] = '\0';
    return to_lower(s, strlen(s), out, n, &len);
}

int service_prefix(const char *package, const char *service, char *out, size_t n)
{
    char svc[GEN_IDENT_MAX];
    size_t len;

    if (map_pieces(package ? package : "", "_", to_lower, out, n) != 0 ||
        camel_to_lower(service, svc, sizeof(svc)) != 0) {
        return -1;
    }
    len = strlen(out);
    if (len > 0 && put(out, n, &len, '_') != 0) {
        return -1;
    }
    for (const char *s = svc; *s; s++) {
        if (put(out, n, &len, *s) != 0) {
            return -1;
        }
    }
    return 0;
}

int file_ident(const char *path, char *out, size_t n)
{
    size_t len = 0;
    if (n == 0) {
        return -1;
    }
    out[0] = '\0';
    for (const char *p = path; *p; p++) {
        char c = isalnum((unsigned char)*p) ? *p : '_';
        if (put(out, n, &len, c) != 0) {
            return -1;
        }
    }
    return 0;
}

void str_upper(char *s)
{
    for (; *s; s++) {
        *s = (char)toupper((unsigned char)*s);
    }
}

int is_c_keyword(const char *s)
{
    static const char *const kw[] = {"auto",       "break",     "case",           "char",
                                     "const",      "continue",  "default",        "do",
                                     "double",     "else",      "enum",           "extern",
                                     "float",      "for",       "goto",           "if",
                                     "inline",     "int",       "long",           "register",
                                     "restrict",   "return",    "short",          "signed",
                                     "sizeof",     "static",    "struct",         "switch",
                                     "typedef",    "union",     "unsigned",       "void",
                                     "volatile",   "while",     "_Alignas",       "_Alignof",
                                     "_Atomic",    "_Bool",     "_Complex",       "_Generic",
                                     "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
                                     "user"};
    /* "user" is not a keyword but is the struct's own member: a method named User must not shadow it. */
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
        if (strcmp(s, kw[i]) == 0) {
            return 1;
        }
    }
    return 0;
}
