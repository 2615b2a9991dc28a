# diff-test-lib.sh - the harness of the memtrace-diff tests (the same
# shape as tests/decode/decode-test-lib.sh: git's t/test-lib.sh in small).
#
# Environment (set by run.sh or the make target):
#   DIFF           the memtrace-diff binary under test
#   MKTRACE        the diff_mktrace generator
#   ANALYZE_MKTRACE the analyze_mktrace generator (chunks, flip, major2)
#   PYTHON         python3, for diff_check.py and recording
#   PYTHONPATH_MT  build/python (the recorder), for recorded traces
#   CHECK          tests/diff/diff_check.py
#   TRASH          a directory the tests may fill (emptied per script)

: "${DIFF:?DIFF must name memtrace-diff}"
: "${MKTRACE:?MKTRACE must name diff_mktrace}"
: "${TRASH:?TRASH must name a scratch directory}"
: "${CHECK:?CHECK must name diff_check.py}"
: "${ANALYZE_MKTRACE:?ANALYZE_MKTRACE must name analyze_mktrace}"
: "${PYTHON:=python3}"

test_name=$(basename "$0" .sh)
test_count=0
test_failed=0
work="$TRASH/$test_name"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

test_expect_success() { # test_expect_success TITLE BODY
    test_count=$((test_count + 1))
    if (eval "$2") >"$work/.out" 2>&1; then
        echo "ok $test_count - $1"
    else
        test_failed=$((test_failed + 1))
        echo "not ok $test_count - $1"
        sed 's/^/#   /' "$work/.out"
        echo "#   in: $2" | sed '2,$s/^/#   /'
    fi
}

# test_status WANT CMD...: run CMD, succeed if its exit status is WANT.
test_status() {
    want=$1
    shift
    "$@"
    got=$?
    if [ "$got" != "$want" ]; then
        echo "exit status $got, expected $want: $*" >&2
        return 1
    fi
    return 0
}

# expect JSON QUERY=VALUE...: see analyze_check.py.
expect() {
    f=$1
    shift
    "$PYTHON" "$CHECK" expect "$f" "$@"
}

# schema JSON: the document has exactly the documented keys and types.
schema() {
    "$PYTHON" "$CHECK" schema "$1"
}

test_done() {
    echo "# $test_name: $test_count tests, $test_failed failed"
    [ "$test_failed" = 0 ]
}
