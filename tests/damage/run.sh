#!/bin/sh
# run.sh - the tools, built with ASan+UBSan, over a damage corpus
# (make test-tools-asan).
#
# Environment (set by tests/tests.mk): TOOLS (build/asan/bin), MKTRACE
# (analyze_mktrace), DIFF_MKTRACE (diff_mktrace), PYTHON, PYTHONPATH_MT
# (build/python, for a real recording), TRASH, and the sanitizer options
# (ASAN_OPTIONS, UBSAN_OPTIONS). Then header_sweep.sh: every header bit.
#
# Every tool reads every damaged file. Each run must exit 0 or 1 (a damaged
# or unreadable trace is 1, never a crash) and print no sanitizer report
# (ASan, LeakSanitizer, UBSan "runtime error"). Runs are bounded: about 230
# files, 10 runs each; the intact base traces are run too.
set -u
: "${TOOLS:?}" "${MKTRACE:?}" "${DIFF_MKTRACE:?}" "${TRASH:?}"
PYTHON=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$TRASH" && mkdir -p "$TRASH" && cd "$TRASH" || exit 1

"$MKTRACE" basic basic.trace && "$MKTRACE" heap heap.trace &&
    "$MKTRACE" lost lost.trace && "$MKTRACE" zombie zombie.trace &&
    "$DIFF_MKTRACE" poll poll.trace || { echo "FAIL: cannot make the base traces"; exit 1; }
"$PYTHON" "$here/damage_corpus.py" corpus basic.trace heap.trace poll.trace \
    lost.trace zombie.trace || exit 1

pass=0
fail=0
# run FILE CMD...: CMD must exit 0 or 1 with no sanitizer report on stderr.
run() {
    f=$1
    shift
    "$@" >out 2>err </dev/null
    rc=$?
    if [ "$rc" -gt 1 ] ||
        grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' err; then
        fail=$((fail + 1))
        echo "FAIL: exit $rc: $*"
        grep -E -A12 'ERROR:|runtime error:' err | head -30
    else
        pass=$((pass + 1))
    fi
}

for f in basic.trace heap.trace poll.trace lost.trace zombie.trace corpus/*.trace; do
    run "$f" "$TOOLS/memtrace-decode" "$f"
    run "$f" "$TOOLS/memtrace-decode" --json "$f"
    run "$f" "$TOOLS/memtrace-decode" --check "$f"
    run "$f" "$TOOLS/memtrace-decode" --header --json "$f"
    run "$f" "$TOOLS/memtrace-analyze" "$f"
    run "$f" "$TOOLS/memtrace-analyze" --json "$f"
    run "$f" "$TOOLS/memtrace-analyze" --tree "$f"
    run "$f" "$TOOLS/memtrace-filter" "$f" -o filtered.trace
    run "$f" "$TOOLS/memtrace-diff" --json basic.trace "$f"
    run "$f" "$TOOLS/memtrace-plot" "$f" -o plot.svg
    run "$f" "$TOOLS/memtrace-plot" --flame "$f" -o flame.svg
    run "$f" "$TOOLS/memtrace-plot" "$f" -o page.html
    run "$f" "$TOOLS/memtrace-plot" "$f" -o x.speedscope.json
    run "$f" "$TOOLS/memtrace-plot" "$f" -o x.pb.gz
done
. "$here/header_sweep.sh"

echo "test-tools-asan: $pass passed, $fail failed"
[ "$fail" = 0 ]
