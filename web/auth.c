/*
 * auth - who the admin page's user is: the web server's login, admin or
 * guardian, the recipients a guardian may manage, and the form tokens.
 *
 * Callers: guardlist-web.c (identity, key, tokens), lists.c and changes.c
 * (scope).  SECURITY: fails closed.  A user name outside its strict shape
 * is nobody; without [web] admins every login is a guardian; a token is an
 * HMAC of the user and the time under [web] secret_file, compared in
 * constant time, so another site's page, another user's token or a stale
 * one changes nothing.
 */
#include "web.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "token.h"

#define SECRET_MIN 16
#define TOKEN_MAX_AGE (12 * 3600)   /* a page left open over a working day still works */
#define TOKEN_SKEW 300

/* A user name from the web server: 1..WEB_USER_MAX bytes of letters,
 * digits and . _ @ + - (an account or an email address). */
static int user_ok(const char *u)
{
    size_t n = u ? strlen(u) : 0;

    if (n == 0 || n > WEB_USER_MAX)
        return 0;
    for (const char *p = u; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._@+-", *p))
            return 0;
    return 1;
}

/* 1 if U is in the comma- or space-separated LIST. */
static int in_list(const char *list, const char *u)
{
    size_t n = strlen(u);

    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == n && strncmp(p, u, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

const char *auth_identify(struct web *w, const char *remote_user, const char *admins)
{
    if (!remote_user || !*remote_user)
        return "The web server passed no REMOTE_USER: nobody logged in.";
    if (!user_ok(remote_user))
        return "The user name from the web server's login is not one this page accepts "
               "(letters, digits and . _ @ + -, at most 128).";
    snprintf(w->user, sizeof(w->user), "%s", remote_user);
    for (size_t i = 0; i <= strlen(w->user); i++)
        w->user_key[i] = (char)tolower((unsigned char)w->user[i]);
    snprintf(w->actor, sizeof(w->actor), "web:%s", w->user);
    /* Fails closed: without [web] admins every login is a guardian; "*" names everyone. */
    w->is_admin = in_list(admins, w->user) || in_list(admins, "*");
    return NULL;
}

int auth_load_secret(struct web *w, char *err, size_t errlen)
{
    if (!w->cfg->web.secret_file[0]) {
        snprintf(err, errlen, "[web] secret_file is not set (it keys the form tokens; "
                 "see etc/guardlist.ini.example)");
        return -1;
    }
    if (config_read_secret(w->cfg->web.secret_file, w->secret, sizeof(w->secret), err, errlen) < 0)
        return -1;
    if (strlen(w->secret) < SECRET_MIN) {
        snprintf(err, errlen, "[web] secret_file: its first line holds fewer than 16 characters");
        return -1;
    }
    return 0;
}

void auth_token_make(const struct web *w, long long ts, char *out, size_t outlen)
{
    char msg[WEB_USER_MAX + 64], hex[2 * SHA256_LEN + 1];
    unsigned char mac[SHA256_LEN];
    int n = snprintf(msg, sizeof(msg), "guardlist-web form\n%s\n%lld", w->user, ts);

    /* A failed HMAC gives an empty token, which auth_token_ok() never accepts. */
    if (n < 0 || (size_t)n >= sizeof(msg)
        || crypto_hmac_sha256(w->secret, strlen(w->secret), msg, (size_t)n, mac) < 0) {
        snprintf(out, outlen, "%s", "");
        return;
    }
    token_hex(mac, SHA256_LEN, hex);
    snprintf(out, outlen, "%lld.%s", ts, hex);
}

int auth_token_ok(const struct web *w, const char *t)
{
    char want[sizeof(w->csrf)];
    char *end;
    long long ts, now = (long long)time(NULL);

    if (!t || !isdigit((unsigned char)t[0]) || strlen(t) > sizeof(want) - 1)
        return 0;
    ts = strtoll(t, &end, 10);
    if (*end != '.' || strlen(end + 1) != 2 * SHA256_LEN || ts < now - TOKEN_MAX_AGE || ts > now + TOKEN_SKEW)
        return 0;
    auth_token_make(w, ts, want, sizeof(want));
    return want[0] && strlen(want) == strlen(t) && crypto_equal(want, t, strlen(t));
}

int auth_may_manage(const struct web *w, const char *key, char *err, size_t errlen)
{
    long long n = 0;
    const char *p[2] = { key, w->user_key };

    if (w->is_admin)
        return 1;
    if (db_query_number(w->db, "SELECT COUNT(*) FROM guardians WHERE recipient" AUTH_BIN " = ? AND email" AUTH_BIN
                        " = ?", p, 2, &n, err, errlen) < 0)
        return -1;
    return n > 0;
}
