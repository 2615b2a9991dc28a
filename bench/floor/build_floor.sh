#!/bin/sh
# build_floor.sh PYTHON OUTDIR - build the _mt_floor extension (do-nothing
# hooks, bench/floor/mt_floor.c) for PYTHON into OUTDIR, so that
# PYTHONPATH=OUTDIR PYTHON -c "import _mt_floor" works. Used by
# `make bench-recorder` (into build/bench) and by bench/bench_recorder.py
# for other interpreters (into build/bench/py/<version>).
#
# Honours CC and CFLAGS (default -O2 -g), built like the recorder
# (recorder/build_ext.sh) so that both sides of the ratio get the same flags.
set -eu
py=$1
out=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -g}
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
mkdir -p "$out"
# shellcheck disable=SC2086
$CC $CFLAGS -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
    -Wno-missing-field-initializers -fPIC -shared -I"$inc" \
    "$top/bench/floor/mt_floor.c" -o "$out/_mt_floor$suffix.tmp"
mv "$out/_mt_floor$suffix.tmp" "$out/_mt_floor$suffix"
