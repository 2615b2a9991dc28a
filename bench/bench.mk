# bench/: speed and size benchmarks. Not tests: nothing here fails on a
# timing, so these targets are in neither ALL_TARGETS nor TEST_TARGETS.

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

bench: bench-format ## Run every benchmark

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

bench: bench-recorder
