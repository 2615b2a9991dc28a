#!/bin/sh
# run.sh - run every tests/poll/t*.sh; fail if any test fails.
#
#   POLL=build/bin/memtrace-poll DECODE=build/bin/memtrace-decode \
#   PYTHON=python3 TRASH=/tmp/poll-trash sh tests/poll/run.sh [t1300-...sh]
#
# `make test-poll` sets the variables.
here=$(cd "$(dirname "$0")" && pwd)
: "${TRASH:=${TMPDIR:-/tmp}/memtrace-poll-tests}"
: "${PYTHON:=python3}"
# The real interpreter, not a version-manager shim (a shell script that
# would add its own processes to every watched tree).
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)') || exit 1
export POLL DECODE PYTHON TRASH
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
    echo "tests/poll: $failed script(s) failed" >&2
    exit 1
fi
echo "tests/poll: all passed"
