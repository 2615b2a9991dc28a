/*
 * mt_heap.c - the heap model: live blocks, interned stacks, and what the
 * analysis reports about allocations. mt_analysis.h ("Allocations") says
 * what is computed and which approximations file order forces; mt_heap.h
 * how the analysis drives it.
 *
 * Everything here is owned by one mt_heap and used by one thread. Memory:
 *   - live blocks: hblock, 40 bytes, in an open-addressing table kept at
 *     most half full (linear probing, deletion by backward shift, so no
 *     tombstones pile up under alloc/free churn);
 *   - stacks: one hnode + one hacc per distinct (parent, fid, line);
 *   - orphans (frees of unknown addresses kept for late allocations): at
 *     most ORPHAN_CAP, and none older than ORPHAN_HORIZON_S of trace time;
 *   - the series: NSLICE slices per domain that has records;
 *   - per thread its stack (16 bytes a frame).
 * The hot path is one switch per record, a cached thread, and for an
 * allocation one or two probes of the live table.
 */
#include "mt_heap.h"

#include "mt_horder.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define NSLICE 4096
#define TOTAL MT_DOMAIN_COUNT /* series index of the total */
#define ORPHAN_CAP (1u << 18)
#define ORPHAN_HORIZON_S 5
#define MAX_SIZES 4
#define ORDER_CAP (1u << 20) /* heap changes waiting for time order */

/* ---- Helpers ------------------------------------------------------------ */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int grow_to(void **arr, uint64_t *cap, uint64_t need, size_t sz) {
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * sz);
    if (!p) return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* 1 - exp(-x) for x >= 0, to ~1e-13 relative, without libm (the tools
 * that link the analysis do not all link it). exp(-x) = 2^-k exp(-r) with
 * r = x - k ln 2 in [0, ln 2), exp(-r) by its series. */
static double one_minus_exp_neg(double x) {
    if (x < 1e-3) /* the series of 1 - exp(-x): no cancellation */
        return x * (1 - x / 2 * (1 - x / 3 * (1 - x / 4 * (1 - x / 5))));
    if (x > 700) return 1.0;
    const double ln2 = 0.6931471805599453094;
    int k = (int)(x / ln2);
    double r = x - k * ln2, term = 1, e = 1;
    for (int i = 1; i < 24; i++) {
        term *= -r / i;
        e += term;
    }
    union { double d; uint64_t u; } p2 = {.u = (uint64_t)(1023 - k) << 52}; /* 2^-k */
    return 1 - e * p2.d;
}

/* ---- State -------------------------------------------------------------- */

typedef struct hnode {
    uint32_t parent, fid, line, depth;
} hnode;

/* Per stack: what its allocations did (window, selected threads). Counts
 * are doubles: sampled blocks stand for fractional numbers of blocks. */
typedef struct hacc {
    double alloc_n, temp_n, leak_n, peak_n;
    uint64_t alloc_b, temp_b, leak_b, peak_b;
} hacc;

enum { HB_USED = 1, HB_SEL = 2, HB_INWIN = 4, HB_REPLACED = 8,
       HB_ATPEAK = 16 /* replay: allocated by the peak (in time order) */ };

typedef struct hblock {
    uint64_t addr, size, t;
    uint32_t node; /* site */
    uint32_t act;  /* serial of the allocating frame (innermost) */
    uint32_t tid;
    uint8_t domain, flags;
} hblock;

typedef struct hframe {
    uint32_t fid, line, node, serial;
} hframe;

typedef struct hthread {
    uint32_t tid;
    int selected;
    hframe *fr;
    uint64_t depth, cap;
    uint64_t dirty;  /* frames [dirty, depth) have no node yet */
    uint32_t serial; /* next activation serial of this thread */
    int32_t oq;      /* its index in the orderer, -1: none */
} hthread;

typedef struct orphan {
    uint64_t addr, t, seq;
    uint32_t tid;
    uint8_t domain, used;
} orphan;

typedef struct oring {
    uint64_t addr, t, seq;
    uint8_t domain;
} oring;

typedef struct hslice {
    uint64_t t0, v0, tlo, lo, thi, hi, t1, v1;
    int set;
} hslice;

/* (table, site, size) -> blocks: the sizes of the PEAK and LEAKS tables. */
typedef struct sagg {
    uint64_t size;
    uint32_t node;
    uint8_t table, used;
    double n;
} sagg;

/* (site, thread, born, died, flags) -> blocks: the lifetimes (see
 * mt_analysis_lifetimes). */
typedef struct hlife {
    uint32_t node, tid;
    uint16_t born, died;
    uint8_t flags, used;
    double n;
    uint64_t bytes;
} hlife;

#define LIFE_CAP (1u << 19) /* entries before the slices are halved */

typedef struct ssort { /* sagg flattened for sorting */
    uint64_t size, bytes;
    uint32_t node;
    uint8_t table;
    double n;
} ssort;

struct mt_heap {
    mt_heap_config c;
    uint64_t horizon; /* ticks */
    mt_analysis_heap s;
    double peak_blocks_w, end_blocks_w;
    double dom_alloc_n[MT_DOMAIN_COUNT + 1], dom_free_n[MT_DOMAIN_COUNT + 1];

    /* stacks */
    uint32_t *canon;  /* fid -> canonical fid + 1 (0: itself); see mt_heap_alias */
    uint64_t ncanon;
    hnode *nodes;
    hacc *acc;
    uint64_t nnodes, capnodes, capacc;
    uint32_t *ntab; /* node id + 1, 0 empty */
    uint64_t nmask;

    /* live blocks */
    hblock *lt;
    uint64_t lmask, nlive;

    /* orphans */
    orphan *ot;
    uint64_t omask, norph;
    oring *ring;
    uint64_t rhead, rcount, oseq;

    /* threads */
    hthread *th;
    uint64_t nth, capth;
    uint32_t *ttab; /* index + 1 */
    uint64_t tmask;
    uint32_t cur_tid;
    hthread *cur;

    /* Running values and the peak, in time order: changes go through the
     * orderer (mt_horder.h), which applies them by time (commit). The
     * peak is reached at change number peak_idx (0: none), timed s.t_peak,
     * when no change numbered above peak_last had been applied: the
     * replay stops there (mt_heap_rewind). */
    mt_horder *ord;
    int32_t rec_q;  /* the orderer index of the record being fed */
    int64_t H[MT_DOMAIN_COUNT + 1];
    uint64_t ops, peak_idx, peak_last;
    int replay, reached;
    int mute; /* the changes being made are not summed (account) */

    hslice *series[MT_DOMAIN_COUNT + 1];
    mt_analysis_heap_point *points[MT_DOMAIN_COUNT + 1];
    uint64_t npoints[MT_DOMAIN_COUNT + 1];

    sagg *sz;
    uint64_t smask, nsz;

    /* lifetimes (c.lifetime_slices != 0) */
    hlife *lf;
    uint64_t lfmask, nlf;
    uint32_t lslices;       /* now: halved when the table fills */
    uint64_t lw0, lw1;      /* the slices' extent, ticks */
    mt_analysis_lifetime *lout;

