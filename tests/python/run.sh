#!/bin/sh
# run.sh - run the recorder's pytest suite (tests/python) on every CPython
# >= 3.9 under /root/.pyenv/versions, or on $PYTHON when there is none.
#
# For each version: a venv under build/venv/<ver> with pytest and, when they
# install, numpy (and on $PYTHON's version pytest-xdist and IPython), made
# once, pip from PyPI; the extension built for that interpreter into
# build/py/<ver>, then pytest with PYTHONPATH=build/py/<ver> and
# MEMTRACE_DECODE=build/bin/memtrace-decode. Prints one verdict line per
# version and "N passed, N failed" (versions) last; exits 1 if any failed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
decode="$top/build/bin/memtrace-decode"
[ -x "$decode" ] || { echo "run.sh: $decode is missing (make memtrace-decode)" >&2; exit 1; }

pythons=""
for d in /root/.pyenv/versions/3.*; do
    [ -x "$d/bin/python" ] || continue
    minor=$(basename "$d" | cut -d. -f2)
    case $minor in *[!0-9]*|'') continue ;; esac
    [ "$minor" -ge 9 ] && pythons="$pythons $d/bin/python"
done
[ -n "$pythons" ] || pythons=${PYTHON:-python3}

main_ver=$("${PYTHON:-python3}" -c 'import platform; print(platform.python_version())' 2>/dev/null)
passed=0
failed=0
failed_names=""
for py in $pythons; do
    ver=$("$py" -c 'import platform; print(platform.python_version())') || continue
    venv="$top/build/venv/$ver"
    if ! "$venv/bin/python" -c 'import pytest' >/dev/null 2>&1; then
        echo "== $ver: making $venv (pip install pytest)"
        rm -rf "$venv"
        "$py" -m venv "$venv" &&
            "$venv/bin/python" -m pip install -q --disable-pip-version-check pytest ||
            { echo "FAILED: $ver: cannot make the venv"; failed=$((failed + 1)); continue; }
    fi
    # numpy, for the known-truth tests of C-extension memory: optional
    # (they skip, saying why, when it cannot be installed); tried once.
    if ! "$venv/bin/python" -c 'import numpy' >/dev/null 2>&1 && [ ! -e "$venv/.no-numpy" ]; then
        "$venv/bin/python" -m pip install -q --disable-pip-version-check numpy >/dev/null 2>&1 ||
            { echo "== $ver: numpy could not be installed: its tests skip"; touch "$venv/.no-numpy"; }
    fi
    # pytest-xdist and IPython, for the pytest plugin's and the magic's
    # tests: optional likewise (those tests skip, saying why), and on the
    # main Python only (what they test is Python-level; CI time is bounded).
    extra=""
    [ "$ver" = "$main_ver" ] && extra="pytest-xdist ipython"
    for pkg in $extra; do
        mod=$(echo "$pkg" | sed 's/pytest-//; s/ipython/IPython/')
        if ! "$venv/bin/python" -c "import $mod" >/dev/null 2>&1 && [ ! -e "$venv/.no-$pkg" ]; then
            "$venv/bin/python" -m pip install -q --disable-pip-version-check "$pkg" >/dev/null 2>&1 ||
                { echo "== $ver: $pkg could not be installed: its tests skip"; touch "$venv/.no-$pkg"; }
        fi
    done
    echo "== Python $ver"
    if ! sh recorder/build_ext.sh "$py" "$top/build/py/$ver"; then
        echo "FAILED: $ver: build"
        failed=$((failed + 1))
        failed_names="$failed_names $ver"
        continue
    fi
    if MEMTRACE_DECODE="$decode" PYTHONPATH="$top/build/py/$ver" \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names="$failed_names $ver"
    fi
done
[ -z "$failed_names" ] || echo "failed on:$failed_names"
echo "python versions: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
