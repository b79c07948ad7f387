/*
 * postfix - guardlist postfix-config: the main.cf lines for policy mode, or
 * the article's pure-Postfix lookup-table setup made complete (the two
 * mysql: maps and the check_recipient_access line the article leaves out).
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void policy_lines(const struct config *cfg)
{
    const char *listen = cfg->policy.listen;
    const char *priv = strstr(listen, "/private/");
    char service[CONFIG_STR_MAX + 16];

    /* A socket in Postfix's queue directory is named relative to it, which
     * also works for a chrooted smtpd. */
    if (strncmp(listen, "unix:", 5) == 0 && priv)
        snprintf(service, sizeof(service), "unix:%s", priv + 1);
    else
        snprintf(service, sizeof(service), "%s", listen);

    printf("# guardlist policy mode: add to main.cf, then `postfix reload`.\n"
           "# guardlistd must listen on %s (see [policy] listen).\n"
           "# Relay control lives in smtpd_relay_restrictions (checked first), so no\n"
           "# permit_* skips guardlist for mail to a protected child (guardlist doctor):\n"
           "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n"
           "smtpd_recipient_restrictions = check_policy_service %s\n"
           "# Never accept when guardlistd cannot be asked:\n"
           "smtpd_policy_service_default_action = 451 4.3.5 Policy service unavailable, try again later\n"
           "smtpd_policy_service_timeout = 100s\n"
           "smtpd_policy_service_max_idle = 300s\n"
           "smtpd_policy_service_max_ttl = 1000s\n"
           "smtpd_policy_service_try_limit = 2\n",
           listen, service);
}

/* mysql_table(5)'s hosts: the socket, then every [database] host entry.
 * Postfix splits inet:HOST:PORT at the last colon, so an IPv6 address goes
 * without brackets; it tries the hosts in random order, not in ours. */
static void map_hosts(const struct config_db *p, char *out, size_t outlen)
{
    size_t o = 0;

    out[0] = '\0';
    if (p->socket[0])
        o += (size_t)snprintf(out, outlen, "unix:%s", p->socket);
    for (int i = 0; i < p->nhosts && o < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%sinet:%s:%d", o ? " " : "", p->hosts[i].name,
                              p->hosts[i].port ? p->hosts[i].port : p->port);
    if (!p->socket[0] && !p->nhosts)
        snprintf(out, outlen, "inet:localhost:%d", p->port);
}

