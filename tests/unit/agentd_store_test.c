/* agent.db (agent/daemon/store.c) on a real SQLite file: outbox order, sequences that
 * keep increasing across reopen (a restart), task merge keeping local answers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    ck_assert_int_eq(agentd_store_merge_task(s, &t, &is_new, NULL), FERRY_OK);
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
    ck_assert_int_eq(agentd_store_merge_task(s, &again, &is_new, NULL), FERRY_OK);
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

int main(void)
{
    Suite *su = suite_create("agentd_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, outbox_order_and_sequences_survive_reopen);
    tcase_add_test(tc, failed_add_changes_nothing);
    tcase_add_test(tc, merge_keeps_local_answers);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
