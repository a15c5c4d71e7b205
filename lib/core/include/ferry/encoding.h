/**
 * @file encoding.h
 * Hex and base64 (standard and URL-safe alphabets), with strict decoders: bad input
 * is refused, never skipped. Pure functions, no allocation.
 */
#ifndef FERRY_ENCODING_H
#define FERRY_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/** Writes 2*len lowercase hex digits + NUL into |out| (size >= 2*len+1). */
void ferry_hex_encode(const uint8_t *in, size_t len, char *out);

/**
 * Decodes exactly |hexlen| hex digits (either case) into |out| (size >= hexlen/2).
 * Returns the number of bytes, or -1 on odd length or a non-hex character.
 */
long ferry_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t out_size);

/** Bytes needed to base64-encode |len| bytes with padding, plus the NUL. */
#define FERRY_B64_ENCODED_SIZE(len) ((((len) + 2) / 3) * 4 + 1)

/**
 * Base64-encodes |len| bytes into |out| (size >= FERRY_B64_ENCODED_SIZE(len)).
 * |url| selects the URL-safe alphabet ('-', '_'); |pad| adds '=' padding.
 * Returns the encoded length (without NUL).
 */
size_t ferry_b64_encode(const uint8_t *in, size_t len, char *out, int url, int pad);

/**
 * Decodes base64 in either alphabet (a mix of both is accepted, as the Connect and
 * proto3 JSON specs ask), padding optional. |out| needs (len/4+1)*3 bytes.
 * Returns the decoded length, or -1 on an invalid character, bad padding or a
 * dangling single character.
 */
long ferry_b64_decode(const char *in, size_t len, uint8_t *out, size_t out_size);

/** Constant-time comparison of two equal-length buffers: 1 if equal, 0 otherwise. */
int ferry_ct_equal(const void *a, const void *b, size_t len);

#endif
