/*
 * storebook - a child's address book imported as approved contacts, in one
 * transaction.  Callers: the CLI (guardlist contacts import) and the web
 * admin page's import.
 */
#ifndef GUARDLIST_STOREBOOK_H
#define GUARDLIST_STOREBOOK_H

#include "db.h"

#include <stddef.h>

/* An address book imported for protected key CHILD, in one transaction:
 * each of the N addresses SENDERS becomes the rule CHILD/sender OK with its
 * audit_log row "rule-set", and SUMMARY the row "contacts-import".  An
 * exact rule that exists already is never changed: an OK one counts as
 * there (*ADDED counts the new ones), any other (REJECT...) refuses the
 * whole import (STORE_NOTFOUND, ERR names it), as does an invalid address
 * (STORE_INVALID) or a database failure (STORE_ERROR): either every row
 * is written or none. */
int store_contacts_import(struct db *db, const char *actor, const char *child, const char *const *senders,
                          size_t n, const char *summary, size_t *added, char *err, size_t errlen);

#endif
