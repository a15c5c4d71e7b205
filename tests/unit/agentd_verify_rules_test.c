/*
 * The manifest verifier (agent/daemon/verify.c): every check of verify.h, in its order,
 * with a real Ed25519 key made for the test and PackageManifest messages packed with
 * protobuf-c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"
#include "ferry/fs.h"
#include "ferry/sign.h"
#include "ferry/v1/common.pb-c.h"
#include "verify.h"

#define NOW_MS    1796292000000LL /* 2026-12-03T10:00:00Z */
#define DAY_MS    86400000LL
#define VERSION   "1.25.12.13(12521)"
#define OLDER     "1.25.12.12(12400)"
#define NEWER     "1.25.12.14(12600)"
#define PKG_SIZE  123456u
#define PKG_SHA   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OTHER_SHA "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static char g_dir[256];
static ferry_signer_t *g_signer, *g_other; /* g_other's key is pinned as "k-other" */
static agentd_key_t g_keys[2];

/* What goes into a test manifest; build() packs it. */
typedef struct spec {
    const char *version, *sha256, *task_id, *node_code, *customer_code;
    uint64_t size;
    int64_t expires_ms; /* 0: no expires_at */
    int kind;           /* Ferry__V1__TaskKind */
    const int *parts;   /* PartKind values, ended by 0 */
} spec_t;

static const int all_parts[] = {
    FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP, FERRY__V1__PART_KIND__PART_KIND_CLIENT_ZIP,
    FERRY__V1__PART_KIND__PART_KIND_SCHEMA_SQL, FERRY__V1__PART_KIND__PART_KIND_DATA_SQL,
    FERRY__V1__PART_KIND__PART_KIND_HOOKS,      0};

static spec_t base_spec(void)
{
    spec_t s = {.version = VERSION,
                .sha256 = PKG_SHA,
                .task_id = "task-1",
                .node_code = "node-1",
                .customer_code = "cust-1",
                .size = PKG_SIZE,
                .expires_ms = NOW_MS + DAY_MS,
                .kind = FERRY__V1__TASK_KIND__TASK_KIND_UPDATE,
                .parts = all_parts};
    return s;
}

static agentd_expect_t base_expect(void)
{
    agentd_expect_t e = {.task_id = "task-1",
                         .node_code = "node-1",
                         .customer_code = "cust-1",
                         .version = VERSION,
                         .sha256 = PKG_SHA,
                         .size = PKG_SIZE,
                         .installed_version = OLDER,
                         .now_ms = NOW_MS};
    return e;
}

/* Packs |s| into a new buffer (free()). */
static uint8_t *build(const spec_t *s, size_t *len)
{
    Ferry__V1__PackageManifest m = FERRY__V1__PACKAGE_MANIFEST__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                signed_at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Ferry__V1__PackagePart parts[8], *pp[8];
    size_t n = 0;
    m.version = (char *)s->version;
    m.sha256 = (char *)s->sha256;
    m.task_id = (char *)s->task_id;
    m.node_code = (char *)s->node_code;
    m.customer_code = (char *)s->customer_code;
    m.size = s->size;
    m.task_kind = (Ferry__V1__TaskKind)s->kind;
    signed_at.seconds = (NOW_MS - 60000) / 1000;
    m.signed_at = &signed_at;
    if (s->expires_ms != 0) {
        exp.seconds = s->expires_ms / 1000;
        exp.nanos = (int32_t)(s->expires_ms % 1000) * 1000000;
        m.expires_at = &exp;
    }
    for (; s->parts != NULL && s->parts[n] != 0 && n < 8; n++) {
        ferry__v1__package_part__init(&parts[n]);
        parts[n].kind = (Ferry__V1__PartKind)s->parts[n];
        parts[n].name = (char *)"part";
        parts[n].size = 10;
        parts[n].sha256 = (char *)PKG_SHA;
        pp[n] = &parts[n];
    }
    m.n_parts = n;
    m.parts = pp;
    *len = ferry__v1__package_manifest__get_packed_size(&m);
    uint8_t *buf = malloc(*len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(ferry__v1__package_manifest__pack(&m, buf), *len);
    return buf;
}

static void sign_with(const ferry_signer_t *s, const uint8_t *buf, size_t len,
                      uint8_t sig[FERRY_ED25519_SIG_LEN])
{
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_signer_sign(s, buf, len, sig, &e), FERRY_OK);
}

/* Builds |s|, signs it with the main key and verifies it against |ex|. */
static ferry_err_code_t check_spec(const spec_t *s, const agentd_expect_t *ex, agentd_manifest_t *out,
                                   ferry_err_t *err)
{
    size_t len;
    uint8_t sig[FERRY_ED25519_SIG_LEN];
    uint8_t *buf = build(s, &len);
    sign_with(g_signer, buf, len, sig);
    ferry_err_code_t rc =
        agentd_verify_manifest(g_keys, 2, "k-main", buf, len, sig, sizeof(sig), ex, out, err);
    free(buf);
    return rc;
}

