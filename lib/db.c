/*
 * db - MariaDB Connector/C behind a small API: prepared statements with
 * bound string parameters (SQL text is always a constant), a per-connection
 * statement cache, and reconnection with capped exponential backoff to the
 * first of the configured servers (socket, then [database] host entries)
 * that answers, coming back to the first one when it returns.
 *
 * Callers: every program that touches the database.  One handle belongs to
 * one thread.  Never prints and never exits: errors go to the caller's
 * buffer, a move to another server to the program's db_set_notice function.
 */
#include "db.h"

#include <errno.h>
#include <mysql.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STMT_CACHE 32
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_S 3         /* per entry: a dead node costs at most this (and the handshake) */
#define FAILBACK_TIMEOUT_S 1        /* the first entry, tried while connected to another */
#define IO_TIMEOUT_S 10
#define COLUMN_MAX 65536
#define DB_MAX_PARAMS 32
#define TARGETS_MAX (CONFIG_DB_HOSTS_MAX + 1)

/* Where the server may be: the socket, then the host entries. */
struct target {
    const char *host, *socket;      /* into the handle's own copy of the parameters */
    unsigned int port;
    char shown[CONFIG_STR_MAX + 16];
};

struct db {
    struct config_db p;
    MYSQL *m;
    struct target target[TARGETS_MAX];
    int ntargets;
    int cur;                        /* the entry connected to, -1 when not connected */
    int last;                       /* the entry connected to last, -1 before the first */
    long backoff_ms;
    struct timespec next_try;
    struct timespec next_failback;
    struct { const char *sql; MYSQL_STMT *st; } cache[STMT_CACHE];
    int ncache;
    unsigned int last_errno;        /* the server's error of the last statement that failed (db_errno) */
};

static db_notice_fn *notice_fn;

void db_set_notice(db_notice_fn *fn)
{
    notice_fn = fn;
}

static void add_target(struct db *db, const char *host, const char *socket, int port)
{
    struct target *t = &db->target[db->ntargets++];

    t->host = host;
    t->socket = socket;
    t->port = (unsigned int)port;
    if (socket)
        snprintf(t->shown, sizeof(t->shown), "%s", socket);
    else if (strchr(host, ':'))
        snprintf(t->shown, sizeof(t->shown), "[%s]:%d", host, port);
    else
        snprintf(t->shown, sizeof(t->shown), "%s:%d", host, port);
}

struct db *db_new(const struct config_db *p)
{
    struct db *db = calloc(1, sizeof(*db));

    if (!db)
        return NULL;
    db->p = *p;
    db->cur = db->last = -1;
    if (db->p.socket[0])
        add_target(db, NULL, db->p.socket, 0);
    for (int i = 0; i < db->p.nhosts && i < CONFIG_DB_HOSTS_MAX; i++)
        add_target(db, db->p.hosts[i].name, NULL, db->p.hosts[i].port ? db->p.hosts[i].port : db->p.port);
    if (db->ntargets == 0)
        add_target(db, "localhost", NULL, db->p.port);
    return db;
}

void db_disconnect(struct db *db)
{
    for (int i = 0; i < db->ncache; i++)
        mysql_stmt_close(db->cache[i].st);
    db->ncache = 0;
    if (db->m)
        mysql_close(db->m);
    db->m = NULL;
    db->cur = -1;
}

void db_free(struct db *db)
{
    if (!db)
        return;
    db_disconnect(db);
    explicit_bzero(db->p.password, sizeof(db->p.password));
    free(db);
}

int db_connected(const struct db *db)
{
    return db->m != NULL;
}

int db_entry(const struct db *db)
{
    return db->m ? db->cur : -1;
}

static long ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void set_after(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000;
    if (t->tv_nsec >= 1000000000) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000;
    }
}

static void schedule_retry(struct db *db)
{
    db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (db->backoff_ms > BACKOFF_MAX_MS)
        db->backoff_ms = BACKOFF_MAX_MS;
    set_after(&db->next_try, db->backoff_ms);
}

/* The second column of the one row of SHOW query Q, into OUT ("" with no
 * row).  0, or -1 with WHY. */
