#!/bin/sh
# t1500: memtrace-poll --tree on a command whose child holds 200 MiB and
# whose grandchild holds 100 MiB at known times: the trace shows the tree
# (pids, ppids, names, command lines), the sizes, one exit per process,
# and rounds on the interval grid.
. "$(dirname "$0")/poll-test-lib.sh"

test_expect_success 'record the tree, exit status passed through' '
    test_status 3 "$POLL" --tree -i 50ms -o tree.trace -- \
        "$PYTHON" "$WORKLOAD" root 3 &&
    closed tree.trace
'

test_expect_success 'header: mode poll, the root command pid, procs content' '
    "$DECODE" --header --json tree.trace >h.json &&
    grep -q "\"mode\":\"poll\"" h.json &&
    grep -q "\"producer\":\"memtrace-poll " h.json &&
    grep -q "\"clock\":\"monotonic\"" h.json &&
    grep -q "\"content_names\":\[\"procs\"\]" h.json
'

test_expect_success 'structure, names, sizes and times of the tree' '
    $CHECK tree tree.trace
'

test_expect_success 'every process seen has exactly one proc_exit' '
    $CHECK exits tree.trace
'

test_expect_success 'rounds start on the 50 ms grid' '
    $CHECK grid tree.trace 0.05
'

test_expect_success 'the same tree found by scanning /proc (no children lists)' '
    MEMTRACE_POLL_SCAN=1 test_status 3 "$POLL" --tree -i 50ms -o scan.trace -- \
        "$PYTHON" "$WORKLOAD" root 3 &&
    closed scan.trace &&
    $CHECK tree scan.trace &&
    $CHECK exits scan.trace
'

test_expect_success 'without --tree only the command itself is sampled' '
    test_status 0 "$POLL" -i 50ms -o one.trace -- "$PYTHON" "$WORKLOAD" root 0 &&
    "$DECODE" --json one.trace >one.json &&
    test "$(grep "\"type\":\"proc_sample\"" one.json |
            sed "s/.*\"pid\":\([0-9]*\),.*/\1/" | sort -u | wc -l)" = 1 &&
    $CHECK status one.trace "$(sed -n "s/.*\"type\":\"proc_exit\".*\"pid\":\([0-9]*\),.*/\1/p" one.json)" 0
'

test_expect_success 'short-lived children: each one seen gets its proc_exit' '
    test_status 0 "$POLL" --tree -i 10ms -o short.trace -- sh -c \
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.02 & sleep 0.03; done; wait" &&
    closed short.trace &&
    $CHECK exits short.trace &&
    test "$("$DECODE" --json short.trace | grep -c "\"name\":\"sleep\"")" -gt 0
'

test_expect_success 'a zombie child: exit status read from /proc/PID/stat' '
    test_status 0 "$POLL" --tree -i 20ms -o zombie.trace -- "$PYTHON" -c "
import os, time
pid = os.fork()
if pid == 0:
    os._exit(7)
time.sleep(0.3)
os.waitpid(pid, 0)
print(pid)
time.sleep(0.1)
" >zpid &&
    $CHECK status zombie.trace "$(cat zpid)" 7 &&
    $CHECK exits zombie.trace
'

test_expect_success 'orphans stay watched (subreaper) and their status is known' '
    test_status 0 "$POLL" --tree -i 20ms -o orphan.trace -- "$PYTHON" -c "
import os, subprocess, time
mid = os.fork()
if mid == 0:
    p = subprocess.Popen([\"sh\", \"-c\", \"sleep 0.3; exit 4\"])
    print(p.pid, flush=True)
    os._exit(0)
os.waitpid(mid, 0)
time.sleep(0.8)
" >opid &&
    $CHECK status orphan.trace "$(cat opid)" 4 &&
    $CHECK exits orphan.trace
'

test_done
