/*
 * tray/presenter: the decisions of ferry-tray without a display or an agent: icon state
 * from the agent's status, "Later" choices capped at the deadline, the countdown, the
 * step list of a progress window, node configuration fields (parse, range, messages
 * naming the field, nothing changed on a refusal), the connection string password,
 * bind input checks and where a bind refusal is shown.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/tray/presenter.h"

/* A status with the given pieces (strings are literals: never freed). */
static Ferry__V1__AgentStatus status(bool bound, Ferry__V1__ServerLink link)
{
    Ferry__V1__AgentStatus s = FERRY__V1__AGENT_STATUS__INIT;
    s.bound = bound;
    s.link = link;
    s.installed_version = (char *)"1.25.12.13(12521)";
    return s;
}

static Ferry__V1__UpdateTask task(const char *id, int state, unsigned pct)
{
    Ferry__V1__UpdateTask t = FERRY__V1__UPDATE_TASK__INIT;
    t.id = (char *)id;
    t.package_version = (char *)"1.25.12.14(12522)";
    t.state = (Ferry__V1__TaskState)state;
    t.percent = pct;
    t.kind = FERRY__V1__TASK_KIND__TASK_KIND_UPDATE;
    return t;
}

START_TEST(icon_follows_agent_status)
{
    char tip[256];
    ck_assert_int_eq(ferry_tray_icon_state(NULL), FERRY_TRAY_ICON_AGENT_DOWN);
    Ferry__V1__AgentStatus s = status(false, FERRY__V1__SERVER_LINK__SERVER_LINK_UNBOUND);
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_NOT_BOUND);
    s = status(true, FERRY__V1__SERVER_LINK__SERVER_LINK_AUTH_FAILED);
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_NOT_BOUND);
    ck_assert_ptr_nonnull(
        strstr(ferry_tray_tooltip(&s, FERRY_TRAY_ICON_NOT_BOUND, tip, sizeof(tip)), "bind again"));
    s = status(true, FERRY__V1__SERVER_LINK__SERVER_LINK_STREAMING);
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_IDLE);
    ck_assert_str_eq(ferry_tray_icon_name(FERRY_TRAY_ICON_IDLE), "idle");
    s.link = FERRY__V1__SERVER_LINK__SERVER_LINK_OFFLINE;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_OFFLINE);
    s.link = FERRY__V1__SERVER_LINK__SERVER_LINK_POLLING;
    s.pending_count = 2;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_UPDATE_AVAILABLE);
    s.prompt_waiting = true;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_PROMPT_WAITING);
    /* A task waiting in 40 is the prompt, not "updating". */
    Ferry__V1__UpdateTask w = task("t1", 40, 0);
    s.current_task = &w;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_PROMPT_WAITING);
    Ferry__V1__UpdateTask run = task("t1", 60, 45);
    s.current_task = &run;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_UPDATING);
    ferry_tray_tooltip(&s, FERRY_TRAY_ICON_UPDATING, tip, sizeof(tip));
    ck_assert_ptr_nonnull(strstr(tip, "60 BackingUp 45%"));
    ck_assert_ptr_nonnull(strstr(tip, "1.25.12.14(12522)"));
    /* Failed: the last ended update is 110, or 130 (restored after a failure). */
    s.current_task = NULL;
    s.prompt_waiting = false;
    Ferry__V1__UpdateTask last = task("t0", 130, 100);
    last.error_code = (char *)"E_SQL_FAILED_DATA";
    s.last_task = &last;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_FAILED);
    ferry_tray_tooltip(&s, FERRY_TRAY_ICON_FAILED, tip, sizeof(tip));
    ck_assert_ptr_nonnull(strstr(tip, "E_SQL_FAILED_DATA"));
    ck_assert_ptr_nonnull(strstr(tip, "restored"));
    /* ...but a rollback task that reached 130 did what it was asked. */
    last.kind = FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_UPDATE_AVAILABLE);
    last.kind = FERRY__V1__TASK_KIND__TASK_KIND_UPDATE;
    last.state = FERRY__V1__TASK_STATE__TASK_STATE_SUCCEEDED;
    s.pending_count = 0;
    ck_assert_int_eq(ferry_tray_icon_state(&s), FERRY_TRAY_ICON_IDLE);
}
END_TEST

