/**
 * @file route_internal.h
 * Transfer routes (route.c, ferry/rpc_route.h) as the rest of the h2o adapter reaches
 * them: call.c hands a request over, server.c registers the completion receiver.
 */
#ifndef FERRY_RPC_SERVER_ROUTE_INTERNAL_H
#define FERRY_RPC_SERVER_ROUTE_INTERNAL_H

#include <h2o.h>

#include "ferry/rpc_route.h"
#include "runtime_internal.h"

/** Serves |req| through the transfer route |fn| (with |user|). Loop thread |lt|. */
void ferry_route_begin(loop_thread_t *lt, h2o_req_t *req, ferry_route_fn fn, void *user);

/** The receiver of lt->route_receiver: route requests completed by workers. Loop thread. */
void ferry_route_on_kicks(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/** Shutdown's grace is over (loop thread |lt|): every file response of this thread still
 *  in flight loses its connection, so a reader that stalled cannot hold the loop. */
void ferry_route_force_close(loop_thread_t *lt);

#endif
