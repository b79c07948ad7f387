/*
 * settings - guardlistd's configuration: read by main() at start, and again
 * by the event loop on SIGHUP.
 *
 * The configuration and the decision options keep one address for the
 * daemon's life and a reload changes them in place, so conn.c, caps.c and
 * answer.c, which read them at each use, follow at once.  A reload never
 * changes what needs a restart (the listen sockets, /metrics's too, the accounts, the
 * database): it warns and keeps those; a file that does not load changes
 * nothing.
 */
#include "settings.h"
#include "cover.h"
#include "log.h"
#include "refresh.h"
#include "spfpool.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct config cfg;
static struct decide_opts opts;
static pthread_rwlock_t lock;
static pthread_once_t lock_once = PTHREAD_ONCE_INIT;

static void lock_init(void)
{
    pthread_rwlockattr_t a;

    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock, &a);
    pthread_rwlockattr_destroy(&a);
}

void settings_read_lock(void)
{
    pthread_once(&lock_once, lock_init);
    pthread_rwlock_rdlock(&lock);
}

void settings_read_unlock(void)
{
    pthread_rwlock_unlock(&lock);
}

int settings_threads(const struct config *c)
{
    long n = c->policy.threads;

    if (n <= 0) {
        /* auto: one a CPU but one, left to Postfix's smtpd processes (and
         * to the load generator of `make bench`): on two cores one loop
         * answered 8 connections at a p99 of 0.15 ms where two took 0.46,
         * and 64 connections 30 % faster (docs/performance.md). */
        n = sysconf(_SC_NPROCESSORS_ONLN) - 1;
        if (n < 1)
            n = 1;
        if (n > 64)
            n = 64;
    }
    return (int)n;
}

static void apply_options(void)
{
    opts.unknown_sender = cfg.policy.unknown_sender;
    opts.on_allow = cfg.policy.on_allow;
    opts.null_sender = cfg.policy.null_sender;
    opts.delims = cfg.policy.recipient_delimiter;
    opts.trusted_forwarders = &cfg.policy.trusted_forwarders;
    opts.spf = cfg.policy.spf;
    opts.outbound = cfg.policy.outbound;
    log_set_level(cfg.log.level);
}

const struct config *settings_load(const char *arg, struct config_db *dbp, char *err, size_t errlen)
{
    config_defaults(&cfg);
    if (config_load(&cfg, config_path(arg), err, errlen) < 0
        || config_db_for(&cfg, &cfg.policy.account, dbp, err, errlen) < 0)
        return NULL;
    apply_options();
    cover_set_delimiters(cfg.policy.recipient_delimiter);  /* at start only: the writer thread reads it */
    return &cfg;
}

const struct decide_opts *settings_opts(void)
{
    return &opts;
}

void settings_reload(size_t max_connections, struct refresher *refresher)
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
    if (strcmp(fresh.policy.metrics_listen, cfg.policy.metrics_listen) != 0)
        log_warning("SIGHUP: metrics_listen changed; it takes effect after a restart");
    if (strcmp(fresh.policy.run_as_user, cfg.policy.run_as_user) != 0
        || strcmp(fresh.policy.run_as_group, cfg.policy.run_as_group) != 0)
        log_warning("SIGHUP: run_as_user or run_as_group changed; it takes effect after a restart");
    if (memcmp(&fresh.db, &cfg.db, sizeof(fresh.db)) != 0
        || memcmp(&fresh.policy.account, &cfg.policy.account, sizeof(fresh.policy.account)) != 0)
        log_warning("SIGHUP: database settings changed; they take effect after a restart");
    if (fresh.policy.threads != cfg.policy.threads)
        log_warning("SIGHUP: threads changed; it takes effect after a restart");
    if (fresh.policy.spf_threads != cfg.policy.spf_threads)
        log_warning("SIGHUP: spf_threads changed; it takes effect after a restart");
    fresh.policy.threads = cfg.policy.threads;
    fresh.policy.spf_threads = cfg.policy.spf_threads;
    fresh.policy.max_connections = fresh.policy.max_connections > (int)max_connections
        ? (int)max_connections : fresh.policy.max_connections;
    snprintf(fresh.policy.listen, sizeof(fresh.policy.listen), "%s", cfg.policy.listen);
    memcpy(fresh.policy.metrics_listen, cfg.policy.metrics_listen, sizeof(fresh.policy.metrics_listen));
    memcpy(fresh.policy.listen_group, cfg.policy.listen_group, sizeof(fresh.policy.listen_group));
    memcpy(fresh.policy.run_as_user, cfg.policy.run_as_user, sizeof(fresh.policy.run_as_user));
    memcpy(fresh.policy.run_as_group, cfg.policy.run_as_group, sizeof(fresh.policy.run_as_group));
    fresh.db = cfg.db;
    fresh.policy.account = cfg.policy.account;
    pthread_once(&lock_once, lock_init);
    pthread_rwlock_wrlock(&lock);
    cfg = fresh;
    apply_options();
    spfpool_reload(cfg.policy.resolver);    /* SPF's DNS server: in force for the next evaluation */
    pthread_rwlock_unlock(&lock);
    refresher_set_intervals(refresher, cfg.policy.refresh_interval, cfg.policy.full_reload_interval);
    log_info("configuration reloaded from %s (spf=%s resolver=%s)", cfg.path, cfg.policy.spf ? "on" : "off",
             cfg.policy.resolver[0] ? cfg.policy.resolver : "system");
}
