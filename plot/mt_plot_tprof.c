/*
 * mt_plot_tprof.c - a profile over time (mt_tprof): weights by stack,
 * thread and time slice, for the page's window selection. The caller gives
 * stacks as frames (name, where) under a parent and weights in three kinds
 * (lifetimes, the live set at the peak, growth); the page's script
 * recomputes a flame graph and a table for any window of slices and any
 * threads. What a kind means is mt_plot.h's; here is how the data stays
 * small: stacks with too small a share of every measure fold into a
 * "(smaller stacks)" frame under their nearest kept caller, then slices are
 * merged pairwise until the records fit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_plot_internal.h"

#define NONE UINT32_MAX

typedef struct tframe {
    char *name, *where;
} tframe;

typedef struct tstack {
    uint32_t parent, frame;
} tstack;

typedef struct trec {
    uint32_t stack, thread; /* thread: index into threads */
    uint16_t a, b;
    uint8_t kind, flags;
    double count, bytes;
} trec;

typedef struct tthread {
    uint32_t tid;
    char *name;
    int selected;
} tthread;

/* An open-addressing index of uint32 ids by a 64-bit hash; the caller
 * compares the candidates (hidx_find walks the probe sequence). */
typedef struct hidx {
    uint32_t *slot; /* id + 1; 0 empty */
    uint64_t mask;
} hidx;

struct mt_tprof {
    uint32_t nslices;
    double t0, t1;
    tframe *frames;
    uint32_t nframes, capframes;
    hidx fidx;
    tstack *stacks; /* 0: the root (no frame) */
    uint32_t nstacks, capstacks;
    hidx sidx;
    tthread *threads;
    uint32_t nthreads, capthreads;
    trec *recs;
    uint64_t nrecs, caprecs;
    hidx ridx;
    double *rss; /* per slice 1..N: the greatest RSS (NaN: none) */
    double peak_s;
    int has[3];
    int reduced; /* written: no more adds */
};

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int grow(void **p, uint64_t *cap, uint64_t need, size_t sz) {
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q) return MT_PLOT_ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int grow32(void **p, uint32_t *cap, uint32_t need, size_t sz) {
    uint64_t c = *cap;
    int rc = grow(p, &c, need, sz);
    *cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    return rc;
}

/* Make room for one more of n ids; rehash(h, id) gives each id's hash. */
static int hidx_room(hidx *x, uint64_t n, uint64_t (*hash)(const mt_tprof *, uint32_t),
                     const mt_tprof *p) {
    if (x->slot && (n + 1) * 2 <= x->mask + 1) return 0;
    uint64_t cap = x->slot ? (x->mask + 1) * 2 : 1024;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return MT_PLOT_ERR_NOMEM;
    for (uint64_t i = 0; x->slot && i <= x->mask; i++) {
        if (!x->slot[i]) continue;
        uint64_t j = hash(p, x->slot[i] - 1) & (cap - 1);
        while (s[j]) j = (j + 1) & (cap - 1);
        s[j] = x->slot[i];
    }
    free(x->slot);
    x->slot = s;
    x->mask = cap - 1;
    return 0;
}

static uint64_t str_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}
static uint64_t frame_hash(const mt_tprof *p, uint32_t i) {
    return mix(str_hash(p->frames[i].name) ^ (str_hash(p->frames[i].where) << 1));
}
static uint64_t stack_hash(const mt_tprof *p, uint32_t i) {
    return mix((uint64_t)p->stacks[i].parent << 32 | p->stacks[i].frame);
}
static uint64_t rec_key(const trec *r) {
    return mix(((uint64_t)r->stack << 32 | r->thread) ^
               mix((uint64_t)r->a << 24 | (uint64_t)r->b << 8 | (uint64_t)r->kind << 4 | r->flags));
}
static uint64_t rec_hash(const mt_tprof *p, uint32_t i) { return rec_key(&p->recs[i]); }

