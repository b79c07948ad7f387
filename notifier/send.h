/* send.h - guardlist-notify's smarthost client (libesmtp): several
 * sessions in parallel for a burst, each mail's outcome. */
#ifndef GUARDLIST_NOTIFY_SEND_H
#define GUARDLIST_NOTIFY_SEND_H

#include <stddef.h>

#include "config.h"
#include "mail.h"

/* Keeps CFG for the smarthost, its login and the from address, and reads
 * the [notifier] smtp_password_file when there is an smtp_user (so call it
 * before dropping root).  Returns 0, or -1 with ERR set. */
int send_init(const struct config *cfg, char *err, size_t errlen);

/* Starts libesmtp's SASL client when there is a login: once, after
 * dropping root.  send_free() stops it and wipes the password. */
void send_start(void);
void send_free(void);

/* Sends every composed mail (text.p set) of MAILS[N] and sets its outcome
 * and reply; the others are left alone. */
void send_mails(struct mail *mails, size_t n);

#endif
