/*
 * decide - the decision table of DESIGN.md for one RCPT request.
 *
 * Callers: guardlistd (every request) and the admin CLI's `check`, so both
 * always agree.  Works only on an in-memory ruleset: no I/O, no allocation.
 * Never fails open: anything it cannot understand for a protected recipient
 * is refused, and no rules at all is a temporary failure.
 */
#include "decide.h"
#include "action.h"
#include "envelope.h"
#include "strcopy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void set_reply(struct decision *d, const char *reply)
{
    str_copy(d->reply, sizeof(d->reply), reply);
}

/* 1 if the action TEXT (checked, of KIND) refuses or defers the mail:
 * REJECT and 5NN, 4NN, DEFER and DEFER_IF_*.  Every other action (OK, a
 * number, DUNNO, WARN, INFO, PREPEND, BCC, FILTER, HOLD, DISCARD, REDIRECT)
 * gives the sender the rule's effect, so guardlistd verifies the sender
 * first: a forger must get no rule's effect, not even a HOLD or a header. */
static int action_refuses(const char *text, enum action_kind kind)
{
    return kind == ACTION_BLOCK || text[0] == '4' || strncasecmp(text, "DEFER", 5) == 0;
}

/* Reply for a matched rule action. */
static void rule_reply(struct decision *d, const struct decide_opts *opts, const char *action)
{
    char text[ACTION_MAX + 1], err[160];
    enum action_kind kind;

    if (action_check(action, text, sizeof(text), &kind, err, sizeof(err)) < 0) {
        /* The loader skips invalid actions; if one gets here, refuse. */
        set_reply(d, REPLY_ACCESS_DENIED);
        snprintf(d->detail, sizeof(d->detail), "invalid action in rule: %s", err);
        return;
    }
    d->allows = !action_refuses(text, kind);
    if (kind == ACTION_ALLOW) {
        set_reply(d, opts->on_allow);
        str_copy(d->detail, sizeof(d->detail), "sender allowed");
    } else if (strcasecmp(text, "REJECT") == 0) {
        set_reply(d, REPLY_ACCESS_DENIED);
        str_copy(d->detail, sizeof(d->detail), "sender blocked");
    } else {
        set_reply(d, text);
        str_copy(d->detail, sizeof(d->detail), kind == ACTION_BLOCK ? "sender blocked" : "rule action");
    }
}

/* The status of a closed (denied or expired) challenge of SENDER (or of
 * its address without the extension, BASE) to RECIPIENT, or NULL. */
static const char *closed_status(const struct ruleset *rs, const char *sender, const char *base,
                                 const char *recipient)
{
    const char *v = ruleset_get(rs, RS_CLOSED, sender, recipient);

    return v ? v : ruleset_get(rs, RS_CLOSED, base, recipient);
}

/* 1 if KEY, one of SA's lookup keys (SK), is a parent domain of SA's
 * domain: "example.com" for x@mail.example.com. */
static int parent_domain_key(const struct addr *sa, const struct addr_keys *sk, const char *key)
{
    const char *exact = sk->full + strlen(sa->local) + 1;

    return sa->domain[0] && sa->domain[0] != '[' && !strchr(key, '@') && strcmp(key, "<>") != 0
           && strcmp(key, exact) != 0;
}

static void refuse_recipient(struct decision *d, const char *reply, const char *why)
{
    d->kind = DK_BAD_ADDRESS;
    set_reply(d, reply);
    str_copy(d->detail, sizeof(d->detail), why);
}

/* The keys of a contact a child writes to (opts->recipient_contact): the
 * full address and its domains.  A user@ key says who a sender is, not
 * where a mailbox is (a global "noreply@" is not noreply@ at every domain);
 * the local recipient_delimiter cut names another mailbox on a remote
 * host (anna-x@ is not anna@). */
static void contact_keys(struct addr_keys *k)
{
    size_t n = 1;       /* key[0]: the full address */

    for (size_t i = 1; i < k->n; i++)
        if (!strchr(k->key[i], '@'))
            k->key[n++] = k->key[i];
    k->n = n;
}

