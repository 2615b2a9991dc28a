# bench/: speed and size benchmarks. Not tests: nothing here fails on a
# timing, so these targets are in neither ALL_TARGETS nor TEST_TARGETS.
#
#   make bench             memtrace against its peers (bench/bench_peers.py):
#                          writes bench/RESULTS.md, <= 20 minutes
#   make bench-quick       the same, quick (<= 3 minutes; build/bench/peers-quick.md)
#   make bench-components  every per-component benchmark below (format,
#                          recorder, analyze, plot, alloc, poll, diff)
#   make bench-all         both

# bench, bench-quick: the comparison with pymemtrace, mempulse, memray,
# tracemalloc, memory_profiler/mprof, Scalene and Fil. The peers are pip
# installed into their own venv ($(BENCH_VENV), made with $(PYTHON)) by the
# script; one that does not install is reported, not an error.
BENCH_VENV := $(B)/bench/venv

.PHONY: bench bench-quick bench-components bench-all
bench: $(REC_STAMP) $(DECODE) $(ANALYZE) ## memtrace vs pymemtrace, mempulse, memray, tracemalloc, memory_profiler, Scalene, Fil: writes bench/RESULTS.md (<= 20 min)
	$(PYTHON) bench/bench_peers.py --venv $(BENCH_VENV) $(BENCH_ARGS)

bench-quick: $(REC_STAMP) $(DECODE) $(ANALYZE) ## The same, quick: 2 rounds of small workloads (<= 3 min; build/bench/peers-quick.md)
	$(PYTHON) bench/bench_peers.py --quick --venv $(BENCH_VENV) $(BENCH_ARGS)

bench-components: ## Run every per-component benchmark (format, recorder, analyze, plot, alloc, poll, diff, report, snapshots)

bench-all: bench-components bench ## bench-components, then bench

BENCH_FORMAT := $(BIN)/bench-format

