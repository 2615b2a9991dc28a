/*
 * mt_horder.c - heap changes put back in time order; see mt_horder.h.
 *
 * Each thread's pending changes are a ring in push order, which is time
 * order for that thread; applying takes the ring whose head is the oldest
 * by (t, idx) and drains it while it stays ahead of the next oldest head:
 * the scan over threads is paid once per run, not once per change.
 */
#include "mt_horder.h"

#include <stdlib.h>
#include <string.h>

#include "memtrace_format.h"

/* A pending change, 24 bytes: key is its number << 8 | domain, so that
 * (t, key) orders as (t, number). */
typedef struct slot {
    uint64_t t, key;
    int64_t delta;
} slot;

typedef struct ring {
    slot *v;
    uint64_t head, n, cap; /* cap 0 or a power of two */
} ring;

struct mt_horder {
    uint32_t n;
    uint32_t *tid;     /* sorted */
    uint64_t *t_first; /* by index */
    uint64_t *left;    /* records still to come */
    uint64_t *seen;    /* latest record time read */
    const uint64_t **blk; /* BLOCK times, file order */
    uint64_t *nblk, *jblk; /* how many; how many read */
    int32_t cur;       /* the thread of the block being read, -1: other */
    ring *q;
    uint64_t pending, cap;
    uint64_t w;       /* the watermark */
    int32_t wmin;     /* the thread it waits for, -1: none */
    int dirty;        /* wmin moved: w may rise */
    uint32_t since;   /* drains since w was last computed */
    uint64_t last_t;  /* time of the last change applied */
    uint64_t late, late_bytes, max_idx;
    mt_horder_apply apply;
    void *ctx;
};

static int cmp_thread(const void *x, const void *y) {
    uint32_t a = ((const mt_horder_thread *)x)->tid, b = ((const mt_horder_thread *)y)->tid;
    return a < b ? -1 : a > b;
}

/* The least time thread i's changes to come can have. */
static uint64_t bound(const mt_horder *o, uint32_t i) {
    if (!o->left[i]) return UINT64_MAX;
    uint64_t b = o->seen[i] > o->t_first[i] ? o->seen[i] : o->t_first[i];
    if (o->nblk[i] && (int32_t)i != o->cur) { /* its last block read is complete */
        uint64_t nb = o->jblk[i] < o->nblk[i] ? o->blk[i][o->jblk[i]] : UINT64_MAX;
        if (nb > b) b = nb;
    }
    return b;
}

static void watermark(mt_horder *o) {
    uint64_t w = UINT64_MAX;
    int32_t m = -1;
    for (uint32_t i = 0; i < o->n; i++) {
        uint64_t b = bound(o, i);
        if (b < w) w = b, m = (int32_t)i;
    }
    o->w = w;
    o->wmin = m;
    o->dirty = 0;
    o->since = 0;
}

int mt_horder_new(mt_horder **out, const mt_horder_thread *threads, uint32_t n, uint64_t cap,
                  mt_horder_apply apply, void *ctx) {
    mt_horder *o = calloc(1, sizeof *o);
    *out = o;
    if (!o) return MT_ERR_NOMEM;
    o->n = n;
    o->cap = cap ? cap : 1;
    o->apply = apply;
    o->ctx = ctx;
    mt_horder_thread *tmp = malloc((n ? n : 1) * sizeof *tmp);
    o->tid = malloc((n ? n : 1) * sizeof *o->tid);
    o->t_first = malloc((n ? n : 1) * sizeof *o->t_first);
    o->left = malloc((n ? n : 1) * sizeof *o->left);
    o->seen = calloc(n ? n : 1, sizeof *o->seen);
    o->blk = malloc((n ? n : 1) * sizeof *o->blk);
    o->nblk = malloc((n ? n : 1) * sizeof *o->nblk);
    o->jblk = calloc(n ? n : 1, sizeof *o->jblk);
    o->q = calloc(n ? n : 1, sizeof *o->q);
    o->cur = -1;
    if (!tmp || !o->tid || !o->t_first || !o->left || !o->seen || !o->blk || !o->nblk ||
        !o->jblk || !o->q) {
        free(tmp);
        return MT_ERR_NOMEM;
    }
    if (n) memcpy(tmp, threads, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, cmp_thread);
    for (uint32_t i = 0; i < n; i++) {
        o->tid[i] = tmp[i].tid;
        o->t_first[i] = tmp[i].t_first;
        o->left[i] = tmp[i].records;
        o->blk[i] = tmp[i].blocks;
        o->nblk[i] = tmp[i].blocks ? tmp[i].nblocks : 0;
    }
    free(tmp);
    watermark(o);
    return 0;
}

void mt_horder_free(mt_horder *o) {
    if (!o) return;
    for (uint32_t i = 0; i < o->n; i++) free(o->q[i].v);
    free(o->q);
    free(o->tid);
    free(o->t_first);
    free(o->left);
    free(o->seen);
    free(o->blk);
    free(o->nblk);
    free(o->jblk);
    free(o);
}

