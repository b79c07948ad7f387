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
#include "buf.h"
#include "claim.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "mail.h"
#include "notifyplan.h"
#include "privs.h"
#include "record.h"
#include "send.h"
#include "store.h"
#include "template.h"
#include "token.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid.h>

#define VERSION "0.1.0"

static volatile sig_atomic_t stopping;
static struct config cfg;
static struct template *t_subject, *t_text, *t_html, *t_dsubject, *t_dtext, *t_dhtml, *t_itext, *t_ihtml;
/* For a null-sender (<>) challenge: no link, an admin decides (lib/store.c). */
static struct template *t_bsubject, *t_btext, *t_bhtml, *t_bitext, *t_bihtml;

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

/* ---- templates ---- */

static const char *const single_names[] = { "sender", "child", "protected", "first_seen", "last_seen",
                                            "attempts", "client", "link", "guardian", "ttl_days", NULL };
static const char *const digest_names[] = { "count", "items", "guardian", "ttl_days", NULL };

static int load_templates(char *err, size_t errlen)
{
    static const struct { const char *file; const char *const *names; struct template **t; } list[] = {
        { "notify.subject", single_names, &t_subject }, { "notify.txt", single_names, &t_text },
        { "notify.html", single_names, &t_html }, { "digest.subject", digest_names, &t_dsubject },
        { "digest.txt", digest_names, &t_dtext }, { "digest.html", digest_names, &t_dhtml },
        { "digest-item.txt", single_names, &t_itext }, { "digest-item.html", single_names, &t_ihtml },
        { "notify-bounce.subject", single_names, &t_bsubject }, { "notify-bounce.txt", single_names, &t_btext },
        { "notify-bounce.html", single_names, &t_bhtml }, { "digest-item-bounce.txt", single_names, &t_bitext },
        { "digest-item-bounce.html", single_names, &t_bihtml },
    };
    char path[CONFIG_STR_MAX + 64];

    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", cfg.notifier.template_dir, list[i].file);
        if (!(*list[i].t = template_load(path, list[i].names, err, errlen)))
            return -1;
    }
    return 0;
}

static void free_templates(void)
{
    struct template **all[] = { &t_subject, &t_text, &t_html, &t_dsubject, &t_dtext, &t_dhtml, &t_itext, &t_ihtml,
                                &t_bsubject, &t_btext, &t_bhtml, &t_bitext, &t_bihtml };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        template_free(*all[i]);
        *all[i] = NULL;
    }
}

/* ---- composing ---- */

static void fill_values(struct tpl_value *v, const struct challenge *c, const char *guardian, const char *token,
                        char *link, size_t linklen, char *ttl, size_t ttllen)
{
    snprintf(link, linklen, "%s?t=%s", cfg.notifier.approve_url, token);
    snprintf(ttl, ttllen, "%d", cfg.approver.token_ttl_days);
    const char *vals[] = { c->sender, c->recipient, c->key, c->first_seen, c->last_seen, c->attempts,
                           c->client, link, guardian, ttl };
    for (int i = 0; i < 10; i++)
        v[i] = (struct tpl_value){ single_names[i], vals[i], 0 };
}

