#!/bin/sh
# t1210: bad input and bad usage: one clear message naming the file, and the
# documented exit status (1 bad file, 2 bad usage), nothing on stdout.
. "$(dirname "$0")/analyze-test-lib.sh"

# expect_fail STATUS PATTERN ARGS...: exit STATUS, empty stdout, the first
# stderr line matches the grep -E PATTERN.
expect_fail() {
    want=$1 pat=$2
    shift 2
    test_status "$want" "$ANALYZE" "$@" >out 2>err &&
    test ! -s out &&
    head -1 err | grep -E "$pat"
}

test_expect_success 'setup' '
    "$MKTRACE" basic good.trace
'

test_expect_success 'unknown option: usage, exit 2' '
    expect_fail 2 "^memtrace-analyze: unknown option .--bogus.$" --bogus good.trace &&
    test "$(sed -n 2p err)" = "memtrace-analyze: see memtrace-analyze --help" &&
    test $(wc -l <err) = 2
'

test_expect_success 'bad option values: exit 2' '
    expect_fail 2 "^memtrace-analyze: --sort: unknown key .size." --sort size good.trace &&
    expect_fail 2 "^memtrace-analyze: --top: not a count: .x." --top x good.trace &&
    expect_fail 2 "^memtrace-analyze: invalid time .soon. for --from .want e.g. 1.5, 200ms" --from soon good.trace &&
    expect_fail 2 "^memtrace-analyze: option .--top. needs a value" --top &&
    expect_fail 2 "exclude each other" --json --csv good.trace &&
    expect_fail 2 "^memtrace-analyze: --from is after --to" --from 2 --to 1 good.trace
'

test_expect_success 'no file, two files, stdin: exit 2' '
    expect_fail 2 "no trace file given" &&
    expect_fail 2 "one trace file at a time" good.trace good.trace &&
    expect_fail 2 "FILE must be a file" -
'

test_expect_success 'a missing file: exit 1' '
    expect_fail 1 "^memtrace-analyze: cannot open .nosuch\\.trace.: No such file or directory$" nosuch.trace
'

test_expect_success 'a directory: exit 1' '
    mkdir -p adir &&
    expect_fail 1 "^memtrace-analyze: cannot read .adir.: Is a directory$" adir
'

test_expect_success 'not a trace: exit 1' '
    echo "hello, world" >text.trace &&
    expect_fail 1 "^memtrace-analyze: text\\.trace: at byte 0: not a memtrace trace" text.trace &&
    : >empty.trace &&
    expect_fail 1 "^memtrace-analyze: empty\\.trace: .*empty" empty.trace
'

test_expect_success 'a newer major version: exit 1' '
    cp good.trace major2.trace && "$MKTRACE" major2 major2.trace &&
    expect_fail 1 "^memtrace-analyze: major2\\.trace: .*version 2\\.[0-9]* is newer" major2.trace
'

test_expect_success 'help and version: exit 0' '
    "$ANALYZE" --help | grep -q "^usage: memtrace-analyze" &&
    "$ANALYZE" -V | grep -q "^memtrace-analyze (memtrace) "
'

test_expect_success 'standard output is the input: refused, the input intact' '
    cp good.trace in.trace && cp in.trace keep.trace &&
    ln in.trace hard.trace &&
    test_status 1 "$ANALYZE" hard.trace >>in.trace 2>err &&
    grep -x "memtrace-analyze: refusing to write standard output: it is the input .hard.trace." err &&
    test_status 1 "$ANALYZE" --json in.trace >>in.trace 2>err &&
    cmp in.trace keep.trace &&
    "$ANALYZE" in.trace >report.txt
'

test_expect_success '--json on an unreadable trace: a JSON error object, exit 1' '
    printf "PK\\003\\004 not a trace" >zip.trace &&
    test_status 1 "$ANALYZE" --json zip.trace >zip.json 2>err &&
    "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"schema\"]==\"memtrace-analyze/1\" and d[\"file\"]==\"zip.trace\" and \"not a memtrace trace\" in d[\"error\"][\"message\"], d" zip.json &&
    grep "^memtrace-analyze: zip.trace: .*not a memtrace trace" err &&
    test_status 1 "$ANALYZE" --json missing.trace >miss.json 2>err &&
    "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); assert \"No such file\" in d[\"error\"][\"message\"], d" miss.json &&
    test_status 1 "$ANALYZE" missing.trace >miss.txt 2>err && test ! -s miss.txt
'

test_expect_success 'a window past the end of the trace: one line, exit 1' '
    expect_fail 1 "^memtrace-analyze: good.trace: --from 10.000 s is past the end of the trace \(its last record is at 80.000 ms\)$" --from 10 good.trace &&
    test $(wc -l <err) = 1 &&
    "$ANALYZE" --from 50ms good.trace >out 2>err
'

test_expect_success 'a trace with no event and no sample: one line, exit 1' '
    "$MKTRACE" empty empty.trace &&
    expect_fail 1 "^memtrace-analyze: empty.trace: nothing to report: the trace holds no events and no samples$" empty.trace &&
    test $(wc -l <err) = 1 &&
    test_status 1 "$ANALYZE" --json empty.trace >out 2>err &&
    grep -q "\"error\":{\"message\":\"empty.trace: nothing to report" out
'

test_expect_success 'a long reading shows its progress on a terminal, then clears it' '
    if ! command -v script >/dev/null 2>&1; then
        echo "# SKIP: script(1) is not installed: no terminal to show progress on"; exit 0
    fi &&
    "$MKTRACE" chunks long.trace 3000 >/dev/null &&
    MEMTRACE_PROGRESS_AFTER_MS=0 script -qec "$ANALYZE long.trace >long.out" /dev/null >tty.out 2>&1 &&
    grep -q "memtrace-analyze: reading long.trace: pass 1 of 2, [0-9]*%" tty.out &&
    grep -q "^Functions by" long.out &&
    "$ANALYZE" long.trace >plain.out 2>plain.err &&
    test ! -s plain.err
'

test_expect_success 'colour on a terminal only, and never with NO_COLOR' '
    if ! command -v script >/dev/null 2>&1; then
        echo "# SKIP: script(1) is not installed: no terminal to colour"; exit 0
    fi &&
    esc=$(printf "\033") &&
    env -u NO_COLOR TERM=xterm script -qec "$ANALYZE good.trace" /dev/null >c.out 2>&1 &&
    grep -q "^${esc}\[1mRun${esc}\[0m" c.out &&
    NO_COLOR=1 TERM=xterm script -qec "$ANALYZE good.trace" /dev/null >nc.out 2>&1 &&
    ! grep -q "$esc" nc.out &&
    "$ANALYZE" good.trace >pipe.out &&
    ! grep -q "$esc" pipe.out
'

test_done
