#!/bin/sh
# t1300: exact changes between two synthetic traces whose answers are
# written out in diff_mktrace.c (times in ms, RSS in MiB; 1 MiB = 1048576 B):
# f grows 10 MiB in A and 15 MiB in B, g appears, h vanishes, leaf is called
# once more, the peak rises from 40 to 55 MiB. Ties in the order of
# |change| go to the greater |incl change|, then to the name.
. "$(dirname "$0")/diff-test-lib.sh"

M=1048576

test_expect_success 'setup' '
    "$MKTRACE" a a.trace && "$MKTRACE" b b.trace &&
    "$DIFF" --json a.trace b.trace >ab.json
'

test_expect_success 'JSON output follows the documented schema' '
    schema ab.json
'

test_expect_success 'every key of the schema is in --help' '
    "$DIFF" --help >help.txt &&
    for k in schema compared warnings run functions lines appeared vanished \
             conditions failed damage report duration_s rss_start_bytes \
             rss_peak_bytes rss_peak_time_s rss_end_bytes events lost_events \
             incl_bytes self_bytes incl_s self_s growth_bytes time_s status \
             c_functions functions_changed functions_new functions_gone \
             lines_changed bytes_skipped damaged_chunks delta pct; do
        grep -q "$k" help.txt || { echo "missing $k"; exit 1; }
    done
'

test_expect_success 'run-level changes' '
    expect ab.json run.rss_peak_bytes.a=$((40*M)) run.rss_peak_bytes.b=$((55*M)) \
        run.rss_peak_bytes.delta=$((15*M)) run.rss_peak_bytes.pct=37.5 \
        run.rss_end_bytes.delta=$((5*M)) run.rss_start_bytes.delta=0 \
        run.rss_start_bytes.pct=0 run.rss_peak_time_s.a=0.014 \
        run.rss_peak_time_s.b=0.016 run.duration_s.a=0.016 run.duration_s.b=0.02 \
        run.duration_s.delta=0.004 run.duration_s.pct=25 run.calls.a=4 run.calls.b=5 \
        run.lost_events.a=0 run.lost_events.b=3 run.lost_events.pct=null
'

test_expect_success 'per-function changes' '
    expect ab.json fn:f.status=changed fn:f.incl_bytes.a=$((10*M)) \
        fn:f.incl_bytes.b=$((15*M)) fn:f.incl_bytes.delta=$((5*M)) fn:f.incl_bytes.pct=50 \
        fn:f.self_bytes.delta=$((5*M)) fn:f.calls.delta=0 \
        fn:main.incl_bytes.delta=$((5*M)) fn:main.self_bytes.a=$((5*M)) \
        fn:main.self_bytes.b=$((8*M)) fn:main.incl_s.delta=0.004 \
        fn:leaf.calls.a=1 fn:leaf.calls.b=2 fn:leaf.calls.pct=100 fn:leaf.incl_bytes.delta=0
'

test_expect_success 'functions that appear and vanish' '
    expect ab.json fn:g.status=new fn:g.incl_bytes.a=0 fn:g.incl_bytes.b=$((2*M)) \
        fn:g.incl_bytes.pct=null fn:h.status=gone fn:h.incl_bytes.delta=$((-5*M)) \
        fn:h.calls.b=0 count:appeared=1 count:vanished=1 \
        new:g.incl_bytes=$((2*M)) new:g.calls=1 new:g.file=d.py new:g.first_line=20 \
        gone:h.incl_bytes=$((5*M)) report.functions_new=1 report.functions_gone=1 \
        report.functions_total=5 report.functions_changed=5
'

test_expect_success 'sorted by |change|, ties by name' '
    expect ab.json functions.0.function=f functions.1.function=h functions.2.function=main \
        functions.3.function=g functions.4.function=leaf report.sort=incl &&
    "$DIFF" --json --sort calls a.trace b.trace >calls.json &&
    expect calls.json functions.0.function=h functions.1.function=g \
        functions.2.function=leaf report.sort=calls &&
    "$DIFF" --json --sort self a.trace b.trace >self.json &&
    expect self.json functions.0.function=f functions.1.function=h functions.2.function=main &&
    "$DIFF" --json --sort time --top 1 a.trace b.trace >time.json &&
    expect time.json count:functions=1 functions.0.function=main report.top=1 \
        report.functions_changed=5
