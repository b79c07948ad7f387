/* action.h - validation of access(5) actions stored in rule tables. */
#ifndef GUARDLIST_ACTION_H
#define GUARDLIST_ACTION_H

#include <stddef.h>

#define ACTION_MAX 255

enum action_kind {
    ACTION_ALLOW,       /* OK, or an all-numeric result (access(5) treats it as OK) */
    ACTION_BLOCK,       /* REJECT [text] or 5NN text */
    ACTION_OTHER        /* any other valid action, returned verbatim */
};

/* Checks IN as an access(5) action a policy server may return: a known
 * keyword (OK, REJECT, DEFER, DEFER_IF_REJECT, DEFER_IF_PERMIT, DUNNO, HOLD,
 * DISCARD, FILTER, PREPEND, REDIRECT, BCC, INFO, WARN; any case), an all-numeric
 * value, or a 4NN/5NN code with text.  Writes the trimmed action to OUT and
 * its kind to *KIND.  Returns 0, or -1 with ERR saying what is wrong. */
int action_check(const char *in, char *out, size_t outlen, enum action_kind *kind,
                 char *err, size_t errlen);

#endif
