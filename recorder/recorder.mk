# recorder/: the CPython extension memtrace._memtrace (plain-C core
# mt_recorder.c, hooks mt_hooks.c, module mt_module.c, plus format/*.c) and
# the pure-Python package python/memtrace/.
#
#   make                 builds it for $(PYTHON) into build/python, so that
#                        PYTHONPATH=build/python $(PYTHON) -c "import memtrace"
#   make test-python     pytest tests/python on every CPython >= 3.9 under
#                        /root/.pyenv/versions (or $(PYTHON) alone if none)
#   pip install .        the same package, built by setup.py

REC_SRCS := $(wildcard recorder/*.c) $(wildcard format/*.c)
REC_HDRS := $(wildcard recorder/*.h) $(wildcard format/*.h)
REC_PY := $(wildcard python/memtrace/*.py) python/memtrace-autostart.pth
REC_STAMP := $(B)/python/.memtrace-built

$(REC_STAMP): $(REC_SRCS) $(REC_HDRS) $(REC_PY) recorder/build_ext.sh | $(DEPS_STAMP)
	@$(if $(Q),echo "  PYEXT $(B)/python ($(PYTHON))")
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" sh recorder/build_ext.sh $(PYTHON) $(B)/python
	$(Q)touch $@

python-package: $(REC_STAMP) ## Build the memtrace Python package into build/python

.PHONY: python-package test-python
test-python: $(REC_STAMP) $(DECODE) ## Run the recorder's pytest suite on every Python >= 3.9
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" PYTHON="$(PYTHON)" sh tests/python/run.sh

ALL_TARGETS += $(REC_STAMP)
TEST_TARGETS += test-python
CLEAN_FILES += python/memtrace.egg-info
