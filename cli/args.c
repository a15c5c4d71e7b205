/* Command-line parsing and value parsers of the `ferry` CLI. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "ferry/model/states.h"

typedef struct global_spec {
    const char *name;
    bool takes_value;
} global_spec_t;

static const global_spec_t GLOBALS[] = {
    {"server", true},  {"token", true}, {"config", true}, {"ca-file", true},   {"pin-sha256", true},
    {"timeout", true}, {"json", false}, {"help", false},  {"insecure", false}, {NULL, false},
};

static void set_global(ferry_cli_globals_t *g, const char *name, const char *val)
{
    if (strcmp(name, "server") == 0)
        g->server = val;
    else if (strcmp(name, "token") == 0)
        g->token = val;
    else if (strcmp(name, "config") == 0)
        g->config = val;
    else if (strcmp(name, "ca-file") == 0)
        g->ca_file = val;
    else if (strcmp(name, "pin-sha256") == 0)
        g->pin_sha256 = val;
    else if (strcmp(name, "timeout") == 0)
        g->timeout = val;
    else if (strcmp(name, "json") == 0)
        g->json = true;
    else if (strcmp(name, "help") == 0)
        g->help = true;
    else if (strcmp(name, "insecure") == 0)
        g->insecure = true;
}

/* Splits "--name=value" / "--name" into name (copied into buf) and inline value. */
static bool split_flag(const char *tok, char *name, size_t size, const char **inline_val)
{
    const char *eq;
    size_t n;

    *inline_val = NULL;
    if (strncmp(tok, "--", 2) != 0 || tok[2] == '\0')
        return false;
    tok += 2;
    eq = strchr(tok, '=');
    n = eq ? (size_t)(eq - tok) : strlen(tok);
    if (n == 0 || n >= size)
        return false;
    memcpy(name, tok, n);
    name[n] = '\0';
    if (eq)
        *inline_val = eq + 1;
    return true;
}

static const global_spec_t *find_global(const char *name)
{
    for (size_t i = 0; GLOBALS[i].name; i++)
        if (strcmp(GLOBALS[i].name, name) == 0)
            return &GLOBALS[i];
    return NULL;
}

int ferry_cli_parse_leading_globals(int argc, char **argv, ferry_cli_globals_t *g, ferry_err_t *err)
{
    int i = 0;
    char name[64];
    const char *val;
    const global_spec_t *gs;

    while (i < argc) {
        if (strcmp(argv[i], "-h") == 0) {
            g->help = true;
            i++;
            continue;
        }
        if (!split_flag(argv[i], name, sizeof(name), &val) || (gs = find_global(name)) == NULL)
            break;
        if (gs->takes_value && val == NULL) {
            if (i + 1 >= argc) {
                ferry_err_set(err, FERRY_E_INVALID_ARG, "flag --%s needs a value", name);
                return -1;
            }
            val = argv[++i];
        } else if (!gs->takes_value && val != NULL) {
            ferry_err_set(err, FERRY_E_INVALID_ARG, "flag --%s takes no value", name);
            return -1;
        }
        set_global(g, name, val);
        i++;
    }
    return i;
}

