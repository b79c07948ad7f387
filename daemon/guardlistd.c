/*
 * guardlistd - the guardlist Postfix policy server.
 *
 * One event-loop thread (epoll) owns every client connection and decides
 * each RCPT request from the in-memory ruleset (decide.c), so a known pair
 * costs no database round trip.  Two helper threads talk to the database:
 * the refresher (new rulesets) and the challenge writer (unknown senders).
 * Requests on one connection are answered strictly in order.
 *
 * A new unknown pair is answered only once its challenge is committed.  A
 * pair already recorded (pairset.c) is answered at once and its refresh is
 * written behind the reply, one write per pair at a time, so retrying
 * strangers cost the loop no database wait.
 *
 * SECURITY: clients are untrusted: policy.c bounds every read, a malformed
 * request closes its connection, and nothing is ever allowed when the answer
 * is unknown (451 4.3.0 instead).  Started as root, it binds, reads its
 * config and secret, then becomes [policy] run_as_user before any thread or
 * database connection exists, and refuses to run as root without one.
 */
#include "caps.h"
#include "config.h"
#include "db.h"
#include "decide.h"
#include "guardlistd.h"
#include "listener.h"
#include "log.h"
#include "pairset.h"
#include "policy.h"
#include "privs.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define VERSION "0.1.0"
#define IN_BUF 4096
#define OUT_BUF 4096
#define PAIRS_MAX 100000            /* recorded pairs remembered (~100 bytes each) */

struct conn {
    int fd;
    uint64_t id;
    int waiting;                    /* a challenge write is out for this request */
    int eof;                        /* peer closed its side */
    int detached;                   /* hung up while waiting: out of epoll */
    unsigned int events;            /* registered epoll mask */
    time_t last_active, req_start;
    size_t inlen, outlen, outoff;
    char peer[64];
    char client[INET6_ADDRSTRLEN + 8];  /* peer address without the port, "unix" */
    char pending_reply[300];        /* sent when the challenge is recorded */
    char pending_log[1400];         /* the decision line, reply added later */
    struct policy_req req;
    char in[IN_BUF];
    char out[OUT_BUF];
};

static struct config cfg;
static struct decide_opts opts;
static struct ruleset *rules;
static struct conn **conns;
static size_t conns_cap, nconns;
static uint64_t next_conn_id = 1;
static int epfd, listen_fd = -1, wake_fd, sig_fd;
static struct refresher *refresher;
static struct challenge_writer *writer;
static struct pairset *pairs;
static struct pairset *open_per_client;        /* ("", address) -> open connections */

void wake_loop(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n;    /* a full counter already means "wake up" */
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: guardlistd [-f] [-c FILE]\n"
            "       guardlistd --check-config [-c FILE]\n"
            "\n"
            "The guardlist Postfix policy server: lets only approved senders reach\n"
            "protected recipients, and records a challenge for everyone else.\n"
            "\n"
            "  -c, --config FILE   configuration file (default: $GUARDLIST_CONFIG,\n"
            "                      else " CONFIG_DEFAULT_PATH ")\n"
            "  -f, --foreground    stay in the foreground (default: become a daemon,\n"
            "                      logging to syslog)\n"
            "  -n, --check-config  read the configuration, report errors, and exit\n"
            "  -h, --help          show this help\n"
            "  -V, --version       show the version\n"
            "\n"
            "Started as root it binds, reads its config and secret, then runs as\n"
            "[policy] run_as_user (required as root; never keeps root).\n"
            "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration\n"
            "(the file must then be readable by run_as_user).\n"
            "Postfix: smtpd_recipient_restrictions = ..., reject_unauth_destination,\n"
            "         check_policy_service inet:127.0.0.1:10040\n"
            "Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n");
}

static void apply_options(void)
{
    opts.unknown_sender = cfg.policy.unknown_sender;
    opts.on_allow = cfg.policy.on_allow;
    opts.null_sender = cfg.policy.null_sender;
    opts.delims = cfg.policy.recipient_delimiter;
    log_set_level(cfg.log.level);
}

/* ---- connections ---- */

