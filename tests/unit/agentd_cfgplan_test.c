/* Configuration decisions (agent/daemon/cfgplan.c, no I/O) and the config rows of
 * agent.db (store.c): what to do with an offer, which job runs next, path rules. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgapply.h"
#include "cfgplan.h"
#include "store.h"

static agentd_cfg_job_t job(const char *id, const char *tpl, agentd_cfg_phase_t phase)
{
    agentd_cfg_job_t j;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", id);
    snprintf(j.template_name, sizeof(j.template_name), "%s", tpl);
    j.phase = phase;
    return j;
}

static agentd_task_t task(agentd_phase_t phase, bool halted)
{
    agentd_task_t t;
    memset(&t, 0, sizeof(t));
    snprintf(t.id, sizeof(t.id), "t1");
    t.phase = phase;
    t.halted = halted;
    return t;
}

START_TEST(offer_new_known_and_finished)
{
    ck_assert_int_eq(agentd_cfg_on_offer(NULL, "7", ""), AGENTD_CFG_OFFER_QUEUE);
    ck_assert_int_eq(agentd_cfg_on_offer(NULL, "7", NULL), AGENTD_CFG_OFFER_QUEUE);
    agentd_cfg_job_t k = job("7", "db", AGENTD_CFG_QUEUED);
    ck_assert_int_eq(agentd_cfg_on_offer(&k, "7", "7"), AGENTD_CFG_OFFER_IGNORE);
    k.phase = AGENTD_CFG_APPLYING;
    ck_assert_int_eq(agentd_cfg_on_offer(&k, "7", "7"), AGENTD_CFG_OFFER_IGNORE);
    k.phase = AGENTD_CFG_DONE;
    k.state = AGENTD_CFG_APPLIED;
    ck_assert_int_eq(agentd_cfg_on_offer(&k, "7", "7"), AGENTD_CFG_OFFER_REPORT_AGAIN);
    k.report_queued = true; /* its report still waits in the outbox: no second copy */
    ck_assert_int_eq(agentd_cfg_on_offer(&k, "7", "7"), AGENTD_CFG_OFFER_IGNORE);
    k.report_queued = false;
    k.state = 0; /* dropped as superseded: nothing to report */
    ck_assert_int_eq(agentd_cfg_on_offer(&k, "7", "7"), AGENTD_CFG_OFFER_IGNORE);
}
END_TEST

START_TEST(offer_older_than_one_here_is_stale)
{
    /* CheckIn's answer listing 9 arrives after the stream delivered 10 of the same template. */
    ck_assert_int_eq(agentd_cfg_on_offer(NULL, "9", "10"), AGENTD_CFG_OFFER_IGNORE);
    ck_assert_int_eq(agentd_cfg_on_offer(NULL, "11", "10"), AGENTD_CFG_OFFER_QUEUE);
}
END_TEST

START_TEST(ids_compare_as_numbers)
{
    ck_assert_int_lt(agentd_cfg_id_cmp("9", "10"), 0);
    ck_assert_int_gt(agentd_cfg_id_cmp("100", "99"), 0);
    ck_assert_int_eq(agentd_cfg_id_cmp("42", "42"), 0);
    ck_assert_int_lt(agentd_cfg_id_cmp("abc", "abd"), 0);
}
END_TEST

START_TEST(nothing_starts_while_an_update_is_under_way)
{
    agentd_cfg_job_t j[1] = {job("5", "db", AGENTD_CFG_QUEUED)};
    agentd_task_t t[1] = {task(AGENTD_PHASE_READY, false)};
    ck_assert(agentd_cfg_update_busy(t, 1));
    agentd_cfg_action_t a = agentd_cfg_next(j, 1, agentd_cfg_update_busy(t, 1));
    ck_assert_int_eq(a.act, AGENTD_CFG_ACT_WAIT);
    t[0].halted = true; /* a paused release does not run */
    ck_assert(!agentd_cfg_update_busy(t, 1));
    t[0].phase = AGENTD_PHASE_APPLYING; /* ...unless the engine holds it half done */
    ck_assert(agentd_cfg_update_busy(t, 1));
    t[0].halted = false;
    t[0].phase = AGENTD_PHASE_DONE;
    ck_assert(!agentd_cfg_update_busy(t, 1));
    ck_assert(!agentd_cfg_update_busy(NULL, 0));
    a = agentd_cfg_next(j, 1, false);
    ck_assert_int_eq(a.act, AGENTD_CFG_ACT_APPLY);
    ck_assert_int_eq(a.index, 0);
}
END_TEST

