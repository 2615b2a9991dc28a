/*
 * bench_format.c - throughput and compactness of libmemtrace-format.
 *
 * Generates synthetic event streams that resemble what the recorder emits
 * (deterministic: fixed seeds), then measures on one core:
 *   - encode, recorder path: inline mt_enc_* into a 64 KiB block buffer,
 *     each full block handed to mt_writer_append_block;
 *   - encode, simple path: mt_writer_append per record;
 *   - decode: mt_reader_open_mem + mt_reader_next over the encoded bytes;
 * and the bytes per event before and after zstd. The writer's sink only
 * counts bytes, so no disk is involved. Every encoding is decoded once
 * (untimed) and compared record by record with the stream.
 *
 * Prints one markdown table on stdout; progress goes to stderr.
 * A benchmark is not a test: nothing here fails on a timing. The exit
 * status is 1 only when the library fails or decodes something else than
 * what was encoded, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memtrace_format.h"

#define BENCH_SEED 0x6d656d7472616365ull /* "memtrace" */
#define BLOCK_BUF_BYTES (64u << 10)      /* the recorder's per-thread buffer */
#define MAX_DEPTH 256                    /* generator stack cap */
#define MAX_RUNS 15

/* ---- Deterministic random numbers (splitmix64) -------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static uint32_t rng_below(rng *r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}
static int rng_chance(rng *r, double p) { return rng_unit(r) < p; }
/* Roughly normal, mean 0, sd 1 (Irwin-Hall of 4, rescaled). */
static double rng_normal(rng *r) {
    double s = rng_unit(r) + rng_unit(r) + rng_unit(r) + rng_unit(r);
    return (s - 2.0) * 1.7320508;
}
/* Geometric count with the given mean (>= 0). */
static uint32_t rng_geom(rng *r, double mean) {
    if (mean <= 0) return 0;
    double p = 1.0 / (1.0 + mean);
    uint32_t k = 0;
    while (!rng_chance(r, p) && k < 1000) k++;
    return k;
}

/* Zipf(s) over n items: cumulative table, rank 0 most popular. */
typedef struct zipf {
    uint32_t n;
    double *cdf;
} zipf;

static void zipf_init(zipf *z, uint32_t n, double s) {
    z->n = n;
    z->cdf = malloc(n * sizeof *z->cdf);
    if (!z->cdf) abort();
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) z->cdf[i] = (sum += 1.0 / pow(i + 1, s));
    for (uint32_t i = 0; i < n; i++) z->cdf[i] /= sum;
}
static uint32_t zipf_draw(const zipf *z, rng *r) {
    double u = rng_unit(r);
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (z->cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* ---- Streams ------------------------------------------------------------ */

/* One event as the recorder sees it: absolute time, type byte as on disk
 * (ALLOC/FREE/REALLOC without domain), and its fields. 32 bytes, so that a
 * million-event stream does not dwarf the encoder's own memory traffic. */
typedef struct bev {
    uint64_t t;    /* ticks (ns) since the anchor */
    uint64_t addr; /* ALLOC, FREE, REALLOC (new), OBJ_* */
    uint64_t aux;  /* REALLOC: old address; RSS: bytes */
    uint32_t x;    /* fid, line, sid, or size (ALLOC, REALLOC) */
    uint8_t type;  /* MT_REC_* compact type, ALLOC/FREE/REALLOC base */
    uint8_t domain;
    uint16_t pad;
} bev;

enum { K_CALL, K_RET, K_CCALL, K_CRET, K_LINE, K_ALLOC, K_FREE, K_OTHER, K_N };

typedef struct stream {
    const char *name;
    const char *what;
    uint32_t content; /* MT_CONTENT_* */
    bev *ev;
    size_t n, cap;
    uint64_t t_end;   /* time of the last event */
    size_t kinds[K_N];
    double target_bpe; /* compactness target, 0 = none */
} stream;

#define NFUNC 500   /* fids 1..NFUNC */
#define NPYFUNC 400 /* fids 1..400 Python; 401..500 C */
#define NCALLEE 6

/* What each function does, drawn once per stream from the seed. */
typedef struct fmodel {
    uint32_t callee[NCALLEE]; /* call sites: most calls go to these */
    double mean_calls;        /* calls made by one frame (geometric mean) */
    double p_self;            /* a call site that recurses */
    uint32_t gap_body_ns;     /* base gap between events inside a frame */
    uint32_t gap_ret_ns;      /* base gap before its return */
    uint32_t gap_line_ns;     /* base gap between its line events */
    uint32_t first_line;
} fmodel;

typedef struct frame {
    uint32_t fid;
    int32_t calls_left;
    uint32_t line;
    uint8_t is_c;
} frame;

/* A pymalloc-like heap: 256 KiB arenas of 4 KiB pools (48-byte header),
 * size classes of 16 bytes up to 512. Arenas are handed out downwards as
 * mmap does. A pool with free space is reused most-recent-first, and inside
 * a pool the last freed block is the next one allocated, as in obmalloc. */
#define POOL_BYTES 4096u
#define POOL_HEADER_BYTES 48u
#define ARENA_BYTES (256u << 10)
#define POOLS_PER_ARENA (ARENA_BYTES / POOL_BYTES)
#define NCLASS 32
#define MAX_POOLS 65536

typedef struct pool {
    uint16_t cls, nfree, bump, nused;
    uint16_t freelist[256]; /* block indices, LIFO */
} pool;

typedef struct live {
    uint64_t addr;
    int32_t pool; /* -1: from the system malloc */
    uint16_t block;
    uint8_t domain;
} live;

typedef struct heap {
    uint64_t arena_top;
    pool *pools;
    uint32_t npools;
    uint32_t *avail[NCLASS + 1]; /* per class: pools with room, last = front */
    uint32_t navail[NCLASS + 1], capavail[NCLASS + 1];
    live *lv; /* live short-lived blocks, oldest first */
    size_t nlive, caplive, target_live;
    uint64_t malloc_next; /* bump pointer of the "system malloc" region */
    uint64_t rss_bytes;
} heap;

typedef struct gen {
    rng r;
    stream *s;
    int ccalls, lines, allocs;
    fmodel f[NFUNC + 1];
    zipf zpy, zc;
    frame st[MAX_DEPTH];
    uint32_t depth, depth_cap;
    uint64_t t;
    heap h;
    uint32_t obj_size[64]; /* sizes of 64 object "types", Zipf-popular */
    zipf ztype;
    uint64_t next_rss;
} gen;

static void push_ev(stream *s, const bev *e) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1u << 20;
        s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
        if (!s->ev) abort();
    }
    s->ev[s->n++] = *e;
}

