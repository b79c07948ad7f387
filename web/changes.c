/*
 * changes - what a POST to the admin page does (do=...): protect and stop
 * protecting, add and remove guardians, set and remove rules, decide a
 * pending sender.
 *
 * Callers: guardlist-web.c (its changes[] table), after the form token was
 * checked.  SECURITY: every change goes through lib/store.c (validation, one
 * transaction with its audit row naming the user) and only after the
 * user's scope was checked here: who is protected and who guards them is
 * an admin's, a guardian changes only the recipients they guard and only
 * with actions that act on one recipient.
 */
#include "web.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action.h"
#include "addr.h"
#include "log.h"
#include "store.h"

/* The database could not say or do it: logged; the page asks to retry. */
static int failed(const char *err, char *msg, size_t msglen)
{
    char printable[1024];

    log_error("%s", log_printable(printable, sizeof(printable), err));
    snprintf(msg, msglen, "Your change could not be saved. Please try again later.");
    return 503;
}

/* The status for store's answer RC; MSG is kept when it is done, else
 * says why nothing changed. */
static int outcome(int rc, const char *err, char *msg, size_t msglen)
{
    if (rc == STORE_DONE)
        return 200;
    if (rc == STORE_INVALID) {
        snprintf(msg, msglen, "Not saved: %s.", err);
        return 400;
    }
    if (rc == STORE_NOTFOUND || rc == STORE_NOT_GUARDIAN || rc == STORE_ADMIN_ONLY) {
        snprintf(msg, msglen, "Nothing changed: %s.", err);
        return rc == STORE_NOTFOUND ? 409 : 403;
    }
    return failed(err, msg, msglen);
}

/* 0 for an admin; else 403 with MSG saying why. */
static int admin_only(const struct web *w, char *msg, size_t msglen)
{
    if (w->is_admin)
        return 0;
    snprintf(msg, msglen, "Only an administrator can change who is protected and who guards them.");
    return 403;
}

/* ------------------------------------------------------------ protection */

/* After a change that succeeded: a guardian whose own address is protected
 * receives guardlist's emails only through the notifier's own submission
 * port (docs/postfix.md); MSG gets a warning added. */
static void warn_guardians_protected(const struct web *w, const char *key, const char *email, char *msg,
                                     size_t msglen)
{
    char warn[1200], err[600];
    size_t used = strlen(msg);

    if (store_guardians_protected(w->db, key, email, warn, sizeof(warn), err, sizeof(err)) > 0 && used < msglen)
        snprintf(msg + used, msglen - used, " Warning: %s; guardlist's emails reach them only if guardlist-notify "
                 "submits through a port that permits them before the policy check (docs/postfix.md).", warn);
}

int changes_protect(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *key = web_field(f, "key"), *email = web_field(f, "email");
    const char *g[1] = { email };
    char err[800] = "";
    int refused = admin_only(w, msg, msglen);

    if (refused)
        return refused;
    int rc = store_protect(w->db, w->actor, key, g, *email ? 1 : 0, err, sizeof(err));
    snprintf(msg, msglen, "%s is now protected%s%s.", key, *email ? "; guardian " : "", email);
    if (rc == STORE_DONE) {
        warn_guardians_protected(w, key, NULL, msg, msglen);
        if (*email)
            warn_guardians_protected(w, NULL, email, msg, msglen);
    }
    return outcome(rc, err, msg, msglen);
}

int changes_unprotect(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *key = web_field(f, "key");
    char err[800] = "";
    int refused = admin_only(w, msg, msglen);

    if (refused)
        return refused;
    int rc = store_unprotect(w->db, w->actor, key, err, sizeof(err));
    snprintf(msg, msglen, "%s is no longer protected.", key);
    return outcome(rc, err, msg, msglen);
}

int changes_guardian_add(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *key = web_field(f, "key"), *email = web_field(f, "email");
    char err[800] = "";
    int refused = admin_only(w, msg, msglen);

    if (refused)
        return refused;
    int rc = store_guardian_add(w->db, w->actor, key, email, err, sizeof(err));
    snprintf(msg, msglen, "%s now guards %s.", email, key);
    if (rc == STORE_DONE)
        warn_guardians_protected(w, NULL, email, msg, msglen);
    return outcome(rc, err, msg, msglen);
}

int changes_guardian_rm(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *key = web_field(f, "key"), *email = web_field(f, "email");
    char err[800] = "";
    int refused = admin_only(w, msg, msglen);

    if (refused)
        return refused;
    int rc = store_guardian_remove(w->db, w->actor, key, email, err, sizeof(err));
    snprintf(msg, msglen, "%s no longer guards %s.", email, key);
    return outcome(rc, err, msg, msglen);
}

