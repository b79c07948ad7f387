/*
 * caps - the hourly caps on new challenges, per protected key and per
 * client (capkey.c: an IPv4 address, an IPv6 /64), so one flood cannot bury
 * a guardian in emails.
 *
 * Called by answer.c on every event-loop thread: one mutex guards the
 * counters (a few hash lookups under it, no I/O).  A new challenge is
 * counted when it is handed to the writer and given back when the writer
 * created none, so a burst cannot overshoot a cap while its writes are out.
 * Counted per daemon, as the cheap first filter: the caps that hold for
 * every daemon sharing the database are counted by the writer in the
 * challenge's transaction (challenge.c, cap_counts), which refuses what
 * other daemons have used up.  The window restarts every hour.  A set that fills up
 * is emptied, which can only let a few more through.  It only counts, in
 * memory: what a request past a cap is answered is its caller's business.
 */
#include "caps.h"
#include "capkey.h"
#include "log.h"
#include "pairset.h"

#include <pthread.h>

#define CAP_KEYS_MAX 100000         /* protected keys / client keys counted */

static const struct config *cfg;
static pthread_mutex_t caps_mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;  /* held for a lookup: spin, not sleep */
static struct pairset *cap_rcpt, *cap_client;  /* new challenges this hour: ("", key) -> hits */
static time_t cap_start;
static unsigned long cap_window = 1;

int caps_init(const struct config *conf)
{
    cfg = conf;
    cap_rcpt = pairset_new(CAP_KEYS_MAX);
    cap_client = pairset_new(CAP_KEYS_MAX);
    cap_start = time(NULL);
    return cap_rcpt && cap_client ? 0 : -1;
}

void caps_free(void)
{
    pairset_free(cap_rcpt);
    pairset_free(cap_client);
    cap_rcpt = cap_client = NULL;
}

/* Caller holds caps_mu. */
static void roll(time_t now)
{
    if (now - cap_start >= 3600 || now < cap_start) {
        pairset_clear(cap_rcpt);
        pairset_clear(cap_client);
        cap_start = now;
        cap_window++;
    }
}

/* Caller holds caps_mu.  Logs the first refusal of E's key in this window. */
static void refused(struct pair_entry *e, const char *what, const char *key, int limit)
{
    if (!e || e->warned)
        return;
    e->warned = 1;
    log_warning("hourly cap of %d new challenges reached for %s=\"%s\": new senders are deferred "
                "with no challenge until the hour is over", limit, what, key);
}

int caps_reserve(const char *protected_key, const char *client, time_t now, unsigned long *window, int *full)
{
    char ckey[CAPKEY_MAX];
    int room = 0;

    capkey_client(client, ckey, sizeof(ckey));
    pthread_mutex_lock(&caps_mu);
    roll(now);
    unsigned int rcpt_max = (unsigned int)cfg->policy.max_new_per_recipient;
    unsigned int client_max = (unsigned int)cfg->policy.max_new_per_client;
    struct pair_entry *r = pairset_put(cap_rcpt, "", protected_key);
    struct pair_entry *c = ckey[0] ? pairset_put(cap_client, "", ckey) : NULL;
    if (r && r->hits >= rcpt_max) {
        refused(r, "protected", protected_key, (int)rcpt_max);
        *full = CAP_FULL_RCPT;
    } else if (c && c->hits >= client_max) {
        refused(c, "client", ckey, (int)client_max);
        *full = CAP_FULL_CLIENT;
    } else {
        if (r)
            r->hits++;
        if (c)
            c->hits++;
        room = 1;
    }
    *window = cap_window;
    pthread_mutex_unlock(&caps_mu);
    return room;
}

void caps_fill(const char *protected_key, const char *client, unsigned long window, int which)
{
    char ckey[CAPKEY_MAX];

    capkey_client(client, ckey, sizeof(ckey));
    pthread_mutex_lock(&caps_mu);
    if (window == cap_window) {
        struct pair_entry *r = (which & CAP_FULL_RCPT) ? pairset_put(cap_rcpt, "", protected_key) : NULL;
        struct pair_entry *c = (which & CAP_FULL_CLIENT) && ckey[0] ? pairset_put(cap_client, "", ckey) : NULL;
        if (r && r->hits < (unsigned int)cfg->policy.max_new_per_recipient)
            r->hits = (unsigned int)cfg->policy.max_new_per_recipient;
        if (c && c->hits < (unsigned int)cfg->policy.max_new_per_client)
            c->hits = (unsigned int)cfg->policy.max_new_per_client;
    }
    pthread_mutex_unlock(&caps_mu);
}

void caps_release(const char *protected_key, const char *client, unsigned long window)
{
    char ckey[CAPKEY_MAX];

    capkey_client(client, ckey, sizeof(ckey));
    pthread_mutex_lock(&caps_mu);
    if (window == cap_window) {
        struct pair_entry *r = pairset_get(cap_rcpt, "", protected_key);
        struct pair_entry *c = ckey[0] ? pairset_get(cap_client, "", ckey) : NULL;
        if (r && r->hits > 0)
            r->hits--;
        if (c && c->hits > 0)
            c->hits--;
    }
    pthread_mutex_unlock(&caps_mu);
}

void caps_limits(unsigned int *per_recipient, unsigned int *per_client)
{
    pthread_mutex_lock(&caps_mu);
    *per_recipient = (unsigned int)cfg->policy.max_new_per_recipient;
    *per_client = (unsigned int)cfg->policy.max_new_per_client;
    pthread_mutex_unlock(&caps_mu);
}
