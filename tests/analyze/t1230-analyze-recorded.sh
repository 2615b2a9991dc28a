#!/bin/sh
# t1230: known answers on traces recorded by the real recorder. grow()
# (grow_workload.py) holds exactly 50 MiB for 80 ms and frees it as it
# returns: its peak growth must be 50 MiB within 1 MiB (sampled RSS) or
# 64 KiB (exact RSS), its inclusive growth (what outlived the call) 0
# within the same, and the peak must lie on the plateau between the
# "allocated" and "release" markers, give or take one sampling interval
# (10 ms; 1 ms for exact RSS, read at every event).
. "$(dirname "$0")/analyze-test-lib.sh"

: "${PYTHONPATH_MT:?PYTHONPATH_MT must name build/python}"
W="$(cd "$(dirname "$0")" && pwd)/grow_workload.py"
M=1048576

# check_grow JSON TOLERANCE_BYTES INTERVAL_S
check_grow() {
    schema "$1" &&
    expect "$1" fn:grow.calls=1 "fn:grow.peak_growth_bytes=~$((50*M))/$2" \
        "fn:grow.incl_bytes=~0/$2" marker:0.text=allocated \
        marker:1.text=release &&
    lo=$("$PYTHON" "$CHECK" get "$1" marker:0.time_s) &&
    hi=$("$PYTHON" "$CHECK" get "$1" marker:1.time_s) &&
    pk=$("$PYTHON" "$CHECK" get "$1" rss.peak_time_s) &&
    "$PYTHON" -c "import sys; lo, hi, pk, iv = map(float, sys.argv[1:]); \
        ok = lo - iv <= pk <= hi + iv; \
        print(f\"peak at {pk} s, plateau {lo}..{hi} s, interval {iv} s\"); \
        sys.exit(0 if ok else 1)" "$lo" "$hi" "$pk" "$3"
}

test_expect_success 'sampled RSS, profile mode (python -m memtrace run)' '
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" -m memtrace run --mode profile -o sampled.trace "$W" &&
    "$ANALYZE" --json --top 1000 sampled.trace >sampled.json &&
    check_grow sampled.json $M 0.010
'

test_expect_success 'sampled RSS: the stack at the peak ends in grow' '
    "$PYTHON" "$CHECK" get sampled.json stack:1 | grep -E "main:[0-9]+>grow:[0-9]+(>sleep:0)?$"
'

test_expect_success 'exact RSS, trace mode (lines)' '
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" "$W" exact.trace trace &&
    "$ANALYZE" --json --top 1000 exact.trace >exact.json &&
    check_grow exact.json 65536 0.001 &&
    "$PYTHON" "$CHECK" get exact.json lines.0.line >top_line &&
    grep -n "bytearray(50 \* MiB)" "$W" | cut -d: -f1 >want_line &&
    test "$(cat top_line)" = "$(cat want_line)"
'

test_expect_success 'exact RSS, profile mode' '
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" "$W" exactp.trace profile &&
    "$ANALYZE" --json --top 1000 exactp.trace >exactp.json &&
    check_grow exactp.json 65536 0.001
'

test_expect_success 'the text report: grow rose 50 MiB and left nothing' '
    "$ANALYZE" --top 1000 sampled.trace >sampled.txt &&
    grep -E "^ +(0 B|[+-][0-9.]+ (B|KiB)) .* \+(49\.[0-9]|50\.[0-9]) MiB +[0-9.]+ MiB  grow \(.*grow_workload\.py:[0-9]+\)$" sampled.txt
'

test_done
