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
 * decision table stays in one place.  A contact is matched by its full
 * address and its domains only (decide_opts.recipient_contact), and the
 * child sends only as itself (or <>).  No I/O, no allocation.  Never lets
 * a protected login through without a rule that allows the address.
 */
#include "outbound.h"
#include "account.h"
#include "contactaddr.h"

#include <stdio.h>
#include <string.h>

static void refuse(struct decision *d, const char *reply, const char *why)
{
    d->allows = 0;
    snprintf(d->reply, sizeof(d->reply), "%s", reply);
    snprintf(d->detail, sizeof(d->detail), "outbound: %s", why);
}

/* D refused before any rule was looked at: no contact request. */
static void refuse_early(struct decision *d, const char *reply, const char *why)
{
    memset(d, 0, sizeof(*d));
    d->kind = DK_BAD_ADDRESS;
    d->outbound = 1;
    refuse(d, reply, why);
}

/* Refuses RECIPIENT before any rule when it cannot be a contact
 * (contactaddr.c): routed forms with decide()'s words, format characters,
 * and domains whose folding names another domain.
 * Returns 1 if D was so decided. */
static int unusable_contact(const char *recipient, struct decision *d)
{
    char err[160];
    enum contactaddr_verdict v = contactaddr_check(recipient, err, sizeof(err));

    if (v == CA_OK || v == CA_UNUSABLE)
        return 0;       /* decide() refuses an unusable one in its words */
    refuse_early(d, v == CA_ROUTED ? REPLY_ROUTED : v == CA_FORMAT_CHAR ? REPLY_OUT_FORMAT_CHAR : REPLY_OUT_FOLD,
                 err);
    return 1;
}

/* The protected child LOGIN is (an account's mapping, the login as an
 * address), or else the envelope SENDER when it is protected: a bare or
 * variant login ("kid", kid@alias.test) whose mail claims a child's address
 * is that child's mail.  *VIA_SENDER says which.  NULL: no child. */
static const char *child_of(const struct ruleset *rs, const struct decide_opts *opts, const char *login,
                            const char *sender, int *via_sender)
{
    const char *child = account_child(rs, login, opts->delims);

    *via_sender = 0;
    if (child || !sender || !decide_protected(rs, sender, opts->delims))
        return child;
    *via_sender = 1;
    return sender;
}

/* 1 if SENDER (the envelope sender) is the null sender or the child's own
 * address: the same protected key as CHILD.  Any other sender would get the
 * bounces and delivery notices of the child's mail, a copy of it. */
static int own_sender(const struct ruleset *rs, const struct decide_opts *opts, const char *child,
                      const char *sender)
{
    struct addr a;
    char err[128], ck[ADDR_MAX + 2], sk[ADDR_MAX + 2];

    if (!sender || addr_parse(sender, opts->delims, &a, err, sizeof(err)) < 0)
        return 0;
    if (a.is_null)
        return 1;
    return decide_protected_key(rs, child, opts->delims, ck, sizeof(ck))
           && decide_protected_key(rs, sender, opts->delims, sk, sizeof(sk)) && strcmp(ck, sk) == 0;
}

int outbound_decide(const struct ruleset *rs, const struct decide_opts *opts, const char *protocol_state,
                    const char *login, const char *sender, const char *recipient, struct decision *d)
{
    struct decide_opts contact;
    int via_sender;

    if (!opts->outbound || !rs || !login || !login[0] || !protocol_state || strcmp(protocol_state, "RCPT") != 0
        || !(login = child_of(rs, opts, login, sender, &via_sender)))
        return 0;
    contact = *opts;
    contact.recipient_contact = 1;
    if (!own_sender(rs, opts, login, sender ? sender : "")) {
        refuse_early(d, REPLY_OUT_SENDER, "the envelope sender is not the child's own address");
        d->login_unmapped = via_sender;
        return 1;
    }
    if (unusable_contact(recipient ? recipient : "", d)) {
        d->login_unmapped = via_sender;
        return 1;
    }
    decide(rs, &contact, protocol_state, recipient ? recipient : "", login, NULL, d);
    d->outbound = 1;
    d->login_unmapped = via_sender;
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
