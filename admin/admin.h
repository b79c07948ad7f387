/* admin.h - the guardlist CLI's commands and the helpers they share. */
#ifndef GUARDLIST_ADMIN_H
#define GUARDLIST_ADMIN_H

#include <stdio.h>
#include "config.h"
#include "db.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

struct cli {
    struct config cfg;
    const char *actor;
    const char *config_file;
    struct db *db;          /* opened on first use */
    int db_status;          /* why cli_db() gave NULL: EXIT_USAGE (config) or EXIT_RUNTIME */
};

/* One command: argv[0] is the command's own name. */
typedef int (*cmd_fn)(struct cli *cli, int argc, char **argv);

/* Prints "guardlist: error: ..." to stderr and returns CODE. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints one line "guardlist: SEVERITY: ..." to F, control characters
 * escaped as \xNN (the text may quote input or Postfix's tables). */
void cli_say(FILE *f, const char *severity, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The database handle with the [admin] account (exits with an error if it
 * cannot connect: returns NULL and prints the reason). */
struct db *cli_db(struct cli *cli);
/* The rules as guardlistd holds them, read through cli_db() (caller frees
 * with ruleset_free()); unusable rows are a warning on stderr.  NULL after
 * printing why (*STATUS: the exit status). */
struct ruleset;
struct ruleset *cli_rules(struct cli *cli, int *status);
/* For db_set_notice(): a move to a later database entry, as a warning on stderr. */
void cli_db_notice(int warning, const char *line);

/* Maps a store_ return code to an exit status, printing ERR when it failed. */
int cli_store_exit(int rc, const char *err);

/* Parses a challenge id; returns 0 or -1. */
int cli_parse_id(const char *s, unsigned long long *id);

/* Generic getopt helper: prints the command's usage for --help. */
int cli_want_help(int argc, char **argv, const char *usage);

int cmd_db(struct cli *cli, int argc, char **argv);
int cmd_protect(struct cli *cli, int argc, char **argv);
int cmd_unprotect(struct cli *cli, int argc, char **argv);
int cmd_guardian(struct cli *cli, int argc, char **argv);
int cmd_allow(struct cli *cli, int argc, char **argv);
int cmd_block(struct cli *cli, int argc, char **argv);
int cmd_rule(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_pending(struct cli *cli, int argc, char **argv);
int cmd_approve(struct cli *cli, int argc, char **argv);
int cmd_deny(struct cli *cli, int argc, char **argv);
int cmd_expire(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_stats(struct cli *cli, int argc, char **argv);
int cmd_contacts(struct cli *cli, int argc, char **argv);
int cmd_account(struct cli *cli, int argc, char **argv);
int cmd_import_article(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_postfix_config(struct cli *cli, int argc, char **argv);
int cmd_doctor(struct cli *cli, int argc, char **argv);

/* Runs ARGV (ARGV[0] found in PATH, else in /usr/sbin; no shell; standard
 * input /dev/null) and calls LINE for each line of its standard output, the
 * newline removed, at most MAXLINE bytes (TOO_LONG set: the line was cut).
 * LINE returns 0 to go on, non-zero to stop (the child is then killed).  A
 * child still running after TIMEOUT_S seconds is killed.  Returns the exit
 * status (ERR: the last line of its standard error, "" if none), or -1 with
 * ERR set when it could not run, was killed or LINE stopped it. */
typedef int (*subproc_line_fn)(void *arg, const char *line, size_t len, int too_long);
int subproc_lines(const char *const *argv, int timeout_s, size_t maxline, subproc_line_fn line,
                  void *arg, char *err, size_t errlen);

/* Rows of a query held in memory (the connection streams, so nested queries
 * have to wait until a result is read whole). */
struct rows {
    size_t n, cap;
    int ncol;
    char **v;                   /* n * ncol strings, NULL for SQL NULL */
};
int rows_collect(void *arg, int ncol, const char *const *col, const unsigned long *len);
const char *rows_cell(const struct rows *r, size_t row, int col);
void rows_free(struct rows *r);

/* Embedded SQL (generated from sql/). */
extern const char sql_schema[];
extern const char sql_grants[];
/* The schema migrations of sql/migrations/, oldest first (embed.sh). */
struct sql_migration { int version; const char *sql; };
extern const struct sql_migration sql_migrations[];
extern const size_t sql_migrations_count;

/* Warns on stderr, one line a row, about keys that do not compare the way
 * guardlist compares them (keyreport.c).  Returns how many, or -1 with ERR. */
long long keyreport_warn(struct db *db, char *err, size_t errlen);

#endif