#define ASSERT_FAILS(rc_, err_, code_, text_)                                                                \
    do {                                                                                                     \
        ck_assert_msg((rc_) == (code_), "got %s (%s), want %s", ferry_err_name(rc_), (err_).msg,             \
                      ferry_err_name(code_));                                                                \
        ck_assert_int_eq((err_).code, (code_));                                                              \
        ck_assert_msg(strstr((err_).msg, (text_)) != NULL, "message '%s' lacks '%s'", (err_).msg, (text_));  \
    } while (0)

START_TEST(happy_path_fills_out)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    agentd_manifest_t out;
    ferry_err_t e = {0};
    memset(&out, 0xAB, sizeof(out));
    ck_assert_msg(check_spec(&s, &ex, &out, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_str_eq(out.version, VERSION);
    ck_assert_str_eq(out.sha256, PKG_SHA);
    ck_assert_uint_eq(out.size, PKG_SIZE);
    ck_assert(!out.rollback);
    ck_assert_int_eq(out.expires_ms, NOW_MS + DAY_MS);
    ck_assert_uint_eq(out.parts,
                      FERRY_PART_SERVER | FERRY_PART_CLIENT | FERRY_PART_SQL_SCHEMA | FERRY_PART_SQL_DATA);

    /* out may be NULL; empty expectations take the manifest's values; same version again is fine. */
    ex.version = "";
    ex.sha256 = "";
    ex.size = 0;
    ex.installed_version = VERSION;
    ck_assert_int_eq(check_spec(&s, &ex, NULL, &e), FERRY_OK);
    ex.installed_version = "";
    ck_assert_int_eq(check_spec(&s, &ex, NULL, &e), FERRY_OK);

    /* Only some parts. */
    static const int two[] = {FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP,
                              FERRY__V1__PART_KIND__PART_KIND_DATA_SQL, 0};
    s.parts = two;
    ck_assert_int_eq(check_spec(&s, &ex, &out, &e), FERRY_OK);
    ck_assert_uint_eq(out.parts, FERRY_PART_SERVER | FERRY_PART_SQL_DATA);

    /* The second pinned key verifies its own manifests. */
    size_t len;
    uint8_t sig[FERRY_ED25519_SIG_LEN];
    uint8_t *buf = build(&s, &len);
    sign_with(g_other, buf, len, sig);
    ck_assert_int_eq(agentd_verify_manifest(g_keys, 2, "k-other", buf, len, sig, sizeof(sig), &ex, &out, &e),
                     FERRY_OK);
    free(buf);
}
END_TEST

START_TEST(unknown_key_id_is_refused)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    ferry_err_t e = {0};
    size_t len;
    uint8_t sig[FERRY_ED25519_SIG_LEN];
    uint8_t *buf = build(&s, &len);
    sign_with(g_signer, buf, len, sig);
    ferry_err_code_t rc =
        agentd_verify_manifest(g_keys, 2, "k-rotated", buf, len, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "k-rotated");
    ck_assert_ptr_nonnull(strstr(e.msg, "not pinned"));
    rc = agentd_verify_manifest(g_keys, 2, NULL, buf, len, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "not pinned");
    rc = agentd_verify_manifest(g_keys, 2, "", buf, len, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "not pinned");
    rc = agentd_verify_manifest(NULL, 0, "k-main", buf, len, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "not pinned");
    /* A prefix of a pinned id is not that id. */
    rc = agentd_verify_manifest(g_keys, 2, "k-mai", buf, len, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "not pinned");
    /* Signed by the other pinned key but claiming the main one. */
    sign_with(g_other, buf, len, sig);
    rc = agentd_verify_manifest(g_keys, 2, "k-main", buf, len, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "k-main");
    free(buf);
}
END_TEST

