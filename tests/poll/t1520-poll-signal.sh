#!/bin/sh
# t1520: SIGTERM and SIGINT finish the trace cleanly (index written,
# summary reason "signal"); with a command, the signal is passed on and the
# poller waits for the command's end; a second signal stops at once.
. "$(dirname "$0")/poll-test-lib.sh"

test_expect_success '-p: SIGTERM mid-run leaves a finished trace, status 0' '
    sleep 30 &
    sp=$!
    "$POLL" -i 10ms -o p.trace -p "$sp" &
    pp=$!
    wait_for_file p.trace && sleep 0.3 &&
    kill -TERM "$pp" &&
    wait "$pp"; st=$? &&
    kill "$sp" &&
    test "$st" = 0 &&
    closed p.trace &&
    test "$(summary_reason p.trace)" = signal &&
    test "$("$DECODE" --json p.trace | grep -c "\"type\":\"proc_sample\"")" -ge 10 &&
    ! "$DECODE" --json p.trace | grep -q "\"type\":\"proc_exit\""
'

test_expect_success 'a command: SIGTERM is passed on; its status is ours' '
    "$POLL" -i 10ms -o c.trace -- sleep 30 & pp=$! &&
    wait_for_file c.trace && sleep 0.3 &&
    kill -TERM "$pp" &&
    wait "$pp"; st=$? &&
    test "$st" = 143 &&
    closed c.trace &&
    test "$(summary_reason c.trace)" = signal &&
    pid=$("$DECODE" --header --json c.trace | sed "s/.*\"pid\":\([0-9]*\),.*/\1/") &&
    $CHECK status c.trace "$pid" -15
'

test_expect_success 'a command that handles SIGINT is sampled until it exits' '
    "$POLL" -i 10ms -o h.trace -- "$PYTHON" -c "
import signal, sys, time
signal.signal(signal.SIGINT, lambda *a: None)
open(\"ready\", \"w\").close()
signal.pause()
time.sleep(0.3)
sys.exit(5)
" & pp=$! &&
    wait_for_file h.trace && n=50 &&
    while [ ! -e ready ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done &&
    kill -INT "$pp" &&
    wait "$pp"; st=$? &&
    test "$st" = 5 &&
    closed h.trace &&
    test "$(summary_reason h.trace)" = signal &&
    "$DECODE" --json h.trace >h.json &&
    pid=$("$DECODE" --header --json h.trace | sed "s/.*\"pid\":\([0-9]*\),.*/\1/") &&
    $CHECK status h.trace "$pid" 5
'

test_expect_success 'a second signal stops at once, the command keeps running' '
    "$POLL" -i 10ms -o s.trace -- sh -c "trap \"\" TERM; echo \$\$ >cpid; sleep 2" & pp=$! &&
    wait_for_file cpid && sleep 0.2 &&
    kill -TERM "$pp" && sleep 0.2 && kill -TERM "$pp" &&
    wait "$pp"; st=$? &&
    test "$st" = 143 &&
    kill -0 "$(cat cpid)" && kill -KILL "$(cat cpid)" &&
    closed s.trace &&
    test "$(summary_reason s.trace)" = signal
'

test_expect_success 'SIGKILL: the chunks flushed each second survive' '
    "$POLL" -i 10ms -o k.trace -- sleep 30 & pp=$! &&
    wait_for_file k.trace && sleep 2.5 &&
    kill -KILL "$pp" && wait "$pp"
    "$DECODE" --header --json k.trace | sed "s/.*\"pid\":\([0-9]*\),.*/\1/" >kpid &&
    kill "$(cat kpid)" &&
    "$DECODE" --check k.trace >out &&
    grep -q "not closed" out &&
    test "$("$DECODE" --json k.trace | grep -c "\"type\":\"proc_sample\"")" -ge 100
'

test_done
