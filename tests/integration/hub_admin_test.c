/* Bootstrap, auth, tree, tokens, storage configuration and audit over real RPC (hub_harness). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "ferry/v1/agent.ferry-client.h"
#include "hub_harness.h"

#define PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD

static hh_t H;

static void setup(void)
{
    ck_assert_int_eq(hh_start(&H, NULL), 0);
}

static void teardown(void)
{
    hh_stop(&H);
}

static ferry_rpc_code_t who(ferry_rpc_client_t *c, ferry_rpc_status_t *st, char *role_out)
{
    Ferry__V1__WhoAmIRequest req = FERRY__V1__WHO_AM_IREQUEST__INIT;
    Ferry__V1__WhoAmIResponse *resp = NULL;
    ferry_rpc_code_t rc = ferry_v1_admin_service_who_am_i(c, &req, &resp, NULL, st);
    if (resp != NULL) {
        if (role_out != NULL)
            *role_out = (char)resp->role;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return rc;
}

static ferry_rpc_code_t create_customer(ferry_rpc_client_t *c, const char *code, ferry_rpc_status_t *st)
{
    Ferry__V1__CreateCustomerRequest req = FERRY__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Ferry__V1__CreateCustomerResponse *resp = NULL;
    req.code = (char *)code;
    req.name = (char *)"n";
    ferry_rpc_code_t rc = ferry_v1_admin_service_create_customer(c, &req, &resp, NULL, st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

START_TEST(init_refuses_twice)
{
    char tok[HH_TOKEN_MAX], dbsum[96];
    ferry_err_t err = {0};
    long before = hh_count(&H, "admin_token", NULL);
    ck_assert_int_eq(ferry_hub_init(H.dir, tok, sizeof(tok), &err), FERRY_E_EXISTS);
    ck_assert_ptr_nonnull(strstr(err.msg, H.dir));
    ck_assert_int_eq(hh_count(&H, "admin_token", NULL), before);
    ck_assert_int_eq(hh_query_text(&H, "SELECT token_id FROM admin_token WHERE id = 1", dbsum, sizeof(dbsum)),
                     0);
    ck_assert(strncmp(H.admin_token, dbsum, HUB_TOKEN_ID_LEN) == 0); /* only the public id is stored */
    ck_assert_int_eq(hh_count(&H, "admin_token", "length(token_hash) = 32"), 1);
    char role = 0;
    ferry_rpc_status_t st = {0};
    ck_assert_int_eq(who(H.admin, &st, &role), FERRY_RPC_OK);
    ck_assert_int_eq(role, FERRY__V1__ROLE__ROLE_SYSADMIN);
}
END_TEST

