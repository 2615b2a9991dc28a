#!/bin/sh
# run.sh - run every tests/diff/t*.sh; fail if any test fails.
#
#   DIFF=build/bin/memtrace-diff MKTRACE=build/tests/diff/diff_mktrace \
#   ANALYZE_MKTRACE=build/tests/analyze/analyze_mktrace \
#   PYTHON=python3 PYTHONPATH_MT=build/python TRASH=/tmp/diff-trash \
#   sh tests/diff/run.sh [t1300-diff-synthetic.sh ...]
#
# `make test-diff` sets the variables.
here=$(cd "$(dirname "$0")" && pwd)
: "${TRASH:=${TMPDIR:-/tmp}/memtrace-diff-tests}"
: "${PYTHON:=python3}"
CHECK="$here/diff_check.py"
export DIFF MKTRACE ANALYZE_MKTRACE TRASH PYTHON PYTHONPATH_MT CHECK
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
    echo "tests/diff: $failed script(s) failed" >&2
    exit 1
fi
echo "tests/diff: all passed"
