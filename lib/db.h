/* db.h - MariaDB Connector/C access: prepared statements with bound string
 * parameters only, and reconnection with backoff.  Never builds SQL from data. */
#ifndef GUARDLIST_DB_H
#define GUARDLIST_DB_H

#include <stddef.h>
#include "config.h"

struct db;

/* Creates a handle for P (copied) without connecting.  NULL when out of memory. */
struct db *db_new(const struct config_db *p);
void db_free(struct db *db);

/* Connects if not connected: tries the entries in order (the socket when
 * set, then each [database] host entry; with neither, localhost), always
 * from the first, each within a 3 s connect timeout; with more than one
 * entry, a Galera node that is not ready (wsrep_ready OFF) is skipped.
 * While a previous round failed less than the backoff ago (0.25 s doubling
 * to 5 s, counted per round, not per entry), fails at once without trying.
 * Returns 0, or -1 with ERR set (naming every entry and why it failed). */
int db_connect(struct db *db, char *err, size_t errlen);
int db_connected(const struct db *db);
void db_disconnect(struct db *db);     /* after an error: next call reconnects */

/* The entry connected to (0 the first, in db_connect's order), -1 when not
 * connected.  What was read through another entry may be another copy of
 * the data (a refresher reads all of it again). */
int db_entry(const struct db *db);

/* Between units of work (never inside a transaction or while session state
 * such as a GET_LOCK must survive): when connected to a later entry and
 * [database] failback_interval has passed since that connection or the last
 * try, tries the first entry (1 s connect timeout) and, when it answers,
 * moves there.  Cheap otherwise: no round trip. */
void db_prefer_first(struct db *db);

/* Where a program hears of moves between entries, one line each:
 * WARNING 1 for "connected to a later entry (and why the first failed)",
 * 0 for the first connection of a list and the return to the first entry.
 * A single entry never moves.  Process-wide; set before threads start;
 * NULL (the default): silent. */
typedef void db_notice_fn(int warning, const char *line);
void db_set_notice(db_notice_fn *fn);

/* For a connection kept between requests (a persistent web program), before
 * the next one: closes it if the server has closed its end or sent
 * something unasked (restart, KILL, wait_timeout), so the next query
 * reconnects instead of failing; rolls back a transaction an earlier
 * request left open, so nothing of it reaches the next.  Then
 * db_prefer_first().  No round trip unless the first entry is tried. */
void db_idle_check(struct db *db);

/* Runs SQL with N string parameters (NULL binds SQL NULL).  *AFFECTED (may be
 * NULL) gets the affected row count.  On a connection error the handle is
 * disconnected.  Returns 0, or -1 with ERR set. */
int db_exec(struct db *db, const char *sql, const char *const *params, int n,
            unsigned long long *affected, char *err, size_t errlen);

/* Runs a query and calls ROW for each row with its columns as strings (NULL
 * for SQL NULL) and their lengths.  ROW returns 0 to go on, non-zero to stop
 * with an error.  Rows are streamed, not buffered.  Returns the number of
 * rows, or -1 with ERR set. */
typedef int (*db_row_fn)(void *arg, int ncol, const char *const *col, const unsigned long *len);
long long db_query(struct db *db, const char *sql, const char *const *params, int n,
                   db_row_fn row, void *arg, char *err, size_t errlen);

/* Runs a query for one number (COUNT, MAX, a counter): *OUT gets the first
 * column of the first row, or -1 when there is no row or it is NULL.
 * Returns 1 (a row), 0 (no row), or -1 with ERR set. */
int db_query_number(struct db *db, const char *sql, const char *const *params, int n,
                    long long *out, char *err, size_t errlen);

/* Runs a trusted, constant SQL script (schema, grants: text that is part of
 * guardlist, never data) that may hold several statements.  Returns 0, or -1
 * with ERR naming the failing statement's error. */
int db_exec_script(struct db *db, const char *script, char *err, size_t errlen);

/* The id of the last row inserted on this connection. */
unsigned long long db_insert_id(struct db *db);

/* The server's error number (or Connector/C's, 2000 and up) for the last
 * statement on DB that failed; 0 when the last one did not, or failed
 * before reaching the server.  Ask right after the failure: the next
 * statement, a ROLLBACK too, resets it. */
unsigned int db_errno(const struct db *db);

/* 1 when the last call on DB failed with an error after which the whole
 * transaction, run again from its START TRANSACTION, may succeed: a
 * deadlock (how MariaDB Galera reports a certification conflict between
 * nodes, at COMMIT or at any statement, even its prepare) or a lock wait
 * timeout.  The caller rolls the transaction back (the server may have
 * already) and runs it again.  Ask right after the failure. */
int db_error_retryable(const struct db *db);

/* 1 while the transaction DB started is still open, as the server said
 * with its last reply.  On a Galera node an applier that aborts a local
 * transaction (a conflict) ends it at once; the error reaches the client
 * with its next statement, but not always (a SELECT may pass it by), and
 * the statements after it would each commit alone.  A writer asks before
 * each write and before COMMIT; 0 is a conflict (run it again). */
int db_in_transaction(const struct db *db);

#endif
