#!/bin/sh
# t1100: what memtrace-decode prints for a trace holding every record type,
# in each output form, compared with golden files in tests/decode/expect/.
. "$(dirname "$0")/decode-test-lib.sh"

test_expect_success 'make a trace with every record type' '
    "$MKTRACE" good good.trace
'

test_expect_success 'text output' '
    "$DECODE" good.trace >out.txt &&
    test_golden decode-good.txt out.txt
'

test_expect_success 'JSON Lines output' '
    "$DECODE" --json good.trace >out.jsonl &&
    test_golden decode-good.jsonl out.jsonl
'

test_expect_success 'CSV output' '
    "$DECODE" --csv good.trace >out.csv &&
    test_golden decode-good.csv out.csv
'

test_expect_success 'header as text' '
    "$DECODE" --header good.trace >out.txt &&
    test_golden decode-good-header.txt out.txt
'

test_expect_success 'header as JSON' '
    "$DECODE" --header --json good.trace >out.json &&
    test_golden decode-good-header.json out.json
'

test_expect_success 'every line of --json is a JSON object (python3 json)' '
    if command -v python3 >/dev/null; then
        "$DECODE" --json good.trace | python3 -c "
import json, sys
n = 0
for line in sys.stdin:
    o = json.loads(line)
    assert list(o)[0] == \"type\", line
    n += 1
assert n > 40, n
"
    fi
'

test_expect_success 'every record type appears' '
    "$DECODE" --json good.trace | sed "s/^{\"type\":\"\\([a-z_]*\\)\".*/\\1/" |
        sort -u >types &&
    cat >expect <<-\EOT &&
	alloc
	block
	call
	ccall
	counters
	craise
	creturn
	free
	function
	line
	lines
	lost
	marker
	obj_del
	obj_new
	pos
	proc_exit
	proc_sample
	raise
	realloc
	return
	rss
	string
	summary
	thread
	thread_end
	thread_start
	unknown
	unwind
	EOT
    test_cmp expect types
'

test_expect_success 'standard input (-) gives the same records' '
    "$DECODE" good.trace >file.txt &&
    "$DECODE" - <good.trace >stdin.txt &&
    test_cmp file.txt stdin.txt &&
    cat good.trace | "$DECODE" --json - >pipe.jsonl &&
    "$DECODE" --json good.trace >file.jsonl &&
    test_cmp file.jsonl pipe.jsonl
'

test_expect_success 'CSV rows all have 13 fields' '
    if command -v python3 >/dev/null; then
        "$DECODE" --csv good.trace | python3 -c "
import csv, sys
rows = list(csv.reader(sys.stdin))
assert rows[0] == \"type,t,time_s,tid,fid,name,line,domain,addr,old_addr,size,value,text\".split(\",\")
assert all(len(r) == 13 for r in rows), [r for r in rows if len(r) != 13]
"
    fi
'

test_expect_success 'a closed pipe ends the decode quietly' '
    "$MKTRACE" big big.trace 300000 &&
    "$DECODE" big.trace 2>err | head -n 2 >two &&
    test $(wc -l <two) = 2 &&
    test_cmp /dev/null err
'

test_expect_success 'an unclosed trace decodes the same records' '
    "$MKTRACE" unclosed unclosed.trace &&
    "$DECODE" unclosed.trace >unclosed.txt &&
    "$DECODE" good.trace >good.txt &&
    test_cmp good.txt unclosed.txt
'

test_expect_success '--help prints the usage on stdout and exits 0' '
    "$DECODE" --help >out 2>err &&
    test_cmp /dev/null err &&
    grep -q "^usage: memtrace-decode" out &&
    grep -q "EXIT STATUS" out
'

test_expect_success '--version' '
    "$DECODE" --version >out &&
    grep -q "^memtrace-decode (memtrace) .*trace format 1\\.4" out
'

test_done
