#!/bin/sh
# run.sh - the tests of libmemtrace-plot and memtrace-plot (make test-plot).
#
# Environment (set by plot/plot.mk): PLOT_TEST (tests/plot/test_plot.c),
# MKTRACE (tests/plot/plot_mktrace.c), PLOT_CMD (memtrace-plot; empty when
# it is not built), TRASH (a scratch directory, emptied first).
#
# gnuplot and chromium checks are skipped, saying so, when the tool is not
# installed; everything else must pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
check="python3 $here/plot_check.py"
rm -rf "$TRASH" && mkdir -p "$TRASH" || exit 1
cd "$TRASH" || exit 1
PYTHON=${PYTHON:-python3}
DECODE_CMD=${DECODE_CMD:-memtrace-decode}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; }
# expect STATUS CMD...: run CMD, stderr to ./err; compare the exit status
expect() {
    want=$1; shift
    "$@" 2>err; got=$?
    if [ "$got" = "$want" ]; then ok; else bad "exit $got, want $want: $*"; cat err; fi
}
has() { # has FILE TEXT: FILE contains TEXT (fixed string)
    if grep -qF -- "$2" "$1"; then ok; else bad "$1 lacks '$2'"; fi
}
wellformed() {
    if xmllint --noout "$1" 2>xmlerr; then ok; else bad "$1 is not well-formed"; head -5 xmlerr; fi
}
# near A B TOL: |A - B| <= TOL
near() {
    if awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
    then ok; else bad "$4: $1, want $2 (+-$3)"; fi
}

echo "== library: C tests"
if "$PLOT_TEST"; then ok; else bad "test_plot"; fi

echo "== library: no trace-format knowledge"
if grep -l 'memtrace_format\.h\|mt_record\|mt_reader' "$top"/plot/mt_plot*.c "$top"/plot/mt_plot*.h; then
    bad "plot/mt_plot* must not know the trace format"
else ok; fi

echo "== library: example pictures are well-formed (xmllint)"
mkdir ex
if "$PLOT_TEST" --write ex; then ok; else bad "test_plot --write"; fi
for f in ex/timeline.svg ex/compare.svg ex/flame.svg ex/empty.svg ex/nasty.svg; do
    wellformed "$f"
done
has ex/timeline.svg '<polyline class="series" data-name="RSS"'
has ex/timeline.svg '<polyline class="series" data-name="Python heap"'
has ex/timeline.svg '>load start</text>'
has ex/timeline.svg '<title>build_matrix&#10;demo.py:25&#10;'
has ex/compare.svg 'data-name="before.trace"'
has ex/compare.svg 'data-name="after.trace"'

echo "== library: gnuplot renders the script"
if command -v gnuplot >/dev/null 2>&1; then
    if gnuplot ex/timeline.gp 2>gperr && [ -s ex/timeline-gp.png ]; then ok
    else bad "gnuplot ex/timeline.gp"; cat gperr; fi
    [ -s gperr ] && { bad "gnuplot warned"; cat gperr; }
    if gnuplot ex/timeline-svg.gp 2>gperr; then ok; else bad "gnuplot (svg)"; cat gperr; fi
    wellformed ex/timeline-gp.svg
    $check png ex/timeline-gp.png >/dev/null && ok || bad "gnuplot PNG is blank"
else
    skip "gnuplot is not installed (Debian: gnuplot-nox)"
fi

echo "== library: a browser draws the SVG (headless chromium)"
chromium=$(command -v chromium || command -v chromium-browser || true)
shoot() { # shoot SVG PNG
    # --no-sandbox: the tests may run as root, where the sandbox refuses
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --screenshot="$TRASH/$2" --window-size=1200,800 "file://$TRASH/$1" \
        >chromium.log 2>&1
}
if [ -n "$chromium" ]; then
    for f in timeline flame; do
        if shoot "ex/$f.svg" "$f.png" && [ -s "$f.png" ]; then
            if $check png "$f.png"; then ok; else bad "$f.png is blank"; fi
        else
            bad "chromium could not screenshot ex/$f.svg"; tail -5 chromium.log
        fi
    done
    # the page of a profile over time: "hide memtrace frames" folds
    # memtrace's own frame into its caller, keeping what is under it; a
    # thread alone; a window
    tdom() { timeout 120 "$chromium" --headless --no-sandbox --disable-gpu \
        --virtual-time-budget=3000 --dump-dom "file://$TRASH/ex/tprof.html#$1" 2>/dev/null; }
    tdom "weight=alloc" >tp-all.dom && tdom "weight=alloc&hidem=1" >tp-hide.dom &&
        tdom "weight=temp&thread=worker" >tp-worker.dom &&
        tdom "weight=alloc&slices=4-16" >tp-win.dom || bad "chromium could not load tprof.html"
    "$PYTHON" - <<'PYEOF' && ok || bad "tprof.html: hide memtrace frames, thread, window"
import re
def page(f):
    d = open(f).read()
    names = re.findall(r'<div class="fg-n[^"]*"[^>]*? data-name="([^"]*)"', d)
    total = int(re.search(r'id="fg-info"[^>]*data-total="(\d+)"', d).group(1))
    return names, total
n, t = page("tp-all.dom")
assert "start" in n and "callback" in n and t == 4000000, (n, t)
n, t = page("tp-hide.dom")
assert "start" not in n and "callback" in n and t == 4000000, (n, t)
n, t = page("tp-worker.dom")
assert "work" in n and "callback" not in n and t == 1000000, (n, t)
n, t = page("tp-win.dom")
assert "work" in n and "callback" not in n and t == 1000000, (n, t)  # allocated in 4..16
PYEOF
else
    skip "chromium is not installed: no browser screenshot (Debian: chromium)"
fi

if [ -z "${PLOT_CMD:-}" ]; then
    echo "SKIP: memtrace-plot is not built"
