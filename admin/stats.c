/*
 * stats - guardlist stats: what the database knows (lib/stats.c) as text
 * for a person, JSON for scripts, or a Prometheus text file for
 * node_exporter's textfile collector.
 *
 * The text file is written whole to a temporary file beside it and renamed
 * over it, so the collector never reads half a file.  Senders came from the
 * network: escaped in the text (\xNN) and JSON, and never put in a metric
 * (no label a stranger chooses).
 */
#include "admin.h"
#include "json.h"
#include "stats.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: guardlist stats [--json] [--prometheus FILE]\n"
    "What the database knows: protected recipients, rules (allow, block, other),\n"
    "challenges open (arrived and still waiting), approved, denied and expired\n"
    "(decided) in the last day and the last 7 days, the median time a guardian\n"
    "took to decide (last 7 days), the senders held off most often (open\n"
    "challenges by attempts) and the last 30 days day by day (--json).\n"
    "  --json             one JSON object instead of the text\n"
    "  --prometheus FILE  write the figures in Prometheus text format to FILE\n"
    "                     (for node_exporter's textfile collector; written to a\n"
    "                     temporary file and renamed), print nothing\n";

/* S with control characters as \xNN: senders came from the network. */
static void put_printable(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

static void print_text(const struct stats *s, FILE *f)
{
    char d[32];

    fprintf(f, "guardlist statistics, %s (the database's date)\n\n", s->today);
    fprintf(f, "Protected recipients   %lld\n", s->protected_recipients);
    fprintf(f, "Rules                  %lld allow, %lld block, %lld other\n", s->rules_allow, s->rules_block,
            s->rules_other);
    fprintf(f, "Waiting now            %lld challenge%s\n\n", s->open_now, s->open_now == 1 ? "" : "s");
    fprintf(f, "Challenges             last day  last 7 days\n");
    static const char *const words[STATS_NSTATUS] = { "arrived, still open", "approved", "denied", "expired" };
    for (int st = 0; st < STATS_NSTATUS; st++)
        fprintf(f, "  %-20s %8lld  %11lld\n", words[st], s->challenges[STATS_1D][st], s->challenges[STATS_7D][st]);
    stats_duration(s->median_decision_s, d, sizeof(d));
    if (s->decisions_7d > 0)
        fprintf(f, "\nMedian time to decide  %s (%lld decision%s in the last 7 days)\n", d, s->decisions_7d,
                s->decisions_7d == 1 ? "" : "s");
    else
        fprintf(f, "\nMedian time to decide  - (no decisions in the last 7 days)\n");
    if (s->ntop == 0) {
        fprintf(f, "\nNobody is held off right now.\n");
        return;
    }
    fprintf(f, "\nSenders held off most often (open challenges)\n");
    fprintf(f, "  %8s  %10s  %s\n", "ATTEMPTS", "RECIPIENTS", "SENDER");
    for (int i = 0; i < s->ntop; i++) {
        fprintf(f, "  %8lld  %10lld  ", s->top[i].attempts, s->top[i].recipients);
        put_printable(f, s->top[i].sender[0] ? s->top[i].sender : "<>");
        fputc('\n', f);
    }
}

static void print_json(const struct stats *s, FILE *f)
{
    char day[16];

    fprintf(f, "{\"date\":\"%s\",\"generated\":%lld,\"protected_recipients\":%lld,", s->today, s->now,
            s->protected_recipients);
    fprintf(f, "\"rules\":{\"allow\":%lld,\"block\":%lld,\"other\":%lld},\"open_now\":%lld,\"challenges\":{",
            s->rules_allow, s->rules_block, s->rules_other, s->open_now);
    for (int w = 0; w < STATS_NWINDOW; w++) {
        fprintf(f, "%s\"%s\":{", w ? "," : "", stats_window_name(w));
        for (int st = 0; st < STATS_NSTATUS; st++)
            fprintf(f, "%s\"%s\":%lld", st ? "," : "", stats_status_name(st), s->challenges[w][st]);
        fputc('}', f);
    }
    fprintf(f, "},\"decisions_7d\":%lld,\"median_decision_seconds\":", s->decisions_7d);
    if (s->median_decision_s >= 0)
        fprintf(f, "%.1f", s->median_decision_s);
    else
        fputs("null", f);
    fputs(",\"held_off\":[", f);
    for (int i = 0; i < s->ntop; i++) {
        fprintf(f, "%s{\"sender\":", i ? "," : "");
        json_string(f, s->top[i].sender);
        fprintf(f, ",\"attempts\":%lld,\"recipients\":%lld}", s->top[i].attempts, s->top[i].recipients);
    }
    fputs("],\"days\":[", f);
    for (int i = 0; i < STATS_DAYS; i++) {
        stats_day(s, i, 0, day, sizeof(day));
        fprintf(f, "%s{\"date\":\"%s\",\"created\":%lld,\"approved\":%lld}", i ? "," : "", day, s->created[i],
                s->approved[i]);
    }
    fputs("]}\n", f);
}

/* The textfile collector's format: HELP and TYPE, then the samples. */
static void print_prometheus(const struct stats *s, FILE *f)
{
    fputs("# HELP guardlist_stats_protected_recipients Protected recipient keys in the database.\n"
          "# TYPE guardlist_stats_protected_recipients gauge\n", f);
    fprintf(f, "guardlist_stats_protected_recipients %lld\n", s->protected_recipients);
    fputs("# HELP guardlist_stats_rules Sender rules and global rules, by what their action does.\n"
          "# TYPE guardlist_stats_rules gauge\n", f);
    fprintf(f, "guardlist_stats_rules{kind=\"allow\"} %lld\nguardlist_stats_rules{kind=\"block\"} %lld\n"
            "guardlist_stats_rules{kind=\"other\"} %lld\n", s->rules_allow, s->rules_block, s->rules_other);
    fputs("# HELP guardlist_stats_challenges Challenges in the window: open (arrived, still waiting), "
          "approved, denied, expired (decided).\n# TYPE guardlist_stats_challenges gauge\n", f);
    for (int w = 0; w < STATS_NWINDOW; w++)
        for (int st = 0; st < STATS_NSTATUS; st++)
            fprintf(f, "guardlist_stats_challenges{status=\"%s\",window=\"%s\"} %lld\n", stats_status_name(st),
                    stats_window_name(w), s->challenges[w][st]);
    fputs("# HELP guardlist_stats_decision_median_seconds Median time from a challenge's first attempt to a "
          "person's decision (NaN: none in the window).\n"
          "# TYPE guardlist_stats_decision_median_seconds gauge\n", f);
    if (s->median_decision_s >= 0)
        fprintf(f, "guardlist_stats_decision_median_seconds{window=\"7d\"} %.1f\n", s->median_decision_s);
    else
        fputs("guardlist_stats_decision_median_seconds{window=\"7d\"} NaN\n", f);
    fputs("# HELP guardlist_stats_generated_timestamp_seconds When these figures were read (the database's clock).\n"
          "# TYPE guardlist_stats_generated_timestamp_seconds gauge\n", f);
    fprintf(f, "guardlist_stats_generated_timestamp_seconds %lld\n", s->now);
}

/* Writes FILE through FILE.tmp.PID and rename(2).  Returns 0 or an exit status. */
static int write_prometheus(const struct stats *s, const char *path)
{
    char tmp[4200];

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
        return cli_fail(EXIT_USAGE, "--prometheus: the file name is too long");
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cli_fail(EXIT_RUNTIME, "cannot create %s: %s", tmp, strerror(errno));
    print_prometheus(s, f);
    int bad = ferror(f) | fflush(f) | fsync(fileno(f));
    if ((fclose(f) | bad) != 0) {
        int e = errno;
        unlink(tmp);
        return cli_fail(EXIT_RUNTIME, "cannot write %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return cli_fail(EXIT_RUNTIME, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    return 0;
}

int cmd_stats(struct cli *cli, int argc, char **argv)
{
    static const struct option lo[] = { { "json", no_argument, NULL, 'j' },
                                        { "prometheus", required_argument, NULL, 'p' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    const char *prom = NULL;
    int json = 0, opt;
    char err[800];

    while ((opt = getopt_long(argc, argv, "jp:h", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (opt == 'j') {
            json = 1;
        } else if (opt == 'p') {
            prom = optarg;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist stats --help");
        }
    }
    if (optind != argc)
        return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    if (prom && (!*prom || json))
        return cli_fail(EXIT_USAGE, prom[0] ? "--prometheus and --json exclude each other"
                                            : "--prometheus needs a file name");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    struct stats *s = malloc(sizeof(*s));
    if (!s)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    int rc = 0;
    if (stats_read(db, s, err, sizeof(err)) < 0)
        rc = cli_fail(EXIT_RUNTIME, "database: %s", err);
    else if (prom)
        rc = write_prometheus(s, prom);
    else if (json)
        print_json(s, stdout);
    else
        print_text(s, stdout);
    free(s);
    return rc;
}
