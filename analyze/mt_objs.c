/*
 * mt_objs.c - the objects model (mt_objs.h). Memory: one 48-byte entry per
 * live object in an open-addressing table kept at most half full (linear
 * probing, deletion by backward shift); per type its counters and a series
 * of NSL slices; one entry per (type, creating stack) alive at the end.
 */
#include "mt_objs.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define NSL 512

typedef struct oobj {
    uint64_t addr, block, bytes, t;
    uint32_t type, node, tid;
    uint8_t used, sel;
    uint8_t replaced; /* it replaced an object or block still live in the
                         file (see stale) */
} oobj;

typedef struct otype {
    uint32_t sid;
    int64_t live;
    uint32_t *smax, *send; /* per slice: most alive, alive at its end */
    uint8_t *stouch;       /* the slice saw a change */
    mt_analysis_object_type pub;
} otype;

typedef struct ogroup {
    uint32_t type, node;
    uint64_t n, b;
    uint8_t used;
} ogroup;

struct mt_objs {
    uint64_t from, to, t_first, t_last;
    int replay;
    uint64_t t_peak; /* the heap's (replay) */
    oobj *ot;
    uint64_t omask, nlive;
    otype *ty;
    uint32_t nty, capty;
    struct sidmap { uint32_t sid, t1; } *sm; /* sid -> type index + 1 (t1 0: empty) */
    uint32_t smask;
    ogroup *gt;
    uint64_t gmask, ngroups;
    int64_t live_all;
    mt_analysis_objects s;
    /* finished tables */
    mt_analysis_object_type *types;
    mt_analysis_object_group *groups;
    uint32_t *order; /* type index -> sorted position */
    mt_analysis_object_point *pts;
    char **names;
};

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- The live objects ---------------------------------------------------- */

static oobj *obj_find(mt_objs *o, uint64_t addr) {
    for (uint64_t i = mix64(addr) & o->omask; o->ot[i].used; i = (i + 1) & o->omask)
        if (o->ot[i].addr == addr) return &o->ot[i];
    return NULL;
}

static int obj_grow(mt_objs *o) {
    uint64_t cap = o->ot ? (o->omask + 1) * 2 : 4096;
    oobj *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint64_t i = 0; o->ot && i <= o->omask; i++) {
        if (!o->ot[i].used) continue;
        uint64_t j = mix64(o->ot[i].addr) & (cap - 1);
        while (t[j].used) j = (j + 1) & (cap - 1);
        t[j] = o->ot[i];
    }
    free(o->ot);
    o->ot = t;
    o->omask = cap - 1;
    return 0;
}

static void obj_delete(mt_objs *o, oobj *e) {
    uint64_t i = (uint64_t)(e - o->ot);
    o->ot[i].used = 0;
    o->nlive--;
    for (uint64_t j = (i + 1) & o->omask; o->ot[j].used; j = (j + 1) & o->omask) {
        uint64_t h = mix64(o->ot[j].addr) & o->omask;
        int between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (between) continue;
        o->ot[i] = o->ot[j];
        o->ot[j].used = 0;
        i = j;
    }
}

/* ---- Types --------------------------------------------------------------- */

