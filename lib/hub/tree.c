/*
 * The customer -> store -> node tree (seed 000 §3.2) and node tokens.
 *
 * Codes: 1..64 of [A-Za-z0-9_-], immutable, unique server-wide for each level (the
 * IDL addresses stores and nodes by code alone). Duplicates -> already_exists.
 *
 * What "disabled" means:
 *   customer: its nodes' tokens are refused (cannot bind or check in), it gets no new
 *             releases, no new stores can be created under it;
 *   store:    its nodes' tokens are refused like a customer's, they get no new tasks
 *             (releases.c skips disabled stores); no new nodes under it;
 *   node:     its token is refused and it gets no new tasks.
 * One rule for tokens (hub_auth_node, auth.c): node, store and customer all enabled,
 * for Bind and every node-authenticated method alike.
 * Re-enabling restores everything; nothing is deleted.
 *
 * Node tokens are created with the node and by RotateNodeToken, returned once, and
 * stored only as SHA-256 (auth.c). Rotation evicts the old token from the auth cache
 * at once and clears bound_at (the agent must bind again with the new token).
 *
 * The rows are the tree repository's (ferry/store/tree.h). Reads run inline on the
 * read-only connection; writes run on the worker pool in one transaction with their
 * audit row (hub_frame.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "ferry/model/window.h"
#include "ferry/store/tree.h"
#include "hub_frame.h"

#define NAME_MAX_LEN 256

#define W (HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT)

static void change_done(hub_frame_t *f, const void *req, void *resp);
static void disable_node_done(hub_frame_t *f, const void *req, void *resp);
static void rotate_node_token_done(hub_frame_t *f, const void *req, void *resp);

/* The method rows. */
HUB_METHOD(admin, create_customer, Ferry__V1__CreateCustomerRequest, Ferry__V1__CreateCustomerResponse, W,
           NULL)
HUB_METHOD(admin, update_customer, Ferry__V1__UpdateCustomerRequest, Ferry__V1__UpdateCustomerResponse, W,
           NULL)
HUB_METHOD(admin, disable_customer, Ferry__V1__DisableCustomerRequest, Ferry__V1__DisableCustomerResponse, W,
           change_done)
HUB_METHOD(admin, get_customer, Ferry__V1__GetCustomerRequest, Ferry__V1__GetCustomerResponse, 0, NULL)
HUB_METHOD(admin, list_customers, Ferry__V1__ListCustomersRequest, Ferry__V1__ListCustomersResponse, 0, NULL)
HUB_METHOD(admin, create_store, Ferry__V1__CreateStoreRequest, Ferry__V1__CreateStoreResponse, W, NULL)
HUB_METHOD(admin, update_store, Ferry__V1__UpdateStoreRequest, Ferry__V1__UpdateStoreResponse, W, NULL)
HUB_METHOD(admin, disable_store, Ferry__V1__DisableStoreRequest, Ferry__V1__DisableStoreResponse, W,
           change_done)
HUB_METHOD(admin, get_store, Ferry__V1__GetStoreRequest, Ferry__V1__GetStoreResponse, 0, NULL)
HUB_METHOD(admin, list_stores, Ferry__V1__ListStoresRequest, Ferry__V1__ListStoresResponse, 0, NULL)
HUB_METHOD(admin, create_node, Ferry__V1__CreateNodeRequest, Ferry__V1__CreateNodeResponse, W, NULL)
static void update_node_done(hub_frame_t *f, const void *vreq, void *resp);
HUB_METHOD(admin, update_node, Ferry__V1__UpdateNodeRequest, Ferry__V1__UpdateNodeResponse, W,
           update_node_done)
HUB_METHOD(admin, disable_node, Ferry__V1__DisableNodeRequest, Ferry__V1__DisableNodeResponse, W,
           disable_node_done)
HUB_METHOD(admin, get_node, Ferry__V1__GetNodeRequest, Ferry__V1__GetNodeResponse, 0, NULL)
HUB_METHOD(admin, list_nodes, Ferry__V1__ListNodesRequest, Ferry__V1__ListNodesResponse, 0, NULL)
HUB_METHOD(admin, rotate_node_token, Ferry__V1__RotateNodeTokenRequest, Ferry__V1__RotateNodeTokenResponse, W,
           rotate_node_token_done)

/* ---- common checks ------------------------------------------------------------------------ */