/* Advance time by a jittered gap: +-15 % around the base, a few ns of clock
 * noise, and now and then a long pause (GC, a system call). */
static void tick(gen *g, uint32_t base_ns) {
    double d = base_ns * (1.0 + 0.15 * rng_normal(&g->r));
    if (d < 5) d = 5;
    uint64_t dt = (uint64_t)d + rng_below(&g->r, 8);
    if (rng_chance(&g->r, 0.003)) dt *= 5 + rng_below(&g->r, 45);
    g->t += dt;
}

static void emit(gen *g, int kind, uint8_t type, uint8_t domain, uint32_t x,
                 uint64_t addr, uint64_t aux, uint32_t gap_ns) {
    tick(g, gap_ns);
    bev e = {.t = g->t, .addr = addr, .aux = aux, .x = x, .type = type,
             .domain = domain};
    push_ev(g->s, &e);
    g->s->kinds[kind]++;
}

static uint32_t log_uniform(rng *r, double lo, double hi) {
    return (uint32_t)(lo * pow(hi / lo, rng_unit(r)));
}

static void gen_model(gen *g) {
    zipf_init(&g->zpy, NPYFUNC, 1.1);
    zipf_init(&g->zc, NFUNC - NPYFUNC, 1.2);
    for (uint32_t fid = 1; fid <= NFUNC; fid++) {
        fmodel *m = &g->f[fid];
        for (int i = 0; i < NCALLEE; i++) {
            if (g->ccalls && rng_chance(&g->r, 0.35))
                m->callee[i] = NPYFUNC + 1 + zipf_draw(&g->zc, &g->r);
            else
                m->callee[i] = 1 + zipf_draw(&g->zpy, &g->r);
        }
        /* Mean children just under 1: trees mostly stay shallow, with
         * excursions; a few functions fan out. */
        m->mean_calls = rng_chance(&g->r, 0.4) ? 0 : 0.3 + 2.5 * rng_unit(&g->r);
        m->p_self = rng_chance(&g->r, 0.05) ? 0.5 : 0;
        m->gap_body_ns = log_uniform(&g->r, 30, 300);
        m->gap_ret_ns = log_uniform(&g->r, 30, 300);
        m->gap_line_ns = log_uniform(&g->r, 20, 120);
        m->first_line = 1 + rng_below(&g->r, 3000);
    }
    /* Object sizes: multiples of 8, mostly small. */
    zipf_init(&g->ztype, 64, 1.0);
    for (int i = 0; i < 64; i++) {
        uint32_t k = 2 + rng_geom(&g->r, 6);
        if (k > 64) k = 64;
        g->obj_size[i] = 8 * k;
    }
}

static void heap_init(heap *h) {
    memset(h, 0, sizeof *h);
    h->arena_top = 0x7f3a5c400000ull;
    h->pools = calloc(MAX_POOLS, sizeof *h->pools);
    if (!h->pools) abort();
    h->target_live = 4000;
    h->malloc_next = 0x55d0c8e42000ull;
    h->rss_bytes = 28u << 20;
}

static uint64_t pool_addr(const heap *h, uint32_t pi) {
    uint32_t arena = pi / POOLS_PER_ARENA;
    return h->arena_top - (uint64_t)(arena + 1) * ARENA_BYTES +
           (uint64_t)(pi % POOLS_PER_ARENA) * POOL_BYTES;
}

static void avail_push(heap *h, uint32_t cls, uint32_t pi) {
    if (h->navail[cls] == h->capavail[cls]) {
        h->capavail[cls] = h->capavail[cls] ? 2 * h->capavail[cls] : 64;
        h->avail[cls] = realloc(h->avail[cls], h->capavail[cls] * sizeof(uint32_t));
        if (!h->avail[cls]) abort();
    }
    h->avail[cls][h->navail[cls]++] = pi;
}

/* Allocate from class cls (block size 16*cls); returns the address. */
static uint64_t heap_pool_alloc(heap *h, uint32_t cls, int32_t *pool_out,
                                uint16_t *block_out) {
    uint32_t bsize = 16 * cls, cap = (POOL_BYTES - POOL_HEADER_BYTES) / bsize;
    if (h->navail[cls] == 0) {
        if (h->npools == MAX_POOLS) abort();
        uint32_t pi = h->npools++;
        h->pools[pi].cls = (uint16_t)cls;
        avail_push(h, cls, pi);
    }
    uint32_t pi = h->avail[cls][h->navail[cls] - 1];
    pool *p = &h->pools[pi];
    uint16_t b = p->nfree ? p->freelist[--p->nfree] : p->bump++;
    p->nused++;
    if (p->nused == cap) h->navail[cls]--; /* full: off the front */
    *pool_out = (int32_t)pi;
    *block_out = b;
    return pool_addr(h, pi) + POOL_HEADER_BYTES + (uint64_t)b * bsize;
}

static void heap_pool_free(heap *h, int32_t pi, uint16_t b) {
    pool *p = &h->pools[pi];
    uint32_t cap = (POOL_BYTES - POOL_HEADER_BYTES) / (16u * p->cls);
    if (p->nused == cap) avail_push(h, p->cls, (uint32_t)pi); /* back in front */
    p->nused--;
    p->freelist[p->nfree++] = b;
}

static void live_push(heap *h, const live *l) {
    if (h->nlive == h->caplive) {
        h->caplive = h->caplive ? 2 * h->caplive : 4096;
        h->lv = realloc(h->lv, h->caplive * sizeof *h->lv);
        if (!h->lv) abort();
    }
    h->lv[h->nlive++] = *l;
}

