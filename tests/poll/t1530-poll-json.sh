#!/bin/sh
# t1530: --json prints one JSON object per record on stdout: the documented
# keys, and the very lines memtrace-decode --json prints for the same
# records of the trace.
. "$(dirname "$0")/poll-test-lib.sh"

test_expect_success '--json alone: lines on stdout, no trace file' '
    test_status 0 "$POLL" --json --tree -i 20ms -- sh -c "sleep 0.2 & sleep 0.3; wait" >out.jsonl &&
    $CHECK jsonl out.jsonl &&
    test "$(ls)" = out.jsonl &&
    grep -q "\"name\":\"sleep\",\"cmdline\":\"sleep 0.2\"" out.jsonl
'

test_expect_success '--json with -o: the lines equal the decoded records' '
    test_status 0 "$POLL" --json --tree -i 20ms -o j.trace -- "$PYTHON" -c "
import subprocess, sys, time
subprocess.run([sys.executable, \"-c\", \"import time; x = bytearray(8 << 20); time.sleep(0.3)\"])
time.sleep(0.1)
" >out.jsonl &&
    $CHECK jsonl out.jsonl &&
    "$DECODE" --json j.trace | grep -E "^\{\"type\":\"(proc_sample|proc_exit|summary)\"" >dec.jsonl &&
    test_cmp dec.jsonl out.jsonl
'

test_expect_success 'USS/PSS appear at the rollup rate (-r)' '
    "$POLL" --json -i 20ms -r 0.2 -- sleep 1 >r.jsonl &&
    n=$(grep -c "\"type\":\"proc_sample\"" r.jsonl) &&
    u=$(grep -c "\"uss_bytes\":" r.jsonl) &&
    test "$(grep -c "\"pss_bytes\":" r.jsonl)" = "$u" &&
    test "$u" -ge 3 && test "$u" -le 8 && test "$n" -ge 40 &&
    "$POLL" --json -i 20ms -r 0 -- sleep 0.2 >r0.jsonl &&
    ! grep -q "\"uss_bytes\":" r0.jsonl
'

test_expect_success 'a closed stdout does not stop the command or the trace' '
    { "$POLL" --json -i 10ms -o pipe.trace -- sleep 0.5; echo $? >st; } |
        head -n 1 >first &&
    test "$(cat st)" = 0 &&
    closed pipe.trace &&
    grep -q "^{\"type\":\"proc_sample\"" first
'

test_done
