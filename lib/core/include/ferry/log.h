/**
 * @file log.h
 * Process-wide logging to stderr and optionally a file. Every line passes through
 * ferry_log_mask_secrets(), so passwords in connection strings and bearer tokens
 * never reach a log or a diagnostic file. Thread-safe.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stddef.h>

typedef enum ferry_log_level {
    FERRY_LOG_DEBUG = 0,
    FERRY_LOG_INFO,
    FERRY_LOG_WARN,
    FERRY_LOG_ERROR,
    FERRY_LOG_OFF
} ferry_log_level_t;

/** Sets the minimum level printed (default INFO; FERRY_LOG_LEVEL=debug|info|warn|error overrides at first
 * use). */
void ferry_log_set_level(ferry_log_level_t level);

/** Also appends every line to |path| (created 0600). NULL stops file logging. Returns 0 or -1 with errno. */
int ferry_log_set_file(const char *path);

/** Prefix put on every line, e.g. the program name. Not copied: pass a string literal. */
void ferry_log_set_ident(const char *ident);

/** Logs one line at |level|; a trailing newline is added. */
void ferry_log(ferry_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define FERRY_DEBUG(...) ferry_log(FERRY_LOG_DEBUG, __VA_ARGS__)
#define FERRY_INFO(...)  ferry_log(FERRY_LOG_INFO, __VA_ARGS__)
#define FERRY_WARN(...)  ferry_log(FERRY_LOG_WARN, __VA_ARGS__)
#define FERRY_ERROR(...) ferry_log(FERRY_LOG_ERROR, __VA_ARGS__)

/**
 * Masks secrets in |s| in place: the values of `Password=`/`Pwd=` (connection strings,
 * up to `;`), `"password": "..."`, `"token": "..."`-style JSON members, and
 * `Bearer <token>`. Each masked value becomes `***` (shorter ones become as many `*`), so
 * the string never grows.
 * Returns the new length. Used for logs and for effective-config dumps.
 */
size_t ferry_log_mask_secrets(char *s);

#endif