static void gen_alloc(gen *g) {
    heap *h = &g->h;
    rng *r = &g->r;
    uint8_t dom = rng_chance(r, 0.7) ? MT_DOMAIN_OBJ : MT_DOMAIN_MEM;
    uint32_t size;
    if (dom == MT_DOMAIN_OBJ && rng_chance(r, 0.7))
        size = g->obj_size[zipf_draw(&g->ztype, r)]; /* fixed-size types */
    else if (dom == MT_DOMAIN_MEM && rng_chance(r, 0.12))
        size = log_uniform(r, 513, 64 << 10); /* buffers: system malloc */
    else
        size = 1 + log_uniform(r, 16, 512);   /* str, bytes, tuples... */
    live l = {.domain = dom, .pool = -1};
    if (size <= 512) {
        l.addr = heap_pool_alloc(h, (size + 15) / 16, &l.pool, &l.block);
    } else {
        l.addr = h->malloc_next + 16; /* glibc: 16-byte chunk header */
        h->malloc_next += (size + 16 + 15) & ~15ull;
    }
    emit(g, K_ALLOC, MT_REC_ALLOC, dom, size, l.addr, 0, 30 + rng_below(r, 50));
    /* One block in ten lives for the whole run: the heap grows slowly. */
    if (!rng_chance(r, 0.1)) live_push(h, &l);
}

static void gen_free(gen *g) {
    heap *h = &g->h;
    rng *r = &g->r;
    size_t i, n = h->nlive;
    double u = rng_unit(r);
    if (u < 0.7) i = n - 1;                                  /* LIFO */
    else if (u < 0.9) i = n - 1 - rng_below(r, n < 16 ? (uint32_t)n : 16);
    else i = rng_below(r, (uint32_t)n);                      /* old one */
    live l = h->lv[i];
    memmove(&h->lv[i], &h->lv[i + 1], (n - 1 - i) * sizeof *h->lv);
    h->nlive--;
    if (l.pool >= 0) heap_pool_free(h, l.pool, l.block);
    emit(g, K_FREE, MT_REC_FREE, l.domain, 0, l.addr, 0, 20 + rng_below(r, 40));
}

static void gen_alloc_ops(gen *g) {
    heap *h = &g->h;
    uint32_t nops = 1 + rng_below(&g->r, 3);
    for (uint32_t k = 0; k < nops; k++) {
        double p_alloc = 0.5 + 0.3 * ((double)h->target_live - (double)h->nlive) /
                                   (double)h->target_live;
        if (h->nlive == 0 || rng_chance(&g->r, p_alloc)) gen_alloc(g);
        else gen_free(g);
    }
    if (g->t >= g->next_rss) { /* the recorder samples RSS every ~200 us */
        int64_t pages = (int64_t)rng_below(&g->r, 48) - 12;
        if ((int64_t)h->rss_bytes + pages * 4096 > (16 << 20))
            h->rss_bytes += (uint64_t)(pages * 4096);
        emit(g, K_OTHER, MT_REC_RSS, 0, 0, 0, h->rss_bytes, 40);
        g->next_rss = g->t + 200000;
    }
}

static void gen_lines(gen *g) {
    frame *fr = &g->st[g->depth - 1];
    uint32_t n = rng_geom(&g->r, 2.5);
    for (uint32_t k = 0; k < n; k++) {
        double u = rng_unit(&g->r);
        if (u < 0.55) fr->line += 1;
        else if (u < 0.80) fr->line += 2 + rng_below(&g->r, 3);
        else if (u < 0.92 && fr->line > 20) fr->line -= 2 + rng_below(&g->r, 14);
        else fr->line += 5 + rng_below(&g->r, 25);
        emit(g, K_LINE, MT_REC_LINE, 0, fr->line, 0, 0, g->f[fr->fid].gap_line_ns);
    }
}

static void gen_call(gen *g, uint32_t fid, int32_t calls, uint32_t gap) {
    frame *fr = &g->st[g->depth++];
    fr->fid = fid;
    fr->is_c = fid > NPYFUNC;
    fr->calls_left = calls;
    fr->line = g->f[fid].first_line;
    if (fr->is_c) emit(g, K_CCALL, MT_REC_CCALL, 0, fid, 0, 0, gap);
    else emit(g, K_CALL, MT_REC_CALL, 0, fid, 0, 0, gap);
}

static void gen_return(gen *g) {
    frame *fr = &g->st[g->depth - 1];
    uint32_t gap = g->f[fr->fid].gap_ret_ns;
    if (fr->is_c) {
        if (g->ccalls && rng_chance(&g->r, 0.002))
            emit(g, K_OTHER, MT_REC_CRAISE, 0, 0, 0, 0, gap);
        else
            emit(g, K_CRET, MT_REC_CRETURN, 0, 0, 0, 0, gap);
    } else if (g->ccalls && rng_chance(&g->r, 0.001)) {
        emit(g, K_OTHER, MT_REC_RAISE, 0, 1 + rng_below(&g->r, 8), 0, 0, gap);
        emit(g, K_OTHER, MT_REC_UNWIND, 0, 0, 0, 0, 40);
    } else {
        emit(g, K_RET, MT_REC_RETURN, 0, 0, 0, 0, gap);
    }
    g->depth--;
}

/* One step of the call tree: maybe some lines and allocations in the current
 * frame, then either a call from it or its return. */
static void gen_step(gen *g) {
    rng *r = &g->r;
    if (g->depth == 0) { /* the main loop: a long-lived root frame */
        gen_call(g, 1 + zipf_draw(&g->zpy, r), 1000000, 200);
        return;
    }
    frame *fr = &g->st[g->depth - 1];
    if (g->lines && !fr->is_c) gen_lines(g);
    if (g->allocs && rng_chance(r, fr->is_c ? 0.5 : 0.35)) gen_alloc_ops(g);
    if (fr->calls_left > 0 && g->depth < g->depth_cap) {
        fr->calls_left--;
        const fmodel *m = &g->f[fr->fid];
        uint32_t callee;
        if (fr->is_c) callee = 1 + zipf_draw(&g->zpy, r); /* a callback */
        else if (m->p_self > 0 && rng_chance(r, m->p_self)) callee = fr->fid;
        else if (rng_chance(r, 0.85)) {
            /* Call sites: the first is the hottest. */
            uint32_t i = rng_below(r, 21), k = 0;
            static const uint8_t w[NCALLEE] = {6, 5, 4, 3, 2, 1};
            while (i >= w[k]) i -= w[k++];
            callee = m->callee[k];
        } else callee = 1 + zipf_draw(&g->zpy, r);
        int32_t calls;
        if (callee > NPYFUNC) calls = rng_chance(r, 0.05) ? 1 : 0;
        else calls = (int32_t)rng_geom(r, g->f[callee].mean_calls);
        gen_call(g, callee, calls, m->gap_body_ns);
    } else {
        gen_return(g);
    }
    /* Vary how deep the program runs: phases of shallow and deep code. */
    if (rng_chance(r, 1.0 / 20000)) g->depth_cap = 6 + rng_below(r, 60);
}

