/* The server schema, as numbered migrations. Rules: never edit a migration that has
 * shipped; add a new one. Times are unix milliseconds (UTC). Codes (task states,
 * environments, roles) use the IDL's enum numbers; task states are seed 000 §8.2's. */
#include "ferry/db.h"

static const char m0001_initial[] =
    /* The tree: customer -> store -> node (seed 000 §3.2, fixed depth). */
    "CREATE TABLE customer ("
    "  id INTEGER PRIMARY KEY,"
    "  code TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    /* Store and node codes are unique server-wide (the IDL addresses them by code
     * alone). A disabled store's nodes keep working (they may be mid-update) but get
     * no new tasks; a disabled customer's nodes are refused at auth. */
    "CREATE TABLE store ("
    "  id INTEGER PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customer(id),"
    "  code TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX store_customer ON store(customer_id);"
    /* A node binds with code + environment + token. The token is stored only as
     * SHA-256 of the whole token string; token_id is its public prefix, used to find
     * the row before the constant-time comparison. host_json: the HostInfo of the
     * last check-in as proto3 JSON ('' = none). */
    "CREATE TABLE node ("
    "  id INTEGER PRIMARY KEY,"
    "  store_id INTEGER NOT NULL REFERENCES store(id),"
    "  code TEXT NOT NULL UNIQUE,"
    "  environment INTEGER NOT NULL CHECK (environment BETWEEN 1 AND 4),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  token_id TEXT NOT NULL UNIQUE,"
    "  token_hash BLOB NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  bound_at INTEGER,"
    "  last_seen_at INTEGER,"
    "  agent_version TEXT NOT NULL DEFAULT '',"
    "  installed_version TEXT NOT NULL DEFAULT '',"
    "  free_disk_bytes INTEGER NOT NULL DEFAULT 0,"
    "  current_task_id INTEGER,"
    "  host_json TEXT NOT NULL DEFAULT '',"
    "  token_issued_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX node_store ON node(store_id);"
    "CREATE TABLE admin_token ("
    "  id INTEGER PRIMARY KEY,"
    "  token_id TEXT NOT NULL UNIQUE,"
    "  token_hash BLOB NOT NULL,"
    "  role INTEGER NOT NULL CHECK (role IN (1, 2)),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  created_by INTEGER REFERENCES admin_token(id),"
    "  expires_at INTEGER,"
    "  revoked_at INTEGER,"
    "  last_used_at INTEGER);"
    /* Global storage config has customer_id NULL; a customer's own overrides it for
     * that customer's stores and nodes (seed 000 decision 10). */
    "CREATE TABLE storage_config ("
    "  id INTEGER PRIMARY KEY,"
    "  customer_id INTEGER UNIQUE REFERENCES customer(id),"
    "  kind TEXT NOT NULL,"
    "  settings_json TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  updated_by INTEGER REFERENCES admin_token(id));"
    "CREATE UNIQUE INDEX storage_config_global ON storage_config((customer_id IS NULL)) WHERE customer_id IS "
    "NULL;"
    /* Resumable chunked uploads (packages.c, report.c) land in the blob store's upload
     * area until committed. The bytes received so far are the partial file's size
     * (ferry_blob_upload_offset), never a column: the PUT route writes no row.
     * purpose: 'package' (admin upload) or 'node_file' (report.c); node_id set for the
     * latter. expected_sha256: '' or the hash the client announced (checked at commit).
     * status: 'open' -> 'committed' (or 'aborted'); blob_sha256 set once committed. */
    "CREATE TABLE upload ("
    "  id TEXT PRIMARY KEY,"
    "  purpose TEXT NOT NULL,"
    "  node_id INTEGER REFERENCES node(id),"
    "  file_name TEXT NOT NULL DEFAULT '',"
    "  expected_size INTEGER NOT NULL,"
    "  expected_sha256 TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'committed', 'aborted')),"
    "  blob_sha256 TEXT NOT NULL DEFAULT '',"
    "  created_by INTEGER REFERENCES admin_token(id),"
    /* node_file uploads (report.c): FileKind, the task it belongs to (NULL: none),
     * the MIME type the node announced, and the report_file row once committed. */
    "  file_kind INTEGER NOT NULL DEFAULT 0,"
    "  task_id INTEGER REFERENCES update_task(id),"
    "  content_type TEXT NOT NULL DEFAULT '',"
    "  report_file_id INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    /* A package (packages.c). v_* order versions numerically. type: PackageType enum
     * (1 full, 2 incremental). manifest: the serialized ferry.v1.PackageManifest exactly
     * as signed; signature: Ed25519 over those bytes; key_id: the signing key's id. The
     * zip itself is the blob sha256 (content-addressed). */
    "CREATE TABLE package ("
    "  id INTEGER PRIMARY KEY,"
    "  version TEXT NOT NULL UNIQUE,"
    "  v_major INTEGER NOT NULL, v_minor INTEGER NOT NULL, v_patch INTEGER NOT NULL,"
    "  v_revision INTEGER NOT NULL, v_build INTEGER NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  type INTEGER NOT NULL DEFAULT 1 CHECK (type IN (1, 2)),"
    "  size INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  has_server INTEGER NOT NULL, has_client INTEGER NOT NULL,"
    "  has_schema_sql INTEGER NOT NULL, has_data_sql INTEGER NOT NULL,"
    "  manifest BLOB NOT NULL,"
    "  signature BLOB NOT NULL,"
    "  key_id TEXT NOT NULL,"
    "  created_by INTEGER REFERENCES admin_token(id),"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX package_order ON package(v_major, v_minor, v_patch, v_revision, v_build);"
    /* A release (releases.c). status: ReleaseState (1 active, 2 paused, 3 canceled); 4
     * completed is derived when reading (no task left in a non-final state). policy:
     * ReleasePolicy as requested (1 forced, 2 optional); an optional release with a
     * deadline is effectively forced once deadline_at has passed (decided when read,
     * see hub_effective_policy). kind/rollback_of: reserved (rollback tasks live in the
     * release they roll back, update_task.kind = 2). */
    "CREATE TABLE release ("
    "  id INTEGER PRIMARY KEY,"
    "  package_id INTEGER NOT NULL REFERENCES package(id),"
    "  customer_id INTEGER NOT NULL REFERENCES customer(id),"
    "  environment INTEGER NOT NULL CHECK (environment BETWEEN 1 AND 4),"
    "  policy INTEGER NOT NULL CHECK (policy IN (1, 2)),"
    "  deadline_at INTEGER,"
    "  status INTEGER NOT NULL DEFAULT 1 CHECK (status IN (1, 2, 3)),"
    "  kind INTEGER NOT NULL DEFAULT 1,"
    "  rollback_of INTEGER REFERENCES release(id),"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_by INTEGER REFERENCES admin_token(id),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX release_customer ON release(customer_id, environment);"
    /* Scope rows: none = the whole customer in that environment; otherwise stores
     * and/or nodes. Resolved to tasks at publish time. */
    "CREATE TABLE release_target ("
    "  id INTEGER PRIMARY KEY,"
    "  release_id INTEGER NOT NULL REFERENCES release(id),"
    "  store_id INTEGER REFERENCES store(id),"
    "  node_id INTEGER REFERENCES node(id),"
    "  CHECK ((store_id IS NULL) <> (node_id IS NULL)));"
    "CREATE INDEX release_target_release ON release_target(release_id);"
    /* One UPDATE task (kind 1) per node per release, plus at most one ROLLBACK task
     * (kind 2, rollback_of_task_id = the update task whose backup it restores). Seed 000
     * §7.2 adds BackupLocalPath, ServerDir, ClientDir, ReportFilesJson.
     *   state: seed 000 §8.2 code; error_code: seed §8.3 name or '' (a task canceled
     *     before it touched the node ends 110 with 'E_CANCELED').
     *   last_seq: highest agent report sequence accepted (report.c; idempotency).
     *   bytes / bytes_total: progress of the current step.
     *   halted: 1 while the release is paused (tasks in 10..40 are not handed out /
     *     must not proceed) or after a cancel; agent.c must not offer halted tasks.
     *   attempt: (re)starts (crash resume, admin retry). checkpoint: seed 002 resume
     *     point, free-form.
     *   report_files_json / timings_json / hooks_json: proto3 JSON arrays of
     *     ferry.v1.ReportFileRef / StepTiming / HookReport (exactly what the
     *     UpdateTask fields report_files / timings / hooks hold). */
    "CREATE TABLE update_task ("
    "  id INTEGER PRIMARY KEY,"
    "  release_id INTEGER NOT NULL REFERENCES release(id),"
    "  node_id INTEGER NOT NULL REFERENCES node(id),"
    "  kind INTEGER NOT NULL DEFAULT 1 CHECK (kind IN (1, 2)),"
    "  state INTEGER NOT NULL DEFAULT 10,"
    "  error_code TEXT NOT NULL DEFAULT '',"
    "  message TEXT NOT NULL DEFAULT '',"
    "  percent INTEGER NOT NULL DEFAULT 0,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  bytes_total INTEGER NOT NULL DEFAULT 0,"
    "  last_seq INTEGER NOT NULL DEFAULT 0,"
    "  halted INTEGER NOT NULL DEFAULT 0,"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  checkpoint TEXT NOT NULL DEFAULT '',"
    "  rollback_of_task_id INTEGER REFERENCES update_task(id),"
    "  backup_local_path TEXT NOT NULL DEFAULT '',"
    "  server_dir TEXT NOT NULL DEFAULT '',"
    "  client_dir TEXT NOT NULL DEFAULT '',"
    "  report_files_json TEXT NOT NULL DEFAULT '[]',"
    "  timings_json TEXT NOT NULL DEFAULT '[]',"
    "  hooks_json TEXT NOT NULL DEFAULT '[]',"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  UNIQUE (release_id, node_id, kind));"
    "CREATE INDEX update_task_node_state ON update_task(node_id, state);"
    "CREATE INDEX update_task_state ON update_task(state);"
    /* A task's history. seq: the agent's report sequence (> 0), or 0 for server-side
     * events (creation, pause, cancel...), which are not deduplicated (the UNIQUE
     * index is partial). source: 'agent', 'server' or 'admin:<token id>'.
     * reported_at: agent clock (NULL for server events); at: server receive time.
     * hook_json: a ferry.v1.HookReport as proto3 JSON, or ''. */
    "CREATE TABLE task_event ("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL REFERENCES update_task(id),"
    "  seq INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  error_code TEXT NOT NULL DEFAULT '',"
    "  message TEXT NOT NULL DEFAULT '',"
    "  percent INTEGER NOT NULL DEFAULT 0,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  bytes_total INTEGER NOT NULL DEFAULT 0,"
    "  source TEXT NOT NULL DEFAULT 'agent',"
    "  hook_json TEXT NOT NULL DEFAULT '',"
    "  reported_at INTEGER,"
    "  at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX task_event_seq ON task_event(task_id, seq) WHERE seq > 0;"
    "CREATE INDEX task_event_task ON task_event(task_id, id);"
    /* Files nodes upload (report.c writes, tasks.c reads). kind: FileKind (1 node
     * config, 2 log, 3 diagnostic, 4 sql log). blob_sha256: the content in the blob
     * store. task_id NULL for files not tied to a task (NODE_CONFIG). */
    "CREATE TABLE report_file ("
    "  id INTEGER PRIMARY KEY,"
    "  node_id INTEGER NOT NULL REFERENCES node(id),"
    "  task_id INTEGER REFERENCES update_task(id),"
    "  kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),"
    "  name TEXT NOT NULL,"
    "  blob_sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  summary TEXT NOT NULL DEFAULT '',"
    "  content_type TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX report_file_task ON report_file(task_id);"
    "CREATE INDEX report_file_node ON report_file(node_id, id);"
    /* Read-only for admins: the tray uploads, the server indexes (seed 000 §5.2); one
     * row per node, replaced by each NODE_CONFIG commit (report.c). file_id: the
     * report_file row. summary_json: the parsed ferry.v1.NodeConfig as proto3 JSON with
     * secrets masked ("***"), or '' when the file did not parse. */
    "CREATE TABLE node_config_index ("
    "  node_id INTEGER PRIMARY KEY REFERENCES node(id),"
    "  config_version INTEGER NOT NULL,"
    "  file_id INTEGER REFERENCES report_file(id),"
    "  blob_sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  summary_json TEXT NOT NULL,"
    "  uploaded_at INTEGER NOT NULL);"
    /* One row per mutating admin call (audit.c). outcome: AuditOutcome (1 success,
     * 2 failure, 3 denied); error_code: the Ferry error name or the RPC code name.
     * target: the targets as written ("customer:ACME,store:S1"); audit_target holds
     * them split, for filtering. */
    "CREATE TABLE audit_log ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  actor_token_id TEXT NOT NULL,"
    "  actor_name TEXT NOT NULL DEFAULT '',"
    "  actor_role INTEGER NOT NULL,"
    "  method TEXT NOT NULL,"
    "  target TEXT NOT NULL DEFAULT '',"
    "  request_id TEXT NOT NULL DEFAULT '',"
    "  outcome INTEGER NOT NULL CHECK (outcome BETWEEN 1 AND 3),"
    "  error_code TEXT NOT NULL DEFAULT '',"
    "  remote_addr TEXT NOT NULL DEFAULT '',"
    "  detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX audit_log_at ON audit_log(at);"
    "CREATE INDEX audit_log_actor ON audit_log(actor_token_id);"
    "CREATE TABLE audit_target ("
    "  audit_id INTEGER NOT NULL REFERENCES audit_log(id),"
    "  kind TEXT NOT NULL,"
    "  target_id TEXT NOT NULL);"
    "CREATE INDEX audit_target_kind_id ON audit_target(kind, target_id);"
    "CREATE INDEX audit_target_audit ON audit_target(audit_id);";