START_TEST(interrupted_job_first_even_when_busy)
{
    agentd_cfg_job_t j[3] = {job("3", "a", AGENTD_CFG_QUEUED), job("4", "b", AGENTD_CFG_APPLYING),
                             job("5", "c", AGENTD_CFG_DONE)};
    agentd_cfg_action_t a = agentd_cfg_next(j, 3, true);
    ck_assert_int_eq(a.act, AGENTD_CFG_ACT_RESUME);
    ck_assert_int_eq(a.index, 1);
    j[1].phase = AGENTD_CFG_RESTORING;
    a = agentd_cfg_next(j, 3, false);
    ck_assert_int_eq(a.act, AGENTD_CFG_ACT_RESTORE);
    ck_assert_int_eq(a.index, 1);
}
END_TEST

START_TEST(oldest_first_and_superseded_dropped)
{
    agentd_cfg_job_t j[3] = {job("12", "db", AGENTD_CFG_QUEUED), job("9", "cache", AGENTD_CFG_QUEUED),
                             job("10", "db", AGENTD_CFG_QUEUED)};
    agentd_cfg_action_t a = agentd_cfg_next(j, 3, false);
    ck_assert_int_eq(a.act, AGENTD_CFG_ACT_APPLY);
    ck_assert_str_eq(j[a.index].id, "9");
    j[1].phase = AGENTD_CFG_DONE;
    a = agentd_cfg_next(j, 3, false);
    ck_assert_int_eq(a.act, AGENTD_CFG_ACT_SUPERSEDED); /* 10 is older than 12, same template */
    ck_assert_str_eq(j[a.index].id, "10");
    j[2].phase = AGENTD_CFG_DONE;
    a = agentd_cfg_next(j, 3, false);
    ck_assert_int_eq(a.act, AGENTD_CFG_ACT_APPLY);
    ck_assert_str_eq(j[a.index].id, "12");
    j[0].phase = AGENTD_CFG_DONE;
    ck_assert_int_eq(agentd_cfg_next(j, 3, false).act, AGENTD_CFG_ACT_NONE);
}
END_TEST

START_TEST(path_rules)
{
    ferry_err_t err = {0};
    ck_assert_int_eq(agentd_cfg_path_check("config/app.json", &err), FERRY_OK);
    ck_assert_int_eq(agentd_cfg_path_check("app.ini", &err), FERRY_OK);
    ck_assert_int_eq(agentd_cfg_path_check("..hidden/x", &err), FERRY_OK); /* a name, not '..' */
    const char *bad[] = {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\b", "a\nb", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        ck_assert_msg(agentd_cfg_path_check(bad[i], &err) == FERRY_E_INVALID_ARG, "accepted '%s'", bad[i]);
        ck_assert(strstr(err.msg, "target path") != NULL);
    }
    char longp[300];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ck_assert_int_eq(agentd_cfg_path_check(longp, &err), FERRY_E_INVALID_ARG);
}
END_TEST

