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

. "$(dirname "$0")/../test-lib.sh"

