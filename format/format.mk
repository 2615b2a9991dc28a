# format/: libmemtrace-format, the one library that knows the bytes.
FORMAT_SRCS := $(wildcard format/*.c)
FORMAT_OBJS := $(FORMAT_SRCS:%.c=$(OBJ)/%.o)
FORMAT_LIB := $(LIBDIR)/libmemtrace-format.a

$(FORMAT_LIB): $(FORMAT_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(FORMAT_LIB)
