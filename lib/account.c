/*
 * account - which protected child a SASL login is: a mapping an admin set
 * (`guardlist account add kid kid@family.test`, table accounts, loaded into
 * the ruleset as RS_ACCOUNT) or the login read as an address.
 *
 * Callers: outbound.c (guardlistd, `guardlist check --login`), store.c and
 * rulesdb.c (the login's stored form).  No I/O, no allocation.  Never turns a
 * protected login into an unprotected one.
 */
#include "account.h"
#include "decide.h"

#include <stdio.h>
#include <string.h>

int account_login_fold(const char *login, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t n = login ? strlen(login) : 0;

    if (n == 0 || n > ACCOUNT_LOGIN_MAX) {
        snprintf(err, errlen, "a login is 1 to %d bytes", ACCOUNT_LOGIN_MAX);
        return -1;
    }
    if (n >= outlen) {
        snprintf(err, errlen, "login too long");
        return -1;
    }
    if (!addr_utf8_valid(login, n)) {
        snprintf(err, errlen, "a login is UTF-8 text");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)login[i];
        if (c <= 0x20 || c == 0x7f) {
            snprintf(err, errlen, "a login holds no spaces or control characters");
            return -1;
        }
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
    return 0;
}

const char *account_child(const struct ruleset *rs, const char *login, const char *delims)
{
    char folded[ACCOUNT_LOGIN_MAX + 1], err[96];
    const char *mapped;

    if (!rs || !login || !login[0])
        return NULL;
    if (account_login_fold(login, folded, sizeof(folded), err, sizeof(err)) == 0
        && (mapped = ruleset_get(rs, RS_ACCOUNT, folded, NULL)) != NULL && decide_protected(rs, mapped, delims))
        return mapped;
    return decide_protected(rs, login, delims) ? login : NULL;
}
