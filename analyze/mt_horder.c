/*
 * mt_horder.c - heap changes put back in time order; see mt_horder.h.
 *
 * Each thread's pending changes are a ring in push order, which is time
 * order for that thread; the non-empty rings form a min-heap by their
 * first change, and applying drains the top ring while it stays ahead of
 * the next oldest (one heap step per run, O(log threads)). Changes timed
 * after their thread's latest record wait in a separate min-heap.
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

/* A thread's changes in time order (append only). */
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
    uint32_t *act, nact; /* the threads with records still to come */
    uint32_t *apos;    /* place in act + 1 */
    int32_t cur;       /* the thread of the block being read, -1: other */
    ring *q;
    uint32_t *hp, nhp; /* the non-empty rings, a min-heap by first change */
    slot *side;        /* changes timed after their thread's latest record
                          (a death at another thread's free): a min-heap */
    uint64_t nside, capside;
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

static int before(const slot *a, const slot *b) {
    return a->t < b->t || (a->t == b->t && a->key < b->key);
}

/* ---- The watermark ------------------------------------------------------ */

/* The least time thread i's changes to come can have. */
static uint64_t bound(const mt_horder *o, uint32_t i) {
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
    for (uint32_t k = 0; k < o->nact; k++) {
        uint32_t i = o->act[k];
        uint64_t b = bound(o, i);
        if (b < w) w = b, m = (int32_t)i;
    }
    o->w = w;
    o->wmin = m;
    o->dirty = 0;
    o->since = 0;
}

/* ---- The heap of rings and the side heap ------------------------------- */

static const slot *first(const mt_horder *o, uint32_t ring_i) {
    const ring *r = &o->q[ring_i];
    return &r->v[r->head];
}

static void hp_up(mt_horder *o, uint32_t pos) {
    uint32_t x = o->hp[pos];
    while (pos) {
        uint32_t up = (pos - 1) / 2;
        if (!before(first(o, x), first(o, o->hp[up]))) break;
        o->hp[pos] = o->hp[up];
        pos = up;
    }
    o->hp[pos] = x;
}

static void hp_down(mt_horder *o, uint32_t pos) {
    uint32_t x = o->hp[pos];
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= o->nhp) break;
        if (c + 1 < o->nhp && before(first(o, o->hp[c + 1]), first(o, o->hp[c]))) c++;
        if (!before(first(o, o->hp[c]), first(o, x))) break;
        o->hp[pos] = o->hp[c];
        pos = c;
    }
    o->hp[pos] = x;
}

static void hp_pop(mt_horder *o) {
    if (--o->nhp) {
        o->hp[0] = o->hp[o->nhp];
        hp_down(o, 0);
    }
}

static int side_push(mt_horder *o, const slot *x) {
    if (o->nside == o->capside) {
        uint64_t c = o->capside ? o->capside * 2 : 64;
        slot *v = realloc(o->side, c * sizeof *v);
        if (!v) return MT_ERR_NOMEM;
        o->side = v;
        o->capside = c;
    }
    uint64_t pos = o->nside++;
    while (pos && before(x, &o->side[(pos - 1) / 2])) {
        o->side[pos] = o->side[(pos - 1) / 2];
        pos = (pos - 1) / 2;
    }
    o->side[pos] = *x;
    return 0;
}

