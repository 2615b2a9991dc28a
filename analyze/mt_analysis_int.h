/*
 * mt_analysis_int.h - the analysis core's internals, shared by its two
 * files: mt_analysis.c (setup, the replay of pass 2, finishing, queries)
 * and mt_analysis_pass1.c (pass 1: samples, markers, threads, processes,
 * pymalloc's counters). Not part of the core's interface (mt_analysis.h).
 */
#ifndef MT_ANALYSIS_INT_H
#define MT_ANALYSIS_INT_H

#include "mt_analysis.h"
#include "mt_charge.h"
#include "mt_heap.h"
#include "mt_objs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* ---- Small containers --------------------------------------------------- */

/* Grow *arr (element size sz, capacity *cap) to hold at least need. */
static inline int grow_to(void **arr, uint64_t *cap, uint64_t need, size_t sz) {
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * sz);
    if (!p) return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* Open addressing u64 -> u32, linear probing; key UINT64_MAX is "empty". */
typedef struct u64map {
    uint64_t *keys;
    uint32_t *vals;
    uint64_t mask, n; /* capacity - 1 (capacity a power of 2), entries */
} u64map;

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static inline uint32_t u64map_get(const u64map *m, uint64_t key) {
    if (!m->keys) return NONE;
    for (uint64_t i = mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key) return m->vals[i];
        if (m->keys[i] == UINT64_MAX) return NONE;
    }
}