    /* results */
    mt_analysis_site *sites[4][2];
    uint32_t nsites[4];
    /* A site's frames are made when first asked for (mt_heap_site_frames):
     * the tables of a long exact trace hold ~10^6 stacks of ~50 frames.
     * fr[node]: its frames, NULL until then; they live in chunks (never
     * moved, so a pointer handed out stays valid). Names by fid. */
    mt_analysis_frame **fr;
    mt_analysis_frame **chunks;
    uint64_t nchunks, capchunks, chunk_used, chunk_cap;
    const char **fqn, **ffile;
    uint32_t *ffirst;
    uint32_t maxfid;
    mt_analysis_size_count *sizes;
    char **pool;
    uint64_t npool, cappool;
};

static int inwin(const mt_heap *h, uint64_t t) { return t >= h->c.from && t <= h->c.to; }

/* Estimated bytes of a block of s bytes, and *w the blocks it stands for. */
static inline uint64_t est_bytes(const mt_heap *h, uint64_t s, double *w) {
    if (h->c.sample_bytes <= 1 || s == 0) {
        *w = 1;
        return s;
    }
    double p = one_minus_exp_neg((double)s / (double)h->c.sample_bytes);
    *w = 1 / p;
    return (uint64_t)((double)s / p + 0.5);
}

/* ---- Stacks ------------------------------------------------------------- */

static uint64_t node_hash(uint32_t parent, uint32_t fid, uint32_t line) {
    return mix64(((uint64_t)parent << 32 | fid) ^ mix64((uint64_t)line + 0x9e3779b97f4a7c15ULL));
}

static int ntab_grow(mt_heap *h) {
    uint64_t cap = h->ntab ? (h->nmask + 1) * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint64_t n = 1; n < h->nnodes; n++) {
        const hnode *x = &h->nodes[n];
        uint64_t i = node_hash(x->parent, x->fid, x->line) & (cap - 1);
        while (t[i]) i = (i + 1) & (cap - 1);
        t[i] = (uint32_t)n + 1;
    }
    free(h->ntab);
    h->ntab = t;
    h->nmask = cap - 1;
    return 0;
}

static uint32_t intern(mt_heap *h, uint32_t parent, uint32_t fid, uint32_t line) {
    uint64_t i = node_hash(parent, fid, line) & h->nmask;
    for (uint32_t v; (v = h->ntab[i]); i = (i + 1) & h->nmask) {
        const hnode *x = &h->nodes[v - 1];
        if (x->parent == parent && x->fid == fid && x->line == line) return v - 1;
    }
    if (h->nnodes >= NONE - 1) return NONE;
    if (grow_to((void **)&h->nodes, &h->capnodes, h->nnodes + 1, sizeof *h->nodes) ||
        grow_to((void **)&h->acc, &h->capacc, h->nnodes + 1, sizeof *h->acc))
        return NONE;
    uint32_t n = (uint32_t)h->nnodes++;
    h->nodes[n] = (hnode){parent, fid, line, h->nodes[parent].depth + 1};
    memset(&h->acc[n], 0, sizeof h->acc[n]);
    h->ntab[i] = n + 1;
    if (h->nnodes * 2 > h->nmask + 1 && ntab_grow(h)) return NONE;
    return n;
}

static hthread *thread_get(mt_heap *h, uint32_t tid) {
    if (h->cur && h->cur_tid == tid) return h->cur;
    uint64_t i = mix64(tid) & h->tmask;
    for (uint32_t v; (v = h->ttab[i]); i = (i + 1) & h->tmask)
        if (h->th[v - 1].tid == tid) {
            h->cur_tid = tid;
            return h->cur = &h->th[v - 1];
        }
    if (grow_to((void **)&h->th, &h->capth, h->nth + 1, sizeof *h->th)) return NULL;
    hthread *t = &h->th[h->nth];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    t->selected = h->c.selected ? h->c.selected(h->c.ctx, tid) : 1;
    t->serial = 1;
    t->oq = h->ord ? mt_horder_index(h->ord, tid) : -1;
    h->ttab[i] = (uint32_t)++h->nth;
    if (h->nth * 2 > h->tmask + 1) {
        uint64_t cap = (h->tmask + 1) * 2;
        uint32_t *tt = calloc(cap, sizeof *tt);
        if (!tt) return NULL;
        for (uint64_t k = 0; k < h->nth; k++) {
            uint64_t j = mix64(h->th[k].tid) & (cap - 1);
            while (tt[j]) j = (j + 1) & (cap - 1);
            tt[j] = (uint32_t)k + 1;
        }
        free(h->ttab);
        h->ttab = tt;
        h->tmask = cap - 1;
    }
    h->cur_tid = tid;
    return h->cur = &h->th[h->nth - 1];
}

static int push(hthread *t, uint32_t fid) {
    if (grow_to((void **)&t->fr, &t->cap, t->depth + 1, sizeof *t->fr)) return -1;
    t->fr[t->depth] = (hframe){fid, 0, NONE, t->serial++};
    if (t->dirty > t->depth) t->dirty = t->depth;
    t->depth++;
    return 0;
}

static void pop(hthread *t) {
    if (!t->depth) return; /* entered before recording: nothing to pop */
    t->depth--;
    if (t->dirty > t->depth) t->dirty = t->depth;
}

static inline uint32_t canonical(const mt_heap *h, uint32_t fid) {
    return fid < h->ncanon && h->canon[fid] ? h->canon[fid] - 1 : fid;
}

int mt_heap_alias(mt_heap *h, uint32_t fid, uint32_t canonical_fid) {
    if (fid == canonical_fid) return 0;
    if (fid >= h->ncanon) {
        uint64_t n = h->ncanon ? h->ncanon : 256;
        while (n <= fid) n *= 2;
        uint32_t *c = realloc(h->canon, n * sizeof *c);
        if (!c) return MT_ERR_NOMEM;
        memset(c + h->ncanon, 0, (n - h->ncanon) * sizeof *c);
        h->canon = c;
        h->ncanon = n;
    }
    h->canon[fid] = canonical(h, canonical_fid) + 1;
    return 0;
}

/* The site of the thread's stack now: intern the frames changed since
 * (functions by location: see mt_heap_alias). */
static uint32_t site_of(mt_heap *h, hthread *t) {
    for (uint64_t i = t->dirty; i < t->depth; i++) {
        uint32_t parent = i ? t->fr[i - 1].node : 0;
        uint32_t n = intern(h, parent, canonical(h, t->fr[i].fid), t->fr[i].line);
        if (n == NONE) return NONE;
        t->fr[i].node = n;
    }
    t->dirty = t->depth;
    return t->depth ? t->fr[t->depth - 1].node : 0;
}

/* A BLOCK states the stack: keep the frames it agrees with (the same
 * activations), replace the rest. */
static int sync_block(hthread *t, const mt_record *rec) {
    uint32_t d = rec->u.block.depth;
    const uint32_t *fids = rec->u.block.fids;
    uint64_t k = 0;
    while (k < t->depth && k < d && t->fr[k].fid == fids[k]) k++;
    t->depth = k;
    if (t->dirty > k) t->dirty = k;
    for (uint64_t i = k; i < d; i++)
        if (push(t, fids[i])) return -1;
    /* 1.3: the lines of the frames' positions (a BLOCK without positions
     * leaves the lines that LINE records set). */
    const uint32_t *lines = rec->u.block.lines;
    for (uint64_t i = 0; lines && i < d; i++) {
        if (!lines[i] || t->fr[i].line == lines[i]) continue;
        t->fr[i].line = lines[i];
        if (t->dirty > i) t->dirty = i;
    }
    return 0;
}