static void rfc5322_date(char *out, size_t outlen)
{
    time_t now = time(NULL);
    struct tm tm;
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    gmtime_r(&now, &tm);
    snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Builds M->text: headers and a multipart/alternative body.  Returns 0 or -1. */
static int compose(struct mail *m, char *err, size_t errlen)
{
    struct buf subject = { 0 }, text = { 0 }, html = { 0 };
    char date[64], uuid_text[37], boundary[64], link[CONFIG_STR_MAX + 64], ttl[16], count[16];
    uuid_t u;
    const char *at = strrchr(cfg.notifier.from, '@');
    int rc = -1;

    uuid_generate_random(u);
    uuid_unparse_lower(u, uuid_text);
    snprintf(m->message_id, sizeof(m->message_id), "<%s@%s>", uuid_text, at ? at + 1 : "guardlist.invalid");
    uuid_generate_random(u);
    uuid_unparse_lower(u, uuid_text);
    snprintf(boundary, sizeof(boundary), "=_guardlist_%s", uuid_text);
    rfc5322_date(date, sizeof(date));

    /* A fresh token for every link: only its hash is recorded, with the
     * notification, once the smarthost has accepted the message. */
    m->token = calloc(m->nitems, sizeof(*m->token));
    m->token_hash = calloc(m->nitems, sizeof(*m->token_hash));
    if (!m->token || !m->token_hash) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < m->nitems; i++) {
        unsigned char hash[SHA256_LEN];
        if (token_new(m->token[i], hash) < 0) {
            snprintf(err, errlen, "getrandom: %s", strerror(errno));
            return -1;
        }
        hex_encode(hash, SHA256_LEN, m->token_hash[i]);
    }

    if (!m->digest) {
        struct tpl_value v[10];
        int bounce = store_is_null_sender(m->items[0]->sender);
        fill_values(v, m->items[0], m->guardian, m->token[0], link, sizeof(link), ttl, sizeof(ttl));
        if (template_render(bounce ? t_bsubject : t_subject, TPL_HEADER, v, 10, &subject, err, errlen) < 0
            || template_render(bounce ? t_btext : t_text, TPL_TEXT, v, 10, &text, err, errlen) < 0
            || template_render(bounce ? t_bhtml : t_html, TPL_HTML, v, 10, &html, err, errlen) < 0)
            goto out;
    } else {
        struct buf itext = { 0 }, ihtml = { 0 };
        for (size_t i = 0; i < m->nitems; i++) {
            struct tpl_value v[10];
            fill_values(v, m->items[i], m->guardian, m->token[i], link, sizeof(link), ttl, sizeof(ttl));
            int bounce = store_is_null_sender(m->items[i]->sender);
            if (template_render(bounce ? t_bitext : t_itext, TPL_TEXT, v, 10, &itext, err, errlen) < 0
                || template_render(bounce ? t_bihtml : t_ihtml, TPL_HTML, v, 10, &ihtml, err, errlen) < 0) {
                buf_free(&itext);
                buf_free(&ihtml);
                goto out;
            }
        }
        snprintf(count, sizeof(count), "%zu", m->nitems);
        snprintf(ttl, sizeof(ttl), "%d", cfg.approver.token_ttl_days);
        struct tpl_value dt[4] = { { "count", count, 0 }, { "items", itext.p ? itext.p : "", 1 },
                                   { "guardian", m->guardian, 0 }, { "ttl_days", ttl, 0 } };
        struct tpl_value dh[4] = { { "count", count, 0 }, { "items", ihtml.p ? ihtml.p : "", 1 },
                                   { "guardian", m->guardian, 0 }, { "ttl_days", ttl, 0 } };
        int r = template_render(t_dsubject, TPL_HEADER, dt, 4, &subject, err, errlen) < 0
             || template_render(t_dtext, TPL_TEXT, dt, 4, &text, err, errlen) < 0
             || template_render(t_dhtml, TPL_HTML, dh, 4, &html, err, errlen) < 0;
        buf_free(&itext);
        buf_free(&ihtml);
        if (r)
            goto out;
    }
    struct buf *o = &m->text;
    buf_addf(o, "From: guardlist <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
                "Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n"
                "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
                "This is a message in MIME format.\r\n\r\n--%s\r\n"
                "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
             cfg.notifier.from, m->guardian, subject.p, date, m->message_id, boundary, boundary);
    qp_encode(o, text.p);
    buf_addf(o, "\r\n--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n", boundary);
    qp_encode(o, html.p);
    buf_addf(o, "\r\n--%s--\r\n", boundary);
    if (o->oom) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    buf_free(&subject);
    buf_free(&text);
    buf_free(&html);
    return rc;
}

/* ---- one cycle ---- */

/* One notifier at a time plans, sends and records for a guardian, so two
 * notifiers cannot both spend the same hourly cap.  Named locks belong to
 * the connection; all are released at the end of each cycle.  A notifier
 * waits up to 5 s for another one's cycle to finish (a cycle mails a batch
 * in well under that), then leaves the guardian's challenges for 5 s later:
 * without the wait, two `--once` runs could leave half a batch unsent.
 * Two notifiers waiting for each other's locks get MariaDB's deadlock error
 * at once instead (ER_USER_LOCK_DEADLOCK), which counts as busy. */
static const char sql_lock_guardian[] = "SELECT GET_LOCK(CONCAT('guardlist-notify:', MD5(?)), 5)";
static const char sql_unlock_all[] = "SELECT RELEASE_ALL_LOCKS()";
static const char sql_singles[] =
    "SELECT COUNT(*) FROM notifications WHERE guardian = ? AND kind = 'single' "
    "AND sent_at > CURRENT_TIMESTAMP - INTERVAL 1 HOUR";
static const char sql_digests[] =
    "SELECT COUNT(DISTINCT message_id) FROM notifications WHERE guardian = ? AND kind = 'digest' "
    "AND sent_at > CURRENT_TIMESTAMP - INTERVAL 1 HOUR";