'

test_expect_success 'per-line changes' '
    expect ab.json count:lines=4 report.lines_total=4 \
        line:d.py:2.growth_bytes.delta=$((5*M)) line:d.py:2.function=main \
        line:d.py:11.growth_bytes.a=$((10*M)) line:d.py:11.growth_bytes.b=$((15*M)) \
        line:d.py:11.function=f line:d.py:3.growth_bytes.delta=$((-3*M)) \
        line:d.py:4.growth_bytes.delta=$((3*M)) line:d.py:4.time_s.delta=0.004 \
        lines.0.line=2 lines.1.line=11
'

test_expect_success 'a window and a thread, in the time syntax of every tool' '
    "$DIFF" --json --to 10ms a.trace b.trace >w.json 2>err &&
    expect w.json run.rss_peak_bytes.a=$((25*M)) run.rss_peak_bytes.b=$((27*M)) \
        run.calls.a=3 run.calls.b=3 &&
    "$DIFF" --json --to 0.01 a.trace b.trace >w2.json 2>err &&
    cmp w.json w2.json &&
    "$DIFF" --json --thread 1 a.trace b.trace >t.json 2>err &&
    expect t.json run.calls.a=4 run.calls.b=5 &&
    test_status 1 "$DIFF" --thread 2 a.trace b.trace >out 2>err &&
    grep -q "a.trace: no thread .2. (by tid or name)" err &&
    "$DIFF" --json --function f --function "l*" a.trace b.trace >f.json 2>err &&
    expect f.json report.functions_total=2 fn:f.incl_bytes.delta=$((5*M)) \
        run.rss_peak_bytes.a=$((40*M)) &&
    test_status 1 "$DIFF" --from 1s a.trace b.trace >out 2>err &&
    grep -q "a.trace: --from 1.000 s is past the end of the trace" err
'

test_expect_success 'identical traces: nothing changed, exit 0' '
    "$DIFF" --json a.trace a.trace >aa.json &&
    schema aa.json &&
    expect aa.json count:functions=0 count:lines=0 report.functions_total=4 \
        run.rss_peak_bytes.delta=0 run.rss_peak_bytes.pct=0 failed=false
'

test_expect_success 'text report: signed human units and percentages' '
    "$DIFF" a.trace b.trace >ab.txt &&
    grep -E "^  RSS peak +40\.0 MiB +55\.0 MiB +\+15\.0 MiB +\+37\.5%$" ab.txt &&
    grep -E "^  duration +16\.000 ms +20\.000 ms +\+4\.000 ms +\+25\.0%$" ab.txt &&
    grep -E "^  lost events +0 +3 +\+3 +\+inf%$" ab.txt &&
    grep -E "^ +\+10\.0 MiB +\+15\.0 MiB +\+5\.0 MiB +\+5\.0 MiB +\+0 +0 ns +f \(d\.py:10\)$" ab.txt &&
    grep -E "^ +- +\+2\.0 MiB +\+2\.0 MiB .* g \(d\.py:20\)  new$" ab.txt &&
    grep -E "^ +\+5\.0 MiB +- +-5\.0 MiB .* h \(d\.py:30\)  gone$" ab.txt &&
    grep -E "^New in B \(1 of 1\)$" ab.txt && grep -E "^Gone from B \(1 of 1\)$" ab.txt &&
    grep -E "^ +\+5\.0 MiB +\+2\.0 MiB +-3\.0 MiB .* d\.py:3 \(main\)$" ab.txt
'

test_expect_success 'the reverse diff negates every change' '
    "$DIFF" --json b.trace a.trace >ba.json &&
    expect ba.json run.rss_peak_bytes.delta=$((-15*M)) fn:g.status=gone fn:h.status=new \
        fn:f.incl_bytes.delta=$((-5*M)) fn:f.incl_bytes.pct=~-33.3333/0.0001
'

test_done