static void decide_core(const struct ruleset *rs, const struct decide_opts *opts,
                        const char *protocol_state, const char *sender, const char *recipient,
                        const char *client_address, struct decision *d)
{
    struct addr ra, sa;
    struct addr_keys rk, sk;
    char err[128];
    const char *v;

    d->kind = DK_NOT_RCPT;
    d->allows = d->parent_domain = 0;
    d->exact_domain = opts->exact_domain;
    d->protected_key[0] = d->rule_scope[0] = d->rule_recipient[0] = d->rule_sender[0] = '\0';
    d->challenge_sender[0] = d->challenge_recipient[0] = d->detail[0] = d->sender[0] = '\0';
    d->challenge_base[0] = '\0';
    d->envelope = 0;
    d->outbound = d->login_unmapped = 0;

    if (!protocol_state || strcmp(protocol_state, "RCPT") != 0) {
        set_reply(d, "DUNNO");
        str_copy(d->detail, sizeof(d->detail), "not a RCPT request");
        return;
    }
    if (!rs) {
        d->kind = DK_NO_RULES;
        set_reply(d, REPLY_TEMPFAIL);
        str_copy(d->detail, sizeof(d->detail), "rules not loaded yet (database unreachable or failing)");
        return;
    }
    if (addr_parse(recipient, opts->delims, &ra, err, sizeof(err)) < 0 || ra.is_null) {
        d->kind = DK_BAD_ADDRESS;
        set_reply(d, REPLY_ACCESS_DENIED);
        snprintf(d->detail, sizeof(d->detail), "unusable recipient: %s",
                 ra.is_null ? "empty" : err);
        return;
    }
    /* Postfix hands the policy service the address as the client sent it and
     * rewrites it later: "kid" gets @myorigin; "kid%family.test@host",
     * "family.test!kid@host" and "kid@family.test@host" (quoted or not) lose
     * a local domain and are resolved again as kid@family.test; an address
     * literal names this host whatever mydestination says.  guardlist cannot
     * know what they will become, so it refuses them, protected or not,
     * rather than guess: no real sender needs these forms. */
    if (!ra.domain[0]) {
        refuse_recipient(d, REPLY_ACCESS_DENIED, "recipient without a domain");
        return;
    }
    if (strpbrk(ra.local, "%!@") || ra.domain[0] == '[') {
        refuse_recipient(d, REPLY_ROUTED,
                         ra.domain[0] == '[' ? "recipient with an address literal"
                         : strchr(ra.local, '@') ? "recipient with '@' in its local part (a route)"
                         : "recipient with a %-hack or !-path local part");
        return;
    }
    addr_keys(&ra, &rk);
    for (size_t i = 0; i < rk.n; i++) {
        if (ruleset_get(rs, RS_PROTECTED, rk.key[i], NULL)) {
            str_copy(d->protected_key, sizeof(d->protected_key), rk.key[i]);
            break;
        }
    }
    if (!d->protected_key[0]) {
        d->kind = DK_NOT_PROTECTED;
        set_reply(d, "DUNNO");
        str_copy(d->detail, sizeof(d->detail), "recipient not protected");
        return;
    }
    if (addr_parse(sender, opts->delims, &sa, err, sizeof(err)) < 0) {
        d->kind = DK_BAD_ADDRESS;
        set_reply(d, REPLY_ACCESS_DENIED);
        snprintf(d->detail, sizeof(d->detail), "unusable sender: %s", err);
        return;
    }
    /* A sender without a domain would match domain rules ("gmail.com") and
     * make a challenge whose approval allows a whole domain. */
    if (!sa.is_null && !sa.domain[0]) {
        d->kind = DK_BAD_ADDRESS;
        set_reply(d, REPLY_ACCESS_DENIED);
        snprintf(d->detail, sizeof(d->detail), "sender without a domain");
        return;
    }
    /* One sender, whatever envelope it came in: every key below, the
     * challenge and so the rule an approval writes are of the sender it
     * stands for (envelope.c). */
    if (!opts->recipient_contact)
        d->envelope = envelope_unwrap(&sa, netlist_match(opts->trusted_forwarders, client_address),
                                      opts->delims);
    addr_format(&sa, 0, d->sender, sizeof(d->sender));
    addr_keys(&sa, &sk);
    if (opts->recipient_contact)
        contact_keys(&sk);

    /* Per-recipient rules, most specific recipient key first, then global. */
    for (size_t i = 0; i < rk.n; i++) {
        if (!ruleset_get(rs, RS_RULE_RCPT, rk.key[i], NULL))
            continue;
        for (size_t j = 0; j < sk.n; j++) {
            if (opts->exact_domain && parent_domain_key(&sa, &sk, sk.key[j]))
                continue;
            if ((v = ruleset_get(rs, RS_RULE, rk.key[i], sk.key[j])) != NULL) {
                d->kind = DK_RULE;
                str_copy(d->rule_scope, sizeof(d->rule_scope), "recipient");
                str_copy(d->rule_recipient, sizeof(d->rule_recipient), rk.key[i]);
                str_copy(d->rule_sender, sizeof(d->rule_sender), sk.key[j]);
                d->parent_domain = parent_domain_key(&sa, &sk, sk.key[j]);
                rule_reply(d, opts, v);
                return;
            }
        }
    }
    for (size_t j = 0; j < sk.n; j++) {
        if (opts->exact_domain && parent_domain_key(&sa, &sk, sk.key[j]))
            continue;
        if ((v = ruleset_get(rs, RS_GLOBAL, sk.key[j], NULL)) != NULL) {
            d->kind = DK_RULE;
            str_copy(d->rule_scope, sizeof(d->rule_scope), "global");
            str_copy(d->rule_sender, sizeof(d->rule_sender), sk.key[j]);
            d->parent_domain = parent_domain_key(&sa, &sk, sk.key[j]);
            rule_reply(d, opts, v);
            return;
        }
    }

    /* The challenge names the sender as it wrote itself, extension and
     * all: an approval is no wider than what the guardian saw (a bulk
     * host's bounces+CUSTOMER@ is one customer, not every one).  A refusal
     * of the plain address (or one recorded before) covers its extensions. */
    char *base = d->challenge_base;
    addr_format(&sa, 0, d->challenge_sender, sizeof(d->challenge_sender));
    addr_format(&sa, !opts->recipient_contact, base, sizeof(d->challenge_base));
    addr_format(&ra, 1, d->challenge_recipient, sizeof(d->challenge_recipient));
    /* A child's request about a contact whose earlier challenge expired,
     * decided by nobody, is a new request: only a denial refuses it. */
    if ((v = closed_status(rs, d->challenge_sender, base, d->challenge_recipient)) != NULL
        && !(opts->recipient_contact && strcmp(v, "expired") == 0)) {
        d->kind = DK_CLOSED;
        set_reply(d, REPLY_ACCESS_DENIED);
        snprintf(d->detail, sizeof(d->detail), "challenge %s", v);
        d->challenge_sender[0] = d->challenge_recipient[0] = '\0';
        return;
    }
    if (sa.is_null && opts->null_sender != NULL_CHALLENGE) {
        d->kind = DK_NULL_SENDER;
        set_reply(d, opts->null_sender == NULL_ALLOW ? opts->on_allow : REPLY_ACCESS_DENIED);
        d->allows = opts->null_sender == NULL_ALLOW;
        str_copy(d->detail, sizeof(d->detail),
             opts->null_sender == NULL_ALLOW ? "null sender allowed" : "null sender refused");
        d->challenge_sender[0] = d->challenge_recipient[0] = '\0';
        return;
    }
    d->kind = DK_CHALLENGE;
    set_reply(d, opts->unknown_sender == UNKNOWN_REJECT ? REPLY_ACCESS_DENIED : REPLY_DEFER);
    str_copy(d->detail, sizeof(d->detail), "unknown sender: challenge");
}