START_TEST(tree_crud_uniqueness_paging)
{
    ferry_rpc_status_t st = {0};
    char tok[HH_TOKEN_MAX];

    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "N1", PROD, tok, sizeof(tok)), 0);
    ck_assert_int_eq(hh_create_customer(&H, "BETA", NULL), 0);
    /* duplicates: customer, store (server-wide, even under another customer), node */
    long c0 = hh_count(&H, "customer", NULL), s0 = hh_count(&H, "store", NULL),
         n0 = hh_count(&H, "node", NULL);
    ck_assert_int_eq(create_customer(H.admin, "ACME", &st), FERRY_RPC_ALREADY_EXISTS);
    ck_assert_int_ne(hh_create_store(&H, "BETA", "S1", NULL), 0);
    ck_assert_int_ne(hh_create_node(&H, "S1", "N1", PROD, NULL, 0), 0);
    /* bad input names the culprit */
    ck_assert_int_eq(create_customer(H.admin, "bad code!", &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "bad code!"));
    ck_assert_int_ne(hh_create_node(&H, "S1", "N9", 0, NULL, 0), 0);      /* env required */
    ck_assert_int_ne(hh_create_node(&H, "NOPE", "N9", PROD, NULL, 0), 0); /* store missing */
    ck_assert_int_eq(hh_count(&H, "customer", NULL), c0);
    ck_assert_int_eq(hh_count(&H, "store", NULL), s0);
    ck_assert_int_eq(hh_count(&H, "node", NULL), n0);

    /* paging: 5 customers in total, pages of 2 */
    for (int i = 0; i < 3; i++) {
        char code[16];
        snprintf(code, sizeof(code), "C%d", i);
        ck_assert_int_eq(hh_create_customer(&H, code, NULL), 0);
    }
    Ferry__V1__ListCustomersRequest lreq = FERRY__V1__LIST_CUSTOMERS_REQUEST__INIT;
    char page[80] = "";
    int total = 0, pages = 0;
    lreq.page_size = 2;
    do {
        Ferry__V1__ListCustomersResponse *l = NULL;
        lreq.page_token = page;
        ck_assert_int_eq(ferry_v1_admin_service_list_customers(H.admin, &lreq, &l, NULL, &st), FERRY_RPC_OK);
        total += (int)l->n_customers;
        pages++;
        snprintf(page, sizeof(page), "%s", l->next_page_token);
        protobuf_c_message_free_unpacked(&l->base, NULL);
    } while (page[0] != '\0' && pages < 10);
    ck_assert_int_eq(total, 5);
    ck_assert_int_eq(pages, 3);

    /* update + disable + get */
    Ferry__V1__UpdateNodeRequest ureq = FERRY__V1__UPDATE_NODE_REQUEST__INIT;
    Ferry__V1__UpdateNodeResponse *uresp = NULL;
    Google__Protobuf__StringValue nm = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    nm.value = (char *)"Front desk";
    ureq.code = (char *)"N1";
    ureq.name = &nm;
    ck_assert_int_eq(ferry_v1_admin_service_update_node(H.admin, &ureq, &uresp, NULL, &st), FERRY_RPC_OK);
    ck_assert_str_eq(uresp->node->name, "Front desk");
    ck_assert_int_eq(uresp->node->environment, PROD);
    ck_assert_str_eq(uresp->node->customer_code, "ACME");
    ck_assert_int_eq(uresp->node->connectivity, FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN);
    protobuf_c_message_free_unpacked(&uresp->base, NULL);
    Ferry__V1__DisableStoreRequest dreq = FERRY__V1__DISABLE_STORE_REQUEST__INIT;
    Ferry__V1__DisableStoreResponse *dresp = NULL;
    dreq.code = (char *)"S1";
    dreq.disabled = 1;
    ck_assert_int_eq(ferry_v1_admin_service_disable_store(H.admin, &dreq, &dresp, NULL, &st), FERRY_RPC_OK);
    ck_assert(dresp->store->disabled);
    protobuf_c_message_free_unpacked(&dresp->base, NULL);
    ck_assert_int_ne(hh_create_node(&H, "S1", "N2", PROD, NULL, 0), 0); /* disabled store: no new nodes */
    Ferry__V1__GetStoreRequest greq = FERRY__V1__GET_STORE_REQUEST__INIT;
    Ferry__V1__GetStoreResponse *gresp = NULL;
    greq.code = (char *)"NOPE";
    ck_assert_int_eq(ferry_v1_admin_service_get_store(H.admin, &greq, &gresp, NULL, &st),
                     FERRY_RPC_NOT_FOUND);
}
END_TEST