static void gen_stream(stream *s, size_t nevents, int ccalls, int lines,
                       int allocs, uint64_t seed) {
    gen *g = calloc(1, sizeof *g);
    if (!g) abort();
    g->r.s = seed;
    g->s = s;
    g->ccalls = ccalls;
    g->lines = lines;
    g->allocs = allocs;
    g->depth_cap = 30;
    g->t = 1000;
    g->next_rss = 100000;
    gen_model(g);
    heap_init(&g->h);
    while (s->n < nevents) gen_step(g);
    while (g->depth > 0) gen_return(g); /* each pass starts at depth 0 */
    s->t_end = g->t;
    free(g->zpy.cdf);
    free(g->zc.cdf);
    free(g->ztype.cdf);
    free(g->h.pools);
    free(g->h.lv);
    for (int i = 0; i <= NCLASS; i++) free(g->h.avail[i]);
    free(g);
}

/* The worst case: every compact type, every field random, only the call
 * stack kept balanced (the writer tracks it). */
static void gen_random(stream *s, size_t nevents, uint64_t seed) {
    rng r = {seed};
    uint64_t t = 1000;
    uint32_t depth = 0;
    static const uint8_t types[] = {
        MT_REC_CALL,    MT_REC_RETURN,  MT_REC_CCALL,   MT_REC_CRETURN,
        MT_REC_CRAISE,  MT_REC_LINE,    MT_REC_RAISE,   MT_REC_UNWIND,
        MT_REC_OBJ_NEW, MT_REC_OBJ_DEL, MT_REC_RSS,     MT_REC_ALLOC,
        MT_REC_FREE,    MT_REC_REALLOC};
    while (s->n < nevents || depth > 0) {
        uint8_t type = types[rng_below(&r, sizeof types)];
        int pops = type == MT_REC_RETURN || type == MT_REC_CRETURN ||
                   type == MT_REC_CRAISE || type == MT_REC_UNWIND;
        int pushes = type == MT_REC_CALL || type == MT_REC_CCALL;
        if (s->n >= nevents) type = MT_REC_RETURN, pops = 1, pushes = 0;
        if (pops && depth == 0) continue;
        if (pushes && depth >= MAX_DEPTH - 1) continue;
        /* Random bit lengths, so every varint length occurs. */
        t += rng_next(&r) >> (32 + rng_below(&r, 32));
        bev e = {.t = t, .type = type};
        uint64_t bits = rng_next(&r) >> rng_below(&r, 64);
        e.addr = rng_next(&r) >> rng_below(&r, 64);
        e.aux = rng_next(&r) >> rng_below(&r, 64);
        e.x = (uint32_t)(bits >> 32) | 1; /* fids and sids must not be 0 */
        if (type >= MT_REC_ALLOC) e.domain = (uint8_t)rng_below(&r, 5);
        depth += pushes;
        depth -= pops;
        push_ev(s, &e);
        s->kinds[pushes ? K_CALL : pops ? K_RET : K_OTHER]++;
    }
    s->t_end = t;
}

/* ---- Definitions -------------------------------------------------------- */

/* The STRING/FUNCTION/THREAD records for the NFUNC functions, encoded once:
 * sids 1..NFUNC qualnames, NFUNC+1.. modules, then files. */
typedef struct defs {
    uint8_t *buf;
    size_t n;
    uint32_t nrecords;
} defs;

static void defs_build(defs *d) {
    d->buf = malloc(NFUNC * 3 * 80 + 256);
    if (!d->buf) abort();
    uint8_t *p = d->buf;
    char s[64];
    rng r = {BENCH_SEED ^ 0xdef5};
    uint32_t nmod = 40;
    for (uint32_t m = 0; m < nmod; m++) {
        int len = snprintf(s, sizeof s, "pkg.module%u", m);
        p = mt_enc_string(p, NFUNC + 1 + m, s, (size_t)len);
        len = snprintf(s, sizeof s, "/usr/lib/python3.11/pkg/module%u.py", m);
        p = mt_enc_string(p, NFUNC + 1 + nmod + m, s, (size_t)len);
        d->nrecords += 2;
    }
    for (uint32_t fid = 1; fid <= NFUNC; fid++) {
        int len = snprintf(s, sizeof s, "%s%u", fid > NPYFUNC ? "builtin_" : "Class.method_", fid);
        p = mt_enc_string(p, fid, s, (size_t)len);
        uint32_t m = rng_below(&r, nmod);
        p = mt_enc_function(p, fid, fid > NPYFUNC ? MT_FUNC_C : MT_FUNC_PYTHON, fid,
                            NFUNC + 1 + m, fid > NPYFUNC ? 0 : NFUNC + 1 + nmod + m,
                            1 + rng_below(&r, 3000));
        d->nrecords += 2;
    }
    p = mt_enc_thread(p, 1, 4242, "MainThread", 10);
    d->nrecords++;
    d->n = (size_t)(p - d->buf);
}