START_TEST(flipped_bits_are_refused)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    ferry_err_t e = {0};
    size_t len;
    uint8_t sig[FERRY_ED25519_SIG_LEN];
    uint8_t *buf = build(&s, &len);
    sign_with(g_signer, buf, len, sig);
    ck_assert_int_eq(agentd_verify_manifest(g_keys, 2, "k-main", buf, len, sig, sizeof(sig), &ex, NULL, &e),
                     FERRY_OK);
    /* One bit of the manifest, anywhere. */
    for (size_t i = 0; i < len; i += 7) {
        buf[i] ^= 0x10;
        ferry_err_code_t rc =
            agentd_verify_manifest(g_keys, 2, "k-main", buf, len, sig, sizeof(sig), &ex, NULL, &e);
        ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "does not verify");
        buf[i] ^= 0x10;
    }
    /* One bit of the signature. */
    for (size_t i = 0; i < sizeof(sig); i += 5) {
        sig[i] ^= 0x01;
        ferry_err_code_t rc =
            agentd_verify_manifest(g_keys, 2, "k-main", buf, len, sig, sizeof(sig), &ex, NULL, &e);
        ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "does not verify");
        sig[i] ^= 0x01;
    }
    /* Truncated signature or manifest, missing signature. */
    ferry_err_code_t rc =
        agentd_verify_manifest(g_keys, 2, "k-main", buf, len, sig, sizeof(sig) - 1, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "63 bytes");
    rc = agentd_verify_manifest(g_keys, 2, "k-main", buf, len - 1, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "does not verify");
    rc = agentd_verify_manifest(g_keys, 2, "k-main", buf, len, NULL, 0, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "signature");
    rc = agentd_verify_manifest(g_keys, 2, "k-main", NULL, 0, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "empty");
    /* Signature first: a forged manifest that is also expired and for another task. */
    s.expires_ms = NOW_MS - 1000;
    s.task_id = "task-9";
    uint8_t *bad = build(&s, &len);
    rc = agentd_verify_manifest(g_keys, 2, "k-main", bad, len, sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "does not verify");
    free(bad);
    free(buf);
}
END_TEST

START_TEST(signed_garbage_is_package_invalid)
{
    agentd_expect_t ex = base_expect();
    ferry_err_t e = {0};
    uint8_t sig[FERRY_ED25519_SIG_LEN];
    /* Not protobuf at all. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    sign_with(g_signer, garbage, sizeof(garbage), sig);
    ferry_err_code_t rc = agentd_verify_manifest(g_keys, 2, "k-main", garbage, sizeof(garbage), sig,
                                                 sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "PackageManifest");
    /* Well-formed wire data that protobuf-c would truncate: version "1.2\0evil". */
    static const uint8_t nul[] = {0x0a, 0x08, '1', '.', '2', 0x00, 'e', 'v', 'i', 'l'};
    sign_with(g_signer, nul, sizeof(nul), sig);
    rc = agentd_verify_manifest(g_keys, 2, "k-main", nul, sizeof(nul), sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "PackageManifest");
    /* A length running past the end. */
    static const uint8_t trunc[] = {0x22, 0x40, 'a', 'b'};
    sign_with(g_signer, trunc, sizeof(trunc), sig);
    rc = agentd_verify_manifest(g_keys, 2, "k-main", trunc, sizeof(trunc), sig, sizeof(sig), &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "PackageManifest");
}
END_TEST

START_TEST(expired_or_missing_expiry_is_refused)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    ferry_err_t e = {0};
    s.expires_ms = NOW_MS - 3600 * 1000;
    ferry_err_code_t rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_MANIFEST_EXPIRED, "expired at 2026-12-03T09:00:00Z");
    s.expires_ms = NOW_MS; /* "later than now": equal is expired */
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_MANIFEST_EXPIRED, "expired at 2026-12-03T10:00:00Z");
    s.expires_ms = NOW_MS + 1;
    ck_assert_int_eq(check_spec(&s, &ex, NULL, &e), FERRY_OK);
    s.expires_ms = 0;
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_MANIFEST_EXPIRED, "no expiry");
    /* Freshness before binding: expired and for another task says expired. */
    s.expires_ms = NOW_MS - 1;
    s.task_id = "task-9";
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_MANIFEST_EXPIRED, "expired at");
}
END_TEST

START_TEST(other_task_or_node_is_refused)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    ferry_err_t e = {0};
    s.task_id = "task-2";
    ferry_err_code_t rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "signed for task task-2, not task-1");
    s = base_spec();
    s.node_code = "node-2";
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "signed for node node-2, not node-1");
    /* A task's manifest is not an offline one. */
    s = base_spec();
    ex.task_id = "";
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "signed for task task-1");
    /* Binding before identity: another task's manifest of another version says task. */
    s = base_spec();
    s.task_id = "task-2";
    s.version = NEWER;
    ex = base_expect();
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "task-2");
}
END_TEST

START_TEST(offline_manifest_customer)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    ferry_err_t e = {0};
    s.task_id = "";
    s.node_code = "";
    ex.task_id = "";
    ex.node_code = "";
    /* Limited to this customer, or not limited: accepted offline. */
    ck_assert_msg(check_spec(&s, &ex, NULL, &e) == FERRY_OK, "%s", e.msg);
    s.customer_code = "";
    ck_assert_msg(check_spec(&s, &ex, NULL, &e) == FERRY_OK, "%s", e.msg);
    /* Limited to another customer. */
    s.customer_code = "cust-2";
    ferry_err_code_t rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "signed for customer cust-2, not cust-1");
    /* An offline manifest is not accepted for a server task. */
    s.customer_code = "cust-1";
    ex = base_expect();
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_SIGNATURE_INVALID, "task-1");
}
END_TEST