else
    echo "== memtrace-plot: a trace with a planted peak and trough"
    "$MKTRACE" a.trace 200000 2 >a.txt || bad "plot_mktrace"
    max=$(awk '$1 == "max_bytes" { print $2 }' a.txt)
    tmax=$(awk '$1 == "max_bytes" { print $4 }' a.txt)
    min=$(awk '$1 == "min_bytes" { print $2 }' a.txt)
    tmin=$(awk '$1 == "min_bytes" { print $4 }' a.txt)
    dur=$(awk '$1 == "duration_s" { print $2 }' a.txt)
    expect 0 "$PLOT_CMD" a.trace -o a.svg
    wellformed a.svg
    has a.svg 'data-name="RSS"'
    has a.svg 'data-name="Python heap"'
    for m in load compute save; do has a.svg ">$m</text>"; done
    has a.svg '>MainThread (tid 1)</text>'
    has a.svg '>worker (tid 2)</text>'
    has a.svg '<title>build_matrix&#10;app.py:50&#10;'
    has a.svg 'calls) at depth'
    set -- $($check extremes a.svg RSS)
    tol=$(awk -v m="$max" 'BEGIN { print m / 10000 }')
    ttol=$(awk -v d="$dur" 'BEGIN { print d / 1000 }')
    near "$2" "$max" "$tol" "peak RSS in the SVG"
    near "$1" "$min" "$tol" "lowest RSS in the SVG"
    near "$4" "$tmax" "$ttol" "time of the peak"
    near "$3" "$tmin" "$ttol" "time of the trough"

    echo "== memtrace-plot: --from/--to"
    expect 0 "$PLOT_CMD" --from 2ms --to 0.006 a.trace -o w.svg
    wellformed w.svg
    has w.svg 'data-t0="0.002" data-t1="0.006"'

    echo "== memtrace-plot: --flame"
    expect 0 "$PLOT_CMD" --flame a.trace -o f.svg
    wellformed f.svg
    has f.svg '>build_matrix</text>'
    has f.svg '<title>main&#10;'

    echo "== memtrace-plot: two traces overlaid"
    "$MKTRACE" b.trace 100000 >/dev/null || bad "plot_mktrace b"
    expect 0 "$PLOT_CMD" a.trace b.trace -o c.svg --title "a vs b"
    wellformed c.svg
    has c.svg 'data-name="a.trace"'
    has c.svg 'data-name="b.trace"'
    has c.svg '>a.trace: compute</text>'
    has c.svg '>a vs b</text>'

    echo "== memtrace-plot: --gnuplot, --png, --svg"
    expect 0 "$PLOT_CMD" --gnuplot a.trace -o a.gp
    has a.gp '$S0 << EOD'
    has a.gp "set label 1 'load'"
    if command -v gnuplot >/dev/null 2>&1; then
        if gnuplot -e "set terminal png size 800,600; set output 'a-gp.png'" a.gp 2>gperr &&
            [ -s a-gp.png ]; then ok; else bad "gnuplot a.gp"; cat gperr; fi
        expect 0 "$PLOT_CMD" --png a.trace -o a.png
        $check png a.png >/dev/null && ok || bad "--png gave a blank picture"
    else
        skip "gnuplot is not installed: --png/--svg not rendered"
    fi
    expect 1 env PATH=/nonexistent "$PLOT_CMD" --png a.trace -o nope.png
    has err 'gnuplot, which is not installed'

    echo "== memtrace-plot: the format follows -o's extension; HTML; --json; --thread; refusals"
    expect 0 "$PLOT_CMD" a.trace -o a.html
    has a.html '<!DOCTYPE html>'
    has a.html '<iframe title="timeline"'
    has a.html '<div id="fg"></div>'
    has a.html '<script type="application/json" id="fg-data">'
    has a.html '<h2>Memory by stack</h2>'
    has a.html '&lt;title&gt;build_matrix&amp;#10;app.py:50&amp;#10;'
    if grep -qiE '(src|href)="(https?:)?//' a.html; then bad "a.html loads from the network"; else ok; fi
    # the timeline inside is the SVG memtrace-plot writes alone; the flame
    # graph's data is the tree of -o x.json
    "$PYTHON" - a.html <<'PYEOF' && ok || bad "a.html: the timeline or the flame data is wrong"
