#!/bin/sh
# t1510: exit statuses (a command's passed through, 128+N for a signal
# death, 127/126 when it cannot run), errors (no such pid: 1) and usage
# errors (2: the reason and where the help is, on stderr).
. "$(dirname "$0")/poll-test-lib.sh"

test_expect_success 'exit 3 is passed through, and recorded in proc_exit' '
    test_status 3 "$POLL" -i 20ms -o e3.trace -- "$PYTHON" -c "import sys; sys.exit(3)" &&
    closed e3.trace &&
    pid=$("$DECODE" --header --json e3.trace | sed "s/.*\"pid\":\([0-9]*\),.*/\1/") &&
    $CHECK status e3.trace "$pid" 3 &&
    test "$(summary_reason e3.trace)" = target_exit
'

test_expect_success 'a signal death: 128+N, proc_exit status -N' '
    test_status 137 "$POLL" -i 20ms -o kill.trace -- sh -c "sleep 0.1; kill -KILL \$\$" &&
    closed kill.trace &&
    pid=$("$DECODE" --header --json kill.trace | sed "s/.*\"pid\":\([0-9]*\),.*/\1/") &&
    $CHECK status kill.trace "$pid" -9
'

test_expect_success 'a command that does not exist: 127, a message, no file' '
    test_status 127 "$POLL" -o none.trace -- ./no-such-command 2>err &&
    grep -q "^memtrace-poll: cannot run .\./no-such-command.: No such file or directory$" err &&
    test ! -e none.trace
'

test_expect_success 'a command that cannot be run: 126' '
    printf "not a program\n" >notexec && chmod 644 notexec &&
    test_status 126 "$POLL" -o none.trace -- ./notexec 2>err &&
    grep -q "cannot run .\./notexec.: Permission denied" err
'

test_expect_success 'a pid that does not exist: status 1, a clear message' '
    pid=$("$PYTHON" -c "import os; print(os.getpid())") &&
    test_status 1 "$POLL" -o gone.trace -p "$pid" 2>err &&
    test_cmp - err <<-EOM &&
	memtrace-poll: no process with pid $pid
	EOM
    test ! -e gone.trace
'

test_expect_success '-p: the watch ends when the process exits (status 0)' '
    sleep 0.4 & sp=$! &&
    test_status 0 "$POLL" -i 20ms -o p.trace -p "$sp" &&
    closed p.trace &&
    test "$(summary_reason p.trace)" = target_exit &&
    "$DECODE" --json p.trace | grep -q "\"type\":\"proc_exit\",.*\"pid\":$sp,"
'

# As root, watch a root process as user nobody: memory still reads, USS/PSS
# and the exit status do not, and the message says why.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 &&
   setpriv --reuid=65534 --regid=65534 --clear-groups "$POLL" --version >/dev/null 2>&1; then
test_expect_success "another user's process: a warning, no USS/PSS" '
    sleep 0.5 &
    sp=$!
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$POLL" --json -i 50ms -p "$sp" >other.jsonl 2>err &&
    grep -q "^memtrace-poll: pid $sp belongs to another user: no USS/PSS" err &&
    grep -q "\"rss_bytes\":" other.jsonl &&
    ! grep -q "\"uss_bytes\":" other.jsonl &&
    grep -q "^{\"type\":\"proc_exit\",.*\"pid\":$sp,\"status\":2147483647}$" other.jsonl &&
    $CHECK jsonl other.jsonl
'
else
    echo "# skipped: another user's process (needs root and setpriv)"
fi

test_expect_success 'an unwritable output: status 1 before anything runs' '
    test_status 1 "$POLL" -o no-dir/x.trace -- sh -c "touch ran" 2>err &&
    grep -q "^memtrace-poll: cannot create .no-dir/x\.trace.: No such file or directory$" err &&
    test ! -e ran
'

for args in "-x -- true" "-i -- true" "-i 0 -- true" "-i abc -- true" \
            "-i 0.0001 -- true" "-r x -- true" "-p 0" "-p abc" \
            "-p 1 -- true" "" "--json" "--bogus -- true"; do
    test_expect_success "usage error: memtrace-poll $args" '
        test_status 2 "$POLL" $args >out 2>err &&
        test_cmp /dev/null out &&
        head -n 1 err | grep -q "^memtrace-poll: " &&
        grep -qx "memtrace-poll: see memtrace-poll --help" err
    '
done

test_expect_success '--help on stdout, status 0' '
    "$POLL" --help >out && grep -q "^usage: memtrace-poll" out &&
    "$POLL" --version >out && grep -q "^memtrace-poll (memtrace) " out
'

test_done
