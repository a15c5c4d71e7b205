/**
 * @file fleet.h
 * The CLI's fleet commands (issue 12): `ferry license ...` (license.c), `ferry config
 * template|assign|status|diff` (fleet_config.c), `ferry node list --status`,
 * `ferry node history`, `ferry node maintenance` (node_status.c).
 */
#ifndef FERRY_CLI_FLEET_H
#define FERRY_CLI_FLEET_H

#include "cli.h"

extern const ferry_cli_cmd_t ferry_cli_license_cmds[];
extern const ferry_cli_cmd_t ferry_cli_config_template_cmds[];
extern const ferry_cli_cmd_t ferry_cli_server_cmds[]; /* server_cmds.c: health, backup, backups */

/** `ferry config assign|status|diff`: verbs beside `ferry config show`. */
int ferry_cli_config_assign(ferry_cli_t *cli, const ferry_cli_args_t *a);
int ferry_cli_config_status(ferry_cli_t *cli, const ferry_cli_args_t *a);
int ferry_cli_config_diff(ferry_cli_t *cli, const ferry_cli_args_t *a);
extern const ferry_cli_flag_t ferry_cli_config_assign_flags[];
extern const ferry_cli_flag_t ferry_cli_config_status_flags[];
extern const ferry_cli_flag_t ferry_cli_config_diff_flags[];

/** `ferry node list --status S` (ListNodeStatuses), `ferry node history CODE`, `ferry node maintenance CODE
 * on|off`. */
int ferry_cli_node_list_status(ferry_cli_t *cli, const ferry_cli_args_t *a);
int ferry_cli_node_history(ferry_cli_t *cli, const ferry_cli_args_t *a);
int ferry_cli_node_maintenance(ferry_cli_t *cli, const ferry_cli_args_t *a);
extern const ferry_cli_flag_t ferry_cli_node_history_flags[];
extern const ferry_cli_flag_t ferry_cli_node_maintenance_flags[];

/**
 * A date flag: "YYYY-MM-DD" (the start of that day UTC, or with |end_of_day| its last
 * millisecond) or RFC 3339. FERRY_E_INVALID_ARG naming |flag| otherwise.
 */
ferry_err_code_t ferry_cli_parse_date(const char *flag, const char *s, bool end_of_day, int64_t *secs,
                                      int32_t *nanos, ferry_err_t *err);

/** "TRIAL"/"trial"/"LICENSE_TYPE_TRIAL" -> 1..3, -1 when unknown. */
int ferry_cli_parse_license_type(const char *s);
/** "ACTIVE", "GRACE", "EXPIRED", "SUSPENDED", "REVOKED" -> LicenseStatus, -1 when unknown. */
int ferry_cli_parse_license_status(const char *s);
/** "ONLINE", "OFFLINE", "MAINTENANCE", "EXPIRED" -> NodeStatus, -1 when unknown. */
int ferry_cli_parse_node_status(const char *s);
const char *ferry_cli_license_status_name(int v);
const char *ferry_cli_node_status_name(int v);

#endif
