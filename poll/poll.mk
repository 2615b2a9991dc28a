# poll/: memtrace-poll, the /proc poller of a process or a process tree.
#
# memtrace_poll.c (the command) + mt_procfs.c (reading /proc), linked with
# the format library and analyze/mt_cli.o (messages, option values, mt_out).

POLL := $(BIN)/memtrace-poll
POLL_OBJS := $(OBJ)/poll/memtrace_poll.o $(OBJ)/poll/mt_procfs.o \
             $(OBJ)/analyze/mt_cli.o

$(OBJ)/poll/%.o: MT_CFLAGS += -Ianalyze

$(POLL): $(POLL_OBJS) $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(POLL_OBJS) $(FORMAT_LIB) $(MT_LDLIBS)

.PHONY: memtrace-poll test-poll
memtrace-poll: $(POLL) ## Build build/bin/memtrace-poll

ALL_TARGETS += $(POLL)

# Shell tests (tests/poll/t*.sh): real commands watched, traces read back
# with memtrace-decode. A few seconds each.
test-poll: $(POLL) $(DECODE) ## Run the memtrace-poll tests
	$(Q)POLL=$(abspath $(POLL)) DECODE=$(abspath $(DECODE)) PYTHON=$(PYTHON) \
	    TRASH=$(abspath $(B)/tests/poll/trash) sh tests/poll/run.sh

TEST_TARGETS += test-poll
