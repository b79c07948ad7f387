/*
 * guardlistd - the guardlist Postfix policy server: main(), a list of named
 * start-up steps, and the shutdown.
 *
 * The control thread (control.c, main's own) accepts connections and gives
 * each to one of [policy] threads event-loop threads (loop.c), which answer
 * every RCPT request from the in-memory ruleset (answer.c), so a known pair
 * costs no database round trip.  Two helper threads talk to the database:
 * the refresher (refresh.c, new rulesets, published by the control thread)
 * and the challenge writer (challenge.c, unknown senders; it hands each
 * result back to the loop that asked); with [policy] spf = on, SPF workers
 * (spfpool.c) wait for DNS so the loops never do.  Nothing calls back into
 * this file.
 *
 * SECURITY: clients are untrusted: policy.c bounds every read, a malformed
 * request closes its connection, and nothing is ever allowed when the answer
 * is unknown (451 4.3.0 instead).  Started as root, it binds, reads its
 * config and secret, then becomes [policy] run_as_user before any thread or
 * database connection exists, and refuses to run as root without one.
 */
#include "answer.h"
#include "caps.h"
#include "challenge.h"
#include "config.h"
#include "conn.h"
#include "control.h"
#include "listener.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "privs.h"
#include "promhttp.h"
#include "refresh.h"
#include "settings.h"
#include "spfpool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define VERSION "0.1.0"
#define GO_ON (-1)                  /* a start-up step's "carry on"; else the exit status */

/* What main() carries from one start-up step to the next. */
struct start {
    const char *config_arg;
    int foreground, check_only;
    const struct config *cfg;
    struct config_db dbp;           /* with the password: wiped once the threads have it */
    struct privs run_as;
    int drop;                       /* started as root: become run_as */
    uid_t sock_owner;
    gid_t sock_group;
    int listen_fd;
    int metrics_fd;                 /* [policy] metrics_listen, bound before the drop; -1: off */
    struct promhttp *metrics;
    struct refresher *refresher;
    struct challenge_writer *writer;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: guardlistd [-f] [-c FILE]\n"
            "       guardlistd --check-config [-c FILE]\n"
            "\n"
            "The guardlist Postfix policy server: lets only approved senders reach\n"
            "protected recipients, and records a challenge for everyone else.\n"
            "\n"
            "  -c, --config FILE   configuration file (default: $GUARDLIST_CONFIG,\n"
            "                      else " CONFIG_DEFAULT_PATH ")\n"
            "  -f, --foreground    stay in the foreground (default: become a daemon,\n"
            "                      logging to syslog)\n"
            "  -n, --check-config  read the configuration, report errors, and exit\n"
            "  -h, --help          show this help\n"
            "  -V, --version       show the version\n"
            "\n"
            "Started as root it binds, reads its config and secret, then runs as\n"
            "[policy] run_as_user (required as root; never keeps root).\n"
            "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration\n"
            "(the file must then be readable by run_as_user).\n"
            "Postfix: smtpd_recipient_restrictions = ..., reject_unauth_destination,\n"
            "         check_policy_service inet:127.0.0.1:10040\n"
            "Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n");
}

static int parse_options(int argc, char **argv, struct start *s)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "c:fnhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': s->config_arg = optarg; break;
        case 'f': s->foreground = 1; break;
        case 'n': s->check_only = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("guardlistd %s\n", VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "guardlistd: error: unexpected argument '%s' (see guardlistd --help)\n", argv[optind]);
        return 2;
    }
    return GO_ON;
}

static int load_config(struct start *s)
{
    char err[600];

    s->cfg = settings_load(s->config_arg, &s->dbp, err, sizeof(err));
    if (!s->cfg) {
        fprintf(stderr, "guardlistd: error: %s\n", err);
        return 2;
    }
    return GO_ON;
}

/* Who to become and who may connect: decided before anything is opened.
 * --check-config ends here. */
