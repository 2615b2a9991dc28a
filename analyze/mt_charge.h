/* mt_charge.h - which thread the RSS growth between two samples belongs to.
 *
 * RSS is the process's. Between two samples it moved by delta; a thread
 * that waited all that time (in Barrier.wait, Event.wait, join, a lock)
 * did not make it move, the threads that ran did. So each interval
 * between consecutive samples is charged to the threads that ran in it:
 *
 *   - a thread "ran" in the interval (t[i-1], t[i]] when one of its
 *     records (a call, return, line, allocation, marker, ...) has a time
 *     in it, or when two of its records on either side are closer than
 *     MT_CHARGE_GAP_NS (a thread busy in Python writes records that
 *     often; a sparse recording mode may not, see below);
 *   - delta is split evenly between them (the remainder, a few bytes, to
 *     the first by tid order);
 *   - when no thread ran (one long C call allocating, say numpy filling an
 *     array: no records at all), the thread whose last record before the
 *     interval's end is the latest is charged: it is the one that went
 *     into that call.
 *
 * The charges of each thread accumulate into a step function C(thread,
 * k): the sum of its shares of the intervals ending at samples 1..k. The
 * analysis replays a thread's calls against it instead of the process's
 * RSS, so an activation's growth is the growth its own thread was charged
 * with, and per-thread growth adds up to the process's.
 *
 * What it cannot do: two threads running at once share each interval
 * equally whatever each allocated (record allocations to know); a mode
 * that writes few records (fast and alloc modes record no C calls) gives
 * short gaps less often, so a busy thread with no record in an interval
 * is charged only through the "nobody ran" rule, which picks the wrong
 * thread when another one wrote a record after the busy one's last.
 */

#ifndef MT_CHARGE_H
#define MT_CHARGE_H

#include <stdint.h>

#include "mt_analysis.h" /* mt_analysis_sample */

#define MT_CHARGE_GAP_NS 2000000u /* 2 ms: records closer than this join */

/* The times a thread had records, as disjoint spans [t0, t1]. */
typedef struct mt_spans {
    struct mt_span {
        uint64_t t0, t1;
    } *v;
    uint64_t n, cap;
    int sorted; /* 0 once a record came back in time */
} mt_spans;

/* Add a record at time t; gap: MT_CHARGE_GAP_NS in the trace's ticks.
 * Returns 0, or -1 out of memory. Inline: once per record of a trace. */
int mt_spans_add_slow(mt_spans *s, uint64_t t, uint64_t gap);
static inline int mt_spans_add(mt_spans *s, uint64_t t, uint64_t gap) {
    if (s->n) {
        struct mt_span *l = &s->v[s->n - 1];
        if (t >= l->t0 && (t <= l->t1 || t - l->t1 <= gap)) { /* in it, or extends it */
            if (t > l->t1) l->t1 = t;
            return 0;
        }
    }
    return mt_spans_add_slow(s, t, gap);
}

/* Sort and merge (spans closer than gap join). */
void mt_spans_finish(mt_spans *s, uint64_t gap);

void mt_spans_free(mt_spans *s);

/* One thread's charges, a step function: from sample v[j].k on (up to the
 * next step) its cumulative charge is v[j].cum; before v[0].k it is 0. */
typedef struct mt_charges {
    struct mt_charge_step {
        uint64_t k;
        int64_t cum;
    } *v;
    uint64_t n, cap;
} mt_charges;

/* s: the RSS series (n samples, time order, as mt_analysis_rss_series);
 * since[k] (k >= 1): when the change to sample k's value can have begun,
 * the time of the last sample before s[k] (s[k-1], or a later one of the
 * same value that the series left out as a repeat). spans[i]: the finished spans of thread i
 * (nthreads; NULL for a thread never to be charged, e.g. the sampler's
 * tid 0). Fills out[i] for every thread. Returns 0, or -1 out of memory. */
int mt_charge(const mt_analysis_sample *s, const uint64_t *since, uint64_t n,
              mt_spans *const *spans, uint64_t nthreads, mt_charges *out);

/* C(thread, k): its cumulative charge after sample k (k = -1: before any
 * sample, 0). *hint: a cursor into c, moved forward (or reset) so that
 * calls with growing k cost O(1). */
int64_t mt_charges_at_slow(const mt_charges *c, int64_t k, uint64_t *hint);
static inline int64_t mt_charges_at(const mt_charges *c, int64_t k, uint64_t *hint) {
    uint64_t j = *hint;
    if (!c->n) return 0;
    if (k >= 0 && j < c->n && c->v[j].k <= (uint64_t)k &&
        (j + 1 == c->n || c->v[j + 1].k > (uint64_t)k))
        return c->v[j].cum; /* the same step as last time */
    return mt_charges_at_slow(c, k, hint);
}

void mt_charges_free(mt_charges *c);

#endif
