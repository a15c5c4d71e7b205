/* The daemon's decisions (agent/daemon/core.c): no I/O, fed with task tables. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

static agentd_task_t task(const char *id, int64_t created, int policy, agentd_phase_t phase)
{
    agentd_task_t t;
    memset(&t, 0, sizeof(t));
    snprintf(t.id, sizeof(t.id), "%s", id);
    t.kind = AGENTD_KIND_UPDATE;
    t.policy = policy;
    t.phase = phase;
    t.created_ms = created;
    t.prompt = AGENTD_PROMPT_NONE;
    return t;
}

START_TEST(empty_table_does_nothing)
{
    agentd_action_t a = agentd_core_next(NULL, 0, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_NONE);
    ck_assert_int_eq(a.wake_ms, 0);
}
END_TEST

START_TEST(oldest_first_and_download_before_anything)
{
    agentd_task_t t[3] = {task("b", 200, AGENTD_POLICY_FORCED, AGENTD_PHASE_NEW),
                          task("a", 100, AGENTD_POLICY_FORCED, AGENTD_PHASE_NEW),
                          task("c", 50, AGENTD_POLICY_FORCED, AGENTD_PHASE_DONE)};
    agentd_action_t a = agentd_core_next(t, 3, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_DOWNLOAD);
    ck_assert_str_eq(t[a.index].id, "a");
    t[1].phase = AGENTD_PHASE_READY;
    a = agentd_core_next(t, 3, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_APPLY);
    ck_assert_str_eq(t[a.index].id, "a");
    ck_assert(!a.forced);
}
END_TEST

START_TEST(halted_tasks_are_skipped)
{
    agentd_task_t t[2] = {task("a", 100, AGENTD_POLICY_FORCED, AGENTD_PHASE_READY),
                          task("b", 200, AGENTD_POLICY_FORCED, AGENTD_PHASE_NEW)};
    t[0].halted = true;
    agentd_action_t a = agentd_core_next(t, 2, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_DOWNLOAD);
    ck_assert_str_eq(t[a.index].id, "b");
}
END_TEST

START_TEST(applying_task_resumes_first)
{
    agentd_task_t t[2] = {task("a", 100, AGENTD_POLICY_FORCED, AGENTD_PHASE_NEW),
                          task("b", 200, AGENTD_POLICY_FORCED, AGENTD_PHASE_APPLYING)};
    t[1].halted = true; /* even halted: the installation is half done */
    agentd_action_t a = agentd_core_next(t, 2, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_APPLY);
    ck_assert_str_eq(t[a.index].id, "b");
}
END_TEST

START_TEST(rollback_runs_without_download)
{
    agentd_task_t t = task("r", 100, AGENTD_POLICY_FORCED, AGENTD_PHASE_NEW);
    t.kind = AGENTD_KIND_ROLLBACK;
    agentd_action_t a = agentd_core_next(&t, 1, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_ROLLBACK);
}
END_TEST

START_TEST(optional_prompts_then_waits_until_deadline)
{
    agentd_task_t t = task("o", 100, AGENTD_POLICY_OPTIONAL, AGENTD_PHASE_READY);
    t.deadline_ms = 50000;
    agentd_action_t a = agentd_core_next(&t, 1, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_PROMPT);
    t.prompt = AGENTD_PROMPT_WAITING;
    a = agentd_core_next(&t, 1, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_NONE);
    ck_assert_int_eq(a.wake_ms, 50000);
    a = agentd_core_next(&t, 1, 50000);
    ck_assert_int_eq(a.act, AGENTD_ACT_APPLY);
    ck_assert(a.forced);
}
END_TEST

