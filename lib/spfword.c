/*
 * spfword - a challenge's SPF result (challenges.spf_result, written by
 * guardlistd) in plain words for the guardian: the notifier's emails, the
 * approval page, the web admin's pending list and `guardlist pending`.
 *
 * SECURITY: it must never call a sender verified that was not: only 'pass'
 * is; an unknown value reads as "not verified", NULL as "not checked".
 * What SPF verifies is the sender's domain and the server, not the person,
 * and the words say no more than that.
 */
#include "spfword.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum spf_kind { SPF_UNCHECKED, SPF_PASS, SPF_NONE, SPF_NEUTRAL, SPF_OTHER };

static enum spf_kind kind_of(const char *r)
{
    if (!r || !*r)
        return SPF_UNCHECKED;
    if (strcasecmp(r, "pass") == 0)
        return SPF_PASS;
    if (strcasecmp(r, "none") == 0)
        return SPF_NONE;
    return strcasecmp(r, "neutral") == 0 ? SPF_NEUTRAL : SPF_OTHER;
}

const char *spfword_of(const char *spf_result)
{
    enum spf_kind k = kind_of(spf_result);

    return k == SPF_PASS ? "verified" : k == SPF_UNCHECKED ? "not checked" : "not verified";
}

int spfword_sentence(const char *spf_result, const char *sender, char *out, size_t outlen)
{
    const char *at = sender ? strrchr(sender, '@') : NULL;
    /* The null sender and a row written by hand may have no domain. */
    const char *d = at && at[1] ? at + 1 : "the sender's domain";
    int n;

    switch (kind_of(spf_result)) {
    case SPF_PASS:
        n = snprintf(out, outlen, "Verified: %s allows the server this email came from to send its mail.", d);
        break;
    case SPF_NONE:
        n = snprintf(out, outlen, "Not verified: %s does not say which servers send its mail, so guardlist "
                     "cannot tell whether this email really came from %s.", d, d);
        break;
    case SPF_NEUTRAL:
        n = snprintf(out, outlen, "Not verified: %s does not vouch for the server this email came from, "
                     "so guardlist cannot tell whether this email really came from %s.", d, d);
        break;
    case SPF_OTHER:     /* the daemon writes none of these; whatever it is, it is no pass */
        n = snprintf(out, outlen, "Not verified: guardlist cannot tell whether this email really came from %s.", d);
        break;
    default:
        n = snprintf(out, outlen, "Not checked: guardlist did not check whether this email really came from %s.", d);
        break;
    }
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen)
            out[0] = '\0';
        return -1;
    }
    return 0;
}
