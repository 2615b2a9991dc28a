# plot/: libmemtrace-plot (plain series in, SVG and gnuplot text out; it
# knows nothing of the trace format) and the memtrace-plot command, which
# feeds it from traces.
#
#   make test-plot    the library's C tests, then tests/plot/run.sh: xmllint,
#                     gnuplot, a headless Chromium screenshot (skipped when
#                     chromium is not installed), and the command's tests

PLOT_SRCS := plot/mt_plot_util.c plot/mt_plot_timeline.c plot/mt_plot_flame.c \
    plot/mt_plot_page.c plot/mt_plot_tprof.c
PLOT_OBJS := $(PLOT_SRCS:%.c=$(OBJ)/%.o)
PLOT_LIB := $(LIBDIR)/libmemtrace-plot.a

$(PLOT_LIB): $(PLOT_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR    $@")
	$(Q)rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(PLOT_LIB)

# The command and the tests include mt_plot.h from plot/.
$(OBJ)/plot/memtrace_plot.o $(OBJ)/plot/memtrace_plot_out.o $(OBJ)/tests/plot/%.o: \
    MT_CFLAGS += -Iplot -Ianalyze

# ---- memtrace-plot: built once its source exists ---------------------------
PLOT_CMD := $(BIN)/memtrace-plot
ifneq ($(wildcard plot/memtrace_plot.c),)
# The analysis core, when it is there, and the shared CLI helpers.
PLOT_CMD_OBJS := $(OBJ)/plot/memtrace_plot.o $(OBJ)/plot/memtrace_plot_out.o $(OBJ)/analyze/mt_cli.o \
    $(patsubst %.c,$(OBJ)/%.o,$(wildcard analyze/mt_analysis.c analyze/mt_pprof.c))
$(PLOT_CMD): $(PLOT_CMD_OBJS) $(PLOT_LIB) $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(PLOT_LIB) \
	    $(FORMAT_LIB) $(MT_LDLIBS) -lm
ALL_TARGETS += $(PLOT_CMD)
.PHONY: memtrace-plot
memtrace-plot: $(PLOT_CMD) ## Build build/bin/memtrace-plot
endif

# ---- tests ------------------------------------------------------------------
PLOT_TEST := $(B)/tests/plot/test_plot
PLOT_TEST_MKTRACE := $(B)/tests/plot/plot_mktrace

$(PLOT_TEST): $(OBJ)/tests/plot/test_plot.o $(PLOT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(PLOT_LIB) -lm

$(PLOT_TEST_MKTRACE): $(OBJ)/tests/plot/plot_mktrace.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FORMAT_LIB) $(MT_LDLIBS) -lm

.SECONDARY: $(OBJ)/tests/plot/test_plot.o $(OBJ)/tests/plot/plot_mktrace.o

.PHONY: test-plot
test-plot: $(PLOT_TEST) $(PLOT_TEST_MKTRACE) $(ANALYZE_TESTGEN) $(DECODE) $(FILTER) $(if $(wildcard plot/memtrace_plot.c),$(PLOT_CMD)) ## Run the plotting library and memtrace-plot tests
	$(Q)PLOT_TEST=$(abspath $(PLOT_TEST)) MKTRACE=$(abspath $(PLOT_TEST_MKTRACE)) \
	    ANALYZE_MKTRACE=$(abspath $(ANALYZE_TESTGEN)) DECODE_CMD=$(abspath $(DECODE)) \
	    PLOT_CMD=$(if $(wildcard plot/memtrace_plot.c),$(abspath $(PLOT_CMD))) \
	    TRASH=$(abspath $(B)/tests/plot/trash) sh tests/plot/run.sh

TEST_TARGETS += test-plot
