/*
 * mt_pprof.c - the heap of an analysis as a gzip-compressed pprof profile
 * (see mt_pprof.h). Protocol buffers are written by hand: varints, tags,
 * and length-delimited messages built in a scratch buffer then copied.
 */
#include "mt_pprof.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- A growable byte buffer and the protobuf encoding ---------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void varint(buf *b, uint64_t v) {
    uint8_t t[10];
    size_t k = 0;
    do {
        t[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, t, k);
}

/* field: a varint (wire type 0) */
static void f_int(buf *b, unsigned field, uint64_t v) {
    varint(b, (uint64_t)field << 3);
    varint(b, v);
}
/* field: bytes or a nested message (wire type 2) */
static void f_bytes(buf *b, unsigned field, const void *p, size_t n) {
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put(b, p, n);
}

/* ---- The string table -------------------------------------------------------- */

typedef struct strtab {
    char **s;
    uint32_t n, cap;
    uint32_t *h; /* open addressing: index + 1 */
    uint32_t hcap;
} strtab;

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The index of s, added if new; UINT32_MAX when out of memory. */
static uint32_t intern(strtab *t, const char *s) {
    if (!s) s = "";
    if (2 * (t->n + 1) > t->hcap) {
        uint32_t cap = t->hcap ? 2 * t->hcap : 1024;
        uint32_t *h = calloc(cap, sizeof *h);
        if (!h) return UINT32_MAX;
        for (uint32_t i = 0; i < t->n; i++) {
            uint32_t j = hash_str(t->s[i]) & (cap - 1);
            while (h[j]) j = (j + 1) & (cap - 1);
            h[j] = i + 1;
        }
        free(t->h);
        t->h = h;
        t->hcap = cap;
    }
    uint32_t j = hash_str(s) & (t->hcap - 1);
    for (; t->h[j]; j = (j + 1) & (t->hcap - 1))
        if (strcmp(t->s[t->h[j] - 1], s) == 0) return t->h[j] - 1;
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? 2 * t->cap : 256;
        char **q = realloc(t->s, cap * sizeof *q);
        if (!q) return UINT32_MAX;
        t->s = q;
        t->cap = cap;
    }
    if (!(t->s[t->n] = strdup(s))) return UINT32_MAX;
    t->h[j] = t->n + 1;
    return t->n++;
}

/* ---- Functions, locations, samples ------------------------------------------ */

/* A (key -> id) map of 64-bit keys, ids from 1. */
typedef struct idmap {
    uint64_t *k;
    uint32_t *v;
    uint32_t n, cap;
} idmap;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* The id of key (0 if absent); with add, a new id n + 1 is given. */
static uint32_t idmap_get(idmap *m, uint64_t key, int add, int *added) {
    if (added) *added = 0;
    if (add && 2 * (m->n + 1) > m->cap) {
        uint32_t cap = m->cap ? 2 * m->cap : 1024;
        uint64_t *k = malloc(cap * sizeof *k);
        uint32_t *v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return 0;
        }
        for (uint32_t i = 0; i < m->cap; i++) {
            if (!m->v[i]) continue;
            uint32_t j = (uint32_t)mix(m->k[i]) & (cap - 1);
            while (v[j]) j = (j + 1) & (cap - 1);
            k[j] = m->k[i];
            v[j] = m->v[i];
        }
        free(m->k);
        free(m->v);
        m->k = k;
        m->v = v;
        m->cap = cap;
    }
    if (!m->cap) return 0;
    uint32_t j = (uint32_t)mix(key) & (m->cap - 1);
    for (; m->v[j]; j = (j + 1) & (m->cap - 1))
        if (m->k[j] == key) return m->v[j];
    if (!add) return 0;
    m->k[j] = key;
    m->v[j] = ++m->n;
    if (added) *added = 1;
    return m->v[j];
}

typedef struct sample {
    uint32_t node;  /* the site's stack (mt_analysis_site.node) */
    const mt_analysis_site *site;
    double v[6];
} sample;