START_TEST(waiting_prompt_does_not_block_later_task)
{
    agentd_task_t t[2] = {task("o", 100, AGENTD_POLICY_OPTIONAL, AGENTD_PHASE_READY),
                          task("f", 200, AGENTD_POLICY_FORCED, AGENTD_PHASE_NEW)};
    t[0].prompt = AGENTD_PROMPT_WAITING;
    agentd_action_t a = agentd_core_next(t, 2, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_DOWNLOAD);
    ck_assert_str_eq(t[a.index].id, "f");
}
END_TEST

START_TEST(answer_now_and_defer_clamped_to_deadline)
{
    ferry_err_t err = {0};
    agentd_task_t t = task("o", 100, AGENTD_POLICY_OPTIONAL, AGENTD_PHASE_READY);
    t.prompt = AGENTD_PROMPT_WAITING;
    t.deadline_ms = 10000;
    ck_assert_int_eq(agentd_core_answer(&t, AGENTD_CHOICE_DEFER, 60000, 1000, &err), FERRY_OK);
    ck_assert_int_eq(t.prompt, AGENTD_PROMPT_DEFERRED);
    ck_assert_int_eq(t.deferred_until_ms, 10000); /* never past the deadline */
    agentd_action_t a = agentd_core_next(&t, 1, 5000);
    ck_assert_int_eq(a.act, AGENTD_ACT_NONE);
    ck_assert_int_eq(a.wake_ms, 10000);
    a = agentd_core_next(&t, 1, 10000);
    ck_assert_int_eq(a.act, AGENTD_ACT_APPLY);
    ck_assert(a.forced);

    agentd_task_t u = task("u", 100, AGENTD_POLICY_OPTIONAL, AGENTD_PHASE_READY);
    u.prompt = AGENTD_PROMPT_WAITING;
    ck_assert_int_eq(agentd_core_answer(&u, AGENTD_CHOICE_DEFER, 0, 1000, &err), FERRY_OK);
    ck_assert_int_eq(u.deferred_until_ms, 1000 + 3600 * 1000); /* default 1 h, no deadline */
    a = agentd_core_next(&u, 1, 1000 + 3600 * 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_PROMPT); /* asked again */
    ck_assert_int_eq(agentd_core_answer(&u, AGENTD_CHOICE_NOW, 0, 2000, &err), FERRY_OK);
    a = agentd_core_next(&u, 1, 2000);
    ck_assert_int_eq(a.act, AGENTD_ACT_APPLY);
    ck_assert(!a.forced);
}
END_TEST

START_TEST(answer_refusals_change_nothing)
{
    ferry_err_t err = {0};
    agentd_task_t f = task("f", 100, AGENTD_POLICY_FORCED, AGENTD_PHASE_READY);
    agentd_task_t before = f;
    ck_assert_int_eq(agentd_core_answer(&f, AGENTD_CHOICE_DEFER, 1000, 1000, &err), FERRY_E_PRECONDITION);
    ck_assert_mem_eq(&f, &before, sizeof(f));
    agentd_task_t o = task("o", 100, AGENTD_POLICY_OPTIONAL, AGENTD_PHASE_APPLYING);
    before = o;
    ck_assert_int_eq(agentd_core_answer(&o, AGENTD_CHOICE_NOW, 0, 1000, &err), FERRY_E_PRECONDITION);
    ck_assert_mem_eq(&o, &before, sizeof(o));
    o.phase = AGENTD_PHASE_READY;
    before = o;
    ck_assert_int_eq(agentd_core_answer(&o, 7, 0, 1000, &err), FERRY_E_INVALID_ARG);
    ck_assert_mem_eq(&o, &before, sizeof(o));
    o.deadline_ms = 500;
    before = o;
    ck_assert_int_eq(agentd_core_answer(&o, AGENTD_CHOICE_DEFER, 0, 1000, &err), FERRY_E_PRECONDITION);
    ck_assert_mem_eq(&o, &before, sizeof(o));
}
END_TEST