static uint32_t type_of(mt_objs *o, uint32_t sid) {
    /* A hash of the sids met: a damaged file can name any 32-bit sid. */
    if ((o->nty + 1) * 2 > (o->sm ? o->smask + 1 : 0)) {
        uint32_t cap = o->sm ? (o->smask + 1) * 2 : 64;
        struct sidmap *m = calloc(cap, sizeof *m);
        if (!m) return NONE;
        for (uint32_t i = 0; o->sm && i <= o->smask; i++) {
            if (!o->sm[i].t1) continue;
            uint32_t j = (uint32_t)mix64(o->sm[i].sid) & (cap - 1);
            while (m[j].t1) j = (j + 1) & (cap - 1);
            m[j] = o->sm[i];
        }
        free(o->sm);
        o->sm = m;
        o->smask = cap - 1;
    }
    uint32_t j = (uint32_t)mix64(sid) & o->smask;
    for (; o->sm[j].t1; j = (j + 1) & o->smask)
        if (o->sm[j].sid == sid) return o->sm[j].t1 - 1;
    if (o->nty == o->capty) {
        uint32_t cap = o->capty ? o->capty * 2 : 64;
        otype *t = realloc(o->ty, cap * sizeof *t);
        if (!t) return NONE;
        o->ty = t;
        o->capty = cap;
    }
    otype *t = &o->ty[o->nty];
    memset(t, 0, sizeof *t);
    t->sid = sid;
    o->sm[j] = (struct sidmap){sid, ++o->nty};
    return o->nty - 1;
}

static uint32_t slice_of(const mt_objs *o, uint64_t t) {
    if (t <= o->t_first || o->t_last <= o->t_first) return 0;
    if (t >= o->t_last) return NSL - 1;
    uint32_t k = (uint32_t)((double)(t - o->t_first) / (double)(o->t_last - o->t_first) * NSL);
    return k < NSL ? k : NSL - 1;
}

/* The type's live count moves by d at t (first feed only). */
static int live_move(mt_objs *o, otype *t, int d, uint64_t when) {
    if (!t->smax) {
        t->smax = calloc(NSL, sizeof *t->smax);
        t->send = calloc(NSL, sizeof *t->send);
        t->stouch = calloc(NSL, 1);
        if (!t->smax || !t->send || !t->stouch) return -1;
    }
    uint32_t k = slice_of(o, when);
    if (!t->stouch[k]) {
        t->stouch[k] = 1;
        t->smax[k] = (uint32_t)(t->live > 0 ? t->live : 0);
    }
    t->live += d;
    uint32_t v = (uint32_t)(t->live > 0 ? t->live : 0);
    if (v > t->smax[k]) t->smax[k] = v;
    t->send[k] = v;
    if ((uint64_t)v > t->pub.live_max) {
        t->pub.live_max = v;
        t->pub.t_live_max = when;
    }
    o->live_all += d;
    if (o->live_all > 0 && (uint64_t)o->live_all > o->s.live_max) {
        o->s.live_max = (uint64_t)o->live_all;
        o->s.t_live_max = when;
    }
    return 0;
}

/* ---- Alive at the end ----------------------------------------------------- */

static int group_grow(mt_objs *o) {
    uint64_t cap = o->gt ? (o->gmask + 1) * 2 : 256;
    ogroup *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint64_t i = 0; o->gt && i <= o->gmask; i++) {
        if (!o->gt[i].used) continue;
        uint64_t j = mix64((uint64_t)o->gt[i].type << 32 | o->gt[i].node) & (cap - 1);
        while (t[j].used) j = (j + 1) & (cap - 1);
        t[j] = o->gt[i];
    }
    free(o->gt);
    o->gt = t;
    o->gmask = cap - 1;
    return 0;
}

static int end_add(mt_objs *o, const oobj *e) {
    otype *t = &o->ty[e->type];
    t->pub.end_count++;
    t->pub.end_bytes += e->bytes;
    o->s.end_count++;
    o->s.end_bytes += e->bytes;
    if ((o->ngroups + 1) * 2 > (o->gt ? o->gmask + 1 : 0) && group_grow(o)) return -1;
    uint64_t key = (uint64_t)e->type << 32 | e->node;
    uint64_t i = mix64(key) & o->gmask;
    while (o->gt[i].used && (o->gt[i].type != e->type || o->gt[i].node != e->node))
        i = (i + 1) & o->gmask;
    if (!o->gt[i].used) {
        o->gt[i] = (ogroup){e->type, e->node, 0, 0, 1};
        o->ngroups++;
    }
    o->gt[i].n++;
    o->gt[i].b += e->bytes;
    return 0;
}

