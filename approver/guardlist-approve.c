/*
 * guardlist-approve - the approval page a guardian reaches from the email
 * link: a CGI program for any web server, or a persistent FastCGI process
 * (lib/cgi.c's loop) that keeps its configuration, templates and database
 * connection; everything else is made again for each request.
 *
 * GET and HEAD only show (mail scanners and link previewers fetch every
 * link before a person does); POST decides, through lib/store.c, in one
 * transaction with its rule and audit row.  The token's exact shape is
 * checked before anything else, then only its SHA-256 is looked up.
 *
 * SECURITY: every input is bounded and strictly parsed (lib/form.c); every
 * value on a page is HTML-escaped (lib/template.c); pages carry CSP,
 * X-Frame-Options, Referrer-Policy and no-store; errors say what happened in
 * plain words and nothing about the internals.
 */
#include "addr.h"
#include "buf.h"
#include "cgi.h"
#include "config.h"
#include "cover.h"
#include "db.h"
#include "form.h"
#include "log.h"
#include "spfword.h"
#include "store.h"
#include "template.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION "0.1.0"
#define QUERY_MAX 256
#define BODY_MAX 1024

/* Kept from request to request: loaded by setup() at the first request
 * (again after a failed one). */
static struct config cfg;
static struct db *kept_db;
static int ready;

/* The request being answered: set and cleared by serve(). */
static struct cgi_request *io;
static int head_only;

static const char *const page_names[] = { "title", "body", NULL };
static const char *const show_names[] = { "sender", "child", "first_seen", "last_seen", "attempts",
                                          "token", "action", "domain_button", "sender_check", NULL };
static const char *const show_out_names[] = { "child", "contact", "first_seen", "last_seen", "attempts",
                                              "token", "action", NULL };
static const char *const message_names[] = { "message", "detail", NULL };
static struct template *t_page, *t_show, *t_show_out, *t_message;

/* A whole page: BODY is HTML already escaped. */
static int page(int code, const char *title, const char *body, const char *extra)
{
    struct buf out = { 0 };
    char err[200];
    struct tpl_value v[2] = { { "title", title, 0 }, { "body", body, 1 } };

    if (!t_page || template_render(t_page, TPL_HTML, v, 2, &out, err, sizeof(err)) < 0) {
        /* Without templates: a minimal page, still with every header. */
        buf_free(&out);
        cgi_unavailable(io, code, extra, head_only);
        return 0;
    }
    cgi_headers(io, code, extra);
    if (!head_only)
        cgi_write(io, out.p, out.len);
    buf_free(&out);
    return 0;
}

static int message_page(int code, const char *title, const char *message, const char *detail)
{
    struct buf body = { 0 };
    char err[200];
    struct tpl_value v[2] = { { "message", message, 0 }, { "detail", detail ? detail : "", 0 } };

    if (!t_message || template_render(t_message, TPL_HTML, v, 2, &body, err, sizeof(err)) < 0) {
        buf_free(&body);
        return page(500, "Something went wrong", "", NULL);
    }
    page(code, title, body.p, code == 405 ? "Allow: GET, HEAD, POST\r\n" : NULL);
    buf_free(&body);
    return 0;
}

/* The challenge a token names, and the link's own state. */
struct challenge {
    struct store_challenge row;
    char expired[4];                    /* "1" once the link may no longer decide */
    char guardian[ADDR_MAX + 2];        /* whose link it is; empty for a challenge's own token */
};

static int row_challenge(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct challenge *c = arg;
    int k = store_challenge_read(&c->row, ncol, col);

    (void)len;
    if (k < 0 || ncol < k + 2)
        return -1;
    snprintf(c->expired, sizeof(c->expired), "%s", col[k] ? col[k] : "1");
    snprintf(c->guardian, sizeof(c->guardian), "%s", col[k + 1] ? col[k + 1] : "");
    return 0;
}

/* The stored form of TOKEN: its SHA-256, in hex.  0, or -1 with ERR set. */
static int token_key(const char *token, char hex[2 * SHA256_LEN + 1], char *err, size_t errlen)
{
    unsigned char hash[SHA256_LEN];

    if (token_hash(token, hash) < 0) {
        snprintf(err, errlen, "SHA-256 failed (libcrypto)");
        return -1;
    }
    token_hex(hash, SHA256_LEN, hex);
    return 0;
}

