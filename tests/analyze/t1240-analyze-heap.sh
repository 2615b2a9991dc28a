#!/bin/sh
# t1240: the heap model on synthetic traces whose answers are worked out in
# analyze_mktrace.c (mk_heap, mk_sampled): frees of unknown addresses,
# realloc chains, a cross-thread free, a free that reaches the file before
# its allocation, an allocation of a live address and the stale free that
# follows, leaks, temporaries, hotspots, the peak and its breakdown, per
# domain totals, the window, the thread filter, and the sampled estimator.
. "$(dirname "$0")/analyze-test-lib.sh"

test_expect_success 'setup: the heap trace' '
    "$MKTRACE" heap heap.trace &&
    "$ANALYZE" --json heap.trace >heap.json &&
    schema heap.json
'

test_expect_success 'totals, end, records and repairs' '
    expect heap.json heap.sample_bytes=1 heap.estimated=false \
        heap.records.alloc=11 heap.records.free=7 heap.records.realloc=3 \
        heap.total.alloc_count=14 heap.total.alloc_bytes=1008390 \
        heap.total.free_count=8 heap.total.free_bytes=1007816 \
        heap.total.end_bytes=574 heap.end_blocks=6 \
        heap.repairs.unknown_frees=2 heap.repairs.late_allocs=1 \
        heap.repairs.reused_live=1 heap.repairs.stale_frees=1 heap.stacks=5
'

test_expect_success 'per domain' '
    expect heap.json heap.domains.0.domain=raw heap.domains.0.alloc_bytes=1000 \
        heap.domains.0.free_bytes=1000 heap.domains.0.end_bytes=0 \
        heap.domains.1.domain=mem heap.domains.1.alloc_count=5 \
        heap.domains.1.alloc_bytes=1150 heap.domains.1.free_bytes=800 \
        heap.domains.1.peak_bytes=500 heap.domains.1.end_bytes=350 \
        heap.domains.2.domain=obj heap.domains.2.alloc_bytes=6240 \
        heap.domains.2.end_bytes=224 \
        heap.domains.3.domain=malloc heap.domains.3.peak_bytes=1000000 \
        heap.domains.3.end_bytes=0
'

test_expect_success 'the peak: its time, size and breakdown by stack' '
    expect heap.json heap.peak_bytes=1000542 heap.peak_time_s=0.013 heap.peak_blocks=6 \
        site:peak:main.bytes=1000350 site:peak:main.count=3 \
        size:peak:main:1000000=1 size:peak:main:300=1 size:peak:main:50=1 \
        site:peak:leak.bytes=192 size:peak:leak:64=3 heap.sites_total.peak=2 \
        sitestack:peak:1=main\>leak
'

test_expect_success 'leaks: by stack, with counts, bytes and sizes' '
    expect heap.json heap.sites_total.leaks=3 \
        heap.leaks.0.function=main heap.leaks.0.bytes=350 \
        site:leaks:leak.count=3 site:leaks:leak.bytes=192 size:leaks:leak:64=3 \
        site:leaks:leak.file=heap.py site:leaks:leak.line=10 \
        site:leaks:worker.count=1 site:leaks:worker.bytes=32
'

test_expect_success 'temporaries: freed within the allocating call only' '
    expect heap.json heap.sites_total.temporaries=2 \
        site:temporaries:main.count=3 site:temporaries:main.bytes=1000300 \
        site:temporaries:temp.count=1 site:temporaries:temp.bytes=500 &&
    ! "$PYTHON" "$CHECK" get heap.json site:temporaries:make.count 2>/dev/null
'

test_expect_success 'hotspots by bytes and by count' '
    expect heap.json heap.sites_total.hotspots=5 \
        heap.hotspots_by_bytes.0.function=main heap.hotspots_by_bytes.0.bytes=1006666 \
        heap.hotspots_by_bytes.1.function=make heap.hotspots_by_count.1.function=leak \
        heap.hotspots_by_count.1.count=3 heap.hotspots_by_bytes.4.function=worker
'

