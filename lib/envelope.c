/*
 * envelope - one sender's changing envelope forms, read as that sender.
 *
 * Callers: decide.c, for the envelope sender of every request to a
 * protected recipient (so guardlistd and `guardlist check` agree).  Pure
 * string work on an already parsed, folded address: no I/O, no allocation.
 * BATV tags only ever wrap the address they are removed from, so removing
 * them grants nothing; an SRS address names another sender, so it is
 * decoded only for a client the admin trusts (the caller decides).
 */
#include "envelope.h"

#include <stdio.h>
#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The draft's tag-val is K DDD SSSSSS (key digit, day, six hex digits of
 * hash); Cisco's appliances leave out K.  Anything else is not a tag. */
static int is_prvs_tag(const char *s, size_t len)
{
    if (len == 10) {
        if (!is_digit(*s))
            return 0;
        s++;
        len--;
    }
    if (len != 9)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (!is_digit(s[i]))
            return 0;
    for (size_t i = 3; i < 9; i++)
        if (!is_hex(s[i]))
            return 0;
    return 1;
}

/* SparkPost's msprvs1 tag: letters, digits and '-' (seen: 17582z2tky0dk,
 * 20681k-oj8lal). */
static int is_msprvs_tag(const char *s, size_t len)
{
    if (len < 4 || len > 32)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

/* Barracuda's btv1 tag: hex digits (seen: eleven of them). */
static int is_btv1_tag(const char *s, size_t len)
{
    if (len < 6 || len > 32)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_hex(s[i]))
            return 0;
    return 1;
}

static int put(char *out, size_t outlen, const char *s, size_t len)
{
    if (len == 0 || len >= outlen)
        return 0;
    memcpy(out, s, len);
    out[len] = '\0';
    return 1;
}

int envelope_strip_batv(const char *local, char *out, size_t outlen)
{
    const char *eq;

    if (strncmp(local, "prvs=", 5) == 0) {
        const char *rest = local + 5;
        if (!(eq = strchr(rest, '=')))
            return 0;
        /* prvs=TAG=user first: its TAG field has the one exact shape. */
        if (is_prvs_tag(rest, (size_t)(eq - rest)))
            return put(out, outlen, eq + 1, strlen(eq + 1));
        const char *last = strrchr(rest, '=');
        if (is_prvs_tag(last + 1, strlen(last + 1)))
            return put(out, outlen, rest, (size_t)(last - rest));
        return 0;
    }
    if (strncmp(local, "msprvs1=", 8) == 0) {
        const char *rest = local + 8;
        if ((eq = strchr(rest, '=')) && is_msprvs_tag(rest, (size_t)(eq - rest)))
            return put(out, outlen, eq + 1, strlen(eq + 1));
        return 0;
    }
    if (strncmp(local, "btv1==", 6) == 0) {
        const char *rest = local + 6;
        if ((eq = strstr(rest, "==")) && is_btv1_tag(rest, (size_t)(eq - rest)))
            return put(out, outlen, eq + 2, strlen(eq + 2));
        return 0;
    }
    return 0;
}

/* Reads the field of S up to the next '=' into [*B, *E) and returns what
 * follows the '=', or NULL if there is none or the field is empty. */
static const char *field(const char *s, const char **b, const char **e)
{
    const char *eq = strchr(s, '=');

    if (!eq || eq == s)
        return NULL;
    *b = s;
    *e = eq;
    return eq + 1;
}

static int is_srs_hash(const char *b, const char *e)
{
    if (e - b > 32)
        return 0;
    for (const char *p = b; p < e; p++)
        if (!is_alnum(*p) && *p != '+' && *p != '/')
            return 0;
    return 1;
}