/* A token is a guardian's own link (notifications.token_sha256) or, from
 * before per-guardian links, the challenge's (challenges.token_sha256),
 * which names no guardian (see store_decider_ok). */
static int lookup(struct db *db, const char *token, struct challenge *c, char *err, size_t errlen)
{
    char hex[2 * SHA256_LEN + 1];

    if (token_key(token, hex, err, errlen) < 0)
        return -1;
    const char *p[2] = { hex, hex };
    memset(c, 0, sizeof(*c));
    return db_query(db, "SELECT " STORE_CHALLENGE_COLUMNS("c.") ", "
                        "n.token_expires_at IS NULL OR n.token_expires_at < CURRENT_TIMESTAMP, n.guardian "
                        "FROM notifications n JOIN challenges c ON c.id = n.challenge_id "
                        "WHERE n.token_sha256 = UNHEX(?) "
                        "UNION ALL "
                        "SELECT " STORE_CHALLENGE_COLUMNS("c.") ", "
                        "c.token_expires_at IS NULL OR c.token_expires_at < CURRENT_TIMESTAMP, NULL "
                        "FROM challenges c WHERE c.token_sha256 = UNHEX(?) "
                        "LIMIT 1",
                    p, 2, row_challenge, c, err, errlen) < 0 ? -1 : 0;
}

static int decided_page(const struct challenge *c)
{
    char msg[2000], detail[400], covered[COVER_RULE_MAX + 300];
    const char *what = strcmp(c->row.status, "approved") == 0 ? "allowed"
                     : strcmp(c->row.status, "denied") == 0 ? "blocked" : "expired";

    cover_describe(c->row.decided_rule, covered, sizeof(covered));
    if (strcmp(c->row.status, "expired") == 0)
        snprintf(msg, sizeof(msg), "This request from %s to %s has expired.", c->row.sender, c->row.recipient);
    else if (covered[0])    /* closed by a rule written for another decision (lib/cover.c) */
        snprintf(msg, sizeof(msg), "This request was answered by another decision: %s, so %s is %s for %s.",
                 covered, c->row.sender, what, c->row.recipient);
    else
        snprintf(msg, sizeof(msg), "This request was already answered: %s is %s for %s.", c->row.sender, what,
                 c->row.recipient);
    snprintf(detail, sizeof(detail), "%s%s%s", c->row.decided_at[0] ? "Decided on " : "", c->row.decided_at,
             c->row.decided_at[0] ? " UTC. Nothing was changed now." : "Nothing was changed now.");
    return message_page(410, "Already decided", msg, detail);
}

/* The link's guardian no longer guards the key (or, for a challenge's own
 * token, not everyone it was mailed to does). */
static int gone_page(const struct challenge *c)
{
    char msg[700];

    if (c->guardian[0])
        snprintf(msg, sizeof(msg), "This link no longer works: you are no longer a guardian of %s.", c->row.key);
    else
        snprintf(msg, sizeof(msg), "This link no longer works: it comes from an older kind of email that "
                 "cannot be tied to one of the current guardians of %s.", c->row.key);
    return message_page(410, "Link no longer works", msg, c->guardian[0] ? "Nothing was changed."
                        : "Your mail administrator can still decide this request. Nothing was changed.");
}

/* A challenge for the null sender: shown, never decided here (403 for a POST). */
static int bounce_page(const struct challenge *c, int post)
{
    char msg[700], detail[1024];

    snprintf(msg, sizeof(msg), "This is a bounce message (delivery report) for %s: a mail server reporting "
             "on an email, sent without a sender address (<>).", c->row.recipient);
    if (post)
        snprintf(detail, sizeof(detail), "Approving it would let all bounce messages through to %s, from anyone, "
                 "so only your mail administrator can decide this. Nothing was changed.", c->row.recipient);
    else
        snprintf(detail, sizeof(detail), "Approving it would let all bounce messages through to %s, from anyone, "
                 "so only your mail administrator can decide this. If %s is waiting for one (an email they "
                 "sent did not arrive), ask them.", c->row.recipient, c->row.recipient);
    return message_page(post ? 403 : 200, post ? "Only your mail administrator can decide this"
                        : "A bounce message is waiting", msg, detail);
}

/* A child's request to write to a new contact (direction 'out'): the
 * contact is the challenge's sender; allowing writes the same rule as for
 * an inbound sender, which works both ways.  No SPF line: nobody's
 * envelope was judged. */