static inline int u64map_put(u64map *m, uint64_t key, uint32_t val) {
    if ((m->n + 1) * 2 > m->mask + 1 || !m->keys) {
        uint64_t cap = m->keys ? (m->mask + 1) * 2 : 64;
        uint64_t *k = malloc(cap * sizeof *k);
        uint32_t *v = malloc(cap * sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return -1;
        }
        memset(k, 0xff, cap * sizeof *k);
        for (uint64_t i = 0; m->keys && i <= m->mask; i++) {
            if (m->keys[i] == UINT64_MAX) continue;
            uint64_t j = mix64(m->keys[i]) & (cap - 1);
            while (k[j] != UINT64_MAX) j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->mask = cap - 1;
    }
    uint64_t i = mix64(key) & m->mask;
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & m->mask;
    if (m->keys[i] == UINT64_MAX) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

static inline void u64map_free(u64map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Strings owned by the analysis: one allocation each, freed together. */
typedef struct strpool {
    char **v;
    uint64_t n, cap;
} strpool;

static inline const char *pool_dup(strpool *p, const char *s, size_t len) {
    if (!s) return "";
    if (grow_to((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v)) return NULL;
    char *c = malloc(len + 1);
    if (!c) return NULL;
    memcpy(c, s, len);
    c[len] = 0;
    p->v[p->n++] = c;
    return c;
}

static inline void pool_free(strpool *p) {
    for (uint64_t i = 0; i < p->n; i++) free(p->v[i]);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* ---- State -------------------------------------------------------------- */

/* Per fid: the accumulators of one code object. */
typedef struct fslot {
    uint32_t fid;
    uint32_t group; /* index into a->funcs after finish */
    uint64_t calls, incl_ticks, self_ticks, peak, peak_growth;
    int64_t incl_bytes, self_bytes;
    int used; /* an activation overlapped the window */
    /* Its lines: lidx[line - lbase] is an lslot (NONE: not yet). Lines of
     * one function are close together, so a flat array beats a hash on
     * the LINE hot path; functions spanning more than DENSE_LINES use
     * a->linemap instead. */
    uint32_t lbase, lcap;
    uint32_t *lidx;
} fslot;

#define DENSE_LINES 4096

/* Per (fid, line). */
typedef struct lslot {
    uint32_t slot, line;
    uint64_t count, ticks, peak;
    int64_t growth;
} lslot;

/* One open activation on a thread's replayed stack. */
typedef struct frame {
    uint32_t slot;  /* fslot */
    uint32_t line;  /* current line, 0 none */
    uint32_t lslot; /* lslot of the current line, NONE if none */
    uint8_t outer;  /* the outermost open activation of its fid here */
    uint8_t counted; /* its call was seen (in the window) */
    uint64_t t0, rss0, peak; /* clipped start, RSS then, max RSS since */
    int64_t c0;              /* its thread's charge then (mt_charge.h) */
    uint64_t k0;             /* samples at or before its start */
    int64_t child_bytes;     /* growth of direct children, summed */
    uint64_t child_ticks;
    uint64_t line_t0, line_peak;
    int64_t line_c0;
} frame;

typedef struct pframe {
    uint32_t fid, line;
} pframe;

typedef struct athread {
    uint32_t tid;
    uint64_t native_id;
    const char *name; /* pooled, "" if none */
    int selected, synced, captured;
    uint64_t events, calls, t_first, t_last;
    uint64_t heap_records, heap_t_first; /* ALLOC, FREE, REALLOC (pass 1) */
    uint64_t *blk, nblk, capblk; /* its BLOCKs' times, in file order (pass 1) */
    uint64_t lost_events, lost_bytes, lost_records, t_lost_first, t_lost_last;
    int64_t growth;
    frame *frames;
    uint64_t depth, cap;
    uint32_t *active; /* per fslot: open activations on this thread */
    uint64_t nactive;
    uint64_t cur; /* series cursor: samples [0, cur) are at or before te */
    uint64_t te;  /* the thread's last (clipped) time */
    mt_spans spans;   /* when it had records (pass 1) */
    mt_charges chg;   /* its share of RSS growth per sample */
    uint64_t chint;   /* cursor into chg */
    pframe *pk;   /* stack captured at the peak */
    uint64_t pk_depth;
    int has_pk;
} athread;

struct mt_analysis {
    mt_analysis_summary s;
    char errmsg[1024];
    strpool pool;

    mt_header h; /* deep copy */
    const char **argv;

    uint64_t from_ns, to_ns;
    uint32_t max_messages;
    uint32_t lifetime_slices; /* options.lifetime_slices */
    void (*progress)(void *ctx, int pass, uint64_t done, uint64_t total);
    void *progress_ctx;
    uint64_t file_bytes; /* for progress */
    const char **messages;

    mt_analysis_sample *series;
    uint64_t nseries, capseries;
    uint64_t *since; /* per sample k >= 1: the time of sample k-1 or of the
                        last repeat of its value left out of the series
                        (the change to sample k came after it) */
    uint64_t rss_first; /* RSS before the first sample */

    mt_analysis_marker *markers;
    uint64_t nmarkers, capmarkers;

    athread *th;
    uint64_t nth, capth;
    u64map tidmap;

    fslot *fs;
    uint64_t nfs, capfs;
    uint32_t *fid2slot; /* dense for small fids */
    uint64_t capfid;
    u64map bigfids;
    u64map canon; /* hash of a function's place -> its first fid (heap_alias) */

    lslot *ls;
    uint64_t nls, capls;
    u64map linemap; /* (slot << 32 | line) -> lslot */

    mt_analysis_function *funcs;
    uint32_t nfuncs;
    mt_analysis_line *lines;
    uint32_t nlines;
    mt_analysis_stack *stacks;
    uint32_t nstacks;
    mt_analysis_frame *stack_frames;
    mt_analysis_thread *threads;
    uint32_t *line_func; /* scratch for sort: lines' function identity */

    /* Processes (PROC_SAMPLE/PROC_EXIT; see mt_analysis_processes). */
    mt_analysis_process *procs;
    struct pseries {
        mt_analysis_sample *v;
        uint64_t n, cap;
        uint64_t last_rss;
        int have_rss;
    } *pser;
    uint64_t nprocs, capprocs, cappser;
    u64map pidmap; /* pid -> index of its live process (NONE once exited) */
    mt_analysis_sample *rounds; /* (t, rss) of every PROC_SAMPLE with rss */
    uint64_t nrounds, caprounds;
    mt_analysis_sample *total;
    uint64_t ntotal, total_peak, t_total_peak;
    uint64_t self_uss_peak, self_pss_peak; /* COUNTERS of the trace's process */
    mt_analysis_pymalloc *pym;              /* COUNTERS 16-18, time order */
    uint64_t npym, cappym;
    int self_has_uss;

    mt_heap *heap;   /* NULL: the trace has no allocations nor objects */
    mt_objs *objs;   /* NULL: the trace has no objects */
    mt_function *site_fns; /* by fid: the functions of the sites' frames
                              (qualname NULL: none); see site_functions */
    uint32_t nsite_fns;
    int filtering;   /* a thread filter was given */
    uint64_t span_gap; /* MT_CHARGE_GAP_NS in ticks */
};

#define DENSE_FIDS (1u << 24) /* fids below this index a flat array */

/* ---- Shared between the two files ---------------------------------------- */

/* mt_analysis.c */
athread *mt_an_get_thread(mt_analysis *a, uint32_t tid);
int mt_an_add_sample(mt_analysis *a, uint64_t t, uint64_t bytes);
int mt_an_finish_series(mt_analysis *a);
void mt_an_progress_tick(mt_analysis *a, mt_reader *r, int pass, uint64_t *n);

/* mt_analysis_pass1.c */
int mt_an_pass1(mt_analysis *a, mt_reader *r);
int mt_an_procs_series(mt_analysis *a);
int mt_an_procs_finish(mt_analysis *a);
int mt_an_cmp_pym(const void *x, const void *y);

#endif