static void conn_close(struct conn *c, const char *why)
{
    if (why)
        log_debug("closing connection from %s: %s", c->peer, why);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    nconns--;
    struct pair_entry *e = pairset_get(open_per_client, "", c->client);
    if (e && e->hits > 0)
        e->hits--;
    free(c);
}

static void conn_update_events(struct conn *c)
{
    unsigned int ev = 0;

    if (c->detached)
        return;
    if (!c->waiting && !c->eof && c->inlen < IN_BUF && c->outlen + POLICY_REPLY_MAX <= OUT_BUF)
        ev |= EPOLLIN;
    if (c->outlen > c->outoff)
        ev |= EPOLLOUT;
    if (ev != c->events) {
        struct epoll_event e = { .events = ev, .data.fd = c->fd };
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
        c->events = ev;
    }
}

/* Returns -1 if the connection was closed. */
static int conn_flush(struct conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            conn_close(c, "write failed");
            return -1;
        }
        c->outoff += (size_t)n;
    }
    c->outoff = c->outlen = 0;
    return 0;
}

static void conn_reply(struct conn *c, const char *action, const char *logline)
{
    char printable[POLICY_REPLY_MAX * 4];
    int n = policy_format_reply(c->out + c->outlen, OUT_BUF - c->outlen, action);

    if (n < 0) {    /* cannot happen: actions are validated; never send half a reply */
        n = policy_format_reply(c->out + c->outlen, OUT_BUF - c->outlen, REPLY_TEMPFAIL);
        action = REPLY_TEMPFAIL;
    }
    c->outlen += (size_t)n;
    if (logline)
        log_info("%s reply=\"%s\"", logline, log_printable(printable, sizeof(printable), action));
}

static void build_logline(char *out, size_t outlen, const struct policy_req *r, const struct decision *d)
{
    char s[300], rc[300], ca[80], cn[300], rule[600], pk[300];

    snprintf(out, outlen, "decision sender=\"%s\" recipient=\"%s\" client=%s[%s] protected=\"%s\" rule=\"%s\" why=\"%s\"",
             log_printable(s, sizeof(s), policy_get(r, PA_SENDER)),
             log_printable(rc, sizeof(rc), policy_get(r, PA_RECIPIENT)),
             log_printable(cn, sizeof(cn), policy_get(r, PA_CLIENT_NAME) ? policy_get(r, PA_CLIENT_NAME) : "unknown"),
             log_printable(ca, sizeof(ca), policy_get(r, PA_CLIENT_ADDRESS) ? policy_get(r, PA_CLIENT_ADDRESS) : "?"),
             log_printable(pk, sizeof(pk), d->protected_key[0] ? d->protected_key : "-"),
             decision_rule_text(d, rule, sizeof(rule)), d->detail);
}

/* A challenge write for the pair of D, asked for by the request on C.  NULL
 * when out of memory. */
static struct challenge_job *new_job(const struct conn *c, const struct decision *d)
{
    const struct policy_req *r = &c->req;
    struct challenge_job *job = calloc(1, sizeof(*job));

    if (!job)
        return NULL;
    job->fd = c->fd;
    job->conn_id = c->id;
    job->attempts = 1;
    snprintf(job->sender, sizeof(job->sender), "%s", d->challenge_sender);
    snprintf(job->recipient, sizeof(job->recipient), "%s", d->challenge_recipient);
    snprintf(job->protected_key, sizeof(job->protected_key), "%s", d->protected_key);
    const char *ca = policy_get(r, PA_CLIENT_ADDRESS), *cn = policy_get(r, PA_CLIENT_NAME);
    if (ca && strlen(ca) < sizeof(job->client_address) && utf8_valid(ca, strlen(ca)))
        snprintf(job->client_address, sizeof(job->client_address), "%s", ca);
    if (cn && strlen(cn) < sizeof(job->client_name) && utf8_valid(cn, strlen(cn)))
        snprintf(job->client_name, sizeof(job->client_name), "%s", cn);
    return job;
}

/* Sends the retries counted in E (the pair of J) to the writer in J, a
 * write-behind refresh nobody waits for.  Returns 1 if J went, 0 if the
 * caller still owns it. */
