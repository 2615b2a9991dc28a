#!/bin/sh
# t1200: known answers on synthetic traces. The traces and the hand-computed
# answers are described in analyze_mktrace.c (times in ms, RSS in MiB);
# 1 MiB = 1048576 B.
. "$(dirname "$0")/analyze-test-lib.sh"

M=1048576

test_expect_success 'setup' '
    "$MKTRACE" basic basic.trace &&
    "$MKTRACE" exact exact.trace &&
    "$MKTRACE" norss norss.trace &&
    "$ANALYZE" --json basic.trace >basic.json &&
    "$ANALYZE" --json exact.trace >exact.json &&
    "$ANALYZE" --json norss.trace >norss.json
'

test_expect_success 'JSON output follows the documented schema' '
    schema basic.json && schema exact.json && schema norss.json
'

test_expect_success 'every key of the schema is in --help' '
    "$ANALYZE" --help >help.txt &&
    for k in schema run window rss peak_stacks functions lines markers threads \
             replay damage report incl_bytes self_bytes peak_rss_bytes \
             growth_bytes unmatched_returns open_frames bytes_skipped pymalloc \
             arena_bytes used_bytes free_bytes; do
        grep -q "$k" help.txt || { echo "missing $k"; exit 1; }
    done
'

test_expect_success 'run metadata' '
    expect basic.json "run.command=[\"python3\",\"work.py\"]" run.pid=4242 \
        run.python="CPython 3.11.7" run.mode=trace run.duration_s=0.08 \
        run.records_by_type.call=6 run.records_by_type.return=7 \
        run.records_by_type.line=4 run.threads=3 run.lost_events=7 \
        run.lost_records=1 run.closed=true \
        run.start_utc=2026-11-18T11:06:40.000000000Z
'

test_expect_success 'inclusive and self growth, calls, times' '
    expect basic.json rank:alloc=0 \
        fn:alloc.calls=1 fn:alloc.incl_bytes=$((20*M)) fn:alloc.self_bytes=$((20*M)) \
        fn:alloc.incl_s=0.01 \
        fn:alloc.peak_growth_bytes=$((20*M)) \
        fn:main.calls=1 fn:main.incl_bytes=0 fn:main.self_bytes=$((-20*M)) \
        fn:main.incl_s=0.07 fn:main.self_s=0.04 fn:main.peak_rss_bytes=$((50*M)) \
        fn:main.peak_growth_bytes=$((40*M)) \
        fn:leaf.calls=2 fn:leaf.incl_bytes=0 fn:leaf.incl_s=0.003
'

test_expect_success 'growth must outlive the call; recursion is counted once' '
    expect basic.json fn:rec.calls=2 fn:rec.incl_bytes=0 \
        fn:rec.self_bytes=0 fn:rec.incl_s=0.02 fn:rec.self_s=0.018 \
        fn:rec.peak_growth_bytes=$((20*M))
'

test_expect_success 'a frame entered before recording, still open at the end' '
    expect basic.json fn:worker.calls=0 fn:worker.incl_bytes=$((10*M)) \
        fn:worker.incl_s=0.05 replay.open_frames=1
'

test_expect_success 'a return without a call attributes nothing; threads share growth' '
    expect basic.json replay.unmatched_returns=1 replay.calls=6 \
        thread:1.growth_bytes=0 thread:2.growth_bytes=$((10*M))
'

test_expect_success 'RSS samples written after the events they time' '
    expect basic.json rss.samples=5 rss.start_bytes=$((10*M)) \
        rss.peak_bytes=$((50*M)) rss.peak_time_s=0.04 rss.end_bytes=$((20*M))
'

test_expect_success 'stacks at the peak' '
    expect basic.json count:peak_stacks=2 "stack:1=main:11>rec:0>rec:0" \
        "stack:2=worker:0"
'

test_expect_success 'line table' '
    expect basic.json count:lines=4 \
        line:a.py:10.growth_bytes=$((20*M)) line:a.py:10.peak_rss_bytes=$((30*M)) \
        line:a.py:10.count=1 line:a.py:10.function=main \
        line:a.py:11.growth_bytes=0 line:a.py:11.peak_rss_bytes=$((50*M)) \
        line:a.py:12.growth_bytes=$((-20*M)) line:a.py:12.peak_rss_bytes=$((40*M)) \
        line:a.py:20.growth_bytes=$((20*M)) line:a.py:20.function=alloc
'

test_expect_success 'markers with the RSS at each' '
    expect basic.json count:markers=1 marker:0.text="phase two" \
        marker:0.time_s=0.065 marker:0.rss_bytes=$((40*M)) marker:0.tid=1
'

test_expect_success 'per-thread summary' '
    expect basic.json count:threads=3 thread:1.name=MainThread \
        thread:1.native_id=101 thread:1.events=17 thread:1.calls=5 \
        thread:1.first_s=0.005 thread:1.last_s=0.078 \
        thread:2.name=worker thread:2.calls=1 thread:2.growth_bytes=$((10*M)) \
        thread:0.events=9 thread:0.calls=0
'