/* Download mirrors of a storage configuration (seed 003, storage.c): the proto3 JSON
 * array of ferry.v1.DownloadMirror ([{"name":..,"baseUrl":..}]) in the order agents
 * try them after the primary storage; base URLs are stored without a trailing '/'. */
static const char m0002_storage_mirrors[] =
    "ALTER TABLE storage_config ADD COLUMN mirrors_json TEXT NOT NULL DEFAULT '[]';";

/* Download telemetry of a task (seed 003, report.c): the ferry.v1.DownloadStats the
 * agent sent with the report that left DOWNLOADING, as proto3 JSON ('' = none yet; a
 * later report carrying stats replaces it, e.g. after a retry). */
static const char m0003_task_download[] =
    "ALTER TABLE update_task ADD COLUMN download_json TEXT NOT NULL DEFAULT '';";

/* Step timings of a task (report.c), one row per step: what the agent's reports carried
 * in ProgressReport.timings (a later report with the same state + started_at updates
 * the duration; seq is the report sequence that last wrote the row). Rows, not a JSON
 * column, so loading a task never parses an agent-sized document under the DB lock;
 * report.c caps them per report and per task. The old timings_json column was written
 * in a shape GetTask never read: its small, well-formed arrays move here, and it is
 * left '[]' (unused). */