static int send_counted_retries(struct pair_entry *e, struct challenge_job *j)
{
    if (!e || e->closed || !e->recorded || e->refresh_out || e->hits == 0)
        return 0;
    j->fd = -1;
    j->attempts = e->hits;
    j->ok = j->closed = 0;
    if (challenge_submit(writer, j) < 0)
        return 0;
    e->hits = 0;
    e->refresh_out = 1;
    return 1;
}

static void handle_request(struct conn *c)
{
    struct decision d;
    char logline[sizeof(c->pending_log)];
    const struct policy_req *r = &c->req;
    int want_log = log_enabled(LOG_LVL_INFO);

    decide(rules, &opts, policy_get(r, PA_PROTOCOL_STATE), policy_get(r, PA_SENDER),
           policy_get(r, PA_RECIPIENT), &d);
    if (want_log)
        build_logline(logline, sizeof(logline), r, &d);
    /* Non-RCPT states would flood the log with DUNNO lines that say nothing. */
    if (d.kind == DK_NOT_RCPT)
        want_log = 0;
    if (d.kind != DK_CHALLENGE) {
        conn_reply(c, d.reply, want_log ? logline : NULL);
        return;
    }
    struct pair_entry *e = pairset_get(pairs, d.challenge_sender, d.challenge_recipient);
    if (e && e->recorded) {
        conn_reply(c, e->closed ? REPLY_ACCESS_DENIED : d.reply, want_log ? logline : NULL);
        if (!e->closed) {
            e->hits++;
            struct challenge_job *refresh = e->refresh_out ? NULL : new_job(c, &d);
            if (refresh && !send_counted_retries(e, refresh))
                free(refresh);      /* not queued: the retries stay counted in E */
        }
        return;
    }
    struct challenge_job *job = new_job(c, &d);
    if (!job) {
        conn_reply(c, REPLY_TEMPFAIL, want_log ? logline : NULL);
        return;
    }
    caps_roll(time(NULL));
    job->capped = caps_reached(job->protected_key, job->client_address);
    if (challenge_submit(writer, job) < 0) {
        free(job);
        log_warning("challenge queue full, answering 451");
        conn_reply(c, REPLY_TEMPFAIL, want_log ? logline : NULL);
        return;
    }
    c->waiting = 1;
    snprintf(c->pending_reply, sizeof(c->pending_reply), "%s", d.reply);
    if (want_log)
        snprintf(c->pending_log, sizeof(c->pending_log), "%s", logline);
    else
        c->pending_log[0] = '\0';
}

/* Parses and answers what is buffered.  Returns -1 if the connection closed. */
static int conn_process(struct conn *c, time_t now)
{
    char err[160];

    for (;;) {
        int need_input = 0;

        while (!c->waiting && c->inlen > 0 && c->outlen + POLICY_REPLY_MAX <= OUT_BUF) {
            size_t used = 0;
            int was_idle = !policy_in_progress(&c->req);
            enum policy_status st = policy_feed(&c->req, c->in, c->inlen, &used, err, sizeof(err));

            memmove(c->in, c->in + used, c->inlen - used);
            c->inlen -= used;
            if (st == POLICY_ERROR) {
                log_warning("malformed policy request from %s: %s; closing the connection", c->peer, err);
                if (conn_flush(c) == 0)         /* answers already given still go out */
                    conn_close(c, NULL);
                return -1;
            }
            if (st == POLICY_MORE) {
                if (was_idle && policy_in_progress(&c->req))
                    c->req_start = now;
                need_input = 1;
                break;
            }
            handle_request(c);
            policy_reset(&c->req);
        }
        if (c->outlen > c->outoff && conn_flush(c) < 0)
            return -1;
        if (need_input || c->waiting || c->inlen == 0 || c->outlen > 0)
            break;
    }
    if (c->eof && !c->waiting && c->outlen == 0 && c->inlen == 0) {
        if (policy_in_progress(&c->req))
            log_warning("connection from %s closed in the middle of a request", c->peer);
        conn_close(c, "closed by peer");
        return -1;
    }
    conn_update_events(c);
    return 0;
}

