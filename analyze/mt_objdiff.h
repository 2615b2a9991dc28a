/*
 * mt_objdiff.h - memtrace-diff's objects by type (object tracking traces):
 * the text section, the JSON key "objects", and the values of --fail-if's
 * objects:TYPE quantities. Kept apart from memtrace_diff.c.
 */
#ifndef MT_OBJDIFF_H
#define MT_OBJDIFF_H

#include <stdint.h>

#include "mt_analysis.h"
#include "mt_objreport.h"

enum { MT_OBJDIFF_END = 0, MT_OBJDIFF_CREATED = 1, MT_OBJDIFF_MAX = 2 };

/* Both analyses hold objects? */
int mt_objdiff_compared(const mt_analysis *a, const mt_analysis *b);
/* The sum of field over the types named name (the full name, or its last
 * dotted part: "Point" for "__main__.Point") into *v; the number of types
 * that matched. */
uint32_t mt_objdiff_value(const mt_analysis *an, const char *name, int field, int64_t *v);
/* Types whose counts changed, by |change in alive at the end|, then
 * |change in created|; top rows (0: all). Nothing unless compared. */
void mt_objdiff_text(mt_out *o, const mt_analysis *a, const mt_analysis *b, uint32_t top,
                     mt_objreport_line line);
/* ",\n\"objects\":[...]" or ",\n\"objects\":null" when not compared. */
void mt_objdiff_json(mt_out *o, const mt_analysis *a, const mt_analysis *b, uint32_t top);

#endif /* MT_OBJDIFF_H */
