/*
 * storebook - a child's address book imported as approved contacts, in one
 * transaction (store_contacts_import()).  Callers: the
 * CLI's `guardlist contacts import` and the web page's import.  Split from
 * store.c, whose transaction helpers (storetx.h) it uses.
 */
#include "storebook.h"
#include "store.h"
#include "storetx.h"
#include "addr.h"
#include "cover.h"

#include <stdio.h>
#include <string.h>

#define CONTACT_KEPT (-9)   /* contact_add(): another rule is there */

/* Inside the import's transaction: the rule CHILD/SENDER (both valid keys)
 * written unless one exists.  Returns 1 written, 0 an OK rule was there,
 * or CONTACT_KEPT / STORE_ERROR with ERR. */
static int contact_add(struct db *db, const char *actor, const char *child, const char *sender,
                       char *err, size_t errlen)
{
    char detail[900];
    long long other = -1;
    unsigned long long closed = 0;
    const char *p[4] = { child, sender, "OK", actor };

    /* -1: no rule; 0: an OK rule; 1: another action, never turned into an allow */
    if (db_query_number(db, "SELECT COALESCE(MAX(action <> 'OK'), -1) FROM sender_rules "
                            "WHERE recipient = ? AND sender = ? FOR UPDATE", p, 2, &other, err, errlen) < 0)
        return STORE_ERROR;
    if (other == 0)
        return 0;
    if (other > 0) {
        snprintf(err, errlen, "%s has another rule for %s (blocked?): it is left alone, and nothing was "
                 "imported", sender, child);
        return CONTACT_KEPT;
    }
    if (db_exec(db, "INSERT INTO sender_rules (recipient, sender, action, created_by) VALUES (?, ?, ?, ?)",
                p, 4, NULL, err, errlen) < 0
        || cover_close(db, actor, child, sender, &closed, err, errlen) < 0)
        return STORE_ERROR;
    snprintf(detail, sizeof(detail), "recipient=%s sender=%s action=OK contacts-import", child, sender);
    if (closed) {
        size_t o = strlen(detail);
        snprintf(detail + o, sizeof(detail) - o, " closed=%llu", closed);
    }
    return store_audit(db, actor, "rule-set", detail, err, errlen) < 0 ? STORE_ERROR : 1;
}

int store_contacts_import(struct db *db, const char *actor, const char *child, const char *const *senders,
                          size_t n, const char *summary, size_t *added, char *err, size_t errlen)
{
    char k[ADDR_MAX + 2], s[ADDR_MAX + 2];

    *added = 0;
    if (store_check_key("recipient", child, 0, k, sizeof(k), NULL, err, errlen) < 0)
        return STORE_INVALID;
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    for (size_t i = 0; i < n; i++) {
        enum addr_key_kind kind = AK_ADDRESS;
        if (store_check_key("contact", senders[i], 0, s, sizeof(s), &kind, err, errlen) < 0 || kind != AK_ADDRESS) {
            if (kind != AK_ADDRESS)
                snprintf(err, errlen, "invalid contact '%.80s': a full address is needed", senders[i]);
            *added = 0;
            return store_tx_rollback(db, STORE_INVALID);
        }
        int rc = contact_add(db, actor, k, s, err, errlen);
        if (rc < 0) {
            *added = 0;
            return store_tx_rollback(db, rc == CONTACT_KEPT ? STORE_NOTFOUND : rc);
        }
        *added += (size_t)rc;
    }
    return store_tx_commit(db, actor, "contacts-import", summary, err, errlen);
}