static int choose_accounts(struct start *s)
{
    const struct config *cfg = s->cfg;
    int unix_listen = strncmp(cfg->policy.listen, "unix:", 5) == 0;
    char err[600];

    if (cfg->policy.listen_group[0] && !unix_listen) {
        fprintf(stderr, "guardlistd: error: %s: [policy] listen_group is for listen = unix:PATH only\n", cfg->path);
        return 2;
    }
    if (cfg->policy.listen_group[0] && privs_group(cfg->policy.listen_group, &s->sock_group, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s: [policy] listen_group: %s\n", cfg->path, err);
        return 2;
    }
    /* --check-config as root checks the user only if one is set. */
    if ((!s->check_only || cfg->policy.run_as_user[0])
        && privs_choose(cfg->path, "policy", "guardlistd", cfg->policy.run_as_user, cfg->policy.run_as_group,
                        &s->run_as, &s->drop, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s\n", err);
        return 2;
    }
    if (s->check_only) {
        printf("guardlistd: %s: configuration ok\n", cfg->path);
        return 0;
    }
    return GO_ON;
}

static int open_listener(struct start *s)
{
    const struct config *cfg = s->cfg;
    char err[600];

    /* The socket belongs to the user the daemon becomes; with listen_group
     * only that group may connect, else whoever can reach its directory
     * (Postfix's private/ is 0700 postfix, as for Postfix's own sockets). */
    if (s->drop) {
        s->sock_owner = s->run_as.uid;
        if (!cfg->policy.listen_group[0])
            s->sock_group = s->run_as.gid;
    }
    s->listen_fd = listener_open(cfg->policy.listen, s->sock_owner, s->sock_group,
                                 cfg->policy.listen_group[0] ? 0660 : 0666, err, sizeof(err));
    if (s->listen_fd < 0) {
        log_fatal("%s", err);
        fprintf(stderr, "guardlistd: error: %s\n", err);
        return 1;
    }
    /* /metrics: a socket of its own, never the policy port; bound now (a
     * port below 1024 needs root), served once the threads may start. */
    if (cfg->policy.metrics_listen[0]) {
        s->metrics_fd = promhttp_bind(cfg->policy.metrics_listen, err, sizeof(err));
        if (s->metrics_fd < 0) {
            log_fatal("metrics_listen: %s", err);
            fprintf(stderr, "guardlistd: error: %s: [policy] metrics_listen: %s\n", cfg->path, err);
            return 1;
        }
    }
    return GO_ON;
}

static void daemonize(void)
{
    pid_t pid = fork();

    if (pid < 0) {
        log_fatal("fork: %s", strerror(errno));
        exit(1);
    }
    if (pid > 0)
        _exit(0);
    setsid();
    pid = fork();
    if (pid < 0)
        exit(1);
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        exit(1);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        if (nul > 2)
            close(nul);
    }
}

/* Every Postfix smtpd process may hold a connection: make room for them. */
static void raise_fd_limit(int max_connections)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max_connections + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)max_connections + 64 ? rl.rlim_max : (rlim_t)max_connections + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Root is needed for nothing more: the socket is bound, the config and
 * the database password are read.  Threads start only after this. */
static int drop_privileges(const struct start *s)
{
    const struct privs *p = &s->run_as;
    const char *path = s->cfg->path;
    char err[600];

    if (!s->drop)
        return GO_ON;
    if (privs_drop(p, err, sizeof(err)) < 0) {
        log_fatal("%s", err);
        fprintf(stderr, "guardlistd: error: %s\n", err);
        return 1;
    }
    log_info("running as user %s (uid %ld), group %s (gid %ld)", p->user, (long)p->uid, p->group, (long)p->gid);
    if (access(path, R_OK) < 0)
        log_warning("%s is not readable by user %s (%s): SIGHUP cannot re-read it, a change needs "
                    "a restart (chgrp %s %s; chmod 640 %s)", path, p->user, strerror(errno), p->group, path, path);
    return GO_ON;
}

/* The control thread's set-up (signals blocked before any thread starts)
 * and the tables, then the two database threads. */
