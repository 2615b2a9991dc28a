# tests/: the format library's tests, its sanitizer build and its fuzz target.
#
#   make test-format        round trip and damage tests (normal build)
#   make test-format-asan   the same, library and tests built with gcc
#                           ASan+UBSan into build/asan/ (leaks fail)
#   make test-fuzz-bounded  60 s of libFuzzer on the reader (part of make test)
#   make fuzz               a long fuzz run: FUZZ_SECONDS (default 600)
#
# MT_SEED=N reruns the randomized tests with another seed (it is printed).

TEST_FORMAT_NAMES := test_roundtrip test_damage
TEST_FORMAT_BINS := $(TEST_FORMAT_NAMES:%=$(B)/tests/%)

$(B)/tests/%: $(OBJ)/tests/format/%.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(FORMAT_LIB) $(MT_LDLIBS) -o $@

# Each program prints "N passed, N failed" last and exits non-zero on failure.
test-format: $(TEST_FORMAT_BINS) ## Run the format library tests
	$(Q)rc=0; for t in $(TEST_FORMAT_BINS); do \
	    echo "== $$t"; s=$$(date +%s); \
	    $$t || { echo "FAILED: $$t"; rc=1; }; \
	    echo "   ($$(( $$(date +%s) - s )) s)"; \
	done; exit $$rc

# ---- sanitizers: gcc ASan + UBSan, everything rebuilt into build/asan/ ----
ASAN_DIR := $(B)/asan
ASAN_CC ?= gcc
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer -O1 -g
ASAN_FORMAT_OBJS := $(FORMAT_SRCS:%.c=$(ASAN_DIR)/obj/%.o)
ASAN_LIB := $(ASAN_DIR)/libmemtrace-format.a
ASAN_TEST_BINS := $(TEST_FORMAT_NAMES:%=$(ASAN_DIR)/%)
# LeakSanitizer works here (checked: a leak fails the program), so leaks fail.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(ASAN_DIR)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $< (asan)")
	$(Q)$(ASAN_CC) $(ASAN_FLAGS) $(MT_CFLAGS) -MMD -MP -c $< -o $@

