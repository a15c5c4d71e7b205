/*
 * Rollouts in waves and maintenance windows (issue 13).
 * Pure rules (ferry/model/window.h): windows (bad hours refused naming the culprit, a
 * window crossing midnight), time zones, the hold reason, wave specs (0 and decreasing
 * refused naming the wave), the cut of an ordered scope (percents rounded up, empty
 * waves dropped, canaries alone first, the rest implied), thresholds.
 * Repository (ferry/store/waves.h, releases.h, tasks.h, assign.h): a waved release reads
 * back its waves, current wave and counts; it is not COMPLETED while a wave is left;
 * wave nodes come back in rollout order (a node disabled since left out); a node of a
 * wave not started counts as having the version; a task outside its window is held (not
 * halted) with its reason visible, an update already started is not held.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fs.h"
#include "ferry/model/states.h"
#include "ferry/model/window.h"
#include "ferry/store/assign.h"
#include "ferry/store/releases.h"
#include "ferry/store/tasks.h"
#include "ferry/store/waves.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

#define PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD

/* ---- pure ---------------------------------------------------------------------------------- */

START_TEST(window_rules)
{
    ferry_err_t e = {0};
    int a, b;
    ck_assert_int_eq(ferry_window_parse("01:00-05:00", "w", &a, &b, &e), FERRY_OK);
    ck_assert_int_eq(a, 60);
    ck_assert_int_eq(b, 300);
    ck_assert_int_eq(ferry_window_parse("25:00-01:00", "w", &a, &b, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "'25:00'"));
    ck_assert_int_eq(a, -1);
    ck_assert_int_eq(ferry_window_parse("01:00-01:60", "w", &a, &b, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "'01:60'"));
    ck_assert_int_eq(ferry_window_parse("03:00-03:00", "w", &a, &b, &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_window_parse("1:00-5:00", "w", &a, &b, &e), FERRY_E_INVALID_ARG);
    /* Crossing midnight: 22:00-02:00. */
    ck_assert_int_eq(ferry_window_parse("22:00-02:00", "w", &a, &b, &e), FERRY_OK);
    ck_assert(ferry_window_open_at(a, b, 23 * 60 + 30));
    ck_assert(ferry_window_open_at(a, b, 60));
    ck_assert(!ferry_window_open_at(a, b, 120)); /* end excluded */
    ck_assert(!ferry_window_open_at(a, b, 12 * 60));
    ck_assert(ferry_window_open_at(-1, -1, 12 * 60)); /* no window */
}
END_TEST

START_TEST(time_zones_and_hold_reason)
{
    ferry_err_t e = {0};
    int off;
    bool server;
    char why[256];
    ck_assert_int_eq(ferry_tz_parse("+08:00", &off, &server, &e), FERRY_OK);
    ck_assert_int_eq(off, 480);
    ck_assert_int_eq(ferry_tz_parse("-05:30", &off, &server, &e), FERRY_OK);
    ck_assert_int_eq(off, -330);
    ck_assert_int_eq(ferry_tz_parse("UTC", &off, &server, &e), FERRY_OK);
    ck_assert(!server);
    ck_assert_int_eq(ferry_tz_parse("", &off, &server, &e), FERRY_OK);
    ck_assert(server);
    ck_assert_int_eq(ferry_tz_parse("Asia/Shanghai", &off, &server, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "Asia/Shanghai"));
    ck_assert_int_eq(ferry_tz_parse("+15:00", &off, &server, &e), FERRY_E_INVALID_ARG);
    /* 1970-01-01 06:03 UTC = 14:03 at +08:00: outside 01:00-05:00, opens in 10h57m. */
    int64_t t = (6 * 60 + 3) * 60000LL;
    ferry_window_hold_reason(60, 300, "+08:00", t, why, sizeof(why));
    ck_assert_str_eq(why, "outside maintenance window 01:00-05:00 (node time +08:00 14:03); opens in 10h57m");
    ferry_window_hold_reason(60, 300, "-04:00", t, why, sizeof(why)); /* 02:03 there: open */
    ck_assert_str_eq(why, "");
    /* Crossing midnight in the node's zone: 22:00-02:00 at 23:30 +08:00 (15:30 UTC) is open. */
    ferry_window_hold_reason(22 * 60, 120, "+08:00", (15 * 60 + 30) * 60000LL, why, sizeof(why));
    ck_assert_str_eq(why, "");
}
END_TEST

START_TEST(wave_specs_and_cuts)
{
    ferry_err_t e = {0};
    ferry_wave_spec_t sp[FERRY_WAVES_MAX];
    size_t ends[FERRY_WAVES_MAX + 2], n;
    int from[FERRY_WAVES_MAX + 2];
    const char *zero[] = {"0"}, *dec[] = {"50%", "20%"}, *ok[] = {"5", "25%", "100%"}, *pct[] = {"101%"},
               *junk[] = {"5", "x"};
    ck_assert_int_eq(ferry_wave_specs_check(zero, 1, sp, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "wave 1 '0'"));
    ck_assert_int_eq(ferry_wave_specs_check(dec, 2, sp, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "wave 2 '20%'"));
    ck_assert_int_eq(ferry_wave_specs_check(pct, 1, sp, &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_wave_specs_check(junk, 2, sp, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "wave 2 'x'"));
    ck_assert_int_eq(ferry_wave_specs_check(ok, 3, sp, &e), FERRY_OK);
    /* 100 nodes: 5, 25, 100. */
    n = ferry_waves_resolve(sp, 3, 0, 100, ends, from);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(ends[0], 5);
    ck_assert_uint_eq(ends[1], 25);
    ck_assert_uint_eq(ends[2], 100);
    /* 6 nodes: 5, ceil(1.5) = 2 adds nothing (dropped), 6. */
    n = ferry_waves_resolve(sp, 3, 0, 6, ends, from);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ends[0], 5);
    ck_assert_uint_eq(ends[1], 6);
    ck_assert_int_eq(from[1], 2);
    /* 2 canaries of 100: canaries alone, then 5, 25, 100. */
    n = ferry_waves_resolve(sp, 3, 2, 100, ends, from);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(ends[0], 2);
    ck_assert_int_eq(from[0], -1);
    ck_assert_uint_eq(ends[1], 5);
    /* "5" alone on 10 nodes: the rest is an implied last wave. */
    n = ferry_waves_resolve(sp, 1, 0, 10, ends, from);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ends[1], 10);
    ck_assert_int_eq(from[1], -1);
}
END_TEST