static int start_threads(struct start *s)
{
    const struct config *cfg = s->cfg;

    if (control_init(s->listen_fd) < 0 || conn_init(cfg) < 0) {
        log_fatal("cannot set up the event loop: %s", strerror(errno));
        return 1;
    }
    s->refresher = refresher_start(&s->dbp, cfg->policy.refresh_interval, cfg->policy.full_reload_interval);
    s->writer = challenge_writer_start(&s->dbp, loop_deliver);
    int tables_ok = s->refresher && s->writer && answer_init(settings_opts(), s->writer, s->refresher) == 0
                    && caps_init(cfg) == 0 && spfpool_start(cfg, loop_deliver_spf) == 0;
    explicit_bzero(&s->dbp, sizeof(s->dbp));
    if (!tables_ok) {
        log_fatal("cannot start worker threads or allocate their tables");
        return 1;
    }
    if (s->metrics_fd >= 0) {
        char err[300];
        int fd = s->metrics_fd;
        s->metrics_fd = -1;         /* promhttp's now, even when it fails */
        s->metrics = promhttp_start(fd, metrics_render, err, sizeof(err));
        if (!s->metrics) {
            log_fatal("%s", err);
            return 1;
        }
        log_info("metrics on http://%s/metrics", cfg->policy.metrics_listen + 5);
    }
    return GO_ON;
}

/* Gives the first load a moment, so the first requests (held in the
 * listen backlog meanwhile) are decided from rules, not answered 451. */
static void wait_for_rules(struct refresher *refresher)
{
    time_t give_up = time(NULL) + 5;

    while (!answer_has_rules() && time(NULL) < give_up) {
        control_wait_wake(200);
        struct ruleset *fresh = refresher_take(refresher);
        if (fresh)
            answer_publish(fresh);
    }
    if (!answer_has_rules())
        log_warning("no rules loaded yet: answering 451 until the database can be read");
}

/* The event-loop threads, once the first rules are in. */
static int start_loops(const struct start *s)
{
    int n = settings_threads(s->cfg);

    if (loop_start(n) < 0) {
        log_fatal("cannot start %d event-loop threads: %s", n, strerror(errno));
        return 1;
    }
    return GO_ON;
}

static void shut_down(const struct start *s)
{
    promhttp_stop(s->metrics);      /* no scrape reads what is freed below */
    listener_close(s->listen_fd);
    loop_stop();                    /* each loop closes its connections */
    spfpool_stop();                 /* nothing goes to the loops after this */
    answer_flush();                 /* the writes behind the last replies ... */
    refresher_stop(s->refresher);   /* (after the flush, which asks it whether the database answers) */
    challenge_writer_stop(s->writer);   /* ... written before it stops */
    loop_free();                    /* after the writer: its last results went to the loops */
    answer_free();
    caps_free();
    conn_free();
    control_free();
    log_info("stopped");
}

int main(int argc, char **argv)
{
    struct start s = { .sock_owner = (uid_t)-1, .sock_group = (gid_t)-1, .listen_fd = -1, .metrics_fd = -1 };
    int rc = parse_options(argc, argv, &s);

    metrics_init(VERSION);
    if (rc == GO_ON)
        rc = load_config(&s);
    if (rc == GO_ON)
        rc = choose_accounts(&s);
    if (rc == GO_ON) {
        log_init("guardlistd", s.foreground ? s.cfg->log.target : LOG_TO_SYSLOG, s.cfg->log.level);
        metrics_enable(s.cfg->policy.metrics_listen[0] != '\0');
        db_set_notice(log_notice_line);
        rc = open_listener(&s);
    }
    if (rc == GO_ON) {
        if (!s.foreground)
            daemonize();
        raise_fd_limit(s.cfg->policy.max_connections);
        rc = drop_privileges(&s);
    }
    if (rc == GO_ON)
        rc = start_threads(&s);
    if (rc == GO_ON) {
        wait_for_rules(s.refresher);
        rc = start_loops(&s);
        if (rc == GO_ON) {
            log_info("guardlistd %s listening on %s (unknown_sender=%s, on_allow=%s, threads=%d, spf=%s, "
                     "resolver=%s)", VERSION, s.cfg->policy.listen,
                     s.cfg->policy.unknown_sender == UNKNOWN_REJECT ? "reject" : "defer", s.cfg->policy.on_allow,
                     settings_threads(s.cfg), s.cfg->policy.spf ? "on" : "off",
                     s.cfg->policy.resolver[0] ? s.cfg->policy.resolver : "system");
            rc = control_run(s.refresher);
        }
        shut_down(&s);
    }
    explicit_bzero(&s.dbp, sizeof(s.dbp));
    return rc;
}
