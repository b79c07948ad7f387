/*
 * queue - guardlist pending/approve/deny/expire, and check (the daemon's
 * decision for a pair right now, computed by the daemon's own decide()).
 */
#include "admin.h"
#include "account.h"
#include "decide.h"
#include "domainwide.h"
#include "json.h"
#include "outbound.h"
#include "rulesdb.h"
#include "spfword.h"
#include "stats.h"
#include "store.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An age as the pending list shows it (lib/stats.c's words for a duration). */
static void format_age(long long secs, char *out, size_t outlen)
{
    stats_duration(secs < 0 ? 0 : (double)secs, out, outlen);
}

/* 1 if row I of a pending listing (direction in column 11) is a child's
 * request to write to a new contact. */
static int pending_is_out(const struct rows *r, size_t i)
{
    const char *dir = rows_cell(r, i, 11);
    return dir && strcmp(dir, "out") == 0;
}

/* The direction and the request in words, for --json. */
static void pending_direction_json(const struct rows *r, size_t i)
{
    int out = pending_is_out(r, i);
    const char *s = rows_cell(r, i, 1), *t = rows_cell(r, i, 2);
    char words[2 * ADDR_MAX + 40];

    snprintf(words, sizeof(words), "%s %s %s", out ? t : s, out ? "wants to write to" : "wrote to", out ? s : t);
    printf(",\"direction\":\"%s\",\"request\":", out ? "out" : "in");
    json_string(stdout, words);
}