static const char m0004_task_timing[] =
    "CREATE TABLE task_timing ("
    "  task_id INTEGER NOT NULL REFERENCES update_task(id),"
    "  state INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (task_id, state, started_at)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO task_timing (task_id, state, started_at, duration_ms, seq)"
    "  SELECT t.id, json_extract(j.value, '$.state'), COALESCE(json_extract(j.value, '$.startedAt'), 0),"
    "    COALESCE(json_extract(j.value, '$.durationMs'), 0), t.last_seq"
    "  FROM update_task t, json_each(CASE WHEN json_valid(t.timings_json)"
    "    AND json_type(t.timings_json) = 'array' AND json_array_length(t.timings_json) <= 64"
    "    THEN t.timings_json ELSE '[]' END) j"
    "  WHERE json_type(j.value, '$.state') = 'integer';"
    "UPDATE update_task SET timings_json = '[]' WHERE timings_json <> '[]';";

/* Fleet management (issue 12, seeds 001 and 004): licences, node status and its
 * transitions, configuration templates and their per-node assignments.
 * license: node_id NULL = every node of the customer. status holds what an admin set
 * (1 ACTIVE, 3 SUSPENDED, 4 REVOKED); GRACE and EXPIRED are computed from ends_at and
 * grace_ms at read time, so no timer ever writes a licence. revision: +1 per change
 * (it is part of the signed document).
 * node_status: one row per node whose status was ever recorded (written on
 * transitions only, never per heartbeat); node_event: the transitions.
 * config_template: one row per version (name, version) unique. config_assignment: a
 * version rendered for one node; superseded = 1 once a newer assignment of the same
 * template exists for that node (only the newest is delivered). */