START_TEST(prompt_notification_on_edge_only)
{
    Ferry__V1__AgentStatus a = status(true, FERRY__V1__SERVER_LINK__SERVER_LINK_STREAMING);
    Ferry__V1__AgentStatus b = a;
    b.prompt_waiting = true;
    ck_assert(ferry_tray_prompt_started(&a, &b));
    ck_assert(ferry_tray_prompt_started(NULL, &b));
    ck_assert(!ferry_tray_prompt_started(&b, &b));
    ck_assert(!ferry_tray_prompt_started(&b, &a));
}
END_TEST

START_TEST(defer_choices_capped_at_deadline)
{
    ferry_tray_defer_choice_t c[FERRY_TRAY_MAX_DEFER];
    setenv("TZ", "UTC", 1);
    tzset();
    int64_t now = 1796371200; /* 2026-12-04T08:00:00Z, a Friday */
    /* No deadline: 1 h, 4 h, tomorrow 09:00. */
    ck_assert_uint_eq(ferry_tray_defer_choices(now, 0, c), 3);
    ck_assert_int_eq(c[0].defer_s, 3600);
    ck_assert_int_eq(c[1].defer_s, 4 * 3600);
    ck_assert_int_eq(c[2].until_s, now + 86400 + 3600);
    ck_assert_str_eq(c[2].label, "Tomorrow 09:00");
    ck_assert(!c[0].capped && !c[1].capped && !c[2].capped);
    /* Deadline in 2 h: 1 h, then one "until the deadline" instead of 4 h and tomorrow. */
    ck_assert_uint_eq(ferry_tray_defer_choices(now, now + 7200, c), 2);
    ck_assert_int_eq(c[0].defer_s, 3600);
    ck_assert(c[1].capped);
    ck_assert_int_eq(c[1].until_s, now + 7200);
    ck_assert_ptr_nonnull(strstr(c[1].label, "Until the deadline"));
    /* Deadline in 30 min: only until the deadline. */
    ck_assert_uint_eq(ferry_tray_defer_choices(now, now + 1800, c), 1);
    ck_assert_int_eq(c[0].defer_s, 1800);
    /* Under a minute left, or passed: no choice, the update runs. */
    ck_assert_uint_eq(ferry_tray_defer_choices(now, now + 30, c), 0);
    ck_assert_uint_eq(ferry_tray_defer_choices(now, now - 5, c), 0);
    /* Never past the deadline, whatever the day. */
    for (int64_t dl = now + 61; dl < now + 3 * 86400; dl += 977) {
        size_t n = ferry_tray_defer_choices(now, dl, c);
        ck_assert_uint_ge(n, 1);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_le(c[i].until_s, dl);
    }
}
END_TEST

START_TEST(defer_check_and_countdown)
{
    ferry_err_t err = {0};
    int64_t now = 1796371200, d = 0;
    ck_assert_int_eq(ferry_tray_defer_check(now, now + 7200, now + 3600, &d, &err), FERRY_OK);
    ck_assert_int_eq(d, 3600);
    ck_assert_int_eq(ferry_tray_defer_check(now, now + 7200, now + 7201, &d, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "--until"));
    ck_assert_ptr_nonnull(strstr(err.msg, "deadline"));
    ck_assert_int_eq(ferry_tray_defer_check(now, 0, now - 1, &d, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "not in the future"));
    ck_assert_int_eq(ferry_tray_defer_check(now, 0, now + 86400 * 30, &d, &err), FERRY_OK);

    char buf[160];
    ck_assert_ptr_nonnull(
        strstr(ferry_tray_deadline_text(now, now + 3 * 3600 + 125, buf, sizeof(buf)), "03:02:05 left"));
    ck_assert_ptr_nonnull(
        strstr(ferry_tray_deadline_text(now, now + 2 * 86400 + 7200, buf, sizeof(buf)), "2 d 2 h left"));
    ck_assert_ptr_nonnull(strstr(ferry_tray_deadline_text(now, now, buf, sizeof(buf)), "will run now"));
    ck_assert(ferry_tray_deadline_passed(now, now));
    ck_assert(!ferry_tray_deadline_passed(now, 0));
    ck_assert_str_eq(ferry_tray_size_text(900, buf, sizeof(buf)), "900 B");
    ck_assert_str_eq(ferry_tray_size_text(5 * 1024 * 1024 + 512 * 1024, buf, sizeof(buf)), "5.5 MiB");
}
END_TEST

