# recorder/: the CPython extension memtrace._memtrace (plain-C core
# mt_recorder.c, in-process poller mt_procwatch.c with poll/mt_procfs.c,
# hooks mt_hooks.c, module mt_module.c, plus format/*.c) and
# the pure-Python package python/memtrace/.
#
#   make                 builds it for $(PYTHON) into build/python, so that
#                        PYTHONPATH=build/python $(PYTHON) -c "import memtrace"
#   make test-python     pytest tests/python on every CPython >= 3.9 under
#                        /root/.pyenv/versions (or $(PYTHON) alone if none)
#   pip install .        the same package, built by setup.py
#   build/lib/libmemtrace-preload.so
#                        the LD_PRELOAD library of native allocation tracking
#                        (recorder/preload/; also copied next to the package
#                        by build_ext.sh, where the launcher finds it)

REC_SRCS := $(wildcard recorder/*.c) $(wildcard format/*.c) recorder/preload/mt_preload.c \
            poll/mt_procfs.c
REC_HDRS := $(wildcard recorder/*.h) $(wildcard format/*.h) recorder/preload/mt_preload.h \
            poll/mt_procfs.h
REC_PY := $(wildcard python/memtrace/*.py) python/memtrace-autostart.pth
REC_STAMP := $(B)/python/.memtrace-built

$(REC_STAMP): $(REC_SRCS) $(REC_HDRS) $(REC_PY) recorder/build_ext.sh | $(DEPS_STAMP)
	@$(if $(Q),echo "  PYEXT $(B)/python ($(PYTHON))")
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" sh recorder/build_ext.sh $(PYTHON) $(B)/python
	$(Q)touch $@

python-package: $(REC_STAMP) ## Build the memtrace Python package into build/python

PRELOAD_LIB := $(LIBDIR)/libmemtrace-preload.so
$(PRELOAD_LIB): recorder/preload/mt_preload.c recorder/preload/mt_preload.h format/memtrace_format.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD  $@")
	$(Q)$(CC) $(CFLAGS) $(MT_CFLAGS) -shared -fvisibility=hidden -o $@ $< $(LDFLAGS) -ldl

preload: $(PRELOAD_LIB) ## Build the LD_PRELOAD library for native allocation tracking

.PHONY: python-package test-python preload
test-python: $(REC_STAMP) $(DECODE) ## Run the recorder's pytest suite on every Python >= 3.9
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" PYTHON="$(PYTHON)" sh tests/python/run.sh

ALL_TARGETS += $(REC_STAMP) $(PRELOAD_LIB)
TEST_TARGETS += test-python
CLEAN_FILES += python/memtrace.egg-info