test_expect_success '--sort calls orders the heap tables by blocks; --top cuts them' '
    "$ANALYZE" --json --sort calls --top 1 heap.trace >calls.json &&
    schema calls.json &&
    expect calls.json heap.sort=count heap.leaks.0.function=leak count:functions=1 &&
    test "$("$PYTHON" -c "import json; d = json.load(open(\"calls.json\")); \
        print(len(d[\"heap\"][\"leaks\"]))")" = 1
'

test_expect_success 'a window: allocations in it, leaks live at its end' '
    "$ANALYZE" --json --from 8ms --to 13500us heap.trace >win.json &&
    expect win.json heap.total.alloc_count=5 heap.total.alloc_bytes=1000650 \
        heap.peak_bytes=1000542 heap.sites_total.leaks=1 site:leaks:main.count=3 \
        site:leaks:main.bytes=1000350
'

test_expect_success 'a thread filter selects the allocating thread' '
    "$ANALYZE" --json --thread worker heap.trace >worker.json &&
    expect worker.json heap.sites_total.hotspots=1 heap.hotspots_by_bytes.0.function=worker \
        heap.sites_total.leaks=1 heap.peak_bytes=1000542
'

test_expect_success 'the text report' '
    "$ANALYZE" heap.trace >heap.txt &&
    grep -E "^  peak +977\.1 KiB +at 13\.000 ms \(6 blocks live\)$" heap.txt &&
    grep -E "^ +192 B +3  leak \(heap\.py, def line 10\) <- main$" heap.txt &&
    grep -E "^ +sizes: 3 x 64 B$" heap.txt &&
    grep -E "^Allocation hotspots by count \(5 of 5 sites\)$" heap.txt &&
    grep -E "; 2 frees of blocks allocated before recording \(ignored\)$" heap.txt
'

test_expect_success 'blocks of two threads at one address, out of time order in the file: ordered by time' '
    "$MKTRACE" heap-order order.trace &&
    "$ANALYZE" --json order.trace >order.json && schema order.json &&
    expect order.json heap.repairs.late_allocs=2 heap.repairs.stale_frees=2 \
        heap.repairs.reused_live=2 heap.repairs.unknown_frees=0 \
        heap.total.alloc_count=9 heap.total.free_count=5 \
        heap.end_blocks=4 heap.total.end_bytes=128 heap.domains.0.end_bytes=128 \
        site:leaks:worker.count=4 site:leaks:worker.bytes=128 &&
    ! "$PYTHON" "$CHECK" get order.json site:leaks:main.count 2>/dev/null
'

test_expect_success 'the same without the ALLOC_ORDERED flag (older recorders): the old rules' '
    "$MKTRACE" heap-order-old order-old.trace &&
    "$ANALYZE" --json order-old.trace >order-old.json && schema order-old.json &&
    expect order-old.json heap.repairs.late_allocs=0 heap.repairs.stale_frees=0 \
        heap.repairs.reused_live=4 heap.repairs.unknown_frees=1 \
        heap.end_blocks=2 heap.total.end_bytes=56
'

test_expect_success 'three threads overlapping in time, their buffers in another order: the peak of time order' '
    "$MKTRACE" heap-time time.trace &&
    "$ANALYZE" --json time.trace >time.json && schema time.json &&
    expect time.json heap.peak_bytes=7000 heap.peak_time_s=0.003 heap.peak_blocks=3 \
        heap.total.end_bytes=500 heap.repairs.unordered=0 \
        site:peak:main.bytes=1000 site:peak:work.bytes=2000 site:peak:load.bytes=4000 &&
    "$PYTHON" -c "import json,sys; t={x[\"type\"]: x[\"peak_count\"] for x in json.load(open(sys.argv[1]))[\"objects\"][\"types\"]}; assert t == {\"__main__.Point\": 1, \"dict\": 0}, t" time.json &&
    "$ANALYZE" time.trace >time.txt &&
    grep -E "^  peak +6\.8 KiB +at 3\.000 ms \(3 blocks live\)$" time.txt &&
    ! grep -q "^  order " time.txt
'

test_expect_success 'objects alive at the peak by time: made just after its allocation, dead before it' '
    "$MKTRACE" objpeak op1.trace && "$ANALYZE" --json op1.trace >op1.json && schema op1.json &&
    expect op1.json heap.peak_bytes=1050 heap.peak_time_s=0.002 &&
    "$PYTHON" -c "import json,sys; t={x[\"type\"]: x[\"peak_count\"] for x in json.load(open(sys.argv[1]))[\"objects\"][\"types\"]}; assert t == {\"__main__.Point\": 2}, t" op1.json &&
    "$MKTRACE" objpeak2 op2.trace && "$ANALYZE" --json op2.trace >op2.json && schema op2.json &&
    expect op2.json heap.peak_bytes=5100 heap.peak_time_s=0.005 &&
    "$PYTHON" -c "import json,sys; t={x[\"type\"]: x[\"peak_count\"] for x in json.load(open(sys.argv[1]))[\"objects\"][\"types\"]}; assert t == {\"__main__.Point\": 0}, t" op2.json
'

test_expect_success 'the same with room for one waiting change: summed out of order, and said' '
    MEMTRACE_TEST_ORDER_CAP=1 "$ANALYZE" --json time.trace >time1.json && schema time1.json &&
    "$PYTHON" -c "import json,sys; h=json.load(open(sys.argv[1]))[\"heap\"]; r=h[\"repairs\"]; assert r[\"unordered\"] > 0 and r[\"unordered_bytes\"] > 0 and h[\"total\"][\"end_bytes\"] == 500, r" time1.json &&
    MEMTRACE_TEST_ORDER_CAP=1 "$ANALYZE" time.trace >time1.txt &&
    grep -E "^  order +[0-9]+ changes \([0-9.]+ [KM]?i?B\) reached the file after later ones" time1.txt
'

test_expect_success 'a trace without allocations has no heap section or key' '
    "$MKTRACE" basic basic.trace &&
    "$ANALYZE" --json basic.trace >basic.json && schema basic.json &&
    ! grep -q "\"heap\"" basic.json &&
    "$ANALYZE" basic.trace >basic.txt && ! grep -q "^Heap" basic.txt
'

test_expect_success 'sampled: s / (1 - exp(-s/N)) bytes, 1 / (1 - exp(-s/N)) blocks' '
    "$MKTRACE" sampled sampled.trace &&
    "$ANALYZE" --json sampled.trace >sampled.json && schema sampled.json &&
    expect sampled.json heap.sample_bytes=1000 heap.estimated=true \
        heap.total.alloc_bytes=101582 heap.total.alloc_count=3 heap.peak_bytes=101582 \
        site:leaks:main.bytes=101582 size:leaks:main:1000=2 size:leaks:main:100000=1 &&
    "$ANALYZE" sampled.trace | grep -E "^Heap \(allocations sampled every 1000 B on average"
'

test_done
