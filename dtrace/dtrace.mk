# dtrace/: the recorder's static probes (memtrace.d, the provider), and
# bpftrace and D scripts.
#
#   make test-dtrace   the provider against the probes compiled into the
#                      recorder; as root with bpftrace, every .bt script run
#                      against programs with known answers (tests/dtrace)

.PHONY: test-dtrace
test-dtrace: $(REC_STAMP) $(ANALYZE) ## Check the probes and run the bpftrace scripts (as root)
	$(Q)PYTHON="$(PYTHON)" PYTHONPATH_MT=$(abspath $(B)/python) ANALYZE=$(abspath $(ANALYZE)) \
	    TRASH=$(abspath $(B)/tests/dtrace/trash) sh tests/dtrace/run.sh

TEST_TARGETS += test-dtrace
