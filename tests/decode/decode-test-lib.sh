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

. "$(dirname "$0")/../test-lib.sh"

# chunk_at N: the start offset of the Nth flush of `decode_mktrace chunks`
# (its stdout saved in chunks.map), and chunk_end N its end.
chunk_at() { awk -v n="$1" '$1 == "flush" && $2 == n { print $3 }' chunks.map; }
chunk_end() { awk -v n="$1" '$1 == "flush" && $2 == n { print $4 }' chunks.map; }

# test_golden NAME ACTUAL: ACTUAL equals $EXPECT/NAME (REGEN=1 rewrites it).
test_golden() {
    if [ "${REGEN:-0}" = 1 ]; then
        cp "$2" "$EXPECT/$1"
    fi
    test_cmp "$EXPECT/$1" "$2"
}