/* The same definitions as records, for the mt_writer_append path. */
static int defs_append(mt_writer *w, const defs *d) {
    /* Decode our own bytes by hand: sized records, fields are varints. */
    const uint8_t *p = d->buf, *end = d->buf + d->n;
    int rc = 0;
    while (p < end && rc == 0) {
        int type = *p++;
        uint64_t len = 0, v[8];
        int sh = 0;
        while (*p & 0x80) len |= (uint64_t)(*p++ & 0x7f) << sh, sh += 7;
        len |= (uint64_t)*p++ << sh;
        const uint8_t *q = p, *qend = p + len;
        int nv = type == MT_REC_FUNCTION ? 6 : type == MT_REC_THREAD ? 2 : 1;
        for (int i = 0; i < nv; i++) {
            v[i] = 0, sh = 0;
            while (*q & 0x80) v[i] |= (uint64_t)(*q++ & 0x7f) << sh, sh += 7;
            v[i] |= (uint64_t)*q++ << sh;
        }
        mt_record rec = {.type = type, .raw_type = (uint8_t)type};
        if (type == MT_REC_STRING) {
            rec.u.string.sid = (uint32_t)v[0];
            rec.u.string.len = (uint32_t)(qend - q);
            rec.u.string.bytes = (const char *)q;
        } else if (type == MT_REC_FUNCTION) {
            rec.u.function.fid = (uint32_t)v[0];
            rec.u.function.kind = (uint32_t)v[1];
            rec.u.function.qualname_sid = (uint32_t)v[2];
            rec.u.function.module_sid = (uint32_t)v[3];
            rec.u.function.file_sid = (uint32_t)v[4];
            rec.u.function.first_line = (uint32_t)v[5];
        } else {
            rec.tid = (uint32_t)v[0];
            rec.u.thread.native_id = v[1];
            rec.u.thread.len = (uint32_t)(qend - q);
            rec.u.thread.name = (const char *)q;
        }
        rc = mt_writer_append(w, &rec);
        p = qend;
    }
    return rc;
}

/* ---- Sinks -------------------------------------------------------------- */

typedef struct sink {
    uint64_t bytes;
    uint8_t *keep; /* NULL: count only */
    size_t cap;
} sink;

static long sink_count(void *ctx, const void *buf, size_t n) {
    (void)buf;
    ((sink *)ctx)->bytes += n;
    return (long)n;
}

static long sink_keep(void *ctx, const void *buf, size_t n) {
    sink *s = ctx;
    if (s->bytes + n > s->cap) {
        while (s->bytes + n > s->cap) s->cap = s->cap ? 2 * s->cap : 1u << 24;
        s->keep = realloc(s->keep, s->cap);
        if (!s->keep) return -ENOMEM;
    }
    memcpy(s->keep + s->bytes, buf, n);
    s->bytes += n;
    return (long)n;
}

/* ---- Encoders under test ------------------------------------------------ */

typedef struct config {
    int zstd_level;
    uint32_t chunk_raw_bytes;
} config;

static const char *prog = "bench-format";

static void die_rc(const char *what, int rc) {
    fprintf(stderr, "%s: %s: %s\n", prog, what, mt_strerror(rc));
    exit(1);
}

static mt_writer *open_writer(const stream *s, const config *c, mt_write_fn fn,
                              sink *sk) {
    mt_header h;
    mt_header_init(&h);
    h.content = s->content;
    h.producer = "bench-format";
    h.mode = "bench";
    mt_writer_options o = {.chunk_raw_bytes = c->chunk_raw_bytes,
                           .zstd_level = c->zstd_level};
    mt_writer *w;
    int rc = mt_writer_open_sink(&w, fn, sk, &h, &o);
    if (rc < 0) die_rc("mt_writer_open_sink", rc);
    return w;
}

/* The recorder's path: one thread's block buffer, its shadow stack, and the
 * block state the mt_enc_* encoders keep. */
typedef struct blockenc {
    mt_writer *w;
    uint8_t buf[BLOCK_BUF_BYTES];
    uint8_t *p;
    uint32_t nrec;
    uint64_t t_first, t_prev;
    uint64_t prev_addr, prev_rss;
    uint32_t prev_line;
    uint32_t depth;
    uint32_t stack[MAX_DEPTH];
    int rc;
} blockenc;

static void block_open(blockenc *b, uint64_t t) {
    b->p = mt_enc_block(b->buf, 1, t, b->stack, b->depth);
    b->nrec = 1;
    b->t_first = b->t_prev = t;
    b->prev_addr = b->prev_rss = 0;
    b->prev_line = 0;
}

static void block_close(blockenc *b) {
    int rc = mt_writer_append_block(b->w, b->buf, (size_t)(b->p - b->buf), b->nrec,
                                    b->t_first, b->t_prev);
    if (rc < 0 && b->rc == 0) b->rc = rc;
    b->nrec = 0;
}

/* Encode one pass of the stream, times shifted by toff. */
static void enc_block_pass(blockenc *b, const stream *s, uint64_t toff) {
    const bev *e = s->ev, *end = s->ev + s->n;
    uint8_t *p = b->p;
    uint8_t *const limit = b->buf + BLOCK_BUF_BYTES - MT_MAX_COMPACT_BYTES;
    uint64_t t_prev = b->t_prev;
    for (; e < end; e++) {
        uint64_t t = e->t + toff;
        if (p > limit || b->nrec == 0) {
            b->p = p;
            b->t_prev = t_prev;
            if (b->nrec) block_close(b);
            block_open(b, t);
            p = b->p;
            t_prev = t;
        }
        uint64_t dt = t - t_prev;
        t_prev = t;
        switch (e->type) {
        case MT_REC_CALL:
            p = mt_enc_call(p, dt, e->x);
            b->stack[b->depth++] = e->x;
            break;
        case MT_REC_CCALL:
            p = mt_enc_ccall(p, dt, e->x);
            b->stack[b->depth++] = e->x;
            break;
        case MT_REC_RETURN:
        case MT_REC_CRETURN:
        case MT_REC_CRAISE:
        case MT_REC_UNWIND:
            p = mt_enc_event(p, e->type, dt);
            b->depth--;
            break;
        case MT_REC_LINE:
            p = mt_enc_line(p, dt, e->x, &b->prev_line);
            break;
        case MT_REC_RAISE:
            p = mt_enc_raise(p, dt, e->x);
            break;
        case MT_REC_OBJ_NEW:
        case MT_REC_OBJ_DEL:
            p = mt_enc_obj(p, e->type, dt, e->addr, e->x, &b->prev_addr);
            break;
        case MT_REC_RSS:
            p = mt_enc_rss(p, dt, e->aux, &b->prev_rss);
            break;
        case MT_REC_ALLOC:
            p = mt_enc_alloc(p, e->domain, dt, e->addr, e->x, &b->prev_addr);
            break;
        case MT_REC_FREE:
            p = mt_enc_free(p, e->domain, dt, e->addr, &b->prev_addr);
            break;
        case MT_REC_REALLOC:
            p = mt_enc_realloc(p, e->domain, dt, e->aux, e->addr, e->x,
                               &b->prev_addr);
            break;
        }
        b->nrec++;
    }
    b->p = p;
    b->t_prev = t_prev;
}