static const char m0005_fleet[] =
    "CREATE TABLE license ("
    "  id INTEGER PRIMARY KEY,"
    "  license_key TEXT NOT NULL UNIQUE,"
    "  customer_id INTEGER NOT NULL REFERENCES customer(id),"
    "  node_id INTEGER REFERENCES node(id),"
    "  type INTEGER NOT NULL CHECK (type BETWEEN 1 AND 3),"
    "  starts_at INTEGER NOT NULL,"
    "  ends_at INTEGER NOT NULL,"
    "  max_users INTEGER NOT NULL DEFAULT 0,"
    "  max_companies INTEGER NOT NULL DEFAULT 0,"
    "  features_json TEXT NOT NULL DEFAULT '[]',"
    "  status INTEGER NOT NULL DEFAULT 1 CHECK (status IN (1, 3, 4)),"
    "  grace_ms INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  created_by INTEGER REFERENCES admin_token(id));"
    "CREATE INDEX license_ends ON license(ends_at);"
    "CREATE INDEX license_node ON license(node_id);"
    "CREATE INDEX license_customer ON license(customer_id);"
    "CREATE TABLE node_status ("
    "  node_id INTEGER PRIMARY KEY REFERENCES node(id),"
    "  status INTEGER NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  maintenance INTEGER NOT NULL DEFAULT 0,"
    "  maintenance_reason TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE node_event ("
    "  id INTEGER PRIMARY KEY,"
    "  node_id INTEGER NOT NULL REFERENCES node(id),"
    "  at INTEGER NOT NULL,"
    "  from_status INTEGER NOT NULL,"
    "  to_status INTEGER NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  actor TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX node_event_node ON node_event(node_id, id);"
    "CREATE TABLE config_template ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  type INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),"
    "  format INTEGER NOT NULL CHECK (format BETWEEN 1 AND 3),"
    "  data_json TEXT NOT NULL,"
    "  target_path TEXT NOT NULL,"
    "  restart_service INTEGER NOT NULL DEFAULT 0,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  created_by INTEGER REFERENCES admin_token(id),"
    "  UNIQUE (name, version));"
    "CREATE TABLE config_assignment ("
    "  id INTEGER PRIMARY KEY,"
    "  node_id INTEGER NOT NULL REFERENCES node(id),"
    "  template_id INTEGER NOT NULL REFERENCES config_template(id),"
    "  template_name TEXT NOT NULL,"
    "  values_json TEXT NOT NULL DEFAULT '{}',"
    "  rendered TEXT NOT NULL,"
    "  rendered_sha256 TEXT NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 1 CHECK (state BETWEEN 1 AND 4),"
    "  error_message TEXT NOT NULL DEFAULT '',"
    "  assigned_at INTEGER NOT NULL,"
    "  assigned_by INTEGER REFERENCES admin_token(id),"
    "  applied_at INTEGER,"
    "  superseded INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX config_assignment_node ON config_assignment(node_id, template_name, id);"
    "CREATE INDEX config_assignment_open ON config_assignment(node_id) WHERE state = 1 AND superseded = 0;";

