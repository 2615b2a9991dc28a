#!/bin/sh
# t1360: a run with LOST records (analyze_mktrace lost: 1020 events lost on
# T1 and T2, exact allocations) diffed against one without (heap): the diff
# says so first (stderr, the first text lines, "warnings" in JSON) and
# marks what the loss can falsify; two runs without loss carry no mark.
. "$(dirname "$0")/diff-test-lib.sh"

test_expect_success 'setup' '
    "$ANALYZE_MKTRACE" lost lost.trace && "$ANALYZE_MKTRACE" heap heap.trace
'

test_expect_success 'text: the warning first, on stderr too, and the marks' '
    "$DIFF" heap.trace lost.trace >out 2>err &&
    head -1 out | grep "^WARNING: B (lost.trace) LOST 1020 events in 2 LOST records (T1 MainThread: 20, T2 worker: 1000); figures marked \* can be wrong: the heap (peak, leaks, sites) functions, lines and calls$" &&
    grep "^memtrace-diff: warning: B (lost.trace) LOST 1020 events" err &&
    grep -E "^  Heap \* +A +B +change$" out &&
    grep -E "^  peak \* " out &&
    grep -E "^  leaked \(end\) \* " out &&
    grep -E "^  calls \* " out &&
    grep -E "^Functions by .*\*$" out &&
    grep -E "^Allocation sites by \|change in bytes allocated\| .*\*$" out &&
    grep -E "^Leak sites: .*\*$" out
'

test_expect_success 'JSON: warnings, lost counts and falsified_by_loss' '
    "$DIFF" --json heap.trace lost.trace >d.json 2>err &&
    schema d.json &&
    expect d.json b.lost_events=1020 b.lost_bytes=48960 b.falsified_by_loss=true \
        a.lost_events=0 a.falsified_by_loss=false heap.falsified_by_loss=true &&
    "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"warnings\"][0].startswith(\"B (lost.trace) LOST 1020 events\"), d[\"warnings\"]" d.json
'

test_expect_success 'no loss on either side: no warning, no mark' '
    "$DIFF" heap.trace heap.trace >out 2>err &&
    ! grep -q "WARNING\|\*" out && ! grep -q "LOST" err &&
    "$DIFF" --json heap.trace heap.trace >h.json &&
    expect h.json heap.falsified_by_loss=false a.falsified_by_loss=false count:warnings=0
'

test_done
