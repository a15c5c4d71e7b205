/* Pure rules of the hub's agent/report services: transitions, sequences, error
 * names, connectivity. */
#include <check.h>

#include "hub_agent.h"

START_TEST(transitions)
{
    /* The normal path and its skips. */
    ck_assert(hub_report_transition_ok(10, 20));
    ck_assert(hub_report_transition_ok(10, 30)); /* no download needed */
    ck_assert(hub_report_transition_ok(30, 40));
    ck_assert(hub_report_transition_ok(60, 80)); /* SQL-only package */
    ck_assert(hub_report_transition_ok(90, 100));
    ck_assert(hub_report_transition_ok(70, 120));
    ck_assert(hub_report_transition_ok(120, 130));
    ck_assert(hub_report_transition_ok(10, 120)); /* rollback task */
    /* Progress within a state, RunningSql included (progress, not a redo). */
    ck_assert(hub_report_transition_ok(20, 20));
    ck_assert(hub_report_transition_ok(80, 80));
    /* Impossible. */
    ck_assert(!hub_report_transition_ok(20, 100));
    ck_assert(!hub_report_transition_ok(10, 70));  /* install before backup */
    ck_assert(!hub_report_transition_ok(70, 110)); /* after backup a failure rolls back */
    ck_assert(!hub_report_transition_ok(100, 100));
    ck_assert(!hub_report_transition_ok(110, 20));
    ck_assert(!hub_report_transition_ok(130, 120));
    ck_assert(!hub_report_transition_ok(20, 10));
    ck_assert(!hub_report_transition_ok(20, 55));
    ck_assert(!hub_report_transition_ok(0, 10));
}
END_TEST

START_TEST(sequences)
{
    ck_assert_int_eq(hub_report_seq_check(0, 0), HUB_SEQ_INVALID);
    ck_assert_int_eq(hub_report_seq_check(0, 1), HUB_SEQ_APPLY);
    ck_assert_int_eq(hub_report_seq_check(5, 5), HUB_SEQ_DUPLICATE);
    ck_assert_int_eq(hub_report_seq_check(5, 3), HUB_SEQ_DUPLICATE);
    ck_assert_int_eq(hub_report_seq_check(5, 6), HUB_SEQ_APPLY);
    ck_assert_int_eq(hub_report_seq_check(5, 100), HUB_SEQ_APPLY); /* gaps: offline buffer trimmed */
}
END_TEST

START_TEST(error_names)
{
    ck_assert(hub_report_error_code_known(""));
    ck_assert(hub_report_error_code_known(NULL));
    ck_assert(hub_report_error_code_known("E_DOWNLOAD_FAILED"));
    ck_assert(hub_report_error_code_known("E_SQL_FAILED_DATA"));
    ck_assert(hub_report_error_code_known("E_BACKUP_MISSING"));
    ck_assert(hub_report_error_code_known("E_TRANSITION_INVALID"));
    ck_assert(!hub_report_error_code_known("E_MADE_UP"));
    ck_assert(!hub_report_error_code_known("e_download_failed"));
    ck_assert(!hub_report_error_code_known("OK"));
}
END_TEST

START_TEST(connectivity)
{
    ck_assert_int_eq(hub_connectivity(0, 1000000, 180), FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN);
    ck_assert_int_eq(hub_connectivity(1000000, 1000000, 180), FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE);
    ck_assert_int_eq(hub_connectivity(1000000, 1000000 + 180000, 180),
                     FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE);
    ck_assert_int_eq(hub_connectivity(1000000, 1000000 + 180001, 180),
                     FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_agent_unit");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, transitions);
    tcase_add_test(tc, sequences);
    tcase_add_test(tc, error_names);
    tcase_add_test(tc, connectivity);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
