#!/bin/sh
# header_sweep.sh - format 1.2: the header is not a single point of failure,
# and damage to the index or end frame is reported (issue 11, item 9).
# Sourced by run.sh (its run/pass/fail helpers, $TOOLS, cwd = scratch).
#
# A real recording (python -m memtrace run, when the package is built; else
# a synthetic trace), then:
#   - every bit of its header frame flipped, one file each: memtrace-decode
#     --check reads all of them in one process and must say, for each,
#     "damaged", name the header, read every chunk and every record of the
#     intact file, and exit 1;
#   - a sample of those flips through every tool: exit 1, a message naming
#     the header damage, and the same report as the intact trace;
#   - every 7th bit of the index and the end frame: exit 1, a message naming
#     the index or end frame, every record read;
#   - truncation after the last chunk (no index): "not closed", exit 0.

# same WHAT DESC: the last command's output (out) equals ref.WHAT.
same() { cmp -s out "ref.$1" || { echo "FAIL: $2: output differs from the intact trace's"; diff "ref.$1" out | head -5; return 1; }; }

if [ -n "${PYTHONPATH_MT:-}" ] && [ -d "$PYTHONPATH_MT/memtrace" ]; then
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" -m memtrace run -f -o real.trace \
        "$here/../analyze/grow_workload.py" >/dev/null 2>&1 || {
        echo "FAIL: cannot record real.trace"; fail=$((fail + 1)); }
else
    echo "SKIP: the Python package is not built: a synthetic trace instead"
    cp heap.trace real.trace
fi
"$PYTHON" - real.trace <<'PY' || { echo "FAIL: cannot make the sweep"; fail=$((fail + 1)); }
import os, sys
data = open(sys.argv[1], "rb").read()
hdr = 8 + int.from_bytes(data[4:8], "little")
assert data[hdr + 8:hdr + 12] == b"MTHC", "no header copy after the header"
end = len(data) - 32                       # the end frame
ix = int.from_bytes(data[end + 16:end + 24], "little")
os.makedirs("sweep", exist_ok=True)
with open("sweep/header.list", "w") as hl, open("sweep/tail.list", "w") as tl:
    for off in range(hdr):
        for bit in range(8):
            b = bytearray(data); b[off] ^= 1 << bit
            name = f"sweep/h{off:05d}.{bit}.trace"
            open(name, "wb").write(b); hl.write(name + "\n")
    for k, off in enumerate(range(ix, len(data), 7)):
        b = bytearray(data); b[off] ^= 1 << (k % 8)
        name = f"sweep/t{off:07d}.trace"
        open(name, "wb").write(b); tl.write(name + "\n")
open("sweep/cut.trace", "wb").write(data[:ix])
print(f"header {hdr} bytes ({hdr * 8} flips); index+end {len(data) - ix} bytes")
PY

"$TOOLS/memtrace-decode" --check real.trace >ref.check 2>&1 || { echo "FAIL: real.trace is not intact"; cat ref.check; fail=$((fail + 1)); }
chunks=$(sed -n 's/.*ok, \([0-9]*\) chunks, \([0-9]*\) records.*/\1/p' ref.check)
records=$(sed -n 's/.*ok, \([0-9]*\) chunks, \([0-9]*\) records.*/\2/p' ref.check)

# Every header flip: one decode --check process over all the files.
"$TOOLS/memtrace-decode" --check $(cat sweep/header.list) >sweep/header.out 2>sweep/header.err
rc=$?
n=$(wc -l <sweep/header.list)
good=$(grep -c "^sweep/h[0-9.]*trace: damaged: .*the header frame is damaged.*; all $chunks chunks intact, $records records read, closed" sweep/header.out)
echo "header bit flips: $good of $n read all $chunks chunks and $records records, and named the header damage"
if [ "$rc" = 1 ] && [ "$good" = "$n" ] &&
    ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' sweep/header.err; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: decode --check over the header flips (exit $rc)"
    grep -v "the header frame is damaged.*all $chunks chunks intact" sweep/header.out | head -5
fi

# A sample of header flips through every tool.
"$TOOLS/memtrace-decode" --json real.trace >ref.decode 2>/dev/null
"$TOOLS/memtrace-analyze" real.trace >ref.analyze 2>/dev/null
for f in $(awk 'NR % 97 == 1' sweep/header.list); do
    for t in decode analyze diff filter plot; do
        case $t in
        decode) set -- "$TOOLS/memtrace-decode" --json "$f" ;;
        analyze) set -- "$TOOLS/memtrace-analyze" "$f" ;;
        diff) set -- "$TOOLS/memtrace-diff" real.trace "$f" ;;
        filter) set -- "$TOOLS/memtrace-filter" "$f" -o sweep/out.trace ;;
        plot) set -- "$TOOLS/memtrace-plot" "$f" -o sweep/out.svg ;;
        esac
        "$@" >out 2>err
        rc=$?
        ok=1
        [ "$rc" = 1 ] || { echo "FAIL: exit $rc, want 1: $*"; ok=0; }
        grep -q "$f: the header frame is damaged" err || { echo "FAIL: no header message: $*"; head -3 err; ok=0; }
        case $t in
        decode) same decode "$*" || ok=0 ;;
        filter) "$TOOLS/memtrace-decode" --check sweep/out.trace >/dev/null 2>&1 || { echo "FAIL: filter output of $f is not intact"; ok=0; } ;;
        esac
        if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
    done
done

# Index and end frame damage: reported, exit 1, every record read.
"$TOOLS/memtrace-decode" --check $(cat sweep/tail.list) >sweep/tail.out 2>sweep/tail.err
rc=$?
n=$(wc -l <sweep/tail.list)
good=$(grep -cE "^sweep/t[0-9]*\.trace: damaged: .*(index|end frame|not a frame|truncated|runs past).*$records records read, not closed" sweep/tail.out)
echo "index/end bit flips: $good of $n reported with every record read"
if [ "$rc" = 1 ] && [ "$good" = "$n" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: decode --check over index/end flips (exit $rc)"
    grep -vE "(index|end frame|not a frame|truncated|runs past).*$records records read" sweep/tail.out | head -5
fi
for f in $(awk 'NR % 41 == 1' sweep/tail.list); do
    "$TOOLS/memtrace-analyze" "$f" >out 2>err
    rc=$?
    if [ "$rc" = 1 ] && grep -qE "index|end frame|frame" err; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: analyze $f: exit $rc, want 1 and a message"; head -3 err; fi
done

# A file cut after its last chunk (a writer killed at close): not damage.
"$TOOLS/memtrace-decode" --check sweep/cut.trace >out 2>err
rc=$?
if [ "$rc" = 0 ] && grep -q "ok, $chunks chunks, $records records, not closed" out; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: cut after the chunks: exit $rc"; cat out err; fi
