#include "ferry/rpc.h"

void ferry_envelope_write_header(uint8_t out[FERRY_ENVELOPE_HEADER_LEN], uint8_t flags, uint32_t len)
{
    out[0] = flags;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

ferry_envelope_status_t ferry_envelope_next(const uint8_t *buf, size_t len, uint32_t max_len,
                                            ferry_envelope_t *out, size_t *consumed)
{
    *consumed = 0;
    if (len < FERRY_ENVELOPE_HEADER_LEN)
        return FERRY_ENVELOPE_NEED_MORE;
    uint32_t n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
    /* The prefix is checked against the cap before the payload is awaited, so a lying
     * prefix can never make a reader allocate or wait for gigabytes. */
    if (n > max_len)
        return FERRY_ENVELOPE_TOO_LARGE;
    if (len - FERRY_ENVELOPE_HEADER_LEN < n)
        return FERRY_ENVELOPE_NEED_MORE;
    out->flags = buf[0];
    out->len = n;
    out->data = buf + FERRY_ENVELOPE_HEADER_LEN;
    *consumed = FERRY_ENVELOPE_HEADER_LEN + (size_t)n;
    return FERRY_ENVELOPE_OK;
}