int mt_tprof_new(mt_tprof **out, uint32_t nslices, double t0_s, double t1_s) {
    *out = NULL;
    if (nslices < 1 || nslices > 65534 || !(t1_s >= t0_s)) return MT_PLOT_ERR_ARG;
    mt_tprof *p = calloc(1, sizeof *p);
    if (!p) return MT_PLOT_ERR_NOMEM;
    p->nslices = nslices;
    p->t0 = t0_s;
    p->t1 = t1_s;
    p->peak_s = NAN;
    p->rss = malloc((nslices + 2) * sizeof *p->rss);
    if (!p->rss || grow32((void **)&p->stacks, &p->capstacks, 1, sizeof *p->stacks) ||
        hidx_room(&p->sidx, 1, stack_hash, p)) {
        mt_tprof_free(p);
        return MT_PLOT_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < nslices + 2; i++) p->rss[i] = NAN;
    p->stacks[0] = (tstack){NONE, NONE};
    p->nstacks = 1;
    *out = p;
    return 0;
}

void mt_tprof_free(mt_tprof *p) {
    if (!p) return;
    for (uint32_t i = 0; i < p->nframes; i++) {
        free(p->frames[i].name);
        free(p->frames[i].where);
    }
    for (uint32_t i = 0; i < p->nthreads; i++) free(p->threads[i].name);
    free(p->frames);
    free(p->fidx.slot);
    free(p->stacks);
    free(p->sidx.slot);
    free(p->threads);
    free(p->recs);
    free(p->ridx.slot);
    free(p->rss);
    free(p);
}

int mt_tprof_thread(mt_tprof *p, uint32_t tid, const char *name, int selected) {
    if (!p) return MT_PLOT_ERR_ARG;
    for (uint32_t i = 0; i < p->nthreads; i++)
        if (p->threads[i].tid == tid) return (int)i;
    if (grow32((void **)&p->threads, &p->capthreads, p->nthreads + 1, sizeof *p->threads))
        return MT_PLOT_ERR_NOMEM;
    char *n = mt_pl_strdup(name ? name : "");
    if (!n) return MT_PLOT_ERR_NOMEM;
    p->threads[p->nthreads] = (tthread){tid, n, selected};
    return (int)p->nthreads++;
}

static int64_t frame_id(mt_tprof *p, const char *name, const char *where) {
    uint64_t h = mix(str_hash(name) ^ (str_hash(where) << 1));
    uint64_t i = p->fidx.slot ? h & p->fidx.mask : 0;
    for (; p->fidx.slot && p->fidx.slot[i]; i = (i + 1) & p->fidx.mask) {
        const tframe *f = &p->frames[p->fidx.slot[i] - 1];
        if (strcmp(f->name, name) == 0 && strcmp(f->where, where) == 0)
            return p->fidx.slot[i] - 1;
    }
    if (p->nframes >= NONE - 1) return MT_PLOT_ERR_LIMIT;
    if (grow32((void **)&p->frames, &p->capframes, p->nframes + 1, sizeof *p->frames))
        return MT_PLOT_ERR_NOMEM;
    tframe f = {mt_pl_strdup(name), mt_pl_strdup(where)};
    if (!f.name || !f.where) {
        free(f.name);
        free(f.where);
        return MT_PLOT_ERR_NOMEM;
    }
    p->frames[p->nframes++] = f; /* owned (freed with p) even if indexing fails */
    if (hidx_room(&p->fidx, p->nframes - 1, frame_hash, p)) return MT_PLOT_ERR_NOMEM;
    for (i = h & p->fidx.mask; p->fidx.slot[i];) i = (i + 1) & p->fidx.mask;
    p->fidx.slot[i] = p->nframes;
    return p->nframes - 1;
}