START_TEST(thresholds)
{
    ferry_err_t e = {0};
    uint32_t v;
    bool count;
    ck_assert_int_eq(ferry_error_threshold_parse("10", &v, &count, &e), FERRY_OK);
    ck_assert(!count && v == 10);
    ck_assert_int_eq(ferry_error_threshold_parse("10%", &v, &count, &e), FERRY_OK);
    ck_assert(!count && v == 10);
    ck_assert_int_eq(ferry_error_threshold_parse("count:3", &v, &count, &e), FERRY_OK);
    ck_assert(count && v == 3);
    ck_assert_int_eq(ferry_error_threshold_parse("", &v, &count, &e), FERRY_OK);
    ck_assert(!count && v == 0);
    ck_assert_int_eq(ferry_error_threshold_parse("3x", &v, &count, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "'3x'"));
    ck_assert_int_eq(ferry_error_threshold_parse("count:3%", &v, &count, &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_error_threshold_parse("101", &v, &count, &e), FERRY_E_INVALID_ARG);
    ck_assert(ferry_error_threshold_exceeded(0, false, 1, 100));
    ck_assert(!ferry_error_threshold_exceeded(10, false, 10, 100)); /* exceed = above */
    ck_assert(ferry_error_threshold_exceeded(10, false, 11, 100));
    ck_assert(!ferry_error_threshold_exceeded(3, true, 3, 5));
    ck_assert(ferry_error_threshold_exceeded(3, true, 4, 5));
    ck_assert(ferry_success_threshold_reached(95, 19, 20));
    ck_assert(!ferry_success_threshold_reached(95, 18, 20));
    ck_assert(!ferry_success_threshold_reached(100, 0, 0));
}
END_TEST

/* ---- repository -------------------------------------------------------------------------- */

static store_fixture_t F;
static ferry_store_t *s;
static ferry_arena_t A;

/* Customer C, stores S1 and S2; PROD nodes a (S2), b (S1), c (S1, zone +08:00); package 1.0. */
static void setup(void)
{
    s = sf_open(&F, "store-waves");
    memset(&A, 0, sizeof(A));
    ferry_store_lock(s);
    sf_exec(
        s, "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'C', 1, 1);"
           "INSERT INTO store (id, customer_id, code, name, created_at, updated_at) VALUES (1, 1, 'S1', 'S', "
           "1, 1),"
           " (2, 1, 'S2', 'S', 1, 1);"
           "INSERT INTO node (id, store_id, code, environment, token_id, token_hash, token_issued_at, "
           "created_at,"
           " updated_at, time_zone) VALUES (1, 2, 'a', 4, 'n1', x'00', 1, 1, 1, ''),"
           " (2, 1, 'b', 4, 'n2', x'00', 1, 1, 1, 'UTC'), (3, 1, 'c', 4, 'n3', x'00', 1, 1, 1, '+08:00');"
           "INSERT INTO package (id, version, v_major, v_minor, v_patch, v_revision, v_build, type, size, "
           "sha256,"
           " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
           " VALUES (1, '1.0', 1, 0, 0, 0, 0, 1, 10, 'aa', 1, 0, 0, 0, x'', x'', 'k', 1);");
}

static void teardown(void)
{
    ferry_store_unlock(s);
    sf_close(&F);
    s = NULL;
    ferry_arena_free(&A);
}

static int64_t new_release(void)
{
    ferry_err_t e = {0};
    ferry_store_release_new_t r = {1, 1,  PROD, FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED,
                                   0, "", 0,    1000};
    int64_t id = 0;
    ck_assert_int_eq(ferry_store_release_insert(s, &r, &id, &e), FERRY_OK);
    return id;
}

static int64_t new_task(int64_t rel, int64_t node, int state, int wave)
{
    ferry_err_t e = {0};
    ferry_store_task_new_t t = {rel,  node, FERRY__V1__TASK_KIND__TASK_KIND_UPDATE, state, "", 0, "", "", "",
                                1000, wave};
    int64_t id = 0;
    ck_assert_int_eq(ferry_store_task_insert(s, &t, &id, &e), FERRY_OK);
    return id;
}

START_TEST(waved_release_round_trip)
{
    ferry_err_t e = {0};
    ferry_store_rollout_t ro = {0}, got;
    Ferry__V1__Release r;
    int64_t *ids = NULL, id = new_release();
    uint64_t total, ok, failed;
    size_t n;

    ro.wave_count = 2;
    ro.current_wave = 1;
    ro.success_threshold = 95;
    ro.error_threshold = 3;
    ro.error_is_count = true;
    ro.approve_waves = true;
    ro.window_start = 22 * 60;
    ro.window_end = 120;
    ck_assert_int_eq(ferry_store_rollout_set(s, id, &ro, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_add(s, id, 1, "canary", 1, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_add(s, id, 2, "rest", 2, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_node_add(s, id, 1, 3, 1, true, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_node_add(s, id, 2, 2, 2, false, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_node_add(s, id, 3, 1, 2, false, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_started(s, id, 1, 2000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_nodes(s, id, 2, &ids, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], 2); /* rollout order, not node id order */
    ck_assert_int_eq(ids[1], 1);
    free(ids);
    new_task(id, 3, FERRY_STATE_SUCCEEDED, 1);
    /* A node of a wave not started yet already has the version coming: no second release. */
    {
        bool has = false;
        int64_t rid = 0;
        int state = 0;
        ck_assert_int_eq(ferry_store_release_node_has_version(s, 1, 1, &has, &rid, &state, &e), FERRY_OK);
        ck_assert(has);
        ck_assert_int_eq(rid, id);
        ck_assert_int_eq(state, FERRY_STATE_PENDING);
    }
    /* A node disabled since creation gets no task when its wave starts. */
    sf_exec(s, "UPDATE node SET disabled = 1 WHERE id = 1");
    ck_assert_int_eq(ferry_store_wave_nodes(s, id, 2, &ids, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], 2);
    free(ids);
    sf_exec(s, "UPDATE node SET disabled = 0 WHERE id = 1");

    ck_assert_int_eq(ferry_store_rollout_get(s, id, &got, &e), FERRY_OK);
    ck_assert_int_eq(got.wave_count, 2);
    ck_assert_int_eq(got.current_wave, 1);
    ck_assert(got.error_is_count && got.approve_waves && !got.awaiting_promotion);
    ck_assert_int_eq(got.window_start, 22 * 60);
    ck_assert_int_eq(ferry_store_wave_counts(s, id, 1, &total, &ok, &failed, &e), FERRY_OK);
    ck_assert_uint_eq(total, 1);
    ck_assert_uint_eq(ok, 1);
    ck_assert_uint_eq(failed, 0);

    /* Every task final but wave 2 not started: ACTIVE, not COMPLETED; node_count is the plan's. */
    ck_assert_int_eq(ferry_store_release_get(s, &A, id, &r, &e), FERRY_OK);
    ck_assert_int_eq(r.state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    ck_assert_uint_eq(r.node_count, 3);
    ck_assert_uint_eq(r.n_waves, 2);
    ck_assert_str_eq(r.waves[0]->spec, "canary");
    ck_assert_uint_eq(r.waves[0]->succeeded, 1);
    ck_assert_ptr_nonnull(r.waves[0]->started_at);
    ck_assert_ptr_null(r.waves[1]->started_at);
    ck_assert_uint_eq(r.current_wave, 1);
    ck_assert_str_eq(r.error_threshold, "count:3");
    ck_assert_str_eq(r.maintenance_window, "22:00-02:00");
    ck_assert_uint_eq(r.n_canary_node_codes, 1);
    ck_assert_str_eq(r.canary_node_codes[0], "c");

    /* Wave 2 starts, its tasks end: COMPLETED. */
    ck_assert_int_eq(ferry_store_rollout_awaiting(s, id, true, 3000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_started(s, id, 2, 3000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_rollout_get(s, id, &got, &e), FERRY_OK);
    ck_assert(!got.awaiting_promotion);
    new_task(id, 2, FERRY_STATE_SUCCEEDED, 2);
    new_task(id, 1, FERRY_STATE_ROLLBACKED, 2);
    ck_assert_int_eq(ferry_store_wave_counts(s, id, 2, &total, &ok, &failed, &e), FERRY_OK);
    ck_assert_uint_eq(failed, 1);
    ck_assert_int_eq(ferry_store_release_get(s, &A, id, &r, &e), FERRY_OK);
    ck_assert_int_eq(r.state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_COMPLETED);

    /* Tallies of every started wave, and a resume's acknowledgement wave by wave. */
    ferry_store_wave_tally_t w[4];
    sf_exec(s, "UPDATE update_task SET state = 110 WHERE node_id = 3"); /* wave 1's task fails late */
    ck_assert_int_eq(ferry_store_wave_tallies(s, id, 2, w, 4, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(w[0].wave == 1 && w[0].total == 1 && w[0].failed == 1 && w[0].acked == 0);
    ck_assert(w[1].wave == 2 && w[1].total == 2 && w[1].failed == 1 && w[1].acked == 0);
    ck_assert(w[0].succeeded == 0 && w[1].succeeded == 1);
    ck_assert_int_eq(ferry_store_wave_tallies(s, id, 1, w, 4, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 1); /* up to the wave asked for */
    ck_assert_int_eq(ferry_store_waves_ack(s, id, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_wave_tallies(s, id, 2, w, 4, &n, &e), FERRY_OK);
    ck_assert(w[0].acked == 1 && w[1].acked == 1);
}
END_TEST

START_TEST(window_holds_pending_only)
{
    ferry_err_t e = {0};
    ferry_store_rollout_t ro = {0};
    ferry_store_open_task_t open[4];
    Ferry__V1__UpdateTask t;
    int64_t id = new_release(), pending;
    int64_t now = ferry_store_now_ms();
    int utc_min = (int)((now / 60000) % 1440);
    size_t n = 0;
    ferry_store_windowed_t *w = NULL;

    /* A window that opens in two hours at UTC (node b's zone). */
    ro.window_start = (utc_min + 120) % 1440;
    ro.window_end = (utc_min + 180) % 1440;
    ro.success_threshold = 100;
    ck_assert_int_eq(ferry_store_rollout_set(s, id, &ro, &e), FERRY_OK);
    pending = new_task(id, 2, FERRY_STATE_PENDING, 0);
    ck_assert_int_eq(ferry_store_node_open_tasks(s, NULL, 2, 0, open, 4, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert(open[0].window_held);
    ck_assert(!open[0].halted);
    ck_assert_int_eq(ferry_store_task_get(s, &A, pending, now, &t, &e), FERRY_OK);
    ck_assert_ptr_nonnull(strstr(t.hold_reason, "outside maintenance window"));
    ck_assert_msg(strstr(t.hold_reason, "opens in 2h00m") != NULL || strstr(t.hold_reason, "opens in 1h59m"),
                  "%s", t.hold_reason);
    /* An update already started finishes: not held. */
    sf_exec(s, "UPDATE update_task SET state = 20");
    ck_assert_int_eq(ferry_store_node_open_tasks(s, NULL, 2, 0, open, 4, &n, &e), FERRY_OK);
    ck_assert(!open[0].window_held);
    ck_assert_int_eq(ferry_store_task_get(s, &A, pending, now, &t, &e), FERRY_OK);
    ck_assert_str_eq(t.hold_reason, "");
    /* The window is in the node's zone: at +02:30 it is open now, nothing held. */
    sf_exec(s, "UPDATE update_task SET state = 10");
    sf_exec(s, "UPDATE node SET time_zone = '+02:30' WHERE id = 2");
    ck_assert_int_eq(ferry_store_node_open_tasks(s, NULL, 2, 0, open, 4, &n, &e), FERRY_OK);
    ck_assert(!open[0].window_held);
    ck_assert_int_eq(ferry_store_windowed_releases(s, &w, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(w[0].id, id);
    free(w);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_waves");
    TCase *pure = tcase_create("rules");
    TCase *tc = tcase_create("repository");
    tcase_add_test(pure, window_rules);
    tcase_add_test(pure, time_zones_and_hold_reason);
    tcase_add_test(pure, wave_specs_and_cuts);
    tcase_add_test(pure, thresholds);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, waved_release_round_trip);
    tcase_add_test(tc, window_holds_pending_only);
    suite_add_tcase(su, pure);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
