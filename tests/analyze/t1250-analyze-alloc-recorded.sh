#!/bin/sh
# t1250: the heap report on traces recorded by the real recorder with
# allocations (alloc_workload.py says what it does): exactly 37 leaked
# 7778-byte buffers at leaky, heavy() first among hotspots by bytes, the
# peak inside peak() holding its 30 x 1000001 bytes, temporary()'s blocks
# freed within its call; and on 1 GB of allocations the sampled estimate
# within 10% of the exact total.
. "$(dirname "$0")/analyze-test-lib.sh"

: "${PYTHONPATH_MT:?PYTHONPATH_MT must name build/python}"
W="$(cd "$(dirname "$0")" && pwd)/alloc_workload.py"
rec() { PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" "$W" "$@"; }

# check_known JSON: the answers every exact mode must give.
check_known() {
    schema "$1" &&
    expect "$1" heap.sample_bytes=1 size:leaks:leaky:7778=37 \
        heap.hotspots_by_bytes.0.function=heavy "site:hotspots_by_bytes:heavy.bytes=~50000500/200000" \
        heap.peak.0.function=peak size:peak:peak:1000001=30 \
        size:peak:leaky:7778=37 "heap.peak_bytes=~30500000/1000000" &&
    test "$("$PYTHON" "$CHECK" get "$1" site:temporaries:temporary.count)" -ge 50 &&
    # no other site leaks a 7778-byte block
    "$PYTHON" - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bad = [s["function"] for s in d["heap"]["leaks"] if s["function"] != "leaky"
       and any(z["size_bytes"] == 7778 for z in s["sizes"])]
sys.exit(1 if bad else 0)
PY
}

test_expect_success 'mode alloc: 37 leaks at leaky, heavy first, peak in peak()' '
    rec alloc.trace alloc &&
    "$ANALYZE" --json --top 0 alloc.trace >alloc.json &&
    check_known alloc.json &&
    expect alloc.json sitestack:leaks:0="<module>>outer>leaky"
'

test_expect_success '--function/--file focus the tables, totals stay whole' '
    "$ANALYZE" --json --top 0 --function leaky alloc.trace >leaky.json &&
    "$PYTHON" - alloc.json leaky.json <<PY &&
import json, sys
full, foc = (json.load(open(p)) for p in sys.argv[1:3])
# the heap totals are those of the whole trace
assert foc["heap"]["peak_bytes"] == full["heap"]["peak_bytes"]
# every site kept passes through leaky; none of those left out does
for table in ("peak", "leaks", "hotspots_by_bytes"):
    kept = foc["heap"][table]
    assert kept and all(any(f["function"] == "leaky" for f in s["frames"]) for s in kept), table
    want = [s for s in full["heap"][table] if any(f["function"] == "leaky" for f in s["frames"])]
    assert len(kept) == len(want), (table, len(kept), len(want))
assert [f["function"] for f in foc["functions"]] == ["leaky"], foc["functions"]
PY
    "$ANALYZE" --json --function "*.outer" --file "*alloc_workload.py" alloc.trace >outer.json &&
    "$PYTHON" "$CHECK" get outer.json functions.0.function | grep -x outer &&
    "$ANALYZE" --function nothing-like-this alloc.trace >none.txt &&
    grep -q "focus       functions matching nothing-like-this" none.txt
'

test_expect_success 'mode alloc: the stacks at the RSS peak name their lines (positions)' '
    "$PYTHON" - alloc.json <<-PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	frames = [f for s in d["peak_stacks"] for f in s["frames"] if f["file"].endswith(".py")]
	print(frames)
	sys.exit(0 if frames and all(f["line"] > 0 for f in frames) else 1)
	PY
'

test_expect_success 'mode profile (call hooks keep the stack)' '
    rec profile.trace profile &&
    "$ANALYZE" --json --top 0 profile.trace >profile.json &&
    schema profile.json &&
    expect profile.json size:leaks:leaky:7778=37 heap.peak.0.function=peak
'

test_expect_success 'the text report shows the leak with its sizes' '
    "$ANALYZE" --top 3 alloc.trace >alloc.txt &&
    grep -A1 -E "^ +[0-9.]+ KiB +[0-9]+  leaky \(.*alloc_workload\.py:24\) <- outer:47 <- " alloc.txt |
        grep -E "sizes: 37 x 7778 B" &&
    grep "^Functions by RSS growth: left out for an alloc-mode trace" alloc.txt &&
    ! grep "^Functions by inclusive" alloc.txt &&
    "$ANALYZE" --top 3 profile.trace | grep "^Functions by inclusive RSS growth"
'

test_expect_success 'sampled 1 GB: the estimate is within 10% of the exact total' '
    rec gbx.trace gb-exact && rec gbs.trace gb-sampled &&
    "$ANALYZE" --json gbx.trace >gbx.json && "$ANALYZE" --json gbs.trace >gbs.json &&
    schema gbs.json && expect gbs.json heap.estimated=true &&
    x=$("$PYTHON" "$CHECK" get gbx.json heap.total.alloc_bytes) &&
    s=$("$PYTHON" "$CHECK" get gbs.json heap.total.alloc_bytes) &&
    "$PYTHON" -c "import sys; x, s = int(sys.argv[1]), int(sys.argv[2]); \
        print(f\"exact {x} B, estimate {s} B, {100 * (s - x) / x:+.2f}%\"); \
        sys.exit(0 if x >= 10**9 and abs(s - x) <= 0.10 * x else 1)" "$x" "$s"
'

test_expect_success 'sites aggregate by location: one code made five times is one row' '
    PYTHONPATH="$PYTHONPATH_MT" "$PYTHON" "$(dirname "$W")/remade_workload.py" remade.trace &&
    "$ANALYZE" --json --top 0 remade.trace >remade.json &&
    schema remade.json &&
    "$PYTHON" - remade.json <<-\PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	for table in ("peak", "leaks"):
	    # (3.9-3.11: the blocks are made in remade.<locals>.<listcomp>)
	    rows = [[z["count"] for z in s["sizes"] if z["size_bytes"] == 4322]  # bytearray: + NUL
	            for s in d["heap"][table]]
	    rows = [r for r in rows if r]
	    print(table, rows)
	    if rows != [[500]]:
	        sys.exit(1)
	PY
'

test_expect_success 'the peak by location: stacks summed at their allocating frame' '
    "$PYTHON" - alloc.json <<-\PY &&
	import json, sys
	h = json.load(open(sys.argv[1]))["heap"]
	loc, sites = h["peak_by_location"], h["peak"]
	assert [l["bytes"] for l in loc] == sorted((l["bytes"] for l in loc), reverse=True)
	assert sum(l["bytes"] for l in loc) == sum(s["bytes"] for s in sites if s["frames"])
	# Alloc mode names the allocating line: the bytearrays of line 42.
	peak = [l for l in loc if l["function"] == "peak" and l["line"] == 42]
	assert len(peak) == 1 and peak[0]["bytes"] >= 30 * 1000001, loc
	assert peak[0]["first_line"] == 39, peak
	PY
    "$ANALYZE" --top 5 alloc.trace | grep -A3 "^Heap at its peak by location" | grep -E " peak \("
'

test_expect_success '--tree: the peak as call paths, biggest first, import system folded' '
    "$ANALYZE" --tree --json --top 0 alloc.trace >tree.json &&
    "$ANALYZE" --tree alloc.trace >tree.txt &&
    "$ANALYZE" --tree=all --top 3 alloc.trace >tree-all.txt &&
    "$PYTHON" - alloc.json tree.json <<-\PY &&
	import json, sys
	full, tree = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
	root = tree["tree"]
	assert tree["peak_bytes"] == full["heap"]["peak_bytes"], tree["peak_bytes"]
	assert root["bytes"] == sum(s["bytes"] for s in full["heap"]["peak"]), root["bytes"]
	def walk(n, path):
	    kids = n["children"]
	    assert [k["bytes"] for k in kids] == sorted((k["bytes"] for k in kids), reverse=True)
	    assert sum(k["bytes"] for k in kids) + n["more"]["bytes"] <= n["bytes"]
	    yield path + [n["function"]], n
	    for k in kids:
	        yield from walk(k, path + [n["function"]])
	nodes = list(walk(root, []))
	# the 30 live 1000001-byte blocks of peak(), under outer()
	hit = [n for p, n in nodes if p[-2:] == ["outer", "peak"]]
	assert hit and hit[0]["bytes"] >= 30 * 1000001, hit
	assert not any("importlib" in n["file"] for p, n in nodes), "import frames not folded"
	PY
    grep -E "^ +[0-9.]+% +[0-9.]+ MiB +[0-9]+ .*[├└]─ peak \(" tree.txt &&
    grep "import-system frames folded" tree.txt &&
    ! grep "import-system frames folded" tree-all.txt
'

test_expect_success '--tree on a trace without allocations: a clear error' '
    rec plain.trace profile-plain &&
    test_status 1 "$ANALYZE" --tree plain.trace 2>err &&
    grep "plain.trace: --tree: the trace has no allocation records" err &&
    test_status 2 "$ANALYZE" --tree=folded alloc.trace 2>err2 &&
    grep "unknown value" err2
'

test_expect_success 'notes: RSS attribution without allocations; native memory unseen' '
    "$ANALYZE" plain.trace >plain.txt &&
    grep "^NOTE: no allocation records: functions and lines are charged" plain.txt &&
    "$ANALYZE" --json plain.trace >plain.json && schema plain.json &&
    "$PYTHON" "$CHECK" get plain.json notes.0 | grep "memtrace run app.py (no --mode)" &&
    "$PYTHON" "$CHECK" get alloc.json notes | grep -x "\[\]" &&
    rec unseen.trace native-unseen &&
    "$ANALYZE" unseen.trace >unseen.txt &&
    grep -E "^NOTE: RSS grew by [0-9.]+ MiB .* Record with native=True" unseen.txt &&
    ! grep "no allocation records" unseen.txt
'

test_done