static uint64_t pass_offset(const stream *s, uint32_t pass) {
    return (uint64_t)pass * (s->t_end + 1000);
}

/* Encode passes x the stream through the block path; returns bytes out. */
static uint64_t run_enc_block(const stream *s, const defs *d, const config *c,
                              uint32_t passes, sink *keep) {
    static blockenc b; /* 64 KiB: not on the stack */
    sink cnt = {0};
    b.w = open_writer(s, c, keep ? sink_keep : sink_count, keep ? keep : &cnt);
    b.nrec = 0;
    b.depth = 0;
    b.rc = 0;
    int rc = mt_writer_append_defs(b.w, d->buf, d->n, d->nrecords);
    if (rc < 0) die_rc("mt_writer_append_defs", rc);
    for (uint32_t i = 0; i < passes; i++) enc_block_pass(&b, s, pass_offset(s, i));
    if (b.nrec) block_close(&b);
    if (b.rc < 0) die_rc("mt_writer_append_block", b.rc);
    rc = mt_writer_close(b.w);
    if (rc < 0) die_rc("mt_writer_close", rc);
    return keep ? keep->bytes : cnt.bytes;
}

static uint64_t run_enc_append(const stream *s, const defs *d, const config *c,
                               uint32_t passes, sink *keep) {
    sink cnt = {0};
    mt_writer *w = open_writer(s, c, keep ? sink_keep : sink_count, keep ? keep : &cnt);
    int rc = defs_append(w, d);
    for (uint32_t i = 0; i < passes && rc == 0; i++) {
        uint64_t toff = pass_offset(s, i);
        for (const bev *e = s->ev, *end = s->ev + s->n; e < end; e++) {
            mt_record r;
            r.type = e->type;
            r.raw_type = (uint8_t)(e->type | e->domain);
            r.domain = e->domain;
            r.tid = 1;
            r.t = e->t + toff;
            switch (e->type) {
            case MT_REC_LINE: r.u.line.line = e->x; break;
            case MT_REC_RAISE: r.u.raise.type_sid = e->x; break;
            case MT_REC_OBJ_NEW:
            case MT_REC_OBJ_DEL:
                r.u.obj.addr = e->addr;
                r.u.obj.type_sid = e->x;
                break;
            case MT_REC_RSS: r.u.rss.bytes = e->aux; break;
            case MT_REC_ALLOC:
            case MT_REC_FREE:
                r.u.alloc.addr = e->addr;
                r.u.alloc.size = e->x;
                break;
            case MT_REC_REALLOC:
                r.u.realloc.old_addr = e->aux;
                r.u.realloc.addr = e->addr;
                r.u.realloc.size = e->x;
                break;
            default: r.u.call.fid = e->x; break; /* calls; returns: ignored */
            }
            rc = mt_writer_append(w, &r);
        }
    }
    if (rc < 0) die_rc("mt_writer_append", rc);
    rc = mt_writer_close(w);
    if (rc < 0) die_rc("mt_writer_close", rc);
    return keep ? keep->bytes : cnt.bytes;
}

/* Decode everything; returns the data records seen (BLOCK excluded). */
static uint64_t run_dec(const uint8_t *buf, size_t n, uint32_t passes) {
    uint64_t count = 0, sum = 0;
    for (uint32_t i = 0; i < passes; i++) {
        mt_reader *r;
        mt_record rec;
        int rc = mt_reader_open_mem(&r, buf, n, "bench");
        if (rc < 0) die_rc("mt_reader_open_mem", rc);
        while ((rc = mt_reader_next(r, &rec)) > 0) {
            count++;
            sum += rec.t; /* use the record, so nothing is optimised away */
        }
        if (rc < 0) {
            fprintf(stderr, "%s: decode: %s\n", prog, mt_reader_errmsg(r));
            exit(1);
        }
        mt_reader_close(r);
    }
    if (sum == 1) fputc(' ', stderr);
    return count;
}

/* Decode once, untimed, compare with the stream; also sum chunk raw bytes.
 * Returns the number of mismatches (0 is good). */
static uint64_t verify(const stream *s, const uint8_t *buf, size_t n,
                       uint64_t *raw_bytes, const char *what) {
    mt_reader *r;
    mt_record rec;
    int rc = mt_reader_open_mem(&r, buf, n, what);
    if (rc < 0) die_rc("mt_reader_open_mem", rc);
    size_t i = 0;
    uint64_t bad = 0, last_off = UINT64_MAX;
    uint32_t stack[MAX_DEPTH], depth = 0;
    *raw_bytes = 0;
    while ((rc = mt_reader_next(r, &rec)) > 0) {
        mt_chunk_info ci;
        if (mt_reader_chunk(r, &ci) == 0 && ci.offset != last_off) {
            last_off = ci.offset;
            *raw_bytes += ci.raw_bytes;
        }
        if (rec.type >= MT_REC_BLOCK) continue; /* block, definitions */
        if (i >= s->n) {
            bad++;
            continue;
        }
        const bev *e = &s->ev[i++];
        int ok = rec.t == e->t && rec.tid == 1 &&
                 rec.type == (e->type >= MT_REC_ALLOC ? (e->type & 0x38) : e->type);
        switch (e->type) {
        case MT_REC_CALL:
        case MT_REC_CCALL:
            ok = ok && rec.u.call.fid == e->x;
            stack[depth++] = e->x;
            break;
        case MT_REC_RETURN:
        case MT_REC_CRETURN:
        case MT_REC_CRAISE:
        case MT_REC_UNWIND:
            ok = ok && depth > 0 && rec.u.call.fid == stack[depth - 1];
            depth -= depth > 0;
            break;
        case MT_REC_LINE: ok = ok && rec.u.line.line == e->x; break;
        case MT_REC_RAISE: ok = ok && rec.u.raise.type_sid == e->x; break;
        case MT_REC_OBJ_NEW:
        case MT_REC_OBJ_DEL:
            ok = ok && rec.u.obj.addr == e->addr && rec.u.obj.type_sid == e->x;
            break;
        case MT_REC_RSS: ok = ok && rec.u.rss.bytes == e->aux; break;
        case MT_REC_ALLOC:
            ok = ok && rec.domain == e->domain && rec.u.alloc.addr == e->addr &&
                 rec.u.alloc.size == e->x;
            break;
        case MT_REC_FREE:
            ok = ok && rec.domain == e->domain && rec.u.alloc.addr == e->addr;
            break;
        case MT_REC_REALLOC:
            ok = ok && rec.domain == e->domain && rec.u.realloc.old_addr == e->aux &&
                 rec.u.realloc.addr == e->addr && rec.u.realloc.size == e->x;
            break;
        }
        if (!ok && bad++ < 3)
            fprintf(stderr, "%s: %s: %s: event %zu differs: wrote type 0x%02x t %llu, "
                    "read %s t %llu\n", prog, s->name, what, i - 1,
                    e->type | e->domain, (unsigned long long)e->t,
                    mt_record_type_name(rec.type), (unsigned long long)rec.t);
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s: %s: %s\n", prog, s->name, what, mt_reader_errmsg(r));
        bad++;
    }
    if (i != s->n) {
        fprintf(stderr, "%s: %s: %s: wrote %zu events, read %zu\n", prog, s->name,
                what, s->n, i);
        bad++;
    }
    mt_reader_close(r);
    return bad;
}

