#include "client_util_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ferry/encoding.h"
#include "ferry/hash.h"

uint32_t ferry_rpc_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t max_ms, uint64_t rnd)
{
    uint64_t ceiling = base_ms;
    for (unsigned i = 0; i < attempt && ceiling < max_ms; i++)
        ceiling *= 2;
    if (ceiling > max_ms)
        ceiling = max_ms;
    /* Full jitter: uniform in [0, ceiling]. */
    return (uint32_t)(rnd % (ceiling + 1));
}

int ferry_rpc_pin_from_hex(const char *hex, char *out, size_t size)
{
    char digits[FERRY_SHA256_HEX_LEN + 1];
    uint8_t raw[FERRY_SHA256_LEN];
    size_t n = 0;
    int rc = -1;
    if (hex == NULL || size < 8 + FERRY_B64_ENCODED_SIZE(FERRY_SHA256_LEN))
        goto out;
    for (const char *p = hex; *p != '\0'; p++) {
        if (*p == ':')
            continue;
        if (n == FERRY_SHA256_HEX_LEN)
            goto out;
        digits[n++] = *p;
    }
    if (n != FERRY_SHA256_HEX_LEN)
        goto out;
    if (ferry_hex_decode(digits, n, raw, sizeof(raw)) != FERRY_SHA256_LEN)
        goto out;
    /* A prefix: the base64 encoder below writes the rest and the NUL. */
    memcpy(out, "sha256//", 8); // NOLINT(bugprone-not-null-terminated-result)
    ferry_b64_encode(raw, sizeof(raw), out + 8, 0, 1);
    rc = 0;
out:
    return rc;
}

void ferry_rpc_format_grpc_timeout(uint64_t ms, char out[16])
{
    /* At most 8 digits: the finest unit that fits, rounded up (a coarser unit never
     * shortens the deadline). */
    static const struct {
        uint64_t per_ms_div; /* how many ms in one unit */
        char unit;
    } units[] = {{1, 'm'}, {1000, 'S'}, {60000, 'M'}, {3600000, 'H'}};
    if (ms < 100000000ull) {
        snprintf(out, 16, "%" PRIu64 "m", ms);
        return;
    }
    for (size_t i = 1; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t v = (ms + units[i].per_ms_div - 1) / units[i].per_ms_div;
        if (v < 100000000ull) {
            snprintf(out, 16, "%" PRIu64 "%c", v, units[i].unit);
            return;
        }
    }
    snprintf(out, 16, "99999999H");
}