/* POS (1.3): frames moved to other lines. */
static void set_pos(hthread *t, const mt_record *rec) {
    for (uint32_t j = 0; j < rec->u.pos.n; j++) {
        uint32_t lv = rec->u.pos.levels[j];
        if (lv >= t->depth) continue;
        uint64_t i = t->depth - 1 - lv;
        if (t->fr[i].line == rec->u.pos.lines[j]) continue;
        t->fr[i].line = rec->u.pos.lines[j];
        if (t->dirty > i) t->dirty = i;
    }
}

/* ---- Tables: live blocks, orphans, sizes -------------------------------- */

static inline uint64_t addr_hash(uint64_t addr, uint8_t domain) {
    return mix64(addr ^ ((uint64_t)domain << 58));
}

static hblock *live_find(mt_heap *h, uint64_t addr, uint8_t domain) {
    for (uint64_t i = addr_hash(addr, domain) & h->lmask; h->lt[i].flags; i = (i + 1) & h->lmask)
        if (h->lt[i].addr == addr && h->lt[i].domain == domain) return &h->lt[i];
    return NULL;
}

static int live_grow(mt_heap *h) {
    uint64_t cap = h->lt ? (h->lmask + 1) * 2 : 4096;
    hblock *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint64_t i = 0; h->lt && i <= h->lmask; i++) {
        if (!h->lt[i].flags) continue;
        uint64_t j = addr_hash(h->lt[i].addr, h->lt[i].domain) & (cap - 1);
        while (t[j].flags) j = (j + 1) & (cap - 1);
        t[j] = h->lt[i];
    }
    free(h->lt);
    h->lt = t;
    h->lmask = cap - 1;
    return 0;
}

static hblock *live_insert(mt_heap *h, uint64_t addr, uint8_t domain) {
    if ((h->nlive + 1) * 2 > h->lmask + 1 && live_grow(h)) return NULL;
    uint64_t i = addr_hash(addr, domain) & h->lmask;
    while (h->lt[i].flags) i = (i + 1) & h->lmask;
    h->nlive++;
    return &h->lt[i];
}

/* Backward-shift deletion: move up each later entry of the run whose home
 * is not cyclically within (hole, entry]. */
static void live_delete(mt_heap *h, hblock *b) {
    uint64_t i = (uint64_t)(b - h->lt), j = i, m = h->lmask;
    for (;;) {
        j = (j + 1) & m;
        if (!h->lt[j].flags) break;
        uint64_t k = addr_hash(h->lt[j].addr, h->lt[j].domain) & m;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
        h->lt[i] = h->lt[j];
        i = j;
    }
    h->lt[i].flags = 0;
    h->nlive--;
}

static orphan *orphan_find(mt_heap *h, uint64_t addr, uint8_t domain) {
    for (uint64_t i = addr_hash(addr, domain) & h->omask; h->ot[i].used; i = (i + 1) & h->omask)
        if (h->ot[i].addr == addr && h->ot[i].domain == domain) return &h->ot[i];
    return NULL;
}

static void orphan_delete(mt_heap *h, orphan *o) {
    uint64_t i = (uint64_t)(o - h->ot), j = i, m = h->omask;
    for (;;) {
        j = (j + 1) & m;
        if (!h->ot[j].used) break;
        uint64_t k = addr_hash(h->ot[j].addr, h->ot[j].domain) & m;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
        h->ot[i] = h->ot[j];
        i = j;
    }
    h->ot[i].used = 0;
    h->norph--;
}

/* Drop the oldest ring entry; its orphan unless a newer free replaced it. */
static void orphan_evict(mt_heap *h) {
    oring *r = &h->ring[h->rhead];
    orphan *o = orphan_find(h, r->addr, r->domain);
    if (o && o->seq == r->seq) orphan_delete(h, o);
    h->rhead = (h->rhead + 1) % ORPHAN_CAP;
    h->rcount--;
}

static void orphan_add(mt_heap *h, uint64_t addr, uint8_t domain, uint64_t t, uint32_t tid) {
    while (h->rcount && (h->rcount == ORPHAN_CAP || h->ring[h->rhead].t + h->horizon < t))
        orphan_evict(h);
    uint64_t seq = ++h->oseq;
    orphan *o = orphan_find(h, addr, domain);
    if (!o) {
        uint64_t i = addr_hash(addr, domain) & h->omask;
        while (h->ot[i].used) i = (i + 1) & h->omask;
        o = &h->ot[i];
        h->norph++;
    }
    *o = (orphan){addr, t, seq, tid, domain, 1};
    h->ring[(h->rhead + h->rcount++) % ORPHAN_CAP] = (oring){addr, t, seq, domain};
}

static int sizes_add(mt_heap *h, int table, uint32_t node, uint64_t size, double w) {
    if ((h->nsz + 1) * 2 > (h->sz ? h->smask + 1 : 0)) {
        uint64_t cap = h->sz ? (h->smask + 1) * 2 : 1024;
        sagg *t = calloc(cap, sizeof *t);
        if (!t) return -1;
        for (uint64_t i = 0; h->sz && i <= h->smask; i++) {
            if (!h->sz[i].used) continue;
            uint64_t j = mix64(h->sz[i].size ^ ((uint64_t)h->sz[i].node << 32 | h->sz[i].table)) &
                         (cap - 1);
            while (t[j].used) j = (j + 1) & (cap - 1);
            t[j] = h->sz[i];
        }
        free(h->sz);
        h->sz = t;
        h->smask = cap - 1;
    }
    uint64_t i = mix64(size ^ ((uint64_t)node << 32 | (uint64_t)table)) & h->smask;
    for (; h->sz[i].used; i = (i + 1) & h->smask)
        if (h->sz[i].size == size && h->sz[i].node == node && h->sz[i].table == table) {
            h->sz[i].n += w;
            return 0;
        }
    h->sz[i] = (sagg){size, node, (uint8_t)table, 1, w};
    h->nsz++;
    return 0;
}

/* ---- Lifetimes ---------------------------------------------------------- */

/* The slice of time t: 0 before the extent, 1..N in it, N + 1 after. */
static uint32_t life_slice(const mt_heap *h, uint64_t t) {
    if (t < h->lw0) return 0;
    if (t > h->lw1) return h->lslices + 1;
    return 1 + (uint32_t)((unsigned __int128)(t - h->lw0) * h->lslices / (h->lw1 - h->lw0 + 1));
}

static uint64_t life_hash(uint32_t node, uint32_t tid, uint32_t born, uint32_t died,
                          uint32_t flags) {
    return mix64(((uint64_t)node << 32 | tid) ^
                 mix64((uint64_t)born << 32 | (uint64_t)died << 8 | flags));
}

static int life_put(hlife *t, uint64_t mask, const hlife *x) {
    uint64_t i = life_hash(x->node, x->tid, x->born, x->died, x->flags) & mask;
    for (; t[i].used; i = (i + 1) & mask)
        if (t[i].node == x->node && t[i].tid == x->tid && t[i].born == x->born &&
            t[i].died == x->died && t[i].flags == x->flags) {
            t[i].n += x->n;
            t[i].bytes += x->bytes;
            return 0;
        }
    t[i] = *x;
    t[i].used = 1;
    return 1;
}