static int cycle(struct db *db, int dry_run, long *sent_total)
{
    static struct challenge ch[CLAIM_MAX];
    char err[600];
    long long released;
    /* Locks a failed cycle may have left (see sql_lock_guardian). */
    if (!dry_run && db_connected(db))
        db_query_number(db, sql_unlock_all, NULL, 0, &released, err, sizeof(err));
    long n = claim_due(db, ch, dry_run, err, sizeof(err));

    *sent_total = 0;
    if (n < 0) {
        log_error("claiming challenges: %s", err);
        return -1;
    }
    if (n == 0)
        return 0;
    int claimed = (int)n;

    /* Guardians of each challenge, and who already had its email. */
    if (claim_guardians(db, ch, n, err, sizeof(err)) < 0) {
        log_error("reading guardians: %s", err);
        return -1;       /* claims expire and are taken again */
    }

    /* Plan per guardian, oldest challenge first. */
    size_t cap = (size_t)n * CLAIM_MAX_GUARDIANS, nm = 0;
    struct mail *mails = calloc(cap, sizeof(*mails));
    struct challenge **items = calloc(cap, sizeof(*items));    /* NOLINT(bugprone-sizeof-expression) */
    enum notifyplan_action *act = calloc(cap, sizeof(*act));
    char (*done_guardian)[ADDR_MAX + 2] = calloc(cap, sizeof(*done_guardian));
    size_t ndone = 0, used = 0;
    if (!mails || !items || !act || !done_guardian) {
        free(mails);
        free(items);
        free(act);
        free(done_guardian);
        log_error("out of memory");
        return -1;
    }
    for (long i = 0; i < n; i++) {
        for (int g = 0; g < ch[i].nguardians; g++) {
            if (ch[i].done[g])
                continue;
            const char *gname = ch[i].guardian[g];
            int seen = 0;
            for (size_t k = 0; k < ndone; k++)
                if (strcmp(done_guardian[k], gname) == 0)
                    seen = 1;
            if (seen)
                continue;
            snprintf(done_guardian[ndone++], sizeof(done_guardian[0]), "%s", gname);
            /* All of this guardian's waiting challenges in this cycle. */
            size_t first = used;
            for (long j = i; j < n; j++)
                for (int h = 0; h < ch[j].nguardians; h++)
                    if (!ch[j].done[h] && strcmp(ch[j].guardian[h], gname) == 0)
                        items[used++] = &ch[j];
            size_t count = used - first;
            long long singles = 0, digests = 0, locked = 0;
            const char *pg[1] = { gname };
            if (!dry_run && (db_query_number(db, sql_lock_guardian, pg, 1, &locked, err, sizeof(err)) < 0
                             || locked != 1)) {
                for (size_t k = first; k < used; k++)
                    items[k]->busy++;       /* another notifier is mailing this guardian */
                continue;
            }
            if (db_query_number(db, sql_singles, pg, 1, &singles, err, sizeof(err)) < 0
                || db_query_number(db, sql_digests, pg, 1, &digests, err, sizeof(err)) < 0) {
                log_error("counting emails to %s: %s", gname, err);
                singles = cfg.notifier.max_per_hour;
                digests = 1;        /* unknown: wait rather than flood */
            }
            notifyplan_actions(cfg.notifier.max_per_hour, (int)singles, (int)digests, count, act + first);
            struct mail *digest = NULL;
            for (size_t k = first; k < used; k++) {
                if (act[k] == NOTIFYPLAN_WAIT) {
                    items[k]->waiting++;
                } else if (act[k] == NOTIFYPLAN_SINGLE) {
                    struct mail *m = &mails[nm++];
                    snprintf(m->guardian, sizeof(m->guardian), "%s", gname);
                    m->items = &items[k];
                    m->nitems = 1;
                } else {
                    if (!digest) {
                        digest = &mails[nm++];
                        snprintf(digest->guardian, sizeof(digest->guardian), "%s", gname);
                        digest->digest = 1;
                        digest->items = &items[k];
                    }
                    digest->nitems++;       /* digest items are contiguous from here */
                }
            }
        }
    }
    /* Digest items must be contiguous: NOTIFYPLAN_DIGEST entries always follow the singles. */

    for (size_t k = 0; k < nm; k++) {
        if (compose(&mails[k], err, sizeof(err)) < 0) {
            log_error("composing the email to %s: %s", mails[k].guardian, err);
            for (size_t j = 0; j < mails[k].nitems; j++) {
                mails[k].items[j]->perm_fail++;
                snprintf(mails[k].items[j]->error, sizeof(mails[k].items[j]->error), "template: %.200s", err);
            }
            buf_free(&mails[k].text);
        }
    }

    if (dry_run) {
        for (size_t k = 0; k < nm; k++)
            if (mails[k].text.p)
                printf("==== %s to %s (%zu challenge(s)) ====\n%s\n", mails[k].digest ? "digest" : "email",
                       mails[k].guardian, mails[k].nitems, mails[k].text.p);
        *sent_total = (long)nm;
    } else {
        send_mails(mails, nm);
        *sent_total = record_mails(db, mails, nm, cfg.approver.token_ttl_days);
        record_states(db, ch, n);
    }
    if (!dry_run && db_query_number(db, sql_unlock_all, NULL, 0, &released, err, sizeof(err)) < 0)
        log_warning("releasing the guardian locks: %s (they go with the connection)", err);
    for (size_t k = 0; k < nm; k++)
        mail_free(&mails[k]);
    free(mails);
    free(items);
    free(act);
    free(done_guardian);
    return claimed;
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
    if (load_templates(err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-notify: error: %s\n", err);
        free_templates();
        return 2;
    }
    log_init("guardlist-notify", cfg.log.target, cfg.log.level);
    /* Everything that needs root is read: config, secrets, templates. */
    if (privs_is_root()) {
        if (privs_drop(&run_as, err, sizeof(err)) < 0) {
            log_fatal("%s", err);
            explicit_bzero(&dbp, sizeof(dbp));
            send_free();
            free_templates();
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
    free_templates();
    send_free();
    return rc;
}
