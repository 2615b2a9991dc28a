# analyze-test-lib.sh - the harness of the memtrace-analyze tests (the same
# shape as tests/decode/decode-test-lib.sh: git's t/test-lib.sh in small).
#
# Environment (set by run.sh or the make target):
#   ANALYZE        the memtrace-analyze binary under test
#   MKTRACE        the analyze_mktrace generator
#   PYTHON         python3, for analyze_check.py and recording
#   PYTHONPATH_MT  build/python (the recorder), for recorded traces
#   CHECK          tests/analyze/analyze_check.py
#   TRASH          a directory the tests may fill (emptied per script)

: "${ANALYZE:?ANALYZE must name memtrace-analyze}"
: "${MKTRACE:?MKTRACE must name analyze_mktrace}"
: "${TRASH:?TRASH must name a scratch directory}"
: "${CHECK:?CHECK must name analyze_check.py}"
: "${PYTHON:=python3}"

. "$(dirname "$0")/../test-lib.sh"