/* Rehash into a table of cap entries; with halve, the slices are merged
 * pairwise first (slice k of N becomes (k + 1) / 2 of N / 2). */
static int life_rehash(mt_heap *h, uint64_t cap, int halve) {
    hlife *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    uint32_t N = h->lslices;
    uint64_t n = 0;
    for (uint64_t i = 0; h->lf && i <= h->lfmask; i++) {
        hlife x = h->lf[i];
        if (!x.used) continue;
        if (halve) {
            x.born = x.born == 0 ? 0 : x.born == N + 1 ? N / 2 + 1 : (uint16_t)((x.born + 1) / 2);
            if (!(x.flags & MT_LIFETIME_PEAK))
                x.died = x.died == N + 1 ? N / 2 + 1 : (uint16_t)((x.died + 1) / 2);
        }
        n += (uint64_t)life_put(t, cap - 1, &x);
    }
    free(h->lf);
    h->lf = t;
    h->lfmask = cap - 1;
    h->nlf = n;
    if (halve) h->lslices = N / 2;
    return 0;
}

static int life_add(mt_heap *h, const hblock *b, uint32_t died, uint8_t flags, double w,
                    uint64_t e) {
    uint32_t born = life_slice(h, b->t);
    if (!(flags & MT_LIFETIME_PEAK) && died < born)
        died = born; /* a free timed before its allocation (two threads'
                        records, see "Order"): within that slice */
    if (born > h->lslices || (!(flags & MT_LIFETIME_PEAK) && died == 0))
        return 0; /* allocated after the extent, or gone before it */
    if ((h->nlf + 1) * 2 > (h->lf ? h->lfmask + 1 : 0)) {
        if (h->nlf >= LIFE_CAP && h->lslices > 8) { /* coarser, not bigger */
            if (life_rehash(h, h->lfmask + 1, 1)) return -1;
            born = life_slice(h, b->t);
            if (!(flags & MT_LIFETIME_PEAK))
                died = died > h->lslices * 2 ? h->lslices + 1 : (died + 1) / 2;
        }
        if ((h->nlf + 1) * 2 > (h->lf ? h->lfmask + 1 : 0) &&
            life_rehash(h, h->lf ? (h->lfmask + 1) * 2 : 4096, 0))
            return -1;
    }
    hlife x = {b->node, b->tid, (uint16_t)born, (uint16_t)died, flags, 1, w, e};
    h->nlf += (uint64_t)life_put(h->lf, h->lfmask, &x);
    return 0;
}

/* ---- The series --------------------------------------------------------- */

static int series_note(mt_heap *h, int k, uint64_t t) {
    if (!h->series[k] && !(h->series[k] = calloc(NSLICE, sizeof(hslice)))) return -1;
    uint64_t span = h->c.t_last > h->c.t_first ? h->c.t_last - h->c.t_first : 0;
    uint64_t off = t > h->c.t_first ? t - h->c.t_first : 0;
    uint64_t i = span ? (uint64_t)((unsigned __int128)off * NSLICE / (span + 1)) : 0;
    if (i >= NSLICE) i = NSLICE - 1;
    hslice *s = &h->series[k][i];
    uint64_t v = h->H[k] > 0 ? (uint64_t)h->H[k] : 0;
    if (!s->set) {
        *s = (hslice){t, v, t, v, t, v, t, v, 1};
        return 0;
    }
    if (t < s->t0) s->t0 = t, s->v0 = v;
    if (t >= s->t1) s->t1 = t, s->v1 = v;
    if (v < s->lo) s->lo = v, s->tlo = t;
    if (v > s->hi) s->hi = v, s->thi = t;
    return 0;
}

/* ---- Allocation and free ------------------------------------------------ */

/* Replay: whether change number idx at time t was applied by the time the
 * peak was reached (time order: by time, then number). */
static int by_peak(const mt_heap *h, uint64_t t, uint64_t idx) {
    return t < h->s.t_peak || (t == h->s.t_peak && idx <= h->peak_idx);
}

/* Replay: block b was live at the peak; group it by site. */
static int snapshot_add(mt_heap *h, const hblock *b) {
    double w;
    uint64_t e = est_bytes(h, b->size, &w);
    h->acc[b->node].peak_n += w;
    h->acc[b->node].peak_b += e;
    h->peak_blocks_w += w;
    if (sizes_add(h, MT_ANALYSIS_SITES_PEAK, b->node, b->size, w)) return -1;
    if (h->lslices && life_add(h, b, 0, MT_LIFETIME_PEAK, w, e)) return -1;
    return 0;
}

/* Replay, after each record: once every change applied by the peak has
 * been made, the blocks allocated by then and still live were live at
 * the peak (those freed later in time but earlier in the file were
 * grouped as they were freed, op_free). */
static int maybe_snapshot(mt_heap *h) {
    if (h->ops < h->peak_last) return 0;
    for (uint64_t i = 0; i <= h->lmask; i++) {
        const hblock *b = &h->lt[i];
        if ((b->flags & (HB_USED | HB_ATPEAK)) == (HB_USED | HB_ATPEAK) && snapshot_add(h, b))
            return -1;
    }
    h->reached = 1;
    return 1;
}

/* A change applied in time order (the orderer's callback). */
static int commit(void *ctx, const mt_horder_op *op) {
    mt_heap *h = ctx;
    int d = (int)op->domain;
    uint64_t t = op->t;
    h->H[d] += op->delta;
    h->H[TOTAL] += op->delta;
    if (series_note(h, d, t) || series_note(h, TOTAL, t)) return MT_ERR_NOMEM;
    if (!inwin(h, t)) return 0;
    uint64_t all = h->H[TOTAL] > 0 ? (uint64_t)h->H[TOTAL] : 0;
    uint64_t dv = h->H[d] > 0 ? (uint64_t)h->H[d] : 0;
    if (all > h->s.peak_bytes) {
        h->s.peak_bytes = all;
        h->s.t_peak = t;
        h->peak_idx = op->idx;
        h->peak_last = mt_horder_last_idx(h->ord);
    }
    mt_analysis_heap_domain *dom = &h->s.domains[d];
    if (dv > dom->peak_bytes) dom->peak_bytes = dv;
    dom->end_bytes = dv;
    h->s.total.end_bytes = all;
    return 0;
}

/* Change number h->ops: e bytes more (sign) in domain d at time t. */
static int account(mt_heap *h, int d, uint64_t t, int64_t delta) {
    if (h->mute) return 0;
    mt_horder_op op = {t, h->ops, delta, (uint32_t)d};
    return mt_horder_push(h->ord, h->rec_q, &op) ? -1 : 0;
}

/* A block of `size` bytes at addr appears at time t, allocated by thread
 * t at its current stack. */