/* ---- Timing ------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

enum { OP_ENC_BLOCK, OP_ENC_APPEND, OP_DEC };

typedef struct job {
    int op;
    const stream *s;
    const defs *d;
    config c;
    const uint8_t *enc; /* OP_DEC */
    size_t enc_n;
} job;

static void job_run(const job *j, uint32_t passes) {
    if (j->op == OP_ENC_BLOCK) run_enc_block(j->s, j->d, &j->c, passes, NULL);
    else if (j->op == OP_ENC_APPEND) run_enc_append(j->s, j->d, &j->c, passes, NULL);
    else run_dec(j->enc, j->enc_n, passes);
}

static int opt_runs = 5;
static double opt_seconds = 0.5;
static double max_cpu_ratio = 0;

/* Median, min and max of opt_runs runs, in millions of events per second,
 * each run sized to about opt_seconds. */
static void measure(const job *j, double out[3]) {
    double t0 = now_s();
    job_run(j, 1); /* warms caches and the allocator, sizes the runs */
    double one = now_s() - t0;
    uint32_t passes = (uint32_t)(opt_seconds / (one > 1e-6 ? one : 1e-6) + 0.5);
    if (passes < 1) passes = 1;
    if (passes > 100000) passes = 100000;
    double rate[MAX_RUNS];
    for (int k = 0; k < opt_runs; k++) {
        double c0 = cpu_s(), w0 = now_s();
        job_run(j, passes);
        double wall = now_s() - w0, cpu = cpu_s() - c0;
        if (cpu / wall > max_cpu_ratio) max_cpu_ratio = cpu / wall;
        rate[k] = (double)j->s->n * passes / wall / 1e6;
    }
    for (int a = 1; a < opt_runs; a++) /* insertion sort: a handful */
        for (int b = a; b > 0 && rate[b] < rate[b - 1]; b--) {
            double x = rate[b];
            rate[b] = rate[b - 1];
            rate[b - 1] = x;
        }
    out[0] = rate[opt_runs / 2];
    out[1] = rate[0];
    out[2] = rate[opt_runs - 1];
}

/* ---- Table -------------------------------------------------------------- */

typedef struct row {
    const char *stream, *path;
    config c;
    double mev[3];
    double raw_bpe, bpe;
    const char *target; /* "" or e.g. "enc>=30 ok" */
    char tbuf[64];
} row;

static row rows[256];
static int nrows;

static void cpu_model(char *out, size_t n) {
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = 0;
                snprintf(out, n, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s [-r runs] [-t seconds] [-n events] [-s stream] [-p path] [-q]\n"
            "  -r N   runs per measurement, median reported (default 5, max %d)\n"
            "  -t S   target length of one run in seconds (default 0.5)\n"
            "  -n N   events per generated stream (default 1000000)\n"
            "  -s S   only the stream named S (calls, profile, trace, alloc, random)\n"
            "  -p P   only the path named P (block, append, decode); for profiling\n"
            "  -q     quick: 3 runs of 0.2 s, default configuration only\n",
            prog, MAX_RUNS);
}

