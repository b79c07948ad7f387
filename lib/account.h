/* account.h - SASL logins an admin maps to a protected address (`guardlist
 * account`), for a child whose login is not its own address (issue 21). */
#ifndef GUARDLIST_ACCOUNT_H
#define GUARDLIST_ACCOUNT_H

#include <stddef.h>
#include "addr.h"
#include "ruleset.h"

#define ACCOUNT_LOGIN_MAX 255   /* bytes of a login (the column's width) */

/* Writes LOGIN's compared form to OUT (OUTLEN >= ACCOUNT_LOGIN_MAX + 1):
 * ASCII letters in lower case, every other byte as it is.  Returns 0, or -1
 * with ERR when LOGIN is empty, longer than ACCOUNT_LOGIN_MAX, not UTF-8,
 * or holds a control character or white space. */
int account_login_fold(const char *login, char *out, size_t outlen, char *err, size_t errlen);

/* The address whose contacts LOGIN's own mail is held to: the address an
 * account maps LOGIN to when that address is still protected, else LOGIN
 * itself when it is a protected address, else NULL (not a child: the
 * request is untouched).  A mapping to an address no longer protected
 * never makes a protected login free.  The string lives as long as RS. */
const char *account_child(const struct ruleset *rs, const char *login, const char *delims);

#endif