/* Report files of kind 5 (FILE_KIND_UPGRADE_REPORT, issue 11): the agent's
 * upgrade-report.json. SQLite cannot alter a CHECK, so report_file is rebuilt. No
 * RENAME: with legacy_alter_table off, renaming the old table would rewrite
 * node_config_index.file_id's REFERENCES to the old name. Instead the rows wait in a
 * plain copy while the table is dropped and created again under its own name.
 * foreign_keys=ON cannot be switched off inside the migration's transaction, so the
 * drop's implicit DELETE is deferred (defer_foreign_keys, reset at COMMIT): the
 * node_config_index rows it orphans find their parents again when the same ids are
 * copied back, before the commit checks. (upload.file_kind has no CHECK.) */
static const char m0006_upgrade_report_kind[] =
    "PRAGMA defer_foreign_keys=ON;"
    "CREATE TEMP TABLE report_file_copy AS SELECT * FROM report_file;"
    "DROP TABLE report_file;"
    "CREATE TABLE report_file ("
    "  id INTEGER PRIMARY KEY,"
    "  node_id INTEGER NOT NULL REFERENCES node(id),"
    "  task_id INTEGER REFERENCES update_task(id),"
    "  kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 5),"
    "  name TEXT NOT NULL,"
    "  blob_sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  summary TEXT NOT NULL DEFAULT '',"
    "  content_type TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL);"
    "INSERT INTO report_file (id, node_id, task_id, kind, name, blob_sha256, size, summary, content_type,"
    "  created_at)"
    "  SELECT id, node_id, task_id, kind, name, blob_sha256, size, summary, content_type, created_at"
    "  FROM report_file_copy;"
    "DROP TABLE report_file_copy;"
    "CREATE INDEX report_file_task ON report_file(task_id);"
    "CREATE INDEX report_file_node ON report_file(node_id, id);";

