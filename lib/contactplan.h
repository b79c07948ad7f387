/* contactplan.h - what importing an address book (lib/contacts.c) for a
 * protected child would do, judged by the rules now, and doing it. */
#ifndef GUARDLIST_CONTACTPLAN_H
#define GUARDLIST_CONTACTPLAN_H

#include <stddef.h>
#include "addr.h"
#include "config.h"
#include "contacts.h"
#include "db.h"

enum contactplan_verdict {
    CP_ADD,             /* a stranger to the child: becomes a contact */
    CP_ALREADY,         /* the rules allow it already */
    CP_BLOCKED,         /* blocked or refused: left alone, never turned into an allow */
    CP_UNUSABLE,        /* no address the rules can hold for this child */
};

struct contactplan {
    char child[ADDR_MAX + 2];           /* the protected key, as stored */
    enum contactplan_verdict *v;        /* one a contact of the book */
    size_t add, already, blocked, unusable;
};

#define CONTACTPLAN_ERROR (-1)          /* the database: ERR says what */
#define CONTACTPLAN_BAD_CHILD (-2)      /* not a full address, or not protected: ERR says which */

/* Judges each address of C for CHILD_IN by the rule tables now, as
 * guardlistd's decide() would for the address writing to the child (the
 * decision the child's own mail to it gets too), under CFG's [policy].
 * Returns 0 with P filled (contactplan_free() frees it), or
 * CONTACTPLAN_BAD_CHILD / CONTACTPLAN_ERROR with ERR. */
int contactplan_make(struct db *db, const struct config *cfg, const char *child_in, const struct contacts *c,
                     struct contactplan *p, char *err, size_t errlen);
void contactplan_free(struct contactplan *p);

/* What happens to a contact with verdict V, in words ("would add" when DRY). */
const char *contactplan_word(enum contactplan_verdict v, int dry);

/* The import's one-line summary into OUT: "N contacts added (would be
 * added, when DRY), M already contacts, K blocked (left alone), J invalid
 * (line L: why; ...), D duplicates counted once". */
void contactplan_summary(const struct contacts *c, const struct contactplan *p, size_t added, int dry, char *out,
                         size_t outlen);

/* Writes P's CP_ADD contacts of C as ACTOR in one transaction with their
 * audit rows and a summary row (store_contacts_import()); *ADDED gets how
 * many were new.  Returns a STORE_ code: on anything but STORE_DONE
 * nothing was written. */
int contactplan_write(struct db *db, const char *actor, const struct contacts *c, const struct contactplan *p,
                      size_t *added, char *err, size_t errlen);

#endif
