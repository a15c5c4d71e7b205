#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"

static ferry_sm_decision_t step(ferry_state_t s, const ferry_sm_facts_t *f, ferry_sm_event_kind_t kind,
                                ferry_err_code_t code, unsigned attempts)
{
    ferry_sm_event_t ev = {.kind = kind, .code = code, .attempts = attempts};
    return ferry_sm_next(s, f, &ev);
}

/* Runs the machine from Pending with every step succeeding; writes the path into |out|. */
static size_t happy_path(const ferry_sm_facts_t *f, ferry_state_t *out, size_t max)
{
    ferry_state_t s = FERRY_STATE_PENDING;
    size_t n = 0;
    out[n++] = s;
    while (!ferry_state_is_terminal(s) && n < max) {
        ferry_sm_decision_t d = step(s, f, FERRY_SM_STEP_OK, FERRY_OK, 0);
        ck_assert(ferry_state_transition_allowed(s, d.next));
        ck_assert(!d.redo);
        s = d.next;
        out[n++] = s;
    }
    return n;
}

START_TEST(names_and_codes_match_seed)
{
    static const struct {
        int code;
        const char *name;
    } want[] = {{10, "Pending"},          {20, "Downloading"},      {30, "Verifying"},
                {40, "WaitingUser"},      {50, "StoppingService"},  {60, "BackingUp"},
                {70, "InstallingServer"}, {75, "InstallingClient"}, {80, "RunningSql"},
                {90, "StartingService"},  {100, "Succeeded"},       {110, "Failed"},
                {120, "Rollbacking"},     {130, "Rollbacked"}};
    for (unsigned i = 0; i < FERRY_STATE_COUNT; i++) {
        ck_assert_int_eq((int)ferry_state_at(i), want[i].code);
        ck_assert_str_eq(ferry_state_name(want[i].code), want[i].name);
        ck_assert(ferry_state_valid(want[i].code));
    }
    ck_assert_str_eq(ferry_state_name(11), "Unknown");
    ck_assert(!ferry_state_valid(0));
}
END_TEST

START_TEST(full_package_order)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SERVER | FERRY_PART_CLIENT | FERRY_PART_SQL_SCHEMA |
                                   FERRY_PART_SQL_DATA};
    ferry_state_t p[32];
    size_t n = happy_path(&f, p, 32);
    static const ferry_state_t want[] = {10, 30, 50, 60, 70, 75, 80, 90, 100};
    ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(p[i], want[i]);
}
END_TEST

START_TEST(absent_parts_skipped_backup_always)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SQL_DATA};
    ferry_state_t p[32];
    size_t n = happy_path(&f, p, 32);
    static const ferry_state_t want[] = {10, 30, 50, 60, 80, 90, 100};
    ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(p[i], want[i]);

    f.parts = FERRY_PART_CLIENT;
    n = happy_path(&f, p, 32);
    static const ferry_state_t want2[] = {10, 30, 50, 60, 75, 90, 100};
    ck_assert_uint_eq(n, sizeof(want2) / sizeof(want2[0]));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(p[i], want2[i]);
}
END_TEST

START_TEST(download_and_user_wait_when_needed)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SERVER, .needs_download = true, .needs_user = true};
    ferry_state_t p[32];
    size_t n = happy_path(&f, p, 32);
    static const ferry_state_t want[] = {10, 20, 30, 40, 50, 60, 70, 90, 100};
    ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(p[i], want[i]);
}
END_TEST

