#!/bin/sh
# run.sh - runs libFuzzer targets from build/fuzz/, one after another, each
# for SECONDS, and prints TAP: one line a target and a plan.  Exit status 1
# if any target crashed, leaked, timed out or broke an invariant.
#
#   sh tests/fuzz/run.sh SECONDS TARGET...      (TARGET: policy, addr, ...)
#
# Each target starts from its seed corpus in tests/fuzz/corpus/TARGET/,
# copied into build/fuzz/corpus-work/TARGET/, where the inputs it finds are
# kept (the repository is never written).  A crashing input is saved as
# build/fuzz/artifacts/TARGET-crash-*; replay it with
# build/fuzz/fuzz_TARGET FILE.  Logs: build/fuzz/logs/TARGET.log.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
[ $# -ge 2 ] || { echo "usage: sh tests/fuzz/run.sh SECONDS TARGET..." >&2; exit 2; }
secs=$1
shift

# Inputs longer than a parser could ever be given only slow a target down;
# the policy target needs room for a request at its bounds (64 lines, 8 KiB kept).
max_len() {
    case $1 in
        policy) echo 12000 ;;
        template) echo 8192 ;;
        form) echo 2048 ;;
        addr) echo 1024 ;;
        pftext) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

mkdir -p build/fuzz/logs build/fuzz/artifacts
echo "1..$#"
n=0
failed=0
for t in "$@"; do
    n=$((n + 1))
    bin=build/fuzz/fuzz_$t
    work=build/fuzz/corpus-work/$t
    log=build/fuzz/logs/$t.log
    mkdir -p "$work"
    cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    dict=""
    [ -f tests/fuzz/"$t".dict ] && dict="-dict=tests/fuzz/$t.dict"
    if [ ! -x "$bin" ]; then
        echo "not ok $n - fuzz_$t: $bin is not built (make fuzz-build)"
        failed=1
        continue
    fi
    # shellcheck disable=SC2086
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$bin" -max_total_time="$secs" -max_len="$(max_len "$t")" \
        -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" \
        $dict "$work" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    status=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(echo "$status" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$status" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$status" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
        echo "ok $n - fuzz_$t: $secs s, $runs runs, no crash"
        echo "# fuzz_$t: ${speed:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} inputs"
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "not ok $n - fuzz_$t: exit $rc after ${runs:-?} runs${artifact:+, input in $artifact}"
        grep -E 'ERROR: |SUMMARY: |invariant failed|runtime error' "$log" | head -n 5 | sed 's/^/# /'
        echo "# log: $log"
    fi
done
exit "$failed"
