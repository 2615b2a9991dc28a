#!/bin/sh
# deps.sh - make sure the system packages memtrace builds and tests with are
# present. Run by `make deps` (and so by `make` and `make test`).
#
# Each need is checked by trying it, not by asking dpkg, so a machine that has
# the tools from elsewhere is left alone. What is missing is installed with
# apt-get when we are root on Debian/Ubuntu; otherwise we say exactly what to
# install and fail.
#
# Usage: deps.sh [build|test|all]   (default: all)
set -u
what=${1:-all}
CC=${CC:-cc}
missing=""

need() { # need PACKAGE: remember a Debian package to install
    case " $missing " in *" $1 "*) ;; *) missing="$missing $1" ;; esac
}
has_header() { # has_header HEADER [LIB]: compile and link a tiny program
    printf '#include <%s>\nint main(void){return 0;}\n' "$1" |
        $CC -x c - -o /dev/null ${2:+-l$2} >/dev/null 2>&1
}

has_header zstd.h zstd || need libzstd-dev
has_header xxhash.h || need libxxhash-dev
command -v pkg-config >/dev/null 2>&1 || need pkg-config
command -v make >/dev/null 2>&1 || need make
# The recorder's static probes (dtrace/memtrace.d) need <sys/sdt.h>; without
# it they are compiled out.
has_header sys/sdt.h || need systemtap-sdt-dev

if [ "$what" != build ]; then
    # libFuzzer comes with clang; on Debian 12 its runtime is a separate package.
    if ! command -v clang >/dev/null 2>&1; then
        need clang; need libclang-rt-14-dev
    elif ! printf 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){(void)d;(void)n;return 0;}\n' |
            clang -x c - -fsanitize=fuzzer -o /dev/null >/dev/null 2>&1; then
        need libclang-rt-14-dev
    fi
    command -v zstd >/dev/null 2>&1 || need zstd
    # tests/dtrace: bpftrace runs the scripts of dtrace/ against the probes
    # (as root; without root they are skipped with the reason), and the
    # systemtap dtrace tool checks the provider file.
    command -v bpftrace >/dev/null 2>&1 || need bpftrace
    command -v dtrace >/dev/null 2>&1 || need systemtap-sdt-dev
    command -v xmllint >/dev/null 2>&1 || need libxml2-utils
    command -v gnuplot >/dev/null 2>&1 || need gnuplot-nox
    # memtrace-plot's pprof profiles are read back by go tool pprof.
    command -v go >/dev/null 2>&1 || need golang-go
    # memtrace-plot's test screenshots its SVG in a headless browser.
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
        need chromium
fi

[ -z "$missing" ] && exit 0

echo "deps: missing Debian packages:$missing" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing them with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists yet; update once, then install.
    apt-get update -qq >&2 || true
    # shellcheck disable=SC2086
    if apt-get install -y -qq --no-install-recommends $missing >&2; then
        exit 0
    fi
    echo "deps: apt-get install failed" >&2
    exit 1
fi
echo "deps: please install them, e.g.: sudo apt-get install$missing" >&2
exit 1
