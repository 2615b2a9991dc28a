#!/bin/sh
# t1340: allocations compared on the synthetic pair heapa/heapb, whose
# answers are worked out in diff_mktrace.c ("Heap pair"): the heap's peak,
# end and totals, per domain, sites matched by their innermost Python frame
# (a C frame above it skipped, two stacks ending in it summed), hotspots and
# leaks that grew, appeared or vanished, the heap_peak, leaked, alloc: and
# leak: conditions; and traces of which only one, or none, has allocations.
. "$(dirname "$0")/diff-test-lib.sh"

holds() {
    for e in "$@"; do
        test_status 3 "$DIFF" ha.trace hb.trace --fail-if "$e" >out 2>err || return 1
        grep -F "memtrace-diff: condition true: $e (" err >/dev/null ||
            { echo "not named: $e"; cat err; return 1; }
    done
}
fails() {
    for e in "$@"; do
        test_status 0 "$DIFF" ha.trace hb.trace --fail-if "$e" >out 2>err || return 1
        test ! -s err || { echo "stderr for $e:"; cat err; return 1; }
    done
}

test_expect_success 'setup' '
    "$MKTRACE" heapa ha.trace && "$MKTRACE" heapb hb.trace && "$MKTRACE" a a.trace &&
    "$MKTRACE" b b.trace &&
    "$DIFF" --json ha.trace hb.trace >h.json 2>err && test ! -s err
'

test_expect_success 'JSON: the heap object follows the documented schema, last' '
    schema h.json &&
    "$DIFF" --help >help.txt &&
    for k in heap estimated sample_bytes peak_bytes peak_time_s peak_blocks end_bytes \
             end_blocks alloc_bytes alloc_count free_bytes free_count domains \
             hotspots_by_bytes hotspots_by_count leaks sites_total sites_changed \
             sites_new sites_gone leaks_changed leaks_new leaks_gone leak_bytes \
             leak_count stack heap_peak leaked alloc:NAME leak:NAME; do
        grep -q "$k" help.txt || { echo "missing $k"; exit 1; }
    done
'

test_expect_success 'the heap: peak, end, totals' '
    expect h.json heap.estimated=false heap.sample_bytes.a=1 \
        heap.peak_bytes.a=1160 heap.peak_bytes.b=3288 heap.peak_bytes.delta=2128 \
        heap.peak_time_s.a=0.008 heap.peak_time_s.b=0.01 heap.peak_time_s.delta=0.002 \
        heap.peak_blocks.a=4 heap.peak_blocks.b=6 \
        heap.end_bytes.a=660 heap.end_bytes.b=2288 heap.end_bytes.delta=1628 \
        heap.end_blocks.delta=2 heap.alloc_bytes.a=1760 heap.alloc_bytes.b=6388 \
        heap.alloc_count.a=6 heap.alloc_count.b=9 heap.free_bytes.a=1100 \
        heap.free_bytes.b=4100 heap.free_count.delta=1
'

test_expect_success 'per domain, every domain either run used' '
    expect h.json count:heap.domains=4 heap.domains.0.domain=raw \
        dom:raw.alloc_bytes.a=500 dom:raw.alloc_bytes.b=0 dom:raw.end_bytes.pct=-100 \
        dom:mem.alloc_bytes.delta=0 dom:mem.peak_bytes.a=32 \
        dom:obj.alloc_bytes.a=1228 dom:obj.alloc_bytes.b=4356 dom:obj.alloc_count.b=7 \
        dom:obj.peak_bytes.a=1128 dom:obj.peak_bytes.b=3256 dom:obj.end_bytes.delta=128 \
        dom:malloc.alloc_bytes.a=0 dom:malloc.end_bytes.b=2000 dom:malloc.end_bytes.pct=null
'

