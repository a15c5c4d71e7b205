/* Recording fakes of the runtime functions the generated code calls (see gen_fake_runtime.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_fake_runtime.h"

const ferry_rpc_service_desc_t *fake_srv_desc;
const ferry_rpc_handler_fn *fake_srv_handlers;
void *fake_srv_user;

const ferry_rpc_method_t *fake_cli_method;
const ProtobufCMessage *fake_cli_req;
size_t fake_cli_n_reqs;
const ProtobufCMessage *fake_cli_reqs[8];
const ProtobufCMessage *fake_cli_resp;
ferry_rpc_code_t fake_cli_code;
int fake_cli_stream_n;
int fake_cli_registered;
const ferry_rpc_service_desc_t *fake_cli_registered_desc;

void ferry_rpc_client_register_service(const ferry_rpc_service_desc_t *svc)
{
    fake_cli_registered++;
    fake_cli_registered_desc = svc;
}

ferry_err_code_t ferry_rpc_server_register(ferry_rpc_server_t *srv, const ferry_rpc_service_desc_t *svc,
                                           const ferry_rpc_handler_fn *handlers, void *user, ferry_err_t *err)
{
    (void)srv;
    (void)err;
    fake_srv_desc = svc;
    fake_srv_handlers = handlers;
    fake_srv_user = user;
    return FERRY_OK;
}

ferry_err_code_t ferry_rpc_call_reply(ferry_rpc_call_t *call, const ProtobufCMessage *resp)
{
    call->replied = resp->descriptor;
    return FERRY_OK;
}

ferry_err_code_t ferry_rpc_call_send(ferry_rpc_call_t *call, const ProtobufCMessage *msg)
{
    call->replied = msg->descriptor;
    call->n_sent++;
    return FERRY_OK;
}

ferry_err_code_t ferry_rpc_call_fail(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app_code,
                                     const char *fmt, ...)
{
    va_list ap;
    (void)app_code;
    call->failed = code;
    va_start(ap, fmt);
    vsnprintf(call->fail_msg, sizeof(call->fail_msg), fmt, ap);
    va_end(ap);
    return FERRY_OK;
}

void ferry_rpc_call_set_data(ferry_rpc_call_t *call, const void *key, void *data, void (*free_fn)(void *))
{
    (void)key;
    call->data = data;
    call->data_free = free_fn;
}

void fake_call_end(struct ferry_rpc_call *call)
{
    if (call->data_free != NULL) {
        call->data_free(call->data);
    }
    call->data = NULL;
    call->data_free = NULL;
}

/* A fresh copy of fake_cli_resp, as the runtime would unpack it from the wire. */
static ProtobufCMessage *copy_resp(void)
{
    size_t len = protobuf_c_message_get_packed_size(fake_cli_resp);
    uint8_t *buf = malloc(len + 1);
    ProtobufCMessage *m;
    protobuf_c_message_pack(fake_cli_resp, buf);
    m = protobuf_c_message_unpack(fake_cli_resp->descriptor, NULL, len, buf);
    free(buf);
    return m;
}

ferry_rpc_code_t ferry_rpc_client_unary(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                        const ProtobufCMessage *req, ProtobufCMessage **resp,
                                        const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st)
{
    (void)c;
    (void)opts;
    fake_cli_method = m;
    fake_cli_req = req;
    *resp = fake_cli_code == FERRY_RPC_OK ? copy_resp() : NULL;
    if (st != NULL) {
        st->code = fake_cli_code;
    }
    return fake_cli_code;
}

ferry_rpc_code_t ferry_rpc_client_server_stream(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                                const ProtobufCMessage *req, ferry_rpc_stream_cb cb,
                                                void *user, const ferry_rpc_call_opts_t *opts,
                                                ferry_rpc_status_t *st)
{
    (void)c;
    (void)opts;
    fake_cli_method = m;
    fake_cli_req = req;
    for (int i = 0; i < fake_cli_stream_n; i++) {
        if (cb(copy_resp(), user) != 0) {
            return FERRY_RPC_CANCELED;
        }
    }
    if (st != NULL) {
        st->code = fake_cli_code;
    }
    return fake_cli_code;
}

ferry_rpc_code_t ferry_rpc_client_client_stream(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                                const ProtobufCMessage *const *reqs, size_t n_reqs,
                                                ProtobufCMessage **resp, const ferry_rpc_call_opts_t *opts,
                                                ferry_rpc_status_t *st)
{
    (void)c;
    (void)opts;
    fake_cli_method = m;
    fake_cli_n_reqs = n_reqs;
    for (size_t i = 0; i < n_reqs && i < 8; i++) {
        fake_cli_reqs[i] = reqs[i];
    }
    *resp = fake_cli_code == FERRY_RPC_OK ? copy_resp() : NULL;
    if (st != NULL) {
        st->code = fake_cli_code;
    }
    return fake_cli_code;
}
