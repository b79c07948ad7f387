#!/bin/sh
# make lint: cppcheck, clang-tidy and the clang static analyzer (scan-build)
# over every C file of the programs and lib/.  Prints one TAP line a tool
# (so `make check` counts them) and the findings; exit 1 if any tool found
# something.  Checks that are pure noise here are switched off below, each
# with its reason; a finding that is a false positive is silenced at its
# line with NOLINT and a why.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
OUT="$ROOT/build/lint"
rm -rf "$OUT"
mkdir -p "$OUT"
SOURCES=$(echo lib/*.c daemon/*.c admin/*.c notifier/*.c approver/*.c web/*.c)
PKGS="libmariadb inih libesmtp-1.0 uuid"
FLAGS="-std=c11 -D_GNU_SOURCE -Ilib -Idaemon -Iadmin -Inotifier -Ibuild/gen $(pkg-config --cflags $PKGS 2>/dev/null)"

# Off: easily-swappable-parameters, narrowing-conversions (style: every
# (size_t)/(int) cast would be noise); reserved-identifier (glibc feature
# macros); DeprecatedOrUnsafeBufferHandling (flags every memcpy/snprintf:
# ours are length-checked); assignment-in-if-condition (the `if ((x = f()))`
# idiom); implicit-widening-of-multiplication-result (sizes are small).
TIDY_CHECKS='-*,clang-analyzer-*,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-narrowing-conversions,-bugprone-reserved-identifier,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-bugprone-assignment-in-if-condition,-bugprone-implicit-widening-of-multiplication-result'

n=0
failed=0
report() {     # report OK NAME LOG
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2 clean"
    else
        echo "not ok $n - $2 found problems (build/lint/$3)"
        sed 's/^/# /' "$OUT/$3" | head -60
        failed=1
    fi
}

# cppcheck and scan-build (one process each) run in the background while
# clang-tidy runs two files at a time: the three share the cores.
cppcheck --quiet --enable=warning,performance,portability --std=c11 --inline-suppr \
    -D_GNU_SOURCE -Ilib --error-exitcode=1 $SOURCES >"$OUT/cppcheck.log" 2>&1 &
cppcheck_pid=$!
# scan-build: the analyzer over every file, compiled once each into a scratch dir
scan-build --status-bugs -o "$OUT/scan-build" sh -c "for f in $SOURCES; do \${CC:-cc} $FLAGS -c \$f -o $OUT/scratch.o || exit 1; done" \
    >"$OUT/scan-build.log" 2>&1 &
scan_pid=$!

# clang-tidy, two files at a time
echo "$SOURCES" | tr ' ' '\n' | xargs -P 2 -I{} sh -c \
    "clang-tidy -quiet -checks='$TIDY_CHECKS' --warnings-as-errors='*' {} -- $FLAGS >\"$OUT/tidy-\$(echo {} | tr / _).log\" 2>&1 || echo {} >>\"$OUT/tidy-failed\""
cat "$OUT"/tidy-*.log 2>/dev/null | grep -E 'warning:|error:' >"$OUT/clang-tidy.log"
[ ! -s "$OUT/tidy-failed" ]
tidy_rc=$?
wait "$cppcheck_pid"
report $? cppcheck cppcheck.log
report "$tidy_rc" clang-tidy clang-tidy.log
wait "$scan_pid"
report $? scan-build scan-build.log

# make mutate's list: every mutant's snippet still found once (a refactor
# that moves one would otherwise only show in the next mutation run)
/usr/bin/python3 tests/mutate/mutate.py --check >"$OUT/mutants.log" 2>&1
report $? "mutants.txt" mutants.log

echo "1..$n"
exit $failed