int64_t mt_tprof_stack(mt_tprof *p, uint32_t parent, const char *name, const char *where) {
    if (!p || p->reduced || parent >= p->nstacks || !name) return MT_PLOT_ERR_ARG;
    int64_t fr = frame_id(p, name, where ? where : "");
    if (fr < 0) return fr;
    tstack s = {parent, (uint32_t)fr};
    uint64_t h = mix((uint64_t)s.parent << 32 | s.frame), i = h & p->sidx.mask;
    for (; p->sidx.slot[i]; i = (i + 1) & p->sidx.mask) {
        const tstack *t = &p->stacks[p->sidx.slot[i] - 1];
        if (t->parent == s.parent && t->frame == s.frame) return p->sidx.slot[i] - 1;
    }
    if (p->nstacks >= NONE - 1) return MT_PLOT_ERR_LIMIT;
    if (grow32((void **)&p->stacks, &p->capstacks, p->nstacks + 1, sizeof *p->stacks))
        return MT_PLOT_ERR_NOMEM;
    p->stacks[p->nstacks] = s;
    if (hidx_room(&p->sidx, p->nstacks, stack_hash, p)) return MT_PLOT_ERR_NOMEM;
    for (i = h & p->sidx.mask; p->sidx.slot[i];) i = (i + 1) & p->sidx.mask;
    p->sidx.slot[i] = p->nstacks + 1;
    return p->nstacks++;
}

/* Add r into the records (merged with an equal key). */
static int rec_put(mt_tprof *p, const trec *r) {
    uint64_t h = rec_key(r), i = p->ridx.slot ? h & p->ridx.mask : 0;
    for (; p->ridx.slot && p->ridx.slot[i]; i = (i + 1) & p->ridx.mask) {
        trec *t = &p->recs[p->ridx.slot[i] - 1];
        if (t->stack == r->stack && t->thread == r->thread && t->a == r->a && t->b == r->b &&
            t->kind == r->kind && t->flags == r->flags) {
            t->count += r->count;
            t->bytes += r->bytes;
            return 0;
        }
    }
    if (p->nrecs >= NONE - 1) return MT_PLOT_ERR_LIMIT;
    if (grow((void **)&p->recs, &p->caprecs, p->nrecs + 1, sizeof *p->recs))
        return MT_PLOT_ERR_NOMEM;
    p->recs[p->nrecs] = *r;
    if (hidx_room(&p->ridx, p->nrecs, rec_hash, p)) return MT_PLOT_ERR_NOMEM;
    for (i = h & p->ridx.mask; p->ridx.slot[i];) i = (i + 1) & p->ridx.mask;
    p->ridx.slot[i] = (uint32_t)p->nrecs + 1;
    p->nrecs++;
    return 0;
}

int mt_tprof_add(mt_tprof *p, int kind, uint32_t stack, uint32_t tid, uint32_t a, uint32_t b,
                 unsigned flags, double count, double bytes) {
    if (!p || p->reduced || kind < 0 || kind > MT_TPROF_GROWTH || stack >= p->nstacks)
        return MT_PLOT_ERR_ARG;
    uint32_t N = p->nslices;
    if (kind == MT_TPROF_LIFE ? (a > N || b > N + 1 || b < a || b == 0)
        : kind == MT_TPROF_AT_PEAK ? a > N : (a < 1 || a > N))
        return MT_PLOT_ERR_ARG;
    if (!(bytes == bytes) || !(count == count)) return MT_PLOT_ERR_ARG;
    int th = mt_tprof_thread(p, tid, NULL, 1);
    if (th < 0) return th;
    trec r = {stack, (uint32_t)th, (uint16_t)a, (uint16_t)(kind == MT_TPROF_LIFE ? b : 0),
              (uint8_t)kind, (uint8_t)(flags & MT_TPROF_TEMP), count, bytes};
    p->has[kind] = 1;
    return rec_put(p, &r);
}

int mt_tprof_rss(mt_tprof *p, uint32_t slice, double bytes) {
    if (!p || slice < 1 || slice > p->nslices || !(bytes == bytes)) return MT_PLOT_ERR_ARG;
    if (!(p->rss[slice] >= bytes)) p->rss[slice] = bytes;
    return 0;
}

void mt_tprof_peak(mt_tprof *p, double t_s) {
    if (p) p->peak_s = t_s;
}

uint32_t mt_tprof_slice(const mt_tprof *p, double t_s) {
    if (!p || !(t_s >= p->t0)) return 0;
    if (t_s > p->t1) return p->nslices + 1;
    double span = p->t1 - p->t0;
    uint32_t k = span > 0 ? 1 + (uint32_t)((t_s - p->t0) / span * p->nslices) : 1;
    return k > p->nslices ? p->nslices : k;
}

