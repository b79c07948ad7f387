/* mail.h - one email of a guardlist-notify cycle: a single or a digest for
 * one guardian, its text and links, and what the smarthost said. */
#ifndef GUARDLIST_NOTIFY_MAIL_H
#define GUARDLIST_NOTIFY_MAIL_H

#include <stddef.h>

#include "addr.h"
#include "buf.h"
#include "claim.h"
#include "crypto.h"
#include "token.h"

enum mail_outcome {
    MAIL_PERMANENT,     /* refused (5xx): recorded, not tried again */
    MAIL_TEMPORARY,     /* not sent (4xx, no connection): tried again later */
    MAIL_ACCEPTED       /* the smarthost took it */
};

struct mail {
    /* the plan: to whom, about which challenges */
    char guardian[ADDR_MAX + 2];
    int digest;
    int group;                  /* singles for several children of the guardian, sent as one email */
    size_t nitems;
    struct challenge **items;
    /* the message; text.p is NULL when it could not be composed */
    char message_id[160];
    char (*token)[TOKEN_CHARS + 1];     /* one per item: this guardian's own links */
    char (*token_hash)[2 * SHA256_LEN + 1];
    char digest_token[TOKEN_CHARS + 1];     /* a digest's own link: decide each or all */
    char digest_hash[2 * SHA256_LEN + 1];
    struct buf text;
    /* the sending: libesmtp's handles (smtp_message_t, smtp_recipient_t)
     * and the smarthost's answer */
    struct smtp_message *msg;
    struct smtp_recipient *rcpt;
    enum mail_outcome outcome;
    char reply[256];
};

/* Frees M's text and tokens (wiping the tokens first); M may be reused. */
void mail_free(struct mail *m);

#endif