START_TEST(failure_before_backup_fails_untouched)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SERVER};
    ferry_sm_decision_t d = step(FERRY_STATE_VERIFYING, &f, FERRY_SM_STEP_FAILED, FERRY_E_HASH_MISMATCH, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_eq(d.error, FERRY_E_HASH_MISMATCH);
    ck_assert_uint_eq(d.flags, 0);
    d = step(FERRY_STATE_STOPPING_SERVICE, &f, FERRY_SM_STEP_FAILED, FERRY_E_SERVICE_STOP_TIMEOUT, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_eq(d.error, FERRY_E_SERVICE_STOP_TIMEOUT);
    ck_assert_uint_eq(d.flags, 0);
    /* backup failed: nothing installed, but the service was stopped: restart it */
    d = step(FERRY_STATE_BACKING_UP, &f, FERRY_SM_STEP_FAILED, FERRY_E_BACKUP_FAILED_DB, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_eq(d.error, FERRY_E_BACKUP_FAILED_DB);
    ck_assert_uint_eq(d.flags, FERRY_SM_RESTART_SERVICE);
}
END_TEST

START_TEST(failure_after_backup_rolls_back)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SERVER | FERRY_PART_SQL_DATA};
    ferry_state_t after[] = {70, 75, 80, 90};
    for (size_t i = 0; i < 4; i++) {
        ferry_sm_decision_t d = step(after[i], &f, FERRY_SM_STEP_FAILED, FERRY_E_SQL_FAILED_DATA, 0);
        ck_assert_int_eq(d.next, FERRY_STATE_ROLLBACKING);
        ck_assert_int_eq(d.error, FERRY_E_SQL_FAILED_DATA);
    }
    ferry_sm_decision_t d = step(FERRY_STATE_ROLLBACKING, &f, FERRY_SM_STEP_OK, FERRY_OK, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_ROLLBACKED);
    ck_assert_int_eq(d.error, FERRY_OK); /* keeps the recorded cause */
    d = step(FERRY_STATE_ROLLBACKING, &f, FERRY_SM_STEP_FAILED, FERRY_E_IO, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_eq(d.error, FERRY_E_ROLLBACK_FAILED);
    d = step(FERRY_STATE_ROLLBACKING, &f, FERRY_SM_STEP_FAILED, FERRY_E_BACKUP_MISSING, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_eq(d.error, FERRY_E_BACKUP_MISSING);
}
END_TEST

START_TEST(resume_redoes_safe_steps_with_stop_guard)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SERVER};
    ferry_sm_decision_t d = step(FERRY_STATE_INSTALLING_SERVER, &f, FERRY_SM_RESUMED, FERRY_OK, 1);
    ck_assert_int_eq(d.next, FERRY_STATE_INSTALLING_SERVER);
    ck_assert(d.redo);
    ck_assert_uint_eq(d.flags, FERRY_SM_ENSURE_STOPPED);
    d = step(FERRY_STATE_BACKING_UP, &f, FERRY_SM_RESUMED, FERRY_OK, 2);
    ck_assert(d.redo);
    ck_assert_uint_eq(d.flags, FERRY_SM_ENSURE_STOPPED);
    d = step(FERRY_STATE_STARTING_SERVICE, &f, FERRY_SM_RESUMED, FERRY_OK, 1);
    ck_assert(d.redo);
    ck_assert_uint_eq(d.flags, 0);
    d = step(FERRY_STATE_ROLLBACKING, &f, FERRY_SM_RESUMED, FERRY_OK, 2);
    ck_assert(d.redo);
}
END_TEST

START_TEST(resume_in_sql_rolls_back)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SQL_SCHEMA | FERRY_PART_SQL_DATA};
    ferry_sm_decision_t d = step(FERRY_STATE_RUNNING_SQL, &f, FERRY_SM_RESUMED, FERRY_OK, 1);
    ck_assert_int_eq(d.next, FERRY_STATE_ROLLBACKING);
    ck_assert_int_eq(d.error, FERRY_E_SQL_FAILED_SCHEMA);
    f.sql_data_started = true;
    d = step(FERRY_STATE_RUNNING_SQL, &f, FERRY_SM_RESUMED, FERRY_OK, 1);
    ck_assert_int_eq(d.error, FERRY_E_SQL_FAILED_DATA);
    ck_assert(!ferry_state_transition_allowed(FERRY_STATE_RUNNING_SQL, FERRY_STATE_RUNNING_SQL));
}
END_TEST

