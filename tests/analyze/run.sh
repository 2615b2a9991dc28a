#!/bin/sh
# run.sh - run every tests/analyze/t*.sh; fail if any test fails.
#
#   ANALYZE=build/bin/memtrace-analyze MKTRACE=build/tests/analyze/analyze_mktrace \
#   PYTHON=python3 PYTHONPATH_MT=build/python TRASH=/tmp/analyze-trash \
#   sh tests/analyze/run.sh [t1200-analyze-synthetic.sh ...]
#
# `make test-analyze` sets the variables.
here=$(cd "$(dirname "$0")" && pwd)
: "${TRASH:=${TMPDIR:-/tmp}/memtrace-analyze-tests}"
: "${PYTHON:=python3}"
CHECK="$here/analyze_check.py"
export ANALYZE MKTRACE TRASH PYTHON PYTHONPATH_MT CHECK
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
    echo "tests/analyze: $failed script(s) failed" >&2
    exit 1
fi
echo "tests/analyze: all passed"
