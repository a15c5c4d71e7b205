#include "ferry/log.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_level = -1;
static int log_fd = -1;
static const char *log_ident = "ferry";

static int level_from_env(void)
{
    const char *v = getenv("FERRY_LOG_LEVEL");
    if (v == NULL)
        return FERRY_LOG_INFO;
    if (strcasecmp(v, "debug") == 0)
        return FERRY_LOG_DEBUG;
    if (strcasecmp(v, "warn") == 0)
        return FERRY_LOG_WARN;
    if (strcasecmp(v, "error") == 0)
        return FERRY_LOG_ERROR;
    if (strcasecmp(v, "off") == 0)
        return FERRY_LOG_OFF;
    return FERRY_LOG_INFO;
}

void ferry_log_set_level(ferry_log_level_t level)
{
    pthread_mutex_lock(&log_mu);
    log_level = (int)level;
    pthread_mutex_unlock(&log_mu);
}

void ferry_log_set_ident(const char *ident)
{
    log_ident = ident;
}

int ferry_log_set_file(const char *path)
{
    int fd = -1;
    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
    }
    pthread_mutex_lock(&log_mu);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    pthread_mutex_unlock(&log_mu);
    return 0;
}

/* Replaces s[start..end) with "***" (or as many '*' when shorter, so the string
 * never grows) and returns the index just after the mask. */
static size_t mask_range(char *s, size_t len, size_t start, size_t end)
{
    if (end <= start)
        return start;
    if (end - start < 3) {
        memset(s + start, '*', end - start);
        return end;
    }
    size_t tail = len - end;
    memmove(s + start + 3, s + end, tail + 1);
    /* Overwrites 3 bytes inside the string (its NUL moved above). */
    memcpy(s + start, "***", 3); // NOLINT(bugprone-not-null-terminated-result)
    return start + 3;
}

static int is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

size_t ferry_log_mask_secrets(char *s)
{
    static const char *const kv_keys[] = {"password=", "pwd="};
    static const char *const json_keys[] = {"password", "token", "secret", "adminToken", "nodeToken"};
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && is_key_char(s[i - 1]))
            continue;
        for (size_t k = 0; k < sizeof(kv_keys) / sizeof(kv_keys[0]); k++) {
            size_t kl = strlen(kv_keys[k]);
            if (strncasecmp(s + i, kv_keys[k], kl) == 0) {
                size_t start = i + kl, end = start;
                while (end < len && s[end] != ';' && s[end] != '"' && s[end] != '\n')
                    end++;
                if (end > start && !(end - start == 3 && memcmp(s + start, "***", 3) == 0)) {
                    mask_range(s, len, start, end);
                    len = strlen(s);
                }
            }
        }
        if (strncasecmp(s + i, "bearer ", 7) == 0) {
            size_t start = i + 7, end = start;
            while (end < len && !isspace((unsigned char)s[end]) && s[end] != '"' && s[end] != ',')
                end++;
            /* Real credentials are long; prose such as "missing bearer token" is kept. */
            if (end - start >= 12) {
                mask_range(s, len, start, end);
                len = strlen(s);
            }
        }
        if (s[i] == '"') {
            for (size_t k = 0; k < sizeof(json_keys) / sizeof(json_keys[0]); k++) {
                size_t kl = strlen(json_keys[k]);
                if (strncasecmp(s + i + 1, json_keys[k], kl) != 0 || s[i + 1 + kl] != '"')
                    continue;
                size_t p = i + 2 + kl;
                while (p < len && isspace((unsigned char)s[p]))
                    p++;
                if (p >= len || s[p] != ':')
                    continue;
                p++;
                while (p < len && isspace((unsigned char)s[p]))
                    p++;
                if (p >= len || s[p] != '"')
                    continue;
                size_t start = p + 1, end = start;
                while (end < len && s[end] != '"') {
                    if (s[end] == '\\' && end + 1 < len)
                        end++;
                    end++;
                }
                if (end > start && !(end - start == 3 && memcmp(s + start, "***", 3) == 0)) {
                    mask_range(s, len, start, end);
                    len = strlen(s);
                }
            }
        }
    }
    return len;
}

void ferry_log(ferry_log_level_t level, const char *fmt, ...)
{
    static const char *const lname[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    pthread_mutex_lock(&log_mu);
    if (log_level < 0)
        log_level = level_from_env();
    int min = log_level;
    pthread_mutex_unlock(&log_mu);
    if ((int)level < min || level >= FERRY_LOG_OFF)
        return;

    char line[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     lname[level], log_ident);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = ferry_log_mask_secrets(line);
    line[len++] = '\n';
    line[len] = '\0';

    pthread_mutex_lock(&log_mu);
    ssize_t w = write(STDERR_FILENO, line, len);
    if (log_fd >= 0)
        w = write(log_fd, line, len);
    (void)w;
    pthread_mutex_unlock(&log_mu);
}
