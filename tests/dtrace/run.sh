#!/bin/sh
# run.sh - the tests of dtrace/ (make test-dtrace): the provider file against
# the probes compiled into the recorder, and, as root with bpftrace, the
# scripts run for real against programs with known answers.
#
# Environment (set by dtrace/dtrace.mk): PYTHON (a CPython), PYTHONPATH_MT
# (the recorder built for it), ANALYZE (memtrace-analyze), TRASH (a scratch
# directory, emptied first). Every check that needs something this machine
# lacks (root, bpftrace, tracefs, the dtrace tool) prints SKIP with the
# reason; the others must pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
rm -rf "$TRASH" && mkdir -p "$TRASH" || exit 1
cd "$TRASH" || exit 1
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; }
has() { # has FILE TEXT: FILE contains TEXT (fixed string)
    if grep -qF -- "$2" "$1"; then ok; else bad "$1 lacks '$2'"; sed -n 1,40p "$1"; fi
}
so=$(PYTHONPATH=$PYTHONPATH_MT "$PYTHON" -c 'import memtrace._memtrace as m; print(m.__file__)') ||
    { echo "FAIL: cannot import memtrace from $PYTHONPATH_MT"; exit 1; }
usdt=$(PYTHONPATH=$PYTHONPATH_MT "$PYTHON" -c 'import memtrace._memtrace as m; print(int(m.usdt()))')

echo "== the provider and the probes compiled into the recorder agree"
# provider: "probe NAME(TYPES);" -> NAME ARGCOUNT
sed -n 's/^ *probe \([a-z_]*\)(\(.*\));.*/\1 \2/p' "$top/dtrace/memtrace.d" |
    awk '{ name = $1; $1 = ""; n = ($0 ~ /[a-z]/) ? split($0, a, ",") : 0; print name, n }' |
    sort >provider.txt
if [ "$(wc -l <provider.txt)" -ge 11 ]; then ok; else bad "provider.txt: $(cat provider.txt)"; fi
if [ "$usdt" = 1 ] && command -v readelf >/dev/null 2>&1; then
    readelf -n "$so" | awk '/Provider: memtrace/ { p = 1; next }
        p && /Name:/ { name = $2 }
        p && /Arguments:/ { print name, NF - 1; p = 0 }' | sort -u >compiled.txt
    if diff provider.txt compiled.txt >probes.diff; then ok
    else bad "dtrace/memtrace.d and $so differ (< provider, > compiled):"; cat probes.diff; fi
    # every argument is a register or a stack slot (bpftrace reads no symbols)
    if readelf -n "$so" | grep "Arguments:" | grep -q '[A-Za-z_][A-Za-z_0-9]*(%rip)\|+[A-Za-z_]'; then
        bad "a probe argument is given as a symbol"; readelf -n "$so" | grep Arguments
    else ok; fi
else
    skip "the recorder was built without <sys/sdt.h> (memtrace._memtrace.usdt() is False): no probes to compare"
fi
if command -v dtrace >/dev/null 2>&1; then
    if dtrace -h -s "$top/dtrace/memtrace.d" -o probes.h && grep -q 'MEMTRACE_FUNCTION_ENTRY_ENABLED' probes.h
    then ok; else bad "dtrace -h -s dtrace/memtrace.d failed"; fi
    nd=0
    for d in "$top"/dtrace/*.d; do
        [ "$d" = "$top/dtrace/memtrace.d" ] && continue
        nd=$((nd + 1))
        # one D script per bpftrace script
        if [ -e "${d%.d}.bt" ]; then ok; else bad "$d has no bpftrace twin ${d%.d}.bt"; fi
        # a D script: systemtap's dtrace tool only makes headers, so what is
        # checked here is that each names probes the provider has
        for p in $(sed -n 's/.*memtrace[$]target:::\([a-z-]*\).*/\1/p' "$d" | sort -u); do
            name=$(echo "$p" | sed 's/-/__/g')
            if grep -q "^$name " provider.txt; then ok; else bad "$d: probe $p is not in memtrace.d"; fi
        done
    done
    if [ "$nd" -ge 4 ]; then ok; else bad "only $nd D scripts"; fi
else
    skip "no dtrace tool (Debian's systemtap-sdt-dev): dtrace -h is not tried"
fi