START_TEST(rfc3339)
{
    ferry_err_t err = {0};
    int64_t t = 0;
    char buf[40];
    ck_assert_int_eq(ferry_tray_parse_rfc3339("2026-12-04T08:00:00Z", "--until", &t, &err), FERRY_OK);
    ck_assert_int_eq(t, 1796371200);
    ck_assert_int_eq(ferry_tray_parse_rfc3339("2026-12-04T16:00:00.250+08:00", "--until", &t, &err),
                     FERRY_OK);
    ck_assert_int_eq(t, 1796371200);
    ck_assert_str_eq(ferry_tray_format_rfc3339(t, buf, sizeof(buf)), "2026-12-04T08:00:00Z");
    const char *bad[] = {"",
                         "2026-12-04",
                         "2026-12-04T08:00:00",
                         "2026-13-04T08:00:00Z",
                         "tomorrow",
                         "2026-12-04T08:00:00Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(ferry_tray_parse_rfc3339(bad[i], "--until", &t, &err), FERRY_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(err.msg, "--until"));
    }
}
END_TEST

/* Feeds current-task snapshots then the ended task, like WatchStatus does. */
static void feed(ferry_tray_progress_t *p, const char *id, int state, unsigned pct, bool ended)
{
    Ferry__V1__AgentStatus s = status(true, FERRY__V1__SERVER_LINK__SERVER_LINK_STREAMING);
    Ferry__V1__UpdateTask t = task(id, state, pct);
    t.policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
    if (ended) {
        t.backup_local_path = (char *)"/srv/backup/1.25.12.14(12522)";
        if (state == 110 || state == 130)
            t.error_code = (char *)"E_SQL_FAILED_DATA";
        s.last_task = &t;
    } else {
        s.current_task = &t;
    }
    ferry_tray_progress_feed(p, &s);
}

static ferry_tray_step_mark_t mark_of(const ferry_tray_step_t *steps, int state)
{
    for (size_t i = 0; i < FERRY_TRAY_STEPS; i++)
        if (steps[i].state == state)
            return steps[i].mark;
    return (ferry_tray_step_mark_t)-1;
}

