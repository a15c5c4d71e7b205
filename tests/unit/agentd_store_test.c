/* agent.db (agent/daemon/store.c) on a real SQLite file: outbox order, sequences that
 * keep increasing across reopen (a restart), task merge keeping local answers, an agent.db
 * of an older agent (no task.attempt) upgraded in place, a retried task revived. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ferry/fs.h"
#include "store.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/agentd-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    ferry_fs_rm_rf(dir, NULL);
}

static int fill(void *user, uint64_t seq, uint8_t **body, size_t *len)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s#%llu", (const char *)user, (unsigned long long)seq);
    *len = strlen(buf);
    *body = (uint8_t *)strdup(buf);
    return *body == NULL ? -1 : 0;
}

static void expect_next(agentd_store_t *s, const char *want, int64_t *row)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int found = 0, kind = -1;
    ck_assert_int_eq(agentd_store_outbox_peek(s, row, &kind, &body, &len, &found, NULL), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(kind, AGENTD_OUTBOX_PROGRESS);
    ck_assert_int_eq(len, strlen(want));
    ck_assert(memcmp(body, want, len) == 0);
    free(body);
}

START_TEST(outbox_order_and_sequences_survive_reopen)
{
    agentd_store_t *s = NULL;
    uint64_t seq = 0;
    int64_t row = 0;
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_outbox_add(s, "t1", fill, "t1", &seq, NULL), FERRY_OK);
    ck_assert_int_eq(seq, 1);
    ck_assert_int_eq(agentd_store_outbox_add(s, "t2", fill, "t2", &seq, NULL), FERRY_OK);
    ck_assert_int_eq(seq, 1);
    ck_assert_int_eq(agentd_store_outbox_add(s, "t1", fill, "t1", &seq, NULL), FERRY_OK);
    ck_assert_int_eq(seq, 2);
    ck_assert_uint_eq(agentd_store_outbox_count(s), 3);
    expect_next(s, "t1#1", &row);
    ck_assert_int_eq(agentd_store_outbox_ack(s, row, NULL), FERRY_OK);
    agentd_store_close(s);

    /* A restart (or kill -9: every add is a synced transaction): the rest is still there,
     * in order, and the next sequence continues. */
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_uint_eq(agentd_store_outbox_count(s), 2);
    expect_next(s, "t2#1", &row);
    ck_assert_int_eq(agentd_store_outbox_ack(s, row, NULL), FERRY_OK);
    expect_next(s, "t1#2", &row);
    ck_assert_int_eq(agentd_store_outbox_ack(s, row, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_outbox_add(s, "t1", fill, "t1", &seq, NULL), FERRY_OK);
    ck_assert_int_eq(seq, 3);
    struct stat sb;
    char p[512];
    snprintf(p, sizeof(p), "%s/agent.db", dir);
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 077, 0); /* owner-only */
    agentd_store_close(s);
}
END_TEST

static int fail_fill(void *user, uint64_t seq, uint8_t **body, size_t *len)
{
    (void)user;
    (void)seq;
    (void)body;
    (void)len;
    return -1;
}

START_TEST(failed_add_changes_nothing)
{
    agentd_store_t *s = NULL;
    uint64_t seq = 0;
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_outbox_add(s, "t1", fill, "t1", &seq, NULL), FERRY_OK);
    ck_assert_int_ne(agentd_store_outbox_add(s, "t1", fail_fill, NULL, &seq, NULL), FERRY_OK);
    ck_assert_uint_eq(agentd_store_outbox_count(s), 1);
    ck_assert_int_eq(agentd_store_outbox_add(s, "t1", fill, "t1", &seq, NULL), FERRY_OK);
    ck_assert_int_eq(seq, 2); /* the failed add did not burn a sequence */
    agentd_store_close(s);
}
END_TEST