# -O2 after CFLAGS: a benchmark built without optimisation measures nothing
# useful. No -march=native, so the numbers are those of a portable build.
$(BENCH_FORMAT): bench/bench_format.c format/memtrace_format.h $(FORMAT_LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD  $@")
	$(Q)$(CC) $(CFLAGS) $(MT_CFLAGS) -O2 -o $@ bench/bench_format.c \
	    $(FORMAT_LIB) $(LDFLAGS) $(MT_LDLIBS) -lm

.PHONY: bench-format
bench-format: $(BENCH_FORMAT) ## Print format encode/decode speed and bytes/event (BENCH_ARGS=-q: quick)
	$(BENCH_FORMAT) $(BENCH_ARGS)

bench-components: bench-format

# bench-recorder: memtrace's overhead per mode against bare Python and the
# do-nothing hook floor (bench/floor/mt_floor.c, the _mt_floor extension),
# with $(PYTHON); other interpreters: python3 bench/bench_recorder.py
# --python PATH. Writes build/bench/recorder.md. Several minutes.
FLOOR_STAMP := $(B)/bench/.mt-floor-built

$(FLOOR_STAMP): bench/floor/mt_floor.c bench/floor/build_floor.sh | $(DEPS_STAMP)
	@$(if $(Q),echo "  PYEXT $(B)/bench/_mt_floor ($(PYTHON))")
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" sh bench/floor/build_floor.sh $(PYTHON) $(B)/bench
	$(Q)touch $@

.PHONY: bench-recorder bench-recorder-quick
bench-recorder: $(REC_STAMP) $(DECODE) $(FLOOR_STAMP) ## Recorder overhead per mode vs bare and do-nothing hooks (BENCH_ARGS: more options)
	$(PYTHON) bench/bench_recorder.py $(BENCH_ARGS)

bench-recorder-quick: $(REC_STAMP) $(DECODE) $(FLOOR_STAMP) ## The same, quick: 3 runs of smaller workloads (~1 minute)
	$(PYTHON) bench/bench_recorder.py --quick $(BENCH_ARGS)

bench-components: bench-recorder

# bench-analyze: the analysis core (mt_analysis_run, two passes) against a
# bare decode loop, on a synthetic trace of 1e9 events written into
# build/bench and deleted afterwards (BENCH_ARGS="-n 1e8": quick).
BENCH_ANALYZE := $(BIN)/bench-analyze

$(BENCH_ANALYZE): bench/bench_analyze.c bench/bench_gen.h analyze/mt_analysis.c analyze/mt_analysis_pass1.c \
                  analyze/mt_analysis.h analyze/mt_analysis_int.h \
                  analyze/mt_heap.c analyze/mt_heap.h analyze/mt_horder.c analyze/mt_horder.h analyze/mt_objs.c analyze/mt_objs.h analyze/mt_charge.c analyze/mt_charge.h \
                  format/memtrace_format.h $(FORMAT_LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD  $@")
	$(Q)$(CC) $(CFLAGS) $(MT_CFLAGS) -O2 -o $@ bench/bench_analyze.c analyze/mt_analysis.c analyze/mt_analysis_pass1.c analyze/mt_heap.c analyze/mt_horder.c analyze/mt_objs.c analyze/mt_charge.c \
	    $(FORMAT_LIB) $(LDFLAGS) $(MT_LDLIBS)

.PHONY: bench-analyze
bench-analyze: $(BENCH_ANALYZE) ## Analysis speed (events/s, one core) and peak RSS on 1e9 events (BENCH_ARGS="-n 1e8": quick)
	$(BENCH_ANALYZE) $(BENCH_ARGS)

bench-components: bench-analyze

# bench-plot: libmemtrace-plot alone (bench/bench_plot.c: 100 M points and
# 50 M spans; BENCH_ARGS=-q: 10 M), then memtrace-plot end to end on a
# synthetic 100 M-event trace (SVG timeline and flame graph), with time
# and peak memory. The trace is kept in build/bench/plot-100m.trace.
BENCH_PLOT := $(BIN)/bench-plot
BENCH_PLOT_TRACE := $(B)/bench/plot-100m.trace

$(BENCH_PLOT): bench/bench_plot.c plot/mt_plot.h $(PLOT_LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD  $@")
	$(Q)$(CC) $(CFLAGS) $(MT_CFLAGS) -Iplot -O2 -o $@ bench/bench_plot.c \
	    $(PLOT_LIB) $(LDFLAGS) -lm

$(BENCH_PLOT_TRACE): $(PLOT_TEST_MKTRACE)
	@mkdir -p $(dir $@)
	$(PLOT_TEST_MKTRACE) $@ 100000000 >/dev/null

.PHONY: bench-plot
bench-plot: $(BENCH_PLOT) $(PLOT_CMD) $(BENCH_PLOT_TRACE) ## Plotting speed: library, and memtrace-plot on a 100 M-event trace
	$(BENCH_PLOT) $(BENCH_ARGS)
	@echo "memtrace-plot, $(BENCH_PLOT_TRACE) ($$(du -h $(BENCH_PLOT_TRACE) | cut -f1), 100 M records):"
	@/usr/bin/env time -f "  timeline SVG  %e s, peak RSS %M KiB" $(PLOT_CMD) $(BENCH_PLOT_TRACE) -o $(B)/bench/plot-100m.svg
	@/usr/bin/env time -f "  flame graph   %e s, peak RSS %M KiB" $(PLOT_CMD) --flame $(BENCH_PLOT_TRACE) -o $(B)/bench/plot-100m-flame.svg
	@/usr/bin/env time -f "  (memtrace-decode --check: %e s, the cost of one read)" $(BIN)/memtrace-decode --check $(BENCH_PLOT_TRACE) >/dev/null

bench-components: bench-plot

# bench-alloc: allocation tracking (exact, sampled) against bare, against
# tracemalloc and against do-nothing allocator hooks (the floor, in
# _mt_floor), with $(PYTHON); writes build/bench/alloc.md. A few minutes.
.PHONY: bench-alloc bench-alloc-quick
bench-alloc: $(REC_STAMP) $(DECODE) $(FLOOR_STAMP) ## Allocation tracking overhead vs bare, tracemalloc and do-nothing allocator hooks, bytes/event (BENCH_ARGS: more options)
	$(PYTHON) bench/bench_alloc.py $(BENCH_ARGS)

bench-alloc-quick: $(REC_STAMP) $(DECODE) $(FLOOR_STAMP) ## The same, quick: 3 runs of smaller workloads
	$(PYTHON) bench/bench_alloc.py --quick $(BENCH_ARGS)

# bench-heap-order: memtrace-analyze on the same exact allocation trace made
# by the main thread alone and by 1, 4 and 16 workers: what summing the heap
# in time order across threads costs (analyze/mt_horder.h).
bench-heap-order: $(REC_STAMP) $(DECODE) $(ANALYZE) ## Analysis time, RSS and out-of-order changes: one thread vs 1-16 workers
	$(PYTHON) bench/bench_heap_order.py $(BENCH_ARGS)

bench-components: bench-heap-order

bench-components: bench-alloc

# bench-poll: memtrace-poll's own CPU time at 10 ms and 100 ms intervals,
# watching one process, a tree of 50, and one of 500 MiB; writes
# build/bench/poll.md. About a minute (BENCH_ARGS=--quick: 20 s).
.PHONY: bench-poll
bench-poll: $(POLL) ## memtrace-poll CPU cost: 10/100 ms, 1 and 50 processes (BENCH_ARGS=--quick)
	$(PYTHON) bench/bench_poll.py --poll $(POLL) $(BENCH_ARGS)

bench-components: bench-poll

# bench-diff: memtrace-diff end to end on two synthetic traces of 1e9
# events each (bench/bench_diff.c; the shape of bench-analyze's), written
# into build/bench and deleted afterwards: events/s per core and peak RSS
# (BENCH_ARGS="-n 1e8": quick).
BENCH_DIFF := $(BIN)/bench-diff

$(BENCH_DIFF): bench/bench_diff.c bench/bench_gen.h format/memtrace_format.h $(FORMAT_LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD  $@")
	$(Q)$(CC) $(CFLAGS) $(MT_CFLAGS) -O2 -o $@ bench/bench_diff.c \
	    $(FORMAT_LIB) $(LDFLAGS) $(MT_LDLIBS)

.PHONY: bench-diff
bench-diff: $(BENCH_DIFF) $(DIFF) ## memtrace-diff speed (events/s, one core) and peak RSS on 2 x 1e9 events (BENCH_ARGS="-n 1e8": quick)
	$(BENCH_DIFF) $(BENCH_ARGS) $(DIFF)

bench-components: bench-diff

# regrtest: CPython's own regression tests (python -m test: json, re,
# threading, pickle, pdb, sys_settrace, subprocess, multiprocessing_fork, ...)
# bare and with memtrace recording every process from start-up in each mode,
# on every CPython 3.9+ under ~/.pyenv (bench/regrtest.py). A check, not a
# timing, but too slow for make test: several minutes per version and mode.
# Writes build/regrtest/RESULTS.md; exit 1 if a mode differs from bare.
.PHONY: regrtest regrtest-quick
regrtest: $(DECODE) ## CPython's regression tests bare vs every memtrace mode, every Python 3.9+ (slow; build/regrtest/RESULTS.md)
	$(PYTHON) bench/regrtest.py $(REGRTEST_ARGS)

regrtest-quick: $(DECODE) ## The same on a shorter test list (REGRTEST_ARGS="--versions 3.12": fewer)
	$(PYTHON) bench/regrtest.py --quick $(REGRTEST_ARGS)

# bench-report: memtrace-plot's HTML report against memray's flame graph
# HTML for the same allocation churn at ~10^6, 10^7 and 10^8 memtrace
# records: size and headless-Chromium open time; writes build/bench/report.md
# (BENCH_ARGS=--quick: the two smaller sizes). Uses memray from the peer
# bench's venv when it is there.
.PHONY: bench-report
bench-report: $(REC_STAMP) $(DECODE) $(PLOT_CMD) ## HTML report size and open time vs memray's flame graph (BENCH_ARGS=--quick)
	$(PYTHON) bench/bench_report.py --venv $(BENCH_VENV) $(BENCH_ARGS)

bench-components: bench-report

# bench-snapshots: memtrace.trace_malloc / debug_malloc_stats around one
# block beside pymemtrace's TraceMalloc / DiffSysDebugMallocStats (from the
# peers' venv, which make bench makes); writes build/bench/snapshots.md.
.PHONY: bench-snapshots
bench-snapshots: $(REC_STAMP) ## trace_malloc / debug_malloc_stats cost vs pymemtrace's on the same blocks
	$(PYTHON) bench/bench_snapshots.py --venv $(BENCH_VENV) $(BENCH_ARGS)

bench-components: bench-snapshots

# bench-objects: object tracking (CPython 3.13+) beside memray's
# track_object_lifetimes and pymemtrace's ReferenceTracing, in a 3.13 venv
# of its own (BENCH_PY313=...); writes build/bench/objects.md.
BENCH_PY313 ?= /root/.pyenv/versions/3.13.0/bin/python
.PHONY: bench-objects
bench-objects: ## Object tracking cost vs memray's and pymemtrace's (CPython 3.13+)
	$(PYTHON) bench/bench_objects.py --python $(BENCH_PY313) $(BENCH_ARGS)

bench-components: bench-objects

# bench-usdt: the recorder with its static probes against the same without
# them (-DMT_NO_USDT), no tracer attached; writes build/bench/usdt.md.
.PHONY: bench-usdt
bench-usdt: ## The static probes' cost when no tracer is attached (bound: <= 1.01x)
	$(PYTHON) bench/bench_usdt.py $(BENCH_ARGS)

# bench-bpf: what each bpftrace script of dtrace/ and memtrace bpf cost the
# process while attached (as root with bpftrace); writes build/bench/bpf.md.
.PHONY: bench-bpf
bench-bpf: $(REC_STAMP) $(BIN)/memtrace-bpf ## What the dtrace/ scripts and memtrace bpf cost while attached (root)
	$(PYTHON) bench/bench_bpf.py $(BENCH_ARGS)

# bench-archive: memtrace archive with 10,000 runs (ls, trend, check), and
# add against one analysis; writes build/bench/archive.md.
.PHONY: bench-archive
bench-archive: $(REC_STAMP) $(ANALYZE) ## memtrace archive at 10,000 runs: ls, trend, check (bound: < 1 s)
	$(PYTHON) bench/bench_archive.py $(BENCH_ARGS)

bench-components: bench-archive

bench-components: bench-usdt