/* ------------------------------------------------------------ rules */

/* 1 if ACTION acts on one recipient only: OK, DUNNO, REJECT, DEFER,
 * DEFER_IF_REJECT, DEFER_IF_PERMIT (with or without text), a 4NN or 5NN
 * code, or an all-numeric value.  HOLD, DISCARD, FILTER, REDIRECT, BCC,
 * PREPEND, INFO and WARN act on the whole message, other families' copies
 * too, so only an administrator sets them. */
int changes_per_recipient(const char *action)
{
    static const char *const words[] = { "OK", "DUNNO", "REJECT", "DEFER", "DEFER_IF_REJECT", "DEFER_IF_PERMIT",
                                         NULL };
    size_t n = strcspn(action, " \t");

    if (n == 0)
        return 0;
    if (strspn(action, "0123456789") == n)
        return n == strlen(action) || (n == 3 && (action[0] == '4' || action[0] == '5'));
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && strncasecmp(action, words[i], n) == 0)
            return 1;
    return 0;
}

/* The recipient a rule form is for: "" (a global rule) or its key, in
 * KEY, when this user may change its rules.  Returns 0 with *RCPT set, or
 * the status to answer with MSG saying why. */
static int rule_recipient(const struct web *w, const struct form *f, char *key, size_t keylen, const char **rcpt,
                          char *msg, size_t msglen)
{
    char err[800] = "", why[160];
    enum addr_key_kind kk;

    *rcpt = web_field(f, "rcpt");
    if (**rcpt && addr_key_check(*rcpt, 0, key, keylen, &kk, why, sizeof(why)) < 0) {
        snprintf(msg, msglen, "Not saved: invalid recipient '%.80s': %s.", *rcpt, why);
        return 400;
    }
    if (**rcpt)
        *rcpt = key;     /* the scope is checked on the key the rule is written for */
    int ok = **rcpt ? auth_may_manage(w, *rcpt, err, sizeof(err)) : w->is_admin;
    if (ok < 0)
        return failed(err, msg, msglen);
    if (!ok) {
        snprintf(msg, msglen, **rcpt ? "You do not guard %s." : "Only an administrator can change global rules.",
                 *rcpt);
        return 403;
    }
    return 0;
}

/* The action a rule form asks for (kind allow, block, or action with its
 * text) into ACTION, when this user may set it.  Returns 0, or the status
 * to answer with MSG saying why. */
static int rule_action(const struct web *w, const struct form *f, char *action, size_t actionlen, char *msg,
                       size_t msglen)
{
    const char *kind = web_field(f, "kind");

    if (strcmp(kind, "allow") == 0)
        snprintf(action, actionlen, "OK");
    else if (strcmp(kind, "block") == 0)
        snprintf(action, actionlen, "REJECT");
    else if (strcmp(kind, "action") == 0 && strlen(web_field(f, "action")) < actionlen)
        snprintf(action, actionlen, "%s", web_field(f, "action"));
    else {
        snprintf(msg, msglen, "Choose allow, block, or type an action.");
        return 400;
    }
    if (!w->is_admin && !changes_per_recipient(action)) {
        snprintf(msg, msglen, "Only an administrator can set the action '%.60s': it acts on the whole "
                 "message, for every recipient of it.", action);
        return 403;
    }
    return 0;
}

/* A guardian's allow rule for a whole domain obeys what the approval
 * buttons obey (no public suffix, no freemail domain); an admin writes what
 * they type, as with `guardlist allow`.  Returns 0, or 403 with MSG. */
static int guardian_domain_allow(const struct web *w, const char *sender, const char *action, char *msg,
                                 size_t msglen)
{
    char key[ADDR_MAX + 2], why[300], text[ACTION_MAX + 1], at_domain[ADDR_MAX + 3];
    enum addr_key_kind kind = AK_ADDRESS;
    enum action_kind akind;

    if (w->is_admin || addr_key_check(sender, 0, key, sizeof(key), &kind, why, sizeof(why)) < 0
        || kind != AK_DOMAIN || action_check(action, text, sizeof(text), &akind, why, sizeof(why)) < 0
        || akind != ACTION_ALLOW)
        return 0;       /* not a domain allow (store.c reports bad input) */
    snprintf(at_domain, sizeof(at_domain), "@%s", key);
    if (store_domain_approvable(at_domain, why, sizeof(why)))
        return 0;
    snprintf(msg, msglen, "Not saved: %s", why);
    return 403;
}

