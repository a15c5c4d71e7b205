/**
 * @file client_util_internal.h
 * Pure helpers of the client runtime (no I/O), unit-tested directly: retry backoff,
 * certificate pin conversion, timeout header formatting.
 */
#ifndef FERRY_RPC_CLIENT_UTIL_INTERNAL_H
#define FERRY_RPC_CLIENT_UTIL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/**
 * Full-jitter backoff before retry number |attempt| (0 = the first retry):
 * a value in [0, min(max_ms, base_ms * 2^attempt)] chosen by |rnd| (uniform 64-bit).
 */
uint32_t ferry_rpc_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t max_ms, uint64_t rnd);

/**
 * Converts a hex SHA-256 (64 digits; ':' separators allowed) of a certificate's SPKI
 * into libcurl's pin form "sha256//<base64>" in |out| (>= 60 bytes). Returns 0 or -1.
 */
int ferry_rpc_pin_from_hex(const char *hex, char *out, size_t size);

/** Formats a gRPC timeout header value (<= 8 digits + unit) for |ms| (> 0) into |out|. */
void ferry_rpc_format_grpc_timeout(uint64_t ms, char out[16]);

#endif
