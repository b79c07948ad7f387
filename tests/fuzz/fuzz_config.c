/*
 * fuzz_config - libFuzzer target for lib/config.c: the INI file every
 * program reads at start-up (and guardlistd on SIGHUP), through the strict
 * checks in front of inih.
 *
 * The input is the file.  It is read from memory (config_load_string) and
 * from an in-memory file (config_load on a memfd, mode 0600), which must
 * agree byte for byte, error text included; a file holding a password is
 * read again with mode 0644 and must then be refused.  The same bytes are
 * also read as a password file (config_read_secret).
 * Invariants: every string field ends inside its buffer, every number and
 * choice is within the range config.c allows, listen and on_allow have
 * their shapes, and an error names the file and a line.  No files on disk,
 * no network, no database.
 */
#include "fuzz.h"
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

static void check_account(const struct config_account *a)
{
    FUZZ_CHECK(fuzz_terminated(a->user, sizeof(a->user)));
    FUZZ_CHECK(fuzz_terminated(a->password, sizeof(a->password)));
    FUZZ_CHECK(fuzz_terminated(a->password_file, sizeof(a->password_file)));
}

static int has_password(const struct config *c)
{
    return c->db.password[0] || c->policy.account.password[0] || c->notifier.account.password[0]
        || c->approver.account.password[0] || c->admin.account.password[0];
}

#define IN(v, lo, hi) ((v) >= (lo) && (v) <= (hi))

static void check_config(const struct config *c)
{
    const struct config_db *d = &c->db;

    FUZZ_CHECK(fuzz_terminated(c->path, sizeof(c->path)));
    FUZZ_CHECK(fuzz_terminated(d->host, sizeof(d->host)) && fuzz_terminated(d->socket, sizeof(d->socket)));
    FUZZ_CHECK(fuzz_terminated(d->name, sizeof(d->name)) && fuzz_terminated(d->user, sizeof(d->user)));
    FUZZ_CHECK(fuzz_terminated(d->password, sizeof(d->password)));
    FUZZ_CHECK(fuzz_terminated(d->password_file, sizeof(d->password_file)));
    FUZZ_CHECK(IN(d->port, 0, 65535));
    FUZZ_CHECK(IN(d->nhosts, 0, CONFIG_DB_HOSTS_MAX) && IN(d->failback_interval, 1, 3600));
    for (int i = 0; i < d->nhosts; i++)
        FUZZ_CHECK(fuzz_terminated(d->hosts[i].name, sizeof(d->hosts[i].name)) && d->hosts[i].name[0]
                   && IN(d->hosts[i].port, 0, 65535));

    FUZZ_CHECK(fuzz_terminated(c->policy.listen, sizeof(c->policy.listen)));
    FUZZ_CHECK(strncmp(c->policy.listen, "inet:", 5) == 0 || strncmp(c->policy.listen, "unix:/", 6) == 0);
    FUZZ_CHECK(c->policy.unknown_sender == UNKNOWN_DEFER || c->policy.unknown_sender == UNKNOWN_REJECT);
    FUZZ_CHECK(strcmp(c->policy.on_allow, "DUNNO") == 0 || strcmp(c->policy.on_allow, "OK") == 0);
    FUZZ_CHECK(c->policy.null_sender == NULL_REJECT || c->policy.null_sender == NULL_ALLOW
               || c->policy.null_sender == NULL_CHALLENGE);
    FUZZ_CHECK(fuzz_terminated(c->policy.recipient_delimiter, sizeof(c->policy.recipient_delimiter)));
    for (const char *p = c->policy.recipient_delimiter; *p; p++)
        FUZZ_CHECK(!isalnum((unsigned char)*p) && *p != '@' && *p != '.' && (unsigned char)*p > 0x20
                   && *p != 0x7f);
    FUZZ_CHECK(IN(c->policy.refresh_interval, 1, 3600));
    FUZZ_CHECK(IN(c->policy.full_reload_interval, 10, 86400));
    FUZZ_CHECK(IN(c->policy.idle_timeout, 1, 86400));
    FUZZ_CHECK(IN(c->policy.read_timeout, 1, 3600));
    FUZZ_CHECK(IN(c->policy.max_connections, 1, 100000));
    FUZZ_CHECK(IN(c->policy.max_new_per_recipient, 1, 1000000));
    FUZZ_CHECK(IN(c->policy.max_new_per_client, 1, 1000000));
    check_account(&c->policy.account);

    FUZZ_CHECK(fuzz_terminated(c->notifier.smtp_host, sizeof(c->notifier.smtp_host)));
    FUZZ_CHECK(IN(c->notifier.smtp_port, 1, 65535));
    FUZZ_CHECK(IN((int)c->notifier.starttls, STARTTLS_REQUIRED, STARTTLS_OFF));
    FUZZ_CHECK(fuzz_terminated(c->notifier.smtp_user, sizeof(c->notifier.smtp_user)));
    FUZZ_CHECK(fuzz_terminated(c->notifier.smtp_password_file, sizeof(c->notifier.smtp_password_file)));
    FUZZ_CHECK(fuzz_terminated(c->notifier.from, sizeof(c->notifier.from)));
    FUZZ_CHECK(fuzz_terminated(c->notifier.approve_url, sizeof(c->notifier.approve_url)));
    FUZZ_CHECK(IN(c->notifier.max_per_hour, 1, 100000));
    FUZZ_CHECK(IN(c->notifier.poll_interval, 1, 3600));
    FUZZ_CHECK(fuzz_terminated(c->notifier.template_dir, sizeof(c->notifier.template_dir)));
    check_account(&c->notifier.account);

    FUZZ_CHECK(IN(c->approver.token_ttl_days, 1, 365));
    FUZZ_CHECK(fuzz_terminated(c->approver.template_dir, sizeof(c->approver.template_dir)));
    check_account(&c->approver.account);
    FUZZ_CHECK(IN(c->admin.purge_after_days, 1, 3650));
    check_account(&c->admin.account);
    FUZZ_CHECK(c->log.target == LOG_TO_STDERR || c->log.target == LOG_TO_SYSLOG);
    FUZZ_CHECK(IN((int)c->log.level, LOG_LVL_DEBUG, LOG_LVL_ERROR));
}

