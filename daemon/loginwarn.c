/*
 * loginwarn - remembers which unmapped logins guardlistd has warned about,
 * so that a child's every RCPT does not repeat the warning.
 *
 * Caller: answer.c.  Fixed memory (LOGINWARN_SLOTS hashes, oldest forgotten
 * first): logins come from Postfix, but the policy port may be reached by
 * others, who must not grow it.  A hash collision only drops a warning.
 */
#include "loginwarn.h"

#include <pthread.h>
#include <stdint.h>

static uint64_t seen[LOGINWARN_SLOTS];
static unsigned next;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* FNV-1a of S, ASCII lower case (Postfix passes the login as typed); never 0. */
static uint64_t login_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        h = (h ^ (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c)) * 1099511628211ULL;
    }
    return h ? h : 1;
}

int loginwarn_first(const char *login)
{
    uint64_t h = login_hash(login ? login : "");
    int first = 1;

    pthread_mutex_lock(&mu);
    for (unsigned i = 0; i < LOGINWARN_SLOTS && first; i++)
        first = seen[i] != h;
    if (first) {
        seen[next] = h;
        next = (next + 1) % LOGINWARN_SLOTS;
    }
    pthread_mutex_unlock(&mu);
    return first;
}