static int show_value(MYSQL *m, const char *q, char *out, size_t outlen, char *why, size_t whylen)
{
    MYSQL_RES *res;
    MYSQL_ROW row;

    if (mysql_real_query(m, q, strlen(q)) != 0 || !(res = mysql_store_result(m))) {
        snprintf(why, whylen, "%s", mysql_error(m));
        return -1;
    }
    row = mysql_fetch_row(res);
    snprintf(out, outlen, "%s", row && mysql_num_fields(res) > 1 && row[1] ? row[1] : "");
    mysql_free_result(res);
    return 0;
}

/* With somewhere else to go, a Galera node that is up but not part of the
 * primary component (wsrep_ready OFF) refuses every query: not usable.  A
 * server without Galera (wsrep_on OFF, or no such variable): usable.
 * 1 usable, 0 not. */
static int node_ready(MYSQL *m, char *why, size_t whylen)
{
    char v[32];

    if (show_value(m, "SHOW VARIABLES LIKE 'wsrep_on'", v, sizeof(v), why, whylen) < 0)
        return 0;
    if (strcasecmp(v, "ON") != 0)
        return 1;
    if (show_value(m, "SHOW STATUS LIKE 'wsrep_ready'", v, sizeof(v), why, whylen) < 0)
        return 0;
    if (strcasecmp(v, "ON") != 0) {
        snprintf(why, whylen, "Galera node not ready (wsrep_ready %s)", v[0] ? v : "missing");
        return 0;
    }
    return 1;
}

