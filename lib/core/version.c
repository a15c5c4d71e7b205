#include "ferry/version.h"

#include <stdio.h>
#include <string.h>

/* Reads one decimal part ending at |stop|; refuses empty parts, leading zeros and
 * overflow so that every version has exactly one spelling. */
static int read_part(const char **p, char stop, uint32_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        v = v * 10 + (uint64_t)(s[n] - '0');
        if (v > UINT32_MAX)
            return -1;
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0') || s[n] != stop)
        return -1;
    *out = (uint32_t)v;
    *p = s + n + 1;
    return 0;
}

ferry_err_code_t ferry_version_parse(const char *s, ferry_version_t *out, ferry_err_t *err)
{
    static const char *const part_names[] = {"first", "second", "third", "fourth", "build"};
    ferry_version_t v;
    uint32_t *parts[] = {&v.major, &v.minor, &v.patch, &v.revision, &v.build};
    const char stops[] = {'.', '.', '.', '(', ')'};
    if (s == NULL || *s == '\0')
        return ferry_err_set(err, FERRY_E_VERSION_INVALID, "version is empty; expected a.b.c.d(build)");
    const char *p = s;
    for (int i = 0; i < 5; i++) {
        if (read_part(&p, stops[i], parts[i]) != 0)
            return ferry_err_set(err, FERRY_E_VERSION_INVALID,
                                 "version '%.64s': %s number missing or malformed; expected a.b.c.d(build), "
                                 "e.g. 1.25.12.13(12521)",
                                 s, part_names[i]);
    }
    if (*p != '\0')
        return ferry_err_set(err, FERRY_E_VERSION_INVALID, "version '%.64s': unexpected text after ')'", s);
    *out = v;
    return FERRY_OK;
}

void ferry_version_format(const ferry_version_t *v, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u.%u(%u)", v->major, v->minor, v->patch, v->revision, v->build);
}

static int cmp_u32(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

int ferry_version_compare(const ferry_version_t *a, const ferry_version_t *b)
{
    int c;
    if ((c = cmp_u32(a->major, b->major)) != 0 || (c = cmp_u32(a->minor, b->minor)) != 0 ||
        (c = cmp_u32(a->patch, b->patch)) != 0 || (c = cmp_u32(a->revision, b->revision)) != 0)
        return c;
    return cmp_u32(a->build, b->build);
}

int ferry_version_is_path_safe(const char *s)
{
    if (s == NULL || *s == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == '/' || *p == '\\' || *p == 0x7f)
            return 0;
    return 1;
}
