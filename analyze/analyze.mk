# analyze/: the command-line tools that read traces.
#
# mt_cli.c (messages, buffered output, units, option values) and mt_recfmt.c
# (records as text/JSON/CSV) are shared by every tool here: link
# $(ANALYZE_COMMON_OBJS) into each.

ANALYZE_COMMON_OBJS := $(OBJ)/analyze/mt_cli.o $(OBJ)/analyze/mt_recfmt.o
DECODE := $(BIN)/memtrace-decode

$(DECODE): $(OBJ)/analyze/memtrace_decode.o $(ANALYZE_COMMON_OBJS) $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(FORMAT_LIB) $(MT_LDLIBS)

.PHONY: memtrace-decode test-decode
memtrace-decode: $(DECODE) ## Build build/bin/memtrace-decode

ALL_TARGETS += $(DECODE)

# Tests of memtrace-decode: vectors for mt_cli.c (a C program), then the
# shell tests tests/decode/t*.sh, whose traces come from a small generator
# written against the format library.
DECODE_TESTGEN := $(B)/tests/decode/decode_mktrace
MT_CLI_TEST := $(B)/tests/decode/mt_cli_test

$(DECODE_TESTGEN): $(OBJ)/tests/decode/decode_mktrace.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FORMAT_LIB) $(MT_LDLIBS)

$(MT_CLI_TEST): $(OBJ)/tests/decode/mt_cli_test.o $(OBJ)/analyze/mt_cli.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(FORMAT_LIB) $(MT_LDLIBS)

test-decode: $(DECODE) $(DECODE_TESTGEN) $(MT_CLI_TEST) ## Run the memtrace-decode tests
	$(Q)$(MT_CLI_TEST)
	$(Q)DECODE=$(abspath $(DECODE)) MKTRACE=$(abspath $(DECODE_TESTGEN)) \
	    TRASH=$(abspath $(B)/tests/decode/trash) sh tests/decode/run.sh

TEST_TARGETS += test-decode

# ---- memtrace-filter, and the selection it shares with memtrace-decode ----
# mt_select.c parses the selection options and decides per record; decode
# links it too (the extra prerequisite below joins the link line).
SELECT_OBJ := $(OBJ)/analyze/mt_select.o
FILTER := $(BIN)/memtrace-filter

$(DECODE): $(SELECT_OBJ)

$(FILTER): $(OBJ)/analyze/memtrace_filter.o $(SELECT_OBJ) $(ANALYZE_COMMON_OBJS) $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(FORMAT_LIB) $(MT_LDLIBS)

.PHONY: memtrace-filter test-filter
memtrace-filter: $(FILTER) ## Build build/bin/memtrace-filter

ALL_TARGETS += $(FILTER)

# Tests of memtrace-filter and of decode's selection options: synthetic
# traces from tests/filter/filter_mktrace.c, a recorded one, and an
# independent model of the selection rules (tests/filter/filter_model.py).
FILTER_TESTGEN := $(B)/tests/filter/filter_mktrace

$(FILTER_TESTGEN): $(OBJ)/tests/filter/filter_mktrace.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FORMAT_LIB) $(MT_LDLIBS)

test-filter: $(FILTER) $(DECODE) $(FILTER_TESTGEN) $(REC_STAMP) ## Run the memtrace-filter tests
	$(Q)FILTER=$(abspath $(FILTER)) DECODE=$(abspath $(DECODE)) \
	    MKTRACE=$(abspath $(FILTER_TESTGEN)) PYTHON=$(PYTHON) \
	    TRASH=$(abspath $(B)/tests/filter/trash) sh tests/filter/run.sh

TEST_TARGETS += test-filter

# ---- memtrace-analyze, and the analysis core shared with diff and plot ----
# mt_analysis.c (analyze/mt_analysis.h) computes the report; link
# $(ANALYSIS_OBJ) into any tool that needs it.
ANALYSIS_OBJ := $(OBJ)/analyze/mt_analysis.o $(OBJ)/analyze/mt_analysis_pass1.o $(OBJ)/analyze/mt_heap.o $(OBJ)/analyze/mt_horder.o $(OBJ)/analyze/mt_objs.o \
    $(OBJ)/analyze/mt_charge.o
