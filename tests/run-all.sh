#!/bin/sh
# Runs every test suite with prove and ends with one line "N passed, N failed"
# summing them all.  Exit status 0 only when nothing failed.
# Suites: unit (cmocka, TAP output), integration (real MariaDB, guardlistd,
# the guardlist CLI and a private Postfix), the integration suite again
# against the ASan+UBSan builds of every program, and a short run of every
# libFuzzer target (make fuzz-smoke), and static analysis (make lint).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
OUT="$ROOT/build/test-output"
rm -rf "$OUT"
mkdir -p "$OUT"

total_pass=0
total_fail=0

# run_suite NAME COMMAND...: runs one suite into build/test-output/NAME.log
# (its exit status into NAME.rc); report_suite NAME then counts it.
run_suite() {
    name=$1
    shift
    echo "== suite $name"
    env "$@" >"$OUT/$name.log" 2>&1
    echo $? >"$OUT/$name.rc"
}

report_suite() {
    name=$1
    log="$OUT/$name.log"
    rc=$(cat "$OUT/$name.rc" 2>/dev/null || echo 1)
    pass=$(grep -Ec '^[[:space:]]*ok [0-9]+' "$log")
    fail=$(grep -Ec '^[[:space:]]*not ok [0-9]+' "$log")
    # A script that died or broke its plan fails even with no "not ok" line.
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
    fi
    grep -E '^[[:space:]]*not ok|^[[:space:]]*# (Failed|got|want|expected)|Wstat|Bad plan|Parse errors|^Result' "$log" | sed 's/^/   /'
    echo "   $name: $pass passed, $fail failed (log: build/test-output/$name.log)"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
}

start=$(date +%s)
run_suite unit CMOCKA_MESSAGE_OUTPUT=TAP prove -v build/tests/test_*
report_suite unit
# The two integration suites spend most of their time waiting on the servers
# they start (MariaDB, Postfix, lighttpd, chromium), not computing: they run
# side by side (GUARDLIST_TEST_SERIAL=1 runs them one after the other).
# Every server listens on a free random port in its own temp dir.
# Each suite also runs JOBS scripts at a time (GUARDLIST_TEST_JOBS, default
# 2): most of a script's time is spent waiting on its servers.  The slowest
# scripts start first, so none is left running alone at the end.
JOBS=${GUARDLIST_TEST_JOBS:-2}
SLOW="150_web 110_approve 82_cli_rules 144_galera 102_notify_faults 100_notify 129_spf 152_web_browser
      120_journey 96_doctor 95_check_agrees 146_outbound 147_accounts 112_approve_browser 40_dbdown 44_retries"
SCRIPTS=""
for t in $SLOW; do
    [ -f "tests/integration/$t.t" ] && SCRIPTS="$SCRIPTS tests/integration/$t.t"
done
for f in tests/integration/*.t; do
    case " $SCRIPTS " in *" $f "*) ;; *) SCRIPTS="$SCRIPTS $f" ;; esac
done
# shellcheck disable=SC2086
run_suite integration GUARDLISTD="$ROOT/bin/guardlistd" prove -v --timer -j "$JOBS" $SCRIPTS &
[ "${GUARDLIST_TEST_SERIAL:-0}" = 1 ] && wait
# shellcheck disable=SC2086
run_suite integration-asan GUARDLISTD="$ROOT/build/asan/guardlistd" GUARDLIST="$ROOT/build/asan/guardlist" \
    GUARDLIST_NOTIFY="$ROOT/build/asan/guardlist-notify" GUARDLIST_APPROVE="$ROOT/build/asan/guardlist-approve" \
    GUARDLIST_WEB="$ROOT/build/asan/guardlist-web" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    prove -v --timer -j "$JOBS" $SCRIPTS &
wait
report_suite integration
report_suite integration-asan
# libFuzzer targets (tests/fuzz/), a few seconds each: one TAP line a target.
# Static analysis (make lint): one TAP line a tool.  Both are CPU work with
# no timing in them, so they run side by side.
run_suite fuzz make --no-print-directory fuzz-smoke &
[ "${GUARDLIST_TEST_SERIAL:-0}" = 1 ] && wait
run_suite lint sh scripts/lint.sh &
wait
report_suite fuzz
report_suite lint
echo "   all suites: $(( $(date +%s) - start )) s"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