static int in_window(const mt_objs *o, uint64_t t) { return t >= o->from && t <= o->to; }

/* e dies at t (inferred: without its OBJ_DEL). */
static void peak_add(mt_objs *o, const oobj *e) {
    o->ty[e->type].pub.peak_count++;
    o->ty[e->type].pub.peak_bytes += e->bytes;
}

static int die(mt_objs *o, oobj *e, uint64_t t, int inferred) {
    if (o->replay && e->sel && e->t <= o->t_peak && t > o->t_peak) peak_add(o, e);
    if (!o->replay) {
        otype *ty = &o->ty[e->type];
        if (inferred) o->s.inferred_deaths++;
        if (e->sel && in_window(o, t)) {
            ty->pub.destroyed++;
            o->s.destroyed++;
        }
        if (e->sel && in_window(o, e->t) && t > o->to && end_add(o, e)) return -1;
        if (live_move(o, ty, -1, t)) return -1;
    }
    obj_delete(o, e);
    return 0;
}

/* ---- Feeding ------------------------------------------------------------- */

/* Threads' buffers reach the file in the order they were handed over, not
 * in time order, so a death read after e's creation may be older than it.
 * An OBJ_DEL from another thread timed before the creation of e, which took
 * the place of an object still live in the file: the death of that one (it
 * ended already when e was created). As the heap's stale frees. */
static int stale_del(const oobj *e, const mt_record *rec) {
    return e->replaced && e->tid != rec->tid && rec->t < e->t;
}

/* A free (of e's block) from another thread timed before e's creation: the
 * free of an earlier block at that address, one the model may not have
 * known (allocated before the recording), whose free reached the file
 * late. (Record times can be early, never late; a free that really came
 * after e's creation but is timed before it leaves e alive until a new
 * object takes its address. Only traces without OBJ_DEL for every death,
 * CPython 3.13.0-3.13.2, depend on frees.) */
static int stale_free(const oobj *e, const mt_record *rec) {
    return e->tid != rec->tid && rec->t < e->t;
}