START_TEST(merge_keeps_local_answers)
{
    agentd_store_t *s = NULL;
    agentd_task_t t, got;
    int is_new = 0, found = 0;
    size_t n = 0;
    memset(&t, 0, sizeof(t));
    snprintf(t.id, sizeof(t.id), "task-1");
    snprintf(t.version, sizeof(t.version), "1.0.0.1(1)");
    t.kind = AGENTD_KIND_UPDATE;
    t.policy = AGENTD_POLICY_OPTIONAL;
    t.prompt = AGENTD_PROMPT_NONE;
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_merge_task(s, &t, &is_new, NULL, NULL), FERRY_OK);
    ck_assert_int_eq(is_new, 1);
    t.phase = AGENTD_PHASE_READY;
    t.prompt = AGENTD_PROMPT_DEFERRED;
    t.deferred_until_ms = 12345;
    ck_assert_int_eq(agentd_store_save_task(s, &t, NULL), FERRY_OK);
    /* The server offers the task again (every CheckIn): the answer stays. */
    agentd_task_t again = t;
    again.phase = AGENTD_PHASE_NEW;
    again.prompt = AGENTD_PROMPT_NONE;
    again.deferred_until_ms = 0;
    again.deadline_ms = 999;
    ck_assert_int_eq(agentd_store_merge_task(s, &again, &is_new, NULL, NULL), FERRY_OK);
    ck_assert_int_eq(is_new, 0);
    ck_assert_int_eq(agentd_store_get_task(s, "task-1", &got, &found, NULL), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(got.phase, AGENTD_PHASE_READY);
    ck_assert_int_eq(got.prompt, AGENTD_PROMPT_DEFERRED);
    ck_assert_int_eq(got.deferred_until_ms, 12345);
    ck_assert_int_eq(got.deadline_ms, 999);
    got.phase = AGENTD_PHASE_DONE;
    ck_assert_int_eq(agentd_store_save_task(s, &got, NULL), FERRY_OK);
    agentd_task_t list[4];
    ck_assert_int_eq(agentd_store_list_tasks(s, list, 4, &n, 0, NULL), FERRY_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(agentd_store_list_tasks(s, list, 4, &n, 1, NULL), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    char v[64];
    ck_assert_int_eq(agentd_store_kv_set(s, "installed_version", "1.0.0.1(1)", NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_kv_get(s, "installed_version", v, sizeof(v), NULL), FERRY_OK);
    ck_assert_str_eq(v, "1.0.0.1(1)");
    agentd_store_close(s);
}
END_TEST

/* An agent.db written before task.attempt existed (schema as the earlier agent created it):
 * opening it adds the column, the rows stay (attempt 0), and a retry of its finished task
 * (server attempt 1, state 10) brings the task back. */
START_TEST(old_agent_db_is_upgraded_and_retry_revives)
{
    static const char old_schema[] =
        "CREATE TABLE task ("
        " id TEXT PRIMARY KEY, release_id TEXT NOT NULL, kind INTEGER NOT NULL, policy INTEGER NOT NULL,"
        " version TEXT NOT NULL, description TEXT NOT NULL, rollback_backup TEXT NOT NULL,"
        " deadline_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL, phase INTEGER NOT NULL,"
        " prompt INTEGER NOT NULL, deferred_until_ms INTEGER NOT NULL, halted INTEGER NOT NULL,"
        " forced_now INTEGER NOT NULL, last_state INTEGER NOT NULL, size INTEGER NOT NULL,"
        " percent INTEGER NOT NULL, error_code TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
        "INSERT INTO task VALUES ('7', '3', 1, 1, '1.0.0.2(2)', '', '', 0, 1000, 3, 1, 0, 0, 0, 110, 4096,"
        " 100, 'E_PRECHECK_FAILED', 2000);"
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO kv VALUES ('installed_version', '1.0.0.1(1)');";
    char path[300];
    sqlite3 *db = NULL;
    agentd_store_t *s = NULL;
    agentd_task_t got, srv;
    int found = 0, is_new = 1, revived = 0;
    char v[64];
    snprintf(path, sizeof(path), "%s/agent.db", dir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_get_task(s, "7", &got, &found, NULL), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(got.phase, AGENTD_PHASE_DONE);
    ck_assert_int_eq(got.last_state, 110);
    ck_assert_uint_eq(got.attempt, 0);
    ck_assert_str_eq(got.error_code, "E_PRECHECK_FAILED");
    ck_assert_int_eq(agentd_store_kv_get(s, "installed_version", v, sizeof(v), NULL), FERRY_OK);
    ck_assert_str_eq(v, "1.0.0.1(1)");
    agentd_store_close(s);
    s = NULL;
    /* A second open finds the column in place. */
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);

    /* The same attempt offered again (stale view): stays finished. */
    memset(&srv, 0, sizeof(srv));
    snprintf(srv.id, sizeof(srv.id), "7");
    snprintf(srv.release_id, sizeof(srv.release_id), "3");
    snprintf(srv.version, sizeof(srv.version), "1.0.0.2(2)");
    srv.kind = AGENTD_KIND_UPDATE;
    srv.policy = AGENTD_POLICY_FORCED;
    srv.created_ms = 1000;
    srv.last_state = 30;
    srv.attempt = 0;
    ck_assert_int_eq(agentd_store_merge_task(s, &srv, &is_new, &revived, NULL), FERRY_OK);
    ck_assert_int_eq(is_new, 0);
    ck_assert_int_eq(revived, 0);
    ck_assert_int_eq(agentd_store_get_task(s, "7", &got, &found, NULL), FERRY_OK);
    ck_assert_int_eq(got.phase, AGENTD_PHASE_DONE);
    /* The server retried it: attempt 1, back to 10. */
    srv.last_state = 10;
    srv.attempt = 1;
    ck_assert_int_eq(agentd_store_merge_task(s, &srv, &is_new, &revived, NULL), FERRY_OK);
    ck_assert_int_eq(revived, 1);
    ck_assert_int_eq(agentd_store_get_task(s, "7", &got, &found, NULL), FERRY_OK);
    ck_assert_int_eq(got.phase, AGENTD_PHASE_NEW);
    ck_assert_int_eq(got.last_state, 10);
    ck_assert_uint_eq(got.attempt, 1);
    ck_assert_str_eq(got.error_code, "");
    ck_assert_uint_eq(got.size, 4096);
    agentd_task_t list[4];
    size_t n = 0;
    ck_assert_int_eq(agentd_store_list_tasks(s, list, 4, &n, 0, NULL), FERRY_OK);
    ck_assert_uint_eq(n, 1); /* listed as open again: the work loop picks it up */
    /* Per-task kv facts go with their task: a task's arrival prunes those of vanished tasks. */
    ck_assert_int_eq(agentd_store_kv_set(s, "skip:7", "soft", NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_kv_set(s, "skip:gone", "x", NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_kv_set(s, "start:gone", "1", NULL), FERRY_OK);
    snprintf(srv.id, sizeof(srv.id), "8");
    ck_assert_int_eq(agentd_store_merge_task(s, &srv, &is_new, &revived, NULL), FERRY_OK);
    ck_assert_int_eq(is_new, 1);
    ck_assert_int_eq(agentd_store_kv_get(s, "skip:7", v, sizeof(v), NULL), FERRY_OK);
    ck_assert_str_eq(v, "soft");
    ck_assert_int_eq(agentd_store_kv_get(s, "skip:gone", v, sizeof(v), NULL), FERRY_OK);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(agentd_store_kv_get(s, "start:gone", v, sizeof(v), NULL), FERRY_OK);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(agentd_store_kv_get(s, "installed_version", v, sizeof(v), NULL), FERRY_OK);
    ck_assert_str_eq(v, "1.0.0.1(1)");
    agentd_store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("agentd_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, outbox_order_and_sequences_survive_reopen);
    tcase_add_test(tc, failed_add_changes_nothing);
    tcase_add_test(tc, merge_keeps_local_answers);
    tcase_add_test(tc, old_agent_db_is_upgraded_and_retry_revives);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
