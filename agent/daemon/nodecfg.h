/**
 * @file nodecfg.h
 * node-config.json (the engine's format, agent/engine/config.c) <-> the published
 * NodeConfig message (common.proto), for LocalService's GetNodeConfig,
 * ValidateNodeConfig and SaveNodeConfig (the tray's settings page). No I/O except the
 * "deep" checks of validation (paths, service, database reachable).
 *
 * Secrets: the connection string's password never leaves the agent: to_proto masks it
 * as "***", and a NodeConfig coming back with "***" (or the same masked string) keeps
 * the password currently in effect.
 */
#ifndef FERRY_AGENTD_NODECFG_H
#define FERRY_AGENTD_NODECFG_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/engine/config.h"
#include "ferry/err.h"
#include "ferry/v1/local.pb-c.h"

/** |cfg| as a NodeConfig (password masked). *out: free with protobuf_c_message_free_unpacked(&(*out)->base,
 * NULL). */
ferry_err_code_t agentd_nodecfg_to_proto(const ferry_node_config_t *cfg, Ferry__V1__NodeConfig **out,
                                         ferry_err_t *err);

/** One problem (mirrors local.proto ConfigIssue). */
typedef struct agentd_cfg_issue {
    char field[64];    /**< JSON path, "paths.serverDir" */
    char message[256]; /**< what is wrong (never a password) */
    bool blocking;
} agentd_cfg_issue_t;

#define AGENTD_MAX_CFG_ISSUES 32

/**
 * Checks |pc|: the same rules as ferry_node_config_parse() (each reported with the field
 * name) plus, with |deep|, that directories exist or can be created, the service
 * control commands/unit exist, sqlite database files exist. Fills up to
 * AGENTD_MAX_CFG_ISSUES issues, returns their count; 0 blocking issues = valid.
 * |current| (may be NULL) supplies the password behind a masked one, and the service
 * control, command lines, health check and stateDir when |pc| does not carry them (a
 * client older than those fields; see nodecfg.c).
 */
size_t agentd_nodecfg_validate(const Ferry__V1__NodeConfig *pc, const ferry_node_config_t *current, bool deep,
                               agentd_cfg_issue_t *issues);

/**
 * Renders |pc| as node-config.json text in the engine's format (*json: free()), with the
 * password of |current| substituted for a masked one (and |current|'s service control,
 * command lines, health check and stateDir where |pc| has none). The result parses with
 * ferry_node_config_parse(); FERRY_E_INVALID_ARG naming the field otherwise.
 */
ferry_err_code_t agentd_nodecfg_to_json(const Ferry__V1__NodeConfig *pc, const ferry_node_config_t *current,
                                        char **json, ferry_err_t *err);

#endif