START_TEST(progress_steps)
{
    ferry_tray_progress_t p;
    ferry_tray_step_t s[FERRY_TRAY_STEPS];
    char line[256];
    ferry_tray_progress_init(&p, "t9");
    /* Another task's snapshots are ignored. */
    feed(&p, "other", 60, 10, false);
    ck_assert_int_eq(p.state, 0);
    feed(&p, "t9", 60, 50, false);
    ferry_tray_progress_steps(&p, s);
    ck_assert_int_eq(mark_of(s, 10), FERRY_TRAY_STEP_DONE);
    ck_assert_int_eq(mark_of(s, 30), FERRY_TRAY_STEP_DONE);
    ck_assert_int_eq(mark_of(s, 40), FERRY_TRAY_STEP_SKIPPED); /* forced: never waits */
    ck_assert_int_eq(mark_of(s, 60), FERRY_TRAY_STEP_CURRENT);
    ck_assert_int_eq(mark_of(s, 70), FERRY_TRAY_STEP_TODO);
    ck_assert_int_eq(mark_of(s, 120), FERRY_TRAY_STEP_SKIPPED);
    double f = ferry_tray_progress_fraction(&p);
    ck_assert(f > 0.3 && f < 0.7);
    ck_assert_str_eq(ferry_tray_progress_line(&p, line, sizeof(line)), "60 BackingUp 50%");
    feed(&p, "t9", 80, 0, false);
    feed(&p, "t9", 120, 0, false);
    ferry_tray_progress_steps(&p, s);
    ck_assert_int_eq(mark_of(s, 70), FERRY_TRAY_STEP_DONE);
    ck_assert_int_eq(mark_of(s, 80), FERRY_TRAY_STEP_FAILED); /* the step it failed in */
    ck_assert_int_eq(mark_of(s, 90), FERRY_TRAY_STEP_SKIPPED);
    ck_assert_int_eq(mark_of(s, 110), FERRY_TRAY_STEP_DONE);
    ck_assert_int_eq(mark_of(s, 120), FERRY_TRAY_STEP_CURRENT);
    ck_assert(!p.finished);
    feed(&p, "t9", 130, 100, true);
    ck_assert(p.finished);
    ferry_tray_progress_steps(&p, s);
    ck_assert_int_eq(mark_of(s, 130), FERRY_TRAY_STEP_CURRENT);
    ck_assert_str_eq(p.backup_path, "/srv/backup/1.25.12.14(12522)");
    ck_assert_ptr_nonnull(strstr(ferry_tray_progress_line(&p, line, sizeof(line)), "E_SQL_FAILED_DATA"));
    ck_assert(ferry_tray_progress_fraction(&p) == 1.0);

    /* Following "" takes the first task seen; success marks 10..90 done and 100 current. */
    ferry_tray_progress_init(&p, "");
    feed(&p, "t5", 20, 40, false);
    ck_assert_str_eq(p.task_id, "t5");
    feed(&p, "t5", 100, 100, true);
    ferry_tray_progress_steps(&p, s);
    ck_assert_int_eq(mark_of(s, 90), FERRY_TRAY_STEP_DONE);
    ck_assert_int_eq(mark_of(s, 100), FERRY_TRAY_STEP_CURRENT);
    ck_assert_int_eq(mark_of(s, 110), FERRY_TRAY_STEP_SKIPPED);
    ck_assert_str_eq(ferry_tray_state_label(80), "Running SQL (结构.sql, data.sql)");

    /* The status that publishes the final state still lists the task as current (without
     * its result) and already has it as the last ended one: the ended record's result wins. */
    ferry_tray_progress_init(&p, "t7");
    feed(&p, "t7", 90, 50, false);
    Ferry__V1__AgentStatus st = status(true, FERRY__V1__SERVER_LINK__SERVER_LINK_STREAMING);
    Ferry__V1__UpdateTask cur = task("t7", 100, 100), last = task("t7", 100, 100);
    last.backup_local_path = (char *)"/srv/backup/t7";
    st.current_task = &cur;
    st.last_task = &last;
    ferry_tray_progress_feed(&p, &st);
    ck_assert(p.finished);
    ck_assert_str_eq(p.backup_path, "/srv/backup/t7");
    /* A rerun of the same id that is running again follows the running one. */
    ferry_tray_progress_init(&p, "t7");
    cur = task("t7", 60, 10);
    ferry_tray_progress_feed(&p, &st);
    ck_assert(!p.finished);
    ck_assert_int_eq(p.state, 60);
}
END_TEST

/* A configuration as GetNodeConfig returns it (every section present). */
static Ferry__V1__NodeConfig *sample_config(void)
{
    Ferry__V1__NodeConfig *c = calloc(1, sizeof(*c));
    ferry_err_t err = {0};
    ferry__v1__node_config__init(c);
    ck_assert_int_eq(ferry_tray_config_set(c, "paths.serverDir", "/srv/rca7/server", &err), FERRY_OK);
    ck_assert_int_eq(ferry_tray_config_set(c, "backup.retentionN", "5", &err), FERRY_OK);
    ck_assert_int_eq(ferry_tray_config_set(c, "backup.db.sqlConnectionString",
                                           "Server=127.0.0.1;User Id=sa;Password=***;", &err),
                     FERRY_OK);
    return c;
}