/* guardlist pending: challenges waiting for a guardian (--all: every one), as a table or JSON. */
int cmd_pending(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist pending [--all] [--json]\n"
        "Lists challenges waiting for a guardian (with --all: every challenge), with\n"
        "first and last attempt, attempts, age, the sender check (verified: the sender's\n"
        "domain allows the server it came from, by SPF; not verified; not checked) and\n"
        "the notification state.  DIR in: SENDER wrote to the protected RECIPIENT;\n"
        "out: the protected child RECIPIENT asked to write to SENDER, a new contact\n"
        "(approving it allows both ways).\n";
    static const struct option lo[] = { { "all", no_argument, NULL, 'a' }, { "json", no_argument, NULL, 'j' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    int all = 0, json = 0, opt;
    char err[600];

    while ((opt = getopt_long(argc, argv, "ajh", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (opt == 'a') {
            all = 1;
        } else if (opt == 'j') {
            json = 1;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist pending --help");
        }
    }
    if (optind != argc)
        return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    struct rows r = { 0 };
    static const char q_pending[] =
        "SELECT id, sender, recipient, first_seen, last_seen, attempts, status, "
        "TIMESTAMPDIFF(SECOND, first_seen, CURRENT_TIMESTAMP), notify_state, notify_error, spf_result, direction "
        "FROM challenges WHERE status = 'pending' ORDER BY id";
    static const char q_all[] =
        "SELECT id, sender, recipient, first_seen, last_seen, attempts, status, "
        "TIMESTAMPDIFF(SECOND, first_seen, CURRENT_TIMESTAMP), notify_state, notify_error, spf_result, direction "
        "FROM challenges ORDER BY id";
    if (db_query(db, all ? q_all : q_pending, NULL, 0, rows_collect, &r, err, sizeof(err)) < 0) {
        rows_free(&r);
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    }
    if (json) {
        printf("[");
        for (size_t i = 0; i < r.n; i++) {
            printf("%s{\"id\":%s,\"sender\":", i ? "," : "", rows_cell(&r, i, 0));
            json_string(stdout, rows_cell(&r, i, 1));
            printf(",\"recipient\":");
            json_string(stdout, rows_cell(&r, i, 2));
            printf(",\"first_seen\":");
            json_string(stdout, rows_cell(&r, i, 3));
            printf(",\"last_seen\":");
            json_string(stdout, rows_cell(&r, i, 4));
            printf(",\"attempts\":%s,\"status\":", rows_cell(&r, i, 5));
            json_string(stdout, rows_cell(&r, i, 6));
            printf(",\"age_seconds\":%s,\"notify_state\":", rows_cell(&r, i, 7) ? rows_cell(&r, i, 7) : "0");
            json_string(stdout, rows_cell(&r, i, 8));
            printf(",\"notify_error\":");
            json_string(stdout, rows_cell(&r, i, 9));
            /* The raw result for scripts, and the words the guardian read. */
            printf(",\"spf_result\":");
            json_string(stdout, rows_cell(&r, i, 10));
            printf(",\"sender_check\":");
            json_string(stdout, spfword_of(rows_cell(&r, i, 10)));
            pending_direction_json(&r, i);
            printf("}");
        }
        printf("]\n");
    } else if (r.n == 0) {
        printf(all ? "no challenges\n" : "no pending challenges\n");
    } else {
        int outs = 0;
        printf("%-6s %-3s %-32s %-28s %-19s %-19s %8s %-8s %7s %-12s %s\n", "ID", "DIR", "SENDER", "RECIPIENT",
               "FIRST SEEN", "LAST SEEN", "ATTEMPTS", "STATUS", "AGE", "SENDER CHECK", "NOTIFY");
        for (size_t i = 0; i < r.n; i++) {
            char age[32];
            format_age(rows_cell(&r, i, 7) ? atoll(rows_cell(&r, i, 7)) : 0, age, sizeof(age));
            int out = pending_is_out(&r, i);
            outs += out;
            printf("%-6s %-3s %-32s %-28s %-19s %-19s %8s %-8s %7s %-12s %s%s%s\n", rows_cell(&r, i, 0),
                   out ? "out" : "in", rows_cell(&r, i, 1), rows_cell(&r, i, 2), rows_cell(&r, i, 3), rows_cell(&r, i, 4),
                   rows_cell(&r, i, 5), rows_cell(&r, i, 6), age, out ? "-" : spfword_of(rows_cell(&r, i, 10)),
                   rows_cell(&r, i, 8), rows_cell(&r, i, 9) ? ": " : "",
                   rows_cell(&r, i, 9) ? rows_cell(&r, i, 9) : "");
        }
        if (outs)
            printf("DIR out: the protected RECIPIENT wants to write to SENDER, a new contact "
                   "(approving it allows both ways)\n");
    }
    rows_free(&r);
    return 0;
}

/* After approving challenge ID: if it was for the null sender, says plainly
 * what that means, on stderr (guardian links cannot decide those). */
static void warn_null_sender(struct db *db, unsigned long long id)
{
    struct rows r = { 0 };
    char err[600], idbuf[24];
    const char *p[1] = { idbuf };

    snprintf(idbuf, sizeof(idbuf), "%llu", id);
    if (db_query(db, "SELECT sender, protected_key FROM challenges WHERE id = ?", p, 1, rows_collect, &r,
                 err, sizeof(err)) == 1 && store_is_null_sender(rows_cell(&r, 0, 0)))
        fprintf(stderr, "guardlist: warning: challenge %s was for the null sender <>: every bounce message "
                "(delivery report) to %s is now let through, from anyone (undo: guardlist rule rm '<>' --to %s)\n",
                idbuf, rows_cell(&r, 0, 1), rows_cell(&r, 0, 1));
    rows_free(&r);
}

static int decide_cmd(struct cli *cli, int argc, char **argv, const char *usage, int deny)
{
    static const struct option lo[] = { { "domain", no_argument, NULL, 'd' }, { "force", no_argument, NULL, 'f' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    unsigned long long id;
    int domain = 0, force = 0, opt;
    char err[600], result[1500];

    while ((opt = getopt_long(argc, argv, deny ? "h" : "dfh", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (opt == 'd' && !deny) {
            domain = 1;
        } else if (opt == 'f' && !deny) {
            force = 1;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist %s --help", argv[0]);
        }
    }
    if (argc - optind != 1)
        return cli_fail(EXIT_USAGE, "%s takes one challenge id (see guardlist pending)", argv[0]);
    if (force && !domain)
        return cli_fail(EXIT_USAGE, "--force goes with --domain (it allows a public suffix or freemail domain)");
    if (cli_parse_id(argv[optind], &id) < 0)
        return cli_fail(EXIT_USAGE, "'%s' is not a challenge id (a positive number)", argv[optind]);
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    struct store_decider by = { STORE_BY_ADMIN, cli->actor, NULL };
    struct domainwide *dw = NULL;
    if (domain && !force && !(dw = domainwide_load(cli->cfg.policy.freemail_domains, err, sizeof(err))))
        return cli_fail(EXIT_USAGE, "%s", err);
    store_use_domainwide(dw);
    enum store_decision how = deny ? STORE_DENY : !domain ? STORE_APPROVE
                            : force ? STORE_APPROVE_DOMAIN_FORCED : STORE_APPROVE_DOMAIN;
    int rc = store_challenge_decide(db, &by, id, how, result, sizeof(result), err, sizeof(err));
    store_use_domainwide(NULL);
    domainwide_free(dw);
    if (rc == STORE_INVALID && domain && !force) {
        size_t n = strlen(err);
        snprintf(err + n, sizeof(err) - n, " (guardlist approve %llu --domain --force allows it anyway)", id);
    }
    if (rc == STORE_DONE)
        printf("%s\n", result);
    if (rc == STORE_DONE && !deny)
        warn_null_sender(db, id);
    return cli_store_exit(rc, err);
}

int cmd_approve(struct cli *cli, int argc, char **argv)
{
    return decide_cmd(cli, argc, argv, "Usage: guardlist approve ID [--domain [--force]]\n"
                      "Allows the challenge's sender (with --domain: everyone at its domain and its\n"
                      "subdomains) to write to the protected recipient; its next retry is delivered.\n"
                      "Every other pending challenge the rule now decides is closed with it.\n"
                      "--domain is refused for a public suffix (co.uk) or a freemail domain\n"
                      "([policy] freemail_domains); --force allows it anyway.\n"
                      "Approving a challenge for the null sender <> lets every bounce message\n"
                      "(delivery report) through to that recipient, from anyone.\n", 0);
}

int cmd_deny(struct cli *cli, int argc, char **argv)
{
    return decide_cmd(cli, argc, argv, "Usage: guardlist deny ID\n"
                      "Refuses the challenge's sender for that recipient from now on.\n", 1);
}

int cmd_expire(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist expire\n"
        "Pending challenges older than [approver] token_ttl_days become expired;\n"
        "closed challenges older than [admin] purge_after_days are deleted.\n";
    unsigned long long expired, purged;
    char err[600];

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc != 1)
        return cli_fail(EXIT_USAGE, "expire takes no arguments");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    int rc = store_expire(db, cli->actor, cli->cfg.approver.token_ttl_days, cli->cfg.admin.purge_after_days,
                          &expired, &purged, err, sizeof(err));
    if (rc == STORE_DONE || rc == STORE_NOTFOUND) {
        printf("expired %llu pending challenge(s), purged %llu closed one(s)\n", expired, purged);
        return 0;
    }
    return cli_store_exit(rc, err);
}

/* What Postfix shows the SMTP client for a policy reply (smtpd_check.c). */
static void smtp_view(const char *action, const char *rcpt, char *out, size_t outlen)
{
    const char *text = strchr(action, ' ');
    text = text ? text + 1 : "";
    size_t wlen = strcspn(action, " ");

    if (strncasecmp(action, "DUNNO", wlen) == 0 && wlen == 5)
        snprintf(out, outlen, "250 2.1.5 Ok (unless a later restriction refuses)");
    else if (strncasecmp(action, "OK", wlen) == 0 && wlen == 2)
        snprintf(out, outlen, "250 2.1.5 Ok");
    else if (wlen == 6 && strncasecmp(action, "REJECT", 6) == 0)
        snprintf(out, outlen, "554 5.7.1 <%s>: Recipient address rejected: %s", rcpt,
                 *text ? text : "Access denied");
    else if ((wlen == 15 && strncasecmp(action, "DEFER_IF_PERMIT", 15) == 0)
             || (wlen == 5 && strncasecmp(action, "DEFER", 5) == 0))
        snprintf(out, outlen, "450 4.7.1 <%s>: Recipient address rejected: %s", rcpt, text);
    else if (wlen == 3 && (action[0] == '4' || action[0] == '5')) {
        const char *rest = text;
        char code[16] = "";
        /* "451 4.3.0 text": Postfix keeps the code and enhanced status. */
        if (rest[0] >= '2' && rest[0] <= '5' && rest[1] == '.') {
            size_t clen = strcspn(rest, " ");
            snprintf(code, sizeof(code), " %.*s", (int)(clen < 12 ? clen : 12), rest);
            rest += clen;
            while (*rest == ' ')
                rest++;
        }
        snprintf(out, outlen, "%.3s%s <%s>: Recipient address rejected: %s", action, code, rcpt, rest);
    } else {
        snprintf(out, outlen, "depends on the action (%.*s)", (int)wlen, action);
    }
}

static const char *decision_kind_name(enum decision_kind k)
{
    static const char *const names[] = { "not-rcpt", "not-protected", "rule", "closed-challenge",
                                         "null-sender", "challenge", "bad-address", "no-rules" };
    return names[k];
}

/* What guardlistd decides for SENDER to RCPT from a client that logged in
 * as LOGIN (NULL: none), as answer.c does: a protected child's own mail
 * first (outbound.c); an approved contact goes on to the inbound decision.
 * Returns 1 when outbound control applied (direction 'out'). */
static int check_decide(const struct ruleset *rs, const struct decide_opts *o, const char *login,
                        const char *sender, const char *rcpt, const char *client, struct decision *d)
{
    int out = outbound_decide(rs, o, "RCPT", login, sender, rcpt, d);

    if (out && !d->allows)
        return 1;
    struct decision contact = *d;
    decide(rs, o, "RCPT", sender, rcpt, client, d);
    if (out && d->kind == DK_NOT_PROTECTED)
        *d = contact;
    return out;
}

/* What guardlist check shows beside the decision. */
struct check_view {
    const char *sender, *rcpt, *login;
    const char *child;          /* the protected child the login is; NULL: direction in */
    char smtp[900], rule[800];
};

static void check_print_json(const struct decision *d, const struct check_view *v)
{
    printf("{\"action\":");
    json_string(stdout, d->reply);
    printf(",\"kind\":");
    json_string(stdout, decision_kind_name(d->kind));
    printf(",\"protected_key\":");
    json_string(stdout, d->protected_key[0] ? d->protected_key : NULL);
    printf(",\"rule_scope\":");
    json_string(stdout, d->rule_scope[0] ? d->rule_scope : NULL);
    printf(",\"rule_recipient\":");
    json_string(stdout, d->rule_recipient[0] ? d->rule_recipient : NULL);
    printf(",\"rule_sender\":");
    json_string(stdout, d->rule_sender[0] ? d->rule_sender : NULL);
    printf(",\"rule\":");
    json_string(stdout, v->rule);
    printf(",\"smtp\":");
    json_string(stdout, v->smtp);
    printf(",\"detail\":");
    json_string(stdout, d->detail);
    printf(",\"sender\":");
    json_string(stdout, d->sender[0] ? d->sender : NULL);
    printf(",\"envelope\":");
    json_string(stdout, d->envelope ? decision_envelope_text(d) : NULL);
    printf(",\"direction\":\"%s\",\"login\":", v->child ? "out" : "in");
    json_string(stdout, v->login);
    printf(",\"child\":");
    json_string(stdout, v->child);
    printf(",\"challenge\":%s}\n", d->kind == DK_CHALLENGE ? "true" : "false");
}

static void check_print_text(const struct decision *d, const struct check_view *v)
{
    if (v->child)
        printf("direction:   out: login %s is the child %s, writing to %s\n", v->login, v->child, v->rcpt);
    else
        printf("direction:   in%s\n",
               v->login ? " (the login is no protected child, or [policy] outbound is off)" : "");
    printf("recipient:   %s\n", v->rcpt);
    printf("protected:   %s\n", d->protected_key[0] ? d->protected_key : "no");
    printf("sender:      %s\n", *v->sender ? v->sender : "<>");
    if (d->envelope)
        printf("judged as:   %s (%s)\n", d->sender, decision_envelope_text(d));
    if (d->kind == DK_RULE && strcmp(d->rule_scope, "recipient") == 0)
        printf("matched:     sender_rules row recipient='%s' sender='%s'\n", d->rule_recipient, d->rule_sender);
    else if (d->kind == DK_RULE)
        printf("matched:     whitelist row sender='%s'\n", d->rule_sender);
    else
        printf("matched:     no rule\n");
    printf("decision:    %s (%s)\n", decision_kind_name(d->kind), d->detail);
    if (d->kind == DK_CHALLENGE)
        printf("             the daemon would record a challenge for %s -> %s\n", d->challenge_sender,
               d->challenge_recipient);
    printf("policy reply: %s\n", d->reply);
    printf("client sees: %s\n", v->smtp);
}

/* guardlist check: what guardlistd would answer now, through the daemon's own decide(); writes nothing. */
int cmd_check(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist check SENDER RCPT [--client IP] [--login LOGIN] [--json]\n"
        "Shows what guardlistd would answer right now for SENDER writing to RCPT: the\n"
        "protecting key, the rule that matched, the policy reply and what the SMTP\n"
        "client sees.  Uses the daemon's own decision code; writes nothing.\n"
        "--client IP: the SMTP client's address, as Postfix sends it: an SRS sender is\n"
        "decoded only from a [policy] trusted_forwarders client (BATV tags always go).\n"
        "--login LOGIN: the client logged in to the submission service as LOGIN\n"
        "(Postfix's sasl_username): a protected child's own mail (direction out, with\n"
        "[policy] outbound = on) goes only to its approved contacts.\n";
    static const struct option lo[] = { { "json", no_argument, NULL, 'j' }, { "client", required_argument, NULL, 'c' },
                                        { "login", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
                                        { 0 } };
    int json = 0, opt;
    const char *client = NULL, *login = NULL;
    struct decision d;

    while ((opt = getopt_long(argc, argv, "jc:l:h", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (opt == 'j') {
            json = 1;
        } else if (opt == 'c') {
            client = optarg;
        } else if (opt == 'l') {
            login = optarg;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist check --help");
        }
    }
    if (argc - optind != 2)
        return cli_fail(EXIT_USAGE, "check takes SENDER and RCPT (use '' or '<>' for the null sender)");
    const char *sender = argv[optind], *rcpt = argv[optind + 1];
    for (const char *p = sender; *p; p++)
        if ((unsigned char)*p < 0x20)
            return cli_fail(EXIT_USAGE, "sender contains a control character");
    for (const char *p = login ? login : ""; *p; p++)
        if ((unsigned char)*p < 0x20)
            return cli_fail(EXIT_USAGE, "login contains a control character");
    int status;
    struct ruleset *rs = cli_rules(cli, &status);
    if (!rs)
        return status;
    struct decide_opts o = {
        .unknown_sender = cli->cfg.policy.unknown_sender,
        .on_allow = cli->cfg.policy.on_allow,
        .null_sender = cli->cfg.policy.null_sender,
        .delims = cli->cfg.policy.recipient_delimiter,
        .trusted_forwarders = &cli->cfg.policy.trusted_forwarders,
        .outbound = cli->cfg.policy.outbound,
    };
    int out = check_decide(rs, &o, login, sender, rcpt, client, &d);
    const char *child = out ? account_child(rs, login, o.delims) : NULL;
    struct check_view v = { .sender = sender, .rcpt = rcpt, .login = login,
                            .child = out && !child ? sender : child };     /* unmapped: the sender's child */
    smtp_view(d.reply, rcpt, v.smtp, sizeof(v.smtp));
    decision_rule_text(&d, v.rule, sizeof(v.rule));
    if (json)
        check_print_json(&d, &v);
    else
        check_print_text(&d, &v);
    ruleset_free(rs);
    return 0;
}
