/**
 * @file version.h
 * Package versions in the seed's format `1.25.12.13(12521)`: four dot-separated
 * numbers and a build number in parentheses. Parsed strictly (no spaces, no signs,
 * no leading zeros except "0", each part < 2^32) and ordered numerically, part by part,
 * then by build.
 */
#ifndef FERRY_VERSION_H
#define FERRY_VERSION_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

typedef struct ferry_version {
    uint32_t major, minor, patch, revision;
    uint32_t build;
} ferry_version_t;

/** Longest canonical version string: 5 x 10 digits + 3 dots + 2 parens + NUL. */
#define FERRY_VERSION_STR_MAX 56

/** Parses |s|; FERRY_E_VERSION_INVALID with a message saying what is wrong otherwise. */
ferry_err_code_t ferry_version_parse(const char *s, ferry_version_t *out, ferry_err_t *err);

/** Formats |v| canonically into |buf| (size >= FERRY_VERSION_STR_MAX). */
void ferry_version_format(const ferry_version_t *v, char *buf, size_t size);

/** <0, 0, >0 as a orders before, equal to, after b. */
int ferry_version_compare(const ferry_version_t *a, const ferry_version_t *b);

/**
 * True if |s| is safe as a single path component (backup folder names, blob names):
 * a valid version string is; this also refuses "/", "..", NUL and control bytes.
 */
int ferry_version_is_path_safe(const char *s);

#endif
