/*
 * Service control with a real process (ferry-testd, path in $FERRY_TESTD): stop,
 * refuse-stop timeout, failing start, health checks; the process runner; systemd
 * command building against a fake systemctl.
 */
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/engine/svcctl.h"
#include "ferry/fs.h"

static const char *testd;

/* The error message must contain |want|; shows the message when it does not. */
#define EXPECT_MSG(want)                                                                                     \
    do {                                                                                                     \
        if (strstr(e.msg, (want)) == NULL)                                                                   \
            ck_abort_msg("wanted '%s' in '%s'", (want), e.msg);                                              \
    } while (0)
static char root[256], pidfile[512];
static char cmd_start[1024], cmd_stop[1024], cmd_status[1024];

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t l = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

static pid_t pid_from_file(void)
{
    FILE *f = fopen(pidfile, "r");
    long pid = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

/* Every test's directory lives under run_dir, so main() can kill leftover daemons
 * even when a failed test never reached its teardown. */
static char run_dir[128];

static void kill_leftovers(void)
{
    DIR *d = opendir(run_dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(pidfile, sizeof(pidfile), "%s/%s/svc.pid", run_dir, de->d_name);
        pid_t pid = pid_from_file();
        if (pid > 0)
            kill(pid, SIGKILL);
    }
    if (d != NULL)
        closedir(d);
    ferry_fs_rm_rf(run_dir, NULL);
}

static void setup(void)
{
    snprintf(root, sizeof(root), "%s/t-XXXXXX", run_dir);
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(pidfile, sizeof(pidfile), "%s/svc.pid", root);
    snprintf(cmd_stop, sizeof(cmd_stop), "%s --stop --pidfile %s", testd, pidfile);
    snprintf(cmd_status, sizeof(cmd_status), "%s --status --pidfile %s", testd, pidfile);
}

static void teardown(void)
{
    pid_t pid = pid_from_file();
    if (pid > 0)
        kill(pid, SIGKILL);
    ferry_fs_rm_rf(root, NULL);
}

/* A command-kind service whose start line gets |extra| flags. */
static ferry_svcctl_t *service(const char *extra)
{
    ferry_svcctl_t *s = NULL;
    ferry_err_t e = {0};
    snprintf(cmd_start, sizeof(cmd_start), "%s --daemon --pidfile %s --log %s/svc.log %s", testd, pidfile,
             root, extra);
    ck_assert_int_eq(ferry_svcctl_new_command("testd", cmd_stop, cmd_start, cmd_status, &s, &e), FERRY_OK);
    s->poll_ms = 50;
    return s;
}

START_TEST(start_stop_with_tcp_health)
{
    int port = free_port();
    char extra[64], target[64];
    snprintf(extra, sizeof(extra), "--port %d", port);
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    ferry_svcctl_t *s = service(extra);
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_svcctl_set_health(s, FERRY_HEALTH_TCP, target, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_status(s), FERRY_SVC_STOPPED);
    ck_assert_int_eq(ferry_svcctl_start(s, 10, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_status(s), FERRY_SVC_RUNNING);
    pid_t pid = pid_from_file();
    ck_assert_int_gt(pid, 0);
    /* Idempotent: starting a running service runs nothing and passes the health check. */
    ck_assert_int_eq(ferry_svcctl_start(s, 10, &e), FERRY_OK);
    ck_assert_int_eq(pid_from_file(), pid);
    ck_assert_int_eq(ferry_svcctl_stop(s, 10, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_status(s), FERRY_SVC_STOPPED);
    ck_assert(!ferry_fs_exists(pidfile));
    /* Stopping a stopped service succeeds without running the stop command (which would fail). */
    ck_assert_int_eq(ferry_svcctl_stop(s, 10, &e), FERRY_OK);
    ferry_svcctl_free(s);
    ferry_svcctl_free(NULL);
}
END_TEST

START_TEST(refuse_stop_times_out_within_bound)
{
    ferry_svcctl_t *s = service("--refuse-stop");
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_svcctl_start(s, 10, &e), FERRY_OK);
    int64_t t0 = ferry_now_ms();
    ck_assert_int_eq(ferry_svcctl_stop(s, 2, &e), FERRY_E_SERVICE_STOP_TIMEOUT);
    int64_t took = ferry_now_ms() - t0;
    ck_assert_int_ge(took, 1900);
    ck_assert_int_le(took, 4000);
    EXPECT_MSG("still running after 2 s");
    ck_assert_int_eq(ferry_svcctl_status(s), FERRY_SVC_RUNNING);
    ferry_svcctl_free(s);
}
END_TEST

START_TEST(stop_command_failure_is_stop_failed)
{
    ferry_svcctl_t *s = NULL;
    ferry_err_t e = {0};
    snprintf(cmd_start, sizeof(cmd_start), "%s --daemon --pidfile %s", testd, pidfile);
    ck_assert_int_eq(
        ferry_svcctl_new_command("testd", "echo 'access denied' >&2; exit 3", cmd_start, cmd_status, &s, &e),
        FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_start(s, 10, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_stop(s, 5, &e), FERRY_E_SERVICE_STOP_FAILED);
    EXPECT_MSG("exited with status 3");
    EXPECT_MSG("access denied");
    ferry_svcctl_free(s);
    /* A stop command that hangs is a timeout, and its process group is killed. */
    ck_assert_int_eq(ferry_svcctl_new_command("testd", "sleep 30", cmd_start, cmd_status, &s, &e), FERRY_OK);
    int64_t t0 = ferry_now_ms();
    ck_assert_int_eq(ferry_svcctl_stop(s, 1, &e), FERRY_E_SERVICE_STOP_TIMEOUT);
    ck_assert_int_le(ferry_now_ms() - t0, 3500);
    ferry_svcctl_free(s);
}
END_TEST

START_TEST(fail_start_is_start_failed)
{
    ferry_svcctl_t *s = service("--fail-start");
    ferry_err_t e = {0};
    int64_t t0 = ferry_now_ms();
    ck_assert_int_eq(ferry_svcctl_start(s, 10, &e), FERRY_E_SERVICE_START_FAILED);
    ck_assert_int_le(ferry_now_ms() - t0, 3000);
    EXPECT_MSG("refusing to start");
    ferry_svcctl_free(s);
    /* Start "succeeds" but the service never runs: failed at the deadline. */
    ck_assert_int_eq(ferry_svcctl_new_command("x", "true", "true", "false", &s, &e), FERRY_OK);
    s->poll_ms = 50;
    ck_assert_int_eq(ferry_svcctl_start(s, 1, &e), FERRY_E_SERVICE_START_FAILED);
    EXPECT_MSG("still stopped after 1 s");
    ferry_svcctl_free(s);
}
END_TEST

START_TEST(http_health_ok_slow_and_failing)
{
    int port = free_port();
    char extra[128], url[128];
    ferry_err_t e = {0};
    snprintf(extra, sizeof(extra), "--port %d --listen-delay-ms 700", port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
    ferry_svcctl_t *s = service(extra);
    ck_assert_int_eq(ferry_svcctl_set_health(s, FERRY_HEALTH_HTTP, url, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_start(s, 10, &e), FERRY_OK);
    ck_assert_int_eq(ferry_health_probe(FERRY_HEALTH_HTTP, url, ferry_now_ms() + 2000, &e), FERRY_OK);
    char other[160];
    snprintf(other, sizeof(other), "http://127.0.0.1:%d/other", port);
    ck_assert_int_eq(ferry_health_probe(FERRY_HEALTH_HTTP, other, ferry_now_ms() + 2000, &e),
                     FERRY_E_UNAVAILABLE);
    EXPECT_MSG("answered 404");
    ck_assert_int_eq(ferry_svcctl_stop(s, 10, &e), FERRY_OK);
    ferry_svcctl_free(s);

    port = free_port();
    snprintf(extra, sizeof(extra), "--port %d --http-status 503", port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
    s = service(extra);
    ck_assert_int_eq(ferry_svcctl_set_health(s, FERRY_HEALTH_HTTP, url, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_start(s, 4, &e), FERRY_E_SERVICE_START_FAILED);
    EXPECT_MSG("answered 503");
    ferry_svcctl_free(s);
}
END_TEST

START_TEST(tcp_health_failing)
{
    char target[64];
    ferry_err_t e = {0};
    snprintf(target, sizeof(target), "127.0.0.1:%d", free_port());
    ferry_svcctl_t *s = service(""); /* runs, but listens nowhere */
    ck_assert_int_eq(ferry_svcctl_set_health(s, FERRY_HEALTH_TCP, target, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_start(s, 3, &e), FERRY_E_SERVICE_START_FAILED);
    EXPECT_MSG("health check failed");
    EXPECT_MSG("Connection refused");
    ck_assert_int_eq(ferry_health_probe(FERRY_HEALTH_NONE, NULL, 0, &e), FERRY_OK);
    ck_assert_int_eq(ferry_health_probe(FERRY_HEALTH_TCP, "nohost", 0, &e), FERRY_E_INVALID_ARG);
    ferry_svcctl_free(s);
}
END_TEST

START_TEST(describe_shows_status_output)
{
    ferry_svcctl_t *s = service("");
    ferry_err_t e = {0};
    char *d = NULL;
    ck_assert_int_eq(ferry_svcctl_describe(s, &d, &e), FERRY_OK);
    ck_assert_ptr_nonnull(strstr(d, "control: command"));
    ck_assert_ptr_nonnull(strstr(d, "exit status 1 (stopped)"));
    free(d);
    ferry_svcctl_free(s);
}
END_TEST

START_TEST(proc_runner_timeout_and_cap)
{
    ferry_proc_result_t r;
    ferry_err_t e = {0};
    int64_t t0 = ferry_now_ms();
    /* The background sleep is in the same group: both die. */
    ck_assert_int_eq(ferry_proc_run_shell("sleep 30 & sleep 31", ferry_now_ms() + 300, 1024, &r, &e),
                     FERRY_OK);
    ck_assert(r.timed_out);
    ck_assert(!r.exited);
    ck_assert_int_le(ferry_now_ms() - t0, 2500);
    ferry_proc_result_clear(&r);
    ck_assert_int_eq(ferry_proc_run_shell("head -c 100000 /dev/zero | tr '\\0' x; echo; exit 4",
                                          ferry_now_ms() + 10000, 1000, &r, &e),
                     FERRY_OK);
    ck_assert(r.exited);
    ck_assert_int_eq(r.exit_code, 4);
    ck_assert_ptr_nonnull(strstr(r.output, "bytes truncated"));
    ck_assert_uint_lt(r.output_len, 1100);
    ferry_proc_result_clear(&r);
    char *argv[] = {"/nonexistent/prog", NULL};
    ck_assert_int_eq(ferry_proc_run(argv, ferry_now_ms() + 5000, 100, &r, &e), FERRY_OK);
    ck_assert_int_eq(r.exit_code, 127);
    ferry_proc_result_clear(&r);
    /* A daemon left holding our pipe does not keep us waiting. It is killed afterwards:
       a test stops what it starts. */
    char cmd[700], bgpid[600];
    snprintf(bgpid, sizeof(bgpid), "%s/bg.pid", root);
    snprintf(cmd, sizeof(cmd), "sleep 5 & echo $! > '%s'; echo early", bgpid);
    t0 = ferry_now_ms();
    ck_assert_int_eq(ferry_proc_run_shell(cmd, ferry_now_ms() + 10000, 100, &r, &e), FERRY_OK);
    ck_assert_int_le(ferry_now_ms() - t0, 2000);
    ck_assert_ptr_nonnull(strstr(r.output, "early"));
    ferry_proc_result_clear(&r);
    FILE *f = fopen(bgpid, "r");
    long bg = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld", &bg), 1);
    fclose(f);
    ck_assert_int_gt(bg, 1);
    kill((pid_t)bg, SIGKILL);
}
END_TEST

/* systemd kind against a fake systemctl that records its arguments. */
START_TEST(systemd_command_building)
{
    char fake[300], state[300], calls[300], script[4096];
    snprintf(fake, sizeof(fake), "%s/systemctl", root);
    snprintf(state, sizeof(state), "%s/state", root);
    snprintf(calls, sizeof(calls), "%s/calls", root);
    snprintf(script, sizeof(script),
             "#!/bin/sh\necho \"$*\" >> %s\n"
             "case \"$1\" in\n"
             "  stop) echo inactive > %s;;\n"
             "  start) echo active > %s;;\n"
             "  is-active) s=$(cat %s 2>/dev/null || echo inactive); echo $s; [ $s = active ];;\n"
             "  status) echo \"* $3 - fake\"; echo \"   Active: $(cat %s)\";;\n"
             "esac\n",
             calls, state, state, state, state);
    ck_assert_int_eq(ferry_fs_write_atomic(fake, script, strlen(script), 0755, NULL), FERRY_OK);
    ck_assert_int_eq(ferry_fs_write_atomic(state, "active\n", 7, 0644, NULL), FERRY_OK);
    ferry_svcctl_t *s = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_svcctl_new_systemd("rca7@a.service", fake, &s, &e), FERRY_OK);
    s->poll_ms = 20;
    ck_assert_int_eq(ferry_svcctl_stop(s, 5, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_status(s), FERRY_SVC_STOPPED);
    ck_assert_int_eq(ferry_svcctl_start(s, 5, &e), FERRY_OK);
    char *d = NULL;
    ck_assert_int_eq(ferry_svcctl_describe(s, &d, &e), FERRY_OK);
    ck_assert_ptr_nonnull(strstr(d, "Active: active"));
    free(d);
    char *log = NULL;
    ck_assert_int_eq(ferry_fs_read_file(calls, 65536, &log, NULL, NULL), FERRY_OK);
    ck_assert_ptr_nonnull(
        strstr(log, "is-active -- rca7@a.service\nstop -- rca7@a.service\nis-active -- rca7@a.service\n"));
    ck_assert_ptr_nonnull(strstr(log, "start -- rca7@a.service\n"));
    ck_assert_ptr_nonnull(strstr(log, "status --no-pager --full -n 50 -- rca7@a.service\n"));
    free(log);
    ferry_svcctl_free(s);
    ck_assert_int_eq(ferry_svcctl_new_systemd("-x", fake, &s, &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_svcctl_new_systemd("a b", fake, &s, &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_svcctl_new_systemd("a;rm", fake, &s, &e), FERRY_E_INVALID_ARG);
    /* A failing systemctl stop is STOP_FAILED with its output. */
    const char *deny = "#!/bin/sh\n[ \"$1\" = is-active ] && { echo active; exit 0; }\n"
                       "echo 'Access denied' >&2; exit 4\n";
    ck_assert_int_eq(ferry_fs_write_atomic(fake, deny, strlen(deny), 0755, NULL), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_new_systemd("rca7.service", fake, &s, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_stop(s, 5, &e), FERRY_E_SERVICE_STOP_FAILED);
    EXPECT_MSG("Access denied");
    ferry_svcctl_free(s);
}
END_TEST

START_TEST(real_systemd_when_available)
{
    char comm[64] = "";
    FILE *f = fopen("/proc/1/comm", "r");
    if (f != NULL) {
        if (fgets(comm, sizeof(comm), f) == NULL)
            comm[0] = '\0';
        fclose(f);
    }
    if (strncmp(comm, "systemd", 7) != 0) {
        fprintf(stderr, "note: PID 1 is '%.*s', not systemd: end-to-end systemd control not exercised here\n",
                (int)strcspn(comm, "\n"), comm);
        return;
    }
    ferry_svcctl_t *s = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_svcctl_new_systemd("ferry-nonexistent-unit.service", NULL, &s, &e), FERRY_OK);
    ck_assert_int_ne(ferry_svcctl_status(s), FERRY_SVC_RUNNING);
    ferry_svcctl_free(s);
}
END_TEST

int main(void)
{
    testd = getenv("FERRY_TESTD");
    if (testd == NULL || access(testd, X_OK) != 0) {
        printf("SKIPPED: FERRY_TESTD does not name the ferry-testd binary (run through ctest)\n");
        return 77;
    }
    snprintf(run_dir, sizeof(run_dir), "/tmp/ferry-svc-XXXXXX");
    if (mkdtemp(run_dir) == NULL)
        return EXIT_FAILURE;
    Suite *s = suite_create("svcctl");
    TCase *tc = tcase_create("command");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, start_stop_with_tcp_health);
    tcase_add_test(tc, refuse_stop_times_out_within_bound);
    tcase_add_test(tc, stop_command_failure_is_stop_failed);
    tcase_add_test(tc, fail_start_is_start_failed);
    tcase_add_test(tc, http_health_ok_slow_and_failing);
    tcase_add_test(tc, tcp_health_failing);
    tcase_add_test(tc, describe_shows_status_output);
    tcase_add_test(tc, proc_runner_timeout_and_cap);
    tcase_add_test(tc, systemd_command_building);
    tcase_add_test(tc, real_systemd_when_available);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kill_leftovers();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