uint64_t mt_tprof_records(const mt_tprof *p) { return p ? p->nrecs : 0; }

/* ---- Reduction ---------------------------------------------------------- */

enum { M_ALLOC, M_TEMP, M_LEAK, M_PEAK, M_GROWTH, NMEASURE };

/* Each stack's own weight per measure over the whole extent. */
static void measures(const mt_tprof *p, double (*own)[NMEASURE]) {
    uint32_t N = p->nslices;
    for (uint64_t i = 0; i < p->nrecs; i++) {
        const trec *r = &p->recs[i];
        double *m = own[r->stack];
        if (r->kind == MT_TPROF_LIFE && r->a >= 1) {
            m[M_ALLOC] += r->bytes;
            if (r->flags & MT_TPROF_TEMP) m[M_TEMP] += r->bytes;
            if (r->b == N + 1) m[M_LEAK] += r->bytes;
        } else if (r->kind == MT_TPROF_AT_PEAK) {
            m[M_PEAK] += r->bytes;
        } else if (r->kind == MT_TPROF_GROWTH) {
            m[M_GROWTH] += r->bytes;
        }
    }
    for (uint32_t s = 0; s < p->nstacks; s++)
        if (own[s][M_GROWTH] < 0) own[s][M_GROWTH] = 0;
}

/* Records again: each under stack map[stack], merged. */
static int rekey(mt_tprof *p, const uint32_t *map) {
    trec *old = p->recs;
    uint64_t n = p->nrecs;
    p->recs = NULL;
    p->nrecs = p->caprecs = 0;
    free(p->ridx.slot);
    p->ridx.slot = NULL;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc >= 0; i++) {
        trec r = old[i];
        if (map) r.stack = map[r.stack];
        rc = rec_put(p, &r);
    }
    free(old);
    return rc;
}

/* Fold the stacks whose share of every measure (in their subtree) is under
 * min_share into "(smaller stacks)" under their nearest kept caller; keep
 * only the stacks and frames still used; then merge slices pairwise until
 * at most max_records remain (or 8 slices). The object is then only for
 * writing (p->reduced). */