/* The page TITLE with template T filled from the N values V (an error page
 * if it cannot be rendered).  Returns 0. */
static int show_rendered(const struct template *t, const struct tpl_value *v, int n, const char *title)
{
    struct buf body = { 0 };
    char err[200];

    if (template_render(t, TPL_HTML, v, n, &body, err, sizeof(err)) == 0)
        page(200, title, body.p, NULL);
    else
        message_page(500, "Something went wrong", "This page cannot be shown right now.", NULL);
    buf_free(&body);
    return 0;
}

static int show_out(const struct challenge *c, const char *token, const char *script)
{
    struct tpl_value v[7] = {
        { "child", c->row.recipient, 0 }, { "contact", c->row.sender, 0 }, { "first_seen", c->row.first_seen, 0 },
        { "last_seen", c->row.last_seen, 0 }, { "attempts", c->row.attempts, 0 }, { "token", token, 0 },
        { "action", script, 0 },
    };
    return show_rendered(t_show_out, v, 7, "Your child wants to write to someone new");
}

static int show(const struct challenge *c, const char *token)
{
    struct buf button = { 0 };
    const char *script = cgi_param(io, "SCRIPT_NAME");
    const char *at = strrchr(c->row.sender, '@');

    if (!script || !*script || strlen(script) > 200 || script[0] != '/')
        script = "";        /* form-action 'self' with an empty action posts to this URL */
    if (store_is_outbound(&c->row))
        return show_out(c, token, script);
    char why[300];
    /* Offered only where it would be accepted: never for a public suffix
     * or a freemail domain (store.c refuses those anyway). */
    if (at && at[1] && store_domain_approvable(c->row.sender, why, sizeof(why))) {
        buf_adds(&button, "<button type=\"submit\" name=\"choice\" value=\"allow-domain\">Allow everyone at ");
        template_html_escape(&button, at + 1);
        buf_adds(&button, " and its subdomains</button>");
    }
    char spf[SPFWORD_MAX];
    /* Cannot fail at SPFWORD_MAX; if it did, the line is empty, never a wrong word. */
    spfword_sentence(c->row.spf_result, c->row.sender, spf, sizeof(spf));
    struct tpl_value v[9] = {
        { "sender", c->row.sender, 0 }, { "child", c->row.recipient, 0 }, { "first_seen", c->row.first_seen, 0 },
        { "last_seen", c->row.last_seen, 0 }, { "attempts", c->row.attempts, 0 }, { "token", token, 0 },
        { "action", script, 0 }, { "domain_button", button.p ? button.p : "", 1 }, { "sender_check", spf, 0 },
    };
    show_rendered(t_show, v, 9, "Someone wants to write to your child");
    buf_free(&button);
    return 0;
}

