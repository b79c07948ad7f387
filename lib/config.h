/* config.h - the one INI file every guardlist program reads (inih). */
#ifndef GUARDLIST_CONFIG_H
#define GUARDLIST_CONFIG_H

#include <stddef.h>
#include "log.h"
#include "netlist.h"

#define CONFIG_DEFAULT_PATH "/etc/guardlist/guardlist.ini"
#define CONFIG_STR_MAX 512
#define CONFIG_NAME_MAX 64      /* a system user or group name */

enum unknown_mode { UNKNOWN_DEFER, UNKNOWN_REJECT };
enum null_mode { NULL_REJECT, NULL_ALLOW, NULL_CHALLENGE };
enum starttls_mode { STARTTLS_REQUIRED, STARTTLS_OPTIONAL, STARTTLS_OFF };

#define CONFIG_DB_HOSTS_MAX 8       /* entries in [database] host */
#define CONFIG_HOSTNAME_MAX 256

/* One [database] host entry. */
struct config_dbhost {
    char name[CONFIG_HOSTNAME_MAX];     /* host name or address; IPv6 without its brackets */
    int port;                           /* 0: [database] port */
};

/* Database account; programs may override user and password per section.
 * The server is tried at socket (when set), then at each host entry in
 * order; with neither, at localhost. */
struct config_db {
    char host[CONFIG_STR_MAX];          /* the host list as written, for messages */
    struct config_dbhost hosts[CONFIG_DB_HOSTS_MAX];
    int nhosts;                         /* 0: host not set */
    char socket[CONFIG_STR_MAX];
    int port;
    int failback_interval;              /* seconds: on a later entry, how often the first is tried */
    char name[CONFIG_STR_MAX];
    char user[CONFIG_STR_MAX];
    char password[CONFIG_STR_MAX];
    char password_file[CONFIG_STR_MAX];
};

struct config_account {     /* per-program override of [database] */
    char user[CONFIG_STR_MAX];
    char password[CONFIG_STR_MAX];
    char password_file[CONFIG_STR_MAX];
};

struct config {
    char path[CONFIG_STR_MAX];
    struct config_db db;
    struct {
        char listen[CONFIG_STR_MAX];
        enum unknown_mode unknown_sender;
        char on_allow[8];               /* "DUNNO" or "OK" */
        enum null_mode null_sender;
        char recipient_delimiter[16];   /* set of delimiter bytes, may be empty */
        int refresh_interval;           /* seconds */
        int full_reload_interval;       /* seconds; reload even without a change */
        int idle_timeout;               /* seconds */
        int read_timeout;               /* seconds */
        int max_connections;
        int max_connections_per_client; /* open connections from one address (unix: all) */
        int max_new_per_recipient;      /* new challenges per protected key per hour */
        int max_new_per_client;         /* new challenges per client (IPv4 address, IPv6 /64) per hour */
        int threads;                    /* event-loop threads; 0 = auto (one per online CPU) */
        char run_as_user[CONFIG_NAME_MAX];  /* started as root: become this user */
        char run_as_group[CONFIG_NAME_MAX]; /* ... and this group (default: the user's) */
        char listen_group[CONFIG_NAME_MAX]; /* unix socket: group that may connect (0660) */
        struct netlist trusted_forwarders;  /* clients whose SRS senders are decoded; the key may repeat */
        char freemail_domains[CONFIG_STR_MAX];  /* file: domains never approved as a whole; "": built in */
        int spf;                        /* 1: an allow or a challenge needs the sender's SPF verdict */
        char resolver[80];              /* DNS server for SPF, IP[:PORT] or [IPv6]:PORT; "": the system's */
        int spf_threads;                /* SPF worker threads (they wait for DNS, the loops never do) */
        int spf_queue;                  /* SPF evaluations waiting for a worker, at most */
        int outbound;                   /* 1: a protected login writes only to its approved contacts */
        char metrics_listen[CONFIG_STR_MAX];    /* inet:HOST:PORT of /metrics; "": off */
        struct config_account account;
    } policy;
    struct {
        char smtp_host[CONFIG_STR_MAX];
        int smtp_port;
        enum starttls_mode starttls;
        char smtp_user[CONFIG_STR_MAX];
        char smtp_password_file[CONFIG_STR_MAX];
        char from[CONFIG_STR_MAX];
        char approve_url[CONFIG_STR_MAX];
        int max_per_hour;
        int digest_delay;       /* seconds: past the cap, a digest at most this often */
        int poll_interval;
        int smtp_timeout;       /* seconds: greeting, envelope, data; the final dot 10x */
        char template_dir[CONFIG_STR_MAX];
        char run_as_user[CONFIG_NAME_MAX];
        char run_as_group[CONFIG_NAME_MAX];
        char metrics_listen[CONFIG_STR_MAX];    /* inet:HOST:PORT of /metrics; "": off */
        struct config_account account;
    } notifier;
    struct {
        int token_ttl_days;
        char template_dir[CONFIG_STR_MAX];
        struct config_account account;
    } approver;
    struct {
        char template_dir[CONFIG_STR_MAX];
        char secret_file[CONFIG_STR_MAX];   /* the key of the form tokens */
        char admins[CONFIG_STR_MAX];        /* users who see everything; empty: every user */
        int page_size;
        struct config_account account;
    } web;
    struct {
        int purge_after_days;           /* closed challenges are deleted after this */
        struct config_account account;
    } admin;
    struct {
        enum log_target target;
        enum log_level level;
    } log;
};

/* Fills CFG with the defaults of DESIGN.md. */
void config_defaults(struct config *cfg);

/* The file to read: EXPLICIT (from -c) if not NULL, else $GUARDLIST_CONFIG,
 * else CONFIG_DEFAULT_PATH. */
const char *config_path(const char *explicit_path);

/* Reads PATH over the defaults.  Returns 0, or -1 with ERR holding
 * "FILE:LINE: what is wrong" (or "FILE: reason" when it cannot be read).
 * A file that holds a password must not be world-readable. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Same as config_load for an in-memory text (NAME is used in messages). */
int config_load_string(struct config *cfg, const char *name, const char *text,
                       char *err, size_t errlen);

/* Database parameters for one program: [database] with SECTION's account
 * overrides applied.  The password is read from password_file when set; a
 * password file that is world-readable or unreadable is an error. */
int config_db_for(const struct config *cfg, const struct config_account *acct,
                  struct config_db *out, char *err, size_t errlen);

/* Parses a [database] host list ("db1, db2:3307 [2001:db8::1]:3308": comma
 * or blank separated, at most CONFIG_DB_HOSTS_MAX) into P->hosts, P->nhosts
 * and P->host.  Returns 0, or -1 with WHY naming the wrong entry (P is then
 * unchanged). */
int config_db_hosts(struct config_db *p, const char *list, char *why, size_t whylen);

/* Reads the first line of a secret file into OUT; refuses world-readable files. */
int config_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
