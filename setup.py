"""Build memtrace for `pip install .`: the extension memtrace._memtrace from
recorder/*.c and format/*.c (linked with libzstd; xxHash is header-only), the
package from python/memtrace/, and memtrace-autostart.pth into site-packages
(it starts recording at interpreter start-up when MEMTRACE is set).

Native allocation tracking needs recorder/preload/mt_preload.c as a plain
shared library for LD_PRELOAD; it is built here as the "extension"
memtrace._preload (no Python inside: only its file is used, by the launcher's
--native). `make` builds the same thing in-tree with recorder/build_ext.sh."""

import glob
import os
import shutil

from setuptools import Extension, setup
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
    cmdclass={"build_py": build_py_with_pth},
)
