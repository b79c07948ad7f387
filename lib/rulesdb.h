/* rulesdb.h - loads the rule tables from the database into a ruleset, and
 * reads the change counter the schema's triggers keep. */
#ifndef GUARDLIST_RULESDB_H
#define GUARDLIST_RULESDB_H

#include <stddef.h>
#include "db.h"
#include "ruleset.h"

/* Reads rule_generation.  Returns 0, or -1 with ERR set. */
int rulesdb_generation(struct db *db, unsigned long long *gen, char *err, size_t errlen);

/* TRUNCATE fires no trigger, but it resets a table's AUTO_INCREMENT: a value
 * that went down since the last look means rows vanished unseen. */
#define RULESDB_STAMPED 5
struct rulesdb_stamp {
    unsigned long long auto_inc[RULESDB_STAMPED];  /* protected_users, whitelist, sender_rules, challenges, accounts */
    int valid;
};

/* Reads the tables' AUTO_INCREMENT values into STAMP; *TRUNCATED is set to 1
 * when one went down since the previous call.  Returns 0, or -1 with ERR. */
int rulesdb_truncated(struct db *db, struct rulesdb_stamp *stamp, int *truncated, char *err, size_t errlen);

struct rulesdb_skips {
    size_t count;           /* rows skipped for an invalid key or action */
    char first[300];        /* which row and why, for the caller's warning */
};

/* Where a loaded ruleset stands: the change counters the triggers keep
 * (rule_generation: every change; destructive: updates and deletes; closes:
 * challenges closed) and the highest row id of each rule table, all from the
 * snapshot the rows came from. */
struct rulesdb_mark {
    unsigned long long generation, destructive, closes;
    unsigned long long max_id[4];       /* protected_users, whitelist, sender_rules, accounts */
};

/* Adds one rule row to RS as rulesdb_load does (KIND RS_GLOBAL or RS_RULE,
 * keys already normalised): an invalid action keeps the key and answers 451
 * (counted in SKIPS), replacing what the key had; where the key is there
 * already (two rows that fold to one key), an action that does not allow
 * replaces one that does, whichever row came first, and otherwise the first
 * stays.  Returns 0, or -1 out of memory. */
int rulesdb_add_rule(struct ruleset *rs, enum rs_kind kind, const char *k1, const char *k2,
                     const char *raw_action, struct rulesdb_skips *skips);

/* Loads protected_users, whitelist, sender_rules, accounts and closed challenges in one
 * consistent read.  A row with an invalid action keeps its key but answers
 * 451 (so a less specific allow cannot take its place); a row with an
 * unusable key (which no address can match) is skipped; both are counted in
 * SKIPS.  Where two rows fold to one key, a blocking action wins.  MARK
 * (may be NULL: then rule_generation is not read, and the set's generation
 * is 0) gets the counters the rows match.
 * Returns a new ruleset (caller frees), or NULL with ERR set. */
struct ruleset *rulesdb_load(struct db *db, struct rulesdb_skips *skips, struct rulesdb_mark *mark,
                             char *err, size_t errlen);

/* Brings RS (a private copy of the set loaded at MARK) up to date by adding
 * the rows inserted since, when inserts are all that happened: no update or
 * delete of a rule (those need a full load), and exactly as many new rows as
 * the counter says (an insert committed out of id order would be missed).
 * Closed challenges are read again when one closed.  Rows are judged as by
 * rulesdb_load.  Returns 1 done (MARK and RS advanced), 0 a full load is
 * needed (RS half-updated: discard it), -1 error with ERR. */
int rulesdb_delta(struct db *db, struct ruleset *rs, struct rulesdb_mark *mark, struct rulesdb_skips *skips,
                  char *err, size_t errlen);

#endif
