#!/bin/sh
# t1320: bad usage (exit 2), bad files (exit 1, a message naming the file),
# traces of different kinds (what both have is compared, with warnings;
# nothing in common: exit 1), and damaged traces (their intact part, a
# notice, exit 1 unless --allow-damaged).
. "$(dirname "$0")/diff-test-lib.sh"

# expect_fail STATUS PATTERN ARGS...: exit STATUS, empty stdout, the first
# stderr line matches the grep -E PATTERN.
expect_fail() {
    want=$1 pat=$2
    shift 2
    test_status "$want" "$DIFF" "$@" >out 2>err &&
    test ! -s out &&
    head -1 err | grep -E "$pat"
}

test_expect_success 'setup' '
    for k in a b fast profile norss poll; do "$MKTRACE" $k $k.trace || exit 1; done
'

test_expect_success 'bad usage: exit 2' '
    expect_fail 2 "^memtrace-diff: unknown option .--bogus.$" --bogus a.trace b.trace &&
    grep -x "memtrace-diff: see memtrace-diff --help" err &&
    expect_fail 2 "^memtrace-diff: --sort: unknown key .heap. .incl, self, calls, time, peak.$" --sort heap a.trace b.trace &&
    expect_fail 2 "^memtrace-diff: invalid time .soon. for --from" --from soon a.trace b.trace &&
    expect_fail 2 "^memtrace-diff: empty --thread" --thread "" a.trace b.trace &&
    expect_fail 2 "^memtrace-diff: --top: not a count: .x." --top x a.trace b.trace &&
    expect_fail 2 "^memtrace-diff: option .--fail-if. needs a value" a.trace b.trace --fail-if &&
    expect_fail 2 "^memtrace-diff: option .--json. takes no value" --json=1 a.trace b.trace &&
    expect_fail 2 "no trace files given" &&
    expect_fail 2 "only one trace given" a.trace &&
    expect_fail 2 "two trace files, A and B" a.trace b.trace a.trace &&
    expect_fail 2 "A and B must be files" - b.trace
'

test_expect_success 'a missing file, a directory: exit 1, named' '
    expect_fail 1 "^memtrace-diff: cannot open .nosuch\\.trace.: No such file or directory$" \
        a.trace nosuch.trace &&
    mkdir -p adir &&
    expect_fail 1 "^memtrace-diff: cannot read .adir.: Is a directory$" adir b.trace
'

test_expect_success 'not a trace, empty, newer major: exit 1, named' '
    echo "hello, world" >text.trace &&
    expect_fail 1 "^memtrace-diff: text\\.trace: at byte 0: not a memtrace trace" a.trace text.trace &&
    : >empty.trace &&
    expect_fail 1 "^memtrace-diff: empty\\.trace: .*empty" empty.trace b.trace &&
    cp a.trace major2.trace && "$ANALYZE_MKTRACE" major2 major2.trace &&
    expect_fail 1 "^memtrace-diff: major2\\.trace: .*version 2\\.[0-9]* is newer" a.trace major2.trace
'

test_expect_success 'help and version: exit 0' '
    "$DIFF" --help | grep -q "^usage: memtrace-diff" &&
    "$DIFF" -V | grep -q "^memtrace-diff (memtrace) "
'

test_expect_success 'a poller trace against a recorder trace: nothing comparable, exit 1' '
    test_status 1 "$DIFF" a.trace poll.trace >out 2>err &&
    test ! -s out &&
    grep -x "memtrace-diff: nothing to compare: a.trace (mode trace: rss, calls, lines) and poll.trace (mode poll: none of rss, calls, lines) share no RSS samples, calls or lines" err &&
    grep "warning: a.trace was recorded in mode .trace., poll.trace in mode .poll." err &&
    test_status 1 "$DIFF" poll.trace poll.trace >out 2>err
'

test_expect_success 'trace against fast: lines left out, with warnings' '
    "$DIFF" --json a.trace fast.trace >af.json 2>err &&
    schema af.json &&
    expect af.json compared.rss=true compared.functions=true compared.lines=false \
        count:lines=0 count:warnings=3 b.mode=fast "b.content=[\"calls\",\"rss\"]" \
        fn:f.incl_bytes.delta=5242880 fn:g.status=new &&
    grep -x "memtrace-diff: warning: only a.trace has LINE records: per-line changes are not compared" err &&
    grep -x "memtrace-diff: warning: a.trace was recorded in mode .trace., fast.trace in mode .fast." err &&
    "$DIFF" a.trace fast.trace >af.txt 2>/dev/null &&
    grep "^Warning: only a.trace has LINE records" af.txt &&
    ! grep "^Lines" af.txt