# memtrace-plot (plot/plot.mk) links mt_analysis.o by name: its first pass,
# the heap model and the charging of RSS to threads join its link line as
# extra prerequisites.
$(BIN)/memtrace-plot: $(OBJ)/analyze/mt_analysis_pass1.o $(OBJ)/analyze/mt_heap.o $(OBJ)/analyze/mt_horder.o $(OBJ)/analyze/mt_objs.o $(OBJ)/analyze/mt_charge.o
ANALYZE := $(BIN)/memtrace-analyze

$(ANALYZE): $(OBJ)/analyze/memtrace_analyze.o $(OBJ)/analyze/mt_analyze_json.o $(OBJ)/analyze/mt_tree.o $(OBJ)/analyze/mt_objreport.o $(ANALYSIS_OBJ) $(ANALYZE_COMMON_OBJS) $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(FORMAT_LIB) $(MT_LDLIBS)

.PHONY: memtrace-analyze test-analyze
memtrace-analyze: $(ANALYZE) ## Build build/bin/memtrace-analyze

ALL_TARGETS += $(ANALYZE)

# Tests: synthetic traces with hand-computed answers (analyze_mktrace.c,
# written with mt_writer_append), traces recorded by the real recorder
# (needs the Python package), JSON checked against the documented schema,
# and a damaged trace.
ANALYZE_TESTGEN := $(B)/tests/analyze/analyze_mktrace

$(ANALYZE_TESTGEN): $(OBJ)/tests/analyze/analyze_mktrace.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FORMAT_LIB) $(MT_LDLIBS)

test-analyze: $(ANALYZE) $(ANALYZE_TESTGEN) $(REC_STAMP) ## Run the memtrace-analyze tests
	$(Q)ANALYZE=$(abspath $(ANALYZE)) MKTRACE=$(abspath $(ANALYZE_TESTGEN)) \
	    PYTHON=$(PYTHON) PYTHONPATH_MT=$(abspath $(B)/python) \
	    TRASH=$(abspath $(B)/tests/analyze/trash) sh tests/analyze/run.sh

TEST_TARGETS += test-analyze

# ---- memtrace-diff: two runs compared, and --fail-if gates for CI ----
# Links the analysis core; tests/diff/ has its own generator of synthetic
# traces with known differences (diff_mktrace.c) and records real ones.
DIFF := $(BIN)/memtrace-diff

$(DIFF): $(OBJ)/analyze/memtrace_diff.o $(OBJ)/analyze/mt_diff_out.o $(OBJ)/analyze/mt_objdiff.o $(ANALYSIS_OBJ) $(ANALYZE_COMMON_OBJS) $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(FORMAT_LIB) $(MT_LDLIBS) -lm

.PHONY: memtrace-diff test-diff
memtrace-diff: $(DIFF) ## Build build/bin/memtrace-diff

ALL_TARGETS += $(DIFF)

DIFF_TESTGEN := $(B)/tests/diff/diff_mktrace

$(DIFF_TESTGEN): $(OBJ)/tests/diff/diff_mktrace.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FORMAT_LIB) $(MT_LDLIBS)

test-diff: $(DIFF) $(DIFF_TESTGEN) $(ANALYZE_TESTGEN) $(REC_STAMP) ## Run the memtrace-diff tests
	$(Q)DIFF=$(abspath $(DIFF)) MKTRACE=$(abspath $(DIFF_TESTGEN)) \
	    ANALYZE_MKTRACE=$(abspath $(ANALYZE_TESTGEN)) \
	    PYTHON=$(PYTHON) PYTHONPATH_MT=$(abspath $(B)/python) \
	    TRASH=$(abspath $(B)/tests/diff/trash) sh tests/diff/run.sh

TEST_TARGETS += test-diff