/* Writes one mysql_table(5) file, or prints it with a placeholder password. */
static int map_file(const char *dir, const char *name, const struct config_db *p, const char *query,
                    char *path, size_t pathlen)
{
    char hosts[(CONFIG_STR_MAX + 16) * (CONFIG_DB_HOSTS_MAX + 1)];
    FILE *f = stdout;

    map_hosts(p, hosts, sizeof(hosts));
    snprintf(path, pathlen, "%s/%s", dir ? dir : "/etc/postfix", name);
    if (dir) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0 || fchmod(fd, 0640) < 0 || !(f = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return cli_fail(EXIT_RUNTIME, "cannot write %s: %s", path, strerror(errno));
        }
        /* proxymap reads the map after it dropped root: group postfix. */
        struct group *gr = getgrnam("postfix");
        if (!gr || fchown(fd, (uid_t)-1, gr->gr_gid) < 0)
            fprintf(stderr, "guardlist: warning: could not give %s to group postfix (%s); "
                    "Postfix must be able to read it\n", path, gr ? strerror(errno) : "no such group");
    } else {
        printf("\n# ---- %s (mode 0640, owner root, group postfix) ----\n", path);
    }
    fprintf(f, "# guardlist: the article's lookup table for Postfix (mysql_table(5)).\n"
               "hosts = %s\nuser = %s\npassword = %s\ndbname = %s\nquery = %s\n",
            hosts, p->user, dir ? p->password : "<the password of this account>", p->name, query);
    if (dir && fclose(f) != 0)
        return cli_fail(EXIT_RUNTIME, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

struct text {
    char *p;
    size_t len, cap;
};

/* Keeps postconf's one line of output; more than one, or a cut one, is an error. */
static int one_line(void *arg, const char *line, size_t len, int too_long)
{
    struct text *t = arg;

    if (too_long || t->len || len >= t->cap)
        return 1;
    memcpy(t->p, line, len + 1);
    t->len = len;
    return 0;
}

/* Postfix's built-in proxy_read_maps, from `postconf -dh` (a parameter cannot
 * name itself, so the default has to be spelled out).  Returns 0 or -1. */
static int default_proxy_read_maps(char *out, size_t outlen)
{
    static const char *const argv[] = { "postconf", "-dh", "proxy_read_maps", NULL };
    struct text t = { out, 0, outlen };
    char err[400];

    out[0] = '\0';
    if (subproc_lines(argv, 30, outlen - 1, one_line, &t, err, sizeof(err)) != 0)
        return -1;
    while (t.len > 0 && out[t.len - 1] == ' ')
        out[--t.len] = '\0';
    return t.len ? 0 : -1;
}

/* guardlist postfix-config: main.cf lines for policy mode, or the article's mysql: maps (--lookup-tables). */
int cmd_postfix_config(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist postfix-config\n"
        "       guardlist postfix-config --lookup-tables [--dir DIR]\n"
        "Prints the main.cf lines for policy mode (guardlistd).  With --lookup-tables,\n"
        "the article's setup without a daemon: two mysql: maps and the main.cf lines\n"
        "(restriction class, check_recipient_access, proxy:, proxy_read_maps).  With\n"
        "--dir the maps are written there (mode 0640, with the real password of the\n"
        "[policy] database account) and main.cf refers to them; without it they are\n"
        "printed with a placeholder password.  Lookup-table mode knows no per-recipient\n"
        "rules, challenges or approval emails.\n";
    static const struct option lo[] = { { "lookup-tables", no_argument, NULL, 'l' },
                                        { "dir", required_argument, NULL, 'd' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    int lookup = 0, opt;
    const char *dir = NULL;
    char err[800], prot[1100], white[1100];
    struct config_db p;

    while ((opt = getopt_long(argc, argv, "ld:h", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (opt == 'l') {
            lookup = 1;
        } else if (opt == 'd') {
            dir = optarg;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist postfix-config --help");
        }
    }
    if (optind != argc)
        return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    if (dir && !lookup)
        return cli_fail(EXIT_USAGE, "--dir goes with --lookup-tables");
    if (dir && dir[0] != '/')
        return cli_fail(EXIT_USAGE, "--dir must be an absolute path (Postfix reads the maps from there)");
    if (!lookup) {
        policy_lines(&cli->cfg);
        return 0;
    }
    if (config_db_for(&cli->cfg, &cli->cfg.policy.account, &p, err, sizeof(err)) < 0)
        return cli_fail(EXIT_USAGE, "%s", err);
    /* Postfix hands the maps folded keys; the key columns compare bytes, so a
     * look-alike ("gmäil.com" for "gmail.com") never matches, and LOWER() lets
     * a row typed in mixed case by hand match as it does in guardlistd. */
    int rc = map_file(dir, "guardlist-protected.cf", &p,
                      "SELECT class FROM protected_users WHERE LOWER(recipient) = '%s'", prot, sizeof(prot));
    if (rc == 0)
        rc = map_file(dir, "guardlist-whitelist.cf", &p,
                      "SELECT action FROM whitelist WHERE LOWER(sender) = '%s'", white, sizeof(white));
    explicit_bzero(&p, sizeof(p));
    if (rc)
        return rc;
    if (!dir)
        printf("\n# ---- main.cf ----\n");
    printf("# guardlist lookup-table mode (the article's setup, complete).\n"
           "# protected_users.class names a restriction class; its rows say 'whitelist'.\n"
           "smtpd_restriction_classes = whitelist\n"
           "whitelist = check_sender_access proxy:mysql:%s, reject\n"
           "smtpd_recipient_restrictions =\n"
           "    permit_mynetworks,\n"
           "    reject_unauth_destination,\n"
           "    check_recipient_access proxy:mysql:%s\n",
           white, prot);
    char defaults[4096];
    if (default_proxy_read_maps(defaults, sizeof(defaults)) == 0)
        printf("proxy_read_maps = %s proxy:mysql:%s proxy:mysql:%s\n", defaults, prot, white);
    else
        printf("# postconf was not found: add both maps to Postfix's default proxy_read_maps:\n"
               "#   postconf -e \"proxy_read_maps = $(postconf -dh proxy_read_maps) proxy:mysql:%s proxy:mysql:%s\"\n",
               prot, white);
    return 0;
}
