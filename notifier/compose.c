/*
 * compose - writes guardlist-notify's emails: a single email about one
 * challenge, or a digest listing several, for one guardian, from the
 * templates in [notifier] template_dir.
 *
 * main() loads the templates (before dropping root); cycle() composes the
 * emails batch.c planned.  Every link gets a fresh token; only its hash
 * leaves this module, and record.c stores it once the smarthost accepted
 * the message.  Values are escaped by context (lib/template.c): HTML in
 * HTML, RFC 2047 in headers, CR/LF never in a header.  A null-sender (<>)
 * challenge gets no link: an admin decides it (lib/store.c).  A child's
 * request to write to a new contact (direction 'out') has its own words.
 */
#include "compose.h"
#include "log.h"
#include "spfword.h"
#include "store.h"
#include "template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid.h>

static const struct config *cfg;
static struct template *t_subject, *t_text, *t_html, *t_dsubject, *t_dtext, *t_dhtml, *t_itext, *t_ihtml;
/* For a null-sender (<>) challenge: no link, an admin decides (lib/store.c). */
static struct template *t_bsubject, *t_btext, *t_bhtml, *t_bitext, *t_bihtml;
/* For a child's request to write to a new contact (direction 'out'). */
static struct template *t_osubject, *t_otext, *t_ohtml, *t_oitext, *t_oihtml;

static const char *const single_names[] = { "sender", "child", "protected", "first_seen", "last_seen",
                                            "attempts", "client", "link", "guardian", "ttl_days",
                                            "sender_check", NULL };
#define NSINGLE 11      /* single_names without its NULL */
_Static_assert(sizeof(single_names) / sizeof(single_names[0]) == NSINGLE + 1, "NSINGLE counts single_names");
static const char *const digest_names[] = { "count", "senders_want", "items", "guardian", "ttl_days", "digest_link",
                                            "why", NULL };

static const struct template_file compose_files[] = {
    { "notify.subject", single_names, &t_subject }, { "notify.txt", single_names, &t_text },
    { "notify.html", single_names, &t_html }, { "digest.subject", digest_names, &t_dsubject },
    { "digest.txt", digest_names, &t_dtext }, { "digest.html", digest_names, &t_dhtml },
    { "digest-item.txt", single_names, &t_itext }, { "digest-item.html", single_names, &t_ihtml },
    { "notify-bounce.subject", single_names, &t_bsubject }, { "notify-bounce.txt", single_names, &t_btext },
    { "notify-bounce.html", single_names, &t_bhtml }, { "digest-item-bounce.txt", single_names, &t_bitext },
    { "digest-item-bounce.html", single_names, &t_bihtml },
    { "notify-out.subject", single_names, &t_osubject }, { "notify-out.txt", single_names, &t_otext },
    { "notify-out.html", single_names, &t_ohtml }, { "digest-item-out.txt", single_names, &t_oitext },
    { "digest-item-out.html", single_names, &t_oihtml },
};
#define COMPOSE_NFILES (sizeof(compose_files) / sizeof(compose_files[0]))

int compose_init(const struct config *config, char *err, size_t errlen)
{
    cfg = config;
    return template_load_set(cfg->notifier.template_dir, compose_files, COMPOSE_NFILES, err, errlen);
}

void compose_free(void)
{
    template_free_set(compose_files, COMPOSE_NFILES);
}

/* The text an item's values point into, beside its challenge row. */
struct item_text {
    char link[CONFIG_STR_MAX + 64], ttl[16];
    char spf[SPFWORD_MAX];      /* the sender check in words: the guardian decides knowing it */
};

static void fill_values(struct tpl_value *v, const struct challenge *c, const char *guardian, const char *token,
                        struct item_text *t)
{
    snprintf(t->link, sizeof(t->link), "%s?t=%s", cfg->notifier.approve_url, token);
    snprintf(t->ttl, sizeof(t->ttl), "%d", cfg->approver.token_ttl_days);
    const struct store_challenge *r = &c->row;
    /* Cannot fail at SPFWORD_MAX (a sender holds one domain); if it did,
     * the line would be empty, never a wrong word. */
    spfword_sentence(r->spf_result, r->sender, t->spf, sizeof(t->spf));
    const char *vals[NSINGLE] = { r->sender, r->recipient, r->key, r->first_seen, r->last_seen, r->attempts,
                                  c->client, t->link, guardian, t->ttl, t->spf };
    for (int i = 0; i < NSINGLE; i++)
        v[i] = (struct tpl_value){ single_names[i], vals[i], 0 };
}

