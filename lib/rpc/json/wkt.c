/*
 * Text forms of google.protobuf.Timestamp (RFC 3339) and Duration ("1.5s"), as the
 * proto3 JSON mapping defines them. Pure functions on integers and strings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json_internal.h"

/* Days since 1970-01-01 of a proleptic Gregorian date. Years are shifted to start in
 * March so the leap day is the last day of the (shifted) year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Writes ".fff", ".ffffff" or ".fffffffff" (or nothing) for |nanos| in [0, 1e9). */
static void format_fraction(int32_t nanos, char *out, size_t cap)
{
    if (nanos == 0)
        out[0] = '\0';
    else if (nanos % 1000000 == 0)
        snprintf(out, cap, ".%03" PRId32, nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(out, cap, ".%06" PRId32, nanos / 1000);
    else
        snprintf(out, cap, ".%09" PRId32, nanos);
}

int ferry_json_format_timestamp(int64_t seconds, int32_t nanos, char out[40])
{
    if (seconds < JSON_TS_MIN_SECONDS || seconds > JSON_TS_MAX_SECONDS || nanos < 0 || nanos > 999999999)
        return -1;
    int64_t days = seconds / 86400;
    int64_t rem = seconds % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    char frac[12];
    format_fraction(nanos, frac, sizeof(frac));
    /* Every field is range-checked above (year 1..9999), so 40 bytes always fit; the
     * compiler cannot prove it from int ranges, hence the explicit bounds. */
    unsigned yy = (unsigned)y % 10000u, mm = (unsigned)m % 100u, dd = (unsigned)d % 100u;
    unsigned hh = (unsigned)(rem / 3600) % 100u, mi = (unsigned)(rem / 60 % 60), ss = (unsigned)(rem % 60);
    snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u%.10sZ", yy, mm, dd, hh, mi, ss, frac);
    return 0;
}

/* Reads exactly |n| decimal digits at *p; -1 if any is not a digit. */
static int read_digits(const char **p, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Reads ".d{1,9}" if present: nanos scaled to 9 digits. */
static int read_fraction(const char **p, int32_t *nanos)
{
    *nanos = 0;
    if (**p != '.')
        return 0;
    (*p)++;
    int n = 0;
    int32_t v = 0;
    while ((*p)[0] >= '0' && (*p)[0] <= '9') {
        if (++n > 9)
            return -1;
        v = v * 10 + ((*p)[0] - '0');
        (*p)++;
    }
    if (n == 0)
        return -1;
    for (; n < 9; n++)
        v *= 10;
    *nanos = v;
    return 0;
}

int ferry_json_parse_timestamp(const char *s, int64_t *seconds, int32_t *nanos)
{
    int64_t y, mo, d, h, mi, se, oh = 0, om = 0;
    int32_t ns;
    const char *p = s;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &se) || read_fraction(&p, &ns))
        return -1;
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    /* RFC 3339 allows second 60 for leap seconds; protobuf's Timestamp has none. */
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (int)mo) || h > 23 || mi > 59 || se > 59)
        return -1;
    int64_t secs = days_from_civil(y, (int)mo, (int)d) * 86400 + h * 3600 + mi * 60 + se;
    /* "10:00+02:00" is 08:00Z: subtract the offset. */
    secs -= sign * (oh * 3600 + om * 60);
    if (secs < JSON_TS_MIN_SECONDS || secs > JSON_TS_MAX_SECONDS)
        return -1;
    *seconds = secs;
    *nanos = ns;
    return 0;
}

int ferry_json_format_duration(int64_t seconds, int32_t nanos, char out[40])
{
    if (seconds < -JSON_DUR_MAX_SECONDS || seconds > JSON_DUR_MAX_SECONDS || nanos < -999999999 ||
        nanos > 999999999 || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0))
        return -1;
    int neg = seconds < 0 || nanos < 0;
    uint64_t s = (uint64_t)(seconds < 0 ? -seconds : seconds);
    char frac[12];
    format_fraction(nanos < 0 ? -nanos : nanos, frac, sizeof(frac));
    snprintf(out, 40, "%s%" PRIu64 "%ss", neg ? "-" : "", s, frac);
    return 0;
}

int ferry_json_parse_duration(const char *s, int64_t *seconds, int32_t *nanos)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    int n = 0;
    int64_t secs = 0;
    while (*p >= '0' && *p <= '9') {
        /* 12 digits hold the 315576000000 bound; more can only be out of range. */
        if (++n > 12)
            return -1;
        secs = secs * 10 + (*p - '0');
        p++;
    }
    int32_t ns;
    if (n == 0 || read_fraction(&p, &ns) || *p != 's' || p[1] != '\0' || secs > JSON_DUR_MAX_SECONDS)
        return -1;
    *seconds = neg ? -secs : secs;
    *nanos = neg ? -ns : ns;
    return 0;
}
