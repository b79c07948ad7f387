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

# run_suite NAME ENV... -- PROVE-ARGS...
run_suite() {
    name=$1
    shift
    log="$OUT/$name.log"
    echo "== suite $name"
    env "$@" >"$log" 2>&1
    rc=$?
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

run_suite unit CMOCKA_MESSAGE_OUTPUT=TAP prove -v build/tests/test_*
run_suite integration GUARDLISTD="$ROOT/bin/guardlistd" prove -v tests/integration/
run_suite integration-asan GUARDLISTD="$ROOT/build/asan/guardlistd" GUARDLIST="$ROOT/build/asan/guardlist" \
    GUARDLIST_NOTIFY="$ROOT/build/asan/guardlist-notify" GUARDLIST_APPROVE="$ROOT/build/asan/guardlist-approve" \
    GUARDLIST_WEB="$ROOT/build/asan/guardlist-web" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    prove -v tests/integration/
# libFuzzer targets (tests/fuzz/), a few seconds each: one TAP line a target.
run_suite fuzz make --no-print-directory fuzz-smoke
# Static analysis (make lint): one TAP line a tool.
run_suite lint sh scripts/lint.sh

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