/* An error names the file: "NAME:LINE: ..." or "NAME: ...". */
static void check_error(const char *err, size_t size, const char *name)
{
    size_t n = strlen(name);

    FUZZ_CHECK(fuzz_terminated(err, size));
    FUZZ_CHECK(strncmp(err, name, n) == 0 && err[n] == ':');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static struct config from_text, from_file;
    char err_text[600], err_file[600], path[32];

    if (len > 64 * 1024)
        return 0;
    char *text = fuzz_cstr(data, len);
    int fd = fuzz_memfile(data, len, 0600, path);

    config_defaults(&from_text);
    config_defaults(&from_file);
    err_text[0] = err_file[0] = '\0';
    int rc_text = config_load_string(&from_text, path, text, err_text, sizeof(err_text));
    int rc_file = config_load(&from_file, path, err_file, sizeof(err_file));

    if (rc_file == 0)
        check_config(&from_file);
    else
        check_error(err_file, sizeof(err_file), path);
    if (rc_text == 0)
        check_config(&from_text);
    else
        check_error(err_text, sizeof(err_text), path);

    if (memchr(data, '\0', len)) {
        FUZZ_CHECK(rc_file < 0);        /* a file with a NUL is refused whole */
    } else {
        FUZZ_CHECK(rc_text == rc_file);
        if (rc_text == 0)
            FUZZ_CHECK(memcmp(&from_text, &from_file, sizeof(from_text)) == 0);
        else
            FUZZ_CHECK(strcmp(err_text, err_file) == 0);
    }

    /* The same bytes as a password file: the first line, without its line
     * end, bounded by the buffer; refused once the file is world-readable. */
    char secret[64];
    err_file[0] = '\0';
    if (config_read_secret(path, secret, sizeof(secret), err_file, sizeof(err_file)) == 0) {
        FUZZ_CHECK(fuzz_terminated(secret, sizeof(secret)));
        size_t n = strlen(secret);
        FUZZ_CHECK(strchr(secret, '\n') == NULL && (n == 0 || secret[n - 1] != '\r'));
        FUZZ_CHECK(n == 0 || memcmp(secret, data, n) == 0);
    } else {
        check_error(err_file, sizeof(err_file), path);
    }
    FUZZ_CHECK(fchmod(fd, 0644) == 0);
    FUZZ_CHECK(config_read_secret(path, secret, sizeof(secret), err_file, sizeof(err_file)) < 0);
    check_error(err_file, sizeof(err_file), path);

    if (rc_file == 0 && has_password(&from_file)) {
        config_defaults(&from_file);
        FUZZ_CHECK(config_load(&from_file, path, err_file, sizeof(err_file)) < 0);
        FUZZ_CHECK(strstr(err_file, "world-readable") != NULL);
    }
    close(fd);
    free(text);
    return 0;
}
