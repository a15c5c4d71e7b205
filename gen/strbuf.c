/* Bounded string builder for the generator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

void sb_printf(sb_t *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (sb->failed) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= GEN_FILE_MAX - sb->len) {
        sb->failed = 1;
        return;
    }
    if (sb->len + (size_t)n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 4096;
        while (cap < sb->len + (size_t)n + 1) {
            cap *= 2;
        }
        char *p = realloc(sb->buf, cap);
        if (p == NULL) {
            sb->failed = 1;
            return;
        }
        sb->buf = p;
        sb->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void sb_free(sb_t *sb)
{
    free(sb->buf);
    memset(sb, 0, sizeof(*sb));
}
