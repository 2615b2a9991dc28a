#!/bin/sh
# run.sh - tests of memtrace-filter and of memtrace-decode's selection options.
#
#   FILTER=build/bin/memtrace-filter DECODE=build/bin/memtrace-decode \
#   MKTRACE=build/tests/filter/filter_mktrace PYTHON=python3 \
#   TRASH=/tmp/filter-trash sh tests/filter/run.sh
#
# `make test-filter` sets the variables. For each selection, on a synthetic
# trace (filter_mktrace) and on one recorded here with the recorder (when
# build/python holds it), three lists of data records must be equal:
#   - what filter_model.py, written from the documented rules, selects from
#     `memtrace-decode --json IN`;
#   - `memtrace-decode --json OUT` of the filtered trace, less definitions
#     and blocks;
#   - `memtrace-decode --json SELECTION IN`.
# OUT must also pass `memtrace-decode --check` and `zstd -t`, and define
# what it uses, as IN defined it, and nothing else (filter_model.py defs).
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${FILTER:?FILTER must name memtrace-filter}"
: "${DECODE:?DECODE must name memtrace-decode}"
: "${MKTRACE:?MKTRACE must name filter_mktrace}"
: "${PYTHON:=python3}"
: "${TRASH:=${TMPDIR:-/tmp}/memtrace-filter-tests}"
MODEL="$here/filter_model.py"
rm -rf "$TRASH" && mkdir -p "$TRASH" && cd "$TRASH" || exit 1

count=0
failed=0
test_expect_success() { # TITLE BODY
    count=$((count + 1))
    if (eval "$2") >"$TRASH/.out" 2>&1; then
        echo "ok $count - $1"
    else
        failed=$((failed + 1))
        echo "not ok $count - $1"
        sed 's/^/#   /' "$TRASH/.out"
    fi
}
test_status() { # WANT CMD...: CMD exits with WANT
    want=$1
    shift
    "$@"
    got=$?
    [ "$got" = "$want" ] || { echo "exit status $got, expected $want: $*" >&2; return 1; }
}

