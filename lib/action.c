/*
 * action - checks access(5) actions before they are stored or returned.
 *
 * Callers: the rule loader (rows written by raw SQL are checked too), the CLI
 * and the web page.  An action is returned to Postfix verbatim, so it must be
 * one line of printable text that Postfix understands; anything else is refused.
 */
#include "action.h"
#include "addr.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct keyword {
    const char *word;
    int needs_arg;          /* 1: must have text after the keyword */
    enum action_kind kind;
};

static const struct keyword keywords[] = {
    { "OK", 0, ACTION_ALLOW },
    { "REJECT", 0, ACTION_BLOCK },
    { "DEFER", 0, ACTION_OTHER },
    { "DEFER_IF_REJECT", 0, ACTION_OTHER },
    { "DEFER_IF_PERMIT", 0, ACTION_OTHER },
    { "DUNNO", 0, ACTION_OTHER },
    { "HOLD", 0, ACTION_OTHER },
    { "DISCARD", 0, ACTION_OTHER },
    { "INFO", 0, ACTION_OTHER },
    { "WARN", 0, ACTION_OTHER },
    { "FILTER", 1, ACTION_OTHER },
    { "PREPEND", 1, ACTION_OTHER },
    { "REDIRECT", 1, ACTION_OTHER },
    { "BCC", 1, ACTION_OTHER },
};

int action_check(const char *in, char *out, size_t outlen, enum action_kind *kind,
                 char *err, size_t errlen)
{
    const char *s = in, *e;
    size_t len, wlen;

    if (!in) {
        snprintf(err, errlen, "action is missing");
        return -1;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    len = (size_t)(e - s);
    if (len == 0) {
        snprintf(err, errlen, "action is empty");
        return -1;
    }
    if (len > ACTION_MAX || len >= outlen) {
        snprintf(err, errlen, "action is longer than %d bytes", ACTION_MAX);
        return -1;
    }
    for (const char *p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "action contains a control character (0x%02x)", c);
            return -1;
        }
    }
    if (!addr_utf8_valid(s, len)) {
        snprintf(err, errlen, "action is not valid UTF-8");
        return -1;
    }
    for (wlen = 0; s + wlen < e && s[wlen] != ' ' && s[wlen] != '\t'; wlen++)
        ;

    /* All-numeric: access(5) treats it as OK. */
    size_t digits = 0;
    while (digits < len && isdigit((unsigned char)s[digits]))
        digits++;
    if (digits == len) {
        *kind = ACTION_ALLOW;
    } else if (wlen == 3 && digits == 3) {
        /* 4NN text / 5NN text */
        if (s[0] != '4' && s[0] != '5') {
            snprintf(err, errlen, "SMTP code in action must be 4NN or 5NN");
            return -1;
        }
        *kind = s[0] == '5' ? ACTION_BLOCK : ACTION_OTHER;
    } else {
        size_t i;
        for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
            if (strlen(keywords[i].word) == wlen && strncasecmp(s, keywords[i].word, wlen) == 0)
                break;
        if (i == sizeof(keywords) / sizeof(keywords[0])) {
            snprintf(err, errlen, "unknown action '%.*s' (use OK, REJECT [text], DEFER [text], "
                     "DEFER_IF_PERMIT, DUNNO, HOLD, DISCARD, 4NN/5NN text, ...)", (int)(wlen > 40 ? 40 : wlen), s);
            return -1;
        }
        if (keywords[i].needs_arg && wlen == len) {
            snprintf(err, errlen, "action %s needs an argument", keywords[i].word);
            return -1;
        }
        *kind = keywords[i].kind;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}
