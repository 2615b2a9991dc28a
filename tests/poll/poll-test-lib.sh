# poll-test-lib.sh - the harness of the memtrace-poll tests, in the style of
# git's t/test-lib.sh (and of tests/decode/decode-test-lib.sh).
#
# A script sources this, calls test_expect_success TITLE BODY (BODY: shell
# commands chained with &&) and ends with test_done. Each script runs in a
# scratch directory of its own.
#
# Environment (set by run.sh or `make test-poll`):
#   POLL     the memtrace-poll binary under test
#   DECODE   memtrace-decode, to read the traces back
#   PYTHON   a python3 (the real executable, not a shim: run.sh resolves it)
#   TRASH    a directory the tests may fill (emptied per script)

: "${POLL:?POLL must name memtrace-poll}"
: "${DECODE:?DECODE must name memtrace-decode}"
: "${PYTHON:?PYTHON must name python3}"
: "${TRASH:?TRASH must name a scratch directory}"
export DECODE

here=$(cd "$(dirname "$0")" && pwd)
CHECK="$PYTHON $here/poll_check.py"
WORKLOAD="$here/poll_workload.py"
. "$(dirname "$0")/../test-lib.sh"

# wait_for_file FILE [TENTHS]: until FILE is non-empty (default 5 s).
wait_for_file() {
    n=${2:-50}
    while [ ! -s "$1" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    test -s "$1"
}

# closed FILE: memtrace-decode --check says the trace is whole and closed.
closed() {
    "$DECODE" --check "$1" >"$work/.check" &&
    grep -q ": ok, .* records, closed$" "$work/.check" ||
    { cat "$work/.check"; return 1; }
}

# summary_reason FILE: the reason of the trace's last record (a summary).
summary_reason() {
    "$DECODE" --json "$1" | tail -n 1 |
    sed -n 's/^{"type":"summary",.*"reason":"\([a-z_0-9]*\)".*/\1/p'
}

