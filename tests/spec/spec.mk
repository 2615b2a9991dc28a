# tests/spec/: the hex examples of spec/FORMAT.md are test fixtures.
# test_spec reads the spec at run time, writes the record examples with the
# library, decodes them with memtrace-decode and checks every bad file.

SPEC_TEST := $(B)/tests/spec/test_spec

$(SPEC_TEST): $(OBJ)/tests/spec/test_spec.o $(FORMAT_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FORMAT_LIB) $(MT_LDLIBS)

.PHONY: test-spec
test-spec: $(SPEC_TEST) $(BIN)/memtrace-decode ## Check the spec's hex examples and bad files against the library
	$(Q)$(SPEC_TEST) --decode $(BIN)/memtrace-decode spec/FORMAT.md

TEST_TARGETS += test-spec
