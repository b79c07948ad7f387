/*
 * guardlist-notify - emails guardians about new challenges, through a
 * smarthost, exactly once per (challenge, guardian): main(), a list of named
 * start-up steps, the polling loop, and cycle(), a list of named steps.
 *
 * Each cycle claims due challenges and reads their guardians (claim.c),
 * plans per guardian: hourly cap, one digest for the overflow (batch.c),
 * composes with a fresh token for every link (compose.c), sends through the
 * smarthost (send.c), and records each notification, with the SHA-256 of
 * its token, only after the smarthost accepted the message (record.c).
 * Failures are retried with backoff (4xx, no connection) or recorded (5xx).
 *
 * The one window for a duplicate: a crash between the smarthost's 250 and
 * the COMMIT that records it.  Nothing else sends twice or loses a message.
 *
 * SECURITY: started as root, it reads its config, secrets and templates, then
 * becomes [notifier] run_as_user before the first connection; it refuses to
 * run as root without one.
 */
#include "addr.h"
#include "batch.h"
#include "claim.h"
#include "compose.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "notifystats.h"
#include "privs.h"
#include "promhttp.h"
#include "record.h"
#include "send.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define VERSION "0.1.0"
#define GO_ON (-1)                  /* a start-up step's "carry on"; else the exit status */

/* What main() carries from one start-up step to the next. */
struct start {
    const char *config_arg;
    int once, dry_run;
    struct config_db dbp;           /* with the password: wiped once the database handle has it */
    struct privs run_as;
    int metrics_fd;                 /* [notifier] metrics_listen, bound before the drop; -1: off */
    struct promhttp *metrics;
};

static volatile sig_atomic_t stopping;
static struct config cfg;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: guardlist-notify [-c FILE] [--once] [--dry-run]\n"
            "\n"
            "Emails each new challenge's guardians a link to approve or block the sender,\n"
            "once per challenge, through the smarthost of [notifier].\n"
            "\n"
            "  -c, --config FILE   configuration (default $GUARDLIST_CONFIG, else " CONFIG_DEFAULT_PATH ")\n"
            "      --once          send what is due now and exit (for cron and tests)\n"
            "      --dry-run       print the emails that are due instead of sending them;\n"
            "                      changes nothing (the links in them do not work)\n"
            "  -h, --help          this help\n"
            "  -V, --version\n"
            "\n"
            "Without --once it polls every [notifier] poll_interval seconds until SIGTERM.\n"
            "Started as root it reads its files, then runs as [notifier] run_as_user\n"
            "(required as root; never keeps root).\n"
            "Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n");
}

/* ---- one cycle ---- */

/* --dry-run: the composed emails on stdout instead of the smarthost. */
static void print_mails(const struct mail *mails, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (mails[k].text.p)
            printf("==== %s to %s (%zu challenge(s)) ====\n%s\n", mails[k].digest ? "digest" : "email",
                   mails[k].guardian, mails[k].nitems, mails[k].text.p);
}

/* Mails what is due now.  Sets *SENT_TOTAL to the emails sent (in a dry
 * run, those planned); returns how many challenges it claimed, or -1. */
static int cycle(struct db *db, int dry_run, long *sent_total)
{
    static struct challenge ch[CLAIM_MAX];
    struct batch b;
    char err[600];

    *sent_total = 0;
    /* Locks a failed cycle may have left (see batch.c). */
    if (!dry_run && db_connected(db))
        batch_release_locks(db, err, sizeof(err));
    long n = claim_due(db, ch, dry_run, err, sizeof(err));
    if (n < 0) {
        log_error("claiming challenges: %s", err);
        return -1;
    }
    if (n == 0)
        return 0;
    if (claim_guardians(db, ch, n, err, sizeof(err)) < 0) {
        log_error("reading guardians: %s", err);
        return -1;       /* claims expire and are taken again */
    }
    if (batch_plan(db, ch, n, cfg.notifier.max_per_hour, cfg.notifier.digest_delay, dry_run, &b) < 0) {
        log_error("out of memory");
        return -1;
    }
    compose_mails(b.mails, b.nmails);
    if (dry_run) {
        print_mails(b.mails, b.nmails);
        *sent_total = (long)b.nmails;
    } else {
        send_mails(b.mails, b.nmails);
        notifystats_mails(b.mails, b.nmails);
        *sent_total = record_mails(db, b.mails, b.nmails, cfg.approver.token_ttl_days);
        record_states(db, ch, n);
        if (batch_release_locks(db, err, sizeof(err)) < 0)
            log_warning("releasing the guardian locks: %s (they go with the connection)", err);
    }
    batch_free(&b);
    return (int)n;
}

/* Cycles every [notifier] poll_interval seconds until SIGTERM or SIGINT;
 * --once and --dry-run stop when nothing more is due.  Returns the exit
 * status. */
static int run_cycles(struct start *s)
{
    struct db *db = db_new(&s->dbp);
    char err[800];
    int rc = 0;

    explicit_bzero(&s->dbp, sizeof(s->dbp));
    if (!s->once && !s->dry_run)
        log_info("guardlist-notify %s: smarthost %s:%d, every %d s", VERSION, cfg.notifier.smtp_host,
                 cfg.notifier.smtp_port, cfg.notifier.poll_interval);
    while (!stopping) {
        long sent = 0;
        db_prefer_first(db);    /* between cycles: back to the first database entry */
        if (db_connect(db, err, sizeof(err)) < 0) {
            log_error("%s", err);
            rc = 1;
        } else {
            int claimed = cycle(db, s->dry_run, &sent);
            rc = claimed < 0 ? 1 : 0;
            if (s->metrics)
                notifystats_cycle(db);
            /* --once sends everything due: go on while a claim came back full. */
            if (s->once && !s->dry_run && claimed == CLAIM_MAX)
                continue;
        }
        if (s->once || s->dry_run)
            break;
        if (sent > 0)
            continue;           /* more may be due right away */
        for (int i = 0; i < cfg.notifier.poll_interval * 10 && !stopping; i++)
            usleep(100000);
    }
    db_free(db);
    return rc;
}

