/*
 * Fuzz target for the agent's manifest verifier (agent/daemon/verify.c). Each input is
 * checked twice: as it is under a signature that cannot match (it must be refused as
 * E_SIGNATURE_INVALID before anything is decoded), and signed for real with the
 * target's own key, so the decoder and every later check see arbitrary bytes. A
 * manifest that passes must satisfy what the verifier promises (fresh, 64-digit
 * SHA-256, a size, parts known to the engine); every refusal must carry a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"
#include "ferry/fs.h"
#include "ferry/sign.h"
#include "ferry/version.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1796292000000LL

static ferry_signer_t *g_signer;
static agentd_key_t g_key;

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "agentd_verify_fuzz: %s: %s\n", what, detail);
    abort();
}

static void init_key(void)
{
    char dir[256], pem[300];
    ferry_err_t e = {0};
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/ferry-verify-fuzz-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        fail("mkdtemp", dir);
    snprintf(pem, sizeof(pem), "%s/key.pem", dir);
    if (ferry_sign_keygen_file(pem, &e) != FERRY_OK || (g_signer = ferry_signer_load(pem, &e)) == NULL)
        fail("signing key", e.msg);
    ferry_fs_rm_rf(dir, NULL);
    snprintf(g_key.key_id, sizeof(g_key.key_id), "fuzz-key");
    ferry_signer_public_key(g_signer, g_key.pub);
}

static bool known_code(ferry_err_code_t rc)
{
    return rc == FERRY_OK || rc == FERRY_E_SIGNATURE_INVALID || rc == FERRY_E_PACKAGE_INVALID ||
           rc == FERRY_E_MANIFEST_EXPIRED || rc == FERRY_E_DOWNGRADE_REFUSED;
}

static void check_passed(const agentd_manifest_t *m, const agentd_expect_t *ex)
{
    if (strlen(m->sha256) != 64 || strspn(m->sha256, "0123456789abcdef") != 64)
        fail("accepted a manifest without a lower-case SHA-256", m->sha256);
    if (m->size == 0)
        fail("accepted a manifest without a size", m->version);
    if (m->expires_ms <= ex->now_ms)
        fail("accepted an expired manifest", m->version);
    if (m->version[0] == '\0')
        fail("accepted a manifest without a version", m->sha256);
    if ((m->parts & ~(unsigned)(FERRY_PART_SERVER | FERRY_PART_CLIENT | FERRY_PART_SQL_SCHEMA |
                                FERRY_PART_SQL_DATA)) != 0)
        fail("unknown part bits", m->version);
    if (ex->version[0] != '\0' && strcmp(m->version, ex->version) != 0)
        fail("accepted another version", m->version);
    if (ex->sha256[0] != '\0' && strcmp(m->sha256, ex->sha256) != 0)
        fail("accepted another SHA-256", m->sha256);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_signer == NULL)
        init_key();
    uint8_t sig[FERRY_ED25519_SIG_LEN];
    ferry_err_t e = {0};
    agentd_manifest_t out;
    /* Permissive (offline, nothing announced), strict (a task of this node), and
     * offline below an installed version (anti-rollback). */
    const agentd_expect_t expects[3] = {
        {.task_id = "",
         .node_code = "",
         .customer_code = "cust-1",
         .version = "",
         .sha256 = "",
         .installed_version = "",
         .now_ms = NOW_MS},
        {.task_id = "task-1",
         .node_code = "node-1",
         .customer_code = "cust-1",
         .version = "1.25.12.13(12521)",
         .sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         .size = 123456,
         .installed_version = "1.25.12.12(12400)",
         .now_ms = NOW_MS},
        {.task_id = "",
         .node_code = "",
         .customer_code = "cust-1",
         .version = "",
         .sha256 = "",
         .installed_version = "1.25.12.13(12521)",
         .now_ms = NOW_MS},
    };

    /* 1. Unsigned: refused before decoding, whatever the bytes are. */
    memset(sig, 0x5a, sizeof(sig));
    ferry_err_code_t rc =
        agentd_verify_manifest(&g_key, 1, "fuzz-key", data, size, sig, sizeof(sig), &expects[1], &out, &e);
    if (rc != FERRY_E_SIGNATURE_INVALID)
        fail("a wrong signature was not refused", ferry_err_name(rc));

    /* 2. Signed with the pinned key: the decoder and the rules get the bytes. */
    if (size == 0 || ferry_signer_sign(g_signer, data, size, sig, &e) != FERRY_OK)
        return 0;
    for (size_t i = 0; i < 3; i++) {
        memset(&e, 0, sizeof(e));
        rc = agentd_verify_manifest(&g_key, 1, "fuzz-key", data, size, sig, sizeof(sig), &expects[i], &out,
                                    &e);
        if (!known_code(rc))
            fail("unexpected code", ferry_err_name(rc));
        if (rc == FERRY_OK) {
            check_passed(&out, &expects[i]);
            ferry_version_t v, inst;
            if (i == 2 && !out.rollback && ferry_version_parse(out.version, &v, NULL) == FERRY_OK &&
                ferry_version_parse(expects[i].installed_version, &inst, NULL) == FERRY_OK &&
                ferry_version_compare(&v, &inst) < 0)
                fail("accepted a downgrade that is not a rollback", out.version);
        } else if (e.code != rc || e.msg[0] == '\0')
            fail("refusal without a message", ferry_err_name(rc));
    }
    /* Same bytes, another key id: never accepted. */
    rc = agentd_verify_manifest(&g_key, 1, "other-key", data, size, sig, sizeof(sig), &expects[0], &out, &e);
    if (rc != FERRY_E_SIGNATURE_INVALID)
        fail("an unpinned key id was not refused", ferry_err_name(rc));
    return 0;
}
