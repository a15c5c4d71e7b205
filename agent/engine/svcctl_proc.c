/*
 * A small process runner for service control: fork/exec in a new process group,
 * output captured up to a cap, the whole group killed when the deadline passes.
 *
 * A start command commonly leaves a daemon behind ("ferry-testd ... &"). That daemon
 * may inherit our output pipe, so "wait for EOF" would wait for the daemon's whole
 * life: we read only until the process we started has exited, then drain what is
 * already buffered and stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/engine/svcctl.h"

#define KILL_GRACE_MS 1000

int64_t ferry_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ferry_proc_result_clear(ferry_proc_result_t *res)
{
    free(res->output);
    memset(res, 0, sizeof(*res));
}

/* Reads what is available without blocking; returns 0 at EOF, 1 if more may come. */
static int drain(int fd, ferry_proc_result_t *res, size_t cap, size_t *dropped)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno == EAGAIN ? 1 : 0;
        if (r == 0)
            return 0;
        size_t keep = cap > res->output_len ? cap - res->output_len : 0;
        if (keep > (size_t)r)
            keep = (size_t)r;
        memcpy(res->output + res->output_len, buf, keep);
        res->output_len += keep;
        res->output[res->output_len] = '\0';
        *dropped += (size_t)r - keep;
    }
}

/* Child side: only async-signal-safe calls between fork and exec. */
static void child(char *const argv[], int out_fd)
{
    /* Signals arrive blocked (see ferry_proc_run): drop every inherited handler first,
     * or a SIGTERM sent to the group on timeout could run the parent's handler here. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, 0);
        if (devnull > 2)
            close(devnull);
    }
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    if (out_fd > 2)
        close(out_fd);
    execvp(argv[0], argv);
    _exit(127);
}

ferry_err_code_t ferry_proc_run(char *const argv[], int64_t deadline_ms, size_t out_cap,
                                ferry_proc_result_t *res, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int pfd[2] = {-1, -1};
    size_t dropped = 0;
    memset(res, 0, sizeof(*res));
    res->output = malloc(out_cap + 64);
    if (res->output == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    res->output[0] = '\0';
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "pipe for '%s'", argv[0]);
        goto out;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child(argv, pfd[1]);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, fork_errno, "fork for '%s'", argv[0]);
        goto out;
    }
    setpgid(pid, pid); /* also in the child: whichever runs first wins the race */
    close(pfd[1]);
    pfd[1] = -1;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    bool pipe_open = true;
    int64_t term_at = -1;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "waitpid for '%s'", argv[0]);
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            goto out;
        }
        int64_t now = ferry_now_ms();
        if (term_at < 0 && now >= deadline_ms) {
            res->timed_out = 1;
            kill(-pid, SIGTERM);
            term_at = now;
        } else if (term_at >= 0 && now >= term_at + KILL_GRACE_MS) {
            kill(-pid, SIGKILL);
        }
        if (pipe_open) {
            struct pollfd p = {.fd = pfd[0], .events = POLLIN};
            if (poll(&p, 1, 20) > 0)
                pipe_open = drain(pfd[0], res, out_cap, &dropped) != 0;
        } else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (pipe_open)
        drain(pfd[0], res, out_cap, &dropped);
    if (WIFEXITED(status)) {
        res->exited = 1;
        res->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->signaled = WTERMSIG(status);
    }
    if (dropped > 0)
        snprintf(res->output + res->output_len, 64, "\n[%zu bytes truncated]\n", dropped);
    res->output_len = strlen(res->output);
out:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (rc != FERRY_OK)
        ferry_proc_result_clear(res);
    return rc;
}

ferry_err_code_t ferry_proc_run_shell(const char *line, int64_t deadline_ms, size_t out_cap,
                                      ferry_proc_result_t *res, ferry_err_t *err)
{
    char *argv[] = {"/bin/sh", "-c", (char *)line, NULL};
    return ferry_proc_run(argv, deadline_ms, out_cap, res, err);
}
