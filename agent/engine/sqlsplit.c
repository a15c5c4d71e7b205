/*
 * GO batch splitter (see sqlsplit.h for the rules). Works line by line: bytes are
 * appended to the current batch buffer and each complete line is examined once. Every
 * token that could hide a GO (quote escapes, comment openers, ]] escapes) lies within
 * one line, so a per-line lexer carrying only "inside what" across lines is exact.
 */
#include "ferry/engine/sqlsplit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum lex_state { LEX_NORMAL = 0, LEX_SQUOTE, LEX_DQUOTE, LEX_BRACKET, LEX_BLOCK };

struct ferry_sqlsplit {
    size_t max_batch;
    ferry_sql_batch_fn fn;
    void *user;
    char *buf; /* current batch; [line_start, len) is the line being assembled */
    size_t len, cap, line_start;
    uint64_t line_no;          /* 1-based number of the line being assembled */
    uint64_t batch_first_line; /* 0 while the batch holds only whitespace */
    uint64_t index;            /* batches emitted */
    enum lex_state state;
    unsigned depth;     /* block comment nesting */
    uint64_t open_line; /* where the construct spanning lines began */
    bool failed;
};

ferry_sqlsplit_t *ferry_sqlsplit_new(size_t max_batch, ferry_sql_batch_fn fn, void *user)
{
    ferry_sqlsplit_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->max_batch = max_batch != 0 ? max_batch : FERRY_SQLSPLIT_DEFAULT_MAX_BATCH;
    s->fn = fn;
    s->user = user;
    s->line_no = 1;
    return s;
}

void ferry_sqlsplit_free(ferry_sqlsplit_t *s)
{
    if (s == NULL)
        return;
    free(s->buf);
    free(s);
}

uint64_t ferry_sqlsplit_lines(const ferry_sqlsplit_t *s)
{
    return s->line_no - 1;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). Returns the offset of the
 * first bad byte, or n when all is valid. */
static size_t utf8_check(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (i + need >= n)
            return i;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return n;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/*
 * Is |p|[0..n) (no line terminator) a GO line? Returns 1 and sets *count, 0 if not,
 * -1 for `GO 0` or a count over the cap (sqlcmd refuses those too).
 */
static int go_line(const char *p, size_t n, uint32_t *count)
{
    size_t i = 0;
    while (i < n && is_blank(p[i]))
        i++;
    if (n - i < 2 || (p[i] != 'g' && p[i] != 'G') || (p[i + 1] != 'o' && p[i + 1] != 'O'))
        return 0;
    i += 2;
    /* GO must be a whole word: GOTO, GO; and GO_x are not separators. */
    if (i < n && !is_blank(p[i]) && !(i + 1 < n && p[i] == '-' && p[i + 1] == '-') &&
        !(i + 1 < n && p[i] == '/' && p[i + 1] == '*'))
        return 0;
    while (i < n && is_blank(p[i]))
        i++;
    uint64_t c = 1;
    bool have_count = false;
    if (i < n && p[i] >= '0' && p[i] <= '9') {
        c = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            if (c <= FERRY_SQLSPLIT_MAX_REPEAT)
                c = c * 10 + (uint64_t)(p[i] - '0');
            i++;
        }
        have_count = true;
        if (i < n && !is_blank(p[i]) && !(i + 1 < n && p[i] == '-' && p[i + 1] == '-') &&
            !(i + 1 < n && p[i] == '/' && p[i + 1] == '*'))
            return 0;
        while (i < n && is_blank(p[i]))
            i++;
    }
    if (i + 1 < n && p[i] == '-' && p[i + 1] == '-') {
        i = n;
    } else if (i + 1 < n && p[i] == '/' && p[i + 1] == '*') {
        /* A block comment on the GO line counts only if it closes on that line. */
        unsigned depth = 0;
        while (i < n) {
            if (i + 1 < n && p[i] == '/' && p[i + 1] == '*') {
                depth++;
                i += 2;
            } else if (i + 1 < n && p[i] == '*' && p[i + 1] == '/') {
                depth--;
                i += 2;
                if (depth == 0)
                    break;
            } else {
                i++;
            }
        }
        if (depth != 0)
            return 0;
        while (i < n && is_blank(p[i]))
            i++;
        if (i + 1 < n && p[i] == '-' && p[i + 1] == '-')
            i = n;
    }
    if (i != n)
        return 0;
    if (have_count && (c == 0 || c > FERRY_SQLSPLIT_MAX_REPEAT))
        return -1;
    *count = (uint32_t)c;
    return 1;
}

