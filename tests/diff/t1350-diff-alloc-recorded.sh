#!/bin/sh
# t1350: two real recordings with allocations (diff_alloc_workload.py):
# leaky() keeps 20 blocks in A and 40 in B, each one bytes object of a size
# the workload prints; churn() allocates and drops 10 blocks of 1 MiB of
# payload in A and 30 in B. The diff must give exactly +20 leaked blocks
# (and their bytes) at leaky, +20 blocks and 20 x (1 MiB + header) bytes
# allocated at churn, and gate on them.
. "$(dirname "$0")/diff-test-lib.sh"

: "${PYTHONPATH_MT:?PYTHONPATH_MT must name build/python}"
W="$(cd "$(dirname "$0")" && pwd)/diff_alloc_workload.py"
rec() { PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" "$W" "$@"; }

test_expect_success 'record A (20 leaks, 10 MiB) and B (40 leaks, 30 MiB)' '
    rec a.trace 20 10 >size_a && rec b.trace 40 30 >size_b &&
    test "$(cat size_a)" = "$(cat size_b)" &&
    "$DIFF" --json --top 0 a.trace b.trace >ab.json 2>err &&
    test ! -s err && schema ab.json
'

test_expect_success 'leaky: +20 leaked blocks, exactly, of the known size' '
    S=$(cat size_a) &&
    expect ab.json leak:leaky.status=changed leak:leaky.leak_count.a=20 \
        leak:leaky.leak_count.b=40 leak:leaky.leak_count.delta=20 \
        leak:leaky.leak_bytes.a=$((20 * S)) leak:leaky.leak_bytes.delta=$((20 * S)) \
        heap.leaks.0.function=leaky leak:leaky.module=__main__ &&
    "$PYTHON" "$CHECK" get ab.json leak:leaky.line >got_line &&
    grep -n -e "^def leaky" -e "keep\[i\] = bytes(n)" "$W" | cut -d: -f1 >want_lines &&
    grep -qx "$(cat got_line)" want_lines &&
    expect ab.json "heap.end_blocks.delta=20" "heap.end_bytes.delta=$((20 * S))"
'

test_expect_success 'churn: +20 blocks and +20 MiB (plus headers) allocated, none leaked' '
    H=$(( $(cat size_a) - 4000 )) &&
    expect ab.json heap.hotspots_by_bytes.0.function=churn hot:churn.alloc_count.delta=20 \
        hot:churn.alloc_bytes.delta=$((20 * (1048576 + H))) hot:churn.leak_count.b=0 \
        "hot:churn.alloc_bytes.a=~10485760/65536" "hot:churn.alloc_bytes.b=~31457280/65536" &&
    ! "$PYTHON" "$CHECK" get ab.json leak:churn 2>/dev/null
'

test_expect_success 'gates: leak:leaky.count>+10 is true, >+30 false' '
    test_status 3 "$DIFF" a.trace b.trace --fail-if "leak:leaky.count>+10" >out 2>err &&
    grep -F "condition true: leak:leaky.count>+10 (20 -> 40, +20, +100.0%)" err &&
    test_status 0 "$DIFF" a.trace b.trace --fail-if "leak:leaky.count>+30" >out 2>err &&
    test ! -s err &&
    test_status 3 "$DIFF" a.trace b.trace --fail-if "alloc:churn>+19MiB" \
        --fail-if "alloc:__main__.churn.count>=+20" >out 2>err &&
    test $(grep -c "condition true" err) = 2 &&
    test_status 0 "$DIFF" a.trace b.trace --fail-if "alloc:churn>+21MiB" \
        --fail-if "leak:churn.count>0" --fail-if "leaked>+1MiB" >out 2>err &&
    test_status 0 "$DIFF" a.trace a.trace --fail-if "leaked>0" --fail-if "heap_peak>0" \
        --fail-if "alloc:leaky.count>0" >out
'

test_expect_success 'the text report shows both sites' '
    "$DIFF" --top 3 a.trace b.trace >ab.txt &&
    grep -E "^ +[0-9.]+ KiB +[0-9.]+ KiB +\+[0-9.]+ KiB +\+20  leaky \(.*diff_alloc_workload\.py:[0-9]+\) <- main:[0-9]+" ab.txt &&
    grep -E "^ +10\.0 MiB +30\.0 MiB +\+20\.0 MiB +\+20  churn \(.*diff_alloc_workload\.py:[0-9]+\)" ab.txt
'

test_done