test_expect_success 'hotspots: matched by innermost Python frame, ordered by |change|' '
    expect h.json heap.sites_total=5 heap.sites_changed=4 heap.sites_new=1 \
        heap.sites_gone=1 count:heap.hotspots_by_bytes=4 \
        heap.hotspots_by_bytes.0.function=make heap.hotspots_by_bytes.1.function=new \
        heap.hotspots_by_bytes.2.function=old heap.hotspots_by_bytes.3.function=keep \
        heap.hotspots_by_count.0.function=keep heap.hotspots_by_count.1.function=make \
        heap.hotspots_by_count.3.function=old \
        hot:make.alloc_bytes.a=1000 hot:make.alloc_bytes.b=4000 hot:make.alloc_count.delta=1 \
        hot:make.status=changed hot:make.file=h.py hot:make.line=20 hot:make.module=h \
        hot:make.stack.1.function=keep hot:make.stack.2.function=make \
        hot:keep.alloc_bytes.a=160 hot:keep.alloc_bytes.b=288 hot:keep.alloc_count.a=3 \
        hot:keep.alloc_count.b=5 hot:new.status=new hot:new.alloc_bytes.pct=null \
        hot:old.status=gone hot:old.alloc_bytes.delta=-500 &&
    ! "$PYTHON" "$CHECK" get h.json hot:main 2>/dev/null &&
    ! "$PYTHON" "$CHECK" get h.json hot:list.append 2>/dev/null
'

test_expect_success 'leak sites that grew, appeared and vanished' '
    expect h.json heap.leaks_changed=3 heap.leaks_new=1 heap.leaks_gone=1 \
        heap.leaks.0.function=new heap.leaks.1.function=old heap.leaks.2.function=keep \
        leak:new.status=new leak:new.leak_bytes.b=2000 leak:new.leak_count.b=1 \
        leak:old.status=gone leak:old.leak_bytes.a=500 leak:old.leak_bytes.delta=-500 \
        leak:keep.status=changed leak:keep.leak_count.a=3 leak:keep.leak_count.b=5 \
        leak:keep.leak_bytes.delta=128
'

test_expect_success '--top cuts every site list' '
    "$DIFF" --json --top 1 ha.trace hb.trace >t.json && schema t.json &&
    expect t.json count:heap.hotspots_by_bytes=1 count:heap.leaks=1 heap.sites_changed=4
'

test_expect_success 'the text report' '
    "$DIFF" ha.trace hb.trace >h.txt &&
    grep -E "^  peak +1\.1 KiB +3\.2 KiB +\+2\.1 KiB +\+183\.4%$" h.txt &&
    grep -E "^  leaked \(end\) +660 B +2\.2 KiB +\+1\.6 KiB +\+246\.7%$" h.txt &&
    grep -E "^  obj alloc +1\.2 KiB +4\.3 KiB " h.txt &&
    grep -E "^Allocation sites by \|change in bytes allocated\| \(4 shown of 4 changed; 1 new, 1 gone; 5 in all\)$" h.txt &&
    grep -E "^ +1000 B +3\.9 KiB +\+2\.9 KiB +\+1  make \(h\.py, def line 20\) <- keep <- main$" h.txt &&
    grep -E "^ +- +2\.0 KiB +\+2\.0 KiB +\+1  new \(h\.py, def line 40\) <- main  new$" h.txt &&
    grep -E "^ +3 +5 +\+2 +\+128 B  keep \(h\.py, def line 10\) <- main$" h.txt &&
    grep -E "^Leak sites: still allocated at the end, by \|change in bytes\| \(3 shown of 3 changed; 1 new, 1 gone\)$" h.txt &&
    grep -E "^ +500 B +- +-500 B +-1  old \(h\.py, def line 30\) <- main  gone$" h.txt
'

