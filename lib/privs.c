/*
 * privs - gives up root for good, after a program opened what needs it.
 *
 * Callers: guardlistd and guardlist-notify, started as root, once their
 * listen socket, config and secret files are open and before any thread or
 * database connection exists (Postfix's pre_init, set_ugid, post_init).
 * SECURITY: never returns success unless every user and group id is the
 * target's and root cannot be regained; a failure leaves the process in an
 * unknown state, so the caller must stop.
 */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define PRIVS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIVS_SANITIZER 1
#endif
#endif

int privs_is_root(void)
{
    uid_t r, e, s;

    if (getresuid(&r, &e, &s) < 0)
        return geteuid() == 0 || getuid() == 0;
    return r == 0 || e == 0 || s == 0;
}

int privs_choose(const char *cfgpath, const char *section, const char *program, const char *user,
                 const char *group, struct privs *out, int *drop, char *err, size_t errlen)
{
    char why[400];

    *drop = privs_is_root();
    if (*drop && !user[0]) {
        snprintf(err, errlen, "started as root, and %s sets no [%s] run_as_user (set run_as_user = guardlist, "
                 "an unprivileged user to run as, or start %s as that user)", cfgpath, section, program);
        return -1;
    }
    if (user[0] && privs_lookup(user, group, out, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: [%s] run_as_user/run_as_group: %s", cfgpath, section, why);
        return -1;
    }
    return 0;
}

int privs_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
    struct group *gr;

    errno = 0;
    gr = getgrnam(name);
    if (!gr) {
        snprintf(err, errlen, "group '%s' %s", name, errno ? strerror(errno) : "does not exist");
        return -1;
    }
    *gid = gr->gr_gid;
    return 0;
}

int privs_lookup(const char *user, const char *group, struct privs *out, char *err, size_t errlen)
{
    struct passwd *pw;

    memset(out, 0, sizeof(*out));
    if (!user || !*user) {
        snprintf(err, errlen, "no user given");
        return -1;
    }
    if (strlen(user) >= sizeof(out->user) || (group && strlen(group) >= sizeof(out->group))) {
        snprintf(err, errlen, "user or group name longer than %zu bytes", sizeof(out->user) - 1);
        return -1;
    }
    errno = 0;
    pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "user '%s' %s", user, errno ? strerror(errno) : "does not exist");
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "user '%s' is root: name an unprivileged user", user);
        return -1;
    }
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    snprintf(out->user, sizeof(out->user), "%s", user);
    if (group && *group) {
        if (privs_group(group, &out->gid, err, errlen) < 0)
            return -1;
        snprintf(out->group, sizeof(out->group), "%s", group);
    } else {
        struct group *gr = getgrgid(out->gid);
        snprintf(out->group, sizeof(out->group), "%s", gr && strlen(gr->gr_name) < sizeof(out->group)
                 ? gr->gr_name : "?");
    }
    if (out->gid == 0) {
        snprintf(err, errlen, "group of '%s' is root (gid 0): name another group", user);
        return -1;
    }
    return 0;
}

int privs_drop(const struct privs *p, char *err, size_t errlen)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg, groups[2];

    if (setgroups(1, &p->gid) < 0 || setresgid(p->gid, p->gid, p->gid) < 0) {
        snprintf(err, errlen, "cannot change to group %s (%ld): %s", p->group, (long)p->gid, strerror(errno));
        return -1;
    }
    if (setresuid(p->uid, p->uid, p->uid) < 0) {
        snprintf(err, errlen, "cannot change to user %s (%ld): %s", p->user, (long)p->uid, strerror(errno));
        return -1;
    }
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0
        || ru != p->uid || eu != p->uid || su != p->uid || rg != p->gid || eg != p->gid || sg != p->gid
        || getgroups(2, groups) != 1 || groups[0] != p->gid) {
        snprintf(err, errlen, "user and group ids are not all %s:%s after the change", p->user, p->group);
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        snprintf(err, errlen, "root could be regained after changing to user %s", p->user);
        return -1;
    }
#ifdef PRIVS_SANITIZER
    /* Changing ids made the process undumpable, which stops LeakSanitizer
     * from attaching to its own threads at exit.  Sanitizer builds only:
     * a production build stays undumpable (no core with the secrets). */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    return 0;
}