ferry_err_code_t ferry_cli_parse(int argc, char **argv, const ferry_cli_flag_t *flags, size_t max_pos,
                                 ferry_cli_args_t *out, ferry_cli_globals_t *g, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char name[64];
    const char *val;
    bool only_pos = false;
    static const ferry_cli_flag_t no_flags[1] = {{0}};

    if (flags == NULL) /* a command without flags: one empty table, no NULL checks below */
        flags = no_flags;
    memset(out, 0, sizeof(*out));
    out->flags = flags;
    while (flags[out->n_flags].name) {
        if (out->n_flags + 1 >= FERRY_CLI_MAX_FLAGS) {
            rc = ferry_err_set(err, FERRY_E_INTERNAL, "too many flags in a command table");
            goto out;
        }
        out->n_flags++;
    }
    for (int i = 0; i < argc; i++) {
        const char *tok = argv[i];
        const global_spec_t *gs;
        size_t fi;

        if (!only_pos && strcmp(tok, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && strcmp(tok, "-h") == 0) {
            g->help = true;
            continue;
        }
        if (only_pos || !split_flag(tok, name, sizeof(name), &val)) {
            if (!only_pos && tok[0] == '-' && tok[1] != '\0') {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "unknown flag '%s'", tok);
                goto out;
            }
            if (out->n_pos >= max_pos || out->n_pos >= FERRY_CLI_MAX_POS) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "unexpected argument '%s'", tok);
                goto out;
            }
            out->pos[out->n_pos++] = tok;
            continue;
        }
        /* The table ends at its NULL name (fi == n_flags there). */
        for (fi = 0; flags[fi].name != NULL; fi++)
            if (strcmp(flags[fi].name, name) == 0)
                break;
        if (flags[fi].name == NULL) {
            if ((gs = find_global(name)) == NULL) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "unknown flag '--%s'", name);
                goto out;
            }
            if (gs->takes_value && val == NULL) {
                if (i + 1 >= argc) {
                    rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "flag --%s needs a value", name);
                    goto out;
                }
                val = argv[++i];
            } else if (!gs->takes_value && val != NULL) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "flag --%s takes no value", name);
                goto out;
            }
            set_global(g, name, val);
            continue;
        }
        if (flags[fi].kind == FERRY_CLI_FLAG_BOOL) {
            if (val != NULL) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "flag --%s takes no value", name);
                goto out;
            }
            out->set[fi] = true;
            continue;
        }
        if (val == NULL) {
            if (i + 1 >= argc) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "flag --%s needs a value", name);
                goto out;
            }
            val = argv[++i];
        }
        if (strlen(val) > FERRY_CLI_MAX_STR) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "value of --%s is too long", name);
            goto out;
        }
        out->set[fi] = true;
        if (flags[fi].kind == FERRY_CLI_FLAG_MULTI) {
            if (out->n_multi[fi] >= FERRY_CLI_MAX_MULTI) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "--%s given more than %d times", name,
                                   FERRY_CLI_MAX_MULTI);
                goto out;
            }
            out->multi[fi][out->n_multi[fi]++] = val;
        }
        out->str[fi] = val;
    }
    if (g->help)
        goto out;
    for (size_t fi = 0; fi < out->n_flags; fi++) {
        if (flags[fi].required && !out->set[fi]) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "missing required flag --%s", flags[fi].name);
            goto out;
        }
    }
out:
    return rc;
}

static long flag_index(const ferry_cli_args_t *a, const char *name)
{
    for (size_t i = 0; i < a->n_flags; i++)
        if (strcmp(a->flags[i].name, name) == 0)
            return (long)i;
    return -1;
}

const char *ferry_cli_arg(const ferry_cli_args_t *a, const char *name)
{
    long i = flag_index(a, name);
    return i < 0 ? NULL : a->str[i];
}

bool ferry_cli_arg_set(const ferry_cli_args_t *a, const char *name)
{
    long i = flag_index(a, name);
    return i >= 0 && a->set[i];
}

const char *const *ferry_cli_arg_multi(const ferry_cli_args_t *a, const char *name, size_t *n)
{
    long i = flag_index(a, name);
    if (i < 0) {
        *n = 0;
        return NULL;
    }
    *n = a->n_multi[i];
    return a->multi[i];
}

ferry_err_code_t ferry_cli_parse_duration_ms(const char *s, uint64_t *out_ms, ferry_err_t *err)
{
    char *end = NULL;
    unsigned long long v;
    uint64_t mult;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid duration '%s' (e.g. 30s, 500ms, 2m)",
                             s ? s : "");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid duration '%s'", s);
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid duration '%s' (e.g. 30s, 500ms, 2m)", s);
    if (v == 0 || v > UINT32_MAX / mult * 1000ull)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "duration '%s' out of range", s);
    *out_ms = v * mult;
    return FERRY_OK;
}

ferry_err_code_t ferry_cli_parse_size(const char *s, uint64_t *out, ferry_err_t *err)
{
    char *end = NULL;
    unsigned long long v;
    uint64_t mult = 1;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid size '%s'", s ? s : "");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid size '%s'", s);
    if (*end == 'K' || *end == 'k')
        mult = 1024;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024;
    else if (*end == 'G' || *end == 'g')
        mult = 1024ull * 1024 * 1024;
    else if (*end != '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid size '%s' (e.g. 4096, 64K, 8M)", s);
    if (*end != '\0' && end[1] != '\0' && strcasecmp(end + 1, "iB") != 0 && strcasecmp(end + 1, "B") != 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid size '%s'", s);
    if (v > (1ull << 40) / mult)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "size '%s' out of range", s);
    *out = v * mult;
    return FERRY_OK;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

ferry_err_code_t ferry_cli_parse_rfc3339(const char *s, int64_t *secs, int32_t *nanos, ferry_err_t *err)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    int32_t ns = 0;
    const char *p;

    if (s == NULL || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        goto bad;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        goto bad;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        goto bad;
    p = s + 19;
    if (*p == '.') {
        int n = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (n < 9) {
                ns = ns * 10 + (*p - '0');
                n++;
            }
            p++;
        }
        if (n == 0)
            goto bad;
        while (n++ < 9)
            ns *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            goto bad;
        p += 6;
    } else {
        goto bad;
    }
    if (*p != '\0')
        goto bad;
    if (se == 60)
        se = 59;
    *secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - sign * (oh * 3600 + om * 60);
    *nanos = ns;
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid RFC 3339 time '%s' (e.g. 2025-12-31T18:00:00Z)",
                         s ? s : "");
}