test_expect_success 'conditions: heap_peak, leaked, alloc:NAME, leak:NAME' '
    holds "heap_peak>+2127" "heap_peak>=2128B" "heap_peak>+100%" "B:heap_peak>3KiB" \
        "leaked>=+1628" "leaked>+1KiB" "A:leaked<=660" \
        "alloc:make>+2999" "alloc:make.bytes>=+3000" "alloc:h.make.count>0" \
        "B:alloc:make.count>=2" "alloc:old<-499" "alloc:new>0" \
        "leak:keep.count>+1" "leak:keep>=+128" "leak:new>+1999" "leak:h.new.count>=1" \
        "leak:old.count<0" "leak:keep.count>=+66%" &&
    fails "heap_peak>+2128" "leaked>+1628" "alloc:make>+3000" "alloc:main>0" \
        "alloc:main.count<0" "leak:keep.count>+2" "leak:make.count>0" "leak:make>0%" \
        "A:leak:new>0"
'

test_expect_success 'conditions in the JSON output carry their units' '
    test_status 3 "$DIFF" --json ha.trace hb.trace --fail-if "leak:keep.count>+1" \
        --fail-if "alloc:make>+1MiB" >c.json &&
    schema c.json &&
    expect c.json cond:0.unit=count cond:0.a=3 cond:0.b=5 cond:0.true=true \
        cond:1.unit=bytes cond:1.delta=3000 cond:1.true=false failed=true
'

test_expect_success 'cannot evaluate: a name with no allocation site, a C frame' '
    test_status 1 "$DIFF" ha.trace hb.trace --fail-if "alloc:nosuch>0" >out 2>err &&
    grep -F "memtrace-diff: --fail-if '"'"'alloc:nosuch>0'"'"': no allocation site in a function '"'"'nosuch'"'"' in ha.trace or hb.trace" err &&
    test_status 1 "$DIFF" ha.trace hb.trace --fail-if "leak:list.append>0" >out 2>err &&
    test ! -s out
'

test_expect_success 'malformed: units and names' '
    test_status 2 "$DIFF" ha.trace hb.trace --fail-if "leak:keep.count>5KiB" >out 2>err &&
    grep "a count takes no unit" err &&
    test_status 2 "$DIFF" ha.trace hb.trace --fail-if "alloc:>1" >out 2>err &&
    grep "expected a function name at character 7" err &&
    test_status 2 "$DIFF" ha.trace hb.trace --fail-if "heap_peak>5ms" >out 2>err &&
    grep "is not a unit of bytes" err &&
    test_status 2 "$DIFF" ha.trace hb.trace --fail-if "leaks>0" >out 2>err &&
    grep "unknown quantity .leaks. (.*heap_peak, leaked, .*alloc:NAME, leak:NAME, objects:TYPE)" err
'

test_expect_success 'only one trace has allocations: a warning, no heap, no condition' '
    "$DIFF" --json a.trace hb.trace >w.json 2>err &&
    schema w.json &&
    grep -x "memtrace-diff: warning: only hb.trace has allocation records: allocations are not compared (heap_peak, leaked, alloc: and leak: conditions cannot be evaluated)" err &&
    ! grep -q "\"heap\"" w.json &&
    "$DIFF" a.trace hb.trace >w.txt 2>/dev/null &&
    grep "^Warning: only hb.trace has allocation records" w.txt &&
    ! grep -q "^  Heap" w.txt &&
    test_status 1 "$DIFF" ha.trace b.trace --fail-if "leaked>0" >out 2>err &&
    grep -F "allocations are not compared (b.trace has no allocation records)" err
'

test_expect_success 'neither has allocations: the output is as before' '
    "$DIFF" --json a.trace b.trace >n.json && schema n.json &&
    ! grep -q "\"heap\"" n.json && expect n.json count:warnings=1 && # b.trace lost events
    "$DIFF" a.trace b.trace >n.txt && ! grep -qi "heap\|allocat" n.txt
'

test_expect_success 'identical heaps: no site changed' '
    "$DIFF" --json ha.trace ha.trace >same.json && schema same.json &&
    expect same.json heap.sites_changed=0 heap.leaks_changed=0 count:heap.leaks=0 \
        heap.peak_bytes.delta=0 heap.peak_bytes.pct=0 &&
    test_status 0 "$DIFF" ha.trace ha.trace --fail-if "leaked>0" --fail-if "alloc:keep>0"
'

test_done
