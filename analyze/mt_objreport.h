/*
 * mt_objreport.h - memtrace-analyze's "Objects" section (text) and its
 * "objects" key (JSON), from mt_analysis.h's objects model. Kept apart from
 * memtrace_analyze.c, which says every other section.
 */
#ifndef MT_OBJREPORT_H
#define MT_OBJREPORT_H

#include <stdint.h>

#include "mt_analysis.h"
#include "mt_cli.h"

/* How the report writes a line (colour for headings, a newline). */
typedef void (*mt_objreport_line)(mt_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Nothing when the trace has no objects. top: rows per table (0: all). */
void mt_objreport_text(mt_out *o, const mt_analysis *a, uint32_t top, mt_objreport_line line);
/* ",\n\"objects\":{...}" or ",\n\"objects\":null". */
void mt_objreport_json(mt_out *o, const mt_analysis *a, uint32_t top);

#endif /* MT_OBJREPORT_H */