void decide(const struct ruleset *rs, const struct decide_opts *opts,
            const char *protocol_state, const char *sender, const char *recipient,
            const char *client_address, struct decision *d)
{
    decide_core(rs, opts, protocol_state, sender, recipient, client_address, d);
    if (d->envelope) {
        /* Logs and `guardlist check` say which sender was judged. */
        size_t n = strlen(d->detail);
        snprintf(d->detail + n, sizeof(d->detail) - n, " (sender %s: %s)", d->sender, decision_envelope_text(d));
    }
}

const char *decision_envelope_text(const struct decision *d)
{
    if ((d->envelope & ENVELOPE_SRS) && (d->envelope & ENVELOPE_BATV))
        return "SRS of a trusted forwarder decoded, BATV tag removed";
    if (d->envelope & ENVELOPE_SRS)
        return "SRS of a trusted forwarder decoded";
    if ((d->envelope & ENVELOPE_SRS_UNTRUSTED) && (d->envelope & ENVELOPE_BATV))
        return "BATV tag removed; SRS from a client not trusted, not decoded";
    if (d->envelope & ENVELOPE_SRS_UNTRUSTED)
        return "SRS from a client not trusted, not decoded";
    if (d->envelope & ENVELOPE_BATV)
        return "BATV tag removed";
    return "";
}

const char *decision_rule_text(const struct decision *d, char *buf, size_t buflen)
{
    size_t at = 0;

    buf[0] = '\0';
    if (d->kind == DK_RULE && strcmp(d->rule_scope, "recipient") == 0) {
        str_append(buf, buflen, &at, "sender_rules:");
        str_append(buf, buflen, &at, d->rule_recipient);
        str_append(buf, buflen, &at, "/");
        str_append(buf, buflen, &at, d->rule_sender);
    } else if (d->kind == DK_RULE) {
        str_append(buf, buflen, &at, "whitelist:");
        str_append(buf, buflen, &at, d->rule_sender);
    } else {
        str_copy(buf, buflen, d->kind == DK_CLOSED ? "challenge" : d->kind == DK_CHALLENGE ? "none" : "-");
    }
    return buf;
}

int decide_protected_key(const struct ruleset *rs, const char *address, const char *delims, char *out,
                         size_t outlen)
{
    struct addr a;
    struct addr_keys k;
    char err[160];

    out[0] = '\0';
    if (addr_parse(address, delims, &a, err, sizeof(err)) < 0 || a.is_null || !a.domain[0])
        return 0;
    addr_keys(&a, &k);
    for (size_t i = 0; i < k.n; i++)
        if (ruleset_get(rs, RS_PROTECTED, k.key[i], NULL)) {
            int n = snprintf(out, outlen, "%s", k.key[i]);
            if (n < 0 || (size_t)n >= outlen) {
                out[0] = '\0';
                return 0;
            }
            return 1;
        }
    return 0;
}

int decide_protected(const struct ruleset *rs, const char *address, const char *delims)
{
    char key[ADDR_MAX + 2];

    return decide_protected_key(rs, address, delims, key, sizeof(key));
}
