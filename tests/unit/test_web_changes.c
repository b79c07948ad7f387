/* test_web_changes.c - unit tests of web/changes.c: which rule actions a
 * guardian may set (those acting on one recipient only).  One row a case. */
#include "unit.h"
#include "web.h"

/* ---- changes_per_recipient ---- */

struct action_row {
    const char *name;
    const char *action;
    int per_recipient;
};

static struct action_row action_rows[] = {
    {"action: OK", "OK", 1},
    {"action: any case", "ok", 1},
    {"action: DUNNO", "DUNNO", 1},
    {"action: REJECT with text", "REJECT no thanks", 1},
    {"action: DEFER_IF_PERMIT with text", "DEFER_IF_PERMIT later", 1},
    {"action: DEFER_IF_REJECT after a tab", "DEFER_IF_REJECT\tlater", 1},
    {"action: a 5NN code with text", "550 no", 1},
    {"action: a 4NN code with text", "450 try later", 1},
    {"action: all digits (treated as OK)", "250", 1},
    {"action: a 2NN code with text is not", "250 fine", 0},
    {"action: four digits with text are not", "5500 no", 0},
    {"action: HOLD acts on the message", "HOLD", 0},
    {"action: DISCARD acts on the message", "DISCARD bye", 0},
    {"action: REDIRECT acts on the message", "REDIRECT a@b.test", 0},
    {"action: BCC acts on the message", "BCC a@b.test", 0},
    {"action: PREPEND acts on the message", "PREPEND X-A: b", 0},
    {"action: a word that starts like OK is not", "OKAY", 0},
    {"action: a leading space is not an action", " OK", 0},
    {"action: empty is not an action", "", 0},
};

static void test_action(void **state)
{
    const struct action_row *row = *state;

    assert_int_equal(changes_per_recipient(row->action), row->per_recipient);
}

static struct CMUnitTest tests[UNIT_LEN(action_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_action, action_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
