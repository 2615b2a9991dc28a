#!/bin/sh
# t1280: the objects model (object tracking, OBJ_NEW/OBJ_DEL) on a synthetic
# trace whose answers are worked out in analyze_mktrace.c (mk_objects):
# explicit deaths, a death known from the free of the object's block
# (CPython 3.13.0-3.13.2 omit OBJ_DEL for objects the interpreter loop
# frees), a death known from a new object at the same address, an OBJ_DEL
# of an object created before the recording, the objects alive at the heap's
# peak, alive at the end by type and creating stack, the window and the
# thread filter, and the text report.
. "$(dirname "$0")/analyze-test-lib.sh"

test_expect_success 'setup: the objects trace' '
    "$MKTRACE" objects obj.trace &&
    "$ANALYZE" --json obj.trace >obj.json &&
    schema obj.json
'

test_expect_success 'totals and inferred deaths' '
    expect obj.json objects.created=5 objects.destroyed=3 objects.destroyed_unknown=1 \
        objects.inferred_deaths=2 objects.alive_max=3 objects.alive_max_time_s=0.003 \
        objects.end_count=2 objects.end_bytes=32 objects.objects_sized=3 \
        objects.at_heap_peak=true
'

test_expect_success 'by type: most alive at the end, then most created' '
    expect obj.json objects.types.0.type=__main__.Point objects.types.0.created=3 \
        objects.types.0.destroyed=2 objects.types.0.alive_max=2 \
        objects.types.0.alive_max_time_s=0.002 objects.types.0.end_count=1 \
        objects.types.0.end_bytes=32 objects.types.0.peak_count=2 \
        objects.types.0.peak_bytes=112 \
        objects.types.1.type=dict objects.types.1.created=2 objects.types.1.destroyed=1 \
        objects.types.1.end_count=1 objects.types.1.end_bytes=0 objects.types.1.peak_count=1
'

test_expect_success 'alive at the end by type and creating stack' '
    expect obj.json objects.alive_at_end.0.type=__main__.Point \
        objects.alive_at_end.0.function=worker objects.alive_at_end.0.bytes=32 \
        objects.alive_at_end.0.count=1 objects.alive_at_end.0.file=o.py \
        objects.alive_at_end.1.type=dict objects.alive_at_end.1.function=main \
        objects.alive_at_end.1.count=1
'

test_expect_success 'a window: created in it, alive at its end' '
    "$ANALYZE" --json --to 0.0065 obj.trace >win.json &&
    schema win.json &&
    expect win.json objects.created=3 objects.destroyed=0 objects.end_count=3 \
        objects.end_bytes=112 objects.types.0.end_count=2
'

test_expect_success 'a thread' '
    "$ANALYZE" --json --thread worker obj.trace >w.json &&
    expect w.json objects.created=1 objects.end_count=1 objects.types.0.type=__main__.Point \
        objects.types.0.created=1
'

test_expect_success 'text: the section, its table and the creating lines' '
    "$ANALYZE" obj.trace >out &&
    grep "^Objects (object tracking: 5 created, 3 destroyed in the window; 2 types)" out &&
    grep "2 deaths known from their block" out &&
    grep "__main__.Point  worker  o.py" out &&
    grep -E "^ +3 +2 +2 +1 +32 B +2  __main__.Point$" out
'

test_expect_success 'type ids no string names, up to 2^32 - 1: rows without names' '
    "$MKTRACE" bigsid big.trace &&
    timeout 30 "$ANALYZE" --json big.trace >big.json &&
    schema big.json &&
    expect big.json objects.created=3 objects.end_count=3 objects.types.0.type= \
        objects.types.2.type= objects.types.2.end_count=1
'

test_expect_success 'a trace without objects says nothing about them' '
    "$MKTRACE" heap heap.trace &&
    "$ANALYZE" --json heap.trace >heap.json &&
    expect heap.json objects=null &&
    "$ANALYZE" heap.trace >hout && ! grep "^Objects" hout
'

test_done