/* Advances the lexer over one line; remembers where a multi-line construct opened. */
static void lex_line(ferry_sqlsplit_t *s, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        char d = (char)(i + 1 < n ? p[i + 1] : '\0');
        switch (s->state) {
        case LEX_NORMAL:
            if (c == '\'' || c == '"' || c == '[') {
                s->state = c == '\'' ? LEX_SQUOTE : c == '"' ? LEX_DQUOTE : LEX_BRACKET;
                s->open_line = s->line_no;
            } else if (c == '-' && d == '-') {
                return; /* comment to end of line */
            } else if (c == '/' && d == '*') {
                s->state = LEX_BLOCK;
                s->depth = 1;
                s->open_line = s->line_no;
                i++;
            }
            break;
        case LEX_SQUOTE:
        case LEX_DQUOTE:
        case LEX_BRACKET: {
            char close = (char)(s->state == LEX_SQUOTE ? '\'' : s->state == LEX_DQUOTE ? '"' : ']');
            if (c == close) {
                if (d == close)
                    i++; /* doubled: a literal quote, still inside */
                else
                    s->state = LEX_NORMAL;
            }
            break;
        }
        case LEX_BLOCK:
            if (c == '/' && d == '*') {
                s->depth++;
                i++;
            } else if (c == '*' && d == '/') {
                i++;
                if (--s->depth == 0)
                    s->state = LEX_NORMAL;
            }
            break;
        }
        i++;
    }
}

static ferry_err_code_t emit(ferry_sqlsplit_t *s, uint32_t repeat, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    if (s->batch_first_line != 0) {
        s->buf[s->len] = '\0';
        ferry_sql_batch_t b = {.sql = s->buf,
                               .len = s->len,
                               .index = ++s->index,
                               .start_line = s->batch_first_line,
                               .repeat = repeat};
        rc = s->fn != NULL ? s->fn(s->user, &b, err) : FERRY_OK;
    }
    s->len = 0;
    s->line_start = 0;
    s->batch_first_line = 0;
    return rc;
}

/* Examines the complete line [line_start, len) (which may end in "\n"). */
static ferry_err_code_t end_line(ferry_sqlsplit_t *s, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char *line = s->buf + s->line_start;
    size_t n = s->len - s->line_start;
    if (s->line_no == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        memmove(line, line + 3, n - 3);
        s->len -= 3;
        n -= 3;
    }
    size_t bad = utf8_check((const unsigned char *)line, n);
    if (bad != n) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "line %llu: invalid UTF-8 (byte 0x%02X at column %zu)",
                           (unsigned long long)s->line_no, (unsigned char)line[bad], bad + 1);
        goto out;
    }
    size_t content = n;
    if (content > 0 && line[content - 1] == '\n')
        content--;
    if (content > 0 && line[content - 1] == '\r')
        content--;
    if (s->state == LEX_NORMAL) {
        uint32_t count = 1;
        int g = go_line(line, content, &count);
        if (g < 0) {
            rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "line %llu: GO count must be 1..%u",
                               (unsigned long long)s->line_no, FERRY_SQLSPLIT_MAX_REPEAT);
            goto out;
        }
        if (g > 0) {
            s->len = s->line_start; /* the GO line is not part of the batch */
            s->line_no++;
            rc = emit(s, count, err);
            goto out;
        }
    }
    if (s->batch_first_line == 0) {
        for (size_t i = 0; i < content; i++) {
            if (!is_blank(line[i]) && line[i] != '\r') {
                s->batch_first_line = s->line_no;
                break;
            }
        }
        /* A blank line inside a multi-line literal still belongs to it. */
        if (s->batch_first_line == 0 && s->state != LEX_NORMAL)
            s->batch_first_line = s->line_no;
    }
    lex_line(s, line, content);
    s->line_start = s->len;
    s->line_no++;
out:
    return rc;
}