static ferry_err_code_t check_name(const char *name, ferry_err_t *err)
{
    if (name != NULL && strlen(name) > NAME_MAX_LEN)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "name: at most %d bytes (got %zu)", NAME_MAX_LEN,
                             strlen(name));
    return FERRY_OK;
}

static bool env_valid(int env)
{
    return env >= FERRY__V1__ENVIRONMENT__ENVIRONMENT_DEV && env <= FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD;
}

/* A row's name: the given one, or its code when none is given. */
static const char *name_or_code(const char *name, const char *code)
{
    return name != NULL && name[0] != '\0' ? name : code;
}

static ferry_store_node_view_t node_view(const ferry_hub_t *hub)
{
    return (ferry_store_node_view_t){hub_now_ms() - (int64_t)hub->cfg.offline_after_s * 1000};
}

static const char *kind_name(ferry_store_tree_kind_t kind)
{
    return kind == FERRY_STORE_CUSTOMER ? "customer" : kind == FERRY_STORE_STORE ? "store" : "node";
}

/* ---- create -------------------------------------------------------------------------------- */

static ferry_err_code_t create_customer_body(hub_frame_t *f, const Ferry__V1__CreateCustomerRequest *req,
                                             Ferry__V1__CreateCustomerResponse *resp, ferry_err_t *err)
{
    ferry_store_node_view_t v = node_view(f->hub);
    ferry_err_code_t rc;

    hub_frame_target(f, "customer:%.64s", req->code);
    if ((rc = hub_check_code("code", req->code, err)) != FERRY_OK ||
        (rc = check_name(req->name, err)) != FERRY_OK ||
        (rc = ferry_store_customer_insert(f->store, req->code, name_or_code(req->name, req->code),
                                          hub_now_ms(), err)) != FERRY_OK)
        return rc;
    return ferry_store_tree_get(f->store, &f->arena, FERRY_STORE_CUSTOMER, req->code, &v,
                                (void **)&resp->customer, err);
}

static ferry_err_code_t create_store_body(hub_frame_t *f, const Ferry__V1__CreateStoreRequest *req,
                                          Ferry__V1__CreateStoreResponse *resp, ferry_err_t *err)
{
    ferry_store_node_view_t v = node_view(f->hub);
    int64_t customer_id = 0;
    bool disabled = false;
    ferry_err_code_t rc;

    hub_frame_target(f, "store:%.64s,customer:%.64s", req->code, req->customer_code);
    if ((rc = hub_check_code("customer_code", req->customer_code, err)) != FERRY_OK ||
        (rc = hub_check_code("code", req->code, err)) != FERRY_OK ||
        (rc = check_name(req->name, err)) != FERRY_OK ||
        (rc = ferry_store_tree_id(f->store, FERRY_STORE_CUSTOMER, req->customer_code, &customer_id, &disabled,
                                  err)) != FERRY_OK)
        return rc;
    if (disabled)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "customer '%s' is disabled", req->customer_code);
    if ((rc = ferry_store_store_insert(f->store, customer_id, req->code, name_or_code(req->name, req->code),
                                       hub_now_ms(), err)) != FERRY_OK)
        return rc;
    return ferry_store_tree_get(f->store, &f->arena, FERRY_STORE_STORE, req->code, &v, (void **)&resp->store,
                                err);
}