static void side_pop(mt_horder *o) {
    slot x = o->side[--o->nside];
    uint64_t pos = 0;
    for (;;) {
        uint64_t c = 2 * pos + 1;
        if (c >= o->nside) break;
        if (c + 1 < o->nside && before(&o->side[c + 1], &o->side[c])) c++;
        if (!before(&o->side[c], &x)) break;
        o->side[pos] = o->side[c];
        pos = c;
    }
    if (o->nside) o->side[pos] = x;
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

/* ---- Setup -------------------------------------------------------------- */

int mt_horder_new(mt_horder **out, const mt_horder_thread *threads, uint32_t n, uint64_t cap,
                  mt_horder_apply apply, void *ctx) {
    mt_horder *o = calloc(1, sizeof *o);
    *out = o;
    if (!o) return MT_ERR_NOMEM;
    o->cap = cap ? cap : 1;
    o->apply = apply;
    o->ctx = ctx;
    o->cur = -1;
    size_t m = n ? n : 1;
    mt_horder_thread *tmp = malloc(m * sizeof *tmp);
    o->tid = malloc(m * sizeof *o->tid);
    o->t_first = malloc(m * sizeof *o->t_first);
    o->left = malloc(m * sizeof *o->left);
    o->seen = calloc(m, sizeof *o->seen);
    o->blk = malloc(m * sizeof *o->blk);
    o->nblk = malloc(m * sizeof *o->nblk);
    o->jblk = calloc(m, sizeof *o->jblk);
    o->act = malloc(m * sizeof *o->act);
    o->apos = calloc(m, sizeof *o->apos);
    o->hp = malloc(m * sizeof *o->hp);
    o->q = calloc(m, sizeof *o->q);
    if (!tmp || !o->tid || !o->t_first || !o->left || !o->seen || !o->blk || !o->nblk ||
        !o->jblk || !o->act || !o->apos || !o->hp || !o->q) {
        free(tmp);
        return MT_ERR_NOMEM; /* (n stays 0: mt_horder_free frees no ring) */
    }
    o->n = n;
    if (n) memcpy(tmp, threads, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, cmp_thread);
    for (uint32_t i = 0; i < n; i++) {
        o->tid[i] = tmp[i].tid;
        o->t_first[i] = tmp[i].t_first;
        o->left[i] = tmp[i].records;
        o->blk[i] = tmp[i].blocks;
        o->nblk[i] = tmp[i].blocks ? tmp[i].nblocks : 0;
        if (o->left[i]) {
            o->act[o->nact] = i;
            o->apos[i] = ++o->nact;
        }
    }
    free(tmp);
    watermark(o);
    return 0;
}

void mt_horder_free(mt_horder *o) {
    if (!o) return;
    for (uint32_t i = 0; i < o->n; i++) free(o->q[i].v);
    free(o->q);
    free(o->hp);
    free(o->side);
    free(o->act);
    free(o->apos);
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

/* ---- Applying ----------------------------------------------------------- */

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

static int apply_slot(mt_horder *o, const slot *x) {
    mt_horder_op op = {x->t, x->key >> 8, x->delta, (uint32_t)(x->key & 0xff)};
    return apply_now(o, &op);
}

/* Apply the pending changes up to the watermark (all: every one), and
 * while cap or more are pending the oldest beyond it, down to 7/8 of cap.
 * The oldest is the first of the ring on top of the heap of rings, or of
 * the side heap; a ring is drained while it stays ahead of the others
 * (one heap step per run of one thread's changes, not per change).
 * Without force, nothing is looked at unless the watermark rose: every
 * change still pending after the last drain is beyond the watermark
 * then. */
static int drain(mt_horder *o, int all, int force) {
    uint64_t w0 = o->w;
    if (o->dirty && (o->nact <= 32 || ++o->since >= 256)) watermark(o);
    uint64_t keep = o->pending >= o->cap ? o->cap - o->cap / 8 : UINT64_MAX;
    if (!all && !force && o->w == w0 && keep == UINT64_MAX) return 0;
    while (o->pending) {
        const slot *rs = o->nhp ? first(o, o->hp[0]) : NULL;
        if (!rs || (o->nside && before(&o->side[0], rs))) {
            slot x = o->side[0];
            if (!all && x.t > o->w && o->pending <= keep) break;
            side_pop(o);
            o->pending--;
            int rc = apply_slot(o, &x);
            if (rc) return rc;
            continue;
        }
        /* The next oldest elsewhere: the top's children, the side heap. */
        const slot *stop = o->nside ? &o->side[0] : NULL;
        for (uint32_t c = 1; c <= 2 && c < o->nhp; c++)
            if (!stop || before(first(o, o->hp[c]), stop)) stop = first(o, o->hp[c]);
        ring *r = &o->q[o->hp[0]];
        int moved = 0;
        while (r->n) {
            slot x = r->v[r->head];
            if (!all && x.t > o->w && o->pending <= keep) break;
            if (moved && stop && before(stop, &x)) break;
            r->head = (r->head + 1) & (r->cap - 1);
            r->n--;
            o->pending--;
            moved = 1;
            if (r->cap > 4096 && r->n < r->cap / 4 && ring_resize(r, r->cap / 2)) {
                /* (a burst is over: its memory goes back; no memory to
                 * shrink it is no error) */
            }
            int rc = apply_slot(o, &x);
            if (rc) return rc;
        }
        if (r->n)
            hp_down(o, 0);
        else
            hp_pop(o);
        if (!moved) break;
    }
    return 0;
}

int mt_horder_push(mt_horder *o, int32_t q, const mt_horder_op *op) {
    if (q < 0 || o->n <= 1 || (!o->pending && op->t <= o->w)) return apply_now(o, op);
    if (o->pending >= o->cap) { /* room first: the rings stay within cap */
        int rc = drain(o, 0, 1);
        if (rc) return rc;
    }
    slot x = {op->t, op->idx << 8 | (op->domain & 0xff), op->delta};
    ring *r = &o->q[q];
    if (op->t > o->seen[q] || (r->n && before(&x, &r->v[(r->head + r->n - 1) & (r->cap - 1)]))) {
        /* Timed after the thread's latest record (the death of a block
         * born dead, at another thread's free, mt_heap.c): its later
         * changes may be older, so it waits in the side heap. */
        if (side_push(o, &x)) return MT_ERR_NOMEM;
    } else {
        if (r->n == r->cap && ring_resize(r, r->cap ? r->cap * 2 : 256)) return MT_ERR_NOMEM;
        r->v[(r->head + r->n) & (r->cap - 1)] = x;
        if (r->n++ == 0) {
            o->hp[o->nhp++] = (uint32_t)q;
            hp_up(o, o->nhp - 1);
        }
    }
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
    if (--o->left[q]) return 0;
    /* Its last record: out of the watermark's threads. */
    uint32_t k = o->apos[q] - 1, last = o->act[--o->nact];
    o->act[k] = last;
    o->apos[last] = k + 1;
    o->apos[q] = 0;
    if (q != o->wmin) return 0;
    watermark(o); /* the watermark may leap */
    return o->pending ? drain(o, 0, 1) : 0;
}

int mt_horder_flush(mt_horder *o) { return drain(o, 1, 1); }

uint64_t mt_horder_late(const mt_horder *o, uint64_t *bytes) {
    if (bytes) *bytes = o->late_bytes;
    return o->late;
}

uint64_t mt_horder_last_idx(const mt_horder *o) { return o->max_idx; }
