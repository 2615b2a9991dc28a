/*
 * mt_objs.h - the objects model: OBJ_NEW / OBJ_DEL records (object tracking,
 * CPython 3.13+) turned into counts by type over time, the objects alive at
 * the end by type and creating stack, and the objects alive at the heap's
 * peak. mt_analysis.h ("Objects") says what is computed; this is how the
 * analysis drives it, beside the heap model whose stacks it shares.
 *
 * An object's death is its OBJ_DEL; failing that (CPython 3.13.0-3.13.2 do
 * not report objects the interpreter loop deallocates, gh-130382), the free
 * of the object-domain block that held it, or a new object at its address.
 * Those inferred deaths are counted (mt_analysis_objects.inferred_deaths).
 * An object's bytes are its block's (the allocation that holds it, GC and
 * managed-dict headers included), known when that allocation was recorded.
 */
#ifndef MT_OBJS_H
#define MT_OBJS_H

#include <stdint.h>

#include "memtrace_format.h"
#include "mt_analysis.h"
#include "mt_heap.h"

typedef struct mt_objs mt_objs;

/* from, to: the window (ticks, inclusive); t_first, t_last: the trace's
 * extent, for the series. */
int mt_objs_new(mt_objs **o, uint64_t from, uint64_t to, uint64_t t_first, uint64_t t_last);
void mt_objs_free(mt_objs *o); /* accepts NULL */

/* One record in file order, after the heap was fed it (its stacks and live
 * blocks are the objects' too). 0 or MT_ERR_NOMEM. */
int mt_objs_feed(mt_objs *o, mt_heap *h, const mt_record *rec);
/* The end of the feed: what is alive at the window's end. */
int mt_objs_end(mt_objs *o);
/* Before the replay for the heap's peak, timed t_peak: forget the live
 * objects, keep the tables. During the replay (to the end of the file:
 * the objects of t_peak may lie anywhere in it) only liveness is kept,
 * and objects made by t_peak that die after it in time count as alive at
 * the peak. */
void mt_objs_rewind(mt_objs *o, uint64_t t_peak);
/* The replay is over: count what is alive by type and was made by the
 * peak's time (the heap's peak is in time order). */
void mt_objs_at_peak(mt_objs *o);
/* Build the tables; type names come from r. 0 or MT_ERR_NOMEM. */
int mt_objs_finish(mt_objs *o, mt_reader *r);

const mt_analysis_objects *mt_objs_summary(const mt_objs *o);
const mt_analysis_object_type *mt_objs_types(const mt_objs *o, uint32_t *n);
const mt_analysis_object_group *mt_objs_alive(const mt_objs *o, uint32_t *n);
const mt_analysis_object_point *mt_objs_series(const mt_objs *o, uint32_t type, uint64_t *n);

#endif /* MT_OBJS_H */
