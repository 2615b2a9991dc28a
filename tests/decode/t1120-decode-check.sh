#!/bin/sh
# t1120: memtrace-decode --check prints one verdict line per file on stdout
# and exits 0 for an intact trace, 1 for a damaged or unreadable one.
. "$(dirname "$0")/decode-test-lib.sh"

# records FILE: how many records a full decode prints.
records() { "$DECODE" --json "$1" 2>/dev/null | wc -l | tr -d " "; }

test_expect_success 'setup' '
    "$MKTRACE" good good.trace &&
    "$MKTRACE" unclosed unclosed.trace &&
    "$MKTRACE" chunks c.trace 5 >chunks.map
'

test_expect_success 'an intact closed trace' '
    "$DECODE" --check c.trace >out &&
    test_line out "c.trace: ok, 6 chunks, $(records c.trace) records, closed"
'

test_expect_success 'the good trace' '
    "$DECODE" --check good.trace >out &&
    grep -E "^good\\.trace: ok, [0-9]+ chunks, $(records good.trace) records, closed$" out
'

test_expect_success 'a trace whose writer did not finish is not damaged' '
    "$DECODE" --check unclosed.trace >out &&
    grep -E "^unclosed\\.trace: ok, [0-9]+ chunks, $(records good.trace) records, not closed \\(no index: the writer did not finish\\)$" out
'

test_expect_success 'one damaged chunk' '
    cp c.trace flip.trace &&
    start=$(chunk_at 2) && end=$(chunk_end 2) &&
    "$MKTRACE" flip flip.trace $(( (start + end) / 2 )) 0x20 &&
    test_status 1 "$DECODE" --check flip.trace >out 2>err &&
    test_cmp /dev/null err &&
    test $(wc -l <out) = 1 &&
    grep -E "^flip\\.trace: damaged: 1 of 6 chunks damaged \\(chunk [0-9]+ at byte $start: checksum mismatch[^;]*\\), $((end - start)) bytes skipped, $(records flip.trace) records read, closed$" out
'

test_expect_success 'several damaged chunks: the first three are named' '
    cp c.trace many.trace &&
    for n in 0 1 2 3 4; do
        "$MKTRACE" flip many.trace $(( ($(chunk_at $n) + $(chunk_end $n)) / 2 )) 0x01 ||
        exit 1
    done &&
    test_status 1 "$DECODE" --check many.trace >out &&
    grep -E "^many\\.trace: damaged: 5 of 6 chunks damaged \\(([^;]*; ){3}\\.\\.\\.\\)," out
'

test_expect_success 'truncated: damaged and not closed' '
    start=$(chunk_at 4) &&
    head -c $((start + 30)) c.trace >cut.trace &&
    test_status 1 "$DECODE" --check cut.trace >out &&
    grep -E "^cut\\.trace: damaged: .*at byte $start: truncated.*, $(records cut.trace) records read, not closed \\(no index: the writer did not finish\\)$" out
'

test_expect_success 'several files: one verdict each, status of the worst' '
    test_status 1 "$DECODE" --check c.trace flip.trace good.trace >out &&
    test $(wc -l <out) = 3 &&
    grep -q "^c\\.trace: ok" out &&
    grep -q "^flip\\.trace: damaged" out &&
    grep -q "^good\\.trace: ok" out
'

test_expect_success 'an unreadable file: a verdict on stdout, the reason on stderr' '
    test_status 1 "$DECODE" --check nosuch.trace >out 2>err &&
    test_line out "nosuch.trace: unreadable" &&
    test_line err "memtrace-decode: cannot open '"'"'nosuch.trace'"'"': No such file or directory"
'

test_expect_success 'standard input' '
    "$DECODE" --check - <c.trace >out &&
    test_line out "<stdin>: ok, 6 chunks, $(records c.trace) records, closed"
'

test_done
