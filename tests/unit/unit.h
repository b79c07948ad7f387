/* unit.h - small helpers shared by the cmocka unit tests in tests/unit/.
 *
 * Every test file is table-driven: one row a case, and every row becomes its
 * own cmocka test (so one failing row does not hide the others), all in one
 * group so the TAP output of a file has a single plan.  UNIT_ADD_ROWS turns a
 * row table into tests whose initial state is the row; the row's first member
 * must be `const char *name`, which is the test name printed by TAP. */
#ifndef GUARDLIST_UNIT_H
#define GUARDLIST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define UNIT_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Appends one test per row of ROWS (an array) running FN to TESTS at *N. */
#define UNIT_ADD_ROWS(tests, n, fn, rows)                                      \
    do {                                                                       \
        for (size_t unit_i_ = 0; unit_i_ < UNIT_LEN(rows); unit_i_++) {        \
            (tests)[(n)].name = (rows)[unit_i_].name;                          \
            (tests)[(n)].test_func = (fn);                                     \
            (tests)[(n)].setup_func = NULL;                                    \
            (tests)[(n)].teardown_func = NULL;                                 \
            (tests)[(n)].initial_state = (void *)(uintptr_t)&(rows)[unit_i_];  \
            (n)++;                                                             \
        }                                                                      \
    } while (0)

/* Appends one plain test. */
#define UNIT_ADD(tests, n, fn)                                                 \
    do {                                                                       \
        (tests)[(n)].name = #fn;                                               \
        (tests)[(n)].test_func = (fn);                                         \
        (tests)[(n)].setup_func = NULL;                                        \
        (tests)[(n)].teardown_func = NULL;                                     \
        (tests)[(n)].initial_state = NULL;                                     \
        (n)++;                                                                 \
    } while (0)

/* The table sizes are compile-time constants; a mismatch is a bug in the test. */
#define UNIT_CHECK_COUNT(tests, n)                                             \
    do {                                                                       \
        if ((n) != UNIT_LEN(tests)) {                                          \
            fprintf(stderr, "test table has %zu tests, expected %zu\n",        \
                    (size_t)(n), (size_t)UNIT_LEN(tests));                     \
            return 2;                                                          \
        }                                                                      \
    } while (0)

/* Fails unless S starts with PREFIX. */
#define assert_prefix(s, prefix)                                               \
    do {                                                                       \
        const char *unit_s_ = (s);                                             \
        const char *unit_p_ = (prefix);                                        \
        if (unit_s_ == NULL || strncmp(unit_s_, unit_p_, strlen(unit_p_)) != 0) \
            fail_msg("\"%s\" does not start with \"%s\"",                     \
                     unit_s_ ? unit_s_ : "(null)", unit_p_);                   \
    } while (0)

/* Fails unless S contains SUB. */
#define assert_contains(s, sub)                                                \
    do {                                                                       \
        const char *unit_s_ = (s);                                             \
        const char *unit_p_ = (sub);                                           \
        if (unit_s_ == NULL || strstr(unit_s_, unit_p_) == NULL)               \
            fail_msg("\"%s\" does not contain \"%s\"",                        \
                     unit_s_ ? unit_s_ : "(null)", unit_p_);                   \
    } while (0)

#endif