# ---- bpftrace, for real --------------------------------------------------
why=""
[ "$(id -u)" = 0 ] || why="not root"
[ -z "$why" ] && ! command -v bpftrace >/dev/null 2>&1 && why="bpftrace is not installed"
[ -z "$why" ] && [ "$usdt" != 1 ] && why="the recorder has no probes"
if [ -z "$why" ] && [ ! -e /sys/kernel/tracing/uprobe_events ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
    [ -e /sys/kernel/tracing/uprobe_events ] || why="tracefs is not mounted and cannot be"
fi
if [ -z "$why" ] && ! timeout 30 bpftrace -e 'BEGIN { exit(); }' >bt-probe.out 2>&1; then
    why="bpftrace cannot load a program here: $(grep -v RLIMIT bt-probe.out | head -1)"
fi
if [ -n "$why" ]; then
    skip "bpftrace tests: $why"
    echo "dtrace: $pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit
fi

# wait_for FILE [TENTHS]: until FILE exists (default 10 s)
wait_for() {
    n=${2:-100}
    while [ ! -e "$1" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    [ -e "$1" ]
}
# attach SCRIPT-ARGS...: bpftrace in the background into bt.out; waits
# until it says it attached
attach() {
    rm -f bt.out
    timeout 60 bpftrace "$@" >bt.out 2>bt.err &
    btpid=$!
    n=200
    while ! grep -q "^Attaching" bt.out 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    sleep 0.5
}

echo "== probes under bpftrace: counts equal the trace's records"
cat >rec.py <<'PY'
import os, sys, time, threading
import memtrace
open("ready", "w").close()
while not os.path.exists("go"):
    time.sleep(0.01)
memtrace.start("p.trace", mode="alloc", allocations="exact")
def make(n):
    return [bytearray(4321) for _ in range(n)]
keep = make(3000)
t = threading.Thread(target=make, args=(500,))
t.start(); t.join()
memtrace.marker("half")
del keep
memtrace.marker("end")
memtrace.stop()
PY
rm -f ready go
PYTHONPATH=$PYTHONPATH_MT "$PYTHON" rec.py & pypid=$!
wait_for ready
attach -p "$pypid" -e '
usdt:*:memtrace:alloc { @alloc = count(); if (arg1 == 4322) { @big = count(); } }
usdt:*:memtrace:free { @free = count(); }
usdt:*:memtrace:realloc { @realloc = count(); }
usdt:*:memtrace:marker { @markers = count(); }
usdt:*:memtrace:function__entry /str(arg0) == "make"/ { @make = count(); }
usdt:*:memtrace:start { printf("start %s %s\n", str(arg0), str(arg1)); }
usdt:*:memtrace:stop { printf("stop %d\n", arg0); exit(); }'
touch go
wait "$pypid"; wait "$btpid"
"$ANALYZE" --json p.trace >p.json
"$PYTHON" - <<'PY' >cmp.txt 2>&1
import json, re
d = json.load(open("p.json"))
bt = dict(re.findall(r"^@(\w+): (\d+)$", open("bt.out").read(), re.M))
rec = d["heap"]["records"]
print("bt", bt, "trace", rec, "markers", len(d["markers"]))
assert int(bt["alloc"]) == rec["alloc"], "alloc"
assert int(bt["free"]) == rec["free"], "free"
assert int(bt.get("realloc", 0)) == rec["realloc"], "realloc"
assert int(bt["big"]) == 3500, "bytearray(4321) allocations"
assert int(bt["markers"]) == len(d["markers"]) == 2, "markers"
assert int(bt["make"]) == 2, "make entered in two threads"
print("ok")
PY
if tail -1 cmp.txt | grep -q '^ok$'; then ok; else bad "probe counts:"; cat cmp.txt bt.out bt.err; fi
has bt.out "start p.trace alloc"
has bt.out "stop 0"

echo "== memtrace-top.bt names the allocating function"
cat >top.py <<'PY'
import os, time
import memtrace
memtrace.start("t.trace", mode="alloc", allocations="exact")
open("ready", "w").close()
def churner():
    for _ in range(200):
        keep = [bytearray(1000) for _ in range(200)]
        time.sleep(0.01)
t0 = time.time()
while time.time() - t0 < 4:
    churner()
memtrace.stop()
PY
rm -f ready
PYTHONPATH=$PYTHONPATH_MT "$PYTHON" top.py & pypid=$!
wait_for ready
attach -p "$pypid" "$top/dtrace/memtrace-top.bt"
sleep 2.5
kill -INT "$btpid" 2>/dev/null; wait "$btpid"; wait "$pypid"
# 3.9-3.11: the list comprehension is a function of its own
if grep -q '^@bytes\[churner[].]' bt.out; then ok; else bad "memtrace-top.bt: no churner"; cat bt.out; fi
has bt.out "bytes allocated by function in the last second"

echo "== malloc.bt sees a C program's known allocations"
cat >m.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
    while (access("go", F_OK) != 0) usleep(10000);
    void *volatile p[1000];
    for (int i = 0; i < 1000; i++) p[i] = malloc(4321);
    for (int i = 0; i < 1000; i++) free(p[i]);
    while (access("stop", F_OK) != 0) usleep(10000);
    return 0;
}
C
if cc -O0 -o m m.c; then
    rm -f go stop
    ./m & cpid=$!
    attach "$top/dtrace/malloc.bt" "$cpid"
    touch go; sleep 1
    kill -INT "$btpid" 2>/dev/null; wait "$btpid"
    touch stop; wait "$cpid"
    has bt.out "@by_size[4321]: 1000"
    if grep -q '@calls\[free\]: \(1[0-9][0-9][0-9]\|[2-9][0-9][0-9][0-9]\)' bt.out; then ok
    else bad "malloc.bt: fewer than 1000 frees"; cat bt.out; fi
    has bt.out "main"
else
    bad "cc m.c"
fi

echo "== rss-faults.bt sees a thread fault in 64 MiB, and the anonymous RSS grow"
cat >f.py <<'PY'
import os, threading, time
open("ready", "w").close()
while not os.path.exists("go"):
    time.sleep(0.01)
def toucher():
    b = bytearray(64 << 20)
    for i in range(0, len(b), 4096):
        b[i] = 1
    time.sleep(1.5)
t = threading.Thread(target=toucher, name="toucher")
t.start(); t.join()
PY
rm -f ready go
"$PYTHON" f.py & pypid=$!
wait_for ready
attach "$top/dtrace/rss-faults.bt" "$pypid"
touch go
sleep 2
kill -INT "$btpid" 2>/dev/null; wait "$btpid"; wait "$pypid"
if "$PYTHON" - <<'PY'
import re, sys
out = open("bt.out").read()
# (thread names are the process's: CPython before 3.14 names no thread)
faults = [int(n) for n in re.findall(r"@faults\[\d+, [^\]]+\]: (\d+)", out)]
anon = [int(n) for n in re.findall(r"@rss_anon_bytes: (\d+)", out)]
print("faults per thread and second:", faults, "anon bytes:", anon)
sys.exit(0 if max(faults or [0]) >= 16000 and anon and max(anon) >= 64 << 20 else 1)
PY
then ok; else bad "rss-faults.bt: the toucher thread's faults or the anon RSS are missing"; cat bt.out; fi

echo "== python-gc.bt counts collections"
exe=$("$PYTHON" -c 'import sys; print(sys.executable)')
lib=$(ldd "$exe" 2>/dev/null | sed -n 's/.*\(libpython[^ ]*\) => \([^ ]*\).*/\2/p' | head -1)
[ -n "$lib" ] || lib=$exe
if nm "$lib" 2>/dev/null | grep -q ' gc_collect_main$'; then
    cat >g.py <<'PY'
import gc, os, time
open("ready", "w").close()
while not os.path.exists("go"):
    time.sleep(0.01)
for _ in range(25):
    gc.collect()
PY
    rm -f ready go
    "$PYTHON" g.py & pypid=$!
    wait_for ready
    attach "$top/dtrace/python-gc.bt" "$lib" "$pypid"
    touch go
    wait "$pypid"; sleep 0.3
    kill -INT "$btpid" 2>/dev/null; wait "$btpid"
    if grep -q '^@collections\[2\]: \(2[5-9]\|[3-9][0-9]\)' bt.out; then ok
    else bad "python-gc.bt: not 25 full collections"; cat bt.out bt.err; fi
    has bt.out "@pause_us:"
else
    skip "python-gc.bt: $lib has no gc_collect_main symbol (CPython 3.9, or stripped)"
fi

echo "== memtrace-bpf: a process never started under memtrace, into a trace"
cat >b.py <<'PY'
import os, time
open("ready", "w").close()
while not os.path.exists("go"):
    time.sleep(0.01)
def make_big():
    return bytearray(30 * 1024 * 1024)
keep = make_big()
small = [bytes(3000) for _ in range(100)]
time.sleep(5)
PY
rm -f ready go b.trace
"$PYTHON" b.py & pypid=$!
wait_for ready
"$BPF" -p "$pypid" -o b.trace --duration 3 2>bpf.err & bpfpid=$!
n=150
while ! grep -q "tracing process" bpf.err 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
touch go
wait "$bpfpid"; st=$?
kill "$pypid" 2>/dev/null; wait "$pypid" 2>/dev/null
if [ "$st" = 0 ]; then ok; else bad "memtrace-bpf exit $st"; cat bpf.err; fi
has bpf.err "memtrace-bpf: wrote b.trace:"
"$ANALYZE" --json b.trace >b.json 2>b.err
if "$PYTHON" - <<'PY'
import json, sys
d = json.load(open("b.json"))
h = d["heap"]
big = [s for s in h["leaks"] if s["bytes"] >= 30 << 20]
names = [f["function"] for s in big for f in s["frames"]]
print("records", h["records"], "leaks >= 30 MiB:",
      [(s["bytes"], [f["function"] for f in s["frames"]]) for s in big])
ok = (big and any("malloc" in n for n in names) and h["peak_bytes"] >= 30 << 20
      and d["rss"]["peak_bytes"] >= 30 << 20 and d["run"]["mode"] == "bpf")
sys.exit(0 if ok else 1)
PY
then ok; else bad "memtrace-bpf: the 30 MiB bytearray is not in the trace"; head -c 3000 b.json; fi

echo "== memtrace-bpf: a process recording with memtrace: allocations under their Python stack"
cat >bp.py <<'PY'
import os, time, threading
import memtrace
memtrace.start("own.trace", mode="profile")
open("ready", "w").close()
while not os.path.exists("go"):
    time.sleep(0.01)
def grow_it():
    return bytearray(24 * 1024 * 1024)
def outer_call():
    return grow_it()
def in_thread(out):
    out.append(bytearray(12 * 1024 * 1024))
memtrace.marker("before")
keep = outer_call()
box = []
t = threading.Thread(target=in_thread, args=(box,))
t.start(); t.join()
memtrace.marker("after")
time.sleep(0.3)
memtrace.stop()
time.sleep(0.5)
PY
rm -f ready go bp.trace
PYTHONPATH=$PYTHONPATH_MT "$PYTHON" bp.py & pypid=$!
wait_for ready
"$BPF" -p "$pypid" -o bp.trace 2>bpfp.err & bpfpid=$!
n=150
while ! grep -q "tracing process" bpfp.err 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
touch go
wait "$pypid"; wait "$bpfpid"; st=$?
if [ "$st" = 0 ]; then ok; else bad "memtrace-bpf exit $st"; cat bpfp.err; fi
has bpfp.err "with the Python calls of its memtrace recording"
"$ANALYZE" --json bp.trace >bp.json 2>bp.err
if "$PYTHON" - <<'PY'
import json, sys
d = json.load(open("bp.json"))
sites = d["heap"]["peak"]
def names(s): return [f["function"] for f in s["frames"]]  # outermost first
big = {s["bytes"] >> 20: names(s) for s in sites if s["bytes"] >= 12 << 20}
print("sites >= 12 MiB at the peak:", big, "markers", [m["text"] for m in d["markers"]])
main = big.get(24, [])
ok = (main[-1:] == ["malloc"] and "grow_it" in main and "outer_call" in main
      and main.index("outer_call") < main.index("grow_it")
      and "in_thread" in big.get(12, [])
      and [m["text"] for m in d["markers"]] == ["before", "after"])
sys.exit(0 if ok else 1)
PY
then ok; else bad "memtrace-bpf: allocations not under their Python functions"; cat bpfp.err; head -c 3000 bp.json; fi

echo "dtrace: $pass passed, $fail failed"
[ "$fail" = 0 ]