static int op_alloc(mt_heap *h, hthread *th, uint8_t d, uint64_t addr, uint64_t size,
                    uint64_t t, uint8_t extra, hblock **out) {
    uint32_t node = site_of(h, th);
    if (node == NONE) return -1;
    hblock *b = live_insert(h, addr, d);
    if (!b) return -1;
    *b = (hblock){addr, size, t, node, th->depth ? th->fr[th->depth - 1].serial : 0, th->tid,
                  d, (uint8_t)(HB_USED | extra)};
    if (th->selected) b->flags |= HB_SEL;
    if (inwin(h, t)) b->flags |= HB_INWIN;
    double w;
    uint64_t e = est_bytes(h, size, &w);
    h->ops++;
    *out = b;
    if (h->replay) {
        if (by_peak(h, t, h->ops)) b->flags |= HB_ATPEAK;
        return 0;
    }
    if (h->nlive > h->s.max_live_blocks) h->s.max_live_blocks = h->nlive;
    if (b->flags & HB_INWIN) {
        h->dom_alloc_n[d] += w;
        h->dom_alloc_n[TOTAL] += w;
        h->s.domains[d].alloc_bytes += e;
        h->s.total.alloc_bytes += e;
        if (b->flags & HB_SEL) {
            h->acc[node].alloc_n += w;
            h->acc[node].alloc_b += e;
        }
    }
    return account(h, d, t, (int64_t)e);
}

/* Block b is freed at time t by thread th (NULL: not by a thread's own
 * call, e.g. replaced or born dead). */
static int op_free(mt_heap *h, hblock *b, uint64_t t, const hthread *th) {
    double w;
    uint64_t e = est_bytes(h, b->size, &w);
    uint8_t d = b->domain;
    hblock x = *b;
    live_delete(h, b);
    h->ops++;
    /* In time order a block is freed no sooner than it was allocated (in
     * traces without ALLOC_ORDERED another thread's free can be timed a
     * little before the allocation it ends). */
    uint64_t tt = t < x.t ? x.t : t;
    if (h->replay) /* allocated by the peak, freed after: live then */
        return (x.flags & HB_ATPEAK) && !by_peak(h, tt, h->ops) ? snapshot_add(h, &x) : 0;
    if (inwin(h, t)) {
        h->dom_free_n[d] += w;
        h->dom_free_n[TOTAL] += w;
        h->s.domains[d].free_bytes += e;
        h->s.total.free_bytes += e;
    }
    if (x.t <= h->c.to && t > h->c.to) h->end_blocks_w += w; /* live at the end */
    uint32_t depth = h->nodes[x.node].depth;
    int temp = th && th->tid == x.tid && depth && th->depth >= depth &&
               th->fr[depth - 1].serial == x.act;
    if (h->lslices &&
        life_add(h, &x, life_slice(h, t), temp ? MT_LIFETIME_TEMP : 0, w, e))
        return -1;
    if ((x.flags & (HB_SEL | HB_INWIN)) == (HB_SEL | HB_INWIN)) {
        hacc *A = &h->acc[x.node];
        if (temp) {
            A->temp_n += w;
            A->temp_b += e;
        }
        if (t > h->c.to) { /* live at the window's end: a leak of it */
            A->leak_n += w;
            A->leak_b += e;
            if (sizes_add(h, MT_ANALYSIS_SITES_LEAKS, x.node, x.size, w)) return -1;
        }
    }
    return account(h, d, tt, -(int64_t)e);
}

static int do_alloc(mt_heap *h, hthread *th, uint8_t d, uint64_t addr, uint64_t size, uint64_t t) {
    uint8_t extra = 0;
    int rc;
    hblock *b = live_find(h, addr, d);
    if (b && h->c.ordered && b->tid != th->tid && b->t > t) {
        /* Another thread's block there is newer: this one was freed before
         * that one was allocated, and its records reached the file later
         * (the recorder times a thread that takes over after the other
         * thread's last record, ALLOC.md). It is born dead; the live block
         * leaves the table meanwhile (one block at an address at a time),
         * then
         * comes back marked as having replaced it, so that its free, timed
         * before the live block, is ignored. Its death: a free by another
         * thread kept as an orphan, between the two allocations (a
         * producer's block freed by the consumer, whose records came
         * first), else its birth. */
        if (!h->replay) h->s.late_allocs++;
        hblock keep = *b;
        live_delete(h, b);
        uint64_t death = t;
        orphan *o = h->norph ? orphan_find(h, addr, d) : NULL;
        if (o && o->tid != th->tid && o->t >= t && o->t <= keep.t) {
            death = o->t;
            orphan_delete(h, o);
            if (!h->replay) h->s.unknown_frees--; /* that free was known after all */
        }
        hblock *old;
        h->mute = death == t; /* never live for any time: not in the heap */
        rc = op_alloc(h, th, d, addr, size, t, 0, &old);
        if (rc >= 0) {
            int rf = op_free(h, old, death, NULL);
            if (rf) rc = rf;
        }
        h->mute = 0;
        hblock *back = live_insert(h, addr, d);
        if (!back) return -1;
        keep.flags |= HB_REPLACED;
        *back = keep;
        return rc;
    }
    if (b) { /* its free is missing, or in another thread's later block */
        if (!h->replay) h->s.reused_live++;
        if ((rc = op_free(h, b, t, NULL))) return rc;
        extra = HB_REPLACED;
    } else if (h->norph) {
        orphan *o = orphan_find(h, addr, d);
        if (o) {
            orphan x = *o;
            /* With ordered times an orphan that is not this block's free
             * may still be that of an older block of another thread whose
             * records come later (above): it stays until it ages out. */
            if (!h->c.ordered || (x.tid != th->tid && x.t >= t)) orphan_delete(h, o);
            if (x.tid != th->tid && x.t >= t) { /* freed before it reached the file */
                if (!h->replay) { /* that free was known after all */
                    h->s.late_allocs++;
                    h->s.unknown_frees--;
                }
                h->mute = x.t == t; /* never live for any time: not in the heap */
                rc = op_alloc(h, th, d, addr, size, t, 0, &b);
                if (!rc) rc = op_free(h, b, x.t, NULL);
                h->mute = 0;
                return rc;
            }
        }
    }
    return op_alloc(h, th, d, addr, size, t, extra, &b);
}

static int do_free(mt_heap *h, hthread *th, uint8_t d, uint64_t addr, uint64_t t) {
    hblock *b = live_find(h, addr, d);
    if (!b) {
        if (!h->replay) h->s.unknown_frees++;
        orphan_add(h, addr, d, t, th->tid);
        return 0;
    }
    /* Another thread's free timed before the live block was allocated: the
     * free of the block it replaced; in an ordered trace, of any older
     * block there (one born dead, or freed before a newer record of its
     * address reached the file). */
    if ((h->c.ordered || (b->flags & HB_REPLACED)) && b->tid != th->tid && t < b->t) {
        if (!h->replay) h->s.stale_frees++; /* the free of the block it replaced */
        return 0;
    }
    return op_free(h, b, t, th);
}

/* ---- Feeding ------------------------------------------------------------ */

