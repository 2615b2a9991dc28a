/*
 * mt_heap.h - the heap model behind mt_analysis.h's allocation results
 * (internal to the analysis: memtrace tools use mt_analysis.h).
 *
 * Feed it every record of a trace in file order (mt_heap_feed); it keeps
 * the live blocks, the stacks of every thread and the sites (interned
 * stacks), and accumulates what mt_analysis.h documents under "Allocations":
 * the heap series, per-domain totals, hotspots, temporaries, leaks, and the
 * position of the peak. The heap in use, its series and its peak are
 * summed in time order across threads (mt_horder.h). For the peak's
 * breakdown, mt_heap_rewind then a second feed of the same records: feed
 * returns 1 once the replay has made every change that time order had
 * applied by the peak and the live set there has been grouped (stop
 * feeding).
 * mt_heap_finish resolves names through a reader that has seen every
 * definition and builds the tables.
 *
 * Memory: live blocks (40 bytes each, table at most half full), one node
 * per distinct stack, a bounded table of orphan frees, the series (a fixed
 * number of slices), and per thread its stack. Errors: MT_ERR_NOMEM.
 */
#ifndef MT_HEAP_H
#define MT_HEAP_H

#include <stdint.h>

#include "memtrace_format.h"
#include "mt_analysis.h"
#include "mt_horder.h"

typedef struct mt_heap mt_heap;

typedef struct mt_heap_config {
    uint64_t sample_bytes;    /* header alloc_sample_bytes */
    uint64_t from, to;        /* the window, ticks, inclusive */
    uint64_t t_first, t_last; /* the trace's extent: the series' slices */
    uint64_t ticks_per_second; /* for the orphans' horizon */
    /* Whether a thread's allocations count in hotspots, temporaries and
     * leaks; asked once per thread. NULL: every thread. */
    int (*selected)(void *ctx, uint32_t tid);
    void *ctx;
    uint32_t lifetime_slices; /* 0: no lifetimes (mt_analysis_lifetimes) */
    int no_allocs;            /* the trace has no allocations: the model
                                 serves the objects' stacks (has_allocs 0) */
    int ordered;              /* MT_HEADER_ALLOC_ORDERED: blocks of two
                                 threads at one address may be ordered by
                                 their times (mt_analysis.h, "Order") */
    /* The threads that allocate or free (pass 1): the heap in use is
     * summed in time order across them (mt_horder.h). Copied. */
    const mt_horder_thread *threads;
    uint32_t nthreads;
} mt_heap_config;

int mt_heap_new(mt_heap **h, const mt_heap_config *c);
void mt_heap_free(mt_heap *h); /* accepts NULL */

/* fid names the same place in the source as canonical (the same qualified
 * name, file, def line and kind: a code object made again by exec, a
 * reloaded module, a class body run twice): its frames count as canonical's,
 * so that sites aggregate by location. Call it when the FUNCTION record of
 * fid is read (before fid is used). 0 or MT_ERR_NOMEM. */
int mt_heap_alias(mt_heap *h, uint32_t fid, uint32_t canonical);

/* One record, in file order. Returns 0, 1 (replay only: the peak was
 * reached and grouped; stop) or MT_ERR_NOMEM. */
int mt_heap_feed(mt_heap *h, const mt_record *rec);

/* The end of the first feed: leaks from what is still live. Returns 1 when
 * the peak's breakdown needs a replay (mt_heap_rewind, then feed again), 0
 * when not (no allocation in the window), or MT_ERR_NOMEM. */
int mt_heap_end(mt_heap *h);

/* Forget the live set and thread stacks (keep stacks interned and every
 * result) and prepare to replay up to the peak. */
int mt_heap_rewind(mt_heap *h);

/* Build the tables; names come from r. 0 or MT_ERR_NOMEM. */
int mt_heap_finish(mt_heap *h, mt_reader *r);

const mt_analysis_heap *mt_heap_summary(const mt_heap *h);
const mt_analysis_heap_point *mt_heap_series(const mt_heap *h, int domain,
                                             uint64_t *n);
/* Keep only the sites keep(ctx, site) says 1 for, in every table and
 * order (the orders stay as they were). */
void mt_heap_sites_keep(mt_heap *h, int (*keep)(void *ctx, const mt_analysis_site *s),
                        void *ctx);
const mt_analysis_site *mt_heap_sites(const mt_heap *h, int table, int order,
                                      uint32_t *n);
/* s's frames (mt_analysis_site_frames), made on the first call; and
 * without keeping them (mt_analysis_site_fill, mt_analysis_site_frame). */
const mt_analysis_frame *mt_heap_site_frames(mt_heap *h, const mt_analysis_site *s);
void mt_heap_site_fill(const mt_heap *h, const mt_analysis_site *s, mt_analysis_frame *buf);
int mt_heap_site_frame(const mt_heap *h, const mt_analysis_site *s, uint32_t k,
                       mt_analysis_frame *out);
/* The fids of the sites' frames: fid <= mt_heap_max_fid with has_fid. */
uint32_t mt_heap_max_fid(const mt_heap *h);
int mt_heap_has_fid(const mt_heap *h, uint32_t fid);

/* For the objects model (mt_objs.c), after a record was fed: the site of
 * thread tid's stack now (as an allocation there would get; UINT32_MAX
 * when out of memory); whether tid is selected; the live object-domain
 * block holding an object at addr (its start 0, 16 or 32 bytes before, for
 * the GC and managed-dict headers): 1 with its start, size and whether it
 * replaced a block whose free had not been read yet (another thread's,
 * later in the file), else 0. */
uint32_t mt_heap_site_now(mt_heap *h, uint32_t tid);
int mt_heap_thread_selected(mt_heap *h, uint32_t tid);
int mt_heap_obj_block(mt_heap *h, uint64_t addr, uint64_t *start, uint64_t *size,
                      int *replaced);

/* The lifetimes (mt_analysis_lifetimes); made on the first call. */
const mt_analysis_lifetime *mt_heap_lifetimes(mt_heap *h, uint64_t *n, uint32_t *nslices,
                                              uint64_t *t0, uint64_t *t1);
int mt_heap_node_site(const mt_heap *h, uint32_t node, mt_analysis_site *out);

#endif /* MT_HEAP_H */