static ferry_err_code_t create_node_body(hub_frame_t *f, const Ferry__V1__CreateNodeRequest *req,
                                         Ferry__V1__CreateNodeResponse *resp, ferry_err_t *err)
{
    ferry_store_node_view_t v = node_view(f->hub);
    ferry_store_node_new_t row = {0};
    hub_token_t *tok = hub_arena_alloc(&f->arena, sizeof(*tok));
    bool disabled = false;
    ferry_err_code_t rc;

    hub_frame_target(f, "node:%.64s,store:%.64s", req->code, req->store_code);
    if (tok == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    hub_frame_secret(f, tok, sizeof(*tok));
    int tz_off = 0;
    bool tz_server = false;
    if ((rc = hub_check_code("store_code", req->store_code, err)) != FERRY_OK ||
        (rc = hub_check_code("code", req->code, err)) != FERRY_OK ||
        (rc = check_name(req->name, err)) != FERRY_OK)
        return rc;
    if (ferry_tz_parse(req->time_zone, &tz_off, &tz_server, err) != FERRY_OK)
        return ferry_err_prefix(err, "time_zone");
    if (!env_valid(req->environment))
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "environment: required, one of DEV, TEST, UAT, PROD (got %d)",
                             (int)req->environment);
    if ((rc = hub_token_new(HUB_TOKEN_NODE, tok, err)) != FERRY_OK ||
        (rc = ferry_store_tree_id(f->store, FERRY_STORE_STORE, req->store_code, &row.store_id, &disabled,
                                  err)) != FERRY_OK)
        return rc;
    if (disabled)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "store '%s' is disabled", req->store_code);
    row.code = req->code;
    row.environment = req->environment;
    row.name = name_or_code(req->name, req->code);
    row.token_id = tok->id;
    memcpy(row.token_hash, tok->hash, sizeof(row.token_hash));
    row.now = hub_now_ms();
    row.time_zone = req->time_zone;
    if ((rc = ferry_store_node_insert(f->store, &row, err)) != FERRY_OK ||
        (rc = ferry_store_tree_get(f->store, &f->arena, FERRY_STORE_NODE, req->code, &v, (void **)&resp->node,
                                   err)) != FERRY_OK)
        return rc;
    resp->token = tok->token; /* shown once, never stored; wiped after the reply */
    return FERRY_OK;
}

/* ---- update / disable -------------------------------------------------------------------------- */

/* UpdateX / DisableX share one shape: change one row by code, reload it. */
static ferry_err_code_t apply_change(hub_frame_t *f, ferry_store_tree_kind_t kind, const char *code,
                                     const char *name, int disabled, int environment, const char *time_zone,
                                     void **out, ferry_err_t *err)
{
    ferry_store_node_view_t v = node_view(f->hub);
    ferry_store_tree_change_t ch = {name != NULL ? name_or_code(name, code) : NULL, disabled, environment,
                                    hub_now_ms(), time_zone};
    int64_t id = 0;
    bool server_zone = false;
    int off_min = 0;
    ferry_err_code_t rc;

    if (time_zone != NULL && ferry_tz_parse(time_zone, &off_min, &server_zone, err) != FERRY_OK)
        return ferry_err_prefix(err, "time_zone");

    hub_frame_target(f, "%s:%.64s", kind_name(kind), code);
    if ((rc = hub_check_code("code", code, err)) != FERRY_OK || (rc = check_name(name, err)) != FERRY_OK)
        return rc;
    if (environment != 0 && !env_valid(environment))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "environment: %d is not DEV, TEST, UAT or PROD",
                             environment);
    if ((rc = ferry_store_tree_id(f->store, kind, code, &id, NULL, err)) != FERRY_OK ||
        (rc = ferry_store_tree_update(f->store, kind, id, &ch, err)) != FERRY_OK)
        return rc;
    return ferry_store_tree_get(f->store, &f->arena, kind, code, &v, out, err);
}

static ferry_err_code_t update_customer_body(hub_frame_t *f, const Ferry__V1__UpdateCustomerRequest *req,
                                             Ferry__V1__UpdateCustomerResponse *resp, ferry_err_t *err)
{
    return apply_change(f, FERRY_STORE_CUSTOMER, req->code, req->name != NULL ? req->name->value : NULL, -1,
                        0, NULL, (void **)&resp->customer, err);
}

static ferry_err_code_t disable_customer_body(hub_frame_t *f, const Ferry__V1__DisableCustomerRequest *req,
                                              Ferry__V1__DisableCustomerResponse *resp, ferry_err_t *err)
{
    return apply_change(f, FERRY_STORE_CUSTOMER, req->code, NULL, req->disabled ? 1 : 0, 0, NULL,
                        (void **)&resp->customer, err);
}

static ferry_err_code_t update_store_body(hub_frame_t *f, const Ferry__V1__UpdateStoreRequest *req,
                                          Ferry__V1__UpdateStoreResponse *resp, ferry_err_t *err)
{
    return apply_change(f, FERRY_STORE_STORE, req->code, req->name != NULL ? req->name->value : NULL, -1, 0,
                        NULL, (void **)&resp->store, err);
}

static ferry_err_code_t disable_store_body(hub_frame_t *f, const Ferry__V1__DisableStoreRequest *req,
                                           Ferry__V1__DisableStoreResponse *resp, ferry_err_t *err)
{
    return apply_change(f, FERRY_STORE_STORE, req->code, NULL, req->disabled ? 1 : 0, 0, NULL,
                        (void **)&resp->store, err);
}

