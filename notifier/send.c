/*
 * send - hands guardlist-notify's composed emails to the smarthost of
 * [notifier] (libesmtp), and says for each what came of it: accepted,
 * a temporary failure (4xx, no connection) or a permanent one (5xx).
 *
 * cycle() calls it between composing and recording; main() reads the
 * SMTP password (as root) and starts the SASL client.  It never writes to
 * the database: a mail counts as sent only once record.c has written it.
 */
#include "send.h"

#include <auth-client.h>         /* before libesmtp.h: it declares the SASL calls then */
#include <libesmtp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each SMTP session waits for the smarthost's reply to every message's final
 * dot (tens of milliseconds on a TCP delayed ACK), so several sessions in
 * parallel carry a burst: up to SESSIONS_MAX, at least 8 messages each
 * (Postfix allows 50 connections per client by default). */
#define SESSIONS_MAX 16

struct send_job {
    pthread_t thread;
    struct mail **mails;
    size_t n;
};

static const struct config *cfg;
static char smtp_password[CONFIG_STR_MAX];
static int auth_started;

int send_init(const struct config *config, char *err, size_t errlen)
{
    cfg = config;
    if (!cfg->notifier.smtp_user[0])
        return 0;
    if (!cfg->notifier.smtp_password_file[0]) {
        snprintf(err, errlen, "smtp_user needs smtp_password_file");
        return -1;
    }
    return config_read_secret(cfg->notifier.smtp_password_file, smtp_password, sizeof(smtp_password), err, errlen);
}

void send_start(void)
{
    if (cfg->notifier.smtp_user[0]) {
        auth_client_init();         /* once: it is global to libesmtp's SASL client */
        auth_started = 1;
    }
}

void send_free(void)
{
    if (auth_started)
        auth_client_exit();
    auth_started = 0;
    explicit_bzero(smtp_password, sizeof(smtp_password));
}

static int auth_interact(auth_client_request_t req, char **result, int fields, void *arg)
{
    (void)arg;
    for (int i = 0; i < fields; i++) {
        if (req[i].flags & AUTH_PASS)
            result[i] = smtp_password;
        else if (req[i].flags & AUTH_USER)
            result[i] = (char *)cfg->notifier.smtp_user;
        else
            result[i] = NULL;
    }
    return 1;
}

/* A session to the smarthost HOSTPORT, with STARTTLS, timeouts and the
 * login (*ACTX, or NULL without one) set; NULL when out of memory. */
