# memtrace - top-level Makefile.
#
#   make            build every command into build/bin and the Python
#                   package into build/python
#   make test       run every test (installs what is missing first)
#   make help       list the targets
#
# Honours CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR; V=1 shows full commands.
# Each area adds its rules in its own fragment (format/format.mk, ...).

.DEFAULT_GOAL := all
SHELL := /bin/bash

CC ?= cc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= python3

B := build
BIN := $(B)/bin
OBJ := $(B)/obj
LIBDIR := $(B)/lib

# Flags every C file of ours is built with, whatever CFLAGS says.
MT_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wno-missing-field-initializers -fPIC -Iformat
MT_LDLIBS := -lzstd

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Targets the fragments add to.
ALL_TARGETS :=
TEST_TARGETS :=
CLEAN_FILES :=

DEPS_STAMP := $(B)/.deps-ok

.PHONY: all test help clean deps demo fuzz bench install

all: ## Build every command and the Python package (runs deps first)
test: ## Run every test: unit, sanitizer, spec examples, fuzz (bounded), Python
demo: ## Record, analyze and plot a demo workload into build/demo/

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | \
	    awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}' | sort -u

deps: $(DEPS_STAMP) ## Install missing system packages (apt-get when root)
$(DEPS_STAMP): scripts/deps.sh
	$(Q)sh scripts/deps.sh all
	$(Q)mkdir -p $(B) && touch $@

clean: ## Remove build/
	rm -rf $(B) $(CLEAN_FILES)

$(OBJ)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) $(MT_CFLAGS) -MMD -MP -c $< -o $@

include format/format.mk
-include analyze/analyze.mk
-include plot/plot.mk
-include recorder/recorder.mk
-include poll/poll.mk
-include dtrace/dtrace.mk
-include tests/tests.mk
-include tests/spec/spec.mk
-include bench/bench.mk

# A self-contained wheel (auditwheel: libzstd inside), tried in a new venv
# (part of make test; skipped, saying so, when PyPI cannot be reached).
.PHONY: wheel test-wheel
wheel: ## Build a manylinux wheel into build/wheelhouse and try it in a new venv
	sh scripts/wheel.sh $(PYTHON) $(B)/wheelhouse
test-wheel: | $(DEPS_STAMP)
	$(Q)sh scripts/wheel.sh $(PYTHON) $(B)/wheelhouse >$(B)/wheel.log 2>&1; rc=$$?; \
	    if [ $$rc = 77 ]; then grep SKIP $(B)/wheel.log; \
	    elif [ $$rc != 0 ]; then cat $(B)/wheel.log; exit 1; else tail -1 $(B)/wheel.log; fi
TEST_TARGETS += test-wheel

all: $(ALL_TARGETS)
test: all $(TEST_TARGETS)
	@echo "make test: all tests passed"

install: all ## Install the commands into $(DESTDIR)$(PREFIX)/bin
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(wildcard $(BIN)/memtrace-*) $(DESTDIR)$(PREFIX)/bin

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# The demo: build, record examples/demo.py, check, analyze and plot it.
DEMO := $(B)/demo
demo: all
	@mkdir -p $(DEMO)
	PYTHONPATH=$(B)/python $(PYTHON) -m memtrace run -f -o $(DEMO)/demo.trace examples/demo.py
	$(BIN)/memtrace-decode --check $(DEMO)/demo.trace
	$(BIN)/memtrace-analyze $(DEMO)/demo.trace
	$(BIN)/memtrace-plot $(DEMO)/demo.trace -o $(DEMO)/demo.html
	$(BIN)/memtrace-plot $(DEMO)/demo.trace -o $(DEMO)/demo.svg
	$(BIN)/memtrace-plot --flame $(DEMO)/demo.trace -o $(DEMO)/demo-flame.svg
	$(BIN)/memtrace-plot $(DEMO)/demo.trace -o $(DEMO)/demo.png
	@echo "demo: wrote $(DEMO)/demo.trace, demo.html, demo.svg, demo-flame.svg, demo.png"