START_TEST(config_fields_parse_and_refuse)
{
    ferry_err_t err = {0};
    char buf[512];
    size_t n;
    const ferry_tray_field_t *fs = ferry_tray_fields(&n);
    ck_assert_uint_ge(n, 20);
    /* Every field of seed 000 section 7.3 has an entry. */
    const char *seed[] = {"service.name",
                          "service.stopTimeoutSeconds",
                          "service.startTimeoutSeconds",
                          "paths.serverDir",
                          "paths.clientDir",
                          "paths.backupRoot",
                          "paths.tempDir",
                          "paths.protectPaths",
                          "backup.retentionN",
                          "backup.db.sqlConnectionString",
                          "backup.db.databases",
                          "backup.db.backupFileName",
                          "backup.clientBackupFileName",
                          "deploy.deleteOldFiles",
                          "deploy.clientDeleteOldFiles",
                          "backup.db.engine"};
    for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++)
        ck_assert_msg(ferry_tray_field_find(seed[i]) != NULL, "%s missing", seed[i]);
    (void)fs;

    Ferry__V1__NodeConfig *c = sample_config();
    ck_assert_int_eq(ferry_tray_config_set(c, "backup.retentionN", " 3 ", &err), FERRY_OK);
    ck_assert_int_eq(ferry_tray_config_get(c, "backup.retentionN", ", ", buf, sizeof(buf), &err), FERRY_OK);
    ck_assert_str_eq(buf, "3");
    /* Refusals name the field and change nothing. */
    const struct {
        const char *key, *value, *want;
    } bad[] = {
        {"backup.retentionN", "0", "backup.retentionN: must be a whole number between 1 and 1000 (got '0')"},
        {"backup.retentionN", "abc", "backup.retentionN: must be a whole number"},
        {"backup.retentionN", "-1", "backup.retentionN: must be a whole number"},
        {"service.stopTimeoutSeconds", "99999999999", "service.stopTimeoutSeconds: must be a whole number"},
        {"paths.serverDir", "relative/dir", "paths.serverDir: must be an absolute path"},
        {"paths.serverDir", "/srv/../etc", "paths.serverDir: must be an absolute path without '..'"},
        {"deploy.deleteOldFiles", "maybe", "deploy.deleteOldFiles: must be true or false"},
        {"service.control", "upstart", "service.control: must be one of systemd, command"},
        {"service.name", "", "service.name: must not be empty"},
        {"backup.db.databases", " , ", "backup.db.databases: must list at least one entry"},
        {"paths.protectPaths", "/a,b", "paths.protectPaths[1]: must be an absolute path"},
        {"backup.db.backupFileName", "../x.bak", "backup.db.backupFileName: must be a plain file name"},
        {"backup.db.sqlConnectionString", "Server=x;Passwort=geheim;",
         "backup.db.sqlConnectionString: does not parse"},
        {"no.such.key", "1", "no.such.key: not a node configuration field"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char before[512];
        if (ferry_tray_field_find(bad[i].key) != NULL)
            ferry_tray_config_get(c, bad[i].key, "|", before, sizeof(before), NULL);
        ck_assert_int_eq(ferry_tray_config_set(c, bad[i].key, bad[i].value, &err), FERRY_E_INVALID_ARG);
        ck_assert_msg(strncmp(err.msg, bad[i].want, strlen(bad[i].want)) == 0, "%s=%s: %s", bad[i].key,
                      bad[i].value, err.msg);
        /* A connection string is never quoted back: it may hold a password. */
        ck_assert_ptr_null(strstr(err.msg, "geheim"));
        if (ferry_tray_field_find(bad[i].key) != NULL) {
            ferry_tray_config_get(c, bad[i].key, "|", buf, sizeof(buf), NULL);
            ck_assert_str_eq(buf, before);
        }
    }
    /* Lists: commas, lines or a JSON array; choices; booleans; sections created on demand. */
    ck_assert_int_eq(ferry_tray_config_set(c, "paths.protectPaths", "/srv/a, /srv/b", &err), FERRY_OK);
    ck_assert_int_eq(ferry_tray_config_get(c, "paths.protectPaths", "|", buf, sizeof(buf), &err), FERRY_OK);
    ck_assert_str_eq(buf, "/srv/a|/srv/b");
    ck_assert_int_eq(ferry_tray_config_set(c, "backup.db.databases", "[\"RCA7_Main\", \"RCA7_Log\"]", &err),
                     FERRY_OK);
    ck_assert_int_eq(ferry_tray_config_get(c, "backup.db.databases", "\n", buf, sizeof(buf), &err), FERRY_OK);
    ck_assert_str_eq(buf, "RCA7_Main\nRCA7_Log");
    ck_assert_int_eq(ferry_tray_config_set(c, "backup.db.databases", "a\nb,c\n", &err), FERRY_OK);
    ck_assert_int_eq(ferry_tray_config_get(c, "backup.db.databases", "|", buf, sizeof(buf), &err), FERRY_OK);
    ck_assert_str_eq(buf, "a|b,c");
    ck_assert_int_eq(ferry_tray_config_set(c, "backup.db.engine", "SQLServer", &err), FERRY_OK);
    ck_assert_int_eq(c->backup->db->engine, FERRY__V1__DB_ENGINE__DB_ENGINE_SQLSERVER);
    ck_assert_int_eq(ferry_tray_config_set(c, "deploy.clientDeleteOldFiles", "no", &err), FERRY_OK);
    ck_assert_int_eq(ferry_tray_config_get(c, "deploy.clientDeleteOldFiles", "|", buf, sizeof(buf), &err),
                     FERRY_OK);
    ck_assert_str_eq(buf, "false");
    ck_assert_int_eq(ferry_tray_config_set(c, "service.healthCheck.kind", "http", &err), FERRY_OK);
    ck_assert_int_eq(c->service->health_check->kind, FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP);
    ck_assert_int_eq(ferry_tray_config_set(c, "download.maxKiBPerSecond", "0", &err), FERRY_OK);
    /* The copy is deep: changing it leaves the original. */
    Ferry__V1__NodeConfig *d = ferry_tray_config_dup(c);
    ck_assert_int_eq(ferry_tray_config_set(d, "backup.retentionN", "9", &err), FERRY_OK);
    ck_assert_uint_eq(c->backup->retention_n, 3);
    protobuf_c_message_free_unpacked(&d->base, NULL);
    protobuf_c_message_free_unpacked(&c->base, NULL);
}
END_TEST

