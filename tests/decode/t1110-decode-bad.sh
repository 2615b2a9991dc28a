#!/bin/sh
# t1110: bad input and bad usage. Each case must give one clear message on
# stderr naming the file (and, for damage, the byte offset), and the right
# exit status: 1 for a bad file, 2 for bad usage.
. "$(dirname "$0")/decode-test-lib.sh"

# expect_fail FILE PATTERN: decoding FILE exits 1, prints nothing on stdout,
# and exactly one stderr line matching the grep -E PATTERN.
expect_fail() {
    test_status 1 "$DECODE" "$1" >out 2>err &&
    test_cmp /dev/null out &&
    test $(wc -l <err) = 1 &&
    grep -E "$2" err
}

test_expect_success 'setup' '
    "$MKTRACE" good good.trace &&
    "$MKTRACE" chunks c.trace 5 >chunks.map &&
    test $(wc -l <chunks.map) = 5
'

test_expect_success 'empty file' '
    : >empty.trace &&
    expect_fail empty.trace "^memtrace-decode: empty\\.trace: at byte 0: empty file$"
'

test_expect_success 'a file of other bytes' '
    printf "PK\\003\\004 this is a zip, honest" >zip.trace &&
    expect_fail zip.trace "^memtrace-decode: zip\\.trace: at byte 0: not a memtrace trace \\(starts with 50 4b 03 04\\)$"
'

test_expect_success 'a text file' '
    echo "hello, world" >text.trace &&
    expect_fail text.trace "^memtrace-decode: text\\.trace: at byte 0: not a memtrace trace"
'

test_expect_success 'a zstd file that is not a trace' '
    if command -v zstd >/dev/null; then
        echo "plain data" | zstd -q -c >plain.zst &&
        expect_fail plain.zst "^memtrace-decode: plain\\.zst: at byte 0: not a memtrace trace"
    fi
'

test_expect_success 'a directory' '
    mkdir -p adir &&
    expect_fail adir "^memtrace-decode: cannot read .adir.: Is a directory$"
'

test_expect_success 'a missing path' '
    expect_fail nosuch.trace "^memtrace-decode: cannot open .nosuch\\.trace.: No such file or directory$"
'

test_expect_success 'a newer major version' '
    "$MKTRACE" major2 good.trace major2.trace &&
    expect_fail major2.trace "^memtrace-decode: major2\\.trace: at byte 16: format version 2\\.[0-9]+ is newer than this reader.s 1\\.x$"
'

test_expect_success 'truncated inside the header' '
    head -c 100 good.trace >hdr.trace &&
    expect_fail hdr.trace "^memtrace-decode: hdr\\.trace: at byte 100: truncated"
'

test_expect_success 'truncated in the first bytes' '
    head -c 10 good.trace >ten.trace &&
    expect_fail ten.trace "^memtrace-decode: ten\\.trace: at byte 10: truncated"
'

# Format 1.2: the header is written twice; a damaged one is read from the
# other copy, every record is printed, and the damage is reported (exit 1).
expect_recovered() {
    "$DECODE" good.trace >good.txt &&
    test_status 1 "$DECODE" "$1" >out 2>err &&
    test_cmp good.txt out &&
    test $(wc -l <err) = 1 &&
    grep -E "$2" err
}

test_expect_success 'a flipped bit in the header: read from its copy, exit 1' '
    cp good.trace hflip.trace &&
    "$MKTRACE" flip hflip.trace 40 0x10 &&
    expect_recovered hflip.trace "^memtrace-decode: hflip\\.trace: the header frame is damaged \\(at byte [0-9]+: damaged header: checksum mismatch .*\\); read the header copy at byte [0-9]+ instead$" &&
    test_status 1 "$DECODE" --header hflip.trace >hdr 2>err &&
    grep "^pid: *4242" hdr && grep "the header frame is damaged" err &&
    test_status 1 "$DECODE" --check hflip.trace >chk &&
    grep "^hflip.trace: damaged: the header frame is damaged .*; all [0-9]* chunks intact" chk
'

test_expect_success 'a flipped bit in the signature: read from the copy' '
    cp good.trace sig.trace &&
    "$MKTRACE" flip sig.trace 9 0x01 &&
    expect_recovered sig.trace "^memtrace-decode: sig\\.trace: the header frame is damaged \\(at byte 0: not a memtrace trace"
'

test_expect_success 'a flipped bit in the header copy: the header is intact, exit 1' '
    cp good.trace cflip.trace &&
    hb=$(od -An -tu4 -j4 -N4 good.trace | tr -d " ") &&
    "$MKTRACE" flip cflip.trace $((8 + hb + 8 + 40)) 0x10 &&
    expect_recovered cflip.trace "^memtrace-decode: cflip\\.trace: at byte $((8 + hb)): the header copy is damaged"
'