static int reduce(mt_tprof *p, double min_share, uint64_t max_records) {
    uint32_t S = p->nstacks;
    double (*sub)[NMEASURE] = calloc(S, sizeof *sub);
    uint32_t *to = malloc(S * sizeof *to);
    int rc = 0;
    if (!sub || !to) rc = MT_PLOT_ERR_NOMEM;
    if (rc >= 0) {
        measures(p, sub);
        for (uint32_t s = S - 1; s > 0; s--) /* parents come before children */
            for (int k = 0; k < NMEASURE; k++) sub[p->stacks[s].parent][k] += sub[s][k];
        to[0] = 0;
    }
    for (uint32_t s = 1; s < S && rc >= 0; s++) {
        uint32_t parent = p->stacks[s].parent, up = to[parent];
        int keep = 0;
        for (int k = 0; k < NMEASURE && !keep; k++)
            keep = sub[0][k] > 0 && sub[s][k] >= min_share * sub[0][k];
        if (up != parent) { /* under a folded caller: into that fold */
            to[s] = up;
        } else if (keep) {
            to[s] = s;
        } else {
            int64_t f = mt_tprof_stack(p, up, "(smaller stacks)", "");
            if (f < 0) rc = (int)f;
            else to[s] = (uint32_t)f;
        }
    }
    free(sub);
    /* Renumber: the stacks that stay (themselves, or folds), in order, so
     * that parents still come before their children. */
    uint32_t *id = rc >= 0 ? malloc(p->nstacks * sizeof *id) : NULL;
    uint32_t *fid = rc >= 0 ? malloc((p->nframes + 1) * sizeof *fid) : NULL;
    tframe *nfr = rc >= 0 ? malloc((p->nframes + 1) * sizeof *nfr) : NULL;
    if (rc >= 0 && (!id || !fid || !nfr)) rc = MT_PLOT_ERR_NOMEM;
    if (rc >= 0) {
        uint32_t n = 0, nf = 0;
        for (uint32_t f = 0; f < p->nframes; f++) fid[f] = NONE;
        for (uint32_t s = 0; s < p->nstacks; s++) {
            if (s < S && to[s] != s) {
                id[s] = NONE;
                continue;
            }
            tstack t = p->stacks[s];
            if (s) {
                t.parent = id[t.parent];
                if (fid[t.frame] == NONE) {
                    fid[t.frame] = nf;
                    nfr[nf++] = p->frames[t.frame];
                    p->frames[t.frame] = (tframe){NULL, NULL};
                }
                t.frame = fid[t.frame];
            }
            id[s] = n;
            p->stacks[n++] = t;
        }
        for (uint32_t f = 0; f < p->nframes; f++) {
            free(p->frames[f].name);
            free(p->frames[f].where);
        }
        free(p->frames);
        p->frames = nfr;
        nfr = NULL;
        p->nframes = p->capframes = nf;
        for (uint32_t s = 0; s < S; s++) to[s] = id[to[s]];
        p->nstacks = n;
        rc = rekey(p, to);
    }
    free(id);
    free(fid);
    free(nfr);
    free(to);
    free(p->sidx.slot);
    free(p->fidx.slot);
    p->sidx.slot = p->fidx.slot = NULL;
    p->reduced = 1;
    while (rc >= 0 && p->nrecs > max_records && p->nslices > 8) {
        /* halve: slice k of N becomes (k + 1) / 2 of M = ceil(N / 2) */
        uint32_t N = p->nslices, M = (N + 1) / 2;
        for (uint64_t i = 0; i < p->nrecs; i++) {
            trec *r = &p->recs[i];
            if (r->kind == MT_TPROF_LIFE) {
                r->a = (uint16_t)(r->a == 0 ? 0 : (uint32_t)(r->a + 1) / 2);
                r->b = (uint16_t)(r->b == N + 1 ? M + 1 : (uint32_t)(r->b + 1) / 2);
            } else {
                r->a = (uint16_t)((r->a + 1) / 2);
            }
        }
        for (uint32_t k = 1; k <= M; k++) {
            double x = p->rss[2 * k - 1], y = 2 * k <= N ? p->rss[2 * k] : NAN;
            p->rss[k] = x >= y || y != y ? x : y;
        }
        p->rss[M + 1] = NAN;
        /* an odd N's last slice is now as long as the others: the extent grows */
        if (N % 2) p->t1 = p->t0 + (p->t1 - p->t0) * (2.0 * M) / N;
        p->nslices = M;
        rc = rekey(p, NULL);
    }
    return rc;
}

/* ---- Writing ------------------------------------------------------------ */

static void num(FILE *f, double v) {
    char b[32];
    if (v == floor(v) && fabs(v) < 9e15) fprintf(f, "%.0f", v);
    else fputs(mt_pl_fmt_num(b, v, 6), f);
}

