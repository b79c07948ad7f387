/*
 * guardlist-notify - emails guardians about new challenges, through a
 * smarthost, exactly once per (challenge, guardian).
 *
 * Each cycle claims due challenges (FOR UPDATE SKIP LOCKED, with a lease so
 * a crashed notifier's claim is taken up again), plans per guardian (hourly
 * cap, one digest for the overflow), gives every link a fresh token, sends
 * in one SMTP session (libesmtp), and records each notification, with the
 * SHA-256 of its token, only after the smarthost accepted the message.  Failures are
 * retried with backoff (4xx, no connection) or recorded (5xx).
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
#include "privs.h"
#include "record.h"
#include "send.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define VERSION "0.1.0"

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
    if (batch_plan(db, ch, n, cfg.notifier.max_per_hour, dry_run, &b) < 0) {
        log_error("out of memory");
        return -1;
    }
    compose_mails(b.mails, b.nmails);
    if (dry_run) {
        print_mails(b.mails, b.nmails);
        *sent_total = (long)b.nmails;
    } else {
        send_mails(b.mails, b.nmails);
        *sent_total = record_mails(db, b.mails, b.nmails, cfg.approver.token_ttl_days);
        record_states(db, ch, n);
        if (batch_release_locks(db, err, sizeof(err)) < 0)
            log_warning("releasing the guardian locks: %s (they go with the connection)", err);
    }
    batch_free(&b);
    return (int)n;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' }, { "once", no_argument, NULL, 'o' },
        { "dry-run", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
    };
    const char *config_arg = NULL;
    int once = 0, dry_run = 0, opt;
    char err[800];
    struct config_db dbp;
    struct privs run_as = { 0 };

    while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_arg = optarg; break;
        case 'o': once = 1; break;
        case 'n': dry_run = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("guardlist-notify %s\n", VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "guardlist-notify: error: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    config_defaults(&cfg);
    if (config_load(&cfg, config_path(config_arg), err, sizeof(err)) < 0
        || config_db_for(&cfg, &cfg.notifier.account, &dbp, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s\n", err);
        return 2;
    }
    if (privs_is_root() && !cfg.notifier.run_as_user[0]) {
        fprintf(stderr, "guardlist-notify: error: started as root, and %s sets no [notifier] run_as_user "
                "(set run_as_user = guardlist, an unprivileged user to run as, or start "
                "guardlist-notify as that user)\n", cfg.path);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (cfg.notifier.run_as_user[0]
        && privs_lookup(cfg.notifier.run_as_user, cfg.notifier.run_as_group, &run_as, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s: [notifier] run_as_user/run_as_group: %s\n", cfg.path, err);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    enum addr_key_kind kind = AK_ADDRESS;
    char from[ADDR_MAX + 2];
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
    if (send_init(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s\n", err);
        return 2;
    }
    if (compose_init(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s\n", err);
        compose_free();
        return 2;
    }
    log_init("guardlist-notify", cfg.log.target, cfg.log.level);
    /* Everything that needs root is read: config, secrets, templates. */
    if (privs_is_root()) {
        if (privs_drop(&run_as, err, sizeof(err)) < 0) {
            log_fatal("%s", err);
            explicit_bzero(&dbp, sizeof(dbp));
            send_free();
            compose_free();
            return 1;
        }
        if (!once && !dry_run)
            log_info("running as user %s (uid %ld), group %s (gid %ld)", run_as.user, (long)run_as.uid,
                     run_as.group, (long)run_as.gid);
    }
    send_start();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct db *db = db_new(&dbp);
    explicit_bzero(&dbp, sizeof(dbp));
    int rc = 0;
    if (!once && !dry_run)
        log_info("guardlist-notify %s: smarthost %s:%d, every %d s", VERSION, cfg.notifier.smtp_host,
                 cfg.notifier.smtp_port, cfg.notifier.poll_interval);
    while (!stopping) {
        long sent = 0;
        if (db_connect(db, err, sizeof(err)) < 0) {
            log_error("%s", err);
            rc = 1;
        } else {
            int claimed = cycle(db, dry_run, &sent);
            rc = claimed < 0 ? 1 : 0;
            /* --once sends everything due: go on while a claim came back full. */
            if (once && !dry_run && claimed == CLAIM_MAX)
                continue;
        }
        if (once || dry_run)
            break;
        if (sent > 0)
            continue;           /* more may be due right away */
        for (int i = 0; i < cfg.notifier.poll_interval * 10 && !stopping; i++)
            usleep(100000);
    }
    db_free(db);
    compose_free();
    send_free();
    return rc;
}