static void conn_readable(struct conn *c, time_t now)
{
    while (c->inlen < IN_BUF) {
        ssize_t n = read(c->fd, c->in + c->inlen, IN_BUF - c->inlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            conn_close(c, "read failed");
            return;
        }
        if (n == 0) {
            c->eof = 1;
            break;
        }
        c->inlen += (size_t)n;
        c->last_active = now;
        /* A short read emptied the socket: the listening is level-triggered,
         * so whatever arrives next wakes us again; no read(2) to see EAGAIN. */
        if ((size_t)n < IN_BUF - (c->inlen - (size_t)n))
            break;
    }
    conn_process(c, now);
}

static void accept_all(time_t now)
{
    for (;;) {
        struct sockaddr_storage ss = { 0 };
        socklen_t sl = sizeof(ss);
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        static time_t last_full_warning;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                log_warning("accept: %s", strerror(errno));
            return;
        }
        if (nconns >= (size_t)cfg.policy.max_connections || (size_t)fd >= conns_cap) {
            if (now != last_full_warning)
                log_warning("connection limit %d reached, refusing a connection", cfg.policy.max_connections);
            last_full_warning = now;
            close(fd);
            continue;
        }
        struct conn *c = malloc(sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        memset(c, 0, offsetof(struct conn, req));
        policy_reset(&c->req);
        c->fd = fd;
        c->id = next_conn_id++;
        c->last_active = now;
        if (ss.ss_family == AF_UNIX) {
            snprintf(c->peer, sizeof(c->peer), "unix");
            snprintf(c->client, sizeof(c->client), "unix");
        } else {
            char p[8];
            if (getnameinfo((struct sockaddr *)&ss, sl, c->client, sizeof(c->client), p, sizeof(p),
                            NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
                snprintf(c->peer, sizeof(c->peer), "%s:%s", c->client, p);
            } else {
                snprintf(c->peer, sizeof(c->peer), "?");
                snprintf(c->client, sizeof(c->client), "?");
            }
        }
        /* One client (a runaway or hostile one) cannot take every slot. */
        struct pair_entry *open = pairset_put(open_per_client, "", c->client);
        if (open && open->hits >= (unsigned int)cfg.policy.max_connections_per_client) {
            if (now != last_full_warning)
                log_warning("connection limit %d per client reached for %s, refusing a connection",
                            cfg.policy.max_connections_per_client, c->client);
            last_full_warning = now;
            close(fd);
            free(c);
            continue;
        }
        if (open)
            open->hits++;
        struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };
        c->events = EPOLLIN;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
            if (open)
                open->hits--;
            close(fd);
            free(c);
            continue;
        }
        conns[fd] = c;
        nconns++;
    }
}

static void take_challenge_results(time_t now)
{
    struct challenge_job *j = challenge_take_done(writer);

    while (j) {
        struct challenge_job *next = j->next;
        struct conn *c = (j->fd >= 0 && (size_t)j->fd < conns_cap) ? conns[j->fd] : NULL;

        /* A pair found closed means the rules in memory are behind a denial
         * or expiry: forget every pair, so each is checked by the writer again
         * until the refresh brings the closed challenges. */
        if (j->ok && j->closed)
            pairset_unverify(pairs);
        if (j->ok && j->created)
            caps_count(j->protected_key, j->client_address);
        struct pair_entry *e = j->ok && !j->none ? pairset_put(pairs, j->sender, j->recipient)
                                                 : pairset_get(pairs, j->sender, j->recipient);
        if (e) {
            if (j->fd < 0)
                e->refresh_out = 0;
            e->recorded = j->ok && !j->none;
            e->closed = j->ok && j->closed;
            if (!j->ok && j->fd < 0)
                e->hits += j->attempts;     /* not written: goes with the next write */
        }
        if (c && c->id == j->conn_id && c->waiting) {
            c->waiting = 0;
            const char *reply = !j->ok ? REPLY_TEMPFAIL : j->closed ? REPLY_ACCESS_DENIED
                              : !j->none ? c->pending_reply
                              : opts.unknown_sender == UNKNOWN_REJECT ? REPLY_ACCESS_DENIED : REPLY_CAPPED;
            conn_reply(c, reply, c->pending_log[0] ? c->pending_log : NULL);
            c->last_active = now;
            conn_process(c, now);
        }
        /* Retries answered while this write was out go in one more. */
        if (!send_counted_retries(pairset_get(pairs, j->sender, j->recipient), j))
            free(j);
        j = next;
    }
}

