#!/bin/sh
# t1310: --fail-if: every form of the grammar, true and false, with the
# documented exit status (0 none true, 3 one true, 1 cannot evaluate, 2
# malformed, the character pointed at). Values from diff_mktrace.c: peak
# 40 -> 55 MiB (+37.5%), end 30 -> 35 MiB (+16.67%), start 10 -> 10,
# duration 16 -> 20 ms (+25%), calls 4 -> 5, lost 0 -> 3, f 10 -> 15 MiB
# (self 10 -> 15, calls 1 -> 1, time 3 -> 3 ms), g new (+2 MiB), h gone.
. "$(dirname "$0")/diff-test-lib.sh"

# holds EXPR...: each condition alone is true (exit 3, named on stderr);
# fails EXPR...: each alone is false (exit 0).
holds() {
    for e in "$@"; do
        test_status 3 "$DIFF" a.trace b.trace --fail-if "$e" >out 2>err || return 1
        grep -F "memtrace-diff: condition true: $e (" err >/dev/null ||
            { echo "not named: $e"; cat err; return 1; }
    done
}
fails() {
    for e in "$@"; do
        test_status 0 "$DIFF" a.trace b.trace --fail-if "$e" >out 2>err || return 1
        # b.trace has a LOST record: its warning is the only message allowed
        ! grep -v "^memtrace-diff: warning: B (b.trace) LOST 3 events" err ||
            { echo "stderr for $e:"; cat err; return 1; }
    done
}
# bad STATUS CHAR PATTERN EXPR: rejected with STATUS, the message matching
# PATTERN and pointing at character CHAR (1-based), nothing on stdout.
bad() {
    test_status "$1" "$DIFF" a.trace b.trace --fail-if "$4" >out 2>err &&
    test ! -s out &&
    head -1 err | grep -E "^memtrace-diff: --fail-if: $3 at character $2:$" &&
    sed -n 2p err | grep -xF "  $4" &&
    sed -n 3p err | grep -x "  $(printf "%$(($2 - 1))s" "")^"
}

test_expect_success 'setup' '
    "$MKTRACE" a a.trace && "$MKTRACE" b b.trace && "$MKTRACE" norss norss.trace
'

test_expect_success 'RSS: absolute and relative, every operator' '
    holds "peak>+10%" "peak>37%" "peak>=+37.5%" "peak<=37.5%" "peak>+14MiB" \
        "peak>=15MiB" "peak<=+15728640" "peak>15359KiB" "peak<16M" "end>+5%" \
        "end>=5MiB" "end<+6MiB" "start<=0" "start>=0%" "start>-1B" "peak>0.01GiB" &&
    fails "peak>+37.5%" "peak<37.5%" "peak>+15MiB" "peak<15MiB" "peak>=+16MiB" \
        "peak<=14MiB" "end>+17%" "end<5MiB" "start>0" "start<0%" "peak<-10%"
'

test_expect_success 'duration, events, calls, lost' '
    holds "duration>+20%" "duration>=25%" "duration>3ms" "duration>=0.004" \
        "duration<1s" "duration>3999us" "duration<=4000000ns" "calls>0" "calls>=+25%" \
        "lost>0" "lost>=3" "lost>+100%" "events>0" &&
    fails "duration>+25%" "duration>4ms" "duration<0.004" "duration>1m" "duration>1h" \
        "calls>1" "calls<25%" "lost>3" "lost<-1" "events<0"
'

test_expect_success 'A: and B: compare one run, not the change' '
    holds "B:lost>0" "A:lost<=0" "B:peak>50MiB" "A:peak<41MiB" "B:duration>=20ms" \
        "A:calls<5" "B:func:g>1MiB" "A:func:h.calls>=1" &&
    fails "A:lost>0" "B:peak>55MiB" "A:duration>16ms" "B:func:h.calls>0"
'

test_expect_success 'func:NAME fields, calls:NAME, module-qualified names' '
    holds "func:f>+4MiB" "func:f.incl>=+5MiB" "func:d.f>=+50%" "func:f.self>+1MiB" \
        "func:f.calls<=0" "func:f.time<=0" "func:leaf.calls>0" "calls:leaf>=+100%" \
        "calls:d.leaf>=1" "func:main.self>=3MiB" "func:main.time>+3ms" &&
    fails "func:f>+5MiB" "func:f.self<5MiB" "func:f.calls>0" "func:f.time>0" \
        "calls:leaf>100%" "func:main.self>3MiB" "func:d.f<50%"
'