import html, json, re, sys, xml.dom.minidom
page = open(sys.argv[1]).read()
docs = [html.unescape(d) for d in re.findall(r'srcdoc="([^"]*)"', page)]
assert len(docs) == 1, len(docs)
xml.dom.minidom.parseString(docs[0][docs[0].index("<svg"):])
data = re.search(r'<script type="application/json" id="fg-data">(.*?)</script>', page, re.S)
tp = json.loads(data.group(1))["tp"]
# the profile over time: stacks (parent, frame) with parents first, records
# of 7 numbers whose slices are in range; a.trace has RSS growth only
assert tp["n"] >= 8 and tp["t1"] > tp["t0"] and tp["has"] == [0, 0, 1], tp["has"]
st, nf = tp["stacks"], len(tp["frames"])
assert st and all(st[2 * i] <= i and st[2 * i + 1] < nf for i in range(len(st) // 2))
recs = tp["recs"]
assert recs and len(recs) % 7 == 0
assert all(recs[i + 4] & 3 == 2 and 1 <= recs[i + 2] <= tp["n"] for i in range(0, len(recs), 7))
assert "build_matrix" in {f[0] for f in tp["frames"]}
PYEOF
    expect 0 "$PLOT_CMD" --flame a.trace -o af.html
    fg=$(grep -n -m1 'id="fg"' af.html | cut -d: -f1)
    tl=$(grep -n -m1 '<iframe title="timeline"' af.html | cut -d: -f1)
    [ -n "$fg" ] && [ -n "$tl" ] && [ "$fg" -lt "$tl" ] && ok ||
        bad "--flame -o x.html: the flame graph is not first ($fg, $tl)"
    expect 0 "$PLOT_CMD" a.trace -o A.SVG
    wellformed A.SVG
    has A.SVG 'data-name="RSS"'
    expect 0 "$PLOT_CMD" a.trace -o a2.gp
    has a2.gp '$S0 << EOD'
    expect 0 "$PLOT_CMD" a.trace --format svg -o a.picture
    wellformed a.picture
    expect 0 "$PLOT_CMD" a.trace --format=html -o a.page
    has a.page '<!DOCTYPE html>'
    expect 2 "$PLOT_CMD" a.trace -o a.pdf
    has err "memtrace-plot: cannot tell a format from 'a.pdf': name it .html, .svg, .png, .gp, .json, .folded, .speedscope.json, .chrome.json or .pb.gz, or give --format"
    has err "memtrace-plot: see memtrace-plot --help"
    [ ! -e a.pdf ] && ok || bad "a.pdf was written"
    # .json: the data behind the pictures; the RSS peak is the planted one
    expect 0 "$PLOT_CMD" a.trace -o a.json
    "$PYTHON" - a.json "$max" "$tmax" <<'PYEOF' && ok || bad "a.json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "memtrace-plot-data/1" and d["traces"] == ["a.trace"], d.keys()
rss = [s for s in d["timeline"]["series"] if s["name"] == "RSS"][0]
assert rss["unit"] == "bytes"
t, v = max(rss["points"], key=lambda p: p[1])
assert abs(v - float(sys.argv[2])) <= float(sys.argv[2]) / 10000, (v, sys.argv[2])
assert {m["label"] for m in d["timeline"]["markers"]} >= {"load", "compute", "save"}
nodes = d["flame"]["nodes"]
assert nodes[0]["parent"] == -1 and nodes[0]["total"] == d["flame"]["total"]
assert all(nodes[n["parent"]]["depth"] == n["depth"] - 1 for n in nodes[1:])
assert "build_matrix" in {n["name"] for n in nodes}
PYEOF
    # --function: the flame graph keeps the stacks through build_matrix
    expect 0 "$PLOT_CMD" a.trace --function build_matrix -o fb.json
    "$PYTHON" - a.json fb.json <<'PYEOF' && ok || bad "--function build_matrix"
import json, sys
full, foc = (json.load(open(p))["flame"] for p in sys.argv[1:3])
nodes = foc["nodes"]
assert 0 < foc["total"] < full["total"], (foc["total"], full["total"])
def up(i):
    while i > 0:
        yield nodes[i]["name"]
        i = nodes[i]["parent"]
kids = {}
for i, n in enumerate(nodes[1:], 1):
    kids.setdefault(n["parent"], []).append(i)
def down(i):
    return nodes[i]["name"] == "build_matrix" or any(down(k) for k in kids.get(i, []))
assert all("build_matrix" in up(i) or down(i) for i in range(1, len(nodes)))
PYEOF
    # the page's flame graph works in a browser: search highlights, a zoom
    # spans the width, hide-import folds, no script error (state from the URL)
    if [ -n "$chromium" ]; then
        dom() { # dom FRAGMENT OUT
            timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --enable-logging=stderr \
                --v=0 --virtual-time-budget=3000 --dump-dom "file://$TRASH/a.html#$1" \
                >"$2" 2>>chromium-page.log
        }
        : >chromium-page.log
        dom "search=build_matrix" s.dom && dom "zoom=build_matrix" z.dom &&
            dom "hide=1&search=_matrix" h.dom && ok || bad "chromium could not load a.html"
        dom "view=inverted" i.dom && dom "view=flame" f.dom || bad "chromium could not load a.html"
        "$PYTHON" - s.dom z.dom h.dom i.dom f.dom <<'PYEOF' && ok || bad "a.html: the flame graph does not work"
import html, re, sys
def nodes(path):
    d = open(path).read()
    out = []
    for m in re.finditer(r'<div class="(fg-n[^"]*)"([^>]*)>', d):
        a = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(2)))
        top = re.search(r'top: ?([\d.]+)px', a.get("style", ""))
        out.append((m.group(1).split(), html.unescape(a.get("data-name", "")),
                    float(a.get("data-w", 0)), int(a.get("data-depth", -1)),
                    float(top.group(1)) if top else -1))
    return d, out
d, ns = nodes(sys.argv[1])
hit = [n for c, n, w, dp, y in ns if "fg-match" in c]
assert hit and all("build_matrix" in n for n in hit), hit
share = float(re.search(r'id="fg-info" data-share="([0-9.]+)"', d).group(1))
assert 0 < share <= 100, share
d, ns = nodes(sys.argv[2])
z = [(c, w) for c, n, w, dp, y in ns if n == "build_matrix"]
assert z and "fg-anc" not in z[0][0] and z[0][1] == 100.0, z
assert any("fg-anc" in c for c, n, w, dp, y in ns)  # its callers above, dimmed
d, ns = nodes(sys.argv[3])
assert [n for c, n, w, dp, y in ns if "fg-match" in c]
# inverted: the frames that grew are right under the root, their callers beneath
d, ns = nodes(sys.argv[4])
first = {n for c, n, w, dp, y in ns if dp == 1}
assert "build_matrix" in first and "main" not in first, first
# flame: the root at the bottom
d, ns = nodes(sys.argv[5])
root_y = [y for c, n, w, dp, y in ns if dp == 0][0]
assert root_y == max(y for c, n, w, dp, y in ns) and root_y > 0, root_y
PYEOF
        if grep -i "uncaught\|SyntaxError\|TypeError\|ReferenceError" chromium-page.log; then
            bad "a.html: script errors in the browser"
        else ok; fi
        timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
            --virtual-time-budget=3000 --screenshot="$TRASH/a-html.png" --window-size=1300,1600 \
            "file://$TRASH/a.html#search=build_matrix" >/dev/null 2>&1
        $check png a-html.png >/dev/null && ok || bad "a-html.png is blank"
    else
        skip "chromium is not installed: the page's flame graph is not tried in a browser"
    fi
    # exports of the flame graph's stacks: collapsed stacks and speedscope
    expect 0 "$PLOT_CMD" a.trace -o a.folded
    expect 0 "$PLOT_CMD" a.trace --format collapsed -o a.txt
    cmp -s a.folded a.txt && ok || bad "--format collapsed differs from .folded"
    expect 0 "$PLOT_CMD" a.trace -o a.speedscope.json
    "$PYTHON" - a.json a.folded a.speedscope.json <<'PYEOF' && ok || bad "folded / speedscope"