test_expect_success 'time window: activations clipped, calls inside only' '
    "$ANALYZE" --json --from 20ms --to 0.05 basic.trace >win.json &&
    schema win.json &&
    expect win.json window.from_s=0.02 window.to_s=0.05 \
        rss.start_bytes=$((30*M)) rss.peak_bytes=$((50*M)) rss.end_bytes=$((40*M)) \
        fn:main.calls=0 fn:main.incl_bytes=0 fn:main.self_bytes=0 \
        fn:main.incl_s=0.03 fn:alloc.calls=0 fn:alloc.incl_bytes=0 \
        fn:rec.calls=2 fn:rec.incl_bytes=0 fn:rec.incl_s=0.015 \
        fn:leaf.calls=2 fn:worker.incl_bytes=$((10*M)) count:markers=0 \
        line:a.py:10.count=0 line:a.py:11.count=1 \
        line:a.py:11.growth_bytes=0
'

test_expect_success 'time window by UNIX time' '
    "$ANALYZE" --json --from @1795000000.02 --to 50ms basic.trace >win2.json &&
    "$PYTHON" -c "import json,sys; a=json.load(open(\"win.json\")); b=json.load(open(\"win2.json\")); sys.exit(a != b)"
'

test_expect_success 'thread filter by name' '
    "$ANALYZE" --json --thread worker basic.trace >t2.json &&
    expect t2.json rank:main=-1 fn:worker.incl_bytes=$((10*M)) fn:leaf.calls=1 \
        count:peak_stacks=1 "stack:2=worker:0" rss.peak_bytes=$((50*M))
'

test_expect_success 'thread filter by tid, repeatable' '
    "$ANALYZE" --json --thread 1 basic.trace >t1.json &&
    expect t1.json rank:worker=-1 fn:leaf.calls=1 fn:main.calls=1 count:peak_stacks=1 &&
    "$ANALYZE" --json --thread 1 --thread worker basic.trace >t12.json &&
    expect t12.json fn:leaf.calls=2 count:peak_stacks=2
'

test_expect_success 'a thread filter that matches nothing fails' '
    test_status 1 "$ANALYZE" --thread nobody basic.trace >out 2>err &&
    grep "basic.trace: no thread .nobody." err
'

test_expect_success '--sort and --top' '
    "$ANALYZE" --json --sort self basic.trace >s.json &&
    expect s.json functions.0.function=alloc functions.1.function=worker \
        functions.4.function=main report.sort=self &&
    "$ANALYZE" --json --sort calls basic.trace >s.json &&
    expect s.json functions.0.function=leaf functions.1.function=rec &&
    "$ANALYZE" --json --sort time basic.trace >s.json &&
    expect s.json functions.0.function=main &&
    "$ANALYZE" --json --sort peak basic.trace >s.json &&
    expect s.json functions.0.function=worker &&
    "$ANALYZE" --json --top 2 basic.trace >s.json &&
    expect s.json count:functions=2 count:lines=2 report.functions_total=5 \
        report.lines_total=4 report.top=2
'

test_expect_success 'CSV function table' '
    "$ANALYZE" --csv basic.trace >basic.csv &&
    test $(wc -l <basic.csv) = 6 &&
    head -1 basic.csv | grep -x "rank,function,module,file,first_line,kind,calls,incl_bytes,self_bytes,incl_s,self_s,peak_rss_bytes,peak_growth_bytes" &&
    sed -n 2p basic.csv | grep -x "1,alloc,work,a.py,19,python,1,20971520,20971520,0.010000000,0.010000000,31457280,20971520" &&
    "$ANALYZE" --csv --top 1 basic.trace | test $(wc -l) = 2
'

test_expect_success 'text report in human units' '
    "$ANALYZE" basic.trace >basic.txt &&
    grep -E "^  peak +50\.0 MiB +at 40\.000 ms$" basic.txt &&
    grep -E "^ +\+20\.0 MiB +\+20\.0 MiB +1 +10\.000 ms .* alloc \(a\.py:19\)$" basic.txt &&
    grep -E "^ +0 B +-20\.0 MiB +1 .* \+40\.0 MiB +50\.0 MiB  main \(a\.py:1\)$" basic.txt &&
    grep -E "^    main  a\.py:11$" basic.txt &&
    grep -E "65\.000 ms +RSS 40\.0 MiB +T1 +\"phase two\"" basic.txt &&
    grep -E "^ +\+20\.0 MiB .* a\.py:10 \(main\)$" basic.txt &&
    ! grep -i damaged basic.txt
'

test_expect_success 'RSS records in thread blocks (exact mode)' '
    expect exact.json fn:f.incl_bytes=$((2*M)) fn:f.peak_growth_bytes=$((3*M)) fn:g.incl_bytes=0 \
        rss.peak_bytes=$((13*M)) rss.peak_time_s=0.003 rss.end_bytes=$((12*M)) \
        rss.start_bytes=$((10*M))
'

test_expect_success 'a trace without RSS' '
    expect norss.json rss.samples=0 fn:f.calls=2 fn:f.incl_s=0.006 \
        fn:f.incl_bytes=0 count:peak_stacks=0 &&
    "$ANALYZE" norss.trace >norss.txt &&
    grep "no RSS samples" norss.txt
'

test_done