START_TEST(wrong_version_size_or_sha_is_package_invalid)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    ferry_err_t e = {0};
    s.version = NEWER;
    ferry_err_code_t rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "version");
    s = base_spec();
    s.size = PKG_SIZE + 1;
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "123457 bytes");
    s = base_spec();
    s.sha256 = OTHER_SHA;
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "SHA-256");
    /* Without announcements the manifest must still be well formed. */
    ex.version = "";
    ex.sha256 = "";
    ex.size = 0;
    s = base_spec();
    s.sha256 = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "SHA-256");
    s = base_spec();
    s.size = 0;
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "size");
    s = base_spec();
    s.version = "1.2.3";
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "version");
    /* Identity before anti-rollback: an old version the task did not ask for says version. */
    ex = base_expect();
    ex.installed_version = NEWER;
    s = base_spec();
    s.version = OLDER;
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_PACKAGE_INVALID, "version");
}
END_TEST

START_TEST(downgrade_refused_unless_rollback)
{
    spec_t s = base_spec();
    agentd_expect_t ex = base_expect();
    agentd_manifest_t out;
    ferry_err_t e = {0};
    ex.installed_version = NEWER;
    ferry_err_code_t rc = check_spec(&s, &ex, &out, &e);
    ASSERT_FAILS(rc, e, FERRY_E_DOWNGRADE_REFUSED, "older than the installed " NEWER);
    s.kind = FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK;
    ck_assert_msg(check_spec(&s, &ex, &out, &e) == FERRY_OK, "%s", e.msg);
    ck_assert(out.rollback);
    ck_assert_str_eq(out.version, VERSION);
    /* Build numbers count too. */
    s.kind = FERRY__V1__TASK_KIND__TASK_KIND_UPDATE;
    ex.installed_version = "1.25.12.13(12522)";
    rc = check_spec(&s, &ex, NULL, &e);
    ASSERT_FAILS(rc, e, FERRY_E_DOWNGRADE_REFUSED, "older");
    /* Newer than installed is an ordinary update. */
    ex.installed_version = OLDER;
    ck_assert_int_eq(check_spec(&s, &ex, &out, &e), FERRY_OK);
    ck_assert(!out.rollback);
}
END_TEST

int main(void)
{
    ferry_err_t e = {0};
    char pem[300];
    snprintf(g_dir, sizeof(g_dir), "%s/ferry-verify-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    snprintf(pem, sizeof(pem), "%s/main.pem", g_dir);
    if (ferry_sign_keygen_file(pem, &e) != FERRY_OK || (g_signer = ferry_signer_load(pem, &e)) == NULL) {
        fprintf(stderr, "key: %s\n", e.msg);
        return 1;
    }
    snprintf(pem, sizeof(pem), "%s/other.pem", g_dir);
    if (ferry_sign_keygen_file(pem, &e) != FERRY_OK || (g_other = ferry_signer_load(pem, &e)) == NULL) {
        fprintf(stderr, "key: %s\n", e.msg);
        return 1;
    }
    /* Pinned in the order a binding may list them: the other key first. */
    snprintf(g_keys[0].key_id, sizeof(g_keys[0].key_id), "k-other");
    ferry_signer_public_key(g_other, g_keys[0].pub);
    snprintf(g_keys[1].key_id, sizeof(g_keys[1].key_id), "k-main");
    ferry_signer_public_key(g_signer, g_keys[1].pub);

    Suite *s = suite_create("agentd_verify_rules");
    TCase *tc = tcase_create("verify");
    tcase_add_test(tc, happy_path_fills_out);
    tcase_add_test(tc, unknown_key_id_is_refused);
    tcase_add_test(tc, flipped_bits_are_refused);
    tcase_add_test(tc, signed_garbage_is_package_invalid);
    tcase_add_test(tc, expired_or_missing_expiry_is_refused);
    tcase_add_test(tc, other_task_or_node_is_refused);
    tcase_add_test(tc, offline_manifest_customer);
    tcase_add_test(tc, wrong_version_size_or_sha_is_package_invalid);
    tcase_add_test(tc, downgrade_refused_unless_rollback);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    ferry_signer_free(g_signer);
    ferry_signer_free(g_other);
    ferry_fs_rm_rf(g_dir, NULL);
    return failed == 0 ? 0 : 1;
}
