/* Unit tests: token format, parsing, tampering; the role policy table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"

START_TEST(token_format_and_parse)
{
    hub_token_t a, n;
    ferry_err_t err = {0};
    char id[HUB_TOKEN_ID_LEN + 1];
    uint8_t hash[FERRY_SHA256_LEN];

    ck_assert_int_eq(hub_token_new(HUB_TOKEN_ADMIN, &a, &err), FERRY_OK);
    ck_assert_int_eq(hub_token_new(HUB_TOKEN_NODE, &n, &err), FERRY_OK);
    ck_assert_uint_eq(strlen(a.token), HUB_TOKEN_LEN);
    ck_assert(strncmp(a.token, "fya_", 4) == 0 && strncmp(n.token, "fyn_", 4) == 0);
    ck_assert(strncmp(a.token, a.id, HUB_TOKEN_ID_LEN) == 0);
    ck_assert_int_eq(hub_token_parse(a.token, strlen(a.token), id, hash), HUB_TOKEN_ADMIN);
    ck_assert_str_eq(id, a.id);
    ck_assert(hub_token_hash_equal(a.hash, sizeof(a.hash), hash));
    ck_assert_int_eq(hub_token_parse(n.token, strlen(n.token), id, hash), HUB_TOKEN_NODE);
    ck_assert(hub_token_hash_equal(n.hash, sizeof(n.hash), hash));
    /* two tokens never share id or secret */
    ck_assert(strcmp(a.id + 4, n.id + 4) != 0);
    ck_assert(strcmp(a.token + 21, n.token + 21) != 0);
}
END_TEST

START_TEST(token_tampering)
{
    hub_token_t t;
    ferry_err_t err = {0};
    char id[HUB_TOKEN_ID_LEN + 1], buf[HUB_TOKEN_LEN + 8];
    uint8_t hash[FERRY_SHA256_LEN];

    ck_assert_int_eq(hub_token_new(HUB_TOKEN_ADMIN, &t, &err), FERRY_OK);
    /* every single-character change of the secret either is malformed or hashes differently */
    for (size_t i = 0; i < HUB_TOKEN_LEN; i++) {
        strcpy(buf, t.token);
        buf[i] = buf[i] == 'A' ? 'B' : 'A';
        hub_token_kind_t k = hub_token_parse(buf, strlen(buf), id, hash);
        if (k != HUB_TOKEN_INVALID)
            ck_assert_msg(!hub_token_hash_equal(t.hash, sizeof(t.hash), hash), "tampered char %zu accepted",
                          i);
    }
    /* shape errors */
    ck_assert_int_eq(hub_token_parse(t.token, HUB_TOKEN_LEN - 1, id, hash), HUB_TOKEN_INVALID);
    snprintf(buf, sizeof(buf), "%sx", t.token);
    ck_assert_int_eq(hub_token_parse(buf, strlen(buf), id, hash), HUB_TOKEN_INVALID);
    strcpy(buf, t.token);
    memcpy(buf, "fyx_", 4);
    ck_assert_int_eq(hub_token_parse(buf, strlen(buf), id, hash), HUB_TOKEN_INVALID);
    strcpy(buf, t.token);
    buf[5] = 'G'; /* id must be lower hex */
    ck_assert_int_eq(hub_token_parse(buf, strlen(buf), id, hash), HUB_TOKEN_INVALID);
    strcpy(buf, t.token);
    buf[HUB_TOKEN_ID_LEN] = '-';
    ck_assert_int_eq(hub_token_parse(buf, strlen(buf), id, hash), HUB_TOKEN_INVALID);
    strcpy(buf, t.token);
    buf[30] = '+'; /* not base64url */
    ck_assert_int_eq(hub_token_parse(buf, strlen(buf), id, hash), HUB_TOKEN_INVALID);
    strcpy(buf, t.token);
    buf[HUB_TOKEN_LEN - 1] = 'B'; /* non-canonical last char (spare bits set) */
    ck_assert_int_eq(hub_token_parse(buf, strlen(buf), id, hash), HUB_TOKEN_INVALID);
    ck_assert_int_eq(hub_token_parse(NULL, 0, id, hash), HUB_TOKEN_INVALID);
    ck_assert(!hub_token_hash_equal(t.hash, 31, t.hash));
    ck_assert(!hub_token_hash_equal(NULL, 32, t.hash));
}
END_TEST

/* AdminService methods an implementer must NOT call. */
static const char *const sysadmin_only[] = {
    "CreateCustomer",     "UpdateCustomer",      "DisableCustomer",   "CreateStore",
    "UpdateStore",        "DisableStore",        "CreateNode",        "UpdateNode",
    "DisableNode",        "RotateNodeToken",     "SetStorageConfig",  "GetStorageConfig",
    "ListStorageConfigs", "DeleteStorageConfig", "TestStorageConfig", "CreateAdminToken",
    "ListAdminTokens",    "RevokeAdminToken",    "CreateLicense",     "ListLicenses",
    "GetLicense",         "UpdateLicense",       "RevokeLicense",     "PutConfigTemplate",
    "AssignConfig",       "CreateServerBackup",  "ListServerBackups", "SetNodeMaintenance",
    "GetServerHealth",
};

static int is_sysadmin_only(const char *m)
{
    for (size_t i = 0; i < sizeof(sysadmin_only) / sizeof(sysadmin_only[0]); i++)
        if (strcmp(m, sysadmin_only[i]) == 0)
            return 1;
    return 0;
}

