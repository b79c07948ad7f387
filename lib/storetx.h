/*
 * storetx - the transaction helpers store.c's functions share with the
 * files split from it (storebook.c).  Not for other callers: every change
 * goes through a store_*() function of store.h.
 */
#ifndef GUARDLIST_STORETX_H
#define GUARDLIST_STORETX_H

#include "addr.h"
#include "db.h"

#include <stddef.h>

/* START TRANSACTION: 0, or STORE_ERROR with ERR. */
int store_tx_begin(struct db *db, char *err, size_t errlen);

/* Rolls back and returns RC (the error text in ERR is kept). */
int store_tx_rollback(struct db *db, int rc);

/* The audit row (ACTOR, ACTION, DETAIL), then COMMIT: STORE_DONE, or
 * STORE_ERROR with ERR after a rollback. */
int store_tx_commit(struct db *db, const char *actor, const char *action, const char *detail,
                    char *err, size_t errlen);

/* IN checked as a rule key (WHAT names it in ERR) and folded into OUT;
 * ALLOW_NULL: the null sender is one; *KIND (if not NULL) says which kind. */
int store_check_key(const char *what, const char *in, int allow_null, char *out, size_t outlen,
                    enum addr_key_kind *kind, char *err, size_t errlen);

#endif