/* Hooks an administrator chose to skip in a task's next attempt (issue 11, `ferry task
 * retry ID --skip HOOK_ID`): a JSON array of hooks.json ids, written by RetryTask, sent
 * in Assignment.skip_hook_ids; '[]' = none. */
static const char m0007_task_skip_hooks[] =
    "ALTER TABLE update_task ADD COLUMN skip_hooks_json TEXT NOT NULL DEFAULT '[]';";

/* Rollouts in waves and maintenance windows (waves.c, issue 13).
 *   release: wave_count 0 = no waves (every task created at once); current_wave the
 *     running wave (1-based); success_threshold percent of a wave's tasks at 100 before
 *     the next starts; error_threshold a percent (error_is_count 0) or a task count (1)
 *     of failures in the current wave above which the release pauses by itself;
 *     approve_waves: each next wave waits for PromoteRelease (awaiting_promotion 1
 *     meanwhile); failures_acked: failures of the current wave an admin resumed past
 *     (the next one pauses again); window_start/window_end: the daily maintenance
 *     window in minutes after the node's local midnight (NULL: none); paused_reason: why
 *     status is PAUSED.
 *   release_wave: one row per wave (spec as requested, "canary", or "rest"); started_at
 *     NULL until its tasks are created.
 *   release_node: the scope resolved at creation in rollout order (ord), with each
 *     node's wave: a wave's tasks are created from these rows when it starts.
 *   update_task.wave: the task's wave (0: no waves); the partial index counts a wave's
 *     tasks per state without touching releases that have no waves.
 *   node.time_zone: "+08:00", "UTC" or '' (the server's zone). */