START_TEST(backoff_is_capped_and_jittered)
{
    ck_assert_int_eq(agentd_backoff_ms(0, 500, 30000, 0.0), 250);
    ck_assert_int_eq(agentd_backoff_ms(0, 500, 30000, 0.999999), 499);
    ck_assert_int_eq(agentd_backoff_ms(3, 500, 30000, 0.0), 2000);
    for (unsigned i = 10; i < 64; i++) {
        int64_t d = agentd_backoff_ms(i, 500, 30000, 0.5);
        ck_assert(d >= 15000 && d <= 30000);
    }
    ck_assert_int_eq(agentd_jitter_ms(60000, 0.0), 54000);
    ck_assert(agentd_jitter_ms(60000, 0.999) < 66000);
    ck_assert_int_eq(agentd_jitter_ms(10, 0.5), 1000);
}
END_TEST

/* The server's view of a task as merge_assignment builds it: facts + state + attempt. */
static agentd_task_t server_view(const char *id, int state, unsigned attempt)
{
    agentd_task_t t = task(id, 100, AGENTD_POLICY_FORCED, AGENTD_PHASE_NEW);
    t.last_state = state;
    t.attempt = attempt;
    t.deadline_ms = 5000;
    return t;
}

START_TEST(merge_new_task_takes_server_final_state)
{
    agentd_task_t srv = server_view("t1", 10, 0), out;
    ck_assert(!agentd_core_merge(NULL, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_NEW);
    ck_assert_int_eq(out.last_state, 10);
    /* First seen already final (reported before a crash): nothing to do. */
    srv = server_view("t1", 110, 0);
    ck_assert(!agentd_core_merge(NULL, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_DONE);
    srv = server_view("t1", 120, 0); /* Rollbacking is not final */
    ck_assert(!agentd_core_merge(NULL, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_NEW);
}
END_TEST

/* A task that failed (DONE locally, 110 reported) and that the server retried (attempt + 1,
 * back to 10): starts over, with the earlier attempt's progress and answers cleared. */
START_TEST(merge_retry_revives_done_task)
{
    agentd_task_t cur = task("t1", 100, AGENTD_POLICY_OPTIONAL, AGENTD_PHASE_DONE), srv, out;
    cur.last_state = 110;
    cur.percent = 100;
    cur.attempt = 0;
    cur.prompt = AGENTD_PROMPT_ACCEPTED;
    cur.deferred_until_ms = 777;
    cur.size = 4096;
    snprintf(cur.error_code, sizeof(cur.error_code), "E_PRECHECK_FAILED");
    srv = server_view("t1", 10, 1);
    srv.policy = AGENTD_POLICY_OPTIONAL;
    srv.size = 0; /* no manifest in this assignment: the known size stays */
    ck_assert(agentd_core_merge(&cur, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_NEW);
    ck_assert_int_eq(out.last_state, 10);
    ck_assert_uint_eq(out.attempt, 1);
    ck_assert_int_eq(out.percent, 0);
    ck_assert_str_eq(out.error_code, "");
    /* The user is asked again: "now" answered the earlier attempt's moment. */
    ck_assert_int_eq(out.prompt, AGENTD_PROMPT_NONE);
    ck_assert_int_eq(out.deferred_until_ms, 0);
    ck_assert_uint_eq(out.size, 4096);
    ck_assert_int_eq(out.deadline_ms, 5000);
    /* The revived task is downloaded again, then (optional) prompts as any new one. */
    agentd_action_t a = agentd_core_next(&out, 1, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_DOWNLOAD);
    out.phase = AGENTD_PHASE_READY;
    a = agentd_core_next(&out, 1, 1000);
    ck_assert_int_eq(a.act, AGENTD_ACT_PROMPT);
    /* Past the deadline it runs as forced, as any optional update. */
    a = agentd_core_next(&out, 1, 6000);
    ck_assert_int_eq(a.act, AGENTD_ACT_APPLY);
    ck_assert(a.forced);
    /* The same assignment again (every CheckIn) once the attempt is under way: no second revival. */
    agentd_task_t again;
    out.phase = AGENTD_PHASE_DONE;
    out.last_state = 110;
    ck_assert(!agentd_core_merge(&out, &srv, &again));
    ck_assert_int_eq(again.phase, AGENTD_PHASE_DONE);
    ck_assert_int_eq(again.last_state, 110);
    /* A second retry (attempt 2) revives it again. */
    srv.attempt = 2;
    ck_assert(agentd_core_merge(&out, &srv, &again));
    ck_assert_uint_eq(again.attempt, 2);
}
END_TEST

START_TEST(merge_stale_views_never_revive)
{
    agentd_task_t cur = task("t1", 100, AGENTD_POLICY_FORCED, AGENTD_PHASE_DONE), srv, out;
    cur.last_state = 110;
    cur.attempt = 1;
    snprintf(cur.error_code, sizeof(cur.error_code), "E_HOOK_FAILED");
    /* The final report still in the outbox: the server shows 30 of the same attempt. */
    srv = server_view("t1", 30, 1);
    ck_assert(!agentd_core_merge(&cur, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_DONE);
    ck_assert_int_eq(out.last_state, 110);
    ck_assert_str_eq(out.error_code, "E_HOOK_FAILED");
    /* An older attempt's snapshot: no revival, and the attempt never goes down. */
    srv = server_view("t1", 10, 0);
    ck_assert(!agentd_core_merge(&cur, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_DONE);
    ck_assert_uint_eq(out.attempt, 1);
    /* A higher attempt already final on the server (nothing left to run): the counter moves only. */
    srv = server_view("t1", 110, 2);
    ck_assert(!agentd_core_merge(&cur, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_DONE);
    ck_assert_uint_eq(out.attempt, 2);
    srv = server_view("t1", 10, 2);
    ck_assert(!agentd_core_merge(&out, &srv, &cur));
    ck_assert_int_eq(cur.phase, AGENTD_PHASE_DONE);
}
END_TEST

START_TEST(merge_task_in_hand_keeps_its_phase)
{
    /* Retried while still in hand (the engine's journal owns an APPLYING task): the phase
     * stays, the attempt counter follows the server, the server's facts win. */
    agentd_task_t cur = task("t1", 100, AGENTD_POLICY_OPTIONAL, AGENTD_PHASE_APPLYING), srv, out;
    cur.last_state = 70;
    cur.prompt = AGENTD_PROMPT_ACCEPTED;
    srv = server_view("t1", 10, 1);
    srv.policy = AGENTD_POLICY_OPTIONAL;
    srv.halted = true;
    ck_assert(!agentd_core_merge(&cur, &srv, &out));
    ck_assert_int_eq(out.phase, AGENTD_PHASE_APPLYING);
    ck_assert_int_eq(out.last_state, 70);
    ck_assert_int_eq(out.prompt, AGENTD_PROMPT_ACCEPTED);
    ck_assert_uint_eq(out.attempt, 1);
    ck_assert(out.halted);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agentd_core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, empty_table_does_nothing);
    tcase_add_test(tc, oldest_first_and_download_before_anything);
    tcase_add_test(tc, halted_tasks_are_skipped);
    tcase_add_test(tc, applying_task_resumes_first);
    tcase_add_test(tc, rollback_runs_without_download);
    tcase_add_test(tc, optional_prompts_then_waits_until_deadline);
    tcase_add_test(tc, waiting_prompt_does_not_block_later_task);
    tcase_add_test(tc, answer_now_and_defer_clamped_to_deadline);
    tcase_add_test(tc, answer_refusals_change_nothing);
    tcase_add_test(tc, backoff_is_capped_and_jittered);
    tcase_add_test(tc, merge_new_task_takes_server_final_state);
    tcase_add_test(tc, merge_retry_revives_done_task);
    tcase_add_test(tc, merge_stale_views_never_revive);
    tcase_add_test(tc, merge_task_in_hand_keeps_its_phase);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