int mt_heap_feed(mt_heap *h, const mt_record *rec) {
    switch (rec->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND:
    case MT_REC_LINE:
    case MT_REC_BLOCK:
    case MT_REC_POS:
    case MT_REC_ALLOC:
    case MT_REC_FREE:
    case MT_REC_REALLOC:
        break;
    default:
        return 0;
    }
    hthread *th = thread_get(h, rec->tid);
    if (!th) return MT_ERR_NOMEM;
    switch (rec->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
        return push(th, rec->u.call.fid) ? MT_ERR_NOMEM : 0;
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND:
        pop(th);
        return 0;
    case MT_REC_LINE:
        if (th->depth && th->fr[th->depth - 1].line != rec->u.line.line) {
            th->fr[th->depth - 1].line = rec->u.line.line;
            if (th->dirty > th->depth - 1) th->dirty = th->depth - 1;
        }
        return 0;
    case MT_REC_BLOCK:
        if (!h->replay && mt_horder_block(h->ord, th->oq)) return MT_ERR_NOMEM;
        return sync_block(th, rec) ? MT_ERR_NOMEM : 0;
    case MT_REC_POS:
        set_pos(th, rec);
        return 0;
    default:
        break;
    }
    uint8_t d = rec->domain < MT_DOMAIN_COUNT ? rec->domain : MT_DOMAIN_COUNT - 1;
    int rc;
    h->rec_q = th->oq;
    if (th->oq >= 0 && !h->replay) mt_horder_seen(h->ord, th->oq, rec->t);
    if (!h->replay) h->s.domain_mask |= 1u << d;
    if (rec->type == MT_REC_ALLOC) {
        if (!h->replay) h->s.alloc_records++;
        rc = do_alloc(h, th, d, rec->u.alloc.addr, rec->u.alloc.size, rec->t);
    } else if (rec->type == MT_REC_FREE) {
        if (!h->replay) h->s.free_records++;
        rc = do_free(h, th, d, rec->u.alloc.addr, rec->t);
    } else {
        if (!h->replay) h->s.realloc_records++;
        rc = do_free(h, th, d, rec->u.realloc.old_addr, rec->t);
        if (!rc) rc = do_alloc(h, th, d, rec->u.realloc.addr, rec->u.realloc.size, rec->t);
    }
    if (rc < 0) return MT_ERR_NOMEM;
    if (h->replay) {
        rc = maybe_snapshot(h);
        return rc < 0 ? MT_ERR_NOMEM : rc;
    }
    return mt_horder_record_done(h->ord, th->oq) ? MT_ERR_NOMEM : 0;
}

uint32_t mt_heap_site_now(mt_heap *h, uint32_t tid) {
    hthread *th = thread_get(h, tid);
    return th ? site_of(h, th) : NONE;
}

int mt_heap_thread_selected(mt_heap *h, uint32_t tid) {
    hthread *th = thread_get(h, tid);
    return th ? th->selected : 0;
}

int mt_heap_obj_block(mt_heap *h, uint64_t addr, uint64_t *start, uint64_t *size,
                      int *replaced) {
    static const uint64_t off[3] = {0, 16, 32};
    for (int k = 0; k < 3 && addr >= off[k]; k++) {
        const hblock *b = live_find(h, addr - off[k], MT_DOMAIN_OBJ);
        if (b && addr + 16 <= b->addr + b->size) {
            *start = b->addr;
            *size = b->size;
            *replaced = (b->flags & HB_REPLACED) != 0;
            return 1;
        }
    }
    return 0;
}

int mt_heap_end(mt_heap *h) {
    if (mt_horder_flush(h->ord)) return MT_ERR_NOMEM;
    h->s.unordered = mt_horder_late(h->ord, &h->s.unordered_bytes);
    for (uint64_t i = 0; h->lt && i <= h->lmask; i++) {
        const hblock *b = &h->lt[i];
        if (!b->flags) continue;
        double w;
        uint64_t e = est_bytes(h, b->size, &w);
        if (b->t <= h->c.to) h->end_blocks_w += w;
        if (h->lslices && life_add(h, b, h->lslices + 1, 0, w, e)) return MT_ERR_NOMEM;
        if ((b->flags & (HB_SEL | HB_INWIN)) != (HB_SEL | HB_INWIN)) continue;
        h->acc[b->node].leak_n += w;
        h->acc[b->node].leak_b += e;
        if (sizes_add(h, MT_ANALYSIS_SITES_LEAKS, b->node, b->size, w)) return MT_ERR_NOMEM;
    }
    for (int d = 0; d <= MT_DOMAIN_COUNT; d++) {
        mt_analysis_heap_domain *dom = d == TOTAL ? &h->s.total : &h->s.domains[d];
        dom->alloc_count = (uint64_t)(h->dom_alloc_n[d] + 0.5);
        dom->free_count = (uint64_t)(h->dom_free_n[d] + 0.5);
    }
    h->s.total.peak_bytes = h->s.peak_bytes;
    h->s.end_blocks = (uint64_t)(h->end_blocks_w + 0.5);
    return h->peak_idx ? 1 : 0;
}

int mt_heap_rewind(mt_heap *h) {
    if (h->lt) memset(h->lt, 0, (h->lmask + 1) * sizeof *h->lt);
    h->nlive = 0;
    memset(h->ot, 0, (h->omask + 1) * sizeof *h->ot);
    h->norph = h->rhead = h->rcount = h->oseq = 0;
    for (uint64_t i = 0; i < h->nth; i++) {
        h->th[i].depth = h->th[i].dirty = 0;
        h->th[i].serial = 1;
    }
    memset(h->H, 0, sizeof h->H);
    h->ops = 0;
    h->replay = 1;
    h->reached = 0;
    return 0;
}

/* ---- Setup -------------------------------------------------------------- */

int mt_heap_new(mt_heap **out, const mt_heap_config *c) {
    mt_heap *h = calloc(1, sizeof *h);
    *out = h;
    if (!h) return MT_ERR_NOMEM;
    h->c = *c;
    h->c.threads = NULL; /* copied by the orderer */
    h->rec_q = -1;
    /* TEST ONLY: MEMTRACE_TEST_ORDER_CAP sets how many changes may wait
     * (t1240: the path of changes summed out of order). */
    const char *cap_s = getenv("MEMTRACE_TEST_ORDER_CAP");
    uint64_t cap = cap_s && *cap_s ? strtoull(cap_s, NULL, 10) : ORDER_CAP;
    if (mt_horder_new(&h->ord, c->threads, c->nthreads, cap ? cap : 1, commit, h))
        return MT_ERR_NOMEM;
    h->s.has_allocs = !c->no_allocs;
    h->s.sample_bytes = c->sample_bytes;
    h->horizon = c->ticks_per_second ? c->ticks_per_second * ORPHAN_HORIZON_S : UINT64_MAX / 2;
    h->tmask = 63;
    h->omask = 2 * (uint64_t)ORPHAN_CAP - 1;
    if (!(h->ttab = calloc(h->tmask + 1, sizeof *h->ttab)) ||
        !(h->ot = calloc(h->omask + 1, sizeof *h->ot)) ||
        !(h->ring = malloc(ORPHAN_CAP * sizeof *h->ring)) || ntab_grow(h) ||
        live_grow(h) ||
        grow_to((void **)&h->nodes, &h->capnodes, 1, sizeof *h->nodes) ||
        grow_to((void **)&h->acc, &h->capacc, 1, sizeof *h->acc))
        return MT_ERR_NOMEM;
    if (c->lifetime_slices) {
        uint32_t n = 8;
        while (n < c->lifetime_slices && n < 4096) n *= 2;
        h->lslices = n;
        h->lw0 = c->from > c->t_first ? c->from : c->t_first;
        h->lw1 = c->to < c->t_last ? c->to : c->t_last;
        if (h->lw1 < h->lw0) h->lw1 = h->lw0;
    }
    h->nodes[0] = (hnode){0, 0, 0, 0}; /* the root: an empty stack */
    memset(&h->acc[0], 0, sizeof h->acc[0]);
    h->nnodes = 1;
    return 0;
}