int changes_rule_set(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *sender = web_field(f, "sender"), *rcpt;
    char err[800] = "", key[ADDR_MAX + 2], action[300];
    int refused = rule_recipient(w, f, key, sizeof(key), &rcpt, msg, msglen);

    if (!refused)
        refused = rule_action(w, f, action, sizeof(action), msg, msglen);
    if (!refused)
        refused = guardian_domain_allow(w, sender, action, msg, msglen);
    if (refused)
        return refused;
    int rc = store_rule_set(w->db, w->actor, *rcpt ? rcpt : NULL, sender, action, err, sizeof(err));
    /* On success ERR says how many pending requests the rule closed. */
    snprintf(msg, msglen, "Saved: %s%s%s gets %s.%s%s%s", sender, *rcpt ? " to " : " to everyone protected", rcpt,
             action, rc == STORE_DONE && err[0] ? " " : "", rc == STORE_DONE && err[0] ? err : "", rc == STORE_DONE && err[0] ? "." : "");
    return outcome(rc, err, msg, msglen);
}

int changes_rule_rm(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *sender = web_field(f, "sender"), *rcpt;
    char err[800] = "", key[ADDR_MAX + 2];
    int refused = rule_recipient(w, f, key, sizeof(key), &rcpt, msg, msglen);

    if (refused)
        return refused;
    int rc = store_rule_rm(w->db, w->actor, *rcpt ? rcpt : NULL, sender, err, sizeof(err));
    snprintf(msg, msglen, "The rule for %s%s%s is removed.", sender, *rcpt ? " to " : "", rcpt);
    return outcome(rc, err, msg, msglen);
}

/* ------------------------------------------------------------ pending senders */

/* The decision a button asks for (how=...) into *D.  Returns 0, or 400
 * with MSG saying why. */
static int decision(const struct form *f, enum store_decision *d, char *msg, size_t msglen)
{
    static const struct {
        const char *how;
        enum store_decision d;
    } hows[] = {
        { "approve", STORE_APPROVE }, { "approve-domain", STORE_APPROVE_DOMAIN }, { "deny", STORE_DENY },
        { "block", STORE_BLOCK },
    };
    const char *how = web_field(f, "how");

    for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
        if (strcmp(how, hows[i].how) == 0) {
            *d = hows[i].d;
            return 0;
        }
    }
    snprintf(msg, msglen, "Please use one of the buttons on the page.");
    return 400;
}

/* What decision D on C did, in words. */
static void decided(enum store_decision d, const struct store_challenge *c, char *msg, size_t msglen)
{
    const char *at = strrchr(c->sender, '@');

    if (d == STORE_APPROVE)
        snprintf(msg, msglen, "%s may now write to %s%s.", c->sender, c->recipient,
                 store_is_null_sender(c->sender) ? ": every bounce message is let through, from anyone" : "");
    else if (d == STORE_APPROVE_DOMAIN)
        snprintf(msg, msglen, "Everyone at %s may now write to %s.", at ? at + 1 : c->sender, c->recipient);
    else if (d == STORE_DENY)
        snprintf(msg, msglen, "%s is denied: its attempts to write to %s are refused.", c->sender, c->recipient);
    else
        snprintf(msg, msglen, "%s is blocked for %s.", c->sender, c->recipient);
}

int changes_decide(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *id_s = web_field(f, "id");
    enum store_decision d;
    char *end, err[800] = "", result[1500];
    int refused = decision(f, &d, msg, msglen);

    if (refused)
        return refused;
    unsigned long long id = strtoull(id_s, &end, 10);
    if (!*id_s || *end || !isdigit((unsigned char)id_s[0]) || strlen(id_s) > 20) {
        snprintf(msg, msglen, "That is not a pending sender on this page.");
        return 400;
    }
    struct store_challenge c = { 0 };
    const char *pk[3] = { id_s, w->is_admin ? "1" : "0", w->user_key };
    if (db_query(w->db, "SELECT " STORE_CHALLENGE_COLUMNS("") " FROM challenges WHERE id = ? AND "
                 AUTH_SCOPE("protected_key"), pk, 3, store_challenge_row, &c, err, sizeof(err)) < 0)
        return failed(err, msg, msglen);
    if (!c.found) {
        snprintf(msg, msglen, "That sender is not waiting for you.");
        return w->is_admin ? 404 : 403;
    }
    struct store_decider by = { w->is_admin ? STORE_BY_ADMIN : STORE_BY_GUARDIAN, w->actor, w->user_key };
    int rc = store_challenge_decide(w->db, &by, id, d, result, sizeof(result), err, sizeof(err));
    decided(d, &c, msg, msglen);
    return outcome(rc, err, msg, msglen);
}
