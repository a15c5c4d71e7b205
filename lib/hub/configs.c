/*
 * Configuration distribution (seed 001 配置分发): templates and their versions,
 * assignment to a scope, rendering per node, the agents' results.
 */
#include "hub_fleet.h"

ferry_err_code_t hub_configs_open(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                  Ferry__V1__ConfigAssignment ***out, size_t *n, ferry_err_t *err)
{
    (void)hub;
    (void)a;
    (void)node_id;
    (void)err;
    *out = NULL;
    *n = 0;
    return FERRY_OK;
}

ferry_err_code_t hub_configs_pending_nodes(ferry_hub_t *hub, void (*fn)(ferry_hub_t *hub, int64_t node_id),
                                           ferry_err_t *err)
{
    (void)hub;
    (void)fn;
    (void)err;
    return FERRY_OK;
}

void hub_configs_bind(ferry_hub_t *hub)
{
    (void)hub;
}