int32_t mt_horder_index(const mt_horder *o, uint32_t tid) {
    uint32_t lo = 0, hi = o->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (o->tid[mid] < tid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < o->n && o->tid[lo] == tid ? (int32_t)lo : -1;
}

void mt_horder_seen(mt_horder *o, int32_t q, uint64_t t) {
    if (q < 0 || t <= o->seen[q]) return;
    o->seen[q] = t;
    if (q == o->wmin) o->dirty = 1;
}

/* A change older than one applied is applied as of the newest time
 * applied: where it is summed (the series, the peak's time). */
static int apply_now(mt_horder *o, const mt_horder_op *op) {
    if (op->idx > o->max_idx) o->max_idx = op->idx;
    if (op->t >= o->last_t) {
        o->last_t = op->t;
        return o->apply(o->ctx, op);
    }
    o->late++;
    o->late_bytes += (uint64_t)(op->delta < 0 ? -op->delta : op->delta);
    mt_horder_op now = *op;
    now.t = o->last_t;
    return o->apply(o->ctx, &now);
}

static int before(const slot *a, const slot *b) {
    return a->t < b->t || (a->t == b->t && a->key < b->key);
}

/* Give r room for c changes (c a power of two, >= r->n). */
static int ring_resize(ring *r, uint64_t c) {
    slot *v = malloc(c * sizeof *v);
    if (!v) return MT_ERR_NOMEM;
    for (uint64_t i = 0; i < r->n; i++) v[i] = r->v[(r->head + i) & (r->cap - 1)];
    free(r->v);
    r->v = v;
    r->head = 0;
    r->cap = c;
    return 0;
}

/* Apply the pending changes up to the watermark (all: every one), and
 * while cap or more are pending the oldest beyond it, down to 7/8 of
 * cap (so that the scan for the oldest is paid once per many). Without
 * force, nothing is looked at unless the watermark rose: every change
 * still pending after the last drain is beyond the watermark then. */
static int drain(mt_horder *o, int all, int force) {
    uint64_t w0 = o->w;
    if (o->dirty && (o->n <= 32 || ++o->since >= 256)) watermark(o);
    uint64_t keep = o->pending >= o->cap ? o->cap - o->cap / 8 : UINT64_MAX;
    if (!all && !force && o->w == w0 && keep == UINT64_MAX) return 0;
    while (o->pending) {
        int32_t best = -1, next = -1;
        for (uint32_t i = 0; i < o->n; i++) {
            const ring *r = &o->q[i];
            if (!r->n) continue;
            const slot *h = &r->v[r->head];
            if (best < 0 || before(h, &o->q[best].v[o->q[best].head])) {
                next = best;
                best = (int32_t)i;
            } else if (next < 0 || before(h, &o->q[next].v[o->q[next].head])) {
                next = (int32_t)i;
            }
        }
        ring *r = &o->q[best];
        const slot *stop = next >= 0 ? &o->q[next].v[o->q[next].head] : NULL;
        int moved = 0;
        while (r->n) {
            slot x = r->v[r->head];
            if (!all && x.t > o->w && o->pending <= keep) break;
            if (moved && stop && before(stop, &x)) break;
            r->head = (r->head + 1) & (r->cap - 1);
            r->n--;
            o->pending--;
            if (r->cap > 4096 && r->n < r->cap / 4 && ring_resize(r, r->cap / 2)) {
                /* (a burst is over: its memory goes back; no memory to
                 * shrink it is no error) */
            }
            moved = 1;
            mt_horder_op op = {x.t, x.key >> 8, x.delta, (uint32_t)(x.key & 0xff)};
            int rc = apply_now(o, &op);
            if (rc) return rc;
        }
        if (!moved) break;
    }
    return 0;
}

int mt_horder_push(mt_horder *o, int32_t q, const mt_horder_op *op) {
    if (q < 0 || o->n <= 1 || (!o->pending && op->t <= o->w)) return apply_now(o, op);
    if (o->pending >= o->cap) { /* room first: no ring grows past cap */
        int rc = drain(o, 0, 1);
        if (rc) return rc;
    }
    ring *r = &o->q[q];
    if (r->n == r->cap && ring_resize(r, r->cap ? r->cap * 2 : 256)) return MT_ERR_NOMEM;
    /* In time order within the ring: a thread's changes come in its time
     * order, except the death of a block born dead, timed at another
     * thread's free (mt_heap.c): it goes in its place. */
    slot x = {op->t, op->idx << 8 | (op->domain & 0xff), op->delta};
    uint64_t m = r->cap - 1, k = r->n;
    while (k && before(&x, &r->v[(r->head + k - 1) & m])) {
        r->v[(r->head + k) & m] = r->v[(r->head + k - 1) & m];
        k--;
    }
    r->v[(r->head + k) & m] = x;
    r->n++;
    o->pending++;
    return drain(o, 0, op->t <= o->w);
}

int mt_horder_block(mt_horder *o, int32_t q) {
    if (q >= 0) o->jblk[q]++;
    if (q == o->cur) return 0;
    o->cur = q; /* the last block read is complete: its thread's bound may rise */
    watermark(o);
    return o->pending ? drain(o, 0, 1) : 0;
}

int mt_horder_record_done(mt_horder *o, int32_t q) {
    if (q < 0 || !o->left[q]) return 0;
    if (--o->left[q] == 0 && q == o->wmin) {
        watermark(o); /* a thread finished: the watermark may leap */
        return o->pending ? drain(o, 0, 1) : 0;
    }
    return 0;
}

int mt_horder_flush(mt_horder *o) { return drain(o, 1, 1); }

uint64_t mt_horder_late(const mt_horder *o, uint64_t *bytes) {
    if (bytes) *bytes = o->late_bytes;
    return o->late;
}

uint64_t mt_horder_last_idx(const mt_horder *o) { return o->max_idx; }
