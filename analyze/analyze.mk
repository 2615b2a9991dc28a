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