$(ASAN_LIB): $(ASAN_FORMAT_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(ASAN_DIR)/test_%: $(ASAN_DIR)/obj/tests/format/test_%.o $(ASAN_LIB)
	$(Q)$(ASAN_CC) $(ASAN_FLAGS) $< $(ASAN_LIB) $(MT_LDLIBS) -o $@

test-format-asan: $(ASAN_TEST_BINS) ## Run the format tests under ASan+UBSan (gcc)
	$(Q)rc=0; for t in $(ASAN_TEST_BINS); do \
	    echo "== $$t (asan)"; s=$$(date +%s); \
	    $(ASAN_ENV) $$t || { echo "FAILED: $$t (asan)"; rc=1; }; \
	    echo "   ($$(( $$(date +%s) - s )) s)"; \
	done; exit $$rc

# ---- fuzzing: clang libFuzzer + ASan + UBSan, built into build/fuzz/ ------
FUZZ_DIR := $(B)/fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all
FUZZ_CFLAGS := $(filter-out -fPIC,$(MT_CFLAGS))
FUZZ_FORMAT_OBJS := $(FORMAT_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BIN := $(FUZZ_DIR)/fuzz_reader
FUZZ_SEEDGEN := $(FUZZ_DIR)/fuzz_seeds
FUZZ_SEEDS := $(FUZZ_DIR)/seeds
FUZZ_CORPUS := $(FUZZ_DIR)/corpus
FUZZ_OPTS := -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1

# Library objects get coverage instrumentation but no main (fuzzer-no-link).
$(FUZZ_DIR)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $< (fuzz)")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BIN): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_reader.o $(FUZZ_FORMAT_OBJS)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(MT_LDLIBS) -o $@

# The seed generator is an ordinary program linked with the normal library.
$(FUZZ_SEEDGEN): $(OBJ)/tests/fuzz/fuzz_seeds.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(FORMAT_LIB) $(MT_LDLIBS) -o $@

$(FUZZ_SEEDS)/.stamp: $(FUZZ_SEEDGEN)
	$(Q)rm -rf $(FUZZ_SEEDS) && mkdir -p $(FUZZ_SEEDS)
	$(Q)$(FUZZ_SEEDGEN) $(FUZZ_SEEDS)
	$(Q)touch $@

# The corpus grows across runs in build/fuzz/corpus; crashes land in
# build/fuzz/ as crash-<sha1> (rerun: build/fuzz/fuzz_reader FILE).
define mt_fuzz_run
	@mkdir -p $(FUZZ_CORPUS)
	cd $(FUZZ_DIR) && ./fuzz_reader $(FUZZ_OPTS) -max_total_time=$(1) \
	    corpus seeds 2>&1 | \
	    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|RELOAD)|^######|Uses: |NEW_FUNC' | \
	    tail -n 60; exit $${PIPESTATUS[0]}
endef

# tests/fuzz/regress/ keeps every input that once crashed the reader; they
# are replayed first, so a fixed bug stays fixed.
test-fuzz-bounded: $(FUZZ_BIN) $(FUZZ_SEEDS)/.stamp ## Replay fuzz regressions, then fuzz the reader for 60 s
	$(Q)$(FUZZ_BIN) $(wildcard tests/fuzz/regress/*) 2>&1 | grep -E '^Executed|ERROR' ; exit $${PIPESTATUS[0]}
	$(call mt_fuzz_run,60)

fuzz: $(FUZZ_BIN) $(FUZZ_SEEDS)/.stamp ## Fuzz the reader for FUZZ_SECONDS (default 600)
	$(call mt_fuzz_run,$(FUZZ_SECONDS))

.PHONY: test-format test-format-asan test-fuzz-bounded fuzz
# Keep the objects make would otherwise delete as intermediates.
.SECONDARY: $(TEST_FORMAT_NAMES:%=$(OBJ)/tests/format/%.o) \
    $(TEST_FORMAT_NAMES:%=$(ASAN_DIR)/obj/tests/format/%.o) \
    $(OBJ)/tests/fuzz/fuzz_seeds.o $(FUZZ_DIR)/obj/tests/fuzz/fuzz_reader.o
TEST_TARGETS += test-format test-format-asan test-fuzz-bounded
-include $(shell find $(ASAN_DIR)/obj $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)

# ---- the tools under ASan + UBSan over a damage corpus ---------------------
# decode, analyze, filter, diff and plot rebuilt with gcc ASan+UBSan into
# build/asan/bin/ and run over damaged traces (tests/damage/run.sh makes
# them deterministically: truncations, bit flips, garbage, bad headers, an
# empty file). Any sanitizer report, or an exit status other than 0 or 1,
# fails the run.
ASAN_BIN := $(ASAN_DIR)/bin
ASAN_TOOLS := $(addprefix $(ASAN_BIN)/memtrace-,decode analyze filter diff plot)
ASAN_CLI_OBJS := $(ASAN_DIR)/obj/analyze/mt_cli.o $(ASAN_DIR)/obj/analyze/mt_recfmt.o
ASAN_ANALYSIS_OBJS := $(ASAN_DIR)/obj/analyze/mt_analysis.o $(ASAN_DIR)/obj/analyze/mt_analysis_pass1.o $(ASAN_DIR)/obj/analyze/mt_heap.o $(ASAN_DIR)/obj/analyze/mt_horder.o \
    $(ASAN_DIR)/obj/analyze/mt_objs.o $(ASAN_DIR)/obj/analyze/mt_charge.o
ASAN_PLOT_OBJS := $(PLOT_SRCS:%.c=$(ASAN_DIR)/obj/%.o)
$(ASAN_DIR)/obj/plot/memtrace_plot.o $(ASAN_DIR)/obj/plot/memtrace_plot_out.o: \
    MT_CFLAGS += -Iplot -Ianalyze

define mt_asan_link
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(ASAN_CC) $(ASAN_FLAGS) -o $@ $(filter %.o,$^) $(ASAN_LIB) $(MT_LDLIBS) -lm
endef

$(ASAN_BIN)/memtrace-decode: $(ASAN_DIR)/obj/analyze/memtrace_decode.o \
    $(ASAN_DIR)/obj/analyze/mt_select.o $(ASAN_CLI_OBJS) $(ASAN_LIB)
	$(mt_asan_link)
$(ASAN_BIN)/memtrace-filter: $(ASAN_DIR)/obj/analyze/memtrace_filter.o \
    $(ASAN_DIR)/obj/analyze/mt_select.o $(ASAN_CLI_OBJS) $(ASAN_LIB)
	$(mt_asan_link)
$(ASAN_BIN)/memtrace-analyze: $(ASAN_DIR)/obj/analyze/memtrace_analyze.o $(ASAN_DIR)/obj/analyze/mt_analyze_json.o \
    $(ASAN_DIR)/obj/analyze/mt_tree.o $(ASAN_DIR)/obj/analyze/mt_objreport.o $(ASAN_ANALYSIS_OBJS) $(ASAN_CLI_OBJS) $(ASAN_LIB)
	$(mt_asan_link)
$(ASAN_BIN)/memtrace-diff: $(ASAN_DIR)/obj/analyze/memtrace_diff.o $(ASAN_DIR)/obj/analyze/mt_diff_out.o $(ASAN_DIR)/obj/analyze/mt_objdiff.o \
    $(ASAN_ANALYSIS_OBJS) $(ASAN_CLI_OBJS) $(ASAN_LIB)
	$(mt_asan_link)
$(ASAN_BIN)/memtrace-plot: $(ASAN_DIR)/obj/plot/memtrace_plot.o $(ASAN_DIR)/obj/plot/memtrace_plot_out.o \
    $(ASAN_ANALYSIS_OBJS) $(ASAN_DIR)/obj/analyze/mt_cli.o $(ASAN_DIR)/obj/analyze/mt_pprof.o \
    $(ASAN_PLOT_OBJS) $(ASAN_LIB)
	$(mt_asan_link)

.PHONY: test-tools-asan
test-tools-asan: $(ASAN_TOOLS) $(ANALYZE_TESTGEN) $(DIFF_TESTGEN) $(REC_STAMP) ## Run the tools under ASan+UBSan over a damage corpus and every header bit flip
	$(Q)TOOLS=$(abspath $(ASAN_BIN)) MKTRACE=$(abspath $(ANALYZE_TESTGEN)) \
	    DIFF_MKTRACE=$(abspath $(DIFF_TESTGEN)) PYTHON=$(PYTHON) \
	    PYTHONPATH_MT=$(abspath $(B)/python) \
	    $(ASAN_ENV) TRASH=$(abspath $(B)/tests/damage/trash) sh tests/damage/run.sh

TEST_TARGETS += test-tools-asan

# The command-line rules every subcommand follows (tests/cli/cli_table.py):
# usage errors, options after operands, one time syntax, help.
CLI_TRASH := $(B)/tests/cli/trash
.PHONY: test-cli
test-cli: $(ANALYZE_TESTGEN) $(REC_STAMP) $(ALL_TARGETS) ## Check every subcommand against the shared CLI rules
	$(Q)rm -rf $(CLI_TRASH) && mkdir -p $(CLI_TRASH)
	$(Q)$(ANALYZE_TESTGEN) basic $(CLI_TRASH)/a.trace && $(ANALYZE_TESTGEN) basic $(CLI_TRASH)/b.trace
	$(Q)PYTHON=$(PYTHON) $(PYTHON) tests/cli/cli_table.py $(BIN) $(B)/python \
	    $(CLI_TRASH)/a.trace $(CLI_TRASH)/b.trace $(CLI_TRASH)
TEST_TARGETS += test-cli