/* Matches |s| against NAME, PREFIX_NAME, case-insensitively. */
static bool enum_match(const char *s, const char *prefix, const char *name)
{
    size_t pl = strlen(prefix);
    if (strcasecmp(s, name) == 0)
        return true;
    return strncasecmp(s, prefix, pl) == 0 && strcasecmp(s + pl, name) == 0;
}

typedef struct enum_name {
    int value;
    const char *name;
} enum_name_t;

static const enum_name_t ENVS[] = {{1, "DEV"}, {2, "TEST"}, {3, "UAT"}, {4, "PROD"}, {0, NULL}};
static const enum_name_t POLICIES[] = {{1, "FORCED"}, {2, "OPTIONAL"}, {0, NULL}};
static const enum_name_t TYPES[] = {{1, "FULL"}, {2, "INCREMENTAL"}, {0, NULL}};
static const enum_name_t ROLES[] = {{1, "SYSADMIN"}, {2, "IMPLEMENTER"}, {0, NULL}};
static const enum_name_t STATES[] = {
    {FERRY_STATE_PENDING, "PENDING"},
    {FERRY_STATE_DOWNLOADING, "DOWNLOADING"},
    {FERRY_STATE_VERIFYING, "VERIFYING"},
    {FERRY_STATE_WAITING_USER, "WAITING_USER"},
    {FERRY_STATE_STOPPING_SERVICE, "STOPPING_SERVICE"},
    {FERRY_STATE_BACKING_UP, "BACKING_UP"},
    {FERRY_STATE_INSTALLING_SERVER, "INSTALLING_SERVER"},
    {FERRY_STATE_INSTALLING_CLIENT, "INSTALLING_CLIENT"},
    {FERRY_STATE_RUNNING_SQL, "RUNNING_SQL"},
    {FERRY_STATE_STARTING_SERVICE, "STARTING_SERVICE"},
    {FERRY_STATE_SUCCEEDED, "SUCCEEDED"},
    {FERRY_STATE_FAILED, "FAILED"},
    {FERRY_STATE_ROLLBACKING, "ROLLBACKING"},
    {FERRY_STATE_ROLLBACKED, "ROLLBACKED"},
    {0, NULL},
};

static int enum_parse(const char *s, const char *prefix, const enum_name_t *t)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; t[i].name; i++)
        if (enum_match(s, prefix, t[i].name))
            return t[i].value;
    return -1;
}

static const char *enum_name(int v, const enum_name_t *t)
{
    for (size_t i = 0; t[i].name; i++)
        if (t[i].value == v)
            return t[i].name;
    return "UNSPECIFIED";
}

int ferry_cli_parse_env(const char *s)
{
    return enum_parse(s, "ENVIRONMENT_", ENVS);
}

int ferry_cli_parse_policy(const char *s)
{
    return enum_parse(s, "RELEASE_POLICY_", POLICIES);
}

int ferry_cli_parse_package_type(const char *s)
{
    return enum_parse(s, "PACKAGE_TYPE_", TYPES);
}

int ferry_cli_parse_role(const char *s)
{
    return enum_parse(s, "ROLE_", ROLES);
}

int ferry_cli_parse_task_state(const char *s)
{
    char *end = NULL;
    long v;

    if (s == NULL)
        return -1;
    if (isdigit((unsigned char)s[0])) {
        v = strtol(s, &end, 10);
        if (*end != '\0')
            return -1;
        for (size_t i = 0; STATES[i].name; i++)
            if (STATES[i].value == v)
                return (int)v;
        return -1;
    }
    return enum_parse(s, "TASK_STATE_", STATES);
}

const char *ferry_cli_env_name(int v)
{
    return enum_name(v, ENVS);
}

const char *ferry_cli_task_state_name(int v)
{
    return enum_name(v, STATES);
}

bool ferry_cli_task_state_final(int v)
{
    return ferry_state_is_terminal((ferry_state_t)v);
}
