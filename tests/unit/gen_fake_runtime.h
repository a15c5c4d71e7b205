/*
 * A recording stand-in for the RPC server and client runtimes, so the generated
 * trampolines and stubs can be tested without sockets (and before the runtimes
 * exist). Only the functions the generated code calls are provided.
 */
#ifndef FERRY_TEST_GEN_FAKE_RUNTIME_H
#define FERRY_TEST_GEN_FAKE_RUNTIME_H

#include "ferry/rpc_client.h"
#include "ferry/rpc_server.h"

struct ferry_rpc_call {
    const ProtobufCMessageDescriptor *replied; /* type of the last reply() or send() */
    int n_sent;
    ferry_rpc_code_t failed; /* code passed to fail(), OK if none */
    char fail_msg[256];
    void *data; /* set_data() slot (one key is enough here) */
    void (*data_free)(void *);
};

/* What the last ferry_rpc_server_register() received. */
extern const ferry_rpc_service_desc_t *fake_srv_desc;
extern const ferry_rpc_handler_fn *fake_srv_handlers;
extern void *fake_srv_user;

/* What the last client call received; the fake answers with fake_cli_resp (a fresh copy). */
extern const ferry_rpc_method_t *fake_cli_method;
extern const ProtobufCMessage *fake_cli_req;
extern size_t fake_cli_n_reqs;
extern const ProtobufCMessage *fake_cli_reqs[8];
extern const ProtobufCMessage *fake_cli_resp;
extern ferry_rpc_code_t fake_cli_code;
extern int fake_cli_stream_n; /* server_stream() delivers this many copies of fake_cli_resp */
/* ferry_rpc_client_register_service(): number of calls and the last argument */
extern int fake_cli_registered;
extern const ferry_rpc_service_desc_t *fake_cli_registered_desc;

/* Frees a call's set_data() slot, as the runtime does when a call ends. */
void fake_call_end(struct ferry_rpc_call *call);

#endif
