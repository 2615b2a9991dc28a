# dtrace/: the recorder's static probes (memtrace.d, the provider), and
# bpftrace and D scripts.
#
#   make test-dtrace   the provider against the probes compiled into the
#                      recorder; as root with bpftrace, every .bt script run
#                      against programs with known answers (tests/dtrace)

BPF_TOOL := $(BIN)/memtrace-bpf
$(OBJ)/dtrace/memtrace_bpf.o: MT_CFLAGS += -Ianalyze
$(BPF_TOOL): $(OBJ)/dtrace/memtrace_bpf.o $(OBJ)/analyze/mt_cli.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(FORMAT_LIB) $(MT_LDLIBS)

memtrace-bpf: $(BPF_TOOL) ## Build build/bin/memtrace-bpf
ALL_TARGETS += $(BPF_TOOL)

.PHONY: test-dtrace memtrace-bpf
test-dtrace: $(REC_STAMP) $(ANALYZE) $(BPF_TOOL) ## Check the probes and run the bpftrace scripts (as root)
	$(Q)PYTHON="$(PYTHON)" PYTHONPATH_MT=$(abspath $(B)/python) ANALYZE=$(abspath $(ANALYZE)) \
	    BPF=$(abspath $(BPF_TOOL)) \
	    TRASH=$(abspath $(B)/tests/dtrace/trash) sh tests/dtrace/run.sh

TEST_TARGETS += test-dtrace