int mt_tprof_write_json(mt_tprof *p, FILE *f, double min_share, uint64_t max_records) {
    if (!p || !f || p->reduced) return MT_PLOT_ERR_ARG;
    int rc = reduce(p, min_share > 0 ? min_share : 0, max_records ? max_records : UINT64_MAX);
    if (rc < 0) return rc;
    char b[32];
    fprintf(f, "{\"n\":%u,\"t0\":%s", p->nslices, mt_pl_fmt_exact(b, p->t0));
    fprintf(f, ",\"t1\":%s,\"peak_t\":", mt_pl_fmt_exact(b, p->t1));
    if (p->peak_s == p->peak_s) fputs(mt_pl_fmt_exact(b, p->peak_s), f);
    else fputs("null", f);
    fprintf(f, ",\"has\":[%d,%d,%d],\n\"frames\":[", p->has[0], p->has[1], p->has[2]);
    for (uint32_t i = 0; i < p->nframes; i++) {
        fputs(i ? ",[" : "[", f);
        mt_plot_json_str(f, p->frames[i].name);
        fputc(',', f);
        mt_plot_json_str(f, p->frames[i].where);
        fputc(']', f);
    }
    fputs("],\n\"stacks\":[", f);
    for (uint32_t i = 1; i < p->nstacks; i++)
        fprintf(f, "%s%u,%u", i > 1 ? "," : "", p->stacks[i].parent, p->stacks[i].frame);
    fputs("],\n\"threads\":[", f);
    for (uint32_t i = 0; i < p->nthreads; i++) {
        fprintf(f, "%s[%u,", i ? "," : "", p->threads[i].tid);
        mt_plot_json_str(f, p->threads[i].name);
        fprintf(f, ",%d]", p->threads[i].selected ? 1 : 0);
    }
    fputs("],\n\"rss\":[", f);
    for (uint32_t k = 1; k <= p->nslices; k++) {
        if (k > 1) fputc(',', f);
        if (p->rss[k] == p->rss[k]) num(f, p->rss[k]);
        else fputs("null", f);
    }
    /* records: stack, thread, a, b, kind | flags << 2, bytes, count */
    fputs("],\n\"recs\":[", f);
    for (uint64_t i = 0; i < p->nrecs; i++) {
        const trec *r = &p->recs[i];
        fprintf(f, "%s%u,%u,%u,%u,%u,", i ? (i % 16 ? "," : ",\n") : "", r->stack, r->thread,
                r->a, r->b, (unsigned)(r->kind | r->flags << 2));
        num(f, round(r->bytes));
        fputc(',', f);
        num(f, round(r->count * 100) / 100);
    }
    fputs("]}", f);
    return ferror(f) ? MT_PLOT_ERR_IO : 0;
}

/* ---- Speedscope: one profile per weight and thread ------------------------ */

static const char *const weight_names[] = {"peak", "leak", "alloc", "temp", "rss"};
static const char *const weight_titles[] = {"heap at its peak", "live at the end",
                                            "allocated", "temporaries", "RSS growth"};

/* own[s]: stack s's own weight w over the whole extent for thread index th
 * (-1: every thread). */
static void weigh(const mt_tprof *p, int w, int64_t th, double *own) {
    uint32_t N = p->nslices;
    memset(own, 0, p->nstacks * sizeof *own);
    double *live = NULL;
    int32_t pk = -1;
    if (w == 0 && !p->has[MT_TPROF_AT_PEAK]) { /* the peak to one slice */
        live = calloc(N + 3, sizeof *live);
        if (!live) return;
        for (uint64_t i = 0; i < p->nrecs; i++) {
            const trec *r = &p->recs[i];
            if (r->kind != MT_TPROF_LIFE) continue;
            live[r->a] += r->bytes;
            live[r->b] -= r->bytes;
        }
        double v = 0, best = -1;
        for (uint32_t k = 0; k <= N; k++) {
            v += live[k];
            if (k >= 1 && v > best) best = v, pk = (int32_t)k;
        }
        free(live);
    }
    for (uint64_t i = 0; i < p->nrecs; i++) {
        const trec *r = &p->recs[i];
        if (th >= 0 && r->thread != (uint32_t)th) continue;
        int ok;
        if (w == 4) ok = r->kind == MT_TPROF_GROWTH;
        else if (w == 0)
            ok = pk < 0 ? r->kind == MT_TPROF_AT_PEAK
                        : r->kind == MT_TPROF_LIFE && r->a <= pk && r->b > pk;
        else
            ok = r->kind == MT_TPROF_LIFE && r->a >= 1 &&
                 (w == 2 || (w == 3 && (r->flags & MT_TPROF_TEMP)) || (w == 1 && r->b == N + 1));
        if (ok) own[r->stack] += r->bytes;
    }
    if (w == 4)
        for (uint32_t s = 0; s < p->nstacks; s++)
            if (own[s] < 0) own[s] = 0;
}