test_expect_success 'a function that appears or vanishes counts 0 where absent' '
    holds "func:g>+1MiB" "func:g>+1%" "func:h<-4MiB" "func:h<=-100%" "calls:g>0" \
        "calls:h<0" &&
    fails "func:g<0" "func:g>+2MiB" "func:h>-100%"
'

test_expect_success 'several conditions: exit 3 if any is true, each listed' '
    test_status 3 "$DIFF" a.trace b.trace --fail-if "peak>50%" --fail-if "lost>0" \
        --fail-if "func:g>+1MiB" >out 2>err &&
    test $(grep -c "condition true" err) = 2 &&
    grep -F "condition true: lost>0 (0 -> 3, +3, +inf%)" err &&
    grep -F "condition true: func:g>+1MiB (0 B -> 2.0 MiB, +2.0 MiB, +inf%)" err &&
    grep -E "^  false +peak>50% +\(40\.0 MiB -> 55\.0 MiB, \+15\.0 MiB, \+37\.5%\)$" out &&
    grep -E "^  TRUE +lost>0 " out &&
    test_status 0 "$DIFF" a.trace b.trace --fail-if "peak>50%" --fail-if "lost>3" >out 2>err
'

test_expect_success 'conditions in the JSON output' '
    test_status 3 "$DIFF" --json a.trace b.trace --fail-if "peak>+10%" \
        --fail-if "duration>1s" --fail-if "B:lost>0" >c.json 2>err &&
    schema c.json &&
    expect c.json count:conditions=3 failed=true cond:0.expr="peak>+10%" \
        cond:0.unit=bytes cond:0.a=41943040 cond:0.b=57671680 cond:0.delta=15728640 \
        cond:0.pct=37.5 cond:0.true=true cond:1.unit=s cond:1.delta=0.004 \
        cond:1.true=false cond:2.unit=count cond:2.pct=null cond:2.true=true &&
    test_status 0 "$DIFF" --json a.trace b.trace --fail-if "duration>1s" >c0.json &&
    expect c0.json failed=false
'

test_expect_success 'names may hold < and >: the last operator counts' '
    test_status 1 "$DIFF" a.trace b.trace --fail-if "func:<module>>=1MiB" >out 2>err &&
    grep -F "no function '"'"'<module>'"'"' in a.trace or b.trace" err
'

test_expect_success 'cannot evaluate: exit 1' '
    test_status 1 "$DIFF" a.trace b.trace --fail-if "func:nosuch>0" >out 2>err &&
    grep -F "memtrace-diff: --fail-if '"'"'func:nosuch>0'"'"': no function '"'"'nosuch'"'"' in a.trace or b.trace" err &&
    test_status 1 "$DIFF" a.trace norss.trace --fail-if "peak>1%" >out 2>err &&
    grep -F "RSS is not compared (norss.trace has no RSS samples)" err &&
    test ! -s out
'

test_expect_success 'malformed conditions: exit 2, the character shown' '
    bad 2 5 "'"'"'='"'"' is not an operator \(>, >=, <, <=\)" "peak=10%" &&
    bad 2 5 "expected an operator \(>, >=, <, <=\)" "peak" &&
    bad 2 5 "expected an operator \(>, >=, <, <=\)" "peak 10%" &&
    bad 2 1 "unknown quantity .peek. .*" "peek>10%" &&
    bad 2 3 "unknown quantity .size. .*" "B:size>1" &&
    bad 2 1 "expected a quantity" ">10%" &&
    bad 2 6 "expected a threshold" "peak>" &&
    bad 2 7 "expected a number" "peak>+x" &&
    bad 2 6 "expected a number" "peak>.%" &&
    bad 2 7 "'"'"'ms'"'"' is not a unit of bytes .*" "peak>5ms" &&
    bad 2 11 "'"'"'MiB'"'"' is not a unit of time .*" "duration>5MiB" &&
    bad 2 8 "a count takes no unit .*" "calls>5k" &&
    bad 2 9 "'"'"'%%'"'"' is not a unit of bytes .*" "peak>+10%%" &&
    bad 2 9 "'"'"'%'"'"' compares B with A: B: takes an absolute threshold" "B:peak>5%" &&
    bad 2 6 "expected a function name" "func:>1" &&
    bad 2 7 "expected a function name" "calls:>1" &&
    bad 2 1 "unknown quantity .peak>=. .*" "peak>=>=1"
'

test_expect_success 'a malformed condition is reported before any file is read' '
    test_status 2 "$DIFF" nosuch.trace b.trace --fail-if "peak=1" >out 2>err &&
    ! grep nosuch err
'

test_done
