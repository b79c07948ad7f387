/* pfread.h - what `guardlist doctor` reads from a Postfix configuration
 * directory, through postconf, postmap and postalias. */
#ifndef GUARDLIST_PFREAD_H
#define GUARDLIST_PFREAD_H

#include <stddef.h>
#include "reach.h"

#define PFREAD_LINE_MAX 65536       /* bytes of one line of output */

/* A master.cf service's own (-o) settings that doctor checks. */
struct pfread_service {
    char *name;                 /* "submission/inet" */
    char *restrictions;         /* smtpd_recipient_restrictions, or NULL */
    char *default_action;       /* smtpd_policy_service_default_action, or NULL */
};

/* Parameters as Postfix uses them ($names expanded, postconf -x). */
struct pfread_conf {
    char *mydestination, *myorigin, *virtual_alias_maps, *alias_maps, *recipient_delimiter,
        *propagate_unmatched_extensions, *smtpd_recipient_restrictions, *smtpd_relay_restrictions,
        *queue_directory, *default_action;
    int default_action_set;     /* smtpd_policy_service_default_action is in main.cf */
    struct pfread_service *svc;
    size_t nsvc;
};

/* Reads CONF from `postconf -c DIR`.  Returns 0, or -1 with ERR (postconf
 * failed: no such directory, no main.cf, ...). */
int pfread_conf(const char *dir, struct pfread_conf *conf, char *err, size_t errlen);
void pfread_conf_free(struct pfread_conf *conf);

typedef void (*pfread_warn_fn)(void *arg, const char *msg);

/* Adds the domains of $mydestination (VALUE: names, type:table, /file) to R
 * as local domains; WARN names what cannot be read.  Returns 0, -1 out of memory. */
int pfread_local_domains(const char *dir, const char *value, struct reach *r, pfread_warn_fn warn, void *arg);

/* Lists every table of parameter PARAM (VALUE, a table list) into R:
 * virtual(5) tables (ALIAS 0) through `postmap -s`, aliases(5) tables
 * (ALIAS 1) through `postalias -s`, a cdb table through a copy of its
 * source file.  WARN names each table that cannot be listed (SQL, LDAP,
 * regular expressions, ...) and entries that cannot be used.  Returns 0,
 * -1 out of memory. */
int pfread_tables(const char *dir, const char *param, const char *value, int alias, struct reach *r,
                  pfread_warn_fn warn, void *arg);

#endif