int mt_tprof_write_speedscope(mt_tprof *p, FILE *f, const char *name, const char *first,
                              const char *exporter) {
    if (!p || !f || p->reduced) return MT_PLOT_ERR_ARG;
    int rc = reduce(p, 0, UINT64_MAX); /* every stack, every slice */
    if (rc < 0) return rc;
    double *own = malloc((p->nstacks + 1) * sizeof *own);
    uint32_t *path = malloc((p->nstacks + 1) * sizeof *path);
    if (!own || !path) {
        free(own);
        free(path);
        return MT_PLOT_ERR_NOMEM;
    }
    fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
          "\"version\":\"0.0.1\",\n"
          "\"shared\":{\"frames\":[", f);
    for (uint32_t i = 0; i < p->nframes; i++) {
        const tframe *fr = &p->frames[i];
        fputs(i ? ",\n{\"name\":" : "\n{\"name\":", f);
        mt_plot_json_str(f, fr->name);
        const char *colon = strrchr(fr->where, ':');
        char *end = NULL;
        unsigned long line = colon ? strtoul(colon + 1, &end, 10) : 0;
        int has_line = colon && end && !*end && end > colon + 1;
        if (*fr->where) {
            fputs(",\"file\":", f);
            if (has_line) {
                char *file = malloc((size_t)(colon - fr->where) + 1);
                if (file) {
                    memcpy(file, fr->where, (size_t)(colon - fr->where));
                    file[colon - fr->where] = '\0';
                }
                mt_plot_json_str(f, file ? file : fr->where);
                free(file);
                if (line) fprintf(f, ",\"line\":%lu", line);
            } else {
                mt_plot_json_str(f, fr->where);
            }
        }
        fputc('}', f);
    }
    fputs("]},\n\"profiles\":[", f);
    int nprof = 0, active = 0;
    for (int w = 0; w < 5; w++) {
        int kind = w == 4 ? MT_TPROF_GROWTH : MT_TPROF_LIFE;
        if (!p->has[kind] && !(w == 0 && p->has[MT_TPROF_AT_PEAK])) continue;
        for (int64_t th = -1; th < (int64_t)p->nthreads; th++) {
            if (th >= 0 && p->nthreads < 2) break;
            weigh(p, w, th, own);
            double total = 0;
            for (uint32_t s = 0; s < p->nstacks; s++) total += own[s];
            if (th >= 0 && !(total > 0)) continue; /* a thread without any */
            if (th < 0 && first && strcmp(first, weight_names[w]) == 0) active = nprof;
            fputs(nprof++ ? ",\n{\"type\":\"sampled\",\"name\":" : "\n{\"type\":\"sampled\",\"name\":",
                  f);
            char pn[1400];
            if (th < 0)
                snprintf(pn, sizeof pn, "%s: %s", name ? name : "memtrace", weight_titles[w]);
            else
                snprintf(pn, sizeof pn, "%s: %s, %s (tid %u)", name ? name : "memtrace",
                         weight_titles[w], p->threads[th].name[0] ? p->threads[th].name : "thread",
                         p->threads[th].tid);
            mt_plot_json_str(f, pn);
            fputs(",\"unit\":\"bytes\",\"startValue\":0,\"endValue\":", f);
            num(f, round(total));
            fputs(",\n\"samples\":[", f);
            int k1 = 0;
            for (uint32_t s = 0; s < p->nstacks; s++) {
                if (!(own[s] > 0)) continue;
                uint32_t d = 0;
                for (uint32_t x = s; x; x = p->stacks[x].parent) path[d++] = p->stacks[x].frame;
                fputs(k1++ ? ",[" : "[", f);
                for (uint32_t k = d; k-- > 0;) fprintf(f, "%u%s", path[k], k ? "," : "");
                fputc(']', f);
            }
            fputs("],\n\"weights\":[", f);
            k1 = 0;
            for (uint32_t s = 0; s < p->nstacks; s++) {
                if (!(own[s] > 0)) continue;
                if (k1++) fputc(',', f);
                num(f, round(own[s]));
            }
            fputs("]}", f);
        }
    }
    fputs("],\n\"name\":", f);
    mt_plot_json_str(f, name ? name : "memtrace");
    fprintf(f, ",\"activeProfileIndex\":%d,\"exporter\":", active);
    mt_plot_json_str(f, exporter ? exporter : "memtrace");
    fputs("}\n", f);
    free(own);
    free(path);
    return ferror(f) ? MT_PLOT_ERR_IO : 0;
}
