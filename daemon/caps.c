/*
 * caps - the hourly caps on new challenges, per protected key and per
 * client address, so one flood cannot bury a guardian in emails.
 *
 * Called by guardlistd's event loop only (no locking).  Counted here, per
 * daemon, from the writer's reports of rows it created; the window restarts
 * every hour.  A set that fills up is emptied, which can only let a few more
 * through.  It only counts, in memory: what a request past a cap is
 * answered is its caller's business, and it never asks the database.
 */
#include "caps.h"
#include "log.h"
#include "pairset.h"

#define CAP_KEYS_MAX 100000         /* protected keys / client addresses counted */

static const struct config *cfg;
static struct pairset *cap_rcpt, *cap_client;  /* new challenges this hour: ("", key) -> hits */
static time_t cap_window;

int caps_init(const struct config *conf)
{
    cfg = conf;
    cap_rcpt = pairset_new(CAP_KEYS_MAX);
    cap_client = pairset_new(CAP_KEYS_MAX);
    cap_window = time(NULL);
    return cap_rcpt && cap_client ? 0 : -1;
}

void caps_free(void)
{
    pairset_free(cap_rcpt);
    pairset_free(cap_client);
    cap_rcpt = cap_client = NULL;
}

void caps_roll(time_t now)
{
    if (now - cap_window >= 3600 || now < cap_window) {
        pairset_clear(cap_rcpt);
        pairset_clear(cap_client);
        cap_window = now;
    }
}

int caps_reached(const char *protected_key, const char *client)
{
    const struct pair_entry *e = pairset_get(cap_rcpt, "", protected_key);

    if (e && e->hits >= (unsigned int)cfg->policy.max_new_per_recipient)
        return 1;
    e = client && client[0] ? pairset_get(cap_client, "", client) : NULL;
    return e && e->hits >= (unsigned int)cfg->policy.max_new_per_client;
}

void caps_count(const char *protected_key, const char *client)
{
    struct pair_entry *e = pairset_put(cap_rcpt, "", protected_key);

    if (e && ++e->hits == (unsigned int)cfg->policy.max_new_per_recipient)
        log_warning("hourly cap of %d new challenges reached for protected=\"%s\": new senders are deferred "
                    "with no challenge until the hour is over", cfg->policy.max_new_per_recipient, protected_key);
    e = client[0] ? pairset_put(cap_client, "", client) : NULL;
    if (e && ++e->hits == (unsigned int)cfg->policy.max_new_per_client)
        log_warning("hourly cap of %d new challenges reached for client=%s: its new senders are deferred "
                    "with no challenge until the hour is over", cfg->policy.max_new_per_client, client);
}