static ferry_err_code_t append(ferry_sqlsplit_t *s, const char *p, size_t n, ferry_err_t *err)
{
    if (n > s->max_batch - s->len) {
        return ferry_err_set(
            err, FERRY_E_PACKAGE_INVALID, "line %llu: batch starting at line %llu exceeds %zu bytes",
            (unsigned long long)s->line_no,
            (unsigned long long)(s->batch_first_line ? s->batch_first_line : s->line_no), s->max_batch);
    }
    if (s->len + n + 1 > s->cap) {
        size_t want = s->cap ? s->cap : 4096;
        while (want < s->len + n + 1)
            want *= 2;
        if (want > s->max_batch + 1)
            want = s->max_batch + 1;
        char *nb = realloc(s->buf, want);
        if (nb == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "sql splitter: out of memory for a %zu-byte batch",
                                 want);
        s->buf = nb;
        s->cap = want;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return FERRY_OK;
}

ferry_err_code_t ferry_sqlsplit_feed(ferry_sqlsplit_t *s, const void *data, size_t len, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const char *p = data;
    if (s->failed) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION, "sql splitter: input after an error");
        goto out;
    }
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t seg = nl != NULL ? (size_t)(nl - p) + 1 : len;
        rc = append(s, p, seg, err);
        if (rc != FERRY_OK)
            goto out;
        p += seg;
        len -= seg;
        if (nl != NULL) {
            rc = end_line(s, err);
            if (rc != FERRY_OK)
                goto out;
        }
    }
out:
    if (rc != FERRY_OK)
        s->failed = true;
    return rc;
}

ferry_err_code_t ferry_sqlsplit_finish(ferry_sqlsplit_t *s, ferry_err_t *err)
{
    static const char *const what[] = {"", "string literal", "quoted identifier", "bracketed identifier",
                                       "block comment"};
    ferry_err_code_t rc = FERRY_OK;
    if (s->failed) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION, "sql splitter: finish after an error");
        goto out;
    }
    if (s->len > s->line_start) {
        rc = end_line(s, err);
        if (rc != FERRY_OK)
            goto out;
    }
    if (s->state != LEX_NORMAL) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "line %llu: unterminated %s (opened at line %llu)",
                           (unsigned long long)(s->line_no - 1), what[s->state],
                           (unsigned long long)s->open_line);
        goto out;
    }
    rc = emit(s, 1, err);
out:
    if (rc != FERRY_OK)
        s->failed = true;
    return rc;
}

ferry_err_code_t ferry_sqlsplit_buffer(const void *data, size_t len, size_t max_batch, ferry_sql_batch_fn fn,
                                       void *user, ferry_err_t *err)
{
    ferry_err_code_t rc;
    ferry_sqlsplit_t *s = ferry_sqlsplit_new(max_batch, fn, user);
    if (s == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "sql splitter: out of memory");
    rc = ferry_sqlsplit_feed(s, data, len, err);
    if (rc == FERRY_OK)
        rc = ferry_sqlsplit_finish(s, err);
    ferry_sqlsplit_free(s);
    return rc;
}

ferry_err_code_t ferry_sqlsplit_file(const char *path, size_t max_batch, ferry_sql_batch_fn fn, void *user,
                                     ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    char *chunk = NULL;
    ferry_sqlsplit_t *s = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open %s", path);
        goto out;
    }
    chunk = malloc(64 * 1024);
    s = ferry_sqlsplit_new(max_batch, fn, user);
    if (chunk == NULL || s == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", base);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, chunk, 64 * 1024);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "read %s", path);
            goto out;
        }
        if (r == 0)
            break;
        rc = ferry_sqlsplit_feed(s, chunk, (size_t)r, err);
        if (rc != FERRY_OK)
            goto prefix;
    }
    rc = ferry_sqlsplit_finish(s, err);
prefix:
    /* Split errors get the file name; callback errors already carry their own context. */
    if (rc == FERRY_E_PACKAGE_INVALID || rc == FERRY_E_NOMEM)
        ferry_err_prefix(err, "%s", base);
out:
    if (fd >= 0)
        close(fd);
    free(chunk);
    ferry_sqlsplit_free(s);
    return rc;
}