START_TEST(connstr_password)
{
    ferry_err_t err = {0};
    char *s = ferry_tray_connstr_set_password("Server=127.0.0.1;User Id=sa;Password=***;Encrypt=True;",
                                              "n3w;pw}", &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "Server=127.0.0.1;User Id=sa;Password={n3w;pw}}};Encrypt=True;");
    free(s);
    s = ferry_tray_connstr_set_password("Server=db;User Id=sa", "x", &err);
    ck_assert_str_eq(s, "Server=db;User Id=sa;Password={x};");
    free(s);
    s = ferry_tray_connstr_set_password("Server=db;Pwd={a;b};", "", &err);
    ck_assert_str_eq(s, "Server=db;");
    free(s);
    ck_assert_ptr_null(ferry_tray_connstr_set_password("Server=db;Passwort=x", "y", &err));
    ck_assert_int_eq(err.code, FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "backup.db.sqlConnectionString"));
}
END_TEST

START_TEST(bind_checks_and_error_placement)
{
    ferry_err_t err = {0};
    const char *field = NULL;
    ferry_tray_bind_input_t ok = {"https://ferry.example.com:8443", "SH01-SRV", "prod", "tok123", ""};
    ck_assert_int_eq(ferry_tray_bind_check(&ok, &field, &err), FERRY_OK);
    ck_assert_int_eq(ferry_tray_env_parse("prod"), FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD);
    ck_assert_int_eq(ferry_tray_env_parse("QA"), FERRY__V1__ENVIRONMENT__ENVIRONMENT_UNSPECIFIED);
    const struct {
        ferry_tray_bind_input_t in;
        const char *field;
    } bad[] = {
        {{"ftp://x", "N1", "PROD", "t", ""}, FERRY_TRAY_BIND_SERVER},
        {{"https://", "N1", "PROD", "t", ""}, FERRY_TRAY_BIND_SERVER},
        {{"http://h:1", "", "PROD", "t", ""}, FERRY_TRAY_BIND_NODE},
        {{"http://h:1", "N 1", "PROD", "t", ""}, FERRY_TRAY_BIND_NODE},
        {{"http://h:1", "N1", "STAGE", "t", ""}, FERRY_TRAY_BIND_ENV},
        {{"http://h:1", "N1", "DEV", "", ""}, FERRY_TRAY_BIND_TOKEN},
        {{"http://h:1", "N1", "DEV", "se cret", ""}, FERRY_TRAY_BIND_TOKEN},
        {{"http://h:1", "N1", "DEV", "t", "ca.pem"}, FERRY_TRAY_BIND_CA},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(ferry_tray_bind_check(&bad[i].in, &field, &err), FERRY_E_INVALID_ARG);
        ck_assert_str_eq(field, bad[i].field);
        /* The token is never quoted. */
        ck_assert_ptr_null(strstr(err.msg, "se cret"));
    }
    ck_assert_str_eq(ferry_tray_bind_error_field(FERRY_E_AUTH_INVALID), FERRY_TRAY_BIND_TOKEN);
    ck_assert_str_eq(ferry_tray_bind_error_field(FERRY_E_UNAVAILABLE), FERRY_TRAY_BIND_SERVER);
    ck_assert_str_eq(ferry_tray_bind_error_field(FERRY_E_INTERNAL), "");
}
END_TEST