static ferry_err_code_t update_node_body(hub_frame_t *f, const Ferry__V1__UpdateNodeRequest *req,
                                         Ferry__V1__UpdateNodeResponse *resp, ferry_err_t *err)
{
    return apply_change(f, FERRY_STORE_NODE, req->code, req->name != NULL ? req->name->value : NULL, -1,
                        (int)req->environment, req->time_zone != NULL ? req->time_zone->value : NULL,
                        (void **)&resp->node, err);
}

static ferry_err_code_t disable_node_body(hub_frame_t *f, const Ferry__V1__DisableNodeRequest *req,
                                          Ferry__V1__DisableNodeResponse *resp, ferry_err_t *err)
{
    return apply_change(f, FERRY_STORE_NODE, req->code, NULL, req->disabled ? 1 : 0, 0, NULL,
                        (void **)&resp->node, err);
}

/* After the commit (hub_auth_node: node, store and customer must be enabled): the
 * tokens of a disabled customer's or store's nodes stop working at once. */
static void change_done(hub_frame_t *f, const void *req, void *resp)
{
    (void)req;
    (void)resp;
    hub_auth_forget_all(f->hub);
}

/* After the commit: a new time zone may open (or close) a maintenance window for the
 * node's waiting tasks now, not at the next sweep: its tasks are offered again. */
static void update_node_done(hub_frame_t *f, const void *vreq, void *resp)
{
    const Ferry__V1__UpdateNodeRequest *req = vreq;
    int64_t id = 0;
    ferry_err_t err = {0};
    hub_task_event_t ev;
    (void)resp;
    if (req->time_zone == NULL ||
        ferry_store_tree_id_ro(f->store, FERRY_STORE_NODE, req->code, &id, NULL, &err) != FERRY_OK)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.node_id = id;
    ev.new_assignment = 1;
    hub_bus_publish(f->hub, &ev);
}

/* After the commit: a disabled node's token stops working at once. */
static void disable_node_done(hub_frame_t *f, const void *vreq, void *resp)
{
    const Ferry__V1__DisableNodeRequest *req = vreq;
    char token_id[HUB_TOKEN_ID_LEN + 1];
    ferry_err_t err = {0};
    (void)resp;
    if (ferry_store_node_token_id_ro(f->store, req->code, token_id, sizeof(token_id), &err) == FERRY_OK)
        hub_auth_forget(f->hub, token_id);
    else
        hub_auth_forget_all(f->hub); /* never leave the old verdict cached */
}

/* ---- tokens ------------------------------------------------------------------------------------ */

