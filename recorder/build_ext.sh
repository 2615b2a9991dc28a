#!/bin/sh
# build_ext.sh PYTHON OUTDIR - build memtrace._memtrace for PYTHON into
# OUTDIR/memtrace/ next to a copy of python/memtrace/*.py, so that
# PYTHONPATH=OUTDIR PYTHON -c "import memtrace" works. Used by `make` (for
# $(PYTHON), into build/python) and by tests/python/run.sh (one OUTDIR per
# Python version). setup.py builds the same sources for `pip install .`.
#
# The in-process poller (recorder/mt_procwatch.c) reads /proc through
# poll/mt_procfs.c, memtrace-poll's reader, compiled in here.
#
# Honours CC and CFLAGS (default -O2 -g). Always warning-free: -Werror.
set -eu
py=$1
out=$2
top=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -g}
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
mkdir -p "$out/memtrace"
cp "$top"/python/memtrace/*.py "$out/memtrace/"
cp "$top/python/memtrace-autostart.pth" "$out/"
# shellcheck disable=SC2086
$CC $CFLAGS -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
    -Wno-missing-field-initializers -fPIC -shared -pthread \
    -I"$top/format" -I"$top/recorder" -I"$top/poll" -I"$inc" \
    "$top"/recorder/*.c "$top"/format/*.c "$top/poll/mt_procfs.c" \
    -o "$out/memtrace/_memtrace$suffix.tmp" -lzstd -ldl -lm
mv "$out/memtrace/_memtrace$suffix.tmp" "$out/memtrace/_memtrace$suffix"
# The LD_PRELOAD library for native allocation tracking (--native), next to
# the package so that the launcher finds it.
$CC $CFLAGS -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
    -fPIC -shared -fvisibility=hidden -I"$top/format" \
    "$top/recorder/preload/mt_preload.c" -o "$out/memtrace/libmemtrace-preload.so.tmp" -ldl
mv "$out/memtrace/libmemtrace-preload.so.tmp" "$out/memtrace/libmemtrace-preload.so"
# The C tools for the memtrace command (memtrace/cli.py looks in
# memtrace/bin/): the tree's build/bin, which `make` fills. (pip install
# builds them into the package instead: setup.py.)
ln -sfn "$top/build/bin" "$out/memtrace/bin"