test_expect_success 'both the header and its copy damaged: unreadable' '
    cp good.trace both.trace &&
    hb=$(od -An -tu4 -j4 -N4 good.trace | tr -d " ") &&
    "$MKTRACE" flip both.trace 40 0x10 &&
    "$MKTRACE" flip both.trace $((8 + hb + 8 + 40)) 0x10 &&
    expect_fail both.trace "^memtrace-decode: both\\.trace: at byte [0-9]+: damaged header: checksum mismatch"
'

test_expect_success 'a damaged index or end frame: every record, then exit 1' '
    size=$(wc -c <good.trace) &&
    cp good.trace end.trace && "$MKTRACE" flip end.trace $((size - 20)) 0x01 &&
    "$DECODE" good.trace >good.txt &&
    test_status 1 "$DECODE" end.trace >out 2>err &&
    test_cmp good.txt out &&
    grep -E "^memtrace-decode: end\\.trace: at byte $((size - 32)): damaged end frame: checksum mismatch" err &&
    test_status 1 "$DECODE" --check end.trace >chk &&
    grep "damaged end frame.*all [0-9]* chunks intact.*not closed" chk &&
    cp good.trace ix.trace && "$MKTRACE" flip ix.trace $((size - 40)) 0x01 &&
    test_status 1 "$DECODE" ix.trace >out 2>err &&
    test_cmp good.txt out &&
    grep "damaged index frame: checksum mismatch" err
'

test_expect_success 'truncated inside a chunk: records before it, then the message' '
    start=$(chunk_at 3) && end=$(chunk_end 3) &&
    head -c $(( (start + end) / 2 )) c.trace >cut.trace &&
    test_status 1 "$DECODE" cut.trace >out 2>err &&
    test $(wc -l <err) = 1 &&
    grep -E "^memtrace-decode: cut\\.trace: (chunk [0-9]+ )?at byte $start: truncated" err &&
    test $(grep -c " alloc " out) = 300 &&
    test $(grep -c " free " out) = 300
'

test_expect_success 'a flipped bit in a chunk: every other record, one message' '
    cp c.trace flip.trace &&
    start=$(chunk_at 2) && end=$(chunk_end 2) &&
    "$MKTRACE" flip flip.trace $(( (start + end) / 2 )) 0x04 &&
    test_status 1 "$DECODE" flip.trace >out 2>err &&
    test $(wc -l <err) = 1 &&
    grep -E "^memtrace-decode: flip\\.trace: chunk [0-9]+ at byte $start: checksum mismatch" err &&
    test $(grep -c " alloc " out) = 400 &&
    "$DECODE" c.trace >all &&
    test $(grep -c " alloc " all) = 500
'

test_expect_success 'JSON output of a damaged trace stays valid, errors on stderr' '
    test_status 1 "$DECODE" --json flip.trace >out.jsonl 2>err &&
    test $(wc -l <err) = 1 &&
    ! grep -v "^{.*}$" out.jsonl
'

# Usage errors: exit 2, the reason, then where the help is, on stderr.
expect_usage() {
    test_status 2 "$DECODE" "$@" >out 2>err &&
    test_cmp /dev/null out &&
    grep -qx "memtrace-decode: see memtrace-decode --help" err
}

test_expect_success 'no file' '
    expect_usage &&
    head -n 1 err >first && test_line first "memtrace-decode: no trace file given"
'

test_expect_success 'an unknown option' '
    expect_usage --frobnicate good.trace &&
    head -n 1 err >first && test_line first "memtrace-decode: unknown option '"'"'--frobnicate'"'"'"
'

test_expect_success 'an unknown short option' '
    expect_usage -x good.trace &&
    head -n 1 err >first && test_line first "memtrace-decode: unknown option '"'"'-x'"'"'"
'

test_expect_success '--json with --csv' '
    expect_usage --json --csv good.trace
'

test_expect_success '--check with --json' '
    expect_usage --check --json good.trace
'

test_expect_success 'two files without --check' '
    expect_usage good.trace good.trace
'

test_expect_success 'an option that takes no value given one' '
    expect_usage --json=yes good.trace &&
    head -n 1 err >first &&
    test_line first "memtrace-decode: option '"'"'--json'"'"' takes no value"
'

test_expect_success 'standard output is the input: refused, the input intact' '
    cp good.trace in.trace && cp in.trace keep.trace &&
    test_status 1 "$DECODE" in.trace >>in.trace 2>err &&
    test_line err "memtrace-decode: refusing to write standard output: it is the input '"'"'in.trace'"'"'" &&
    cmp in.trace keep.trace &&
    ln -s in.trace link.trace &&
    test_status 1 "$DECODE" --check link.trace >>in.trace 2>err &&
    cmp in.trace keep.trace &&
    "$DECODE" in.trace >other.txt
'

test_done
