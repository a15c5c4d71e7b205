/*
 * The read-only node configuration index (seed 000 §5.2): what the server keeps of an
 * uploaded node-config.json and how it shows it to admins (nodecfg.c). Pure functions:
 * text in, text out; no database, no engine code (the agent engine's strict parser in
 * agent/engine/config.c stays on the node).
 *
 *   - at commit (report.c): hub_node_config_mask() keeps the whole document with every
 *     secret masked (a connection string keeps its shape, only Password/Pwd become
 *     "***"; command lines pass through ferry_log_mask_secrets(); other secret-named
 *     members become "***") and reads configVersion;
 *   - when read (tasks.c): hub_node_config_proto_json() maps the stored document, in
 *     the engine's format (agent/engine/include/ferry/engine/config.h: "engine":
 *     "sqlite"/"mssql", plus service.control, the command lines, healthCheck, stateDir)
 *     or in the canonical ferry.v1.NodeConfig JSON, onto ferry.v1.NodeConfig's JSON
 *     (service.control and healthCheck.kind as the ServiceControl / HealthCheckKind
 *     names; command lines and the health target masked once more, so a row indexed
 *     unmasked by an older server shows no secret either). Members NodeConfig has no
 *     field for are left out; a member of the wrong type or an unknown enum word is
 *     skipped, never fatal, so the preview shows everything that can be shown.
 */
#ifndef FERRY_HUB_NODECFG_H
#define FERRY_HUB_NODECFG_H

#include <stddef.h>
#include <stdint.h>

/**
 * Masks the password of an ADO/ODBC connection string ("Server=x;User Id=sa;
 * Password=s3cret;" -> "...;Password=***;"), whatever its quoting ({a;b}, "a;b", 'a'):
 * ferry_connstr_mask() (ferry/connstr.h). A string that does not parse, or names a key
 * that is not a SQL Server connection keyword, is withheld whole ("***"). Returns a
 * malloc'd string (NULL: out of memory).
 */
char *hub_connstr_mask(const char *in);

/**
 * Parses the node-config.json text |json| (|len| bytes). On success returns the whole
 * document with secrets masked as compact JSON (malloc'd) and sets *config_version
 * (configVersion as a number or a decimal string; 0 when absent). NULL when the text
 * is not a JSON object (*config_version = 0).
 */
char *hub_node_config_mask(const char *json, size_t len, int64_t *config_version);

/**
 * Maps a stored (masked) document onto the canonical proto3 JSON of ferry.v1.NodeConfig
 * (malloc'd), or NULL when it is not a JSON object.
 */
char *hub_node_config_proto_json(const char *stored);

#endif