import json, re, sys
total = json.load(open(sys.argv[1]))["flame"]["total"]
lines = open(sys.argv[2]).read().splitlines()
assert lines and all(re.fullmatch(r"[^ ].* [0-9]+", l) for l in lines), lines[:3]
assert abs(sum(int(l.rsplit(" ", 1)[1]) for l in lines) - total) <= len(lines), total
assert any(l.split(" ")[0].split(";")[-1] == "build_matrix" or ";build_matrix" in l for l in lines)
PYEOF
    # speedscope: valid under the JSON Schema written from its
    # file-format-spec.ts; RSS growth of every thread, then of each thread
    "$PYTHON" "$top/tests/plot/speedscope_check.py" a.speedscope.json &&
        ok || bad "a.speedscope.json breaks speedscope's file format"
    "$PYTHON" - a.speedscope.json <<'PYEOF' && ok || bad "a.speedscope.json: profiles"
import json, sys
d = json.load(open(sys.argv[1]))
names = [p["name"] for p in d["profiles"]]
assert names[0] == "a.trace: RSS growth", names
per = [p for p in d["profiles"][1:] if p["name"].startswith("a.trace: RSS growth, ")]
assert len(per) >= 1 and len(per) == len(names) - 1, names
# the threads' profiles add up to the whole's
assert sum(p["endValue"] for p in per) >= d["profiles"][0]["endValue"] > 0
assert d["activeProfileIndex"] == 0 and d["exporter"].startswith("memtrace-plot ")
PYEOF
    # a Chrome trace: the Trace Event Format's rules
    expect 0 "$PLOT_CMD" a.trace -o a.chrome.json
    "$PYTHON" - a.chrome.json "$dur" <<'PYEOF' && ok || bad "a.chrome.json"
import collections, json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
kinds = collections.Counter(e["ph"] for e in ev)
assert kinds["X"] > 0 and kinds["C"] > 0 and kinds["M"] >= 2 and kinds["i"] >= 3, kinds
end_us = float(sys.argv[2]) * 1e6 * 1.001
for e in ev:
    assert isinstance(e["pid"], int) and isinstance(e["name"], str), e
    if e["ph"] in "XCi":
        assert 0 <= e["ts"] <= end_us, e
    if e["ph"] == "X":
        assert e["dur"] >= 0 and isinstance(e["tid"], int)
    if e["ph"] == "C":
        assert set(e["args"]) == {"bytes"}
names = {(e["tid"], e["args"]["name"]) for e in ev if e.get("name") == "thread_name"}
assert (1, "MainThread") in names and (2, "worker") in names, names
# slices of a thread nest: any two are disjoint or one holds the other
by_tid = collections.defaultdict(list)
for e in ev:
    if e["ph"] == "X":
        by_tid[e["tid"]].append((e["ts"], -(e["ts"] + e["dur"])))
eps = 0.002
for tid, sl in by_tid.items():
    sl.sort()
    stack = []
    for s, neg_end in sl:
        end = -neg_end
        while stack and stack[-1] <= s + eps:
            stack.pop()
        assert not stack or end <= stack[-1] + eps, (tid, s, end, stack[-1])
        stack.append(end)
assert "build_matrix" in {e["name"] for e in ev if e["ph"] == "X"}
PYEOF
    expect 2 "$PLOT_CMD" --flame a.trace -o f.png
    has err 'a flame graph is drawn as SVG or HTML, not PNG'
    expect 2 "$PLOT_CMD" a.trace --format jpeg -o x.svg
    has err "--format: unknown format 'jpeg' (html, svg, png, gp, json, folded, speedscope, chrome, pprof)"
    expect 2 "$PLOT_CMD" a.trace --json
    has err '--json describes the file written: it needs -o FILE'
    "$PLOT_CMD" a.trace -o j.svg --json >j.json 2>err && ok || bad "--json failed"
    "$PYTHON" - j.json j.svg <<'PYEOF' && ok || bad "--json: $(cat j.json)"