START_TEST(license_and_config_lines)
{
    Ferry__V1__AgentStatus st = FERRY__V1__AGENT_STATUS__INIT;
    Ferry__V1__License lic = FERRY__V1__LICENSE__INIT;
    Ferry__V1__ConfigAssignment c = FERRY__V1__CONFIG_ASSIGNMENT__INIT;
    Ferry__V1__ConfigTemplate t = FERRY__V1__CONFIG_TEMPLATE__INIT;
    Google__Protobuf__Timestamp end = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    char buf[512];

    ck_assert_str_eq(ferry_tray_license_text(NULL, buf, sizeof(buf)), "none");
    ck_assert_str_eq(ferry_tray_license_text(&st, buf, sizeof(buf)), "none");
    ck_assert_str_eq(ferry_tray_last_config_text(&st, buf, sizeof(buf)), "none");

    setenv("TZ", "UTC", 1);
    tzset();
    end.seconds = 1798761599; /* 2026-12-31 23:59:59 UTC */
    lic.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE;
    lic.ends_at = &end;
    lic.expiring = true;
    st.license = &lic;
    ck_assert_str_eq(ferry_tray_license_text(&st, buf, sizeof(buf)),
                     "GRACE until 2026-12-31 23:59:59 (expiring)");
    lic.status = (Ferry__V1__LicenseStatus)99; /* from a newer agent: no crash, no garbage */
    lic.expiring = false;
    lic.ends_at = NULL;
    ck_assert_str_eq(ferry_tray_license_text(&st, buf, sizeof(buf)), "none until -");

    t.target_path = "config/app.json";
    c.template_name = "app";
    c.template_version = 2;
    c.template_ = &t;
    c.state = FERRY__V1__CONFIG_ASSIGNMENT_STATE__CONFIG_ASSIGNMENT_STATE_ROLLED_BACK;
    c.applied_at = &end;
    c.error_message = "health check failed: http 503";
    st.last_config = &c;
    ck_assert_str_eq(
        ferry_tray_last_config_text(&st, buf, sizeof(buf)),
        "app v2 -> config/app.json: ROLLED_BACK at 2026-12-31 23:59:59 - health check failed: http 503");
}
END_TEST