START_TEST(role_table_covers_every_admin_method)
{
    hub_principal_t sys = {.kind = HUB_PRINCIPAL_ADMIN, .role = FERRY__V1__ROLE__ROLE_SYSADMIN};
    hub_principal_t imp = {.kind = HUB_PRINCIPAL_ADMIN, .role = FERRY__V1__ROLE__ROLE_IMPLEMENTER};
    hub_principal_t node = {.kind = HUB_PRINCIPAL_NODE};
    const ferry_rpc_service_desc_t *d = &ferry_v1_admin_service_desc;
    size_t implementer_ok = 0;

    ck_assert_uint_ge(d->n_methods, 61);
    for (size_t i = 0; i < d->n_methods; i++) {
        const char *m = d->methods[i].name;
        hub_access_t a = hub_auth_access(d->name, m);
        ck_assert_int_eq(hub_auth_decide(a, &sys), FERRY_RPC_OK);
        ck_assert_int_eq(hub_auth_decide(a, &node), FERRY_RPC_PERMISSION_DENIED);
        ck_assert_int_eq(hub_auth_decide(a, NULL), FERRY_RPC_UNAUTHENTICATED);
        ferry_rpc_code_t want = is_sysadmin_only(m) ? FERRY_RPC_PERMISSION_DENIED : FERRY_RPC_OK;
        ck_assert_msg(hub_auth_decide(a, &imp) == want, "implementer on %s", m);
        implementer_ok += want == FERRY_RPC_OK;
    }
    ck_assert_uint_eq(implementer_ok, d->n_methods - sizeof(sysadmin_only) / sizeof(sysadmin_only[0]));
    /* spot checks of the intent */
    ck_assert_int_eq(hub_auth_decide(hub_auth_access(d->name, "CreateRelease"), &imp), FERRY_RPC_OK);
    ck_assert_int_eq(hub_auth_decide(hub_auth_access(d->name, "RollbackRelease"), &imp), FERRY_RPC_OK);
    ck_assert_int_eq(hub_auth_decide(hub_auth_access(d->name, "ListAuditLogs"), &imp), FERRY_RPC_OK);
    ck_assert_int_eq(hub_auth_decide(hub_auth_access(d->name, "WhoAmI"), &imp), FERRY_RPC_OK);
    /* unknown future admin methods default to SYSADMIN only */
    ck_assert_int_eq(hub_auth_decide(hub_auth_access(d->name, "DropEverything"), &imp),
                     FERRY_RPC_PERMISSION_DENIED);
}
END_TEST

START_TEST(agent_report_health_policy)
{
    hub_principal_t sys = {.kind = HUB_PRINCIPAL_ADMIN, .role = FERRY__V1__ROLE__ROLE_SYSADMIN};
    hub_principal_t node = {.kind = HUB_PRINCIPAL_NODE};
    const char *svcs[] = {"ferry.v1.AgentService", "ferry.v1.ReportService"};

    for (int i = 0; i < 2; i++) {
        hub_access_t a = hub_auth_access(svcs[i], "CheckIn");
        ck_assert_int_eq(hub_auth_decide(a, &node), FERRY_RPC_OK);
        ck_assert_int_eq(hub_auth_decide(a, &sys), FERRY_RPC_PERMISSION_DENIED);
        ck_assert_int_eq(hub_auth_decide(a, NULL), FERRY_RPC_UNAUTHENTICATED);
    }
    /* Bind carries its token in the body; no header token is needed (or checked) */
    ck_assert_int_eq(hub_auth_access("ferry.v1.AgentService", "Bind"), HUB_ACCESS_PUBLIC);
    ck_assert_int_eq(hub_auth_access("ferry.v1.ReportService", "Bind"), HUB_ACCESS_NODE);
    ck_assert_int_eq(hub_auth_decide(hub_auth_access("grpc.health.v1.Health", "Check"), NULL), FERRY_RPC_OK);
    ck_assert_int_eq(hub_auth_decide(hub_auth_access("other.Service", "X"), &sys),
                     FERRY_RPC_PERMISSION_DENIED);
}
END_TEST

START_TEST(code_validation)
{
    ferry_err_t err = {0};
    char longc[70];
    ck_assert_int_eq(hub_check_code("code", "ACME-01_x", &err), FERRY_OK);
    ck_assert_int_eq(hub_check_code("code", "", &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(hub_check_code("code", "a b", &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "code 'a b'"));
    ck_assert_int_eq(hub_check_code("code", "x'; DROP", &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(hub_check_code("code", "客户", &err), FERRY_E_INVALID_ARG);
    memset(longc, 'a', 65);
    longc[65] = '\0';
    ck_assert_int_eq(hub_check_code("code", longc, &err), FERRY_E_INVALID_ARG);
    longc[64] = '\0';
    ck_assert_int_eq(hub_check_code("code", longc, &err), FERRY_OK);
    ck_assert_int_eq(hub_page_limit(0), 100);
    ck_assert_int_eq(hub_page_limit(-5), 100);
    ck_assert_int_eq(hub_page_limit(5000), 1000);
    ck_assert_int_eq(hub_page_token_parse("abc"), -1);
    ck_assert_int_eq(hub_page_token_parse("12"), 12);
    ck_assert_int_eq(hub_page_token_parse(""), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_admin_unit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, token_format_and_parse);
    tcase_add_test(tc, token_tampering);
    tcase_add_test(tc, role_table_covers_every_admin_method);
    tcase_add_test(tc, agent_report_health_policy);
    tcase_add_test(tc, code_validation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