int main(int argc, char **argv) {
    size_t nevents = 1000000;
    const char *only = NULL, *only_path = NULL;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-q")) {
            quick = 1;
            opt_runs = 3;
            opt_seconds = 0.2;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (i + 1 < argc && (!strcmp(a, "-r") || !strcmp(a, "-t") ||
                                    !strcmp(a, "-n") || !strcmp(a, "-s") ||
                                    !strcmp(a, "-p"))) {
            const char *v = argv[++i];
            char *endp = NULL;
            if (a[1] == 's') { only = v; continue; }
            if (a[1] == 'p') {
                if (strcmp(v, "block") && strcmp(v, "append") && strcmp(v, "decode")) {
                    fprintf(stderr, "%s: no path named '%s'\n", prog, v);
                    return 2;
                }
                only_path = v;
                continue;
            }
            double x = strtod(v, &endp);
            if (!endp || *endp || x <= 0) {
                fprintf(stderr, "%s: invalid value '%s' for %s\n", prog, v, a);
                return 2;
            }
            if (a[1] == 'r') opt_runs = x > MAX_RUNS ? MAX_RUNS : (int)x;
            else if (a[1] == 't') opt_seconds = x;
            else nevents = (size_t)x;
        } else {
            usage(stderr);
            return 2;
        }
    }

    static stream streams[] = {
        {.name = "calls", .what = "Python call/return only",
         .content = MT_CONTENT_CALLS, .target_bpe = 1.5},
        {.name = "profile", .what = "Python + C calls, rare exceptions",
         .content = MT_CONTENT_CALLS | MT_CONTENT_CCALLS},
        {.name = "trace", .what = "profile + LINE events",
         .content = MT_CONTENT_CALLS | MT_CONTENT_CCALLS | MT_CONTENT_LINES},
        {.name = "alloc", .what = "calls + obj/mem ALLOC/FREE + RSS",
         .content = MT_CONTENT_CALLS | MT_CONTENT_ALLOCS | MT_CONTENT_RSS,
         .target_bpe = 2.2},
        {.name = "random", .what = "every compact type, random fields (worst case)",
         .content = 0x7f},
    };
    int nstreams = (int)(sizeof streams / sizeof streams[0]);
    const config all_cfg[] = {{1, 256u << 10}, {1, 1u << 20}, {3, 256u << 10}, {3, 1u << 20}};
    const config def_cfg = {1, 1u << 20};
    int ncfg = quick ? 1 : 4;
    const config *cfgs = quick ? &def_cfg : all_cfg;

    defs d = {0};
    defs_build(&d);
    uint64_t bad = 0;
    int matched = 0;
    char cpu[256];
    cpu_model(cpu, sizeof cpu);

    for (int si = 0; si < nstreams; si++) {
        stream *s = &streams[si];
        if (only && strcmp(only, s->name)) continue;
        matched = 1;
        fprintf(stderr, "%s: generating '%s' (%zu events)\n", prog, s->name, nevents);
        if (si == 4) gen_random(s, nevents, BENCH_SEED + (uint64_t)si);
        else gen_stream(s, nevents, si >= 1 && si <= 2, si == 2, si == 3,
                        BENCH_SEED + (uint64_t)si);

        for (int op = OP_ENC_BLOCK; op <= OP_DEC; op++) {
            static const char *const op_names[] = {"block", "append", "decode"};
            if (only_path && strcmp(only_path, op_names[op])) continue;
            for (int ci = 0; ci < ncfg; ci++) {
                const config *c = &cfgs[ci];
                /* mt_writer_append: the default configuration only. */
                if (op == OP_ENC_APPEND && (c->zstd_level != 1 || c->chunk_raw_bytes != (1u << 20)))
                    continue;
                /* One untimed pass, kept: sizes, correctness, decode input. */
                sink keep = {0};
                if (op == OP_ENC_APPEND) run_enc_append(s, &d, c, 1, &keep);
                else run_enc_block(s, &d, c, 1, &keep);
                uint64_t raw = 0;
                uint64_t nbad = verify(s, keep.keep, keep.bytes, &raw,
                                       op == OP_ENC_APPEND ? "append" : "block");
                bad += nbad;
                job j = {.op = op, .s = s, .d = &d, .c = *c, .enc = keep.keep,
                         .enc_n = keep.bytes};
                row *rw = &rows[nrows++];
                rw->stream = s->name;
                rw->path = op == OP_ENC_BLOCK ? "enc block" : op == OP_ENC_APPEND ? "enc append" : "decode";
                rw->c = *c;
                fprintf(stderr, "%s: %s %s zstd %d chunk %u KiB\n", prog, s->name,
                        rw->path, c->zstd_level, c->chunk_raw_bytes >> 10);
                if (nbad == 0) measure(&j, rw->mev);
                rw->raw_bpe = (double)raw / (double)s->n;
                rw->bpe = (double)keep.bytes / (double)s->n;
                rw->target = rw->tbuf;
                char *tb = rw->tbuf;
                size_t tn = sizeof rw->tbuf;
                if (nbad) snprintf(tb, tn, "DECODE MISMATCH");
                else if (op == OP_ENC_BLOCK)
                    snprintf(tb, tn, "enc>=30 %s", rw->mev[0] >= 30 ? "ok" : "MISS");
                else if (op == OP_DEC)
                    snprintf(tb, tn, "dec>=50 %s", rw->mev[0] >= 50 ? "ok" : "MISS");
                if (!nbad && s->target_bpe > 0 && op != OP_DEC) {
                    size_t l = strlen(tb);
                    snprintf(tb + l, tn - l, "%sB/ev<=%.1f %s", l ? ", " : "",
                             s->target_bpe, rw->bpe <= s->target_bpe ? "ok" : "MISS");
                }
                free(keep.keep);
            }
        }
        free(s->ev);
        s->ev = NULL;
    }
    if (!matched) {
        fprintf(stderr, "%s: no stream named '%s'\n", prog, only);
        return 2;
    }

    printf("## memtrace format benchmark\n\n");
    printf("- CPU: %s (1 core used; %ld online)\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    printf("- library %s, format %d.%d; %zu events per stream; median of %d runs of ~%.1f s "
           "(min-max); CLOCK_MONOTONIC\n",
           MT_LIBRARY_VERSION, MT_FORMAT_MAJOR, MT_FORMAT_MINOR, nevents, opt_runs, opt_seconds);
    printf("- Mev/s = million stream events per second on one core; B/ev = bytes out "
           "(file, all frames) per event; raw B/ev = decompressed chunk payload per event\n");
    if (max_cpu_ratio > 1.05)
        printf("- NOTE: process CPU time was up to %.2fx wall time: the library used "
               "more than one thread, so per-core rates are lower than shown\n",
               max_cpu_ratio);
    printf("\n| stream | path | zstd | chunk | Mev/s median | min | max | raw B/ev | B/ev | ratio | target |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < nrows; i++) {
        const row *rw = &rows[i];
        printf("| %s | %s | %d | %u KiB | %.1f | %.1f | %.1f | %.3f | %.3f | %.2f | %s |\n",
               rw->stream, rw->path, rw->c.zstd_level, rw->c.chunk_raw_bytes >> 10,
               rw->mev[0], rw->mev[1], rw->mev[2], rw->raw_bpe, rw->bpe,
               rw->bpe > 0 ? rw->raw_bpe / rw->bpe : 0, rw->target);
    }
    printf("\nStreams:\n\n");
    printf("| stream | content | call | return | ccall | creturn | line | alloc | free | other |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int si = 0; si < nstreams; si++) {
        const stream *s = &streams[si];
        if (only && strcmp(only, s->name)) continue;
        printf("| %s | %s |", s->name, s->what);
        double tot = 0;
        for (int k = 0; k < K_N; k++) tot += (double)s->kinds[k];
        for (int k = 0; k < K_N; k++) printf(" %.1f%% |", 100.0 * (double)s->kinds[k] / tot);
        printf("\n");
    }
    free(d.buf);
    if (bad) {
        fprintf(stderr, "%s: %llu decoded records differ from what was written\n", prog,
                (unsigned long long)bad);
        return 1;
    }
    return 0;
}