static ferry_err_code_t rotate_node_token_body(hub_frame_t *f, const Ferry__V1__RotateNodeTokenRequest *req,
                                               Ferry__V1__RotateNodeTokenResponse *resp, ferry_err_t *err)
{
    ferry_store_node_view_t v = node_view(f->hub);
    hub_token_t *tok = hub_arena_alloc(&f->arena, sizeof(*tok));
    ferry_err_code_t rc;

    hub_frame_target(f, "node:%.64s", req->code);
    if (tok == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    hub_frame_secret(f, tok, sizeof(*tok));
    if ((rc = hub_check_code("code", req->code, err)) != FERRY_OK ||
        (rc = hub_token_new(HUB_TOKEN_NODE, tok, err)) != FERRY_OK ||
        (rc = ferry_store_node_rotate_token(f->store, req->code, tok->id, tok->hash, hub_now_ms(), err)) !=
            FERRY_OK ||
        (rc = ferry_store_tree_get(f->store, &f->arena, FERRY_STORE_NODE, req->code, &v, (void **)&resp->node,
                                   err)) != FERRY_OK)
        return rc;
    resp->token = tok->token;
    return FERRY_OK;
}

/* After the commit: the old token stops working now, not in HUB_AUTH_CACHE_MS. Its id is
 * gone from the row, so the whole cache goes (rotations are rare; each node's next call
 * costs one indexed lookup). */
static void rotate_node_token_done(hub_frame_t *f, const void *req, void *resp)
{
    (void)req;
    (void)resp;
    hub_auth_forget_all(f->hub);
}

/* ---- get ------------------------------------------------------------------------------------------- */

static ferry_err_code_t get_one(hub_frame_t *f, ferry_store_tree_kind_t kind, const char *code, void **out,
                                ferry_err_t *err)
{
    ferry_store_node_view_t v = node_view(f->hub);
    ferry_err_code_t rc = hub_check_code("code", code, err);
    if (rc != FERRY_OK)
        return rc;
    return ferry_store_tree_get_ro(f->store, &f->arena, kind, code, &v, out, err);
}

static ferry_err_code_t get_customer_body(hub_frame_t *f, const Ferry__V1__GetCustomerRequest *req,
                                          Ferry__V1__GetCustomerResponse *resp, ferry_err_t *err)
{
    return get_one(f, FERRY_STORE_CUSTOMER, req->code, (void **)&resp->customer, err);
}

static ferry_err_code_t get_store_body(hub_frame_t *f, const Ferry__V1__GetStoreRequest *req,
                                       Ferry__V1__GetStoreResponse *resp, ferry_err_t *err)
{
    return get_one(f, FERRY_STORE_STORE, req->code, (void **)&resp->store, err);
}

static ferry_err_code_t get_node_body(hub_frame_t *f, const Ferry__V1__GetNodeRequest *req,
                                      Ferry__V1__GetNodeResponse *resp, ferry_err_t *err)
{
    return get_one(f, FERRY_STORE_NODE, req->code, (void **)&resp->node, err);
}

/* ---- lists ---------------------------------------------------------------------------------------- */

static ferry_err_code_t list_customers_body(hub_frame_t *f, const Ferry__V1__ListCustomersRequest *req,
                                            Ferry__V1__ListCustomersResponse *resp, ferry_err_t *err)
{
    ferry_store_tree_filter_t flt = {.page_token = req->page_token,
                                     .page_size = req->page_size,
                                     .include_disabled = req->include_disabled,
                                     .query = req->query};
    ferry_store_page_t rows;
    ferry_err_code_t rc =
        ferry_store_tree_list_ro(f->store, FERRY_STORE_CUSTOMER, &flt, NULL, &f->arena, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    resp->customers = (Ferry__V1__Customer **)rows.items;
    resp->n_customers = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t list_stores_body(hub_frame_t *f, const Ferry__V1__ListStoresRequest *req,
                                         Ferry__V1__ListStoresResponse *resp, ferry_err_t *err)
{
    ferry_store_tree_filter_t flt = {.page_token = req->page_token,
                                     .page_size = req->page_size,
                                     .include_disabled = req->include_disabled,
                                     .query = req->query,
                                     .customer_code = req->customer_code};
    ferry_store_page_t rows;
    ferry_err_code_t rc =
        ferry_store_tree_list_ro(f->store, FERRY_STORE_STORE, &flt, NULL, &f->arena, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    resp->stores = (Ferry__V1__Store **)rows.items;
    resp->n_stores = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t list_nodes_body(hub_frame_t *f, const Ferry__V1__ListNodesRequest *req,
                                        Ferry__V1__ListNodesResponse *resp, ferry_err_t *err)
{
    ferry_store_node_view_t v = node_view(f->hub);
    ferry_store_tree_filter_t flt = {.page_token = req->page_token,
                                     .page_size = req->page_size,
                                     .include_disabled = req->include_disabled,
                                     .query = req->query,
                                     .customer_code = req->customer_code,
                                     .store_code = req->store_code,
                                     .environment = req->environment,
                                     .connectivity = req->connectivity,
                                     .installed_version = req->installed_version};
    ferry_store_page_t rows;
    ferry_err_code_t rc =
        ferry_store_tree_list_ro(f->store, FERRY_STORE_NODE, &flt, &v, &f->arena, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    resp->nodes = (Ferry__V1__Node **)rows.items;
    resp->n_nodes = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

void hub_tree_bind(ferry_hub_t *hub)
{
    hub->admin.create_customer = create_customer;
    hub->admin.list_customers = list_customers;
    hub->admin.get_customer = get_customer;
    hub->admin.update_customer = update_customer;
    hub->admin.disable_customer = disable_customer;
    hub->admin.create_store = create_store;
    hub->admin.list_stores = list_stores;
    hub->admin.get_store = get_store;
    hub->admin.update_store = update_store;
    hub->admin.disable_store = disable_store;
    hub->admin.create_node = create_node;
    hub->admin.list_nodes = list_nodes;
    hub->admin.get_node = get_node;
    hub->admin.update_node = update_node;
    hub->admin.disable_node = disable_node;
    hub->admin.rotate_node_token = rotate_node_token;
}