static smtp_session_t open_session(const char *hostport, auth_context_t *actx)
{
    smtp_session_t s = smtp_create_session();

    *actx = NULL;
    if (!s)
        return NULL;
    smtp_set_server(s, hostport);
    smtp_starttls_enable(s, cfg->notifier.starttls == STARTTLS_REQUIRED ? Starttls_REQUIRED
                            : cfg->notifier.starttls == STARTTLS_OPTIONAL ? Starttls_ENABLED : Starttls_DISABLED);
    /* libesmtp takes milliseconds.  [notifier] smtp_timeout (30 s) is
     * shorter than RFC 5321's minutes, so a dead smarthost does not hold the
     * queue; the final-dot wait stays long (10x, at most 10 min), since giving
     * up there after the server accepted would mean a duplicate. */
    long t = (long)cfg->notifier.smtp_timeout * 1000;
    long dot = t * 10 < 600000 ? t * 10 : 600000;

    smtp_set_timeout(s, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM, t);
    smtp_set_timeout(s, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM, t);
    smtp_set_timeout(s, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM, t);
    smtp_set_timeout(s, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM, t * 2);
    smtp_set_timeout(s, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM, dot);
    if (cfg->notifier.smtp_user[0]) {
        *actx = auth_create_context();
        auth_set_mechanism_flags(*actx, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb(*actx, auth_interact, NULL);
        smtp_auth_set_context(s, *actx);
    }
    return s;
}

/* M's outcome from the smarthost's replies to its recipient and its data. */
static void read_outcome(struct mail *m)
{
    const smtp_status_t *rs = smtp_recipient_status(m->rcpt);
    const smtp_status_t *ms = smtp_message_transfer_status(m->msg);
    const smtp_status_t *st = (rs && rs->code >= 400) ? rs : ms;
    int code = st ? st->code : 0;

    if (code >= 200 && code < 300 && (!rs || rs->code < 300))
        m->outcome = MAIL_ACCEPTED;
    else if (code >= 500)
        m->outcome = MAIL_PERMANENT;
    else
        m->outcome = MAIL_TEMPORARY;
    snprintf(m->reply, sizeof(m->reply), "%d %.200s", code, st && st->text ? st->text : "no reply");
    size_t tl = strlen(m->reply);
    while (tl > 0 && (m->reply[tl - 1] == '\n' || m->reply[tl - 1] == '\r'))
        m->reply[--tl] = '\0';
}

/* Sends MAILS[N] in one session and sets each one's outcome. */
static void send_session(struct mail **mails, size_t n)
{
    char hostport[CONFIG_STR_MAX + 16], ebuf[128];
    auth_context_t actx;

    for (size_t i = 0; i < n; i++) {
        mails[i]->outcome = MAIL_TEMPORARY;
        snprintf(mails[i]->reply, sizeof(mails[i]->reply), "not sent");
    }
    snprintf(hostport, sizeof(hostport), "%s:%d", cfg->notifier.smtp_host, cfg->notifier.smtp_port);
    smtp_session_t s = open_session(hostport, &actx);
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        mails[i]->msg = smtp_add_message(s);
        smtp_set_reverse_path(mails[i]->msg, cfg->notifier.from);
        smtp_set_message_str(mails[i]->msg, mails[i]->text.p);
        mails[i]->rcpt = smtp_add_recipient(mails[i]->msg, mails[i]->guardian);
    }
    if (!smtp_start_session(s)) {
        smtp_strerror(smtp_errno(), ebuf, sizeof(ebuf));
        for (size_t i = 0; i < n; i++)
            snprintf(mails[i]->reply, sizeof(mails[i]->reply), "smarthost %.100s: %.120s", hostport, ebuf);
    } else {
        for (size_t i = 0; i < n; i++)
            read_outcome(mails[i]);
    }
    smtp_destroy_session(s);
    if (actx)
        auth_destroy_context(actx);
}

static void *send_thread(void *arg)
{
    struct send_job *j = arg;
    send_session(j->mails, j->n);
    return NULL;
}

/* Shares MAILS[N] out over up to SESSIONS_MAX sessions, one thread each. */
static void send_parallel(struct mail **mails, size_t n)
{
    struct send_job jobs[SESSIONS_MAX];
    size_t sessions = n / 8 + 1, start = 0, started = 0;

    if (sessions > SESSIONS_MAX)
        sessions = SESSIONS_MAX;
    if (sessions == 1) {
        send_session(mails, n);
        return;
    }
    for (size_t k = 0; k < sessions; k++) {
        size_t count = n / sessions + (k < n % sessions ? 1 : 0);
        jobs[k] = (struct send_job){ .mails = mails + start, .n = count };
        start += count;
        if (pthread_create(&jobs[k].thread, NULL, send_thread, &jobs[k]) != 0) {
            send_session(jobs[k].mails, jobs[k].n);     /* no thread: do it here */
            jobs[k].n = 0;
        } else {
            started |= (size_t)1 << k;
        }
    }
    for (size_t k = 0; k < sessions; k++)
        if (started & ((size_t)1 << k))
            pthread_join(jobs[k].thread, NULL);
}

void send_mails(struct mail *mails, size_t n)
{
    struct mail **composed = calloc(n ? n : 1, sizeof(*composed));     /* NOLINT(bugprone-sizeof-expression) */
    size_t ncomposed = 0;

    for (size_t k = 0; k < n; k++) {
        if (!mails[k].text.p)
            continue;
        mails[k].outcome = MAIL_TEMPORARY;      /* what stays when nothing can be tried */
        snprintf(mails[k].reply, sizeof(mails[k].reply), "not sent");
        if (composed)
            composed[ncomposed++] = &mails[k];
    }
    if (ncomposed)
        send_parallel(composed, ncomposed);
    free(composed);
}
