/* outbound.h - a protected child's own mail, sent through the authenticated
 * submission service: only to approved contacts, a new one asks the guardian.
 * Shared by guardlistd and `guardlist check --login`. */
#ifndef GUARDLIST_OUTBOUND_H
#define GUARDLIST_OUTBOUND_H

#include "decide.h"

/* The refusal of a new contact: Postfix puts "<pal@x>: Recipient address
 * rejected:" before it, so the child's mail program shows whom it means. */
#define REPLY_OUT_ASKED "550 5.7.1 Not in your contacts yet; your guardian has been asked, you can write once they agree"
/* The refusal of a contact the guardian blocked or refused. */
#define REPLY_OUT_REFUSED "550 5.7.1 Your guardian has not allowed mail to this address"
/* A new contact past an hourly cap on new challenges (caps.c): nothing was
 * recorded, so the child is told the guardian was not asked this time (the
 * inbound wording, "Too many new senders for this recipient", means nothing
 * to the child). */
#define REPLY_OUT_CAPPED "450 4.7.1 You have asked your guardian about many new contacts this hour; " \
    "they were not asked about this one yet, try again later"

/* Decides for a request whose client logged in as LOGIN (sasl_username;
 * NULL or "" without a login).  Returns 0 when outbound control does not
 * apply, and the inbound decision stands: opts->outbound off, no login, no
 * rules, not a RCPT request, or a login that is no protected child
 * (account_child(): an account's mapping, else the login as an address).
 * Else 1 with D decided as if RECIPIENT had written to the child's address
 * ("one contact, both directions") and d->outbound set: an allow
 * (d->allows), a refusal, or DK_CHALLENGE whose pair (contact, child) is
 * the contact request to record.  Never fails open for a protected login. */
int outbound_decide(const struct ruleset *rs, const struct decide_opts *opts, const char *protocol_state,
                    const char *login, const char *recipient, struct decision *d);

#endif
