"""Build memtrace for `pip install .`: the extension memtrace._memtrace from
recorder/*.c and format/*.c (linked with libzstd; xxHash is header-only), the
package from python/memtrace/, and memtrace-autostart.pth into site-packages
(it starts recording at interpreter start-up when MEMTRACE is set).

Native allocation tracking needs recorder/preload/mt_preload.c as a plain
shared library for LD_PRELOAD; it is built here as the "extension"
memtrace._preload (no Python inside: only its file is used, by the launcher's
--native). `make` builds the same thing in-tree with recorder/build_ext.sh.

The C tools (memtrace-analyze, -decode, -diff, -filter, -plot, -poll) are
built by build_ext too, with the same compiler, into the package's bin/
directory, where the `memtrace` command (memtrace/cli.py) finds them: one
`pip install` gives every subcommand, no make and no PYTHONPATH."""

import glob
import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class build_py_with_pth(build_py):
    """Also put memtrace-autostart.pth at the root of the wheel, which is
    site-packages once installed."""

    def run(self):
        super().run()
        src = os.path.join(HERE, "python", "memtrace-autostart.pth")
        self.mkpath(self.build_lib)
        shutil.copy(src, os.path.join(self.build_lib, "memtrace-autostart.pth"))


# The tools: name -> their own sources (each also links FORMAT and the
# shared CLI helpers), as analyze/analyze.mk, plot/plot.mk and poll/poll.mk
# link them.
CLI = ["analyze/mt_cli.c"]
RECFMT = ["analyze/mt_recfmt.c"]
ANALYSIS = ["analyze/mt_analysis.c", "analyze/mt_analysis_pass1.c", "analyze/mt_heap.c", "analyze/mt_horder.c", "analyze/mt_objs.c",
            "analyze/mt_charge.c"]
TOOLS = {
    "decode": ["analyze/memtrace_decode.c", "analyze/mt_select.c"] + CLI + RECFMT,
    "filter": ["analyze/memtrace_filter.c", "analyze/mt_select.c"] + CLI + RECFMT,
    "analyze": ["analyze/memtrace_analyze.c", "analyze/mt_analyze_json.c", "analyze/mt_tree.c",
                "analyze/mt_objreport.c"] + ANALYSIS + CLI + RECFMT,
    "diff": ["analyze/memtrace_diff.c", "analyze/mt_diff_out.c", "analyze/mt_objdiff.c"] + ANALYSIS + CLI + RECFMT,
    "bpf": ["dtrace/memtrace_bpf.c"] + CLI,
    "plot": ["plot/memtrace_plot.c", "plot/memtrace_plot_out.c", "plot/mt_plot_util.c",
             "plot/mt_plot_timeline.c", "plot/mt_plot_flame.c", "plot/mt_plot_page.c",
             "plot/mt_plot_tprof.c",
             "analyze/mt_pprof.c"] + ANALYSIS + CLI,
    "poll": ["poll/memtrace_poll.c", "poll/mt_procfs.c"] + CLI,
}
TOOL_CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]


class build_ext_and_tools(build_ext):
    """The extensions, then the tools into <package>/bin/."""

    def run(self):
        super().run()
        self.build_tools()

    def build_tools(self):
        cc = self.compiler
        tmp = os.path.join(self.build_temp, "tools")
        fmt = rel("format/*.c")
        objs = {}
        every = sorted(set(fmt + [s for srcs in TOOLS.values() for s in srcs]))
        for src in every:  # each source once, shared by the tools that link it
            objs[src] = cc.compile([src], output_dir=tmp,
                                   include_dirs=["format", "analyze", "plot", "poll"],
                                   extra_postargs=TOOL_CFLAGS)[0]
        out = os.path.join(self.build_lib, "memtrace", "bin")
        self.mkpath(out)
        for name, srcs in TOOLS.items():
            cc.link_executable([objs[s] for s in srcs + fmt], "memtrace-" + name,
                               output_dir=out, libraries=["zstd", "m"])


def rel(pattern):
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


setup(
    packages=["memtrace"],
    package_dir={"": "python"},
    ext_modules=[
        Extension(
            "memtrace._memtrace",
            # poll/mt_procfs.c: the /proc reader of memtrace-poll, used by
            # the in-process poller (recorder/mt_procwatch.c).
            sources=rel("recorder/*.c") + rel("format/*.c") + ["poll/mt_procfs.c"],
            include_dirs=["format", "recorder", "poll"],
            libraries=["zstd", "dl", "m"],
            extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Werror",
                                "-Wno-missing-field-initializers", "-pthread"],
            extra_link_args=["-pthread"],
        ),
        Extension(
            "memtrace._preload",
            sources=["recorder/preload/mt_preload.c"],
            include_dirs=["format"],
            libraries=["dl"],
            extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Werror",
                                "-fvisibility=hidden"],
        ),
    ],
    cmdclass={"build_py": build_py_with_pth, "build_ext": build_ext_and_tools},
)