/* ---- start-up steps ---- */

static int parse_options(int argc, char **argv, struct start *s)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' }, { "once", no_argument, NULL, 'o' },
        { "dry-run", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': s->config_arg = optarg; break;
        case 'o': s->once = 1; break;
        case 'n': s->dry_run = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("guardlist-notify %s\n", VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "guardlist-notify: error: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return GO_ON;
}

static int load_config(struct start *s)
{
    char err[800];

    config_defaults(&cfg);
    if (config_load(&cfg, config_path(s->config_arg), err, sizeof(err)) < 0
        || config_db_for(&cfg, &cfg.notifier.account, &s->dbp, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s\n", err);
        return 2;
    }
    return GO_ON;
}

/* Who to become once the files are read: required when started as root. */
static int choose_account(struct start *s)
{
    char err[800];

    int drop;

    if (privs_choose(cfg.path, "notifier", "guardlist-notify", cfg.notifier.run_as_user,
                     cfg.notifier.run_as_group, &s->run_as, &drop, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s\n", err);
        return 2;
    }
    return GO_ON;
}

/* The from address (normalised in place) and the approval URL. */
static int check_addresses(void)
{
    enum addr_key_kind kind = AK_ADDRESS;
    char from[ADDR_MAX + 2], err[800];

    if (addr_key_check(cfg.notifier.from, 0, from, sizeof(from), &kind, err, sizeof(err)) < 0 || kind != AK_ADDRESS) {
        fprintf(stderr, "guardlist-notify: error: [notifier] from = '%s' is not an address (%s)\n",
                cfg.notifier.from, kind != AK_ADDRESS ? "need user@domain" : err);
        return 2;
    }
    snprintf(cfg.notifier.from, sizeof(cfg.notifier.from), "%s", from);
    if (strncmp(cfg.notifier.approve_url, "https://", 8) != 0 && strncmp(cfg.notifier.approve_url, "http://", 7) != 0) {
        fprintf(stderr, "guardlist-notify: error: [notifier] approve_url must start with https:// (or http://)\n");
        return 2;
    }
    return GO_ON;
}

/* What may need root to read: the SMTP password and the templates. */
static int read_files(void)
{
    char err[800];

    if (send_init(&cfg, err, sizeof(err)) < 0 || compose_init(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s\n", err);
        return 2;
    }
    return GO_ON;
}

/* /metrics: its socket is bound as root (a port below 1024 may need it);
 * not for --once or --dry-run, which end at once. */
static int bind_metrics(struct start *s)
{
    char err[400];

    s->metrics_fd = -1;
    if (!cfg.notifier.metrics_listen[0] || s->once || s->dry_run)
        return GO_ON;
    s->metrics_fd = promhttp_bind(cfg.notifier.metrics_listen, err, sizeof(err));
    if (s->metrics_fd < 0) {
        fprintf(stderr, "guardlist-notify: error: %s: [notifier] metrics_listen: %s\n", cfg.path, err);
        return 1;
    }
    return GO_ON;
}

/* After the drop: the listener's thread answers from the counters. */
static int serve_metrics(struct start *s)
{
    char err[400];

    if (s->metrics_fd < 0)
        return GO_ON;
    s->metrics = promhttp_start(s->metrics_fd, notifystats_render, err, sizeof(err));
    s->metrics_fd = -1;
    if (!s->metrics) {
        log_fatal("%s", err);
        return 1;
    }
    log_info("metrics on http://%s/metrics", cfg.notifier.metrics_listen + 5);
    return GO_ON;
}

/* Everything that needs root is read: config, secrets, templates. */
static int drop_privileges(const struct start *s)
{
    const struct privs *p = &s->run_as;
    char err[800];

    if (!privs_is_root())
        return GO_ON;
    if (privs_drop(p, err, sizeof(err)) < 0) {
        log_fatal("%s", err);
        return 1;
    }
    if (!s->once && !s->dry_run)
        log_info("running as user %s (uid %ld), group %s (gid %ld)", p->user, (long)p->uid, p->group, (long)p->gid);
    return GO_ON;
}

static void catch_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };

    signal(SIGPIPE, SIG_IGN);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int main(int argc, char **argv)
{
    struct start s = { 0 };
    int rc = parse_options(argc, argv, &s);

    if (rc == GO_ON)
        rc = load_config(&s);
    if (rc == GO_ON)
        rc = choose_account(&s);
    if (rc == GO_ON)
        rc = check_addresses();
    if (rc == GO_ON)
        rc = read_files();
    if (rc == GO_ON)
        rc = bind_metrics(&s);
    if (rc == GO_ON) {
        log_init("guardlist-notify", cfg.log.target, cfg.log.level);
        db_set_notice(log_notice_line);
        rc = drop_privileges(&s);
    }
    if (rc == GO_ON)
        rc = serve_metrics(&s);
    if (rc == GO_ON) {
        send_start();
        catch_signals();
        rc = run_cycles(&s);
    }
    promhttp_stop(s.metrics);
    compose_free();
    send_free();
    explicit_bzero(&s.dbp, sizeof(s.dbp));
    return rc;
}