/* S is "HHH=TT=domain=user", an SRS0 address after its first separator. */
static int decode_srs0_tail(const char *s, char *olocal, size_t olocal_len, char *odomain, size_t odomain_len)
{
    const char *hb, *he, *tb, *te, *db, *de;

    if (!(s = field(s, &hb, &he)) || !is_srs_hash(hb, he))
        return 0;
    if (!(s = field(s, &tb, &te)) || te - tb != 2 || !is_alnum(tb[0]) || !is_alnum(tb[1]))
        return 0;
    if (!(s = field(s, &db, &de)))
        return 0;
    /* The user is the rest, '=' and all; what could not be an unquoted
     * local part of the original address is not decoded. */
    if (!*s || strpbrk(s, "@\"\\ ") || strpbrk(s, "()<>,;:[]"))
        return 0;
    for (const char *p = db; p < de; p++)
        if (!(is_alnum(*p) || *p == '.' || *p == '-' || *p == '_' || (unsigned char)*p >= 0x80))
            return 0;
    /* both fit, or neither is written */
    if ((size_t)(de - db) >= odomain_len || strlen(s) >= olocal_len)
        return 0;
    put(odomain, odomain_len, db, (size_t)(de - db));
    return put(olocal, olocal_len, s, strlen(s));
}

static int is_srs_sep(char c)
{
    return c == '=' || c == '+' || c == '-';
}

int envelope_decode_srs(const char *local, char *olocal, size_t olocal_len, char *odomain, size_t odomain_len)
{
    const char *p;

    if (strncmp(local, "srs0", 4) == 0 && is_srs_sep(local[4]))
        return decode_srs0_tail(local + 5, olocal, olocal_len, odomain, odomain_len);
    if (strncmp(local, "srs1", 4) == 0 && is_srs_sep(local[4])) {
        /* SRS1=HHH=first-forwarder=<SRS0's separator>HHH=TT=domain=user */
        const char *hb, *he, *fb, *fe;
        const char *s = local + 5;
        if (!(s = field(s, &hb, &he)) || !is_srs_hash(hb, he) || !(s = field(s, &fb, &fe)))
            return 0;
        if (!is_srs_sep(*s))
            return 0;
        return decode_srs0_tail(s + 1, olocal, olocal_len, odomain, odomain_len);
    }
    /* Exchange Online: forwarding-mailbox+SRS=HHH=TT=domain=user */
    if ((p = strstr(local, "+srs=")) != NULL && p > local)
        return decode_srs0_tail(p + 5, olocal, olocal_len, odomain, odomain_len);
    return 0;
}

/* Puts LOCAL@DOMAIN into A if it is a plain address that parses; returns 1,
 * else 0 (A unchanged). */
static int replace(struct addr *a, const char *local, const char *domain, const char *delims)
{
    char buf[2 * ADDR_MAX + 2], err[128];
    struct addr fresh;

    if (strpbrk(local, "@\"\\ ()<>,;:[]"))
        return 0;
    if (snprintf(buf, sizeof(buf), "%s@%s", local, domain) >= (int)sizeof(buf))
        return 0;
    if (addr_parse(buf, delims, &fresh, err, sizeof(err)) < 0 || fresh.is_null || !fresh.domain[0]
        || fresh.domain[0] == '[')
        return 0;
    *a = fresh;
    return 1;
}

int envelope_unwrap(struct addr *a, int trusted, const char *delims)
{
    char local[ADDR_MAX + 1], domain[ADDR_MAX + 1], tmp[ADDR_MAX + 1];
    int seen = 0;

    if (a->is_null || !a->domain[0])
        return 0;
    snprintf(local, sizeof(local), "%s", a->local);
    snprintf(domain, sizeof(domain), "%s", a->domain);
    if (envelope_strip_batv(local, tmp, sizeof(tmp))) {
        memcpy(local, tmp, sizeof(local));
        seen |= ENVELOPE_BATV;
    }
    if (envelope_decode_srs(local, tmp, sizeof(tmp), domain, sizeof(domain)) == 0) {
        /* not SRS: DOMAIN untouched (decode writes it only on success) */
    } else if (!trusted) {
        seen |= ENVELOPE_SRS_UNTRUSTED;
        snprintf(domain, sizeof(domain), "%s", a->domain);
    } else {
        memcpy(local, tmp, sizeof(local));
        seen |= ENVELOPE_SRS;
        /* the original sender may have signed with BATV itself */
        if (envelope_strip_batv(local, tmp, sizeof(tmp))) {
            memcpy(local, tmp, sizeof(local));
            seen |= ENVELOPE_BATV;
        }
    }
    if (!(seen & (ENVELOPE_BATV | ENVELOPE_SRS)))
        return seen;
    if (!replace(a, local, domain, delims))
        return seen & ENVELOPE_SRS_UNTRUSTED;
    return seen;
}