/* A new connection to entry I, or NULL with WHY. */
static MYSQL *open_target(struct db *db, int i, unsigned int connect_timeout, char *why, size_t whylen)
{
    const struct target *t = &db->target[i];
    unsigned int io_timeout = IO_TIMEOUT_S;
    my_bool off = 0;
    MYSQL *m = mysql_init(NULL);

    if (!m) {
        snprintf(why, whylen, "mysql_init: out of memory");
        return NULL;
    }
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(m, MYSQL_OPT_RECONNECT, &off);
    mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &off);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    if (!mysql_real_connect(m, t->host, db->p.user, db->p.password, db->p.name, t->port, t->socket, 0)) {
        snprintf(why, whylen, "%s", mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    if (db->ntargets > 1 && !node_ready(m, why, whylen)) {
        mysql_close(m);
        return NULL;
    }
    return m;
}

static void notice(int warning, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void notice(int warning, const char *fmt, ...)
{
    char line[700];
    va_list ap;

    if (!notice_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    notice_fn(warning, line);
}

/* Connected to entry I: says so when it is another entry than the last one. */
static void now_on(struct db *db, int i, const char *first_why)
{
    const struct target *t = &db->target[i], *first = &db->target[0];
    int was = db->last;

    db->cur = db->last = i;
    db->backoff_ms = 0;
    if (i > 0)
        set_after(&db->next_failback, (long)db->p.failback_interval * 1000);
    if (db->ntargets < 2 || was == i)
        return;
    if (i > 0)
        notice(1, "database: connected to %s (entry %d of %d); entry 1 %s: %s", t->shown, i + 1,
               db->ntargets, first->shown, first_why);
    else
        notice(0, "database: connected to %s (entry 1 of %d)%s", first->shown, db->ntargets,
               was > 0 ? ", the first entry is back" : "");
}

int db_connect(struct db *db, char *err, size_t errlen)
{
    char why[TARGETS_MAX][256];
    long wait;

    if (db->m)
        return 0;
    if (db->backoff_ms && (wait = ms_until(&db->next_try)) > 0) {
        snprintf(err, errlen, "database unreachable, next attempt in %ld ms", wait);
        return -1;
    }
    /* Always from the first entry: a program comes back to it as soon as it answers. */
    for (int i = 0; i < db->ntargets; i++) {
        db->m = open_target(db, i, CONNECT_TIMEOUT_S, why[i], sizeof(why[i]));
        if (db->m) {
            now_on(db, i, why[0]);
            return 0;
        }
    }
    if (db->ntargets == 1) {
        snprintf(err, errlen, "cannot connect to database %s as %s via %s: %s", db->p.name,
                 db->p.user, db->target[0].socket ? db->target[0].socket : db->target[0].host, why[0]);
    } else {
        size_t o = (size_t)snprintf(err, errlen, "cannot connect to database %s as %s via any of %d entries:",
                                    db->p.name, db->p.user, db->ntargets);
        for (int i = 0; i < db->ntargets && o < errlen; i++)
            o += (size_t)snprintf(err + o, errlen - o, "%s %s: %s", i ? ";" : "", db->target[i].shown, why[i]);
    }
    schedule_retry(db);
    return -1;
}

static int in_transaction(struct db *db)
{
    unsigned int status = 0;

    return mariadb_get_infov(db->m, MARIADB_CONNECTION_SERVER_STATUS, &status) != 0
           || (status & SERVER_STATUS_IN_TRANS);
}

void db_prefer_first(struct db *db)
{
    char why[256];
    MYSQL *m;

    if (!db || !db->m || db->cur <= 0 || ms_until(&db->next_failback) > 0)
        return;
    set_after(&db->next_failback, (long)db->p.failback_interval * 1000);
    if (in_transaction(db))
        return;
    m = open_target(db, 0, FAILBACK_TIMEOUT_S, why, sizeof(why));
    if (!m)
        return;
    db_disconnect(db);
    db->m = m;
    now_on(db, 0, "");
}

void db_idle_check(struct db *db)
{
    unsigned int status = 0;

    if (!db || !db->m)
        return;
    struct pollfd p = { .fd = (int)mysql_get_socket(db->m), .events = POLLIN | POLLRDHUP };
    /* An idle connection has nothing to read: anything there is the server's goodbye. */
    if (p.fd < 0 || poll(&p, 1, 0) != 0) {
        db_disconnect(db);
        return;
    }
    if (mariadb_get_infov(db->m, MARIADB_CONNECTION_SERVER_STATUS, &status) == 0
        && (status & SERVER_STATUS_IN_TRANS) && mysql_rollback(db->m) != 0) {
        db_disconnect(db);
        return;
    }
    db_prefer_first(db);
}

/* Connection-level failures end the connection; statement errors do not.
 * 1047 is a Galera node that left the primary component: the next
 * db_connect finds one that is ready.  Every failure of a statement passes
 * here: its code is kept for db_errno(). */
static void check_gone(struct db *db, unsigned int code)
{
    db->last_errno = code;
    if (code >= 2000 || code == 1047 || code == 1053 || code == 1927 || code == 4031)
        db_disconnect(db);
}

static MYSQL_STMT *stmt_for(struct db *db, const char *sql, char *err, size_t errlen)
{
    MYSQL_STMT *st;

    db->last_errno = 0;
    if (db_connect(db, err, errlen) < 0)
        return NULL;
    for (int i = 0; i < db->ncache; i++)
        if (db->cache[i].sql == sql)
            return db->cache[i].st;
    st = mysql_stmt_init(db->m);
    if (!st) {
        snprintf(err, errlen, "mysql_stmt_init: out of memory");
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        unsigned int code = mysql_stmt_errno(st);
        snprintf(err, errlen, "prepare: %s", mysql_stmt_error(st));
        mysql_stmt_close(st);
        check_gone(db, code);
        return NULL;
    }
    if (db->ncache == STMT_CACHE) {
        mysql_stmt_close(db->cache[0].st);
        memmove(db->cache, db->cache + 1, sizeof(db->cache[0]) * (STMT_CACHE - 1));
        db->ncache--;
    }
    db->cache[db->ncache].sql = sql;
    db->cache[db->ncache].st = st;
    db->ncache++;
    return st;
}

static int bind_params(struct db *db, MYSQL_STMT *st, const char *const *params, int n,
                       char *err, size_t errlen)
{
    MYSQL_BIND b[DB_MAX_PARAMS];
    unsigned long len[DB_MAX_PARAMS];
    my_bool is_null[DB_MAX_PARAMS];

    if (n > DB_MAX_PARAMS || (unsigned long)n != mysql_stmt_param_count(st)) {
        snprintf(err, errlen, "statement takes %lu parameters, got %d", mysql_stmt_param_count(st), n);
        return -1;
    }
    if (n == 0)
        return 0;
    memset(b, 0, sizeof(b));
    for (int i = 0; i < n; i++) {
        is_null[i] = params[i] == NULL;
        len[i] = params[i] ? strlen(params[i]) : 0;
        b[i].buffer_type = MYSQL_TYPE_STRING;
        b[i].buffer = (void *)(params[i] ? params[i] : "");
        b[i].buffer_length = len[i];
        b[i].length = &len[i];
        b[i].is_null = &is_null[i];
    }
    if (mysql_stmt_bind_param(st, b) != 0) {
        snprintf(err, errlen, "bind: %s", mysql_stmt_error(st));
        check_gone(db, mysql_stmt_errno(st));
        return -1;
    }
    return 0;
}

static int run(struct db *db, MYSQL_STMT *st, const char *const *params, int n, char *err, size_t errlen)
{
    if (bind_params(db, st, params, n, err, errlen) < 0)
        return -1;
    if (mysql_stmt_execute(st) != 0) {
        unsigned int code = mysql_stmt_errno(st);
        snprintf(err, errlen, "%s (error %u)", mysql_stmt_error(st), code);
        check_gone(db, code);
        return -1;
    }
    return 0;
}

int db_exec(struct db *db, const char *sql, const char *const *params, int n,
            unsigned long long *affected, char *err, size_t errlen)
{
    MYSQL_STMT *st = stmt_for(db, sql, err, errlen);

    if (!st || run(db, st, params, n, err, errlen) < 0)
        return -1;
    if (affected)
        *affected = (unsigned long long)mysql_stmt_affected_rows(st);
    mysql_stmt_free_result(st);
    return 0;
}

long long db_query(struct db *db, const char *sql, const char *const *params, int n,
                   db_row_fn row, void *arg, char *err, size_t errlen)
{
    MYSQL_STMT *st = stmt_for(db, sql, err, errlen);
    MYSQL_RES *meta;
    MYSQL_BIND *b = NULL;
    unsigned long *len = NULL;
    my_bool *is_null = NULL;
    char **buf = NULL;
    const char **col = NULL;
    unsigned int ncol;
    long long rows = -1, count = 0;

    if (!st || run(db, st, params, n, err, errlen) < 0)
        return -1;
    meta = mysql_stmt_result_metadata(st);
    if (!meta) {
        snprintf(err, errlen, "statement returns no rows");
        goto out;
    }
    ncol = mysql_num_fields(meta);
    b = calloc(ncol, sizeof(*b));
    len = calloc(ncol, sizeof(*len));
    is_null = calloc(ncol, sizeof(*is_null));
    buf = calloc(ncol, sizeof(*buf));
    col = calloc(ncol, sizeof(*col));
    if (!b || !len || !is_null || !buf || !col) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (unsigned int i = 0; i < ncol; i++) {
        MYSQL_FIELD *f = mysql_fetch_field_direct(meta, i);
        unsigned long size = f->length > COLUMN_MAX ? COLUMN_MAX : f->length;
        if (size < 64)
            size = 64;
        buf[i] = malloc(size + 1);
        if (!buf[i]) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        b[i].buffer_type = MYSQL_TYPE_STRING;
        b[i].buffer = buf[i];
        b[i].buffer_length = size;
        b[i].length = &len[i];
        b[i].is_null = &is_null[i];
    }
    if (mysql_stmt_bind_result(st, b) != 0) {
        snprintf(err, errlen, "bind result: %s", mysql_stmt_error(st));
        goto out;
    }
    for (;;) {
        int r = mysql_stmt_fetch(st);
        if (r == MYSQL_NO_DATA)
            break;
        if (r == MYSQL_DATA_TRUNCATED) {
            snprintf(err, errlen, "a column value is longer than %d bytes", COLUMN_MAX);
            goto out;
        }
        if (r != 0) {
            /* A statement a Galera applier aborted mid-result leaves its
             * code on the connection, not on the statement. */
            unsigned int code = mysql_stmt_errno(st) ? mysql_stmt_errno(st) : mysql_errno(db->m);
            snprintf(err, errlen, "fetch: %s (error %u)", mysql_stmt_error(st), code);
            check_gone(db, code);
            st = NULL;
            goto out;
        }
        for (unsigned int i = 0; i < ncol; i++) {
            if (is_null[i]) {
                col[i] = NULL;
            } else {
                buf[i][len[i]] = '\0';
                col[i] = buf[i];
            }
        }
        count++;
        if (row && row(arg, (int)ncol, col, len) != 0) {
            snprintf(err, errlen, "row handler stopped");
            goto out;
        }
    }
    rows = count;
out:
    if (meta)
        mysql_free_result(meta);
    /* With every row read the statement is ready to run again, and no
     * reset (a round trip of its own) is sent.  On Galera a replicated
     * write may abort this transaction after the last row: the server
     * answers the caller's next statement with the abort (a deadlock,
     * 1213), which fails and rolls back like any other error.  Rows left
     * unread (an error, a handler that stopped) are dropped by the reset. */
    if (st && db->m) {
        mysql_stmt_free_result(st);
        if (rows < 0)
            (void)mysql_stmt_reset(st);
    }
    if (buf)
        for (unsigned int i = 0; meta && i < ncol; i++)
            free(buf[i]);
    free(buf);
    free(col);
    free(b);
    free(len);
    free(is_null);
    return rows;
}

struct number {
    long long value;
    int rows;
};

static int row_number(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct number *num = arg;

    (void)ncol;
    (void)len;
    if (num->rows++ == 0)
        num->value = col[0] ? strtoll(col[0], NULL, 10) : -1;
    return 0;
}

int db_query_number(struct db *db, const char *sql, const char *const *params, int n,
                    long long *out, char *err, size_t errlen)
{
    struct number num = { -1, 0 };

    if (db_query(db, sql, params, n, row_number, &num, err, errlen) < 0)
        return -1;
    *out = num.value;
    return num.rows > 0;
}

int db_exec_script(struct db *db, const char *script, char *err, size_t errlen)
{
    int rc = 0, status;

    if (db_connect(db, err, errlen) < 0)
        return -1;
    if (mysql_set_server_option(db->m, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0) {
        snprintf(err, errlen, "cannot enable multiple statements: %s", mysql_error(db->m));
        return -1;
    }
    status = mysql_real_query(db->m, script, strlen(script));
    for (;;) {
        if (status != 0) {
            snprintf(err, errlen, "%s (error %u)", mysql_error(db->m), mysql_errno(db->m));
            rc = -1;
            break;
        }
        MYSQL_RES *res = mysql_store_result(db->m);
        if (res)
            mysql_free_result(res);
        status = mysql_next_result(db->m);
        if (status == -1)
            break;      /* no more results */
    }
    /* Drain what is left after an error so the connection stays usable. */
    while (rc < 0 && db->m && mysql_more_results(db->m) && mysql_next_result(db->m) == 0) {
        MYSQL_RES *res = mysql_store_result(db->m);
        if (res)
            mysql_free_result(res);
    }
    if (db->m) {
        unsigned int code = mysql_errno(db->m);
        mysql_set_server_option(db->m, MYSQL_OPTION_MULTI_STATEMENTS_OFF);
        if (rc < 0)
            check_gone(db, code);
    }
    return rc;
}

unsigned long long db_insert_id(struct db *db)
{
    return db->m ? (unsigned long long)mysql_insert_id(db->m) : 0;
}

/* ---- conflicts: what a transaction run again may get through ---- */

/* Server errors after which the whole transaction, run again from its
 * start, may succeed.  MariaDB Galera reports a certification conflict (two
 * nodes wrote the same row at once) as ER_LOCK_DEADLOCK, at COMMIT or at
 * the next statement of a transaction an applier aborted; a single server
 * gives it for an InnoDB deadlock, and ER_LOCK_WAIT_TIMEOUT for a lock held
 * too long.  A deadlock has rolled the transaction back, a lock wait
 * timeout only the statement: the caller rolls back before running again. */
#define ER_LOCK_WAIT_TIMEOUT_CODE 1205
#define ER_LOCK_DEADLOCK_CODE 1213

unsigned int db_errno(const struct db *db)
{
    return db->last_errno;
}

int db_error_retryable(const struct db *db)
{
    unsigned int code = db_errno(db);

    return code == ER_LOCK_DEADLOCK_CODE || code == ER_LOCK_WAIT_TIMEOUT_CODE;
}

int db_in_transaction(const struct db *db)
{
    unsigned int status = 0;

    return db->m && mariadb_get_infov(db->m, MARIADB_CONNECTION_SERVER_STATUS, &status) == 0
           && (status & SERVER_STATUS_IN_TRANS);
}
