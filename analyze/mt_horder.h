/*
 * mt_horder.h - heap changes put back in time order (internal to the heap
 * model, mt_heap.c).
 *
 * The heap model decides, in file order, which block each record makes or
 * ends. Each thread's records are in time order, but the recorder writes
 * every thread's buffer separately, so another thread's changes can reach
 * the file up to a flush interval (1 s by default) later than changes
 * timed after them. Summing in file order, four threads that each hold
 * 50 MiB at once showed a peak of 50 MiB. This merges the threads' changes
 * by (time, file position) and hands them to the model's apply callback in
 * that order, so that the heap in use, its series and its peak are those
 * of time order.
 *
 * When may a change be applied? Pass 1 of the analysis knows, for every
 * thread that allocates or frees, its first such record's time, how many
 * it has, and the times of its BLOCKs in file order (a BLOCK's time is at
 * or before each of its records'). A thread's changes still to come are
 * timed at or after the last record of it read so far; once the reader
 * has moved on to another block, at or after its next BLOCK's time (a
 * main thread waiting in join() while workers allocate does not hold the
 * others back: its next block starts when it wakes); and a thread whose
 * changes were all read has no more. The least of those bounds over the
 * threads (the watermark) is a time before which nothing more can arrive:
 * changes up to it are applied.
 *
 * Memory: pending changes, 24 bytes each, at most `cap`; past that the
 * oldest is applied anyway. A change that arrives older than one already
 * applied is applied at once, as of the newest time applied, and counted
 * (mt_horder_late): the order is then only approximately time order. With a single thread nothing
 * waits.
 */
#ifndef MT_HORDER_H
#define MT_HORDER_H

#include <stdint.h>

typedef struct mt_horder mt_horder;

/* A thread that allocates or frees, from pass 1. */
typedef struct mt_horder_thread {
    uint32_t tid;
    uint64_t t_first; /* its first ALLOC, FREE or REALLOC (ticks) */
    uint64_t records; /* how many it has (ALLOC + FREE + REALLOC) */
    const uint64_t *blocks; /* its BLOCKs' times in file order (not copied:
                               they must outlive the feeding) */
    uint64_t nblocks;
} mt_horder_thread;

/* One change of the heap in use: delta bytes in domain (< 256) at time t;
 * idx is the change's number in file order (1, 2, ... < 2^56: ties in t
 * keep it). */
typedef struct mt_horder_op {
    uint64_t t, idx;
    int64_t delta;
    uint32_t domain;
} mt_horder_op;

/* Called for each change in order; nonzero stops (returned by push, seen,
 * record_done and flush). */
typedef int (*mt_horder_apply)(void *ctx, const mt_horder_op *op);

/* threads: n entries (copied, but for their blocks; any order). cap: most pending changes.
 * 0 or MT_ERR_NOMEM. */
int mt_horder_new(mt_horder **o, const mt_horder_thread *threads, uint32_t n, uint64_t cap,
                  mt_horder_apply apply, void *ctx);
void mt_horder_free(mt_horder *o); /* accepts NULL */

/* The orderer's index of thread tid, or -1 if it has no changes (pass 1
 * saw none): its changes, if any, are applied at once. Ask once per
 * thread. */
int32_t mt_horder_index(const mt_horder *o, uint32_t tid);

/* Thread q's records reached time t (its changes to come are no older):
 * at each of its ALLOC, FREE and REALLOC records, before their changes. */
void mt_horder_seen(mt_horder *o, int32_t q, uint64_t t);

/* The reader met a BLOCK of thread q (-1 for a thread without changes):
 * the block read before it is complete. */
int mt_horder_block(mt_horder *o, int32_t q);

/* A change by thread q (-1: apply at once). */
int mt_horder_push(mt_horder *o, int32_t q, const mt_horder_op *op);

/* Thread q's ALLOC, FREE or REALLOC record was fed in full. */
int mt_horder_record_done(mt_horder *o, int32_t q);

/* Apply whatever is pending (the end of the trace). */
int mt_horder_flush(mt_horder *o);

/* Changes applied out of time order (see above), and *bytes the sum of
 * their sizes (what the heap in use may be off by, at most). */
uint64_t mt_horder_late(const mt_horder *o, uint64_t *bytes);

/* The greatest number of a change applied so far (the apply callback sees
 * it counted). */
uint64_t mt_horder_last_idx(const mt_horder *o);

#endif /* MT_HORDER_H */
