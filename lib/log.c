/*
 * log - one line per event, to stderr or syslog.
 *
 * Callers: every program.  Text that came from the network must pass through
 * log_printable() before it reaches a log line, so a hostile client cannot
 * forge lines or smuggle terminal escapes.  Never exits: fatal is a severity,
 * stopping is the program's decision.
 */
#include "log.h"
#include "strcopy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_program = "guardlist";
static enum log_target log_target = LOG_TO_STDERR;
static enum log_level log_level = LOG_LVL_INFO;     /* atomic: a reload sets it while threads log */

static const char *const level_word[] = { "debug", "info", "warning", "error", "fatal" };

/* Lines held by log_hold() in this thread, written by log_release() once
 * there are HOLD_WRITE bytes or the oldest is HOLD_WAIT_MS old: one
 * write(2) for a few hundred decision lines rather than one a wake-up. */
#define HOLD_MAX (256 * 1024)
#define HOLD_WRITE (64 * 1024)
#define LINE_MAX_LEN 4096           /* a line's text; longer is cut */
#define PREFIX_MAX 80               /* the time stamp and level word, without the program */
static __thread int hold_on;
static __thread size_t hold_len;
static __thread long hold_since_ms;     /* when the oldest held line came */
static __thread char *hold_buf;         /* HOLD_MAX bytes, allocated by the first log_hold() */

static long coarse_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hold_flush(void)
{
    if (hold_len > 0)
        fwrite(hold_buf, 1, hold_len, stderr);     /* one write(2): stderr is unbuffered */
    hold_len = 0;
}

void log_hold(void)
{
    /* A thread's own buffer, on the heap: in thread-local storage every
     * thread of the program would carry it. */
    if (!hold_buf && log_target == LOG_TO_STDERR)
        hold_buf = malloc(HOLD_MAX);
    hold_on = hold_buf != NULL;
}

int log_release(void)
{
    hold_on = 0;
    if (hold_len > 0 && (hold_len >= HOLD_WRITE || coarse_ms() - hold_since_ms >= HOLD_WAIT_MS))
        hold_flush();
    return hold_len > 0;
}

void log_flush(void)
{
    hold_flush();
    free(hold_buf);
    hold_buf = NULL;
    hold_on = 0;
}

void log_init(const char *program, enum log_target target, enum log_level level)
{
    log_program = program;
    log_target = target;
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
    if (target == LOG_TO_SYSLOG)
        openlog(program, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level level)
{
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int log_enabled(enum log_level level)
{
    return level >= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

/* Writes "STAMP.mmmZ PROGRAM: LEVEL: " at OUT (room for PREFIX_MAX + the
 * program's name); returns its length. */
static size_t line_prefix(char *out, const char *stamp, long ms, enum log_level level)
{
    size_t room = PREFIX_MAX + strlen(log_program), n = 0;
    char millis[] = { '.', (char)('0' + ms / 100 % 10), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z',
                      ' ', '\0' };

    str_append(out, room, &n, stamp);
    str_append(out, room, &n, millis);
    str_append(out, room, &n, log_program);
    str_append(out, room, &n, ": ");
    str_append(out, room, &n, level_word[level]);
    str_append(out, room, &n, ": ");
    return n;
}

/* The time stamp of now, converted to a calendar date once a second per
 * thread, not once a line; *MS gets the milliseconds. */
static const char *stamp_now(long *ms)
{
    static __thread time_t stamp_sec = (time_t)-1;
    static __thread char stamp[32];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != stamp_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        stamp_sec = ts.tv_sec;
    }
    *ms = ts.tv_nsec / 1000000L;
    return stamp;
}

/* Where a held line of LEVEL goes: past the prefix, with LINE_MAX_LEN
 * bytes of room; NULL when the line is not held.  held_end() ends it. */
static char *held_line(enum log_level level)
{
    long ms;

    size_t need = PREFIX_MAX + strlen(log_program) + LINE_MAX_LEN + 1;     /* the longest line */

    if (!hold_on || level > LOG_LVL_INFO || need > HOLD_MAX)
        return NULL;
    if (HOLD_MAX - hold_len < need)
        hold_flush();
    if (hold_len == 0)
        hold_since_ms = coarse_ms();
    const char *stamp = stamp_now(&ms);
    char *at = hold_buf + hold_len;
    size_t p = line_prefix(at, stamp, ms, level);
    hold_len += p;
    return at + p;
}

static void held_end(size_t len)
{
    hold_buf[hold_len + len] = '\n';
    hold_len += len + 1;
}

/* Writes LINE (the text, formatted) of LEVEL where it goes now. */
static void emit(enum log_level level, const char *line)
{
    static const int syslog_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT };
    long ms;

    if (log_target == LOG_TO_SYSLOG) {
        syslog(syslog_prio[level], "%s: %s", level_word[level], line);
        return;
    }
    const char *stamp = stamp_now(&ms);
    hold_flush();       /* keeps the order: held lines first */
    fprintf(stderr, "%s.%03ldZ %s: %s: %s\n", stamp, ms, log_program, level_word[level], line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[LINE_MAX_LEN], *at;
    va_list ap;

    if (level < __atomic_load_n(&log_level, __ATOMIC_RELAXED))
        return;
    if (log_target == LOG_TO_STDERR && (at = held_line(level)) != NULL) {
        /* Formatted once, straight into the held lines. */
        va_start(ap, fmt);
        int n = vsnprintf(at, LINE_MAX_LEN, fmt, ap);
        va_end(ap);
        held_end(n < 0 ? 0 : (size_t)n < LINE_MAX_LEN ? (size_t)n : LINE_MAX_LEN - 1);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    emit(level, line);
}

void log_concat(enum log_level level, ...)
{
    char line[LINE_MAX_LEN], *at = NULL;
    size_t n = 0;
    va_list ap;

    if (level < __atomic_load_n(&log_level, __ATOMIC_RELAXED))
        return;
    if (log_target == LOG_TO_STDERR)
        at = held_line(level);
    char *out = at ? at : line;
    va_start(ap, level);
    out[0] = '\0';
    str_vconcat(out, LINE_MAX_LEN, &n, ap);
    va_end(ap);
    if (at) {
        held_end(n);
        return;
    }
    emit(level, line);
}

void log_notice_line(int warning, const char *line)
{
    log_msg(warning ? LOG_LVL_WARNING : LOG_LVL_INFO, "%s", line);
}

char *log_printable(char *out, size_t outlen, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (outlen == 0)
        return out;
    for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p; p++) {
        int plain = *p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"';
        size_t need = plain ? 1 : 4;

        if (o + need + 4 > outlen) {     /* room for "..." and NUL */
            if (outlen >= 4) {
                memcpy(out + (o < outlen - 4 ? o : outlen - 4), "...", 4);
                return out;
            }
            break;
        }
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o < outlen ? o : outlen - 1] = '\0';
    return out;
}
