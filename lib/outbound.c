/*
 * outbound - the decision for a protected child's own mail (issue 21): a
 * request whose client authenticated (sasl_username) as a protected key.
 *
 * Callers: guardlistd's answer.c, before the inbound decision, and
 * `guardlist check --login`.  The login is the child's address, or the
 * address an admin mapped it to (lib/account.c).  The child's
 * contacts are the rules that let an address write to the child: the
 * decision is decide() with the roles swapped (the recipient as sender, the
 * login as recipient), so one approval covers both directions and the
 * decision table stays in one place.  No I/O, no allocation.  Never lets a
 * protected login through without a rule that allows the address.
 */
#include "outbound.h"
#include "account.h"

#include <stdio.h>
#include <string.h>

static void refuse(struct decision *d, const char *reply, const char *why)
{
    d->allows = 0;
    snprintf(d->reply, sizeof(d->reply), "%s", reply);
    snprintf(d->detail, sizeof(d->detail), "outbound: %s", why);
}

/* 1 if RECIPIENT is a routed form Postfix resolves again later (decide.c
 * refuses it for every recipient): never a contact request. */
static int routed(const char *recipient, const struct decide_opts *opts)
{
    struct addr a;
    char err[128];

    if (addr_parse(recipient, opts->delims, &a, err, sizeof(err)) < 0)
        return 0;       /* decide() refuses it as unusable */
    return strpbrk(a.local, "%!@") != NULL || a.domain[0] == '[';
}

int outbound_decide(const struct ruleset *rs, const struct decide_opts *opts, const char *protocol_state,
                    const char *login, const char *recipient, struct decision *d)
{
    if (!opts->outbound || !rs || !login || !login[0] || !protocol_state || strcmp(protocol_state, "RCPT") != 0
        || !(login = account_child(rs, login, opts->delims)))
        return 0;
    if (routed(recipient ? recipient : "", opts)) {
        decide(rs, opts, protocol_state, NULL, recipient, NULL, d);    /* its own refusal and words */
        d->outbound = 1;
        d->allows = 0;
        if (d->kind != DK_BAD_ADDRESS) {
            d->kind = DK_BAD_ADDRESS;
            snprintf(d->reply, sizeof(d->reply), "%s", REPLY_ROUTED);
        }
        d->challenge_sender[0] = d->challenge_recipient[0] = '\0';
        return 1;
    }
    decide(rs, opts, protocol_state, recipient ? recipient : "", login, NULL, d);
    d->outbound = 1;
    switch (d->kind) {
    case DK_RULE:
        if (d->allows)
            snprintf(d->detail, sizeof(d->detail), "outbound: contact allowed");
        else
            refuse(d, REPLY_OUT_REFUSED, "contact blocked");
        break;
    case DK_CLOSED:
        refuse(d, REPLY_OUT_REFUSED, "contact refused by the guardian");
        break;
    case DK_CHALLENGE:
        d->allows = 0;
        snprintf(d->reply, sizeof(d->reply), "%s", REPLY_OUT_ASKED);
        snprintf(d->detail, sizeof(d->detail), "outbound: new contact, guardian asked");
        break;
    case DK_NOT_PROTECTED:     /* cannot be: the login is protected; never an allow */
    case DK_NULL_SENDER:       /* a null recipient */
    case DK_BAD_ADDRESS:
    case DK_NOT_RCPT:
    case DK_NO_RULES:
    default:
        d->kind = DK_BAD_ADDRESS;
        d->challenge_sender[0] = d->challenge_recipient[0] = '\0';
        refuse(d, REPLY_ACCESS_DENIED, "unusable recipient");
        break;
    }
    return 1;
}
