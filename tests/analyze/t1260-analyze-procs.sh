#!/bin/sh
# t1260: memtrace-analyze on process-tree traces: memtrace-poll --tree on a
# command whose child holds 200 MiB and grandchild 100 MiB (the structure,
# parent links, peaks within 10% + 20 MiB, total >= 300 MiB, the watched
# process as the RSS series), and the text report's process section.
. "$(dirname "$0")/analyze-test-lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
POLL=${POLL:-$(dirname "$ANALYZE")/memtrace-poll}
WORKLOAD="$here/../poll/poll_workload.py"
PCHECK="$here/analyze_procs_check.py"

if ! test -x "$POLL"; then
    echo "ok 1 # skip memtrace-poll is not built ($POLL)"
    test_done
    exit $?
fi

# The interpreter itself: a pyenv shim (bash) running first would be one
# more process whose command line names the root, if a round sees it.
PYREAL=$("$PYTHON" -c "import sys; print(sys.executable)")

test_expect_success 'record the tree with memtrace-poll --tree' '
    test_status 3 "$POLL" --tree -i 50ms -o tree.trace -- "$PYREAL" "$WORKLOAD" root 3
'

test_expect_success 'JSON: 3 processes, parent links, peaks, total' '
    "$ANALYZE" --json tree.trace >tree.json &&
    "$PYTHON" "$PCHECK" tree tree.json
'

test_expect_success 'text: processes as a tree, the total, RSS of the target' '
    "$ANALYZE" tree.trace >tree.txt &&
    grep -q "^Processes (" tree.txt &&
    grep -q "^Total RSS over time" tree.txt &&
    grep -q "(peak)" tree.txt &&
    grep -q "exit 3 .*poll_workload.py root 3" tree.txt &&
    grep -Eq "(exit 0|unknown) +\"python3\"  \".*poll_workload.py grandchild\"" tree.txt &&
    ! grep -q "no RSS samples" tree.txt
'

test_expect_success 'a trace without processes has no process keys' '
    "$MKTRACE" basic plain.trace &&
    "$ANALYZE" --json plain.trace >plain.json &&
    ! grep -q "\"processes\"" plain.json
'

test_done