static void sweep_timeouts(time_t now)
{
    for (size_t fd = 0; fd < conns_cap; fd++) {
        struct conn *c = conns[fd];
        if (!c || c->waiting)
            continue;
        if (policy_in_progress(&c->req) && now - c->req_start > cfg.policy.read_timeout) {
            log_warning("read timeout on connection from %s; closing", c->peer);
            conn_close(c, NULL);
        } else if (!policy_in_progress(&c->req) && now - c->last_active > cfg.policy.idle_timeout) {
            conn_close(c, "idle timeout");
        }
    }
}

static void reload_config(void)
{
    struct config fresh;
    char err[600];

    config_defaults(&fresh);
    if (config_load(&fresh, cfg.path, err, sizeof(err)) < 0) {
        log_error("SIGHUP: configuration not reloaded, keeping the old one: %s", err);
        return;
    }
    if (strcmp(fresh.policy.listen, cfg.policy.listen) != 0
        || strcmp(fresh.policy.listen_group, cfg.policy.listen_group) != 0)
        log_warning("SIGHUP: listen changed; it takes effect after a restart");
    if (strcmp(fresh.policy.run_as_user, cfg.policy.run_as_user) != 0
        || strcmp(fresh.policy.run_as_group, cfg.policy.run_as_group) != 0)
        log_warning("SIGHUP: run_as_user or run_as_group changed; it takes effect after a restart");
    if (memcmp(&fresh.db, &cfg.db, sizeof(fresh.db)) != 0
        || memcmp(&fresh.policy.account, &cfg.policy.account, sizeof(fresh.policy.account)) != 0)
        log_warning("SIGHUP: database settings changed; they take effect after a restart");
    fresh.policy.max_connections = fresh.policy.max_connections > (int)conns_cap
        ? (int)conns_cap : fresh.policy.max_connections;
    snprintf(fresh.policy.listen, sizeof(fresh.policy.listen), "%s", cfg.policy.listen);
    memcpy(fresh.policy.listen_group, cfg.policy.listen_group, sizeof(fresh.policy.listen_group));
    memcpy(fresh.policy.run_as_user, cfg.policy.run_as_user, sizeof(fresh.policy.run_as_user));
    memcpy(fresh.policy.run_as_group, cfg.policy.run_as_group, sizeof(fresh.policy.run_as_group));
    fresh.db = cfg.db;
    fresh.policy.account = cfg.policy.account;
    cfg = fresh;
    apply_options();
    refresher_set_intervals(refresher, cfg.policy.refresh_interval, cfg.policy.full_reload_interval);
    log_info("configuration reloaded from %s", cfg.path);
}

static int event_loop(void)
{
    struct epoll_event ev[256];
    time_t last_sweep = time(NULL);

    for (;;) {
        int n = epoll_wait(epfd, ev, 256, 500);
        time_t now = time(NULL);

        if (n < 0 && errno != EINTR) {
            log_fatal("epoll_wait: %s", strerror(errno));
            return 1;
        }
        /* The replies of this wake-up go out first, its log lines after. */
        log_hold();
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;

            if (fd == listen_fd) {
                accept_all(now);
            } else if (fd == wake_fd) {
                uint64_t v;
                ssize_t r = read(wake_fd, &v, sizeof(v));
                (void)r;
                struct ruleset *fresh = refresher_take(refresher);
                if (fresh) {
                    ruleset_free(rules);
                    rules = fresh;
                    pairset_unverify(pairs);    /* approvals and closes are in the new rules */
                }
                take_challenge_results(now);
            } else if (fd == sig_fd) {
                struct signalfd_siginfo si;
                while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    if (si.ssi_signo == SIGHUP) {
                        reload_config();
                    } else {
                        log_info("signal %u: stopping", si.ssi_signo);
                        log_release();
                        return 0;
                    }
                }
            } else if ((size_t)fd < conns_cap && conns[fd]) {
                struct conn *c = conns[fd];
                if (ev[i].events & EPOLLOUT) {
                    if (conn_flush(c) < 0)
                        continue;
                    if (conn_process(c, now) < 0)
                        continue;
                }
                if ((ev[i].events & (EPOLLHUP | EPOLLERR)) && c->eof && c->waiting) {
                    /* Nothing more to read and the answer is not ready:
                     * stop the level-triggered hang-up from spinning. */
                    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
                    c->detached = 1;
                    continue;
                }
                if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    conn_readable(c, now);
            }
        }
        if (now != last_sweep) {
            last_sweep = now;
            sweep_timeouts(now);
        }
        log_release();
    }
}

