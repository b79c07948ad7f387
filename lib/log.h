/* log.h - one-line logging to stderr or syslog, and printable copies of network text. */
#ifndef GUARDLIST_LOG_H
#define GUARDLIST_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARNING, LOG_LVL_ERROR, LOG_LVL_FATAL };
enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_init(const char *program, enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs the concatenation of the strings after LEVEL, up to a NULL: the
 * same line as log_msg(level, "%s%s...", ...) without printf, for the one
 * line a request. */
void log_concat(enum log_level level, ...) __attribute__((sentinel));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_fatal(...) log_msg(LOG_LVL_FATAL, __VA_ARGS__)

/* Between log_hold() and log_release(), this thread's debug and info lines
 * to stderr are kept in memory and written with one write(2): at
 * log_release() once 64 KB are held or the oldest is HOLD_WAIT_MS old
 * (earlier when 256 KB are full); a warning or worse writes them first,
 * then itself.  The daemon holds its decision lines while it answers the
 * requests of one wake-up, so the replies leave before the log is written,
 * and a busy daemon writes its log in large pieces.  No effect with syslog. */
#define HOLD_WAIT_MS 100
void log_hold(void);
/* Returns 1 while lines are still held: call it again (log_hold() ...
 * log_release()) within HOLD_WAIT_MS, or log_flush(). */
int log_release(void);
/* Writes this thread's held lines now and frees its buffer (a thread's end). */
void log_flush(void);

/* Logs LINE as a warning (WARNING non-zero) or as info: the function
 * db_set_notice() takes, so every program logs its moves between database
 * servers alike. */
void log_notice_line(int warning, const char *line);

/* Copies IN into OUT (size OUTLEN) with every byte outside printable ASCII,
 * and the backslash and double quote, written as \xHH.  Always NUL-terminates;
 * a copy that does not fit ends in "..." (logging only, never for decisions).
 * Returns OUT. */
char *log_printable(char *out, size_t outlen, const char *in);

#endif