START_TEST(issue_fields_and_prompt_pick)
{
    /* An agent issue lands on its settings field; an item index or a parent object too. */
    ck_assert_str_eq(ferry_tray_issue_field("backup.retentionN")->key, "backup.retentionN");
    ck_assert_str_eq(ferry_tray_issue_field("paths.protectPaths[1]")->key, "paths.protectPaths");
    ck_assert_str_eq(ferry_tray_issue_field("backup.db.databases[0]")->key, "backup.db.databases");
    ck_assert_str_eq(ferry_tray_issue_field("service.healthCheck")->key, "service.healthCheck.kind");
    ck_assert_ptr_null(ferry_tray_issue_field(""));
    ck_assert_ptr_null(ferry_tray_issue_field(NULL));
    ck_assert_ptr_null(ferry_tray_issue_field("no.such"));
    ck_assert_ptr_null(ferry_tray_issue_field("paths.server")); /* a prefix of a key is not its parent */

    /* The prompt shows the named task, else the oldest waiting optional one, else a deferred one. */
    Ferry__V1__UpdateTask t1 = task("forced", 40, 0), t2 = task("deferred", 40, 0),
                          t3 = task("waiting", 40, 0), t4 = task("waiting2", 40, 0);
    t1.policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
    t2.policy = t3.policy = t4.policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL;
    Ferry__V1__PendingUpdate u[4];
    Ferry__V1__UpdateTask *ts[4] = {&t1, &t2, &t3, &t4};
    const Ferry__V1__PromptState ps[4] = {
        FERRY__V1__PROMPT_STATE__PROMPT_STATE_WAITING, FERRY__V1__PROMPT_STATE__PROMPT_STATE_DEFERRED,
        FERRY__V1__PROMPT_STATE__PROMPT_STATE_WAITING, FERRY__V1__PROMPT_STATE__PROMPT_STATE_WAITING};
    Ferry__V1__PendingUpdate *pu[4];
    for (size_t i = 0; i < 4; i++) {
        ferry__v1__pending_update__init(&u[i]);
        u[i].task = ts[i];
        u[i].prompt = ps[i];
        pu[i] = &u[i];
    }
    ck_assert_str_eq(ferry_tray_prompt_pick(pu, 4, NULL)->task->id, "waiting");
    ck_assert_str_eq(ferry_tray_prompt_pick(pu, 4, "waiting2")->task->id, "waiting2");
    ck_assert_ptr_null(ferry_tray_prompt_pick(pu, 4, "gone"));
    ck_assert_str_eq(ferry_tray_prompt_pick(pu, 2, "")->task->id, "deferred");
    ck_assert_ptr_null(ferry_tray_prompt_pick(pu, 1, NULL)); /* forced: never asks */
    ck_assert_ptr_null(ferry_tray_prompt_pick(pu, 0, NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tray_presenter");
    TCase *tc = tcase_create("presenter");
    tcase_add_test(tc, icon_follows_agent_status);
    tcase_add_test(tc, prompt_notification_on_edge_only);
    tcase_add_test(tc, defer_choices_capped_at_deadline);
    tcase_add_test(tc, defer_check_and_countdown);
    tcase_add_test(tc, rfc3339);
    tcase_add_test(tc, progress_steps);
    tcase_add_test(tc, config_fields_parse_and_refuse);
    tcase_add_test(tc, connstr_password);
    tcase_add_test(tc, bind_checks_and_error_placement);
    tcase_add_test(tc, issue_fields_and_prompt_pick);
    tcase_add_test(tc, license_and_config_lines);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