static void daemonize(void)
{
    pid_t pid = fork();

    if (pid < 0) {
        log_fatal("fork: %s", strerror(errno));
        exit(1);
    }
    if (pid > 0)
        _exit(0);
    setsid();
    pid = fork();
    if (pid < 0)
        exit(1);
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        exit(1);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        if (nul > 2)
            close(nul);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_arg = NULL;
    int foreground = 0, check_only = 0, drop = 0, opt, rc;
    char err[600];
    struct config_db dbp;
    struct privs run_as = { 0 };
    uid_t sock_owner = (uid_t)-1;
    gid_t sock_group = (gid_t)-1;
    int unix_listen;

    while ((opt = getopt_long(argc, argv, "c:fnhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_arg = optarg; break;
        case 'f': foreground = 1; break;
        case 'n': check_only = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("guardlistd %s\n", VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "guardlistd: error: unexpected argument '%s' (see guardlistd --help)\n", argv[optind]);
        return 2;
    }
    config_defaults(&cfg);
    if (config_load(&cfg, config_path(config_arg), err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s\n", err);
        return 2;
    }
    if (config_db_for(&cfg, &cfg.policy.account, &dbp, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s\n", err);
        return 2;
    }
    /* Who to become: decided before anything is opened. */
    unix_listen = strncmp(cfg.policy.listen, "unix:", 5) == 0;
    if (cfg.policy.listen_group[0] && !unix_listen) {
        fprintf(stderr, "guardlistd: error: %s: [policy] listen_group is for listen = unix:PATH only\n", cfg.path);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (cfg.policy.listen_group[0] && privs_group(cfg.policy.listen_group, &sock_group, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s: [policy] listen_group: %s\n", cfg.path, err);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (privs_is_root() && !cfg.policy.run_as_user[0] && !check_only) {
        fprintf(stderr, "guardlistd: error: started as root, and %s sets no [policy] run_as_user "
                "(set run_as_user = guardlist, an unprivileged user to run as after binding, "
                "or start guardlistd as that user)\n", cfg.path);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (cfg.policy.run_as_user[0]
        && privs_lookup(cfg.policy.run_as_user, cfg.policy.run_as_group, &run_as, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlistd: error: %s: [policy] run_as_user/run_as_group: %s\n", cfg.path, err);
        explicit_bzero(&dbp, sizeof(dbp));
        return 2;
    }
    if (check_only) {
        printf("guardlistd: %s: configuration ok\n", cfg.path);
        explicit_bzero(&dbp, sizeof(dbp));
        return 0;
    }
    drop = privs_is_root();
    log_init("guardlistd", foreground ? cfg.log.target : LOG_TO_SYSLOG, cfg.log.level);
    apply_options();

    /* The socket belongs to the user the daemon becomes; with listen_group
     * only that group may connect, else whoever can reach its directory
     * (Postfix's private/ is 0700 postfix, as for Postfix's own sockets). */
    if (drop) {
        sock_owner = run_as.uid;
        if (!cfg.policy.listen_group[0])
            sock_group = run_as.gid;
    }
    listen_fd = listener_open(cfg.policy.listen, sock_owner, sock_group,
                              cfg.policy.listen_group[0] ? 0660 : 0666, err, sizeof(err));
    if (listen_fd < 0) {
        log_fatal("%s", err);
        fprintf(stderr, "guardlistd: error: %s\n", err);
        explicit_bzero(&dbp, sizeof(dbp));
        return 1;
    }
    if (!foreground)
        daemonize();

    /* Every Postfix smtpd process may hold a connection: make room for them. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg.policy.max_connections + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)cfg.policy.max_connections + 64
            ? rl.rlim_max : (rlim_t)cfg.policy.max_connections + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* Root is needed for nothing more: the socket is bound, the config and
     * the database password are read.  Threads start only after this. */
    if (drop) {
        if (privs_drop(&run_as, err, sizeof(err)) < 0) {
            log_fatal("%s", err);
            fprintf(stderr, "guardlistd: error: %s\n", err);
            explicit_bzero(&dbp, sizeof(dbp));
            return 1;
        }
        log_info("running as user %s (uid %ld), group %s (gid %ld)", run_as.user, (long)run_as.uid,
                 run_as.group, (long)run_as.gid);
        if (access(cfg.path, R_OK) < 0)
            log_warning("%s is not readable by user %s (%s): SIGHUP cannot re-read it, a change needs "
                        "a restart (chgrp %s %s; chmod 640 %s)", cfg.path, run_as.user, strerror(errno),
                        run_as.group, cfg.path, cfg.path);
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);        /* before threads: they inherit it */
    signal(SIGPIPE, SIG_IGN);
    sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    conns_cap = (size_t)cfg.policy.max_connections + 64;
    conns = calloc(conns_cap, sizeof(*conns));     /* NOLINT(bugprone-sizeof-expression): pointers */
    if (sig_fd < 0 || wake_fd < 0 || epfd < 0 || !conns) {
        log_fatal("cannot set up the event loop: %s", strerror(errno));
        return 1;
    }
    struct epoll_event e = { .events = EPOLLIN };
    e.data.fd = listen_fd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &e);
    e.data.fd = wake_fd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &e);
    e.data.fd = sig_fd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sig_fd, &e);

    refresher = refresher_start(&dbp, cfg.policy.refresh_interval, cfg.policy.full_reload_interval, wake_fd);
    writer = challenge_writer_start(&dbp, wake_fd);
    pairs = pairset_new(PAIRS_MAX);
    int caps_ok = caps_init(&cfg) == 0;
    open_per_client = pairset_new((size_t)cfg.policy.max_connections + 64);
    explicit_bzero(&dbp, sizeof(dbp));
    if (!refresher || !writer || !pairs || !caps_ok || !open_per_client) {
        log_fatal("cannot start worker threads or allocate their tables");
        return 1;
    }
    /* Give the first load a moment, so the first requests (held in the
     * listen backlog meanwhile) are decided from rules, not answered 451. */
    {
        struct pollfd pfd = { .fd = wake_fd, .events = POLLIN };
        time_t give_up = time(NULL) + 5;

        while (!rules && time(NULL) < give_up) {
            if (poll(&pfd, 1, 200) > 0) {
                uint64_t v;
                ssize_t r = read(wake_fd, &v, sizeof(v));
                (void)r;
                wake_loop(wake_fd);     /* the loop still takes challenge results */
            }
            rules = refresher_take(refresher);
        }
        if (!rules)
            log_warning("no rules loaded yet: answering 451 until the database can be read");
    }
    log_info("guardlistd %s listening on %s (unknown_sender=%s, on_allow=%s)", VERSION,
             cfg.policy.listen, cfg.policy.unknown_sender == UNKNOWN_REJECT ? "reject" : "defer",
             cfg.policy.on_allow);

    rc = event_loop();

    listener_close(listen_fd);
    for (size_t fd = 0; fd < conns_cap; fd++)
        if (conns[fd])
            conn_close(conns[fd], NULL);
    refresher_stop(refresher);
    challenge_writer_stop(writer);
    pairset_free(pairs);
    caps_free();
    pairset_free(open_per_client);
    ruleset_free(rules);
    free(conns);
    close(epfd);
    close(wake_fd);
    close(sig_fd);
    log_info("stopped");
    return rc;
}