'

test_expect_success 'profile against fast: C functions left out, with a warning' '
    "$DIFF" --json profile.trace fast.trace >pf.json 2>err &&
    schema pf.json &&
    expect pf.json compared.c_functions=false compared.functions=true count:functions=0 \
        rank:len=-1 report.functions_total=4 run.calls.a=6 run.calls.b=5 &&
    grep "warning: only profile.trace has C calls: C functions are left out" err &&
    "$DIFF" --json profile.trace profile.trace >pp.json 2>err &&
    expect pp.json compared.c_functions=true report.functions_total=5 &&
    ! grep -v "LOST 3 events" err
'

test_expect_success 'a trace without RSS: functions and lines still compared' '
    "$DIFF" --json a.trace norss.trace >an.json 2>err &&
    expect an.json compared.rss=false compared.lines=true fn:g.status=new &&
    grep "warning: only a.trace has RSS samples" err &&
    "$DIFF" a.trace norss.trace 2>/dev/null | grep -E "^  RSS +not compared$"
'

chunk_at() { awk -v n="$1" '$1 == "chunk" && $2 == n { print $3 }' chunks.map; }
chunk_end() { awk -v n="$1" '$1 == "chunk" && $2 == n { print $4 }' chunks.map; }

test_expect_success 'damaged B: its intact part diffed, a notice, exit 1' '
    "$ANALYZE_MKTRACE" chunks c.trace 9 >chunks.map &&
    cp c.trace bad.trace &&
    s=$(chunk_at 4) && e=$(chunk_end 4) &&
    "$ANALYZE_MKTRACE" flip bad.trace $(( (s + e) / 2 )) &&
    test_status 1 "$DIFF" --json c.trace bad.trace >cb.json 2>err &&
    schema cb.json &&
    expect cb.json fn:step.calls.a=9 fn:step.calls.b=8 fn:step.incl_bytes.delta=-1048576 \
        b.damaged=true a.damaged=false damage.b.damaged=true damage.b.damaged_chunks=1 \
        damage.a.damaged=false &&
    "$PYTHON" "$CHECK" get cb.json damage.b.messages.0 | grep "bad.trace: .*byte" &&
    grep "^memtrace-diff: bad.trace: damaged trace: 1 chunks damaged, .* bytes skipped; the diff covers its intact part only$" err
'

test_expect_success 'damaged: the text says so; --allow-damaged exits by conditions' '
    test_status 1 "$DIFF" c.trace bad.trace >cb.txt 2>err &&
    grep "^DAMAGED TRACE bad.trace: 1 of .* chunks damaged, .* bytes skipped; this diff covers its intact part only$" cb.txt &&
    grep "step (c.py:10)" cb.txt &&
    test_status 0 "$DIFF" --allow-damaged c.trace bad.trace >out 2>err &&
    grep "damaged trace" err &&
    test_status 3 "$DIFF" --allow-damaged --fail-if "calls:step<0" c.trace bad.trace >out 2>err &&
    test_status 1 "$DIFF" --fail-if "calls:step<0" c.trace bad.trace >out 2>err
'

test_expect_success 'a trace cut short (A): diffed, exit 1' '
    e=$(chunk_end 6) &&
    head -c $((e - 5)) c.trace >cut.trace &&
    test_status 1 "$DIFF" --json cut.trace c.trace >cut.json 2>err &&
    expect cut.json a.closed=false a.damaged=true fn:step.calls.a=6 fn:step.calls.b=9
'

test_expect_success 'standard output is an input: refused, the inputs intact' '
    cp b.trace keep.trace &&
    test_status 1 "$DIFF" a.trace b.trace >>b.trace 2>err &&
    grep -x "memtrace-diff: refusing to write standard output: it is the input .b.trace." err &&
    cmp b.trace keep.trace
'

test_expect_success '--json with an unreadable trace: a JSON error object, exit 1' '
    printf "PK\\003\\004 not a trace" >zip.trace &&
    test_status 1 "$DIFF" --json a.trace zip.trace >zip.json 2>err &&
    "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"schema\"]==\"memtrace-diff/1\" and d[\"file\"]==\"zip.trace\" and \"not a memtrace trace\" in d[\"error\"][\"message\"], d" zip.json
'

test_done