/* ---- gzip with stored blocks ------------------------------------------------- */

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static int write_gzip(FILE *out, const uint8_t *p, size_t n) {
    static const uint8_t head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    if (!crc_table[1]) crc_init();
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    crc ^= 0xffffffffu;
    fwrite(head, 1, sizeof head, out);
    size_t off = 0;
    do { /* deflate stored blocks: BFINAL, BTYPE 00, LEN, NLEN, bytes */
        size_t k = n - off > 65535 ? 65535 : n - off;
        uint8_t h[5] = {(uint8_t)(off + k == n), (uint8_t)(k & 0xff), (uint8_t)(k >> 8),
                        (uint8_t)(~k & 0xff), (uint8_t)((~k >> 8) & 0xff)};
        fwrite(h, 1, sizeof h, out);
        fwrite(p + off, 1, k, out);
        off += k;
    } while (off < n);
    uint8_t tail[8] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                       (uint8_t)(crc >> 24), (uint8_t)n, (uint8_t)(n >> 8),
                       (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    fwrite(tail, 1, sizeof tail, out);
    return ferror(out) ? MT_ERR_IO : 0;
}

/* ---- The profile ------------------------------------------------------------- */

static int cmp_node(const void *x, const void *y) {
    const sample *a = x, *b = y;
    return (a->node > b->node) - (a->node < b->node);
}

/* The location id of (fid, line), made with its function when new; 0 out
 * of memory. */
static uint32_t location(idmap *fmap, idmap *lmap, uint32_t **fids, uint32_t *nf,
                         uint32_t *capf, uint64_t **locs, uint32_t *nl, uint32_t *capl,
                         uint32_t fid, uint32_t line) {
    int added;
    uint32_t fn = idmap_get(fmap, fid, 1, &added);
    if (!fn) return 0;
    if (added) {
        if (*nf == *capf) {
            *capf = *capf ? 2 * *capf : 256;
            uint32_t *q = realloc(*fids, *capf * sizeof *q);
            if (!q) return 0;
            *fids = q;
        }
        (*fids)[(*nf)++] = fid;
    }
    uint64_t key = (uint64_t)fid << 32 | line;
    uint32_t loc = idmap_get(lmap, key, 1, &added);
    if (!loc) return 0;
    if (added) {
        if (*nl == *capl) {
            *capl = *capl ? 2 * *capl : 256;
            uint64_t *q = realloc(*locs, *capl * sizeof *q);
            if (!q) return 0;
            *locs = q;
        }
        (*locs)[(*nl)++] = key;
    }
    return loc;
}

int mt_pprof_write(const mt_analysis *a, FILE *out, const char *comment,
                   const mt_pprof_growth *growth, size_t ngrowth,
                   const mt_function *(*lookup)(void *ctx, uint32_t fid), void *ctx) {
    const mt_analysis_heap *h = mt_analysis_heap_get(a);
    if (!h->has_allocs) return MT_ERR_STATE;
    /* The samples: the sites of the three tables, merged by stack. */
    static const int tables[3] = {MT_ANALYSIS_SITES_ALLOCS, MT_ANALYSIS_SITES_PEAK,
                                  MT_ANALYSIS_SITES_LEAKS};
    size_t ns = 0, caps = 0;
    sample *S = NULL;
    for (int t = 0; t < 3; t++) {
        uint32_t n;
        const mt_analysis_site *st = mt_analysis_sites(a, tables[t], MT_ANALYSIS_BY_BYTES, &n);
        for (uint32_t i = 0; i < n; i++) {
            if (ns == caps) {
                caps = caps ? 2 * caps : 1024;
                sample *q = realloc(S, caps * sizeof *q);
                if (!q) {
                    free(S);
                    return MT_ERR_NOMEM;
                }
                S = q;
            }
            sample *e = &S[ns++];
            memset(e, 0, sizeof *e);
            e->node = st[i].node;
            e->site = &st[i];
            e->v[2 * t] = (double)st[i].count;
            e->v[2 * t + 1] = (double)st[i].bytes;
        }
    }
    if (ns) qsort(S, ns, sizeof *S, cmp_node);
    size_t m = 0;
    for (size_t i = 0; i < ns; i++) {
        if (m && S[m - 1].node == S[i].node) {
            for (int k = 0; k < 6; k++) S[m - 1].v[k] += S[i].v[k];
        } else {
            S[m++] = S[i];
        }
    }
    ns = m;

    int rc = MT_ERR_NOMEM;
    strtab st = {0};
    idmap fmap = {0}, lmap = {0};
    buf P = {0}, M = {0}, L = {0};
    uint32_t *fids = NULL, nf = 0, capf = 0;          /* function id -> fid */
    uint64_t *locs = NULL;                            /* location id -> (fid, line) */
    uint32_t nl = 0, capl = 0;
    static const char *const types[7][2] = {
        {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"},
        {"inuse_space", "bytes"},   {"leak_objects", "count"}, {"leak_space", "bytes"},
        {"rss_growth_space", "bytes"}};
    int nv = growth ? 7 : 6;
    if (intern(&st, "") != 0) goto out;
    for (int k = 0; k < nv; k++) {
        uint32_t ty = intern(&st, types[k][0]), un = intern(&st, types[k][1]);
        if (ty == UINT32_MAX || un == UINT32_MAX) goto out;
        M.n = 0;
        f_int(&M, 1, ty);
        f_int(&M, 2, un);
        f_bytes(&P, 1, M.p, M.n); /* sample_type */
    }
    /* Samples, their locations and functions as they come. */
    for (size_t i = 0; i < ns; i++) {
        const mt_analysis_site *s = S[i].site;
        L.n = 0;
        for (uint32_t k = s->depth; k-- > 0;) { /* innermost first */
            mt_analysis_frame fr;
            if (mt_analysis_site_frame(a, s, k, &fr) < 0) continue;
            uint32_t loc = location(&fmap, &lmap, &fids, &nf, &capf, &locs, &nl, &capl, fr.fid,
                                    fr.line);
            if (!loc) goto out;
            varint(&L, loc);
        }
        M.n = 0;
        f_bytes(&M, 1, L.p, L.n); /* location_id, packed */
        L.n = 0;
        for (int k = 0; k < nv; k++)
            varint(&L, k < 6 ? (uint64_t)(int64_t)llround(S[i].v[k]) : 0);
        f_bytes(&M, 2, L.p, L.n); /* value, packed */
        f_bytes(&P, 2, M.p, M.n); /* sample */
    }
    /* RSS growth: by call stack, its functions' lines unknown (0). */
    for (size_t i = 0; i < ngrowth; i++) {
        if (!growth[i].bytes) continue;
        L.n = 0;
        for (uint32_t k = growth[i].depth; k-- > 0;) {
            uint32_t loc = location(&fmap, &lmap, &fids, &nf, &capf, &locs, &nl, &capl,
                                    growth[i].fids[k], 0);
            if (!loc) goto out;
            varint(&L, loc);
        }
        M.n = 0;
        f_bytes(&M, 1, L.p, L.n);
        L.n = 0;
        for (int k = 0; k < 7; k++) varint(&L, k < 6 ? 0 : (uint64_t)growth[i].bytes);
        f_bytes(&M, 2, L.p, L.n);
        f_bytes(&P, 2, M.p, M.n);
    }
    /* Locations: one line each, (function, line). */
    for (uint32_t i = 0; i < nl; i++) {
        uint32_t fid = (uint32_t)(locs[i] >> 32), line = (uint32_t)locs[i];
        L.n = 0;
        f_int(&L, 1, idmap_get(&fmap, fid, 0, NULL)); /* function_id */
        if (line) f_int(&L, 2, line);
        M.n = 0;
        f_int(&M, 1, i + 1); /* id */
        f_bytes(&M, 4, L.p, L.n); /* line */
        f_bytes(&P, 4, M.p, M.n);
    }
    /* Functions: name, file, first line. */
    for (uint32_t i = 0; i < nf; i++) {
        const mt_function *fn = mt_analysis_site_function(a, fids[i]);
        if (!fn && lookup) fn = lookup(ctx, fids[i]);
        char unknown[32];
        snprintf(unknown, sizeof unknown, "<fn#%u>", fids[i]);
        const char *name = fn && fn->qualname && *fn->qualname ? fn->qualname : unknown;
        /* module.qualname, as pprof names Go's pkg.Func (a bare "<module>"
         * would be taken for C++ template arguments and dropped). */
        char full[1024];
        snprintf(full, sizeof full, "%s%s%s", fn && fn->module && *fn->module ? fn->module : "",
                 fn && fn->module && *fn->module ? "." : "", name);
        uint32_t nm = intern(&st, full), sys = intern(&st, name);
        uint32_t fl = intern(&st, fn && fn->file ? fn->file : "");
        if (nm == UINT32_MAX || sys == UINT32_MAX || fl == UINT32_MAX) goto out;
        M.n = 0;
        f_int(&M, 1, i + 1);
        f_int(&M, 2, nm);
        f_int(&M, 3, sys);
        f_int(&M, 4, fl);
        if (fn && fn->first_line) f_int(&M, 5, fn->first_line);
        f_bytes(&P, 5, M.p, M.n);
    }
    uint32_t cm = comment ? intern(&st, comment) : 0;
    uint32_t dflt = intern(&st, "inuse_space");
    if (cm == UINT32_MAX || dflt == UINT32_MAX) goto out;
    const mt_analysis_summary *sum = mt_analysis_summary_get(a);
    for (uint32_t i = 0; i < st.n; i++) f_bytes(&P, 6, st.s[i], strlen(st.s[i]));
    if (sum->header->wall_ns > 0) f_int(&P, 9, (uint64_t)sum->header->wall_ns);
    f_int(&P, 10, (uint64_t)(mt_analysis_seconds(a, sum->t_last) * 1e9));
    if (comment) f_int(&P, 13, cm);
    f_int(&P, 14, dflt);
    if (P.oom || M.oom || L.oom) goto out;
    rc = write_gzip(out, P.p, P.n);
out:
    for (uint32_t i = 0; i < st.n; i++) free(st.s[i]);
    free(st.s);
    free(st.h);
    free(fmap.k);
    free(fmap.v);
    free(lmap.k);
    free(lmap.v);
    free(P.p);
    free(M.p);
    free(L.p);
    free(fids);
    free(locs);
    free(S);
    return rc;
}