int mt_objs_feed(mt_objs *o, mt_heap *h, const mt_record *rec) {
    switch (rec->type) {
    case MT_REC_OBJ_NEW: {
        uint64_t addr = rec->u.obj.addr;
        oobj *old = obj_find(o, addr);
        int replaced = old != NULL;
        if (old && die(o, old, rec->t, 1)) return MT_ERR_NOMEM;
        uint32_t ti = type_of(o, rec->u.obj.type_sid);
        if (ti == NONE) return MT_ERR_NOMEM;
        uint32_t node = mt_heap_site_now(h, rec->tid);
        if (node == NONE) return MT_ERR_NOMEM;
        if ((o->nlive + 1) * 2 > (o->ot ? o->omask + 1 : 0) && obj_grow(o)) return MT_ERR_NOMEM;
        uint64_t i = mix64(addr) & o->omask;
        while (o->ot[i].used) i = (i + 1) & o->omask;
        oobj *e = &o->ot[i];
        *e = (oobj){.addr = addr, .t = rec->t, .type = ti, .node = node, .tid = rec->tid, .used = 1,
                    .sel = (uint8_t)mt_heap_thread_selected(h, rec->tid)};
        int brep = 0;
        if (mt_heap_obj_block(h, addr, &e->block, &e->bytes, &brep) && !o->replay)
            o->s.objects_sized++;
        e->replaced = (uint8_t)(replaced || brep);
        o->nlive++;
        if (o->replay) return 0;
        o->s.created_all++;
        if (e->sel && in_window(o, rec->t)) {
            o->ty[ti].pub.created++;
            o->s.created++;
        }
        return live_move(o, &o->ty[ti], +1, rec->t) ? MT_ERR_NOMEM : 0;
    }
    case MT_REC_OBJ_DEL: {
        oobj *e = obj_find(o, rec->u.obj.addr);
        if (e && stale_del(e, rec)) return 0;
        if (e) return die(o, e, rec->t, 0) ? MT_ERR_NOMEM : 0;
        if (!o->replay) {
            o->s.destroyed_unknown++;
            /* a type first met here still gets its row */
            if (type_of(o, rec->u.obj.type_sid) == NONE) return MT_ERR_NOMEM;
        }
        return 0;
    }
    case MT_REC_FREE:
    case MT_REC_REALLOC: {
        if (rec->domain != MT_DOMAIN_OBJ || !o->nlive) return 0;
        uint64_t b = rec->type == MT_REC_FREE ? rec->u.alloc.addr : rec->u.realloc.old_addr;
        static const uint64_t off[3] = {0, 16, 32};
        for (int k = 0; k < 3; k++) {
            oobj *e = obj_find(o, b + off[k]);
            if (e && e->block == b && e->bytes && !stale_free(e, rec))
                return die(o, e, rec->t, 1) ? MT_ERR_NOMEM : 0;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int mt_objs_end(mt_objs *o) {
    for (uint64_t i = 0; o->ot && i <= o->omask; i++) {
        const oobj *e = &o->ot[i];
        if (e->used && e->sel && in_window(o, e->t) && end_add(o, e)) return MT_ERR_NOMEM;
    }
    return 0;
}

void mt_objs_rewind(mt_objs *o, uint64_t t_peak) {
    if (o->ot) memset(o->ot, 0, (o->omask + 1) * sizeof *o->ot);
    o->nlive = 0;
    o->replay = 1;
    o->t_peak = t_peak;
}

void mt_objs_at_peak(mt_objs *o) {
    for (uint64_t i = 0; o->ot && i <= o->omask; i++) {
        const oobj *e = &o->ot[i];
        if (e->used && e->sel && e->t <= o->t_peak) peak_add(o, e);
    }
    o->s.peak_known = 1;
}

/* ---- Tables -------------------------------------------------------------- */

static int cmp_type(const void *x, const void *y) {
    const mt_analysis_object_type *a = x, *b = y;
    if (a->end_count != b->end_count) return a->end_count < b->end_count ? 1 : -1;
    if (a->created != b->created) return a->created < b->created ? 1 : -1;
    if (a->live_max != b->live_max) return a->live_max < b->live_max ? 1 : -1;
    return strcmp(a->name, b->name);
}

static int cmp_group(const void *x, const void *y) {
    const mt_analysis_object_group *a = x, *b = y;
    if (a->count != b->count) return a->count < b->count ? 1 : -1;
    if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
    if (a->type != b->type) return a->type < b->type ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

int mt_objs_finish(mt_objs *o, mt_reader *r) {
    o->s.has_objects = 1;
    o->s.ntypes = o->nty;
    if (!o->nty) return 0;
    o->types = calloc(o->nty, sizeof *o->types);
    o->names = calloc(o->nty, sizeof *o->names);
    o->order = calloc(o->nty, sizeof *o->order);
    if (!o->types || !o->names || !o->order) return MT_ERR_NOMEM;
    /* Rows sorted with their type index beside them. */
    struct rowi { mt_analysis_object_type row; uint32_t idx; } *ri = malloc(o->nty * sizeof *ri);
    uint32_t *idx = malloc(o->nty * sizeof *idx);
    if (!ri || !idx) {
        free(ri);
        free(idx);
        return MT_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < o->nty; i++) {
        uint32_t len = 0;
        const char *s = mt_reader_string(r, o->ty[i].sid, &len);
        char *c = malloc((size_t)len + 1);
        if (!c) {
            free(ri);
            free(idx);
            return MT_ERR_NOMEM;
        }
        if (s) memcpy(c, s, len);
        c[s ? len : 0] = 0;
        o->names[i] = c;
        ri[i].row = o->ty[i].pub;
        ri[i].row.name = c;
        ri[i].idx = i;
    }
    qsort(ri, o->nty, sizeof *ri, cmp_type); /* the row comes first */
    for (uint32_t j = 0; j < o->nty; j++) {
        o->types[j] = ri[j].row;
        idx[j] = ri[j].idx;
        o->order[ri[j].idx] = j;
    }
    free(ri);
    /* the series follow the rows */
    otype *ty = malloc(o->nty * sizeof *ty);
    if (!ty) {
        free(idx);
        return MT_ERR_NOMEM;
    }
    for (uint32_t j = 0; j < o->nty; j++) ty[j] = o->ty[idx[j]];
    free(o->ty);
    o->ty = ty;
    free(idx);
    if (o->ngroups) {
        o->groups = malloc(o->ngroups * sizeof *o->groups);
        if (!o->groups) return MT_ERR_NOMEM;
        uint64_t k = 0;
        for (uint64_t i = 0; i <= o->gmask; i++)
            if (o->gt[i].used)
                o->groups[k++] = (mt_analysis_object_group){o->order[o->gt[i].type], o->gt[i].node,
                                                            o->gt[i].n, o->gt[i].b};
        qsort(o->groups, o->ngroups, sizeof *o->groups, cmp_group);
    }
    return 0;
}

const mt_analysis_objects *mt_objs_summary(const mt_objs *o) { return &o->s; }

const mt_analysis_object_type *mt_objs_types(const mt_objs *o, uint32_t *n) {
    *n = o->types ? o->nty : 0;
    return o->types;
}

const mt_analysis_object_group *mt_objs_alive(const mt_objs *o, uint32_t *n) {
    *n = (uint32_t)(o->groups ? o->ngroups : 0);
    return o->groups;
}

const mt_analysis_object_point *mt_objs_series(const mt_objs *o, uint32_t type, uint64_t *n) {
    *n = 0;
    if (!o->types || type >= o->nty) return NULL;
    mt_objs *m = (mt_objs *)o; /* made on demand, one type at a time */
    if (!m->pts && !(m->pts = malloc(NSL * sizeof *m->pts))) return NULL;
    const otype *t = &o->ty[type];
    uint64_t k = 0;
    uint32_t carry = 0;
    double span = (double)(o->t_last > o->t_first ? o->t_last - o->t_first : 0);
    for (uint32_t s = 0; s < NSL; s++) {
        uint32_t v = carry;
        if (t->stouch && t->stouch[s]) {
            v = t->smax[s];
            carry = t->send[s];
        }
        uint64_t te = o->t_first + (uint64_t)(span * (s + 1) / NSL);
        /* consecutive equal points say nothing new */
        if (k && m->pts[k - 1].live == v && s != NSL - 1 && !(t->stouch && t->stouch[s])) continue;
        m->pts[k++] = (mt_analysis_object_point){te, v};
    }
    *n = k;
    return m->pts;
}

/* ---- Setup --------------------------------------------------------------- */

int mt_objs_new(mt_objs **out, uint64_t from, uint64_t to, uint64_t t_first, uint64_t t_last) {
    mt_objs *o = calloc(1, sizeof *o);
    *out = o;
    if (!o) return MT_ERR_NOMEM;
    o->from = from;
    o->to = to;
    o->t_first = t_first;
    o->t_last = t_last;
    if (obj_grow(o)) return MT_ERR_NOMEM;
    return 0;
}

void mt_objs_free(mt_objs *o) {
    if (!o) return;
    free(o->ot);
    for (uint32_t i = 0; i < o->nty; i++) {
        free(o->ty[i].smax);
        free(o->ty[i].send);
        free(o->ty[i].stouch);
        if (o->names) free(o->names[i]);
    }
    free(o->ty);
    free(o->names);
    free(o->sm);
    free(o->gt);
    free(o->types);
    free(o->groups);
    free(o->order);
    free(o->pts);
    free(o);
}
