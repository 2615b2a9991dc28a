# decode-test-lib.sh - a tiny test harness in the style of git's t/test-lib.sh.
#
# A test script sources this file, calls test_expect_success with a title and
# a body of shell commands (run with `set -e` semantics by chaining with &&),
# and ends with test_done. Each script runs in its own scratch directory.
#
# Environment (set by run.sh or by the make target):
#   DECODE   the memtrace-decode binary under test
#   MKTRACE  the decode_mktrace generator
#   TRASH    a directory the tests may fill (emptied per script)
#   EXPECT   tests/decode/expect (golden files)
#   VERBOSE  1: show the output of failing commands

: "${DECODE:?DECODE must name memtrace-decode}"
: "${MKTRACE:?MKTRACE must name decode_mktrace}"
: "${TRASH:?TRASH must name a scratch directory}"
: "${EXPECT:?EXPECT must name the expect directory}"

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

# test_cmp EXPECTED ACTUAL: equal files, or show the difference.
test_cmp() {
    diff -u "$1" "$2"
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

# test_line FILE TEXT: FILE holds exactly one line, equal to TEXT.
test_line() {
    printf '%s\n' "$2" >"$work/.expect-line"
    test_cmp "$work/.expect-line" "$1"
}

# chunk_at N: the start offset of the Nth flush of `decode_mktrace chunks`
# (its stdout saved in chunks.map), and chunk_end N its end.
chunk_at() { awk -v n="$1" '$1 == "flush" && $2 == n { print $3 }' chunks.map; }
chunk_end() { awk -v n="$1" '$1 == "flush" && $2 == n { print $4 }' chunks.map; }

test_done() {
    echo "# $test_name: $test_count tests, $test_failed failed"
    [ "$test_failed" = 0 ]
}

# test_golden NAME ACTUAL: ACTUAL equals $EXPECT/NAME (REGEN=1 rewrites it).
test_golden() {
    if [ "${REGEN:-0}" = 1 ]; then
        cp "$2" "$EXPECT/$1"
    fi
    test_cmp "$EXPECT/$1" "$2"
}
