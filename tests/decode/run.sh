#!/bin/sh
# run.sh - run every tests/decode/t*.sh; fail if any test fails.
#
#   DECODE=build/bin/memtrace-decode MKTRACE=build/tests/decode/decode_mktrace \
#   TRASH=/tmp/decode-trash sh tests/decode/run.sh [t1100-decode-output.sh ...]
#
# `make test-decode` sets the variables. Pass REGEN=1 to rewrite the golden
# files in tests/decode/expect from the current output (then read the diff).
here=$(cd "$(dirname "$0")" && pwd)
: "${TRASH:=${TMPDIR:-/tmp}/memtrace-decode-tests}"
EXPECT="$here/expect"
export DECODE MKTRACE TRASH EXPECT REGEN
mkdir -p "$TRASH" || exit 1
if [ $# -eq 0 ]; then
    set -- "$here"/t[0-9]*.sh
fi
failed=0
for t in "$@"; do
    case "$t" in */*) ;; *) t="$here/$t" ;; esac
    sh "$t" || failed=$((failed + 1))
done
if [ "$failed" -ne 0 ]; then
    echo "tests/decode: $failed script(s) failed" >&2
    exit 1
fi
echo "tests/decode: all passed"
