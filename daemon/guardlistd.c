/*
 * guardlistd - the guardlist Postfix policy server: main(), the start-up and
 * the shutdown.
 *
 * One event-loop thread (loop.c) owns every client connection (conn.c) and
 * answers each RCPT request from the in-memory ruleset (answer.c), so a
 * known pair costs no database round trip.  Two helper threads talk to the
 * database: the refresher (refresh.c, new rulesets) and the challenge writer
 * (challenge.c, unknown senders); they wake the loop through loop_wake().
 * Nothing calls back into this file.
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
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "privs.h"
#include "refresh.h"
#include "settings.h"

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

static int listen_fd = -1;
static struct refresher *refresher;
static struct challenge_writer *writer;

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

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_arg = NULL;
    int foreground = 0, check_only = 0, drop = 0, opt, rc;
    char err[600];
    struct config_db dbp;
    const struct config *cfg;
    struct privs run_as = { 0 };
    uid_t sock_owner = (uid_t)-1;
    gid_t sock_group = (gid_t)-1;
    int unix_listen;

    while ((opt = getopt_long(argc, argv, "c:fnhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_arg = optarg; break;
        case 'f': foreground = 1; break;
        case 'n': check_only = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("guardlistd %s\n", VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "guardlistd: error: unexpected argument '%s' (see guardlistd --help)\n", argv[optind]);
        return 2;
    }
    cfg = settings_load(config_arg, &dbp, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "guardlistd: error: %s\n", err);
        return 2;
    }
    /* Who to become: decided before anything is opened. */
    unix_listen = strncmp(cfg->policy.listen, "unix:", 5) == 0;
    if (cfg->policy.listen_group[0] && !unix_listen) {
        fprintf(stderr, "guardlistd: error: %s: [policy] listen_group is for listen = unix:PATH only\n", cfg->path);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (cfg->policy.listen_group[0] && privs_group(cfg->policy.listen_group, &sock_group, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s: [policy] listen_group: %s\n", cfg->path, err);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (privs_is_root() && !cfg->policy.run_as_user[0] && !check_only) {
        fprintf(stderr, "guardlistd: error: started as root, and %s sets no [policy] run_as_user "
                "(set run_as_user = guardlist, an unprivileged user to run as after binding, "
                "or start guardlistd as that user)\n", cfg->path);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (cfg->policy.run_as_user[0]
        && privs_lookup(cfg->policy.run_as_user, cfg->policy.run_as_group, &run_as, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s: [policy] run_as_user/run_as_group: %s\n", cfg->path, err);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (check_only) {
        printf("guardlistd: %s: configuration ok\n", cfg->path);
        explicit_bzero(&dbp, sizeof(dbp));
        return 0;
    }
    drop = privs_is_root();
    log_init("guardlistd", foreground ? cfg->log.target : LOG_TO_SYSLOG, cfg->log.level);

    /* The socket belongs to the user the daemon becomes; with listen_group
     * only that group may connect, else whoever can reach its directory
     * (Postfix's private/ is 0700 postfix, as for Postfix's own sockets). */
    if (drop) {
        sock_owner = run_as.uid;
        if (!cfg->policy.listen_group[0])
            sock_group = run_as.gid;
    }
    listen_fd = listener_open(cfg->policy.listen, sock_owner, sock_group,
                              cfg->policy.listen_group[0] ? 0660 : 0666, err, sizeof(err));
    if (listen_fd < 0) {
        log_fatal("%s", err);
        fprintf(stderr, "guardlistd: error: %s\n", err);
        explicit_bzero(&dbp, sizeof(dbp));
        return 1;
    }
    if (!foreground)
        daemonize();

    /* Every Postfix smtpd process may hold a connection: make room for them. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg->policy.max_connections + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)cfg->policy.max_connections + 64
            ? rl.rlim_max : (rlim_t)cfg->policy.max_connections + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* Root is needed for nothing more: the socket is bound, the config and
     * the database password are read.  Threads start only after this. */
    if (drop) {
        if (privs_drop(&run_as, err, sizeof(err)) < 0) {
            log_fatal("%s", err);
            fprintf(stderr, "guardlistd: error: %s\n", err);
            explicit_bzero(&dbp, sizeof(dbp));
            return 1;
        }
        log_info("running as user %s (uid %ld), group %s (gid %ld)", run_as.user, (long)run_as.uid,
                 run_as.group, (long)run_as.gid);
        if (access(cfg->path, R_OK) < 0)
            log_warning("%s is not readable by user %s (%s): SIGHUP cannot re-read it, a change needs "
                        "a restart (chgrp %s %s; chmod 640 %s)", cfg->path, run_as.user, strerror(errno),
                        run_as.group, cfg->path, cfg->path);
    }

    if (loop_init(listen_fd) < 0 || conn_init(cfg) < 0) {
        log_fatal("cannot set up the event loop: %s", strerror(errno));
        return 1;
    }
    refresher = refresher_start(&dbp, cfg->policy.refresh_interval, cfg->policy.full_reload_interval);
    writer = challenge_writer_start(&dbp);
    int tables_ok = answer_init(settings_opts(), writer) == 0 && caps_init(cfg) == 0;
    explicit_bzero(&dbp, sizeof(dbp));
    if (!refresher || !writer || !tables_ok) {
        log_fatal("cannot start worker threads or allocate their tables");
        return 1;
    }
    /* Give the first load a moment, so the first requests (held in the
     * listen backlog meanwhile) are decided from rules, not answered 451. */
    {
        time_t give_up = time(NULL) + 5;

        while (!answer_has_rules() && time(NULL) < give_up) {
            loop_wait_wake(200);
            answer_use_rules(refresher_take(refresher));
        }
        if (!answer_has_rules())
            log_warning("no rules loaded yet: answering 451 until the database can be read");
    }
    log_info("guardlistd %s listening on %s (unknown_sender=%s, on_allow=%s)", VERSION,
             cfg->policy.listen, cfg->policy.unknown_sender == UNKNOWN_REJECT ? "reject" : "defer",
             cfg->policy.on_allow);

    rc = loop_run(refresher);

    listener_close(listen_fd);
    conn_close_all();
    refresher_stop(refresher);
    challenge_writer_stop(writer);
    answer_free();
    caps_free();
    loop_free();
    log_info("stopped");
    return rc;
}
