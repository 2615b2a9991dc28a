#!/bin/sh
# t1220: a damaged trace still gets the report of its intact part, a clear
# notice (in the report and on stderr) and exit status 1.
. "$(dirname "$0")/analyze-test-lib.sh"

M=1048576

chunk_at() { awk -v n="$1" '$1 == "chunk" && $2 == n { print $3 }' chunks.map; }
chunk_end() { awk -v n="$1" '$1 == "chunk" && $2 == n { print $4 }' chunks.map; }

test_expect_success 'setup: 9 chunks, one step() of +1 MiB each' '
    "$MKTRACE" chunks c.trace 9 >chunks.map &&
    test $(wc -l <chunks.map) = 9 &&
    "$ANALYZE" --json c.trace >c.json &&
    expect c.json fn:step.calls=9 fn:step.incl_bytes=$((9*M)) damage.damaged=false
'

test_expect_success 'a bit flip in a middle chunk' '
    cp c.trace bad.trace &&
    s=$(chunk_at 4) && e=$(chunk_end 4) &&
    "$MKTRACE" flip bad.trace $(( (s + e) / 2 )) &&
    test_status 1 "$ANALYZE" --json bad.trace >bad.json 2>err &&
    schema bad.json &&
    expect bad.json fn:step.calls=8 fn:step.incl_bytes=$((8*M)) \
        damage.damaged=true damage.damaged_chunks=1 &&
    "$PYTHON" "$CHECK" get bad.json damage.messages.0 | grep "bad.trace: .*byte" &&
    grep "^memtrace-analyze: bad.trace: damaged trace: 1 chunks damaged" err
'

test_expect_success 'the text report says so and still reports' '
    test_status 1 "$ANALYZE" bad.trace >bad.txt 2>err &&
    grep "step (c.py:10)" bad.txt &&
    grep "^DAMAGED TRACE: 1 of .* chunks damaged, .* bytes skipped; this report covers the intact part only$" bad.txt &&
    grep "^  bad.trace: chunk .* at byte " bad.txt
'

test_expect_success 'a trace cut in the middle of a chunk' '
    e=$(chunk_end 6) &&
    head -c $((e - 5)) c.trace >cut.trace &&
    test_status 1 "$ANALYZE" --json cut.trace >cut.json 2>err &&
    expect cut.json fn:step.calls=6 run.closed=false damage.damaged=true
'

test_done
