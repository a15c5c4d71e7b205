/*
 * agent_dl_bench: one package download exactly as the agent daemon makes it (not a
 * test): agentd_download() (agent/daemon/download.h) with ONE source, over the
 * runtime's transfer client (HTTP/1.1 for http:// URLs), into OUT (OUT.part while it
 * grows, SHA-256 computed while the bytes arrive, fdatasync + rename + fsync of the
 * directory when size and digest match). bench/agent_bench.sh times it against
 * `curl -o FILE URL && sha256sum FILE` on the same signed URL.
 *
 * Usage: agent_dl_bench URL SIZE SHA256 OUT
 * Output (stdout, one line): seconds=.. bytes=.. mb_per_s=.. attempts=.. (MB = 10^6 bytes;
 * seconds is agentd_download's own wall time, stats.seconds). OUT is left in place
 * (the caller deletes it). Exit status 0 when the file is complete and verified, 1 when
 * the download failed (the error on stderr), 2 on usage errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "download.h"
#include "ferry/err.h"
#include "ferry/transfer.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: agent_dl_bench URL SIZE SHA256 OUT\n");
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long long size = strtoull(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != '\0' || size == 0) {
        fprintf(stderr, "agent_dl_bench: SIZE must be a positive number of bytes, got '%s'\n", argv[2]);
        return 2;
    }
    ferry_err_t err = {0};
    ferry_xfer_config_t cfg = {.user_agent = "agent_dl_bench"};
    ferry_xfer_t *x = ferry_xfer_new(&cfg, &err);
    if (x == NULL) {
        fprintf(stderr, "agent_dl_bench: %s\n", err.msg);
        return 1;
    }
    agentd_source_t src = {.name = "primary", .url = argv[1], .priority = 0};
    agentd_dl_stats_t st;
    ferry_err_code_t rc =
        agentd_download(x, &src, 1, argv[4], (uint64_t)size, argv[3], NULL, NULL, NULL, &st, &err);
    ferry_xfer_free(x);
    if (rc != FERRY_OK) {
        fprintf(stderr, "agent_dl_bench: %s (%s)\n", err.msg, ferry_err_name(rc));
        return 1;
    }
    printf("seconds=%.6f bytes=%" PRIu64 " mb_per_s=%.1f attempts=%u\n", st.seconds, st.bytes,
           st.seconds > 0 ? (double)st.bytes / st.seconds / 1e6 : 0.0, st.attempts);
    return 0;
}