START_TEST(crash_loop_is_bounded)
{
    ferry_sm_facts_t f = {.parts = FERRY_PART_SERVER};
    /* Every non-terminal state ends after at most FERRY_SM_MAX_ATTEMPTS resumes. */
    for (unsigned i = 0; i < FERRY_STATE_COUNT; i++) {
        ferry_state_t s = ferry_state_at(i);
        if (ferry_state_is_terminal(s))
            continue;
        ferry_sm_decision_t d = step(s, &f, FERRY_SM_RESUMED, FERRY_OK, FERRY_SM_MAX_ATTEMPTS);
        ck_assert(!d.redo);
        ck_assert(d.next == FERRY_STATE_FAILED || d.next == FERRY_STATE_ROLLBACKING);
        ck_assert_int_ne(d.error, FERRY_OK);
        ck_assert(ferry_state_transition_allowed(s, d.next));
    }
    ferry_sm_decision_t d = step(FERRY_STATE_INSTALLING_CLIENT, &f, FERRY_SM_RESUMED, FERRY_OK, 3);
    ck_assert_int_eq(d.next, FERRY_STATE_ROLLBACKING);
    ck_assert_int_eq(d.error, FERRY_E_INSTALL_FAILED_CLIENT);
    d = step(FERRY_STATE_ROLLBACKING, &f, FERRY_SM_RESUMED, FERRY_OK, 3);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_eq(d.error, FERRY_E_ROLLBACK_FAILED);
}
END_TEST

START_TEST(terminal_states_stay)
{
    ferry_state_t t[] = {FERRY_STATE_SUCCEEDED, FERRY_STATE_FAILED, FERRY_STATE_ROLLBACKED};
    for (size_t i = 0; i < 3; i++) {
        for (int k = FERRY_SM_STEP_OK; k <= FERRY_SM_RESUMED; k++) {
            ferry_sm_decision_t d = step(t[i], NULL, (ferry_sm_event_kind_t)k, FERRY_E_IO, 1);
            ck_assert_int_eq(d.next, t[i]);
            ck_assert(!d.redo);
        }
        for (unsigned k = 0; k < FERRY_STATE_COUNT; k++)
            ck_assert(!ferry_state_transition_allowed(t[i], ferry_state_at(k)));
    }
}
END_TEST

START_TEST(manual_rollback_path)
{
    ferry_sm_facts_t f = {.manual_rollback = true};
    ferry_sm_decision_t d = step(FERRY_STATE_PENDING, &f, FERRY_SM_STEP_OK, FERRY_OK, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_ROLLBACKING);
}
END_TEST

START_TEST(edges_never_skip_backup)
{
    /* No path from before BackingUp reaches an install state without passing 60. */
    for (unsigned i = 0; i < FERRY_STATE_COUNT; i++) {
        ferry_state_t from = ferry_state_at(i);
        if (from >= FERRY_STATE_BACKING_UP)
            continue;
        for (unsigned k = 0; k < FERRY_STATE_COUNT; k++) {
            ferry_state_t to = ferry_state_at(k);
            if (to >= FERRY_STATE_INSTALLING_SERVER && to <= FERRY_STATE_STARTING_SERVICE)
                ck_assert_msg(!ferry_state_transition_allowed(from, to), "%d -> %d", from, to);
        }
    }
    ck_assert(!ferry_state_transition_allowed(FERRY_STATE_BACKING_UP, FERRY_STATE_ROLLBACKING));
    ck_assert(!ferry_state_transition_allowed(FERRY_STATE_BACKING_UP, FERRY_STATE_STARTING_SERVICE));
}
END_TEST

START_TEST(failure_without_code_gets_one)
{
    ferry_sm_decision_t d = step(FERRY_STATE_VERIFYING, NULL, FERRY_SM_STEP_FAILED, FERRY_OK, 0);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_ne(d.error, FERRY_OK);
    ferry_sm_event_t ev = {.kind = FERRY_SM_STEP_OK};
    d = ferry_sm_next((ferry_state_t)11, NULL, &ev);
    ck_assert_int_eq(d.next, FERRY_STATE_FAILED);
    ck_assert_int_eq(d.error, FERRY_E_INTERNAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_states");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, names_and_codes_match_seed);
    tcase_add_test(tc, full_package_order);
    tcase_add_test(tc, absent_parts_skipped_backup_always);
    tcase_add_test(tc, download_and_user_wait_when_needed);
    tcase_add_test(tc, failure_before_backup_fails_untouched);
    tcase_add_test(tc, failure_after_backup_rolls_back);
    tcase_add_test(tc, resume_redoes_safe_steps_with_stop_guard);
    tcase_add_test(tc, resume_in_sql_rolls_back);
    tcase_add_test(tc, crash_loop_is_bounded);
    tcase_add_test(tc, terminal_states_stay);
    tcase_add_test(tc, manual_rollback_path);
    tcase_add_test(tc, edges_never_skip_backup);
    tcase_add_test(tc, failure_without_code_gets_one);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