START_TEST(tokens_auth_and_roles)
{
    ferry_rpc_status_t st = {0};
    char ntok[HH_TOKEN_MAX], itok[HH_TOKEN_MAX], stok[HH_TOKEN_MAX];

    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "N1", PROD, ntok, sizeof(ntok)), 0);
    ck_assert_int_eq(strncmp(ntok, "fyn_", 4), 0);
    ck_assert_int_eq(hh_count(&H, "node", "length(token_hash) = 32"), 1);
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_IMPLEMENTER, "impl", itok, sizeof(itok)),
                     0);

    ferry_rpc_client_t *impl = hh_client(&H, itok), *node = hh_client(&H, ntok), *anon = hh_client(&H, NULL);
    char bogus[HH_TOKEN_MAX];
    snprintf(bogus, sizeof(bogus), "%s", H.admin_token);
    bogus[30] = bogus[30] == 'A' ? 'B' : 'A';
    ferry_rpc_client_t *bad = hh_client(&H, bogus);

    /* invalid / missing token: unauthenticated + E_AUTH_INVALID */
    ck_assert_int_eq(who(bad, &st, NULL), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");
    ck_assert_int_eq(who(anon, &st, NULL), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");
    /* node token on an admin RPC: permission_denied */
    ck_assert_int_eq(who(node, &st, NULL), FERRY_RPC_PERMISSION_DENIED);
    long c0 = hh_count(&H, "customer", NULL);
    ck_assert_int_eq(create_customer(node, "X1", &st), FERRY_RPC_PERMISSION_DENIED);
    /* implementer: tree writes, storage and tokens denied; reads and WhoAmI allowed */
    ck_assert_int_eq(create_customer(impl, "X2", &st), FERRY_RPC_PERMISSION_DENIED);
    ck_assert_int_eq(hh_count(&H, "customer", NULL), c0);
    char role = 0;
    ck_assert_int_eq(who(impl, &st, &role), FERRY_RPC_OK);
    ck_assert_int_eq(role, FERRY__V1__ROLE__ROLE_IMPLEMENTER);
    Ferry__V1__ListNodesRequest lnreq = FERRY__V1__LIST_NODES_REQUEST__INIT;
    Ferry__V1__ListNodesResponse *ln = NULL;
    ck_assert_int_eq(ferry_v1_admin_service_list_nodes(impl, &lnreq, &ln, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(ln->n_nodes, 1);
    protobuf_c_message_free_unpacked(&ln->base, NULL);
    Ferry__V1__GetStorageConfigRequest gsreq = FERRY__V1__GET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__GetStorageConfigResponse *gs = NULL;
    ck_assert_int_eq(ferry_v1_admin_service_get_storage_config(impl, &gsreq, &gs, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    Ferry__V1__ListAdminTokensRequest ltreq = FERRY__V1__LIST_ADMIN_TOKENS_REQUEST__INIT;
    Ferry__V1__ListAdminTokensResponse *lt = NULL;
    ck_assert_int_eq(ferry_v1_admin_service_list_admin_tokens(impl, &ltreq, &lt, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    Ferry__V1__RotateNodeTokenRequest rreq = FERRY__V1__ROTATE_NODE_TOKEN_REQUEST__INIT;
    Ferry__V1__RotateNodeTokenResponse *rr = NULL;
    rreq.code = (char *)"N1";
    ck_assert_int_eq(ferry_v1_admin_service_rotate_node_token(impl, &rreq, &rr, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);

    /* revoke: the implementer token stops working at once */
    Ferry__V1__RevokeAdminTokenRequest rvreq = FERRY__V1__REVOKE_ADMIN_TOKEN_REQUEST__INIT;
    Ferry__V1__RevokeAdminTokenResponse *rv = NULL;
    char iid[HUB_TOKEN_ID_LEN + 1];
    snprintf(iid, sizeof(iid), "%.*s", HUB_TOKEN_ID_LEN, itok);
    rvreq.id = iid;
    ck_assert_int_eq(ferry_v1_admin_service_revoke_admin_token(H.admin, &rvreq, &rv, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert_ptr_nonnull(rv->token->revoked_at);
    protobuf_c_message_free_unpacked(&rv->base, NULL);
    ck_assert_int_eq(who(impl, &st, NULL), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");

    /* the last sysadmin cannot be revoked; with a second one it can */
    char sid[HUB_TOKEN_ID_LEN + 1];
    snprintf(sid, sizeof(sid), "%.*s", HUB_TOKEN_ID_LEN, H.admin_token);
    rvreq.id = sid;
    ck_assert_int_eq(ferry_v1_admin_service_revoke_admin_token(H.admin, &rvreq, &rv, NULL, &st),
                     FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_int_eq(hh_count(&H, "admin_token", "revoked_at IS NULL AND role = 1"), 1);
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_SYSADMIN, "ops2", stok, sizeof(stok)),
                     0);

    /* rotate: the old node token stops working, the new one is returned once */
    ck_assert_int_eq(ferry_v1_admin_service_rotate_node_token(H.admin, &rreq, &rr, NULL, &st), FERRY_RPC_OK);
    ck_assert_str_ne(rr->token, ntok);
    ck_assert_int_eq(strncmp(rr->token, "fyn_", 4), 0);
    ferry_rpc_client_t *node2 = hh_client(&H, rr->token);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    /* an agent RPC: the old token is refused by auth; the new one gets past auth
     * (whatever the agent handler then answers, it is not unauthenticated) */
    Ferry__V1__CheckInRequest ci = FERRY__V1__CHECK_IN_REQUEST__INIT;
    Ferry__V1__CheckInResponse *cr = NULL;
    ck_assert_int_eq(ferry_v1_agent_service_check_in(node, &ci, &cr, NULL, &st), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");
    ck_assert_int_ne(ferry_v1_agent_service_check_in(node2, &ci, &cr, NULL, &st), FERRY_RPC_UNAUTHENTICATED);
    if (cr != NULL)
        protobuf_c_message_free_unpacked(&cr->base, NULL);
    /* admin tokens cannot call agent RPCs */
    cr = NULL;
    ck_assert_int_eq(ferry_v1_agent_service_check_in(H.admin, &ci, &cr, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    /* disabling the node refuses its token at once */
    Ferry__V1__DisableNodeRequest dn = FERRY__V1__DISABLE_NODE_REQUEST__INIT;
    Ferry__V1__DisableNodeResponse *dr = NULL;
    dn.code = (char *)"N1";
    dn.disabled = 1;
    ck_assert_int_eq(ferry_v1_admin_service_disable_node(H.admin, &dn, &dr, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&dr->base, NULL);
    ck_assert_int_eq(ferry_v1_agent_service_check_in(node2, &ci, &cr, NULL, &st), FERRY_RPC_UNAUTHENTICATED);

    ferry_rpc_client_free(impl);
    ferry_rpc_client_free(node);
    ferry_rpc_client_free(node2);
    ferry_rpc_client_free(anon);
    ferry_rpc_client_free(bad);
}
END_TEST

START_TEST(audit_success_failure_denied)
{
    ferry_rpc_status_t st = {0};
    char itok[HH_TOKEN_MAX], buf[128];

    ck_assert_int_eq(hh_create_customer(&H, "ACME", NULL), 0);
    ck_assert_int_eq(create_customer(H.admin, "ACME", &st), FERRY_RPC_ALREADY_EXISTS);
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_IMPLEMENTER, "impl", itok, sizeof(itok)),
                     0);
    ferry_rpc_client_t *impl = hh_client(&H, itok);
    ck_assert_int_eq(create_customer(impl, "ZED", &st), FERRY_RPC_PERMISSION_DENIED);

    const char *m = "method = 'ferry.v1.AdminService/CreateCustomer'";
    char where[256];
    snprintf(where, sizeof(where), "%s AND outcome = 1 AND target = 'customer:ACME' AND request_id <> ''", m);
    ck_assert_int_eq(hh_count(&H, "audit_log", where), 1);
    snprintf(where, sizeof(where),
             "%s AND outcome = 2 AND error_code = 'E_EXISTS' AND target = 'customer:ACME'", m);
    ck_assert_int_eq(hh_count(&H, "audit_log", where), 1);
    snprintf(where, sizeof(where), "%s AND outcome = 3 AND actor_token_id = '%.20s'", m, itok);
    ck_assert_int_eq(hh_count(&H, "audit_log", where), 1);
    ck_assert_int_eq(
        hh_query_text(&H, "SELECT actor_token_id FROM audit_log ORDER BY id LIMIT 1", buf, sizeof(buf)), 0);
    ck_assert(strncmp(buf, H.admin_token, HUB_TOKEN_ID_LEN) == 0);
    /* reads are not audited */
    ck_assert_int_eq(hh_count(&H, "audit_log", "method LIKE '%/WhoAmI'"), 0);

    /* ListAuditLogs with filters (implementer may read the audit log) */
    Ferry__V1__ListAuditLogsRequest lreq = FERRY__V1__LIST_AUDIT_LOGS_REQUEST__INIT;
    Ferry__V1__ListAuditLogsResponse *l = NULL;
    lreq.target_kind = (char *)"customer";
    lreq.target_id = (char *)"ACME";
    ck_assert_int_eq(ferry_v1_admin_service_list_audit_logs(impl, &lreq, &l, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(l->n_entries, 2);
    ck_assert_int_eq(l->entries[0]->outcome,
                     FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_FAILURE); /* newest first */
    ck_assert_str_eq(l->entries[0]->error_code, "E_EXISTS");
    ck_assert_uint_eq(l->entries[1]->n_targets, 1);
    ck_assert_str_eq(l->entries[1]->targets[0]->kind, "customer");
    ck_assert_str_eq(l->entries[1]->targets[0]->id, "ACME");
    ck_assert_uint_eq(strlen(l->entries[1]->request_id), 16);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    Ferry__V1__ListAuditLogsRequest preq = FERRY__V1__LIST_AUDIT_LOGS_REQUEST__INIT;
    preq.page_size = 1;
    preq.outcome = FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_DENIED;
    ck_assert_int_eq(ferry_v1_admin_service_list_audit_logs(H.admin, &preq, &l, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(l->n_entries, 1);
    ck_assert_str_eq(l->next_page_token, "");
    protobuf_c_message_free_unpacked(&l->base, NULL);
    ferry_rpc_client_free(impl);
}
END_TEST

static ferry_rpc_code_t set_local(const char *customer, const char *base, ferry_rpc_status_t *st)
{
    Ferry__V1__SetStorageConfigRequest req = FERRY__V1__SET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__SetStorageConfigResponse *resp = NULL;
    Ferry__V1__StorageConfig cfg = FERRY__V1__STORAGE_CONFIG__INIT;
    Ferry__V1__LocalDirStorage l = FERRY__V1__LOCAL_DIR_STORAGE__INIT;
    cfg.customer_code = (char *)customer;
    cfg.kind = FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR;
    l.public_base_url = (char *)base;
    cfg.settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_LOCAL_DIR;
    cfg.local_dir = &l;
    req.config = &cfg;
    ferry_rpc_code_t rc = ferry_v1_admin_service_set_storage_config(H.admin, &req, &resp, NULL, st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

START_TEST(storage_override_selection)
{
    ferry_rpc_status_t st = {0};
    ferry_err_t err = {0};
    char url[512];
    int64_t exp = 0;

    ck_assert_int_eq(hh_create_customer(&H, "ACME", NULL), 0);
    ck_assert_int_eq(hh_create_customer(&H, "BETA", NULL), 0);
    long acme = hh_query_int(&H, "SELECT id FROM customer WHERE code = 'ACME'");
    long beta = hh_query_int(&H, "SELECT id FROM customer WHERE code = 'BETA'");
    /* no configuration at all: the embedded default (hub base URL) */
    ck_assert_int_eq(hub_storage_signed_url(H.hub, acme, "GET", "/blobs/x", url, sizeof(url), &exp, &err),
                     FERRY_OK);
    ck_assert_msg(strncmp(url, H.base_url, strlen(H.base_url)) == 0, "%s", url);
    ck_assert_ptr_nonnull(strstr(url, "/blobs/x?expires="));
    ck_assert_int_gt(exp, hub_now_ms());
    /* global + ACME override */
    ck_assert_int_eq(set_local("", "https://global.example", &st), FERRY_RPC_OK);
    ck_assert_int_eq(set_local("ACME", "https://acme.example/", &st), FERRY_RPC_OK);
    ck_assert_int_eq(hub_storage_signed_url(H.hub, acme, "GET", "/blobs/x", url, sizeof(url), &exp, &err),
                     FERRY_OK);
    ck_assert_msg(strncmp(url, "https://acme.example/blobs/x?", 29) == 0, "%s", url);
    ck_assert_int_eq(hub_storage_signed_url(H.hub, beta, "GET", "/blobs/x", url, sizeof(url), &exp, &err),
                     FERRY_OK);
    ck_assert_msg(strncmp(url, "https://global.example/blobs/x?", 31) == 0, "%s", url);
    ck_assert_int_eq(hub_storage_signed_url(H.hub, 0, "PUT", "/uploads/u1", url, sizeof(url), &exp, &err),
                     FERRY_OK);
    ck_assert_msg(strncmp(url, "https://global.example/uploads/u1?", 34) == 0, "%s", url);

    /* bad input changes nothing */
    long n0 = hh_count(&H, "storage_config", NULL);
    ck_assert_int_eq(set_local("ACME", "ftp://x", &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "public_base_url"));
    ck_assert_int_eq(set_local("NOPE", "", &st), FERRY_RPC_NOT_FOUND);
    ck_assert_int_eq(hh_count(&H, "storage_config", NULL), n0);
    ck_assert_int_eq(hub_storage_signed_url(H.hub, acme, "GET", "/blobs/x", url, sizeof(url), &exp, &err),
                     FERRY_OK);
    ck_assert_msg(strncmp(url, "https://acme.example/", 21) == 0, "%s", url);

    /* S3: secret write-only, masked on read */
    Ferry__V1__SetStorageConfigRequest req = FERRY__V1__SET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__SetStorageConfigResponse *resp = NULL;
    Ferry__V1__StorageConfig cfg = FERRY__V1__STORAGE_CONFIG__INIT;
    Ferry__V1__S3Storage s3 = FERRY__V1__S3_STORAGE__INIT;
    cfg.customer_code = (char *)"BETA";
    cfg.kind = FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3;
    cfg.settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_S3;
    cfg.s3 = &s3;
    s3.endpoint = (char *)"https://cos.example";
    s3.bucket = (char *)"b1";
    s3.access_key_id = (char *)"AK";
    s3.secret_access_key = (char *)"TOPSECRET";
    req.config = &cfg;
    ck_assert_int_eq(ferry_v1_admin_service_set_storage_config(H.admin, &req, &resp, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert(resp->config->has_secret);
    ck_assert_str_eq(resp->config->s3->secret_access_key, "");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    Ferry__V1__ListStorageConfigsRequest lreq = FERRY__V1__LIST_STORAGE_CONFIGS_REQUEST__INIT;
    Ferry__V1__ListStorageConfigsResponse *l = NULL;
    ck_assert_int_eq(ferry_v1_admin_service_list_storage_configs(H.admin, &lreq, &l, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert_uint_eq(l->n_configs, 3);
    ck_assert_str_eq(l->configs[0]->customer_code, "");
    for (size_t i = 0; i < l->n_configs; i++)
        if (l->configs[i]->settings_case == FERRY__V1__STORAGE_CONFIG__SETTINGS_S3)
            ck_assert_str_eq(l->configs[i]->s3->secret_access_key, "");
    protobuf_c_message_free_unpacked(&l->base, NULL);
    /* delete the override: ACME falls back to global */
    Ferry__V1__DeleteStorageConfigRequest dreq = FERRY__V1__DELETE_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__DeleteStorageConfigResponse *dr = NULL;
    dreq.customer_code = (char *)"ACME";
    ck_assert_int_eq(ferry_v1_admin_service_delete_storage_config(H.admin, &dreq, &dr, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert(dr->deleted);
    protobuf_c_message_free_unpacked(&dr->base, NULL);
    ck_assert_int_eq(hub_storage_signed_url(H.hub, acme, "GET", "/blobs/x", url, sizeof(url), &exp, &err),
                     FERRY_OK);
    ck_assert_msg(strncmp(url, "https://global.example/", 23) == 0, "%s", url);
    /* TestStorageConfig: local works */
    Ferry__V1__TestStorageConfigRequest treq = FERRY__V1__TEST_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__TestStorageConfigResponse *tr = NULL;
    ck_assert_int_eq(ferry_v1_admin_service_test_storage_config(H.admin, &treq, &tr, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert(tr->ok);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_admin");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, init_refuses_twice);
    tcase_add_test(tc, tree_crud_uniqueness_paging);
    tcase_add_test(tc, tokens_auth_and_roles);
    tcase_add_test(tc, audit_success_failure_denied);
    tcase_add_test(tc, storage_override_selection);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
