#!/bin/sh
# t1330: two real recordings of diff_workload.py, whose load() keeps 20 MiB
# in A and 40 MiB in B: the diff must give load +20 MiB (within 1 MiB with
# sampled RSS, 64 KiB with exact RSS), the peak about +20 MiB, and gate on it.
# A script run as a file has the module "__main__". With sampled RSS the
# growth may land in time.sleep (a C callee of load, profile mode) as well,
# so load need only be among the first two there; and memtrace's own at-exit
# frames (_at_exit, stop: recorded, a known wart) may be charged with the
# drop of held.clear()'s 20 or 40 MiB when a sample lands in them, which
# ranks them beside load: among the first four.
. "$(dirname "$0")/diff-test-lib.sh"

: "${PYTHONPATH_MT:?PYTHONPATH_MT must name build/python}"
W="$(cd "$(dirname "$0")" && pwd)/diff_workload.py"
M=1048576

test_expect_success 'sampled RSS, profile mode (python -m memtrace run)' '
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" -m memtrace run --mode profile -o a.trace "$W" 20 &&
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" -m memtrace run --mode profile -o b.trace "$W" 40 &&
    "$DIFF" --json a.trace b.trace >s.json &&
    schema s.json &&
    test "$("$PYTHON" "$CHECK" get s.json rank:load)" -le 3 &&
    expect s.json fn:load.calls.delta=0 \
        "fn:load.incl_bytes.a=~$((20*M))/$M" "fn:load.incl_bytes.b=~$((40*M))/$M" \
        "fn:load.incl_bytes.delta=~$((20*M))/$M" "run.rss_peak_bytes.delta=~$((20*M))/$((2*M))" \
        compared.c_functions=true count:warnings=0
'

test_expect_success 'exact RSS, trace mode: load and its line' '
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" "$W" 20 ea.trace trace &&
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" "$W" 40 eb.trace trace &&
    "$DIFF" --json ea.trace eb.trace >e.json &&
    schema e.json &&
    expect e.json functions.0.function=load "fn:load.incl_bytes.delta=~$((20*M))/65536" \
        "fn:load.incl_bytes.pct=~100/1" compared.lines=true &&
    "$PYTHON" "$CHECK" get e.json lines.0.line >top_line &&
    grep -n "bytearray(size_mib \* MiB)" "$W" | cut -d: -f1 >want_line &&
    test "$(cat top_line)" = "$(cat want_line)"
'

test_expect_success 'gates: load grew by more than 15 MiB, not by 25' '
    test_status 3 "$DIFF" ea.trace eb.trace --fail-if "func:load>+15MiB" >out 2>err &&
    grep "condition true: func:load>+15MiB" err &&
    test_status 3 "$DIFF" ea.trace eb.trace --fail-if "func:__main__.load>+50%" \
        --fail-if "peak>+10MiB" >out 2>err &&
    test_status 0 "$DIFF" ea.trace eb.trace --fail-if "func:load>+25MiB" \
        --fail-if "func:other>+1MiB" --fail-if "calls:other>0" >out 2>err &&
    test_status 0 "$DIFF" ea.trace ea.trace --fail-if "peak>0" --fail-if "func:load>0" >out
'

test_expect_success 'profile against trace mode: compared, with warnings' '
    "$DIFF" --json a.trace eb.trace >m.json 2>err &&
    schema m.json &&
    grep "warning: a.trace was recorded in mode .profile., eb.trace in mode .trace." err &&
    expect m.json compared.lines=false "fn:load.incl_bytes.delta=~$((20*M))/$M"
'

test_expect_success 'the text report names load first' '
    "$DIFF" --top 1 ea.trace eb.trace >e.txt &&
    grep -E "^ +\+(19\.[0-9]|20\.[0-9]) MiB +\+(39\.[0-9]|40\.[0-9]) MiB +\+(19\.[0-9]|20\.[0-9]) MiB .* load \(.*diff_workload\.py:[0-9]+\)$" e.txt
'

test_done
