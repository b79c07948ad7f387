/* test_config.c - unit tests of lib/config.c: the INI file every program
 * reads.  Errors name FILE:LINE and the first one wins; defaults are those of
 * DESIGN.md; secrets must not be world-readable.  One row a case.
 * Temporary files are made with mkstemp in /tmp and removed at the end. */
#include "unit.h"
#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

/* ---- temporary files ---- */

static char tmp_paths[32][64];
static size_t tmp_count;

/* Creates a file holding CONTENT with MODE; returns its path (static storage). */
static const char *make_tmp(const char *content, mode_t mode)
{
    char *path;
    int fd;
    size_t len = strlen(content);

    assert_true(tmp_count < UNIT_LEN(tmp_paths));
    path = tmp_paths[tmp_count++];
    snprintf(path, sizeof tmp_paths[0], "/tmp/guardlist-ut-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

/* A path that does not exist. */
static const char *missing_path(void)
{
    const char *p = make_tmp("", 0600);
    unlink(p);
    return p;
}

static int remove_tmp(void **state)
{
    (void)state;
    for (size_t i = 0; i < tmp_count; i++)
        unlink(tmp_paths[i]);
    return 0;
}

static struct config cfg;     /* large: keep it off the stack */

static void load_string(const char *text)
{
    char err[512] = "";

    config_defaults(&cfg);
    if (config_load_string(&cfg, "t.ini", text, err, sizeof err) != 0)
        fail_msg("config_load_string refused a valid text: %s", err);
}

/* ---- errors name NAME:LINE; the first error wins ---- */

#define A10 "aaaaaaaaaa"
#define A100 A10 A10 A10 A10 A10 A10 A10 A10 A10 A10

struct err_row {
    const char *name;
    const char *text;
    const char *where[2];   /* acceptable "t.ini:LINE:" prefixes (second may be NULL) */
    const char *word;       /* the message names this (NULL: not checked) */
};

static struct err_row err_rows[] = {
    {"error: threads = 0", "[policy]\nthreads = 0\n", {"t.ini:2:", NULL}, "threads"},
    {"error: threads = 65", "[policy]\nthreads = 65\n", {"t.ini:2:", NULL}, "threads"},
    {"error: threads = many", "[policy]\n\nthreads = many\n", {"t.ini:3:", NULL}, "auto"},
    {"error: trusted_forwarders with a host name", "[policy]\ntrusted_forwarders = 10.0.0.1, mx.example.org\n",
     {"t.ini:2:", NULL}, "mx.example.org"},
    {"error: trusted_forwarders with host bits set", "[policy]\ntrusted_forwarders = 192.0.2.1/24\n",
     {"t.ini:2:", NULL}, "host bits"},
    {"error: trusted_forwarders prefix too long", "[policy]\n\ntrusted_forwarders = 2001:db8::/200\n",
     {"t.ini:3:", NULL}, "prefix length"},
    {"error: spf = maybe", "[policy]\nspf = maybe\n", {"t.ini:2:", NULL}, "spf"},
    {"error: resolver with a host name", "[policy]\nresolver = dns.example.org\n", {"t.ini:2:", NULL},
     "dns.example.org"},
    {"error: resolver port 0", "[policy]\nresolver = 127.0.0.1:0\n", {"t.ini:2:", NULL}, "port"},
    {"error: resolver IPv6 without brackets and a port", "[policy]\nresolver = [::1]53\n",
     {"t.ini:2:", NULL}, "port"},
    {"error: spf_threads = 0", "[policy]\nspf_threads = 0\n", {"t.ini:2:", NULL}, "spf_threads"},
    {"error: spf_queue = 0", "[policy]\nspf_queue = 0\n", {"t.ini:2:", NULL}, "spf_queue"},
    {"error: unknown section", "[database]\nport = 3306\n[bogus]\nfoo = 1\n",
     {"t.ini:3:", "t.ini:4:"}, "bogus"},
    {"error: unknown empty section", "[database]\nport = 3306\n[bogus]\n",
     {"t.ini:3:", NULL}, "bogus"},
    {"error: unknown key in a known section", "[policy]\n\n; a comment\ncolour = blue\n",
     {"t.ini:4:", NULL}, "colour"},
    {"error: key of another section", "[policy]\nport = 3306\n", {"t.ini:2:", NULL}, "port"},
    {"error: key before any section", "port = 3306\n", {"t.ini:1:", NULL}, NULL},
    {"error: line without =", "[policy]\njunk\n", {"t.ini:2:", NULL}, NULL},
    {"error: unknown_sender = maybe", "[policy]\nunknown_sender = maybe\n",
     {"t.ini:2:", NULL}, "unknown_sender"},
    {"error: on_allow = ACCEPT", "[policy]\non_allow = ACCEPT\n", {"t.ini:2:", NULL}, "on_allow"},
    {"error: null_sender = sometimes", "[policy]\nnull_sender = sometimes\n",
     {"t.ini:2:", NULL}, "null_sender"},
    {"error: starttls = perhaps", "[notifier]\nstarttls = perhaps\n", {"t.ini:2:", NULL},
     "starttls"},
    {"error: log target = file", "[log]\ntarget = file\n", {"t.ini:2:", NULL}, "target"},
    {"error: log level = loud", "[log]\nlevel = loud\n", {"t.ini:2:", NULL}, "level"},
    {"error: port = 70000", "[database]\nport = 70000\n", {"t.ini:2:", NULL}, "port"},
    {"error: port = -1", "[database]\nport = -1\n", {"t.ini:2:", NULL}, "port"},
    {"error: port = abc", "[database]\nport = abc\n", {"t.ini:2:", NULL}, "port"},
    {"error: port = 3306x", "[database]\nport = 3306x\n", {"t.ini:2:", NULL}, "port"},
    {"error: port empty", "[database]\nport =\n", {"t.ini:2:", NULL}, "port"},
    {"error: smtp_port = 70000", "[notifier]\nsmtp_port = 70000\n", {"t.ini:2:", NULL},
     "smtp_port"},
    {"error: refresh_interval = 0", "[policy]\nrefresh_interval = 0\n", {"t.ini:2:", NULL},
     "refresh_interval"},
    {"error: refresh_interval = -1", "[policy]\nrefresh_interval = -1\n", {"t.ini:2:", NULL},
     "refresh_interval"},
    {"error: integer overflow", "[policy]\nrefresh_interval = 99999999999999999999\n",
     {"t.ini:2:", NULL}, "refresh_interval"},
    {"error: listen = tcp:1.2.3.4:1", "[policy]\nlisten = tcp:1.2.3.4:1\n", {"t.ini:2:", NULL},
     "listen"},
    {"error: listen = inet:127.0.0.1 (no port)", "[policy]\nlisten = inet:127.0.0.1\n",
     {"t.ini:2:", NULL}, "listen"},
    {"error: listen = inet:127.0.0.1:99999", "[policy]\nlisten = inet:127.0.0.1:99999\n",
     {"t.ini:2:", NULL}, "listen"},
    {"error: listen = unix:relative/path", "[policy]\nlisten = unix:relative/path\n",
     {"t.ini:2:", NULL}, "listen"},
    {"error: listen = unix: (empty path)", "[policy]\nlisten = unix:\n", {"t.ini:2:", NULL},
     "listen"},
    {"error: listen empty", "[policy]\nlisten =\n", {"t.ini:2:", NULL}, "listen"},
    {"error: metrics_listen = unix:/run/m (TCP only)", "[policy]\nmetrics_listen = unix:/run/m\n",
     {"t.ini:2:", NULL}, "metrics_listen"},
    {"error: metrics_listen without a port", "[policy]\nmetrics_listen = inet:127.0.0.1\n",
     {"t.ini:2:", NULL}, "metrics_listen"},
    {"error: notifier metrics_listen = 9311", "[notifier]\nmetrics_listen = 9311\n", {"t.ini:2:", NULL},
     "metrics_listen"},
    {"error: recipient_delimiter too long (no silent truncation)",
     "[policy]\nrecipient_delimiter = +-_.=~!#$%^&*()[]{}\n", {"t.ini:2:", NULL},
     "recipient_delimiter"},
    {"error: first error wins (bad value, then unknown key)",
     "[policy]\nunknown_sender = maybe\ncolour = blue\n", {"t.ini:2:", NULL}, "unknown_sender"},
    {"error: first error wins (unknown key, then bad value)",
     "[policy]\n; c\ncolour = blue\nunknown_sender = maybe\nport = 1\n", {"t.ini:3:", NULL},
     "colour"},
    {"error: run_as_user longer than 63 bytes (no silent truncation)",
     "[policy]\nrun_as_user = " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\n", {"t.ini:2:", NULL},
     "run_as_user"},
    {"error: run_as_group in [approver] (only the daemons drop)", "[approver]\nrun_as_group = nogroup\n",
     {"t.ini:2:", NULL}, "run_as_group"},
    {"error: [web] page_size above 500", "[web]\npage_size = 501\n", {"t.ini:2:", NULL}, "page_size"},
    {"error: [web] page_size below 10", "[web]\npage_size = 9\n", {"t.ini:2:", NULL}, "page_size"},
    {"error: run_as_user in [web] (a CGI does not drop)", "[web]\nrun_as_user = nobody\n",
     {"t.ini:2:", NULL}, "run_as_user"},
    {"error: first error wins (unknown key, then unknown section)",
     "[policy]\ncolour = blue\n[bogus]\n", {"t.ini:2:", NULL}, "colour"},
    {"error: host empty", "[database]\nhost =\n", {"t.ini:2:", NULL}, "host is empty"},
    {"error: host list ends with a comma", "[database]\nhost = db1, db2,\n", {"t.ini:2:", NULL}, "comma"},
    {"error: host list with an empty entry", "[database]\nhost = db1,, db2\n", {"t.ini:2:", NULL},
     "entry 2 is empty"},
    {"error: host list starting with a comma", "[database]\nhost = , db1\n", {"t.ini:2:", NULL},
     "entry 1 is empty"},
    {"error: host entry port 99999", "[database]\nhost = db1, db2:99999\n", {"t.ini:2:", NULL},
     "entry 2 'db2:99999': port must be"},
    {"error: host entry port 0", "[database]\nhost = db1:0\n", {"t.ini:2:", NULL}, "port must be"},
    {"error: host entry port not a number", "[database]\nhost = db1:mysql\n", {"t.ini:2:", NULL},
     "port must be"},
    {"error: host entry port empty", "[database]\nhost = db1:\n", {"t.ini:2:", NULL}, "port must be"},
    {"error: host entry port signed", "[database]\nhost = db1:+3306\n", {"t.ini:2:", NULL}, "port must be"},
    {"error: host entry without a name", "[database]\nhost = :3306\n", {"t.ini:2:", NULL}, "no host name"},
    {"error: host list of 9 entries (at most 8)", "[database]\nhost = a b c d e f g h i\n",
     {"t.ini:2:", NULL}, "more than 8"},
    {"error: host IPv6 without brackets", "[database]\nhost = 2001:db8::1\n", {"t.ini:2:", NULL},
     "brackets"},
    {"error: host brackets around no IPv6 address", "[database]\nhost = [db1]:3306\n",
     {"t.ini:2:", NULL}, "IPv6"},
    {"error: host bracket not closed", "[database]\nhost = [::1:3306\n", {"t.ini:2:", NULL}, "']'"},
    {"error: host junk after the brackets", "[database]\nhost = [::1]3306\n", {"t.ini:2:", NULL},
     ":PORT"},
    {"error: host empty brackets", "[database]\nhost = []:3306\n", {"t.ini:2:", NULL}, "no host name"},
    {"error: host entry with a socket path", "[database]\nhost = db1, /run/mysqld/mysqld.sock\n",
     {"t.ini:2:", NULL}, "socket ="},
    {"error: host entry with unix:", "[database]\nhost = unix:/run/mysqld/mysqld.sock\n",
     {"t.ini:2:", NULL}, "socket ="},
    {"error: host entry with a bad character", "[database]\nhost = db1, db!2\n", {"t.ini:2:", NULL},
     "not a host name"},
    {"error: first error wins (bad host entry, then unknown key)",
     "[database]\nhost = db1:x\ncolour = blue\n", {"t.ini:2:", NULL}, "host entry 1"},
    {"error: failback_interval = 0", "[database]\nfailback_interval = 0\n", {"t.ini:2:", NULL},
     "failback_interval"},
    {"error: failback_interval = 3601", "[database]\nfailback_interval = 3601\n", {"t.ini:2:", NULL},
     "failback_interval"},
};

static void test_error(void **state)
{
    const struct err_row *row = *state;
    char err[512] = "";

    config_defaults(&cfg);
    assert_int_equal(config_load_string(&cfg, "t.ini", row->text, err, sizeof err), -1);
    if (strncmp(err, row->where[0], strlen(row->where[0])) != 0 &&
        (row->where[1] == NULL || strncmp(err, row->where[1], strlen(row->where[1])) != 0))
        fail_msg("error \"%s\" does not start with \"%s\"%s%s", err, row->where[0],
                 row->where[1] ? " or " : "", row->where[1] ? row->where[1] : "");
    if (row->word)
        assert_contains(err, row->word);
}

/* ---- accepted texts ---- */

static void check_defaults(void)
{
    assert_string_equal(cfg.policy.listen, "inet:127.0.0.1:10040");
    assert_int_equal(cfg.policy.unknown_sender, UNKNOWN_DEFER);
    assert_string_equal(cfg.policy.on_allow, "DUNNO");
    assert_int_equal(cfg.policy.null_sender, NULL_REJECT);
    assert_string_equal(cfg.policy.recipient_delimiter, "+");
    assert_int_equal(cfg.policy.refresh_interval, 1);
    assert_int_equal(cfg.log.target, LOG_TO_STDERR);
    assert_int_equal(cfg.log.level, LOG_LVL_INFO);
    assert_int_equal(cfg.db.port, 3306);
    assert_int_equal(cfg.notifier.smtp_port, 25);
    assert_int_equal(cfg.notifier.smtp_timeout, 30);
    assert_int_equal(cfg.approver.token_ttl_days, 7);
    assert_int_equal(cfg.policy.trusted_forwarders.n, 0);
    assert_string_equal(cfg.policy.freemail_domains, "");
    assert_string_equal(cfg.db.host, "localhost");
    assert_int_equal(cfg.db.nhosts, 0);     /* not set: localhost when there is no socket */
    assert_string_equal(cfg.db.socket, "");
    assert_int_equal(cfg.db.failback_interval, 30);
    assert_int_equal(cfg.policy.spf, 0);
    assert_string_equal(cfg.policy.resolver, "");
    assert_int_equal(cfg.policy.spf_threads, 4);
    assert_int_equal(cfg.policy.spf_queue, 1000);
    assert_string_equal(cfg.policy.metrics_listen, "");      /* off */
    assert_string_equal(cfg.notifier.metrics_listen, "");
}

static void check_metrics(void)
{
    assert_string_equal(cfg.policy.metrics_listen, "inet:127.0.0.1:9310");
    assert_string_equal(cfg.notifier.metrics_listen, "inet:[::1]:9311");
}

static void check_policy(void)
{
    assert_string_equal(cfg.policy.listen, "unix:/var/spool/postfix/private/guardlist");
    assert_int_equal(cfg.policy.unknown_sender, UNKNOWN_REJECT);
    assert_string_equal(cfg.policy.on_allow, "OK");
    assert_int_equal(cfg.policy.null_sender, NULL_CHALLENGE);
    assert_string_equal(cfg.policy.recipient_delimiter, "+-");
    assert_int_equal(cfg.policy.refresh_interval, 2);
    assert_string_equal(cfg.policy.account.user, "guardlist_daemon2");
    /* untouched sections keep their defaults */
    assert_int_equal(cfg.db.port, 3306);
    assert_int_equal(cfg.log.level, LOG_LVL_INFO);
}

static void check_null_allow(void)
{
    assert_int_equal(cfg.policy.null_sender, NULL_ALLOW);
    assert_int_equal(cfg.policy.unknown_sender, UNKNOWN_DEFER);
    assert_string_equal(cfg.policy.on_allow, "DUNNO");
    assert_string_equal(cfg.policy.listen, "inet:127.0.0.1:10041");
}

static void check_empty_delimiter(void)
{
    assert_string_equal(cfg.policy.recipient_delimiter, "");
}

static void check_database(void)
{
    assert_string_equal(cfg.db.host, "db.example.org");
    assert_int_equal(cfg.db.port, 3307);
    assert_string_equal(cfg.db.name, "gl");
    assert_string_equal(cfg.db.user, "guardlist_daemon");
    assert_string_equal(cfg.db.password_file, "/etc/guardlist/db-daemon.secret");
    assert_string_equal(cfg.db.socket, "/run/mysqld/mysqld.sock");
    assert_int_equal(cfg.db.nhosts, 1);
    assert_string_equal(cfg.db.hosts[0].name, "db.example.org");
    assert_int_equal(cfg.db.hosts[0].port, 0);      /* [database] port */
}

static void check_host_list(void)
{
    assert_string_equal(cfg.db.host, "db1.example.org, 192.0.2.7:3307, [2001:db8::5]:3308 [::1]");
    assert_int_equal(cfg.db.nhosts, 4);
    assert_string_equal(cfg.db.hosts[0].name, "db1.example.org");
    assert_int_equal(cfg.db.hosts[0].port, 0);
    assert_string_equal(cfg.db.hosts[1].name, "192.0.2.7");
    assert_int_equal(cfg.db.hosts[1].port, 3307);
    assert_string_equal(cfg.db.hosts[2].name, "2001:db8::5");
    assert_int_equal(cfg.db.hosts[2].port, 3308);
    assert_string_equal(cfg.db.hosts[3].name, "::1");
    assert_int_equal(cfg.db.hosts[3].port, 0);
    assert_int_equal(cfg.db.port, 3309);
    assert_int_equal(cfg.db.failback_interval, 5);
    assert_string_equal(cfg.db.socket, "");
}

static void check_host_eight(void)
{
    static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g", "h" };

    assert_int_equal(cfg.db.nhosts, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(cfg.db.hosts[i].name, names[i]);
}

static void check_host_replaced(void)
{
    assert_int_equal(cfg.db.nhosts, 1);
    assert_string_equal(cfg.db.hosts[0].name, "db3");
    assert_int_equal(cfg.db.hosts[0].port, 3310);
    assert_string_equal(cfg.db.host, "db3:3310");
}

static void check_log_notifier(void)
{
    assert_int_equal(cfg.log.target, LOG_TO_SYSLOG);
    assert_int_equal(cfg.log.level, LOG_LVL_DEBUG);
    assert_string_equal(cfg.notifier.smtp_host, "smarthost.example.org");
    assert_int_equal(cfg.notifier.smtp_port, 587);
    assert_int_equal(cfg.notifier.starttls, STARTTLS_REQUIRED);
    assert_string_equal(cfg.notifier.from, "guardlist@example.org");
    assert_int_equal(cfg.notifier.max_per_hour, 20);
    assert_int_equal(cfg.notifier.poll_interval, 3);
    assert_int_equal(cfg.notifier.smtp_timeout, 7);
    assert_string_equal(cfg.notifier.account.user, "guardlist_notify");
    assert_int_equal(cfg.approver.token_ttl_days, 3);
}

static void check_web(void)
{
    assert_string_equal(cfg.web.account.user, "guardlist_web");
    assert_string_equal(cfg.web.account.password_file, "/etc/guardlist/db-web.secret");
    assert_string_equal(cfg.web.secret_file, "/etc/guardlist/web.secret");
    assert_string_equal(cfg.web.admins, "admin, mum");
    assert_int_equal(cfg.web.page_size, 100);
    assert_string_equal(cfg.web.template_dir, "/srv/tpl");
    assert_string_equal(cfg.db.user, "guardlist_daemon");     /* [web] user is the page's own */
}

static void check_run_as(void)
{
    assert_string_equal(cfg.policy.run_as_user, "guardlist");
    assert_string_equal(cfg.policy.run_as_group, "guardlist");
    assert_string_equal(cfg.policy.listen_group, "postfix");
    assert_string_equal(cfg.policy.account.user, "guardlist_daemon");
    assert_string_equal(cfg.notifier.run_as_user, "gl-notify");
    assert_string_equal(cfg.notifier.run_as_group, "");
}

static void check_threads_auto(void)
{
    assert_int_equal(cfg.policy.threads, 0);
}

static void check_threads_4(void)
{
    assert_int_equal(cfg.policy.threads, 4);
}

struct good_row {
    const char *name;
    const char *text;
    void (*check)(void);
};

static void check_forwarders(void)
{
    assert_int_equal(cfg.policy.trusted_forwarders.n, 3);
    assert_int_equal(netlist_match(&cfg.policy.trusted_forwarders, "192.0.2.9"), 1);
    assert_int_equal(netlist_match(&cfg.policy.trusted_forwarders, "2001:db8::1"), 1);
    assert_int_equal(netlist_match(&cfg.policy.trusted_forwarders, "10.0.0.5"), 1);
    assert_int_equal(netlist_match(&cfg.policy.trusted_forwarders, "10.0.0.6"), 0);
    assert_string_equal(cfg.policy.freemail_domains, "/srv/freemail");
}

static void check_spf(void)
{
    struct netlist_endpoint ep;
    char err[200];

    assert_int_equal(cfg.policy.spf, 1);
    assert_string_equal(cfg.policy.resolver, "[2001:db8::53]:5353");
    assert_int_equal(netlist_endpoint(cfg.policy.resolver, 53, &ep, err, sizeof(err)), 0);
    assert_int_equal(ep.v6, 1);
    assert_int_equal(ep.port, 5353);
    assert_int_equal(cfg.policy.spf_threads, 2);
    assert_int_equal(cfg.policy.spf_queue, 10);
}

static void check_spf_v4(void)
{
    struct netlist_endpoint ep;
    char err[200];

    assert_int_equal(cfg.policy.spf, 0);
    assert_int_equal(netlist_endpoint(cfg.policy.resolver, 53, &ep, err, sizeof(err)), 0);
    assert_int_equal(ep.v6, 0);
    assert_int_equal(ep.port, 53);
    assert_memory_equal(ep.addr, "\x7f\0\0\x35", 4);
}

static struct good_row good_rows[] = {
    {"good: spf = on, resolver [IPv6]:PORT, spf_threads, spf_queue",
     "[policy]\nspf = on\nresolver = [2001:db8::53]:5353\nspf_threads = 2\nspf_queue = 10\n", check_spf},
    {"good: spf = off, resolver IPv4 without a port (53)", "[policy]\nspf = off\nresolver = 127.0.0.53\n",
     check_spf_v4},
    {"good: trusted_forwarders repeated add up; freemail_domains",
     "[policy]\ntrusted_forwarders = 192.0.2.0/24, 2001:db8::/32\ntrusted_forwarders = 10.0.0.5\n"
     "freemail_domains = /srv/freemail\n", check_forwarders},
    {"good: empty text keeps the DESIGN.md defaults", "", check_defaults},
    {"good: comments only", "; a comment\n# another\n\n[policy]\n; nothing set\n", check_defaults},
    {"good: policy section with inline ; comments",
     "[policy]\n"
     "listen = unix:/var/spool/postfix/private/guardlist   ; postfix chroot\n"
     "unknown_sender = reject ; the article's behaviour\n"
     "on_allow = OK\n"
     "null_sender = challenge\n"
     "recipient_delimiter = +-\n"
     "refresh_interval = 2 ; seconds\n"
     "user = guardlist_daemon2\n",
     check_policy},
    {"good: null_sender = allow, listen inet",
     "[policy]\nnull_sender = allow\nlisten = inet:127.0.0.1:10041\n", check_null_allow},
    {"good: empty recipient_delimiter", "[policy]\nrecipient_delimiter =\n", check_empty_delimiter},
    {"good: database section",
     "[database]\n"
     "host = db.example.org ; the replica\n"
     "socket = /run/mysqld/mysqld.sock\n"
     "port = 3307\n"
     "name = gl\n"
     "user = guardlist_daemon\n"
     "password_file = /etc/guardlist/db-daemon.secret\n",
     check_database},
    {"good: host list: commas or blanks, ports per entry, IPv6 in brackets, failback_interval",
     "[database]\nhost = db1.example.org, 192.0.2.7:3307, [2001:db8::5]:3308 [::1]\n"
     "port = 3309\nfailback_interval = 5\n", check_host_list},
    {"good: host list of 8 entries", "[database]\nhost = a,b,c,d , e\tf g,h\n", check_host_eight},
    {"good: a second host line replaces the first",
     "[database]\nhost = db1, db2\nhost = db3:3310\n", check_host_replaced},
    {"good: log, notifier and approver sections",
     "[log]\ntarget = syslog\nlevel = debug\n"
     "[notifier]\nsmtp_host = smarthost.example.org\nsmtp_port = 587\nstarttls = required\n"
     "from = guardlist@example.org\nmax_per_hour = 20\npoll_interval = 3\nsmtp_timeout = 7\n"
     "user = guardlist_notify\n"
     "[approver]\ntoken_ttl_days = 3\n",
     check_log_notifier},
    {"good: web section",
     "[web]\nuser = guardlist_web\npassword_file = /etc/guardlist/db-web.secret\n"
     "secret_file = /etc/guardlist/web.secret\nadmins = admin, mum\npage_size = 100\n"
     "template_dir = /srv/tpl\n",
     check_web},
    {"good: run_as_user, run_as_group, listen_group (not the database user)",
     "[policy]\nrun_as_user = guardlist\nrun_as_group = guardlist\nlisten_group = postfix\n"
     "user = guardlist_daemon\n[notifier]\nrun_as_user = gl-notify\n",
     check_run_as},
    {"good: threads = auto (one per online CPU)", "[policy]\nthreads = auto\n", check_threads_auto},
    {"good: threads = AUTO", "[policy]\nthreads = AUTO\n", check_threads_auto},
    {"good: threads = 4", "[policy]\nthreads = 4\n", check_threads_4},
    {"good: threads not set is auto", "[policy]\n", check_threads_auto},
    {"good: metrics_listen of both", "[policy]\nmetrics_listen = inet:127.0.0.1:9310\n"
     "[notifier]\nmetrics_listen = inet:[::1]:9311\n", check_metrics},
    {"good: metrics_listen empty is off", "[policy]\nmetrics_listen =\n", check_defaults},
};

static void test_good(void **state)
{
    const struct good_row *row = *state;

    load_string(row->text);
    row->check();
}

/* ---- texts that may be refused, but only with an error on the right line;
 * accepting them with another meaning than written is the bug ---- */

#define LONG_URL "https://mail.example.org/" A100 A100 A100     /* 325 bytes */

static void check_indented(void)
{
    assert_string_equal(cfg.db.host, "db.example.org");
    assert_int_equal(cfg.db.port, 3307);
}

static void check_long_url(void)
{
    assert_string_equal(cfg.notifier.approve_url, LONG_URL);
    assert_int_equal(cfg.notifier.max_per_hour, 11);
}

struct strict_row {
    const char *name;
    const char *text;
    const char *where;      /* an error must start with this */
    void (*check)(void);    /* when accepted, the values must be as written */
};

static struct strict_row strict_rows[] = {
    {"strict: indented key line is a key, not a continuation of the previous value",
     "[database]\nhost = db.example.org\n    port = 3307\n", "t.ini:3:", check_indented},
    {"strict: value longer than 200 bytes is kept whole or refused on its own line",
     "[notifier]\napprove_url = " LONG_URL "\nmax_per_hour = 11\n", "t.ini:2:", check_long_url},
};

static void test_strict(void **state)
{
    const struct strict_row *row = *state;
    char err[512] = "";

    config_defaults(&cfg);
    if (config_load_string(&cfg, "t.ini", row->text, err, sizeof err) != 0) {
        assert_prefix(err, row->where);
        return;
    }
    row->check();
}

static void test_defaults(void **state)
{
    (void)state;
    memset(&cfg, 0x5a, sizeof cfg);
    config_defaults(&cfg);
    check_defaults();
}

/* ---- config_path: -c beats $GUARDLIST_CONFIG beats the default ---- */

struct path_row {
    const char *name;
    const char *explicit_path;
    const char *env;        /* NULL: unset */
    const char *want;
};

static struct path_row path_rows[] = {
    {"path: default", NULL, NULL, CONFIG_DEFAULT_PATH},
    {"path: default is /etc/guardlist/guardlist.ini", NULL, NULL, "/etc/guardlist/guardlist.ini"},
    {"path: $GUARDLIST_CONFIG beats the default", NULL, "/tmp/env.ini", "/tmp/env.ini"},
    {"path: explicit beats $GUARDLIST_CONFIG", "/tmp/explicit.ini", "/tmp/env.ini",
     "/tmp/explicit.ini"},
    {"path: explicit beats the default", "/tmp/explicit.ini", NULL, "/tmp/explicit.ini"},
};

static void test_path(void **state)
{
    const struct path_row *row = *state;
    const char *got;

    if (row->env)
        assert_int_equal(setenv("GUARDLIST_CONFIG", row->env, 1), 0);
    else
        assert_int_equal(unsetenv("GUARDLIST_CONFIG"), 0);
    got = config_path(row->explicit_path);
    unsetenv("GUARDLIST_CONFIG");
    assert_non_null(got);
    assert_string_equal(got, row->want);
}

/* ---- config_read_secret ---- */

struct secret_row {
    const char *name;
    const char *content;    /* NULL: the file does not exist */
    mode_t mode;
    size_t outlen;          /* 0: the whole buffer */
    int rc;
    const char *want;
};

static struct secret_row secret_rows[] = {
    {"secret: 0600 first line, newline stripped", "s3cret\nsecond line\n", 0600, 0, 0, "s3cret"},
    {"secret: 0600 without newline", "s3cret", 0600, 0, 0, "s3cret"},
    {"secret: 0400 accepted", "s3cret\n", 0400, 0, 0, "s3cret"},
    {"secret: 0640 accepted (not world-readable)", "s3cret\n", 0640, 0, 0, "s3cret"},
    {"secret: 0644 refused", "s3cret\n", 0644, 0, -1, NULL},
    {"secret: 0604 refused", "s3cret\n", 0604, 0, -1, NULL},
    {"secret: missing file refused", NULL, 0, 0, -1, NULL},
    {"secret: longer than OUT is an error (no silent truncation)",
     "0123456789012345678901234567890123456789\n", 0600, 16, -1, NULL},
};

static void test_secret(void **state)
{
    const struct secret_row *row = *state;
    const char *path = row->content ? make_tmp(row->content, row->mode) : missing_path();
    char out[CONFIG_STR_MAX];
    char err[512] = "";
    int rc;

    rc = config_read_secret(path, out, row->outlen ? row->outlen : sizeof out, err, sizeof err);
    if (rc != row->rc)
        fail_msg("config_read_secret returned %d, expected %d (err \"%s\")", rc, row->rc, err);
    if (rc == 0)
        assert_string_equal(out, row->want);
    else
        assert_contains(err, path);
}

/* ---- config_load from a file: a file holding a password is not world-readable ---- */

struct file_row {
    const char *name;
    const char *content;    /* NULL: the file does not exist */
    mode_t mode;
    int rc;
    const char *password;   /* expected cfg.db.password when rc == 0 */
    int port;               /* expected cfg.db.port when rc == 0 */
    const char *line;       /* for rc == -1: ":LINE:" after the path, NULL: only the path */
};

static struct file_row file_rows[] = {
    {"file: password in a 0644 file refused", "[database]\nuser = u\npassword = hunter2\n", 0644,
     -1, NULL, 0, NULL},
    {"file: password in a 0600 file accepted", "[database]\nuser = u\npassword = hunter2\n", 0600,
     0, "hunter2", 3306, NULL},
    {"file: password in a 0640 file accepted", "[database]\npassword = hunter2\n", 0640,
     0, "hunter2", 3306, NULL},
    {"file: per-program password in a 0644 file refused", "[notifier]\npassword = x\n", 0644,
     -1, NULL, 0, NULL},
    {"file: no password, 0644 accepted", "[database]\nport = 3307\n", 0644, 0, "", 3307, NULL},
    {"file: password_file (a path, not a secret) in 0644 accepted",
     "[database]\npassword_file = /etc/guardlist/db.secret\n", 0644, 0, "", 3306, NULL},
    {"file: error names PATH:LINE", "[policy]\n; comment\ncolour = blue\n", 0644, -1, NULL, 0,
     ":3:"},
    {"file: missing file refused, naming it", NULL, 0, -1, NULL, 0, NULL},
};

static void test_file(void **state)
{
    const struct file_row *row = *state;
    const char *path = row->content ? make_tmp(row->content, row->mode) : missing_path();
    char err[512] = "";
    int rc;

    config_defaults(&cfg);
    rc = config_load(&cfg, path, err, sizeof err);
    if (rc != row->rc)
        fail_msg("config_load returned %d, expected %d (err \"%s\")", rc, row->rc, err);
    if (rc == 0) {
        assert_string_equal(cfg.db.password, row->password);
        assert_int_equal(cfg.db.port, row->port);
        assert_string_equal(cfg.policy.listen, "inet:127.0.0.1:10040");
        return;
    }
    assert_prefix(err, path);
    if (row->line)
        assert_prefix(err + strlen(path), row->line);
}

/* ---- config_db_for: [database] with a section's account overrides ---- */

static void test_db_for(void **state)
{
    const char *s1 = make_tmp("pw-daemon\n", 0600);
    const char *s2 = make_tmp("pw-notify\n", 0600);
    const char *s3 = make_tmp("leaked\n", 0644);
    const char *s4 = missing_path();
    char text[2048];
    char err[512] = "";
    struct config_db db;

    (void)state;
    snprintf(text, sizeof text,
             "[database]\nhost = db.example.org\nport = 3307\nname = gl\n"
             "user = guardlist_daemon\npassword_file = %s\n"
             "[notifier]\nuser = guardlist_notify\npassword_file = %s\n"
             "[approver]\nuser = guardlist_approve\npassword_file = %s\n"
             "[admin]\nuser = guardlist_admin\npassword_file = %s\n",
             s1, s2, s3, s4);
    load_string(text);

    /* [policy] has no override: [database] as it is */
    memset(&db, 0, sizeof db);
    if (config_db_for(&cfg, &cfg.policy.account, &db, err, sizeof err) != 0)
        fail_msg("config_db_for(policy): %s", err);
    assert_string_equal(db.host, "db.example.org");
    assert_int_equal(db.port, 3307);
    assert_string_equal(db.name, "gl");
    assert_string_equal(db.user, "guardlist_daemon");
    assert_string_equal(db.password, "pw-daemon");

    /* [notifier] overrides user and password_file */
    memset(&db, 0, sizeof db);
    if (config_db_for(&cfg, &cfg.notifier.account, &db, err, sizeof err) != 0)
        fail_msg("config_db_for(notifier): %s", err);
    assert_string_equal(db.host, "db.example.org");
    assert_int_equal(db.port, 3307);
    assert_string_equal(db.user, "guardlist_notify");
    assert_string_equal(db.password, "pw-notify");

    /* [approver]'s password file is world-readable: refused, naming it */
    err[0] = '\0';
    assert_int_equal(config_db_for(&cfg, &cfg.approver.account, &db, err, sizeof err), -1);
    assert_contains(err, s3);

    /* [admin]'s password file does not exist: refused, naming it */
    err[0] = '\0';
    assert_int_equal(config_db_for(&cfg, &cfg.admin.account, &db, err, sizeof err), -1);
    assert_contains(err, s4);
}

/* ---- config_db_hosts on its own (--dsn host=, and lengths no config line reaches) ---- */

#define A300 A100 A100 A100

struct hosts_row {
    const char *name;
    const char *list;
    int rc;
    int nhosts;             /* when rc == 0 */
    const char *word;       /* when rc == -1: the message names this */
};

static struct hosts_row hosts_rows[] = {
    {"hosts: one name", "db1", 0, 1, NULL},
    {"hosts: host name of 256 bytes refused, not cut", A100 A100 A10 A10 A10 A10 A10 "aaaaaa", -1, 0,
     "longer than 255"},
    {"hosts: host name of 255 bytes accepted", A100 A100 A10 A10 A10 A10 A10 "aaaaa", 0, 1, NULL},
    {"hosts: list longer than 511 bytes refused, not cut", A300 " " A100 " " A100 " " A10, -1, 0, "longer than 511"},
    {"hosts: only blanks", " \t ", -1, 0, "empty"},
};

static void test_hosts(void **state)
{
    const struct hosts_row *row = *state;
    struct config_db p;
    char why[300] = "";

    memset(&p, 0x5a, sizeof p);
    snprintf(p.host, sizeof p.host, "before");
    p.nhosts = 7;
    if (config_db_hosts(&p, row->list, why, sizeof why) != row->rc)
        fail_msg("config_db_hosts(\"%s\") did not return %d (why \"%s\")", row->list, row->rc, why);
    if (row->rc == 0) {
        assert_int_equal(p.nhosts, row->nhosts);
        assert_string_equal(p.host, row->list);
        /* Past each name and past the last entry: zeros, so a SIGHUP that
         * compares the bytes sees an unchanged list as unchanged. */
        for (int i = 0; i < CONFIG_DB_HOSTS_MAX; i++) {
            const char *name = p.hosts[i].name;
            size_t used = i < p.nhosts ? strlen(name) : 0;
            for (size_t k = used; k < sizeof p.hosts[i].name; k++)
                if (name[k] != '\0')
                    fail_msg("hosts[%d].name[%zu] is not zero", i, k);
            if (i >= p.nhosts)
                assert_int_equal(p.hosts[i].port, 0);
        }
    } else {
        assert_contains(why, row->word);
        assert_int_equal(p.nhosts, 7);                  /* unchanged on an error */
        assert_string_equal(p.host, "before");
    }
}

/* Without an account override, [database] is used as it is, inline password included. */
static void test_db_for_inline_password(void **state)
{
    char err[512] = "";
    struct config_db db;

    (void)state;
    load_string("[database]\nuser = u\npassword = inline-pw\n");
    memset(&db, 0, sizeof db);
    if (config_db_for(&cfg, &cfg.policy.account, &db, err, sizeof err) != 0)
        fail_msg("config_db_for: %s", err);
    assert_string_equal(db.user, "u");
    assert_string_equal(db.password, "inline-pw");
    assert_string_equal(db.name, cfg.db.name);
}

static struct CMUnitTest tests[UNIT_LEN(err_rows) + UNIT_LEN(good_rows) + 1 +
                               UNIT_LEN(strict_rows) +
                               UNIT_LEN(path_rows) + UNIT_LEN(secret_rows) +
                               UNIT_LEN(file_rows) + UNIT_LEN(hosts_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_error, err_rows);
    UNIT_ADD_ROWS(tests, n, test_good, good_rows);
    UNIT_ADD(tests, n, test_defaults);
    UNIT_ADD_ROWS(tests, n, test_strict, strict_rows);
    UNIT_ADD_ROWS(tests, n, test_path, path_rows);
    UNIT_ADD_ROWS(tests, n, test_secret, secret_rows);
    UNIT_ADD_ROWS(tests, n, test_file, file_rows);
    UNIT_ADD_ROWS(tests, n, test_hosts, hosts_rows);
    UNIT_ADD(tests, n, test_db_for);
    UNIT_ADD(tests, n, test_db_for_inline_password);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, remove_tmp);
}
