/* compose.h - guardlist-notify's email text: the templates, a fresh token
 * for every link, headers and a multipart/alternative body. */
#ifndef GUARDLIST_NOTIFY_COMPOSE_H
#define GUARDLIST_NOTIFY_COMPOSE_H

#include <stddef.h>

#include "config.h"
#include "mail.h"

/* Loads the templates from CFG's [notifier] template_dir and keeps CFG for
 * the from address, the approval URL and the token lifetime.  Returns 0, or
 * -1 with ERR set.  compose_free() releases the templates. */
int compose_init(const struct config *cfg, char *err, size_t errlen);
void compose_free(void);

/* Composes each of MAILS[N]; one that cannot be composed is logged, its
 * challenges fail permanently, and its text.p stays NULL. */
void compose_mails(struct mail *mails, size_t n);

#endif