START_TEST(store_rows_survive_reopen_and_report_once)
{
    char dir[] = "/tmp/ferry-cfgplan-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    agentd_store_t *s = NULL;
    int added = 0, found = 0, queued = 0, kind = -1;
    char newest[AGENTD_ID_MAX];
    agentd_cfg_job_t j = job("10", "db", AGENTD_CFG_QUEUED), k, open[4];
    size_t n = 0;
    snprintf(j.target, sizeof(j.target), "config/db.ini");
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_cfg_add(s, &j, "a=1\n", 4, &added, NULL), FERRY_OK);
    ck_assert_int_eq(added, 1);
    ck_assert_int_eq(agentd_store_cfg_add(s, &j, "a=1\n", 4, &added, NULL), FERRY_OK);
    ck_assert_int_eq(added, 0);
    agentd_cfg_job_t j9 = job("9", "db", AGENTD_CFG_QUEUED);
    ck_assert_int_eq(agentd_store_cfg_add(s, &j9, "", 0, &added, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_cfg_get(s, "10", "db", &k, &found, newest, NULL), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_str_eq(newest, "10"); /* not "9": ids compare as numbers */
    ck_assert_str_eq(k.target, "config/db.ini");
    ck_assert_int_eq(agentd_store_cfg_phase(s, "10", AGENTD_CFG_APPLYING, true, "", NULL), FERRY_OK);
    agentd_store_close(s);
    s = NULL;
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_cfg_open(s, open, 4, &n, NULL), FERRY_OK);
    ck_assert_int_eq(n, 2);
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(agentd_store_cfg_rendered(s, "10", &data, &len, NULL), FERRY_OK);
    ck_assert_int_eq(len, 4);
    ck_assert_str_eq(data, "a=1\n");
    free(data);
    const uint8_t body[] = {0x0a, 0x02, '1', '0'};
    ck_assert_int_eq(agentd_store_cfg_finish(s, "10", AGENTD_CFG_APPLIED, "", 1234, body, sizeof(body), NULL),
                     FERRY_OK);
    ck_assert_int_eq(agentd_store_cfg_get(s, "10", "db", &k, &found, NULL, NULL), FERRY_OK);
    ck_assert_int_eq(k.phase, AGENTD_CFG_DONE);
    ck_assert(k.had_prev);
    ck_assert(k.report_queued);
    ck_assert_int_eq(agentd_store_cfg_requeue(s, "10", body, sizeof(body), &queued, NULL), FERRY_OK);
    ck_assert_int_eq(queued, 0); /* one is still waiting */
    int64_t row = 0;
    uint8_t *b = NULL;
    ck_assert_int_eq(agentd_store_outbox_peek(s, &row, &kind, &b, &len, &found, NULL), FERRY_OK);
    ck_assert_int_eq(kind, AGENTD_OUTBOX_CONFIG);
    ck_assert_int_eq(len, sizeof(body));
    free(b);
    ck_assert_int_eq(agentd_store_outbox_ack(s, row, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_cfg_requeue(s, "10", body, sizeof(body), &queued, NULL), FERRY_OK);
    ck_assert_int_eq(queued, 1);
    ck_assert_int_eq(agentd_store_cfg_last(s, &k, &found, NULL), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_str_eq(k.id, "10");
    ck_assert_int_eq(k.state, AGENTD_CFG_APPLIED);
    agentd_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(target_on_disk_no_symlink_escape)
{
    char dir[] = "/tmp/ferry-cfgtgt-XXXXXX", p[512], out[4096], cmd[600];
    ferry_err_t err = {0};
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/server/conf %s/outside && ln -s %s/outside %s/server/out && ln -s ../outside/f "
             "%s/server/conf/link && ln -s conf %s/server/alias && touch %s/server/conf/app.ini",
             dir, dir, dir, dir, dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(p, sizeof(p), "%s/server", dir);
    ck_assert_int_eq(agentd_cfg_target(p, "conf/app.ini", out, sizeof(out), &err), FERRY_OK);
    ck_assert(strstr(out, "/server/conf/app.ini") != NULL);
    ck_assert_int_eq(agentd_cfg_target(p, "new/dir/x.json", out, sizeof(out), &err), FERRY_OK);
    ck_assert_int_eq(agentd_cfg_target(p, "alias/app.ini", out, sizeof(out), &err),
                     FERRY_OK); /* stays inside */
    ck_assert_int_eq(agentd_cfg_target(p, "out/app.ini", out, sizeof(out), &err), FERRY_E_INVALID_ARG);
    ck_assert(strstr(err.msg, "resolves outside the server dir") != NULL);
    ck_assert_int_eq(agentd_cfg_target(p, "out/deeper/app.ini", out, sizeof(out), &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(agentd_cfg_target(p, "conf/link", out, sizeof(out), &err), FERRY_E_INVALID_ARG);
    ck_assert(strstr(err.msg, "symbolic link") != NULL);
    ck_assert_int_eq(agentd_cfg_target(p, "conf", out, sizeof(out), &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(agentd_cfg_target(p, "../outside/f", out, sizeof(out), &err), FERRY_E_INVALID_ARG);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(old_outbox_gets_the_kind_column)
{
    /* An agent.db from before configuration results: its rows stay progress reports. */
    char dir[] = "/tmp/ferry-cfgold-XXXXXX", cmd[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (system("command -v sqlite3 >/dev/null 2>&1") != 0)
        return; /* the sqlite3 shell builds the old file; without it there is nothing to test */
    snprintf(
        cmd, sizeof(cmd),
        "sqlite3 %s/agent.db \"CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT "
        "NULL, seq INTEGER NOT NULL, body BLOB NOT NULL); INSERT INTO outbox (task_id, seq, body) VALUES "
        "('t1', 1, x'0a02');\"",
        dir);
    ck_assert_int_eq(system(cmd), 0);
    agentd_store_t *s = NULL;
    int64_t row = 0;
    int kind = -1, found = 0;
    uint8_t *b = NULL;
    size_t len = 0;
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK);
    ck_assert_int_eq(agentd_store_outbox_peek(s, &row, &kind, &b, &len, &found, NULL), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(kind, AGENTD_OUTBOX_PROGRESS);
    ck_assert_int_eq(len, 2);
    free(b);
    agentd_store_close(s);
    ck_assert_int_eq(agentd_store_open(dir, &s, NULL), FERRY_OK); /* and again: no second ALTER */
    agentd_store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("agentd_cfgplan");
    TCase *tc = tcase_create("cfgplan");
    tcase_add_test(tc, offer_new_known_and_finished);
    tcase_add_test(tc, offer_older_than_one_here_is_stale);
    tcase_add_test(tc, ids_compare_as_numbers);
    tcase_add_test(tc, nothing_starts_while_an_update_is_under_way);
    tcase_add_test(tc, interrupted_job_first_even_when_busy);
    tcase_add_test(tc, oldest_first_and_superseded_dropped);
    tcase_add_test(tc, path_rules);
    tcase_add_test(tc, store_rows_survive_reopen_and_report_once);
    tcase_add_test(tc, target_on_disk_no_symlink_escape);
    tcase_add_test(tc, old_outbox_gets_the_kind_column);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? 0 : 1;
}
