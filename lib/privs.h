/* privs.h - dropping root after start-up (guardlistd, guardlist-notify). */
#ifndef GUARDLIST_PRIVS_H
#define GUARDLIST_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

struct privs {
    uid_t uid;
    gid_t gid;
    char user[64];
    char group[64];
};

/* 1 if any of the real, effective or saved user ids is 0. */
int privs_is_root(void);

/* Looks up USER and GROUP (GROUP empty or NULL: USER's primary group) into
 * OUT.  Refuses a user or group that is root (uid or gid 0).  Returns 0, or
 * -1 with ERR saying which name is wrong. */
int privs_lookup(const char *user, const char *group, struct privs *out, char *err, size_t errlen);

/* The start-up choice of guardlistd and guardlist-notify: who to become
 * after the files needing root are read.  Started as root, [SECTION]
 * run_as_user (USER) is required; when set, it is looked up into OUT.
 * *DROP is set to 1 when root must be dropped.  Returns 0, or -1 with ERR
 * naming CFGPATH, the section and the fix. */
int privs_choose(const char *cfgpath, const char *section, const char *program, const char *user,
                 const char *group, struct privs *out, int *drop, char *err, size_t errlen);

/* Looks up group NAME.  Returns 0 with *GID set, or -1 with ERR. */
int privs_group(const char *name, gid_t *gid, char *err, size_t errlen);

/* Becomes P for good: supplementary groups reduced to P's group, then real,
 * effective and saved group and user ids set; then checks that every id is
 * P's and that setuid(0) fails.  Call before any thread starts.  Returns 0,
 * or -1 with ERR (the process must then stop: it may be half-dropped). */
int privs_drop(const struct privs *p, char *err, size_t errlen);

#endif
