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

/* The envelope sender is not the child's own address (nor <>): its bounces
 * and delivery notices would carry the child's mail to someone else. */
#define REPLY_OUT_SENDER "550 5.7.1 You can only send from your own address; change the sender in your mail program"
/* The address holds invisible or text-direction characters (Unicode Cf). */
#define REPLY_OUT_FORMAT_CHAR "550 5.7.1 This address holds invisible characters; type it again by hand"
/* The domain is written with letters lower-casing turns into others (ß, ς):
 * rules would match another domain than the one mail goes to.  ASCII: a
 * reply is no place for 8-bit text. */
#define REPLY_OUT_FOLD "550 5.7.1 This address cannot be a contact: its domain has a letter (such as " \
    "the German sharp s or the Greek final sigma) that could be mistaken for another domain"

/* Decides for a request whose client logged in as LOGIN (sasl_username;
 * NULL or "" without a login) and gave the envelope SENDER.  Returns 0 when
 * outbound control does not apply, and the inbound decision stands:
 * opts->outbound off, no login, no rules, not a RCPT request, or a login
 * that is no protected child (account_child(): an account's mapping, else
 * the login as an address) while SENDER is not protected either.  A login
 * that is no child with a protected SENDER is that child's mail
 * (d->login_unmapped set: guardlistd warns about the login).  A SENDER that
 * is neither <> nor the child's own (its protected key) is refused
 * (REPLY_OUT_SENDER).
 * Else 1 with D decided as if RECIPIENT had written to the child's address
 * ("one contact, both directions") and d->outbound set: an allow
 * (d->allows), a refusal, or DK_CHALLENGE whose pair (contact, child) is
 * the contact request to record.  Never fails open for a protected login. */
int outbound_decide(const struct ruleset *rs, const struct decide_opts *opts, const char *protocol_state,
                    const char *login, const char *sender, const char *recipient, struct decision *d);

#endif
