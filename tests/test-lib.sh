# test-lib.sh - the shell test harness every tests/*/ suite shares, in the
# style of git's t/test-lib.sh.
#
# A suite's own NAME-test-lib.sh checks its environment variables, sources
# this file and adds its helpers. A test script sources that file, calls
# test_expect_success with a title and a body of shell commands (chained
# with && so that the first failure fails the test), and ends with
# test_done, which prints "# NAME: N tests, N failed" and sets the status.
#
# Each script runs in its own scratch directory, $TRASH/<script name>,
# emptied first; $work names it.

: "${TRASH:?TRASH must name a scratch directory}"

test_name=$(basename "$0" .sh)
test_count=0
test_failed=0
work="$TRASH/$test_name"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

# test_expect_success TITLE BODY: run BODY in a subshell; "ok N - TITLE", or
# "not ok" with BODY's output and text as # comments.
test_expect_success() {
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

# expect JSON QUERY=VALUE... and schema JSON: the suite's $CHECK program
# (a python3 checker) asserts values and the documented schema.
expect() {
    f=$1
    shift
    "$PYTHON" $CHECK expect "$f" "$@"
}
schema() {
    "$PYTHON" $CHECK schema "$1"
}

test_done() {
    echo "# $test_name: $test_count tests, $test_failed failed"
    [ "$test_failed" = 0 ]
}
