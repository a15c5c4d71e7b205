#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/engine/journal.h"
#include "ferry/fs.h"

static char root[256];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/ferry-journal-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    ferry_fs_rm_rf(root, NULL);
}

static ferry_journal_t *open_j(void)
{
    ferry_journal_t *j = NULL;
    ferry_err_t e = {0};
    ck_assert_msg(ferry_journal_open(root, &j, &e) == FERRY_OK, "%s", e.msg);
    return j;
}

static void new_task(ferry_journal_t *j, ferry_task_t *t, const char *version)
{
    ferry_err_t e = {0};
    memset(t, 0, sizeof(*t));
    snprintf(t->kind, sizeof(t->kind), "%s", FERRY_TASK_KIND_APPLY);
    snprintf(t->version, sizeof(t->version), "%s", version);
    snprintf(t->package_path, sizeof(t->package_path), "/tmp/pkg.zip");
    ck_assert_msg(ferry_journal_create(j, t, &e) == FERRY_OK, "%s", e.msg);
}

START_TEST(create_transition_reload)
{
    ferry_journal_t *j = open_j();
    ferry_task_t t, back;
    ferry_err_t e = {0};
    int found = 0;
    new_task(j, &t, "1.25.12.13(12521)");
    ck_assert_uint_eq(strlen(t.task_id), FERRY_TASK_ID_LEN);
    ck_assert_int_eq(t.state, FERRY_STATE_PENDING);
    ck_assert_int_eq(ferry_journal_transition(j, &t, FERRY_STATE_VERIFYING, FERRY_OK, "verify", &e),
                     FERRY_OK);
    t.facts.parts = FERRY_PART_SERVER | FERRY_PART_SQL_DATA;
    snprintf(t.backup_path, sizeof(t.backup_path), "/b/1.25.12.13(12521)");
    ck_assert_int_eq(ferry_journal_save(j, &t, &e), FERRY_OK);
    ck_assert_int_eq(ferry_journal_transition(j, &t, FERRY_STATE_VERIFYING, FERRY_OK, "redo", &e), FERRY_OK);
    ck_assert_uint_eq(t.attempt, 2);
    ferry_journal_close(j);

    j = open_j();
    ck_assert_int_eq(ferry_journal_active(j, &back, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_str_eq(back.task_id, t.task_id);
    ck_assert_int_eq(back.state, FERRY_STATE_VERIFYING);
    ck_assert_uint_eq(back.attempt, 2);
    ck_assert_uint_eq(back.facts.parts, FERRY_PART_SERVER | FERRY_PART_SQL_DATA);
    ck_assert_str_eq(back.backup_path, "/b/1.25.12.13(12521)");
    ck_assert_str_eq(back.version, "1.25.12.13(12521)");
    ferry_journal_close(j);
}
END_TEST

START_TEST(forbidden_transition_refused)
{
    ferry_journal_t *j = open_j();
    ferry_task_t t;
    ferry_err_t e = {0};
    new_task(j, &t, "1.0.0.0(1)");
    ck_assert_int_eq(ferry_journal_transition(j, &t, FERRY_STATE_INSTALLING_SERVER, FERRY_OK, "x", &e),
                     FERRY_E_TRANSITION_INVALID);
    ck_assert_int_eq(t.state, FERRY_STATE_PENDING);
    ferry_journal_close(j);
}
END_TEST

START_TEST(one_active_task)
{
    ferry_journal_t *j = open_j();
    ferry_task_t t, u;
    ferry_err_t e = {0};
    new_task(j, &t, "1.0.0.0(1)");
    memset(&u, 0, sizeof(u));
    snprintf(u.version, sizeof(u.version), "1.0.0.1(2)");
    ck_assert_int_eq(ferry_journal_create(j, &u, &e), FERRY_E_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(e.msg, "resume"));
    ck_assert_int_eq(
        ferry_journal_transition(j, &t, FERRY_STATE_FAILED, FERRY_E_HASH_MISMATCH, "bad sha", &e), FERRY_OK);
    ck_assert(t.finished_ms > 0);
    ck_assert_int_eq(t.error_code, FERRY_E_HASH_MISMATCH);
    new_task(j, &u, "1.0.0.1(2)");
    int found = 0;
    ferry_task_t l;
    ck_assert_int_eq(ferry_journal_latest(j, &l, &found, &e), FERRY_OK);
    ck_assert_str_eq(l.task_id, u.task_id);
    ferry_journal_close(j);
}
END_TEST

struct evs {
    int n;
    ferry_state_t last_to;
    char last_msg[64];
};

static void on_ev(void *user, const ferry_journal_event_t *ev)
{
    struct evs *s = user;
    s->n++;
    s->last_to = ev->to;
    snprintf(s->last_msg, sizeof(s->last_msg), "%s", ev->message);
}

START_TEST(history_and_find_backup)
{
    ferry_journal_t *j = open_j();
    ferry_task_t t, f;
    ferry_err_t e = {0};
    int found = 0;
    new_task(j, &t, "1.0.0.0(1)");
    snprintf(t.backup_path, sizeof(t.backup_path), "/b/x");
    ferry_state_t path[] = {30, 50, 60, 70, 90, 100};
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(ferry_journal_transition(j, &t, path[i], FERRY_OK, "step", &e), FERRY_OK);
    ck_assert_int_eq(ferry_journal_note(j, &t, "retention: kept 5", &e), FERRY_OK);
    struct evs s = {0};
    ck_assert_int_eq(ferry_journal_events(j, t.task_id, on_ev, &s, &e), FERRY_OK);
    ck_assert_int_eq(s.n, 8); /* created + 6 transitions + note */
    ck_assert_str_eq(s.last_msg, "retention: kept 5");
    ck_assert_int_eq(ferry_journal_find_backup(j, "1.0.0.0(1)", &f, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_str_eq(f.backup_path, "/b/x");
    ck_assert_int_eq(ferry_journal_find_backup(j, "9.0.0.0(1)", &f, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 0);
    ferry_journal_close(j);
}
END_TEST

START_TEST(lock_is_exclusive_across_processes)
{
    int fd = -1;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_journal_lock(root, &fd, &e), FERRY_OK);
    pid_t pid = fork();
    if (pid == 0) {
        int fd2 = -1;
        ferry_err_t e2 = {0};
        _exit(ferry_journal_lock(root, &fd2, &e2) == FERRY_E_PRECONDITION ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
    ck_assert_int_eq(ferry_journal_lock(root, &fd, &e), FERRY_OK);
    close(fd);
}
END_TEST

START_TEST(transition_survives_kill)
{
    /* A child records a transition and dies by SIGKILL right after: the parent sees it. */
    ferry_journal_t *j = open_j();
    ferry_task_t t;
    new_task(j, &t, "1.0.0.0(1)");
    ferry_journal_close(j);
    pid_t pid = fork();
    if (pid == 0) {
        ferry_journal_t *cj = NULL;
        ferry_err_t ce = {0};
        ferry_task_t ct;
        int found = 0;
        if (ferry_journal_open(root, &cj, &ce) != FERRY_OK ||
            ferry_journal_active(cj, &ct, &found, &ce) != FERRY_OK)
            _exit(1);
        ferry_journal_transition(cj, &ct, FERRY_STATE_VERIFYING, FERRY_OK, "x", &ce);
        kill(getpid(), SIGKILL);
        _exit(2);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status));
    j = open_j();
    ferry_task_t back;
    ferry_err_t e = {0};
    int found = 0;
    ck_assert_int_eq(ferry_journal_active(j, &back, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(back.state, FERRY_STATE_VERIFYING);
    ferry_journal_close(j);
}
END_TEST

/* Writes a finished hook checkpoint of |phase| with |outcome|. */
static void put_hook(ferry_journal_t *j, const char *task, const char *id, const char *phase,
                     const char *outcome)
{
    ferry_hook_rec_t r;
    memset(&r, 0, sizeof(r));
    snprintf(r.hook_id, sizeof(r.hook_id), "%s", id);
    snprintf(r.phase, sizeof(r.phase), "%s", phase);
    snprintf(r.outcome, sizeof(r.outcome), "%s", outcome);
    r.done = 1;
    ck_assert_int_eq(ferry_journal_hook_put(j, task, &r, NULL), FERRY_OK);
}

static int hook_there(ferry_journal_t *j, const char *task, const char *id)
{
    ferry_hook_rec_t r;
    int found = 0;
    ck_assert_int_eq(ferry_journal_hook_get(j, task, id, &r, &found, NULL), FERRY_OK);
    return found;
}

static void count_ev(void *user, const ferry_journal_event_t *ev)
{
    (void)ev;
    (*(int *)user)++;
}

/* The server's RetryTask reuses the task id: a Failed apply starts a new attempt in place. */
START_TEST(new_attempt_of_failed_task)
{
    ferry_journal_t *j = open_j();
    ferry_task_t t, again, other, got;
    ferry_err_t e = {0};
    int found = 0, before = 0, after = 0;
    unsigned kept = 9;
    memset(&t, 0, sizeof(t));
    snprintf(t.task_id, sizeof(t.task_id), "42");
    snprintf(t.kind, sizeof(t.kind), "%s", FERRY_TASK_KIND_APPLY);
    snprintf(t.version, sizeof(t.version), "1.0.0.2(2)");
    snprintf(t.package_path, sizeof(t.package_path), "/tmp/pkg.zip");
    again = t;
    ck_assert_int_eq(ferry_journal_create(j, &t, &e), FERRY_OK);
    /* Not finished yet: no new attempt, and the id cannot be created twice. */
    ck_assert_int_eq(ferry_journal_new_attempt(j, &again, NULL, &kept, &e), FERRY_E_PRECONDITION);
    ck_assert_int_eq(ferry_journal_transition(j, &t, FERRY_STATE_VERIFYING, FERRY_OK, "verify", &e),
                     FERRY_OK);
    put_hook(j, "42", "chk", "pre_check", "FAIL");
    put_hook(j, "42", "exp1", "pre_upgrade", "PASS");
    put_hook(j, "42", "exp2", "pre_upgrade", "PASS");
    put_hook(j, "42", "exp3", "pre_upgrade", "FAIL");
    ck_assert_int_eq(ferry_journal_transition(j, &t, FERRY_STATE_FAILED, FERRY_E_HOOK_FAILED, "exp3", &e),
                     FERRY_OK);
    /* A later task: the new attempt must become the latest again. */
    new_task(j, &other, "1.0.0.3(3)");
    ck_assert_int_eq(ferry_journal_transition(j, &other, FERRY_STATE_FAILED, FERRY_E_HASH_MISMATCH, "x", &e),
                     FERRY_OK);
    e.msg[0] = '\0';
    ck_assert_int_eq(ferry_journal_create(j, &again, &e), FERRY_E_PRECONDITION);
    ck_assert_msg(strstr(e.msg, "task 42 is already in the journal") != NULL, "%s", e.msg);
    /* Refusals change nothing: another version, a rollback. */
    ferry_task_t wrong = again;
    snprintf(wrong.version, sizeof(wrong.version), "1.0.0.9(9)");
    ck_assert_int_eq(ferry_journal_new_attempt(j, &wrong, NULL, &kept, &e), FERRY_E_PRECONDITION);
    wrong = again;
    snprintf(wrong.kind, sizeof(wrong.kind), "%s", FERRY_TASK_KIND_ROLLBACK);
    ck_assert_int_eq(ferry_journal_new_attempt(j, &wrong, NULL, &kept, &e), FERRY_E_PRECONDITION);
    ck_assert_int_eq(ferry_journal_get(j, "42", &got, &found, &e), FERRY_OK);
    ck_assert_int_eq(got.state, FERRY_STATE_FAILED);
    ck_assert(hook_there(j, "42", "chk"));
    ck_assert_int_eq(ferry_journal_events(j, "42", count_ev, &before, &e), FERRY_OK);

    /* Resume after exp1: its PASS stays; the check (re-evaluated), exp2 and the failed exp3 go. */
    snprintf(again.backup_path, sizeof(again.backup_path), "/b/kept");
    ck_assert_msg(ferry_journal_new_attempt(j, &again, "exp1", &kept, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_uint_eq(kept, 1);
    ck_assert(hook_there(j, "42", "exp1"));
    ck_assert(!hook_there(j, "42", "exp2") && !hook_there(j, "42", "exp3") && !hook_there(j, "42", "chk"));
    ck_assert_int_eq(again.state, FERRY_STATE_PENDING);
    ck_assert_int_eq(again.error_code, FERRY_OK);
    ck_assert_int_eq(again.finished_ms, 0);
    ck_assert_int_eq(again.created_ms, t.created_ms);
    ck_assert_int_eq(ferry_journal_latest(j, &got, &found, &e), FERRY_OK);
    ck_assert_str_eq(got.task_id, "42");
    ck_assert_str_eq(got.backup_path, "/b/kept");
    ck_assert_int_eq(ferry_journal_active(j, &got, &found, &e), FERRY_OK);
    ck_assert(found && strcmp(got.task_id, "42") == 0);
    ck_assert_int_eq(ferry_journal_events(j, "42", count_ev, &after, &e), FERRY_OK);
    ck_assert_int_eq(after, before + 1); /* the history stays, one event names the attempt */

    /* Fails again; a retry without checkpoint starts from the start: nothing kept. */
    ck_assert_int_eq(ferry_journal_transition(j, &again, FERRY_STATE_FAILED, FERRY_E_HOOK_FAILED, "y", &e),
                     FERRY_OK);
    ck_assert_int_eq(ferry_journal_new_attempt(j, &again, "", &kept, &e), FERRY_OK);
    ck_assert_uint_eq(kept, 0);
    ck_assert(!hook_there(j, "42", "exp1"));
    /* A Succeeded task never starts over. */
    ck_assert_int_eq(ferry_journal_transition(j, &again, FERRY_STATE_VERIFYING, FERRY_OK, "v", &e), FERRY_OK);
    ck_assert_int_eq(ferry_journal_transition(j, &again, FERRY_STATE_STOPPING_SERVICE, FERRY_OK, "s", &e),
                     FERRY_OK);
    ck_assert_int_eq(ferry_journal_transition(j, &again, FERRY_STATE_BACKING_UP, FERRY_OK, "b", &e),
                     FERRY_OK);
    ck_assert_int_eq(ferry_journal_transition(j, &again, FERRY_STATE_INSTALLING_SERVER, FERRY_OK, "i", &e),
                     FERRY_OK);
    ck_assert_int_eq(ferry_journal_transition(j, &again, FERRY_STATE_STARTING_SERVICE, FERRY_OK, "st", &e),
                     FERRY_OK);
    ck_assert_int_eq(ferry_journal_transition(j, &again, FERRY_STATE_SUCCEEDED, FERRY_OK, "ok", &e),
                     FERRY_OK);
    ck_assert_int_eq(ferry_journal_new_attempt(j, &again, NULL, &kept, &e), FERRY_E_PRECONDITION);
    ck_assert_int_eq(ferry_journal_get(j, "42", &got, &found, &e), FERRY_OK);
    ck_assert_int_eq(got.state, FERRY_STATE_SUCCEEDED);
    ferry_journal_close(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_journal");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_transition_reload);
    tcase_add_test(tc, new_attempt_of_failed_task);
    tcase_add_test(tc, forbidden_transition_refused);
    tcase_add_test(tc, one_active_task);
    tcase_add_test(tc, history_and_find_backup);
    tcase_add_test(tc, lock_is_exclusive_across_processes);
    tcase_add_test(tc, transition_survives_kill);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