void mt_heap_free(mt_heap *h) {
    if (!h) return;
    mt_horder_free(h->ord);
    free(h->canon);
    free(h->nodes);
    free(h->acc);
    free(h->ntab);
    free(h->lt);
    free(h->ot);
    free(h->ring);
    for (uint64_t i = 0; i < h->nth; i++) free(h->th[i].fr);
    free(h->th);
    free(h->ttab);
    for (int k = 0; k <= MT_DOMAIN_COUNT; k++) {
        free(h->series[k]);
        free(h->points[k]);
    }
    free(h->sz);
    free(h->lf);
    free(h->lout);
    for (int t = 0; t < 4; t++)
        for (int o = 0; o < 2; o++) free(h->sites[t][o]);
    free(h->fr);
    for (uint64_t i = 0; i < h->nchunks; i++) free(h->chunks[i]);
    free(h->chunks);
    free(h->fqn);
    free(h->ffile);
    free(h->ffirst);
    free(h->sizes);
    for (uint64_t i = 0; i < h->npool; i++) free(h->pool[i]);
    free(h->pool);
    free(h);
}

/* ---- Finish: the tables ------------------------------------------------- */

static const char *pool_dup(mt_heap *h, const char *s) {
    if (!s || !*s) return "";
    if (grow_to((void **)&h->pool, &h->cappool, h->npool + 1, sizeof *h->pool)) return NULL;
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n + 1);
    h->pool[h->npool++] = c;
    return c;
}

static int sort_order; /* qsort has no context; sorting is single-threaded */

static uint64_t site_count(const mt_analysis_site *s) { return s->count; }

static const mt_heap *sort_heap; /* qsort context (sorting is single-threaded) */

static int cmp_site(const void *x, const void *y) {
    const mt_analysis_site *p = x, *q = y;
    uint64_t a1 = sort_order ? site_count(p) : p->bytes, b1 = sort_order ? site_count(q) : q->bytes;
    uint64_t a2 = sort_order ? p->bytes : site_count(p), b2 = sort_order ? q->bytes : site_count(q);
    if (a1 != b1) return a1 > b1 ? -1 : 1;
    if (a2 != b2) return a2 > b2 ? -1 : 1;
    /* By stack: the innermost frame first, so that equal totals list in a
     * stable order across runs. */
    const mt_heap *h = sort_heap;
    for (uint32_t a = p->node, b = q->node;; a = h->nodes[a].parent, b = h->nodes[b].parent) {
        uint32_t da = h->nodes[a].depth, db = h->nodes[b].depth;
        if (!da || !db) return (da > db) - (da < db);
        if (a == b) return 0; /* the same path from here out */
        const hnode *f = &h->nodes[a], *g = &h->nodes[b];
        int c = strcmp(h->fqn[f->fid], h->fqn[g->fid]);
        if (c) return c;
        if ((c = strcmp(h->ffile[f->fid], h->ffile[g->fid]))) return c;
        if (f->line != g->line) return f->line < g->line ? -1 : 1;
        if (f->fid != g->fid) return f->fid < g->fid ? -1 : 1;
    }
}

void mt_heap_site_fill(const mt_heap *h, const mt_analysis_site *s, mt_analysis_frame *buf) {
    uint32_t d = s->depth;
    if (s->node >= h->nnodes) return;
    for (uint32_t x = s->node; d; x = h->nodes[x].parent) {
        uint32_t fid = h->nodes[x].fid;
        buf[--d] = (mt_analysis_frame){fid, h->fqn[fid], h->ffile[fid], h->nodes[x].line,
                                       h->ffirst[fid]};
    }
}

int mt_heap_site_frame(const mt_heap *h, const mt_analysis_site *s, uint32_t k,
                       mt_analysis_frame *out) {
    if (k >= s->depth || s->node >= h->nnodes) return -1;
    uint32_t x = s->node;
    for (uint32_t up = s->depth - 1 - k; up; up--) x = h->nodes[x].parent;
    uint32_t fid = h->nodes[x].fid;
    *out = (mt_analysis_frame){fid, h->fqn[fid], h->ffile[fid], h->nodes[x].line, h->ffirst[fid]};
    return 0;
}

const mt_analysis_frame *mt_heap_site_frames(mt_heap *h, const mt_analysis_site *s) {
    uint32_t n = s->node, d = s->depth;
    if (!d || n >= h->nnodes) return NULL;
    if (h->fr[n]) return h->fr[n];
    if (h->chunk_used + d > h->chunk_cap) { /* a new chunk (a deep stack: its own) */
        uint64_t cap = d > 65536 ? d : 65536;
        if (grow_to((void **)&h->chunks, &h->capchunks, h->nchunks + 1, sizeof *h->chunks))
            return NULL;
        mt_analysis_frame *c = malloc(cap * sizeof *c);
        if (!c) return NULL;
        h->chunks[h->nchunks++] = c;
        h->chunk_used = 0;
        h->chunk_cap = cap;
    }
    mt_analysis_frame *f = h->chunks[h->nchunks - 1] + h->chunk_used;
    h->chunk_used += d;
    mt_heap_site_fill(h, s, f);
    return h->fr[n] = f;
}

uint32_t mt_heap_max_fid(const mt_heap *h) { return h->fqn ? h->maxfid : 0; }

int mt_heap_has_fid(const mt_heap *h, uint32_t fid) {
    return h->fqn && fid <= h->maxfid && h->fqn[fid] != NULL;
}

static int cmp_ssort(const void *x, const void *y) {
    const ssort *p = x, *q = y;
    if (p->table != q->table) return p->table < q->table ? -1 : 1;
    if (p->node != q->node) return p->node < q->node ? -1 : 1;
    if (p->bytes != q->bytes) return p->bytes > q->bytes ? -1 : 1;
    return (p->size > q->size) - (p->size < q->size);
}

static int cmp_point(const void *x, const void *y) {
    const mt_analysis_heap_point *p = x, *q = y;
    return (p->t > q->t) - (p->t < q->t);
}

static int finish_series(mt_heap *h) {
    for (int k = 0; k <= MT_DOMAIN_COUNT; k++) {
        if (!h->series[k]) continue;
        mt_analysis_heap_point *p = malloc((4 * NSLICE + 1) * sizeof *p);
        if (!p) return -1;
        uint64_t n = 0;
        for (uint32_t i = 0; i < NSLICE; i++) {
            const hslice *s = &h->series[k][i];
            if (!s->set) continue;
            mt_analysis_heap_point q[4] = {{s->t0, s->v0}, {s->tlo, s->lo}, {s->thi, s->hi},
                                           {s->t1, s->v1}};
            qsort(q, 4, sizeof *q, cmp_point); /* the low and the high may swap */
            for (int j = 0; j < 4; j++)
                if (!n || p[n - 1].t != q[j].t || p[n - 1].bytes != q[j].bytes) p[n++] = q[j];
        }
        h->points[k] = p;
        h->npoints[k] = n;
    }
    return 0;
}

