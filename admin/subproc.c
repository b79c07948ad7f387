/*
 * subproc - runs one of Postfix's programs (postconf, postmap, postalias)
 * and hands its output to the caller line by line.
 *
 * Callers: postfix-config, doctor.  No shell: the argument vector is passed
 * to exec as it is.  The output is outside input: every line is bounded (a
 * longer one is cut and flagged, never silently), and a child that runs past
 * its time is killed.  Standard error is read at the same time (a child that
 * fills one pipe while we wait on the other would hang both); its last line
 * says why a failing child failed.
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct linebuf {
    char *p;
    size_t len, max;
    int too_long;
};

/* Where Postfix's programs live when PATH does not say (cron, systemd). */
static const char sbin[] = "/usr/sbin/";

static void child_exec(const char *const *argv, int out, int err)
{
    int nul = open("/dev/null", O_RDONLY);

    if (nul >= 0)
        dup2(nul, 0);
    dup2(out, 1);
    dup2(err, 2);
    execvp(argv[0], (char *const *)argv);
    if (!strchr(argv[0], '/') && strlen(argv[0]) < 64) {
        char path[sizeof(sbin) + 64];
        snprintf(path, sizeof(path), "%s%s", sbin, argv[0]);
        execv(path, (char *const *)argv);
    }
    _exit(127);
}

static long long subproc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Feeds N bytes of output into LB; calls LINE for each line completed.
 * Returns 0, or non-zero when LINE asked to stop. */
static int feed(struct linebuf *lb, const char *data, size_t n, subproc_line_fn line, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            lb->p[lb->len] = '\0';
            int rc = line ? line(arg, lb->p, lb->len, lb->too_long) : 0;
            lb->len = 0;
            lb->too_long = 0;
            if (rc)
                return rc;
        } else if (lb->len < lb->max) {
            lb->p[lb->len++] = data[i];
        } else {
            lb->too_long = 1;
        }
    }
    return 0;
}

/* Keeps the last non-empty line of standard error in ERR. */
static int keep_err(void *arg, const char *s, size_t len, int too_long)
{
    char *const *e = arg;

    (void)too_long;
    if (len > 0)
        snprintf(e[0], (size_t)(e[1] - e[0]), "%s", s);
    return 0;
}

struct pump {
    struct linebuf out, err;
    char *errtext[2];          /* ERR and its end, for keep_err */
    int stopped;
};

/* Reads both pipes until both are closed, the deadline passes or LINE asks
 * to stop.  Returns 0, or -1 on timeout or a read error. */
static int pump_output(struct pump *pm, int fd_out, int fd_err, long long deadline,
                       subproc_line_fn line, void *arg)
{
    struct pollfd pfd[2] = { { fd_out, POLLIN, 0 }, { fd_err, POLLIN, 0 } };
    char chunk[4096];

    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        long long left = deadline - subproc_now_ms();
        if (left <= 0)
            return -1;
        int n = poll(pfd, 2, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR)
            return -1;
        for (int i = 0; n > 0 && i < 2; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            ssize_t r = read(pfd[i].fd, chunk, sizeof(chunk));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                /* The last line may lack its newline. */
                struct linebuf *lb = i == 0 ? &pm->out : &pm->err;
                if ((lb->len || lb->too_long)
                    && feed(lb, "\n", 1, i == 0 ? line : keep_err, i == 0 ? arg : pm->errtext))
                    pm->stopped = 1;
                pfd[i].fd = -1;
                if (pm->stopped)
                    return 0;
                continue;
            }
            if (i == 0 && feed(&pm->out, chunk, (size_t)r, line, arg)) {
                pm->stopped = 1;
                return 0;
            }
            if (i == 1)
                feed(&pm->err, chunk, (size_t)r, keep_err, pm->errtext);
        }
    }
    return 0;
}

int subproc_lines(const char *const *argv, int timeout_s, size_t maxline, subproc_line_fn line,
                  void *arg, char *err, size_t errlen)
{
    int po[2], pe[2], status = 0;
    struct pump pm = { .out = { .max = maxline }, .err = { .max = 400 } };

    err[0] = '\0';
    pm.out.p = malloc(maxline + 1);
    pm.err.p = malloc(pm.err.max + 1);
    pm.errtext[0] = err;
    pm.errtext[1] = err + errlen;
    if (!pm.out.p || !pm.err.p) {
        free(pm.out.p);
        free(pm.err.p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pipe2(po, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(pm.out.p);
        free(pm.err.p);
        return -1;
    }
    if (pipe2(pe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(po[0]);
        close(po[1]);
        free(pm.out.p);
        free(pm.err.p);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, po[1], pe[1]);
    close(po[1]);
    close(pe[1]);
    int rc = pid < 0 ? -1 : pump_output(&pm, po[0], pe[0], subproc_now_ms() + (long long)timeout_s * 1000, line, arg);
    close(po[0]);
    close(pe[0]);
    free(pm.out.p);
    free(pm.err.p);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (rc < 0 || pm.stopped)
        kill(pid, SIGKILL);         /* our own child, by its pid */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        snprintf(err, errlen, "%s did not finish within %d s", argv[0], timeout_s);
        return -1;
    }
    if (pm.stopped)
        return -1;                  /* the caller said why */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !err[0])
        snprintf(err, errlen, "cannot run %s (not installed?)", argv[0]);
    if (!WIFEXITED(status)) {
        snprintf(err, errlen, "%s was killed by signal %d", argv[0], WTERMSIG(status));
        return -1;
    }
    return WEXITSTATUS(status);
}
