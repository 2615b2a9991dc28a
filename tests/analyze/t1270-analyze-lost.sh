#!/bin/sh
# t1270: a trace with LOST records (analyze_mktrace lost: 1000 events lost
# on T2 worker at 5 ms, 20 on T1 MainThread at 8 ms, exact allocations).
# The report must say so FIRST (text: the first lines; stderr: a warning;
# JSON: "warnings" and "lost" right after "file") and mark every figure the
# loss can falsify; a trace without loss must carry no mark at all.
. "$(dirname "$0")/analyze-test-lib.sh"

test_expect_success 'setup' '
    "$MKTRACE" lost lost.trace && "$MKTRACE" heap heap.trace
'

test_expect_success 'text: the warning comes first, per thread, and on stderr' '
    "$ANALYZE" lost.trace >out 2>err &&
    head -1 out | grep "^WARNING: THIS TRACE LOST EVENTS: 1020 events (47.8 KiB) in 2 LOST records" &&
    sed -n 3,4p out >threads &&
    grep -x "  T1 MainThread: 20 events (960 B) lost, at 8.000 ms" threads &&
    grep -x "  T2 worker: 1000 events (46.9 KiB) lost, at 5.000 ms" threads &&
    sed -n 5p out | grep "Figures marked \* can be wrong: the heap .*threads 1, 2 lost events" &&
    test $(wc -l <err) = 1 &&
    grep "^memtrace-analyze: lost.trace: WARNING: 1020 events LOST in 2 LOST records; these can be wrong: the heap" err
'

test_expect_success 'text: every figure the loss can falsify is marked *' '
    "$ANALYZE" lost.trace >out 2>/dev/null &&
    grep -E "^  peak  +3\.1 MiB +at 7\.000 ms \(4 blocks live\) \*$" out &&
    grep -E "^  end  +2\.1 MiB +\(3 blocks live\) \*$" out &&
    grep "^Heap (allocations recorded, but 1020 events were lost) \*$" out &&
    grep "^Heap at its peak (3.1 MiB at 7.000 ms) \* " out &&
    grep "^Leaks: still allocated at the end \* " out &&
    grep "^Allocation hotspots by bytes \* " out &&
    grep "^Functions by inclusive RSS growth (3 of 3) \*$" out &&
    grep "^Stacks at the peak (innermost last) \*$" out &&
    grep -E "^ +1 MainThread .* \*  \(20 events lost\)$" out &&
    grep -E "^ +2 worker .* \*  \(1000 events lost\)$" out &&
    ! grep -E "^ +0 \? .*\*" out
'

test_expect_success 'JSON: warnings and lost first, falsified_by_loss on the heap' '
    "$ANALYZE" --json lost.trace >lost.json 2>err &&
    schema lost.json &&
    "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); assert list(d)[:4]==[\"schema\",\"file\",\"warnings\",\"lost\"], list(d)" lost.json &&
    expect lost.json lost.events=1020 lost.bytes=48960 lost.records=2 \
        heap.falsified_by_loss=true count:warnings=1 &&
    "$PYTHON" -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d[\"lost\"][\"falsifies\"] == [\"peak_stacks\", \"functions\", \"lines\", \"threads\", \"heap\"], d[\"lost\"]
t = {x[\"tid\"]: x for x in d[\"lost\"][\"threads\"]}
assert t[2][\"events\"] == 1000 and t[2][\"bytes\"] == 48000 and t[2][\"first_s\"] == 0.005, t
assert t[1][\"events\"] == 20 and t[1][\"name\"] == \"MainThread\" and t[1][\"last_s\"] == 0.008, t
assert {x[\"tid\"]: x[\"lost_events\"] for x in d[\"threads\"]} == {0: 0, 1: 20, 2: 1000}
assert \"1020 events LOST\" in d[\"warnings\"][0]
" lost.json &&
    grep "WARNING: 1020 events LOST" err
'

test_expect_success 'no loss: no warning, no mark' '
    "$ANALYZE" heap.trace >out 2>err &&
    ! grep -q "WARNING\|\*" out && test ! -s err &&
    "$ANALYZE" --json heap.trace >heap.json &&
    schema heap.json &&
    expect heap.json lost.events=0 heap.falsified_by_loss=false count:warnings=0 &&
    "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"lost\"][\"falsifies\"]==[] and d[\"lost\"][\"threads\"]==[]" heap.json
'

test_done