int mt_heap_finish(mt_heap *h, mt_reader *r) {
    h->s.stacks = h->nnodes - 1;
    h->s.peak_blocks = (uint64_t)(h->peak_blocks_w + 0.5);
    if (finish_series(h)) return MT_ERR_NOMEM;

    /* Names per fid, pooled once, for every fid of a node (the sites'
     * frames are made from them on demand: mt_heap_site_frames). */
    uint64_t nn = h->nnodes;
    ssort *ss = NULL;
    int rc = MT_ERR_NOMEM;
    uint32_t maxfid = 0;
    for (uint64_t n = 1; n < nn; n++)
        if (h->nodes[n].fid > maxfid) maxfid = h->nodes[n].fid;
    h->maxfid = maxfid;
    if (!(h->fqn = calloc((size_t)maxfid + 1, sizeof *h->fqn)) ||
        !(h->ffile = calloc((size_t)maxfid + 1, sizeof *h->ffile)) ||
        !(h->ffirst = calloc((size_t)maxfid + 1, sizeof *h->ffirst)) ||
        !(h->fr = calloc(nn ? nn : 1, sizeof *h->fr)))
        goto out;
    for (uint64_t n = 1; n < nn; n++) {
        uint32_t fid = h->nodes[n].fid;
        if (h->fqn[fid]) continue;
        const mt_function *fn = mt_reader_function(r, fid);
        h->fqn[fid] = pool_dup(h, fn ? fn->qualname : "");
        h->ffile[fid] = pool_dup(h, fn ? fn->file : "");
        h->ffirst[fid] = fn ? fn->first_line : 0;
        if (!h->fqn[fid] || !h->ffile[fid]) goto out;
    }

    /* Sizes of the PEAK and LEAKS entries, most bytes first per node. */
    if (h->nsz) {
        if (!(ss = malloc(h->nsz * sizeof *ss))) goto out;
        uint64_t k = 0;
        for (uint64_t i = 0; i <= h->smask; i++) {
            const sagg *a = &h->sz[i];
            if (!a->used) continue;
            double w = 1;
            uint64_t e = est_bytes(h, a->size, &w);
            ss[k++] = (ssort){a->size, (uint64_t)((double)e * (a->n / w) + 0.5), a->node, a->table,
                              a->n};
        }
        qsort(ss, k, sizeof *ss, cmp_ssort);
        if (!(h->sizes = malloc(k * sizeof *h->sizes))) goto out;
        for (uint64_t i = 0; i < k; i++)
            h->sizes[i] = (mt_analysis_size_count){ss[i].size, (uint64_t)(ss[i].n + 0.5)};
    }

    for (int t = 0; t < 4; t++) {
        uint32_t cnt = 0;
        for (uint64_t n = 0; n < nn; n++) {
            const hacc *A = &h->acc[n];
            double v = t == 0 ? A->peak_n : t == 1 ? A->leak_n : t == 2 ? A->temp_n : A->alloc_n;
            if (v > 0) cnt++;
        }
        h->nsites[t] = cnt;
        if (!cnt) continue;
        mt_analysis_site *s = calloc(cnt, sizeof *s);
        mt_analysis_site *s2 = malloc(cnt * sizeof *s2);
        h->sites[t][0] = s;
        h->sites[t][1] = s2;
        if (!s || !s2) goto out;
        uint64_t j = 0, si = 0;
        for (uint64_t n = 0; n < nn; n++) {
            const hacc *A = &h->acc[n];
            double v = t == 0 ? A->peak_n : t == 1 ? A->leak_n : t == 2 ? A->temp_n : A->alloc_n;
            if (!(v > 0)) continue;
            mt_analysis_site *e = &s[j++];
            e->depth = h->nodes[n].depth;
            e->node = (uint32_t)n;
            e->count = (uint64_t)(v + 0.5);
            e->bytes = t == 0 ? A->peak_b : t == 1 ? A->leak_b : t == 2 ? A->temp_b : A->alloc_b;
            if (t > 1 || !ss) continue;
            /* ss is sorted by (table, node): find this node's run. */
            while (si < h->nsz && (ss[si].table < t || (ss[si].table == t && ss[si].node < n))) si++;
            uint64_t k = si;
            while (k < h->nsz && ss[k].table == t && ss[k].node == n) k++;
            e->sizes = k > si ? &h->sizes[si] : NULL;
            e->nsizes = (uint32_t)(k - si < MAX_SIZES ? k - si : MAX_SIZES);
        }
        memcpy(s2, s, cnt * sizeof *s);
        sort_heap = h;
        sort_order = MT_ANALYSIS_BY_BYTES;
        qsort(s, cnt, sizeof *s, cmp_site);
        sort_order = MT_ANALYSIS_BY_COUNT;
        qsort(s2, cnt, sizeof *s2, cmp_site);
    }
    rc = 0;
out:
    free(ss);
    return rc;
}

const mt_analysis_heap *mt_heap_summary(const mt_heap *h) { return &h->s; }

const mt_analysis_heap_point *mt_heap_series(const mt_heap *h, int domain, uint64_t *n) {
    int k = domain < 0 ? TOTAL : domain;
    if (k > TOTAL) {
        *n = 0;
        return NULL;
    }
    *n = h->npoints[k];
    return h->points[k];
}

void mt_heap_sites_keep(mt_heap *h, int (*keep)(void *ctx, const mt_analysis_site *s),
                        void *ctx) {
    for (int t = 0; t < 4; t++)
        for (int o = 0; o < 2; o++) {
            mt_analysis_site *v = h->sites[t][o];
            uint32_t k = 0;
            for (uint32_t i = 0; v && i < h->nsites[t]; i++)
                if (keep(ctx, &v[i])) v[k++] = v[i];
            if (o == 1) h->nsites[t] = k; /* both orders hold the same sites */
        }
}

const mt_analysis_site *mt_heap_sites(const mt_heap *h, int table, int order, uint32_t *n) {
    if (table < 0 || table > 3 || order < 0 || order > 1) {
        *n = 0;
        return NULL;
    }
    *n = h->nsites[table];
    return h->sites[table][order];
}

/* ---- Lifetimes out ------------------------------------------------------ */

const mt_analysis_lifetime *mt_heap_lifetimes(mt_heap *h, uint64_t *n, uint32_t *nslices,
                                              uint64_t *t0, uint64_t *t1) {
    *n = 0;
    *nslices = h->lslices;
    *t0 = h->lw0;
    *t1 = h->lw1;
    if (!h->nlf) return NULL;
    if (!h->lout) {
        mt_analysis_lifetime *o = malloc(h->nlf * sizeof *o);
        if (!o) return NULL;
        uint64_t k = 0;
        for (uint64_t i = 0; i <= h->lfmask; i++) {
            const hlife *x = &h->lf[i];
            if (!x->used) continue;
            o[k++] = (mt_analysis_lifetime){x->node, x->tid, x->born, x->died, x->flags,
                                            h->nodes[x->node].depth, x->n, x->bytes};
        }
        h->lout = o;
    }
    *n = h->nlf;
    return h->lout;
}

int mt_heap_node_site(const mt_heap *h, uint32_t node, mt_analysis_site *out) {
    if (node >= h->nnodes) return -1;
    memset(out, 0, sizeof *out);
    out->node = node;
    out->depth = h->nodes[node].depth;
    return 0;
}