static const char m0008_rollout_waves[] =
    "ALTER TABLE release ADD COLUMN wave_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release ADD COLUMN current_wave INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release ADD COLUMN success_threshold INTEGER NOT NULL DEFAULT 100;"
    "ALTER TABLE release ADD COLUMN error_threshold INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release ADD COLUMN error_is_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release ADD COLUMN approve_waves INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release ADD COLUMN awaiting_promotion INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release ADD COLUMN failures_acked INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release ADD COLUMN window_start INTEGER;"
    "ALTER TABLE release ADD COLUMN window_end INTEGER;"
    "ALTER TABLE release ADD COLUMN paused_reason TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE release_wave ("
    "  release_id INTEGER NOT NULL REFERENCES release(id),"
    "  number INTEGER NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  node_count INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  PRIMARY KEY (release_id, number)) WITHOUT ROWID;"
    "CREATE TABLE release_node ("
    "  release_id INTEGER NOT NULL REFERENCES release(id),"
    "  ord INTEGER NOT NULL,"
    "  node_id INTEGER NOT NULL REFERENCES node(id),"
    "  wave INTEGER NOT NULL,"
    "  canary INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (release_id, ord)) WITHOUT ROWID;"
    "CREATE INDEX release_node_wave ON release_node(release_id, wave, ord);"
    "ALTER TABLE update_task ADD COLUMN wave INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX update_task_wave ON update_task(release_id, wave, state) WHERE wave > 0;"
    "ALTER TABLE node ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';";

/* Upgrade hook results as rows (issue 11's follow-up): what the agent reports in
 * ProgressReport.hook, one row per hook id (the newest result wins), tagged with the
 * task's attempt so `task retry --skip-failed-hook` finds the hooks that stopped the
 * last attempt. The old hooks_json column was never written; it stays '[]' (unused). */
static const char m0009_task_hook[] = "CREATE TABLE task_hook ("
                                      "  task_id INTEGER NOT NULL REFERENCES update_task(id),"
                                      "  hook_id TEXT NOT NULL,"
                                      "  stage INTEGER NOT NULL,"
                                      "  name TEXT NOT NULL,"
                                      "  result INTEGER NOT NULL,"
                                      "  message TEXT NOT NULL,"
                                      "  stderr_tail TEXT NOT NULL,"
                                      "  duration_ms INTEGER NOT NULL,"
                                      "  exit_status INTEGER NOT NULL,"
                                      "  attempt INTEGER NOT NULL,"
                                      "  seq INTEGER NOT NULL,"
                                      "  at INTEGER NOT NULL,"
                                      "  PRIMARY KEY (task_id, hook_id)) WITHOUT ROWID;";

/* Failures acknowledged per wave (a resume), so a wave's failures that arrive after the
 * next wave started still count against the error threshold, and acknowledged ones do not
 * count again. release.failures_acked (the current wave's) moves to its wave's row and is
 * left unused. */
static const char m0010_wave_failures_acked[] =
    "ALTER TABLE release_wave ADD COLUMN failures_acked INTEGER NOT NULL DEFAULT 0;"
    "UPDATE release_wave SET failures_acked = (SELECT r.failures_acked FROM release r"
    "  WHERE r.id = release_wave.release_id AND r.current_wave = release_wave.number)"
    " WHERE EXISTS (SELECT 1 FROM release r WHERE r.id = release_wave.release_id"
    "  AND r.current_wave = release_wave.number);";

static const ferry_db_migration_t migrations[] = {
    {1, "initial schema", m0001_initial},
    {2, "storage mirrors", m0002_storage_mirrors},
    {3, "task download telemetry", m0003_task_download},
    {4, "task step timings as rows", m0004_task_timing},
    {5, "fleet: licences, node status, configuration distribution", m0005_fleet},
    {6, "report files of kind UPGRADE_REPORT", m0006_upgrade_report_kind},
    {7, "hooks to skip in a task's next attempt", m0007_task_skip_hooks},
    {8, "rollouts in waves, maintenance windows, node time zones", m0008_rollout_waves},
    {9, "upgrade hook results as rows", m0009_task_hook},
    {10, "failures acknowledged per wave", m0010_wave_failures_acked},
};

const ferry_db_migration_t *ferry_db_migrations(size_t *n)
{
    *n = sizeof(migrations) / sizeof(migrations[0]);
    return migrations;
}