import json, os, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "memtrace-plot/1" and d["format"] == "svg", d
assert d["output"] == "j.svg" and d["bytes"] == os.path.getsize(sys.argv[2]), d
assert d["traces"][0]["file"] == "a.trace" and d["traces"][0]["rss_peak_bytes"] > 0, d
PYEOF
    expect 0 "$PLOT_CMD" a.trace --thread worker -o t.svg
    has t.svg '>worker (tid 2)</text>'
    if grep -q '>MainThread (tid 1)</text>' t.svg; then bad "--thread worker drew MainThread"; else ok; fi
    expect 1 "$PLOT_CMD" a.trace --thread nobody -o t2.svg
    has err "no thread 'nobody' (by tid or name)"
    # one time syntax: an absolute window (UNIX seconds, ISO-8601) as in analyze
    from=$("$DECODE_CMD" --header --json a.trace | "$PYTHON" -c '
import json, sys
print("@%d.%09d" % divmod(json.load(sys.stdin)["wall_ns"] + 2000000, 10**9))')
    expect 0 "$PLOT_CMD" --from "$from" --to 6ms a.trace -o abs.svg
    has abs.svg 'data-t0="0.002" data-t1="0.006"'
    expect 1 "$PLOT_CMD" --from 10s a.trace -o late.svg
    has err "memtrace-plot: --from 10.000 s is past the end of the trace (the last record is at"
    [ ! -e late.svg ] && ok || bad "late.svg was written"
    expect 2 "$PLOT_CMD" --from yesterday a.trace -o bad.svg
    has err "invalid time 'yesterday' for --from (want e.g. 1.5, 200ms, 2m, @1732180772.25 or 2026-11-21T09:19:32Z)"
    if command -v script >/dev/null 2>&1; then
        # standard output is a terminal: no SVG poured onto it
        script -qec "$PLOT_CMD $TRASH/a.trace" /dev/null >tty.out 2>&1
        has tty.out 'not writing SVG onto a terminal: give -o FILE.html (or .svg, .png), or redirect standard output'
        if grep -q '<svg' tty.out; then bad "SVG written to a terminal"; else ok; fi
    else
        skip "script(1) is not installed: the terminal refusal is not checked"
    fi

    echo "== memtrace-plot: LOST events: a banner first, marks, a warning on stderr"
    if [ -n "${ANALYZE_MKTRACE:-}" ] && "$ANALYZE_MKTRACE" lost lost.trace; then
        expect 0 "$PLOT_CMD" lost.trace -o lost.svg
        wellformed lost.svg
        has err "memtrace-plot: lost.trace: WARNING: 1020 events LOST in 2 LOST records (T1: 20, T2: 1000)"
        # the banner is the first thing drawn: before the title
        first=$(grep -n -m1 'class="banner"' lost.svg | cut -d: -f1)
        title=$(grep -n -m1 'class="title"' lost.svg | cut -d: -f1)
        if [ -n "$first" ] && [ -n "$title" ] && [ "$first" -lt "$title" ]; then ok
        else bad "lost.svg: no banner before the title ($first, $title)"; fi
        has lost.svg '>WARNING: lost.trace LOST 1020 events (T1: 20, T2: 1000): heap figures and stacks marked * can be wrong</text>'
        has lost.svg 'data-name="heap in use *"'
        has lost.svg 'MainThread (tid 1) *'
        expect 0 "$PLOT_CMD" --flame --flame-weight leak lost.trace -o lostf.svg
        wellformed lostf.svg
        has lostf.svg '<g class="banner" id="mt-banner">'
        has lostf.svg 'Leaked bytes by stack *: lost.trace'
        expect 0 "$PLOT_CMD" --gnuplot lost.trace -o lost.gp
        has lost.gp "set label 1000 'WARNING: lost.trace LOST 1020 events"
        # and a trace without loss has neither
        expect 0 "$PLOT_CMD" a.trace -o nolost.svg
        if grep -q 'class="banner"\| \*"' nolost.svg; then bad "a.svg has a loss mark"; else ok; fi
    else
        bad "analyze_mktrace lost failed (ANALYZE_MKTRACE=${ANALYZE_MKTRACE:-unset})"
    fi

    echo "== memtrace-plot: object tracking: alive objects by type on the right-hand axis"
    if [ -n "${ANALYZE_MKTRACE:-}" ] && "$ANALYZE_MKTRACE" objects obj.trace; then
        expect 0 "$PLOT_CMD" obj.trace -o obj.svg
        wellformed obj.svg
        has obj.svg 'data-name="objects: __main__.Point"'
        has obj.svg 'data-name="objects: dict"'
        has obj.svg 'objects: __main__.Point (max 2, right axis)'
        expect 0 "$PLOT_CMD" --gnuplot obj.trace -o obj.gp
        has obj.gp 'axes x1y2'
    else
        bad "analyze_mktrace objects failed (ANALYZE_MKTRACE=${ANALYZE_MKTRACE:-unset})"
    fi

    echo "== memtrace-plot never overwrites its input"
    cp a.trace keep.trace
    ln -s a.trace sym.trace
    expect 1 "$PLOT_CMD" a.trace -o a.trace
    has err "memtrace-plot: refusing to write 'a.trace': it is the input 'a.trace'"
    expect 1 "$PLOT_CMD" b.trace a.trace -o sym.trace
    has err "refusing to write 'sym.trace': it is the input 'a.trace'"
    expect 1 "$PLOT_CMD" --flame sym.trace -o a.trace
    expect 1 "$PLOT_CMD" --gnuplot a.trace -o sym.trace
    if "$PLOT_CMD" a.trace >>a.trace 2>err; then bad "plot to stdout appended to its input"; else ok; fi
    has err "refusing to write standard output: it is the input 'a.trace'"
    if cmp -s a.trace keep.trace; then ok; else bad "a.trace was changed"; fi

    echo "== memtrace-plot: bad input and usage"
    expect 2 "$PLOT_CMD"
    has err 'no trace file given'
    expect 2 "$PLOT_CMD" --bogus a.trace
    expect 2 "$PLOT_CMD" --flame --gnuplot a.trace
    expect 2 "$PLOT_CMD" --png a.trace
    expect 2 "$PLOT_CMD" --width 0 a.trace
    expect 2 "$PLOT_CMD" --from 3s --to 1s a.trace
    expect 1 "$PLOT_CMD" missing.trace -o x.svg
    has err "memtrace-plot: cannot open 'missing.trace'"
    echo "not a trace" >text.trace
    expect 1 "$PLOT_CMD" text.trace -o x.svg
    has err 'text.trace'
    expect 1 "$PLOT_CMD" a.trace -o /nonexistent/dir/x.svg
    has err "cannot write '/nonexistent/dir/x.svg'"

    echo "== memtrace-plot: a damaged trace still gives a picture, and exit 1"
    # many chunks, so that one damaged in the middle leaves data on both sides
    "$(dirname "$PLOT_CMD")/memtrace-filter" --chunk-size 4KiB a.trace -o d.trace || bad "filter"
    size=$(wc -c <d.trace)
    python3 -c "
import sys
f = open('d.trace', 'r+b'); f.seek($size // 2); b = f.read(1); f.seek($size // 2)
f.write(bytes([b[0] ^ 0x55]))"
    expect 1 "$PLOT_CMD" d.trace -o d.svg
    has err 'damaged trace'
    wellformed d.svg
    # nothing intact but definitions: one line, exit 1, no picture
    cp a.trace e.trace
    esize=$(wc -c <e.trace)
    python3 -c "
f = open('e.trace', 'r+b'); f.seek($esize // 2); b = f.read(1); f.seek($esize // 2)
f.write(bytes([b[0] ^ 0x55]))"
    expect 1 "$PLOT_CMD" e.trace -o e.svg
    has err 'e.trace: nothing to draw: the trace holds no events and no samples in its intact chunks'
    [ ! -e e.svg ] && ok || bad "e.svg was written"

    echo "== memtrace-plot: a real recording"
    if PYTHONPATH="$top/build/python" python3 -c 'import memtrace' 2>/dev/null; then
        cat >work.py <<'PY'
import memtrace
memtrace.start("real.trace", mode="trace", rss="exact")
def grow(n):
    return [bytes(1000) for _ in range(n)]
keep = []
for i in range(5):
    memtrace.marker("round %d" % i) if hasattr(memtrace, "marker") else None
    keep.append(grow(20000))
memtrace.stop()
PY
        if PYTHONPATH="$top/build/python" python3 work.py 2>rec.err; then
            expect 0 "$PLOT_CMD" real.trace -o real.svg
            wellformed real.svg
            has real.svg '<title>grow&#10;'
            expect 0 "$PLOT_CMD" --flame real.trace -o real-flame.svg
            has real-flame.svg '>grow</text>'
        else
            bad "recording work.py failed"; cat rec.err
        fi
    else
        skip "the recorder is not built (build/python): no real recording"
    fi

    echo "== memtrace-plot: a recording with allocations (heap series, flame weights)"
    if PYTHONPATH="$top/build/python" python3 -c 'import memtrace' 2>/dev/null; then
        cat >heap.py <<'PY'
import memtrace
memtrace.start("heap.trace", mode="alloc", allocations=True)
keep = []
def leaky():
    for _ in range(37):
        keep.append(bytearray(7777))
def heavy():
    for _ in range(300):
        b = bytearray(100000)
        del b
def peak():
    big = [bytearray(1000000) for _ in range(20)]
    return len(big)
import threading
def helper():  # a second thread that leaks 5 x 50000 bytes
    for _ in range(5):
        keep.append(bytearray(50000))
t = threading.Thread(target=helper, name="helper")
t.start(); t.join()
leaky(); heavy(); peak()
memtrace.stop()
PY
        if PYTHONPATH="$top/build/python" python3 heap.py 2>rec.err; then
            expect 0 "$PLOT_CMD" heap.trace -o heap.svg
            wellformed heap.svg
            has heap.svg 'data-name="RSS"'
            has heap.svg 'data-name="heap in use"'
            # pymalloc's arenas and bytes in use (format 1.4 counters)
            has heap.svg 'data-name="pymalloc arenas"'
            has heap.svg 'data-name="pymalloc in use"'
            # the drawn heap peaks where memtrace-analyze says (min/max kept)
            pk=$("$top/build/bin/memtrace-analyze" --json heap.trace |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["heap"]["peak_bytes"])')
            set -- $($check extremes heap.svg "heap in use")
            near "$2" "$pk" "$(awk -v m="$pk" 'BEGIN { print m / 10000 }')" "heap peak in the SVG"
            [ "$pk" -ge 20000020 ] && ok || bad "heap peak $pk below 20 x 1000001 B"
            expect 0 "$PLOT_CMD" --flame heap.trace -o hf.svg
            wellformed hf.svg
            has hf.svg '>Allocated bytes by stack: heap.trace</text>'
            has hf.svg '>heavy</text>'
            expect 0 "$PLOT_CMD" --flame-weight leak heap.trace -o hl.svg
            has hl.svg '>leaky</text>'
            if grep -q '>heavy</text>' hl.svg; then bad "heavy() leaks nothing"; else ok; fi
            expect 0 "$PLOT_CMD" --flame-weight peak heap.trace -o hp.svg
            has hp.svg '>Heap at its peak by stack: heap.trace</text>'
            has hp.svg 'peak'
            expect 0 "$PLOT_CMD" --flame-weight rss heap.trace -o hr.svg
            has hr.svg '>RSS growth by stack: heap.trace</text>'
            expect 0 "$PLOT_CMD" heap.trace a.trace -o both.svg
            has both.svg 'data-name="heap.trace: heap in use"'
            expect 1 "$PLOT_CMD" --flame-weight alloc a.trace -o x.svg
            has err 'no allocation records for --flame-weight alloc'
            expect 2 "$PLOT_CMD" --flame-weight bytes heap.trace -o x.svg
            # the page: the flame graph and the table by location computed in
            # the browser for a weight, a thread and a window; whole-run totals
            # are memtrace-analyze's
            expect 0 "$PLOT_CMD" heap.trace -o heap.html
            "$top/build/bin/memtrace-analyze" --json --top 0 heap.trace >heapl.json
            "$top/build/bin/memtrace-analyze" --json --top 0 --thread helper heap.trace >heapt.json
            if [ -n "$chromium" ]; then
                hdom() { # hdom FRAGMENT OUT
                    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu \
                        --enable-logging=stderr --v=0 --virtual-time-budget=3000 \
                        --dump-dom "file://$TRASH/${3:-}heap.html#$1" >"$2" 2>>chromium-heap.log
                }
                : >chromium-heap.log
                # n slices; half: between the first and the last allocation's
                set -- $("$PYTHON" -c 'import json,re,sys
tp = json.loads(re.search(r"id=.fg-data.>(.*?)</script>", open(sys.argv[1]).read(), re.S).group(1))["tp"]
born = [tp["recs"][i + 2] for i in range(0, len(tp["recs"]), 7) if tp["recs"][i + 4] & 3 == 0]
print(tp["n"], (min(born) + max(born)) // 2)' heap.html)
                n=$1 half=$2
                for w in peak leak alloc temp rss; do hdom "weight=$w" hw-$w.dom; done
                hdom "weight=alloc&slices=1-$half" hw-a1.dom
                hdom "weight=alloc&slices=$((half + 1))-$n" hw-a2.dom
                hdom "weight=peak&slices=1-$half" hw-p1.dom
                hdom "weight=leak&thread=helper" hw-th.dom
                hdom "weight=temp&view=inverted" hw-inv.dom
                # a drag across the strip's first half, as a user's mouse does
                sed 's#</body>#<script>(function(){var t=document.getElementById("tw"),r=t.getBoundingClientRect();function ev(k,x){t.dispatchEvent(new PointerEvent(k,{clientX:r.left+x*r.width,clientY:r.top+5,bubbles:true,pointerId:1}));}ev("pointerdown",0.01);ev("pointermove",0.3);ev("pointerup",0.5);})();</script></body>#' \
                    heap.html >drag-heap.html
                hdom "weight=alloc" hw-drag.dom drag-
                sed 's#</body>#<script>document.querySelectorAll("table.sortable th")[2].click();</script></body>#' \
                    heap.html >sorted-heap.html
                hdom "weight=alloc" hw-sorted.dom sorted-
                if grep -i "uncaught\|SyntaxError\|TypeError\|ReferenceError" chromium-heap.log; then
                    bad "heap.html: script errors in the browser"
                else ok; fi
                "$PYTHON" - heapl.json heapt.json "$n" "$half" <<'PYEOF' && ok || bad "heap.html: weights, threads, windows"
import html, json, re, sys
full = json.load(open(sys.argv[1]))["heap"]
thr = json.load(open(sys.argv[2]))["heap"]
n, half = int(sys.argv[3]), int(sys.argv[4])
def page(name):
    d = open("hw-%s.dom" % name).read()
    total = int(re.search(r'id="fg-info"[^>]*data-total="(\d+)"', d).group(1))
    win = re.search(r'id="tw"[^>]*data-window="(\d+)-(\d+)"', d).groups()
    tab = d[d.index('id="loc"'):]
    tab = tab[:tab.index("</table>")]
    rows = re.findall(r'<tr><td title="[^"]*">(.*?)(?:  <span class="note">(.*?)</span>)?</td>'
                      r'<td class="n" data-v="([^"]*)">[^<]*</td><td class="n" data-v="([^"]*)">', tab)
    rows = [(html.unescape(a), html.unescape(b), float(o), float(t)) for a, b, o, t in rows]
    title = re.search(r'id="loc-title">([^<]*)<', d).group(1)
    return total, tuple(map(int, win)), rows, title
def near(a, b):
    return abs(a - b) <= 1 + 1e-9 * abs(b)
# whole run: the totals and tables of memtrace-analyze
t, win, rows, title = page("peak")
assert win == (1, n) and title == "By location: heap at its peak", (win, title)
assert near(t, full["peak_bytes"]), (t, full["peak_bytes"])
own = {"%s (%s)" % (a, b): o for a, b, o, tt in rows if o > 0}
want = {"%s (%s:%d)" % (r["function"], r["file"], r["line"]): float(r["bytes"])
        for r in full["peak_by_location"]}
# The page folds stacks under 1/10^4 of every measure into one row.
folded = own.pop("(smaller stacks) ()", 0.0)
missing = {k: v for k, v in want.items() if k not in own}
assert all(k in want and own[k] == want[k] for k in own), (sorted(own.items())[:5],
                                                           sorted(want.items())[:5])
assert near(folded, sum(missing.values())), (folded, missing)
assert all(v < 1e-4 * full["peak_bytes"] for v in missing.values()), missing
t, win, rows, title = page("alloc")
assert near(t, full["total"]["alloc_bytes"]), (t, full["total"]["alloc_bytes"])
assert near(t, sum(r[2] for r in rows)), "the table's own column adds up to the total"
t, win, rows, title = page("leak")
assert near(t, sum(s["bytes"] for s in full["leaks"])), (t, full["leaks"][:2])
assert "leaky" in {r[0] for r in rows} and "heavy" not in {r[0] for r in rows}
t, win, rows, title = page("temp")
assert near(t, sum(s["bytes"] for s in full["temporaries"])), t
assert "heavy" in {r[0] for r in rows}
t, win, rows, title = page("rss")
assert t > 0 and title == "By location: RSS growth", (t, title)
# a thread: the helper's leaks alone
t, win, rows, title = page("th")
assert near(t, sum(s["bytes"] for s in thr["leaks"])) and 250000 <= t < 260000, t
# (the thread's own small blocks, as Thread's, fold into one row)
assert {r[0] for r in rows if r[2] > 0} - {"(smaller stacks)"} == {"helper"}, rows
# windows: two halves partition what was allocated; the first half's peak
# is the heap's greatest at a slice's end in it, below the run's
t1, w1, r1, title = page("a1")
t2, w2, r2, _ = page("a2")
assert w1 == (1, half) and w2 == (half + 1, n), (w1, w2)
assert 0 < t1 < full["total"]["alloc_bytes"] and near(t1 + t2, full["total"]["alloc_bytes"]), (t1, t2)
assert title.startswith("By location: allocated in "), title
tp, wp, rp, title = page("p1")
assert 0 <= tp < full["peak_bytes"], (tp, full["peak_bytes"])
# a drag on the strip sets a window and recomputes
t, win, rows, title = page("drag")
assert win[0] == 1 + int(0.01 * n) and abs(win[1] - (1 + int(0.5 * n))) <= 1, (win, n)
assert t < full["total"]["alloc_bytes"], t
# a click on "total" sorts the rows by it
t, win, rows, title = page("sorted")
tot = [r[3] for r in rows]
assert len(tot) > 2 and tot == sorted(tot, reverse=True), tot[:5]
# the inverted view's tooltips: file:line and the text of that line
d = open("hw-inv.dom").read()
tips = [html.unescape(x) for x in re.findall(r'<div class="fg-n[^"]*"[^>]*? title="([^"]*)"', d)]
want = [x for x in tips if x.startswith("heavy\n")]
assert want and "heap.py:" in want[0] and "b = bytearray(100000)" in want[0], tips[:4]
PYEOF
                timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
                    --virtual-time-budget=3000 --screenshot="$TRASH/heap-window.png" \
                    --window-size=1300,1900 "file://$TRASH/heap.html#weight=peak&slices=1-$half" \
                    >/dev/null 2>&1
                $check png heap-window.png >/dev/null && ok || bad "heap-window.png is blank"
            else
                skip "chromium is not installed: the page's windows and weights are not tried"
            fi
            # the heap as a pprof profile: read back by go tool pprof, its
            # totals those of memtrace-analyze
            expect 0 "$PLOT_CMD" heap.trace -o heap.pb.gz
            gzip -t heap.pb.gz && ok || bad "heap.pb.gz is not gzip"
            expect 1 "$PLOT_CMD" a.trace -o nope.pb.gz
            has err 'no allocation records for a pprof profile'
            expect 2 "$PLOT_CMD" heap.trace heap.trace -o two.pb.gz
            if command -v go >/dev/null 2>&1; then
                "$top/build/bin/memtrace-analyze" --json --top 0 heap.trace >heap.json
                for idx in alloc_space inuse_space leak_space; do
                    go tool pprof -raw -sample_index=$idx heap.pb.gz >pp-$idx.txt 2>pp.err ||
                        { bad "go tool pprof -raw ($idx)"; cat pp.err; }
                done
                go tool pprof -top -sample_index=inuse_space heap.pb.gz >pp-top.txt 2>pp.err &&
                    grep -q "__main__.peak" pp-top.txt && ok || { bad "pprof -top"; cat pp.err; }
                "$PLOT_CMD" --flame-weight rss heap.trace -o heap-rss.folded
                "$PYTHON" - heap.json pp-alloc_space.txt heap-rss.folded <<'PYEOF' && ok || bad "pprof totals"
import json, re, sys
d = json.load(open(sys.argv[1]))["heap"]
raw = open(sys.argv[2]).read()
types = re.search(r"Samples:\n(.*)\n", raw).group(1).split()
assert [t.replace("[dflt]", "") for t in types] == ["alloc_objects/count", "alloc_space/bytes",
    "inuse_objects/count", "inuse_space/bytes", "leak_objects/count", "leak_space/bytes",
    "rss_growth_space/bytes"], types
rows = re.findall(r"^\s+((?:\d+\s+){6}\d+): [\d ]+$", raw, re.M)
assert rows
tot = [0] * 7
for r in rows:
    for k, v in enumerate(r.split()):
        tot[k] += int(v)
def total(table):
    return sum(s["bytes"] for s in d[table]), sum(s["count"] for s in d[table])
assert (tot[1], tot[0]) == total("hotspots_by_bytes"), (tot, total("hotspots_by_bytes"))
assert (tot[3], tot[2]) == total("peak"), (tot, total("peak"))
assert (tot[5], tot[4]) == total("leaks"), (tot, total("leaks"))
assert tot[3] == d["peak_bytes"], (tot[3], d["peak_bytes"])
# RSS growth: what the RSS flame graph holds (each call's own growth, the
# thread's share), by call stack
fold = open(sys.argv[3]).read().split("\n")
assert tot[6] == sum(int(l.rsplit(" ", 1)[1]) for l in fold if l) > 0, tot[6]
PYEOF
                go tool pprof -list 'peak' -sample_index=inuse_space heap.pb.gz 2>/dev/null |
                    grep -q "big = \[bytearray(1000000)" && ok || bad "pprof -list names the line"
            else
                skip "go is not installed (Debian: golang-go): the pprof profile is not read back"
            fi
            # a trace without allocations keeps its RSS flame graph
            expect 0 "$PLOT_CMD" --flame a.trace -o fa.svg
            has fa.svg '>RSS growth by stack: a.trace</text>'
        else
            bad "recording heap.py failed"; cat rec.err
        fi
    else
        skip "the recorder is not built (build/python): no allocation recording"
    fi
fi

echo "== memtrace-plot: process trees (memtrace-poll --tree)"
poll="$(dirname "${PLOT_CMD:-/nonexistent}")/memtrace-poll"
if [ -z "${PLOT_CMD:-}" ] || ! [ -x "$poll" ]; then
    skip "memtrace-plot or memtrace-poll is not built"
else
    # A child with 200 MiB and a grandchild with 100 MiB (tests/poll). The
    # real interpreter, not a pyenv shim: a shim's bash and its subshells
    # carry the script's name in their command lines too.
    py=$(python3 -c 'import sys; print(sys.executable)')
    "$poll" --tree -i 50ms -o tree.trace -- "$py" "$top/tests/poll/poll_workload.py" root 0 2>err
    if [ $? != 0 ]; then bad "memtrace-poll --tree failed"; cat err; else
        expect 0 "$PLOT_CMD" tree.trace -o tree.svg
        wellformed tree.svg
        has tree.svg '<polyline class="series" data-name="total RSS"'
        # one series per python3 process of the tree: root, child, grandchild,
        # known by their command line "INTERPRETER .../poll_workload.py ROLE"
        # (any other process in the tree, e.g. a wrapper, is not counted)
        pids=$("$top/build/bin/memtrace-decode" --json tree.trace 2>/dev/null |
               grep '"type":"proc_sample"' |
               sed -n 's/.*"pid":\([0-9]*\),.*"cmdline":"[^" ]* [^" ]*\/poll_workload\.py .*/\1/p' |
               sort -u)
        n=0
        for p in $pids; do n=$((n + 1)); has tree.svg "data-name=\"python3 ($p)\""; done
        if [ "$n" = 3 ]; then ok; else bad "want 3 workload processes, got $n"; fi
        if grep -qF 'data-name="RSS"' tree.svg; then bad "a tree trace has no single RSS line"; else ok; fi
        # the total's peak is the sum: >= 300 MiB, read back from the SVG
        peak=$($check extremes tree.svg "total RSS" 2>/dev/null | cut -d" " -f2)
        if [ -n "$peak" ] && awk -v p="$peak" 'BEGIN { exit !(p >= 300 * 1048576) }'
        then ok; else bad "total RSS peak '$peak' < 300 MiB"; fi
        # labels: markers of an in-process poll with a child (recorder)
        expect 0 "$PLOT_CMD" --gnuplot tree.trace -o tree.gp
        has tree.gp 'total RSS'
    fi
fi

echo "test-plot: $pass passed, $fail failed"
[ "$fail" = 0 ]