# check_selection IN NAME [selection...]: the three lists agree, OUT is valid.
check_selection() {
    in=$1 name=$2
    shift 2
    "$FILTER" "$in" -o "$name.trace" "$@" &&
    "$DECODE" --check "$name.trace" >"$name.check" &&
    grep -q ': ok, .*closed$' "$name.check" &&
    zstd -q -t "$name.trace" &&
    "$DECODE" --json "$name.trace" >"$name.jsonl" &&
    "$PYTHON" "$MODEL" select "$in.header.json" "$in.jsonl" "$@" >"$name.expect" &&
    "$PYTHON" "$MODEL" data "$name.jsonl" >"$name.got" &&
    "$DECODE" --json "$@" "$in" >"$name.decoded" &&
    if [ $# -eq 0 ]; then # no criterion: decode prints definitions too
        "$PYTHON" "$MODEL" data "$name.decoded" >"$name.decoded.data" &&
        mv "$name.decoded.data" "$name.decoded"
    fi &&
    diff -u "$name.expect" "$name.got" &&
    diff -u "$name.expect" "$name.decoded" &&
    "$PYTHON" "$MODEL" defs "$in.jsonl" "$name.jsonl" &&
    echo "$name: $(wc -l <"$name.expect") records kept"
}

# Text output resolves a line's function from the stack: the same text from
# the filtered file proves that each kept record sees the same stack.
check_text() {
    in=$1 name=$2
    shift 2
    "$FILTER" "$in" -o "$name.trace" "$@" &&
    "$DECODE" "$@" "$in" >"$name.txt.expect" &&
    "$DECODE" "$name.trace" |
        awk '$3 != "block" && $3 != "string" && $3 != "function" && $3 != "thread"' \
            >"$name.txt.got" &&
    diff -u "$name.txt.expect" "$name.txt.got"
}

prepare() { # TRACE: its header and records as JSON for the model
    "$DECODE" --header --json "$1" >"$1.header.json" &&
    "$DECODE" --json "$1" >"$1.jsonl"
}

# ---- synthetic trace --------------------------------------------------------

test_expect_success 'make the synthetic trace' '
    "$MKTRACE" synth s.trace && prepare s.trace
'

# Times of s.trace: records every 1 us from 1 ms; anchor wall time
# 1795000000 s = 2026-11-18T10:13:20Z.
i=0
while read -r sel; do
    i=$((i + 1))
    eval "set -- $sel"
    test_expect_success "synthetic: $sel" "check_selection s.trace s$i $sel"
done <<'EOF'
--from 2ms
--to 2ms
--from 1.5ms --to 3500us
--from @1795000000.002 --to @1795000000.003
--from 2026-11-18T10:13:20.002Z --to 2026-11-18T10:13:20.0025Z
--from 1h
--thread 2
--thread 1 --thread 3
--thread 'worker-*'
--thread 'renamed*'
--thread Main* --thread 2
--type call,return
--type line --type alloc
--type rss,counters
--type marker,lost,summary,proc_sample,proc_exit
--type thread_start,thread_end
--exclude-type line,alloc,free
--exclude-type call,ccall
--function helper
--function 'app.*'
--function 'Parser.*' --function helper
--function 'list.*'
--file '*/parse.py'
--file '*/app/*' --function load
--function helper --thread 2 --type call,return,line
--min-rss-delta 1MiB
--min-rss-delta 4k
--min-rss-delta 0
--min-rss-delta 1MiB --type counters
--from 2ms --to 4ms --min-rss-delta 8k --thread 3 --exclude-type line
EOF

test_expect_success 'synthetic: text output shows the same stacks' '
    check_text s.trace t1 --function helper &&
    check_text s.trace t2 --type line,alloc,rss &&
    check_text s.trace t3 --from 1.5ms --thread 2
'

test_expect_success 'a return whose call is not kept names its function' '
    "$FILTER" s.trace -o r.trace --type return --to 1.1ms &&
    "$DECODE" r.trace >r.txt &&
    grep -q "return helper" r.txt && grep -q "return load" r.txt &&
    ! grep -q "fn#" r.txt
'

test_expect_success 'no criterion: the same data records' '
    check_selection s.trace all &&
    test "$(wc -l <all.got)" = "$("$PYTHON" "$MODEL" data s.trace.jsonl | wc -l)"
'

test_expect_success 'unused definitions are left out' '
    "$FILTER" s.trace -o u.trace --thread 1 &&
    "$DECODE" --json --type string,function,thread u.trace >u.defs &&
    ! grep -q "never used" u.defs && ! grep -q never-runs u.defs &&
    grep -q "\"qualname\":\"main\"" u.defs
'

test_expect_success '--json: what was written, counted' '
    "$FILTER" s.trace -o j.trace --type call --json >j.json &&
    n=$("$DECODE" --json --type call j.trace | wc -l) &&
    total=$("$DECODE" --json s.trace | wc -l) &&
    size=$(wc -c <j.trace) &&
    "$PYTHON" -c "
import json, sys
d = json.load(open(\"j.json\"))
assert d[\"schema\"] == \"memtrace-filter/1\" and d[\"output\"] == \"j.trace\", d
assert d[\"records_kept\"] == $n and d[\"bytes\"] == $size and d[\"complete\"] is True, d
assert d[\"records_read\"] >= $total, d
" &&
    ! "$FILTER" s.trace -o - --json >/dev/null 2>err &&
    grep -q "needs -o FILE" err
'

test_expect_success 'the header is kept, the producer says memtrace-filter' '
    "$FILTER" s.trace -o h.trace --type call &&
    "$DECODE" --header --json h.trace >h.json &&
    grep -q "\"producer\":\"filter_mktrace 1 + memtrace-filter " h.json &&
    sed "s/\"producer\":\"[^\"]*\"//" s.trace.header.json >a.json &&
    sed "s/\"producer\":\"[^\"]*\"//" h.json >b.json &&
    diff a.json b.json
'

test_expect_success '--level 19: no larger, same records' '
    "$MKTRACE" synth big.trace 5000 &&
    "$FILTER" big.trace -o l1.trace --exclude-type line &&
    "$FILTER" big.trace -o l19.trace --exclude-type line --level 19 &&
    test "$(wc -c <l19.trace)" -le "$(wc -c <l1.trace)" &&
    "$DECODE" --json l1.trace >l1.jsonl && "$DECODE" --json l19.trace >l19.jsonl &&
    cmp l1.jsonl l19.jsonl && zstd -q -t l19.trace
'

test_expect_success '--chunk-size: more chunks, same records' '
    "$FILTER" big.trace -o c.trace --exclude-type line --chunk-size 4k &&
    "$DECODE" --check c.trace >c.check && grep -q ": ok, " c.check &&
    test "$(sed "s/.*ok, \([0-9]*\) chunks.*/\1/" c.check)" -gt 20 &&
    "$DECODE" --json c.trace | "$PYTHON" "$MODEL" data /dev/stdin >c.data &&
    "$PYTHON" "$MODEL" data l1.jsonl >l1.data && cmp c.data l1.data
'

test_expect_success 'pipes: standard input to standard output' '
    cat s.trace | "$FILTER" - -o - --thread 2 >p.trace &&
    "$FILTER" s.trace -o q.trace --thread 2 && cmp p.trace q.trace
'

# ---- bad input --------------------------------------------------------------

test_expect_success 'usage errors exit 2' '
    test_status 2 "$FILTER" 2>e1 &&
    grep -q "^memtrace-filter: no input trace given" e1 &&
    test_status 2 "$FILTER" s.trace 2>e2 && grep -q "no output given" e2 &&
    test_status 2 "$FILTER" s.trace -o x.trace --bogus 2>e3 &&
    grep -q "unknown option .--bogus." e3 &&
    test_status 2 "$FILTER" s.trace -o x.trace --type calls 2>e4 &&
    grep -q "unknown record type .calls." e4 &&
    test_status 2 "$FILTER" s.trace -o x.trace --from yesterday 2>e5 &&
    grep -q "invalid time .yesterday. for --from" e5 &&
    test_status 2 "$FILTER" s.trace -o x.trace --from 2s --to 1s 2>e6 &&
    grep -q "to is before --from" e6 &&
    test_status 2 "$FILTER" s.trace -o x.trace --level 20 2>e7 &&
    test_status 2 "$FILTER" s.trace -o x.trace --min-rss-delta lots 2>e8 &&
    test_status 2 "$FILTER" s.trace -o x.trace --thread 2>e9 &&
    grep -q "needs a value" e9 &&
    test_status 2 "$FILTER" a.trace b.trace -o x.trace 2>e10 &&
    test_status 2 "$DECODE" --type nope s.trace 2>e11 &&
    grep -q "^memtrace-decode: unknown record type" e11 &&
    test_status 2 "$DECODE" --check --thread 1 s.trace 2>e12
'

test_expect_success 'files that cannot be read exit 1' '
    test_status 1 "$FILTER" missing.trace -o x.trace 2>e1 &&
    grep -q "missing.trace" e1 &&
    echo "not a trace" >plain.txt &&
    test_status 1 "$FILTER" plain.txt -o x.trace 2>e2 && grep -q plain.txt e2 &&
    test_status 1 "$FILTER" s.trace -o s.trace 2>e3 &&
    grep -q "refusing to write .s.trace.: it is the input .s.trace." e3 && "$DECODE" --check s.trace >/dev/null &&
    test_status 1 "$FILTER" s.trace -o /nonexistent/dir/x.trace 2>e4 &&
    grep -q "cannot create ./nonexistent/dir/x.trace." e4
'

test_expect_success 'an output that is the input by another name is refused' '
    cp s.trace keep.trace &&
    ln -s s.trace sym.trace && ln s.trace hard.trace &&
    test_status 1 "$FILTER" s.trace -o sym.trace 2>e1 &&
    grep -x "memtrace-filter: refusing to write .sym.trace.: it is the input .s.trace." e1 &&
    test_status 1 "$FILTER" hard.trace -o ./s.trace 2>e2 &&
    grep -x "memtrace-filter: refusing to write .\./s.trace.: it is the input .hard.trace." e2 &&
    test_status 1 "$FILTER" s.trace -o - >>s.trace 2>e3 &&
    grep -x "memtrace-filter: refusing to write standard output: it is the input .s.trace." e3 &&
    cmp s.trace keep.trace
'

test_expect_success 'a damaged input: exit 1, messages, a valid output' '
    cp big.trace dmg.trace &&
    size=$(wc -c <dmg.trace) &&
    printf "\377\377\377\377" | dd of=dmg.trace bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null &&
    test_status 1 "$FILTER" dmg.trace -o dmgout.trace --exclude-type line 2>e1 &&
    grep -q "^memtrace-filter: dmg.trace: chunk .* at byte" e1 &&
    "$DECODE" --check dmgout.trace >d.check && grep -q ": ok, .*closed$" d.check &&
    n=$("$DECODE" --json dmgout.trace | "$PYTHON" "$MODEL" data /dev/stdin | wc -l) &&
    test "$n" -gt 0 && test "$n" -lt "$(wc -l <l1.data)" &&
    test_status 1 "$DECODE" --json --exclude-type line dmg.trace >dd.jsonl 2>/dev/null &&
    "$DECODE" --json dmgout.trace | "$PYTHON" "$MODEL" data /dev/stdin >dmg.data &&
    cmp dd.jsonl dmg.data
'

# ---- a recorded trace -------------------------------------------------------

if [ -d "$top/build/python/memtrace" ]; then
    cat >work.py <<'PYEOF'
import threading, memtrace

def grow(n):
    return [bytearray(4096) for _ in range(n)]

def helper(x):
    return x * 2

def worker():
    total = 0
    for i in range(200):
        total += helper(i)
    grow(50)

memtrace.start("rec.trace", mode="trace", rss="exact")
t = threading.Thread(target=worker, name="worker-A")
t.start()
kept = grow(500)
for i in range(100):
    helper(i)
t.join()
memtrace.stop()
PYEOF
    test_expect_success 'record a real trace' '
        PYTHONPATH="$top/build/python" "$PYTHON" work.py &&
        "$DECODE" --check rec.trace >rec.check && prepare rec.trace
    '
    i=0
    while read -r sel; do
        i=$((i + 1))
        eval "set -- $sel"
        test_expect_success "recorded: $sel" "check_selection rec.trace r$i $sel"
    done <<'EOF'
--function helper
--function '*grow*'
--thread 'worker-A'
--type call,return,rss
--exclude-type line
--min-rss-delta 64k
--file '*work.py' --type call,return,line
EOF
    test_expect_success 'recorded: text shows the same stacks' '
        check_text rec.trace rt1 --function helper &&
        check_text rec.trace rt2 --type rss,line
    '
else
    echo "# skipped the recorded-trace tests: build/python has no recorder (make)"
fi

if [ "$failed" -ne 0 ]; then
    echo "tests/filter: $failed of $count failed" >&2
    exit 1
fi
echo "tests/filter: all $count passed"