static void rfc5322_date(char *out, size_t outlen)
{
    time_t now = time(NULL);
    struct tm tm;
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    gmtime_r(&now, &tm);
    snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* M's Message-ID (in the from address's domain) and a MIME BOUNDARY. */
static void make_ids(struct mail *m, char *boundary, size_t boundarylen)
{
    char uuid_text[37];
    uuid_t u;
    const char *at = strrchr(cfg->notifier.from, '@');

    uuid_generate_random(u);
    uuid_unparse_lower(u, uuid_text);
    snprintf(m->message_id, sizeof(m->message_id), "<%s@%s>", uuid_text, at ? at + 1 : "guardlist.invalid");
    uuid_generate_random(u);
    uuid_unparse_lower(u, uuid_text);
    snprintf(boundary, boundarylen, "=_guardlist_%s", uuid_text);
}

/* A fresh token for every link: only its hash is recorded, with the
 * notification, once the smarthost has accepted the message. */
static int make_tokens(struct mail *m, char *err, size_t errlen)
{
    m->token = calloc(m->nitems, sizeof(*m->token));
    m->token_hash = calloc(m->nitems, sizeof(*m->token_hash));
    if (!m->token || !m->token_hash) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < m->nitems; i++) {
        unsigned char hash[SHA256_LEN];
        if (token_new(m->token[i], hash) < 0) {
            snprintf(err, errlen, "getrandom: %s", strerror(errno));
            return -1;
        }
        token_hex(hash, SHA256_LEN, m->token_hash[i]);
    }
    if (m->digest || m->group) {
        unsigned char hash[SHA256_LEN];
        if (token_new(m->digest_token, hash) < 0) {
            snprintf(err, errlen, "getrandom: %s", strerror(errno));
            return -1;
        }
        token_hex(hash, SHA256_LEN, m->digest_hash);
    }
    return 0;
}

/* The subject, text and HTML of an email about one challenge. */
static int render_single(const struct mail *m, struct buf *subject, struct buf *text, struct buf *html,
                         char *err, size_t errlen)
{
    struct item_text t = { 0 };     /* all written by fill_values; cppcheck cannot tell */
    struct tpl_value v[NSINGLE];
    const struct store_challenge *r = &m->items[0]->row;
    int bounce = store_is_null_sender(r->sender), out = !bounce && store_is_outbound(r);

    fill_values(v, m->items[0], m->guardian, m->token[0], &t);
    if (template_render(bounce ? t_bsubject : out ? t_osubject : t_subject, TPL_HEADER, v, NSINGLE, subject,
                        err, errlen) < 0
        || template_render(bounce ? t_btext : out ? t_otext : t_text, TPL_TEXT, v, NSINGLE, text, err, errlen) < 0
        || template_render(bounce ? t_bhtml : out ? t_ohtml : t_html, TPL_HTML, v, NSINGLE, html, err, errlen) < 0)
        return -1;
    return 0;
}

