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