static int load_templates(void)
{
    static const struct template_file files[] = {
        { "page.html", page_names, &t_page }, { "approve-show.html", show_names, &t_show },
        { "approve-show-out.html", show_out_names, &t_show_out },
        { "approve-message.html", message_names, &t_message },
    };
    char err[4200];

    if (template_load_set(cfg.approver.template_dir, files, sizeof(files) / sizeof(files[0]), err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

/* POST: records CHOICE for pending challenge C, if the link's guardian may
 * still decide it (asked again inside the decision's transaction). */
static int decide(struct db *db, struct challenge *c, const char *token, const char *choice)
{
    char result[1500], msg[700], title[64], err[800], actor[ADDR_MAX + 32];
    enum store_decision how = strcmp(choice, "allow") == 0 ? STORE_APPROVE
                            : strcmp(choice, "allow-domain") == 0 ? STORE_APPROVE_DOMAIN : STORE_BLOCK;

    snprintf(actor, sizeof(actor), "approval-link%s%s", c->guardian[0] ? ":" : "", c->guardian);
    struct store_decider by = { c->guardian[0] ? STORE_BY_GUARDIAN : STORE_BY_OLD_LINK, actor, c->guardian };
    int s = store_challenge_decide(db, &by, c->row.id, how, result, sizeof(result),
                                   err, sizeof(err));
    if (s == STORE_DONE) {
        const char *at = strrchr(c->row.sender, '@');
        if (how == STORE_BLOCK) {
            snprintf(title, sizeof(title), "Sender blocked");
            snprintf(msg, sizeof(msg), "Done: %s is blocked and cannot send email to %s.", c->row.sender,
                     c->row.recipient);
        } else {
            snprintf(title, sizeof(title), "Sender allowed");
            snprintf(msg, sizeof(msg), "Done: %s%s%s may now send email to %s.",
                     how == STORE_APPROVE_DOMAIN ? "everyone at " : "",
                     how == STORE_APPROVE_DOMAIN && at ? at + 1 : c->row.sender,
                     how == STORE_APPROVE_DOMAIN ? " and its subdomains" : "", c->row.recipient);
        }
        log_info("%s", result);
        return message_page(200, title, msg, how == STORE_BLOCK ? "Their further attempts are refused."
                            : "The sender's next retry will be delivered; mail servers usually retry within the hour.");
    }
    if (s == STORE_NOT_GUARDIAN) {
        log_info("refused: %s", err);
        return gone_page(c);
    }
    if (s == STORE_ADMIN_ONLY)
        return bounce_page(c, 1);
    if (s == STORE_NOTFOUND && lookup(db, token, c, err, sizeof(err)) == 0 && c->row.found)
        return decided_page(c);     /* someone decided first */
    if (s == STORE_INVALID)
        return message_page(400, "Not possible", "This choice is not possible for this sender.", err);
    log_error("%s", err);
    return message_page(503, "Not available", "Your choice could not be saved. Please try again later.", NULL);
}

/* The answer for a looked-up token: GET/HEAD show, POST (CHOICE) decides. */
static int answer(struct db *db, struct challenge *c, const char *token, const char *choice)
{
    char err[800];

    if (!c->row.found)
        return message_page(404, "Unknown link", "This approval link is not known. It may have been "
                            "replaced by a newer email, or mistyped.", NULL);
    /* First whether the link still belongs to a guardian: someone removed
     * learns nothing more, not even what was decided.  A POST that goes on
     * to decide is asked that inside the decision's transaction
     * (store_challenge_decide(), the same gone page): not twice. */
    int decides = choice && strcmp(c->row.status, "pending") == 0 && strcmp(c->expired, "0") == 0
                  && !store_is_null_sender(c->row.sender);
    struct store_decider by = { c->guardian[0] ? STORE_BY_GUARDIAN : STORE_BY_OLD_LINK, "", c->guardian };
    int may = decides ? 1 : store_decider_ok(db, &by, c->row.id, c->row.key, err, sizeof(err));
    if (may < 0) {
        log_error("%s", err);
        return message_page(503, "Not available", "This page is not available right now. Please try again later.", NULL);
    }
    if (may == 0) {
        if (choice)
            log_info("refused: %s", err);
        return gone_page(c);
    }
    if (strcmp(c->row.status, "pending") != 0)
        return decided_page(c);
    if (strcmp(c->expired, "0") != 0)
        return message_page(410, "Link expired", "This approval link has expired. The sender stays blocked; "
                            "if they write again, you will get a new email.", NULL);
    if (store_is_null_sender(c->row.sender))
        return bounce_page(c, choice != NULL);
    return choice ? decide(db, c, token, choice) : show(c, token);
}

/* ---- a digest's own link: every request of one digest email ---- */

#define DIGEST_MAX 200          /* requests one digest lists at most (a notifier cycle's claim) */

struct digest {
    struct challenge item[DIGEST_MAX];
    size_t n;
};

static int row_digest(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct digest *dg = arg;

    if (dg->n >= DIGEST_MAX)
        return 0;
    if (row_challenge(&dg->item[dg->n], ncol, col, len) < 0)
        return -1;
    dg->n++;
    return 0;
}

static int digest_lookup(struct db *db, const char *token, struct digest *dg, char *err, size_t errlen)
{
    char hex[2 * SHA256_LEN + 1];

    if (token_key(token, hex, err, errlen) < 0)
        return -1;
    const char *p[1] = { hex };
    dg->n = 0;
    return db_query(db, "SELECT " STORE_CHALLENGE_COLUMNS("c.") ", "
                        "n.token_expires_at IS NULL OR n.token_expires_at < CURRENT_TIMESTAMP, n.guardian "
                        "FROM notifications n JOIN challenges c ON c.id = n.challenge_id "
                        "WHERE n.digest_sha256 = UNHEX(?) ORDER BY c.id LIMIT 200",
                    p, 1, row_digest, dg, err, errlen) < 0 ? -1 : 0;
}

/* What a digest item's line says about a closed request. */
static const char *closed_words(const struct challenge *c)
{
    return strcmp(c->row.status, "approved") == 0 ? "allowed"
         : strcmp(c->row.status, "denied") == 0 ? "blocked" : "expired";
}

/* 1 if item C may be decided from this link now. */
static int digest_open(struct db *db, const struct challenge *c)
{
    char err[400];
    struct store_decider by = { STORE_BY_GUARDIAN, "", c->guardian };

    return strcmp(c->row.status, "pending") == 0 && strcmp(c->expired, "0") == 0
        && !store_is_null_sender(c->row.sender) && store_decider_ok(db, &by, c->row.id, c->row.key, err, sizeof(err)) == 1;
}

/* An item's sender check in words (lib/spfword.c), as on the single page;
 * none for a bounce, which has no sender domain to check. */
static void digest_sender_check(struct buf *b, const struct challenge *c)
{
    char spf[SPFWORD_MAX];

    if (store_is_null_sender(c->row.sender))
        return;
    buf_adds(b, "<br>");
    spfword_sentence(c->row.spf_result, c->row.sender, spf, sizeof(spf));
    template_html_escape(b, spf);
}

/* GET: the list, a form per open request and one for all of them. */
static int digest_show(struct db *db, const struct digest *dg, const char *token, const char *note)
{
    struct buf b = { 0 };
    size_t open = 0;

    for (size_t i = 0; i < dg->n; i++)
        open += (size_t)digest_open(db, &dg->item[i]);
    if (note && *note) {
        buf_adds(&b, "<p><strong>");
        template_html_escape(&b, note);
        buf_adds(&b, "</strong></p>");
    }
    buf_addf(&b, "<p>%zu of the %zu senders in this email still wait for your decision.</p><ul class=\"digest\">",
             open, dg->n);
    for (size_t i = 0; i < dg->n; i++) {
        const struct challenge *c = &dg->item[i];
        buf_adds(&b, "<li><strong>");
        template_html_escape(&b, c->row.sender);
        buf_adds(&b, "</strong> &rarr; ");
        template_html_escape(&b, c->row.recipient);
        buf_adds(&b, "<br><span class=\"note\">");
        template_html_escape(&b, c->row.attempts);
        buf_adds(&b, " attempt(s), last ");
        template_html_escape(&b, c->row.last_seen);
        buf_adds(&b, " UTC</span>");
        digest_sender_check(&b, c);
        if (digest_open(db, c)) {
            buf_adds(&b, "<form method=\"post\" action=\"\" class=\"inline\"><input type=\"hidden\" name=\"d\" value=\"");
            template_html_escape(&b, token);
            buf_addf(&b, "\"><input type=\"hidden\" name=\"id\" value=\"%llu\">"
                         "<button class=\"allow\" type=\"submit\" name=\"choice\" value=\"allow\">Allow</button>"
                         "<button class=\"block\" type=\"submit\" name=\"choice\" value=\"block\">Block</button>"
                         "</form>", c->row.id);
        } else {
            buf_adds(&b, "<br>");
            buf_adds(&b, strcmp(c->row.status, "pending") != 0 ? closed_words(c)
                         : store_is_null_sender(c->row.sender) ? "only your mail administrator can decide this"
                         : "this link can no longer decide it");
        }
        buf_adds(&b, "</li>");
    }
    buf_adds(&b, "</ul>");
    if (open > 1) {
        buf_adds(&b, "<form method=\"post\" action=\"\"><input type=\"hidden\" name=\"d\" value=\"");
        template_html_escape(&b, token);
        buf_addf(&b, "\"><button class=\"allow\" type=\"submit\" name=\"choice\" value=\"allow-all\">Allow all %zu "
                     "waiting senders</button><button class=\"block\" type=\"submit\" name=\"choice\" "
                     "value=\"block-all\">Block all %zu waiting senders</button></form>", open, open);
    }
    buf_adds(&b, "<p class=\"note\">Allowing lets each sender's next retry through, usually within the hour. "
                 "Nothing changes until you press a button.</p>");
    if (b.oom) {
        buf_free(&b);
        return message_page(500, "Something went wrong", "This page cannot be shown right now.", NULL);
    }
    page(200, "Senders waiting for your decision", b.p, NULL);
    buf_free(&b);
    return 0;
}

/* POST: decides one request (ID) or every open one (allow-all, block-all). */
static int digest_decide(struct db *db, struct digest *dg, const char *token, const char *choice, const char *id)
{
    int all = strcmp(choice, "allow-all") == 0 || strcmp(choice, "block-all") == 0;
    enum store_decision how = strncmp(choice, "allow", 5) == 0 ? STORE_APPROVE : STORE_BLOCK;
    unsigned long long want = all ? 0 : strtoull(id ? id : "0", NULL, 10);
    size_t done = 0, failed = 0, found = 0;
    char note[200], err[800], result[1500], actor[ADDR_MAX + 32];

    for (size_t i = 0; i < dg->n; i++) {
        struct challenge *c = &dg->item[i];
        if (!all && c->row.id != want)
            continue;
        found++;
        if (!digest_open(db, c))
            continue;
        snprintf(actor, sizeof(actor), "digest-link:%s", c->guardian);
        struct store_decider by = { STORE_BY_GUARDIAN, actor, c->guardian };
        int s = store_challenge_decide(db, &by, c->row.id, how, result, sizeof(result), err, sizeof(err));
        if (s == STORE_DONE) {
            log_info("%s", result);
            done++;
        } else if (s != STORE_NOTFOUND) {   /* NOTFOUND: an earlier decision here closed it */
            log_info("digest: challenge %llu not decided: %s", c->row.id, err);
            failed++;
        }
    }
    if (!found)
        return message_page(400, "Bad request", "Please use one of the buttons on the page.", NULL);
    snprintf(note, sizeof(note), "Done: %zu sender(s) %s.%s", done, how == STORE_APPROVE ? "allowed" : "blocked",
             failed ? " Some could not be decided; see below." : "");
    char lerr[800];
    if (digest_lookup(db, token, dg, lerr, sizeof(lerr)) < 0) {
        log_error("%s", lerr);
        return message_page(503, "Not available", "Your choice could not be shown. Please reload the page.", NULL);
    }
    return digest_show(db, dg, token, note);
}

/* A digest POST: allow or block with a request's ID, or allow-all / block-all. */
static int digest_choice_ok(const char *choice, const char *id)
{
    if (!choice)
        return 0;
    if (strcmp(choice, "allow-all") == 0 || strcmp(choice, "block-all") == 0)
        return 1;
    if (strcmp(choice, "allow") != 0 && strcmp(choice, "block") != 0)
        return 0;
    return id && *id && strlen(id) <= 19 && strspn(id, "0123456789") == strlen(id);
}

static int digest_answer(const char *token, const char *choice, const char *id)
{
    static struct digest dg;
    char err[800];

    if (!token_valid(token))
        return message_page(400, "Not a valid link", "This is not a guardlist approval link. "
                            "Please open the link from the email exactly as it is.", NULL);
    db_idle_check(kept_db);
    if (digest_lookup(kept_db, token, &dg, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return message_page(503, "Not available", "This page is not available right now. Please try again later.", NULL);
    }
    if (dg.n == 0)
        return message_page(404, "Unknown link", "This link is not known. It may have been mistyped.", NULL);
    if (strcmp(dg.item[0].expired, "0") != 0)
        return message_page(410, "Link expired", "This link has expired. Senders who write again are asked "
                            "about in a new email.", NULL);
    return choice ? digest_decide(kept_db, &dg, token, choice, id) : digest_show(kept_db, &dg, token, NULL);
}

static int run(const char *method)
{
    char err[800];
    struct form f;
    static const char *const get_fields[] = { "t", "d", NULL };
    static const char *const post_fields[] = { "t", "choice", "d", "id", NULL };
    const char *token, *choice = NULL;

    head_only = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "POST") != 0)
        return message_page(405, "Not allowed", "This page only answers GET, HEAD and POST.", NULL);

    struct cgi_error ce;
    int post = strcmp(method, "POST") == 0;
    if (cgi_read_form(io, method, QUERY_MAX, BODY_MAX, post ? post_fields : get_fields, &f, &ce) < 0) {
        if (!post && (ce.status == 400 || ce.status == 414))
            return message_page(ce.status, ce.status == 414 ? "Link too long" : "Not a valid link",
                                "This is not a guardlist approval link.", NULL);
        return message_page(ce.status, ce.status == 413 ? "Request too large" : "Bad request", ce.what, NULL);
    }
    if (form_get(&f, "d")) {        /* a digest's own link */
        choice = post ? form_get(&f, "choice") : NULL;
        const char *id = post ? form_get(&f, "id") : NULL;
        if (post && !digest_choice_ok(choice, id))
            return message_page(400, "Bad request", "Please use one of the buttons on the page.", NULL);
        return digest_answer(form_get(&f, "d"), choice, id);
    }
    if (post) {
        choice = form_get(&f, "choice");
        if (!choice || (strcmp(choice, "allow") != 0 && strcmp(choice, "allow-domain") != 0
                        && strcmp(choice, "block") != 0))
            return message_page(400, "Bad request", "Please use one of the buttons on the page.", NULL);
    }
    token = form_get(&f, "t");
    if (!token_valid(token))
        return message_page(400, "Not a valid link", "This is not a guardlist approval link. "
                            "Please open the link from the email exactly as it is.", NULL);

    struct challenge c;
    db_idle_check(kept_db);     /* a connection the server dropped since the last request is made again */
    if (lookup(kept_db, token, &c, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return message_page(503, "Not available", "This page is not available right now. Please try again later.", NULL);
    }
    return answer(kept_db, &c, token, choice);
}

static void teardown(void)
{
    template_free(t_page);
    template_free(t_show);
    template_free(t_show_out);
    template_free(t_message);
    t_page = t_show = t_message = NULL;
    db_free(kept_db);
    kept_db = NULL;
    store_unconfigure();
    ready = 0;
}

/* Loads what requests share: the configuration, the templates and the
 * database handle (it connects at its first query).  Returns 0, or -1 with
 * the reason logged; the next request tries again. */
static int setup(void)
{
    char err[800];
    struct config_db p;

    teardown();
    if (cgi_setup_config(&cfg, "guardlist-approve") < 0 || load_templates() < 0)
        return -1;
    if (config_db_for(&cfg, &cfg.approver.account, &p, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    kept_db = db_new(&p);
    explicit_bzero(&p, sizeof(p));
    if (!kept_db) {
        log_error("out of memory");
        return -1;
    }
    ready = 1;
    return 0;
}

/* One request, from a clean state: nothing of the last one is kept but
 * what setup() loaded. */
static void serve(struct cgi_request *r, void *arg)
{
    const char *method = cgi_param(r, "REQUEST_METHOD");

    (void)arg;
    io = r;
    head_only = method && strcmp(method, "HEAD") == 0;
    if (!method)
        message_page(400, "Bad request", "The web server passed no request method.", NULL);
    else if (!ready && setup() < 0)
        page(503, "Not available", "", NULL);
    else
        run(method);
    io = NULL;
    head_only = 0;
}

int main(int argc, char **argv)
{
    char err[800];
    int fastcgi = cgi_is_fastcgi();

    /* A web server may pass a query without '=' as arguments (CGI/1.1's
     * ISINDEX form): under a web server they are not options. */
    if (argc > 1 && !fastcgi && !getenv("REQUEST_METHOD")) {
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
            printf("guardlist-approve %s\n", VERSION);
            return 0;
        }
        printf("Usage: guardlist-approve   (run by a web server as a CGI or FastCGI program)\n"
               "\n"
               "The approval page behind the link in guardlist's emails: GET ?t=TOKEN shows\n"
               "who wants to write to whom; POST t=TOKEN&choice=allow|allow-domain|block\n"
               "decides.  Configuration: $GUARDLIST_CONFIG, else " CONFIG_DEFAULT_PATH "\n"
               "(section [approver]: its database account, token_ttl_days, template_dir).\n"
               "Started by a FastCGI server (stdin a listening socket) it serves request after\n"
               "request until SIGTERM.\n");
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }
    /* stderr is the web server's error log; [log] may send it to syslog. */
    log_init("guardlist-approve", LOG_TO_STDERR, LOG_LVL_INFO);
    if (!fastcgi && !getenv("REQUEST_METHOD")) {
        log_error("REQUEST_METHOD is not set: run me from a web server as a CGI or FastCGI program (see --help)");
        return 2;
    }
    int rc = cgi_serve(serve, NULL, err, sizeof(err));
    if (rc < 0)
        log_error("%s", err);
    teardown();
    return rc < 0 ? 1 : 0;
}
