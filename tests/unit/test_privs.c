/* test_privs.c - unit tests of lib/privs.c: which user and group a daemon
 * becomes, and that the drop is for good.  Uses users every Debian has
 * (root, nobody; group nogroup, daemon).  One row a case. */
#include "unit.h"
#include "privs.h"

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

struct lookup_row {
    const char *name;
    const char *user, *group;
    int rc;
    const char *group_name;     /* rc 0: the group chosen */
    const char *word;           /* rc -1: the message names this */
};

static struct lookup_row lookup_rows[] = {
    {"lookup: nobody, its own group", "nobody", NULL, 0, "nogroup", NULL},
    {"lookup: nobody, empty group is its own", "nobody", "", 0, "nogroup", NULL},
    {"lookup: nobody with group daemon", "nobody", "daemon", 0, "daemon", NULL},
    {"lookup: root is refused", "root", NULL, -1, NULL, "root"},
    {"lookup: root's group is refused", "nobody", "root", -1, NULL, "root"},
    {"lookup: unknown user", "no-such-user-gl", NULL, -1, NULL, "no-such-user-gl"},
    {"lookup: unknown group", "nobody", "no-such-group-gl", -1, NULL, "no-such-group-gl"},
    {"lookup: empty user", "", NULL, -1, NULL, "user"},
    {"lookup: name too long",
     "nobodynobodynobodynobodynobodynobodynobodynobodynobodynobodynobodyx", NULL, -1, NULL, "longer"},
};

static void test_lookup(void **state)
{
    const struct lookup_row *row = *state;
    struct privs p;
    char err[256] = "";
    int rc = privs_lookup(row->user, row->group, &p, err, sizeof err);

    assert_int_equal(rc, row->rc);
    if (rc == 0) {
        const struct passwd *pw = getpwnam(row->user);
        const struct group *gr = getgrnam(row->group_name);
        assert_non_null(pw);
        assert_non_null(gr);
        assert_int_equal(p.uid, pw->pw_uid);
        assert_int_equal(p.gid, gr->gr_gid);
        assert_string_equal(p.user, row->user);
        assert_string_equal(p.group, row->group_name);
    } else {
        assert_contains(err, row->word);
    }
}

static void test_is_root(void **state)
{
    (void)state;
    assert_int_equal(privs_is_root(), geteuid() == 0 || getuid() == 0);
}

/* In a child (it cannot come back): drop to nobody, then every id is
 * nobody's, the only group is nogroup, and root cannot be regained. */
static void test_drop(void **state)
{
    struct privs p;
    char err[256] = "";
    int status;
    pid_t pid;

    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(privs_lookup("nobody", NULL, &p, err, sizeof err), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uid_t r, e, s;
        gid_t rg, eg, sg, g[4];

        if (privs_drop(&p, err, sizeof err) < 0)
            _exit(10);
        if (getresuid(&r, &e, &s) < 0 || r != p.uid || e != p.uid || s != p.uid)
            _exit(11);
        if (getresgid(&rg, &eg, &sg) < 0 || rg != p.gid || eg != p.gid || sg != p.gid)
            _exit(12);
        if (getgroups(4, g) != 1 || g[0] != p.gid)
            _exit(13);
        if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || privs_is_root())
            _exit(14);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static struct CMUnitTest tests[UNIT_LEN(lookup_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_lookup, lookup_rows);
    UNIT_ADD(tests, n, test_is_root);
    UNIT_ADD(tests, n, test_drop);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