/* The subject, text and HTML of a digest: one item per challenge. */
static int render_digest(const struct mail *m, struct buf *subject, struct buf *text, struct buf *html,
                         char *err, size_t errlen)
{
    struct buf itext = { 0 }, ihtml = { 0 };
    char ttl[16], count[16], want[48], dlink[CONFIG_STR_MAX + 64];
    struct item_text t = { 0 };     /* all written by fill_values; cppcheck cannot tell */

    for (size_t i = 0; i < m->nitems; i++) {
        struct tpl_value v[NSINGLE];
        fill_values(v, m->items[i], m->guardian, m->token[i], &t);
        int bounce = store_is_null_sender(m->items[i]->row.sender);
        int out = !bounce && store_is_outbound(&m->items[i]->row);
        if (template_render(bounce ? t_bitext : out ? t_oitext : t_itext, TPL_TEXT, v, NSINGLE, &itext, err,
                            errlen) < 0
            || template_render(bounce ? t_bihtml : out ? t_oihtml : t_ihtml, TPL_HTML, v, NSINGLE, &ihtml, err,
                               errlen) < 0) {
            buf_free(&itext);
            buf_free(&ihtml);
            return -1;
        }
    }
    snprintf(count, sizeof(count), "%zu", m->nitems);
    /* The count agrees with its noun and verb: "1 more sender wants". */
    snprintf(want, sizeof(want), "%zu%s %s", m->nitems, m->group ? "" : " more",
             m->nitems == 1 ? "sender wants" : "senders want");
    /* An overflow digest says why it comes together; a group needs no excuse. */
    const char *why = m->group ? "They wrote at about the same time, so here they are together."
                               : "You already had the most single approval emails guardlist sends in one hour, "
                                 "so here is everyone who is waiting, together.";
    snprintf(ttl, sizeof(ttl), "%d", cfg->approver.token_ttl_days);
    snprintf(dlink, sizeof(dlink), "%s?d=%s", cfg->notifier.approve_url, m->digest_token);
    struct tpl_value dt[7] = { { "count", count, 0 }, { "senders_want", want, 0 },
                               { "items", itext.p ? itext.p : "", 1 },
                               { "guardian", m->guardian, 0 }, { "ttl_days", ttl, 0 }, { "digest_link", dlink, 0 },
                               { "why", why, 0 } };
    struct tpl_value dh[7] = { { "count", count, 0 }, { "senders_want", want, 0 },
                               { "items", ihtml.p ? ihtml.p : "", 1 },
                               { "guardian", m->guardian, 0 }, { "ttl_days", ttl, 0 }, { "digest_link", dlink, 0 },
                               { "why", why, 0 } };
    int r = template_render(t_dsubject, TPL_HEADER, dt, 7, subject, err, errlen) < 0
         || template_render(t_dtext, TPL_TEXT, dt, 7, text, err, errlen) < 0
         || template_render(t_dhtml, TPL_HTML, dh, 7, html, err, errlen) < 0;
    buf_free(&itext);
    buf_free(&ihtml);
    return r ? -1 : 0;
}

/* M->text: the headers and a multipart/alternative body, both parts
 * quoted-printable. */
static int write_message(struct mail *m, const char *date, const char *boundary, const struct buf *subject,
                         const struct buf *text, const struct buf *html, char *err, size_t errlen)
{
    struct buf *o = &m->text;

    buf_addf(o, "From: guardlist <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
                "Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n"
                "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
                "This is a message in MIME format.\r\n\r\n--%s\r\n"
                "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
             cfg->notifier.from, m->guardian, subject->p, date, m->message_id, boundary, boundary);
    qp_encode(o, text->p);
    buf_addf(o, "\r\n--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n", boundary);
    qp_encode(o, html->p);
    buf_addf(o, "\r\n--%s--\r\n", boundary);
    if (o->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Builds M->text.  Returns 0 or -1. */
static int compose_mail(struct mail *m, char *err, size_t errlen)
{
    struct buf subject = { 0 }, text = { 0 }, html = { 0 };
    char date[64], boundary[64];
    int rc = -1;

    make_ids(m, boundary, sizeof(boundary));
    rfc5322_date(date, sizeof(date));
    if (make_tokens(m, err, errlen) < 0)
        return -1;
    if ((m->digest || m->group ? render_digest(m, &subject, &text, &html, err, errlen)
                   : render_single(m, &subject, &text, &html, err, errlen)) == 0
        && write_message(m, date, boundary, &subject, &text, &html, err, errlen) == 0)
        rc = 0;
    buf_free(&subject);
    buf_free(&text);
    buf_free(&html);
    return rc;
}

void compose_mails(struct mail *mails, size_t n)
{
    char err[600];

    for (size_t k = 0; k < n; k++) {
        if (compose_mail(&mails[k], err, sizeof(err)) < 0) {
            log_error("composing the email to %s: %s", mails[k].guardian, err);
            for (size_t j = 0; j < mails[k].nitems; j++) {
                mails[k].items[j]->perm_fail++;
                snprintf(mails[k].items[j]->error, sizeof(mails[k].items[j]->error), "template: %.200s", err);
            }
            buf_free(&mails[k].text);
        }
    }
}
