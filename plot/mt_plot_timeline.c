/*
 * mt_plot_timeline.c - the timeline: series, markers and call spans reduced
 * into time buckets as they arrive, written as SVG or as a gnuplot script.
 *
 * Reduction. The x-range [t0, t0 + nb * bw) is cut into nb buckets of width
 * bw (seconds), nb = 2 x plot width in pixels. With a fixed x-range bw is
 * set once. Otherwise bw starts at 1 ns and, whenever a time falls past the
 * last bucket, doubles as often as needed, each doubling merging buckets in
 * pairs; since the last time seen then lies in the second half of the grid,
 * a bucket ends up covering at most one pixel. Merging keeps what a bucket
 * holds (first, last, min and max point; call counts and extremes), so the
 * result does not depend on when the doublings happened.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_plot_internal.h"

/* Layout, in pixels. */
#define MARGIN_LEFT 78
#define MARGIN_RIGHT 32
#define TITLE_H 30
#define SUBTITLE_H 16
#define BANNER_H 28
#define LEGEND_H 20
#define XAXIS_H 38
#define LANE_HEAD_H 15
#define ROW_MAX_H 16
#define ROW_MIN_H 2
#define MAX_MARKERS 100000
#define MAX_LANES 4096
#define MAX_FUNCS (1u << 24)

typedef struct bucket {
    double t_first, v_first, t_last, v_last;
    double t_min, v_min, t_max, v_max;
    uint32_t n; /* points in the bucket, saturating; 0 = empty */
} bucket;

typedef struct series {
    char *name;
    int unit;
    bucket *b;                    /* nb buckets */
    double before_t, before_v;    /* last point before t0 (NaN: none) */
    double after_t, after_v;      /* first point after the fixed end */
} series;

/* Calls folded into one bucket at one depth of one lane. */
typedef struct cell {
    uint32_t count;
    int best_func;      /* the longest call folded in */
    double best_s;      /* its duration */
    double t_start, t_end;
    double rss_first, rss_last; /* RSS at the earliest start, latest end */
} cell;

typedef struct lane {
    char *name;
    uint32_t rows;   /* 1 + deepest depth seen (capped at max_depth) */
    cell **cells;    /* [max_depth] -> nb cells, allocated on first use */
    mt_plot_span *spans; /* kept as they are: wide enough */
    size_t nspans, capspans;
} lane;

typedef struct func {
    char *name, *file;
    uint32_t line;
    uint32_t hash; /* of the name: the colour */
    char colour[8];
} func;

typedef struct marker {
    double t;
    char *label;
} marker;

struct mt_plot {
    mt_plot_options o;
    char *title, *subtitle, *banner;
    unsigned plot_w; /* pixels of the plot area */
    uint32_t nb;
    double t0, bw, t_end; /* t_end: fixed end, or +inf when growing */
    int fixed;
    series *series;
    int nseries;
    lane *lanes;
    int nlanes;
    func *funcs;
    uint32_t nfuncs, capfuncs;
    uint32_t *fhash; /* open addressing: func index + 1, 0 = free */
    uint32_t fhash_cap;
    marker *markers;
    size_t nmarkers, capmarkers;
    mt_plot_stats st;
};

/* ---- Construction -------------------------------------------------------- */

void mt_plot_options_init(mt_plot_options *o) {
    memset(o, 0, sizeof *o);
    o->width_px = 1200;
    o->height_px = 800;
    o->max_depth = 64;
    o->min_span_px = 1.0;
}

int mt_plot_new(mt_plot **pp, const mt_plot_options *opt) {
    mt_plot_options def;
    if (!pp) return MT_PLOT_ERR_ARG;
    *pp = NULL;
    if (!opt) {
        mt_plot_options_init(&def);
        opt = &def;
    }
    if (opt->width_px < 200 || opt->height_px < 150 ||
        opt->width_px > 100000 || opt->height_px > 100000 ||
        !isfinite(opt->from_s) || isnan(opt->to_s))
        return MT_PLOT_ERR_ARG;
    mt_plot *p = calloc(1, sizeof *p);
    if (!p) return MT_PLOT_ERR_NOMEM;
    p->o = *opt;
    if (!p->o.max_depth) p->o.max_depth = 64;
    if (p->o.max_depth > 4096) p->o.max_depth = 4096;
    if (!(p->o.min_span_px > 0)) p->o.min_span_px = 1.0;
    p->title = mt_pl_strdup(opt->title);
    p->subtitle = mt_pl_strdup(opt->subtitle);
    p->banner = mt_pl_strdup(opt->banner);
    p->o.title = p->title;
    p->o.subtitle = p->subtitle;
    p->o.banner = p->banner;
    if ((opt->title && !p->title) || (opt->subtitle && !p->subtitle) ||
        (opt->banner && !p->banner)) {
        mt_plot_free(p);
        return MT_PLOT_ERR_NOMEM;
    }
    p->plot_w = opt->width_px - MARGIN_LEFT - MARGIN_RIGHT;
    p->nb = 2 * p->plot_w;
    p->t0 = opt->from_s;
    if (opt->to_s > opt->from_s) {
        p->fixed = 1;
        p->t_end = opt->to_s;
        p->bw = (opt->to_s - opt->from_s) / p->nb;
    } else {
        p->t_end = INFINITY;
        p->bw = 1e-9;
    }
    p->st.t_min_s = INFINITY;
    p->st.t_max_s = -INFINITY;
    *pp = p;
    return 0;
}

void mt_plot_free(mt_plot *p) {
    if (!p) return;
    for (int i = 0; i < p->nseries; i++) {
        free(p->series[i].name);
        free(p->series[i].b);
    }
    free(p->series);
    for (int i = 0; i < p->nlanes; i++) {
        lane *l = &p->lanes[i];
        free(l->name);
        if (l->cells)
            for (unsigned d = 0; d < p->o.max_depth; d++) free(l->cells[d]);
        free(l->cells);
        free(l->spans);
    }
    free(p->lanes);
    for (uint32_t i = 0; i < p->nfuncs; i++) {
        free(p->funcs[i].name);
        free(p->funcs[i].file);
    }
    free(p->funcs);
    free(p->fhash);
    for (size_t i = 0; i < p->nmarkers; i++) free(p->markers[i].label);
    free(p->markers);
    free(p->title);
    free(p->subtitle);
    free(p->banner);
    free(p);
}

void mt_plot_stats_get(const mt_plot *p, mt_plot_stats *out) {
    *out = p->st;
    out->bucket_s = p->bw;
}

/* ---- The grid ------------------------------------------------------------ */

static void bucket_merge(bucket *a, const bucket *b) {
    if (!b->n) return;
    if (!a->n) {
        *a = *b;
        return;
    }
    if (b->t_first < a->t_first) a->t_first = b->t_first, a->v_first = b->v_first;
    if (b->t_last >= a->t_last) a->t_last = b->t_last, a->v_last = b->v_last;
    if (b->v_min < a->v_min) a->v_min = b->v_min, a->t_min = b->t_min;
    if (b->v_max > a->v_max) a->v_max = b->v_max, a->t_max = b->t_max;
    a->n = a->n + b->n < a->n ? UINT32_MAX : a->n + b->n;
}

static void cell_merge(cell *a, const cell *b) {
    if (!b->count) return;
    if (!a->count) {
        *a = *b;
        return;
    }
    if (b->t_start < a->t_start) a->t_start = b->t_start, a->rss_first = b->rss_first;
    if (b->t_end > a->t_end) a->t_end = b->t_end, a->rss_last = b->rss_last;
    if (b->best_s > a->best_s) a->best_s = b->best_s, a->best_func = b->best_func;
    a->count = a->count + b->count < a->count ? UINT32_MAX : a->count + b->count;
}

static uint32_t bucket_of(const mt_plot *p, double t) {
    double i = (t - p->t0) / p->bw;
    if (i < 0) return 0;
    if (i >= p->nb) return p->nb - 1; /* t == the fixed end */
    return (uint32_t)i;
}

static void span_fold(mt_plot *p, lane *l, const mt_plot_span *s);

/* Double the bucket width `shift` times: bucket i of the new grid is
 * buckets [i << shift, (i + 1) << shift) of the old one. */
static void regrid(mt_plot *p, unsigned shift) {
    uint32_t nb = p->nb;
    for (int k = 0; k < p->nseries; k++) {
        bucket *b = p->series[k].b;
        for (uint32_t i = 0; i < nb; i++) {
            uint32_t j = shift >= 32 ? 0 : i >> shift;
            if (j != i) {
                bucket_merge(&b[j], &b[i]);
                b[i].n = 0;
            }
        }
    }
    for (int k = 0; k < p->nlanes; k++) {
        lane *l = &p->lanes[k];
        if (!l->cells) continue;
        for (unsigned d = 0; d < p->o.max_depth; d++) {
            cell *c = l->cells[d];
            if (!c) continue;
            for (uint32_t i = 0; i < nb; i++) {
                uint32_t j = shift >= 32 ? 0 : i >> shift;
                if (j != i) {
                    cell_merge(&c[j], &c[i]);
                    c[i].count = 0;
                }
            }
        }
    }
    p->bw = ldexp(p->bw, (int)shift);
    /* Spans kept whole that are now narrower than a bucket join the cells,
     * which bounds how many are kept: at most ~nb per depth and lane. */
    for (int k = 0; k < p->nlanes; k++) {
        lane *l = &p->lanes[k];
        size_t w = 0;
        for (size_t i = 0; i < l->nspans; i++) {
            if (l->spans[i].end_s - l->spans[i].start_s < p->bw)
                span_fold(p, l, &l->spans[i]);
            else
                l->spans[w++] = l->spans[i];
        }
        l->nspans = w;
    }
}

/* Make room for time t; returns 0 when t is beyond the fixed end (or
 * before t0), 1 when it falls inside the grid. */
static int grid_fit(mt_plot *p, double t) {
    if (!(t >= p->t0) || t > p->t_end) return 0;
    if (p->fixed) return 1;
    double span = t - p->t0;
    if (span < p->bw * p->nb) return 1;
    unsigned shift = 0;
    double bw = p->bw;
    while (span >= bw * p->nb) {
        bw *= 2;
        shift++;
    }
    regrid(p, shift);
    return 1;
}

static void see_time(mt_plot *p, double t) {
    if (t < p->st.t_min_s) p->st.t_min_s = t;
    if (t > p->st.t_max_s) p->st.t_max_s = t;
}

/* ---- Feeding ------------------------------------------------------------- */

int mt_plot_series_add(mt_plot *p, const char *name, int unit) {
    if (!p) return MT_PLOT_ERR_ARG;
    if (p->nseries >= MT_PLOT_MAX_SERIES) return MT_PLOT_ERR_LIMIT;
    series *ns = realloc(p->series, (size_t)(p->nseries + 1) * sizeof *ns);
    if (!ns) return MT_PLOT_ERR_NOMEM;
    p->series = ns;
    series *s = &ns[p->nseries];
    memset(s, 0, sizeof *s);
    s->name = mt_pl_strdup(name ? name : "");
    s->b = calloc(p->nb, sizeof *s->b);
    if (!s->name || !s->b) {
        free(s->name);
        free(s->b);
        return MT_PLOT_ERR_NOMEM;
    }
    s->unit = unit;
    s->before_t = s->after_t = NAN;
    return p->nseries++;
}

int mt_plot_point(mt_plot *p, int si, double t, double v) {
    if (!p || si < 0 || si >= p->nseries) return MT_PLOT_ERR_ARG;
    if (!isfinite(v) || !isfinite(t)) return 0;
    series *s = &p->series[si];
    p->st.points++;
    if (!grid_fit(p, t)) {
        p->st.points_cut++;
        if (t < p->t0) {
            if (isnan(s->before_t) || t >= s->before_t) s->before_t = t, s->before_v = v;
        } else if (isnan(s->after_t) || t < s->after_t) {
            s->after_t = t, s->after_v = v;
        }
        return 0;
    }
    see_time(p, t);
    bucket *b = &s->b[bucket_of(p, t)];
    if (!b->n) {
        b->t_first = b->t_last = b->t_min = b->t_max = t;
        b->v_first = b->v_last = b->v_min = b->v_max = v;
        b->n = 1;
        return 0;
    }
    if (t < b->t_first) b->t_first = t, b->v_first = v;
    if (t >= b->t_last) b->t_last = t, b->v_last = v;
    if (v < b->v_min) b->v_min = v, b->t_min = t;
    if (v > b->v_max) b->v_max = v, b->t_max = t;
    if (b->n != UINT32_MAX) b->n++;
    return 0;
}

int mt_plot_marker(mt_plot *p, double t, const char *label) {
    if (!p || !isfinite(t)) return MT_PLOT_ERR_ARG;
    if (!grid_fit(p, t)) return 0;
    if (p->nmarkers >= MAX_MARKERS) return 0;
    if (p->nmarkers == p->capmarkers) {
        size_t cap = p->capmarkers ? 2 * p->capmarkers : 16;
        marker *m = realloc(p->markers, cap * sizeof *m);
        if (!m) return MT_PLOT_ERR_NOMEM;
        p->markers = m;
        p->capmarkers = cap;
    }
    char *l = mt_pl_strdup(label ? label : "");
    if (!l) return MT_PLOT_ERR_NOMEM;
    p->markers[p->nmarkers].t = t;
    p->markers[p->nmarkers].label = l;
    p->nmarkers++;
    p->st.markers++;
    see_time(p, t);
    return 0;
}

int mt_plot_lane_add(mt_plot *p, const char *name) {
    if (!p) return MT_PLOT_ERR_ARG;
    if (p->nlanes >= MAX_LANES) return MT_PLOT_ERR_LIMIT;
    lane *nl = realloc(p->lanes, (size_t)(p->nlanes + 1) * sizeof *nl);
    if (!nl) return MT_PLOT_ERR_NOMEM;
    p->lanes = nl;
    lane *l = &nl[p->nlanes];
    memset(l, 0, sizeof *l);
    l->name = mt_pl_strdup(name ? name : "");
    l->cells = calloc(p->o.max_depth, sizeof *l->cells);
    if (!l->name || !l->cells) {
        free(l->name);
        free(l->cells);
        return MT_PLOT_ERR_NOMEM;
    }
    return p->nlanes++;
}

static int streq(const char *a, const char *b) {
    return a == b || (a && b && strcmp(a, b) == 0);
}

static uint32_t func_key(const char *name, const char *file, uint32_t line) {
    uint32_t h = mt_pl_hash(name, strlen(name));
    if (file) h ^= mt_pl_hash(file, strlen(file)) * 31u;
    return h ^ (line * 0x9e3779b1u);
}

static int fhash_grow(mt_plot *p) {
    uint32_t cap = p->fhash_cap ? 2 * p->fhash_cap : 256;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return MT_PLOT_ERR_NOMEM;
    for (uint32_t i = 0; i < p->nfuncs; i++) {
        func *f = &p->funcs[i];
        uint32_t j = func_key(f->name, f->file, f->line) & (cap - 1);
        while (t[j]) j = (j + 1) & (cap - 1);
        t[j] = i + 1;
    }
    free(p->fhash);
    p->fhash = t;
    p->fhash_cap = cap;
    return 0;
}

int mt_plot_function(mt_plot *p, const char *name, const char *file,
                     uint32_t line) {
    if (!p) return MT_PLOT_ERR_ARG;
    if (!name) name = "?";
    if (file && !*file) file = NULL;
    if ((p->nfuncs + 1) * 2 > p->fhash_cap && fhash_grow(p) < 0)
        return MT_PLOT_ERR_NOMEM;
    uint32_t mask = p->fhash_cap - 1;
    uint32_t j = func_key(name, file, line) & mask;
    for (; p->fhash[j]; j = (j + 1) & mask) {
        func *f = &p->funcs[p->fhash[j] - 1];
        if (f->line == line && strcmp(f->name, name) == 0 && streq(f->file, file))
            return (int)(p->fhash[j] - 1);
    }
    if (p->nfuncs >= MAX_FUNCS) return MT_PLOT_ERR_LIMIT;
    if (p->nfuncs == p->capfuncs) {
        uint32_t cap = p->capfuncs ? 2 * p->capfuncs : 64;
        func *nf = realloc(p->funcs, cap * sizeof *nf);
        if (!nf) return MT_PLOT_ERR_NOMEM;
        p->funcs = nf;
        p->capfuncs = cap;
    }
    func *f = &p->funcs[p->nfuncs];
    f->name = mt_pl_strdup(name);
    f->file = mt_pl_strdup(file);
    if (!f->name || (file && !f->file)) {
        free(f->name);
        free(f->file);
        return MT_PLOT_ERR_NOMEM;
    }
    f->line = line;
    f->hash = mt_pl_hash(name, strlen(name));
    mt_pl_colour_pastel(f->colour, f->hash);
    p->fhash[j] = p->nfuncs + 1;
    return (int)p->nfuncs++;
}

/* Fold a call into the cell of its start bucket. */
static void span_fold(mt_plot *p, lane *l, const mt_plot_span *s) {
    cell **slot = &l->cells[s->depth];
    if (!*slot) {
        *slot = calloc(p->nb, sizeof **slot);
        if (!*slot) return; /* out of memory: the call is not drawn */
    }
    cell one = {1, s->func, s->end_s - s->start_s, s->start_s, s->end_s,
                s->rss_start_bytes, s->rss_end_bytes};
    cell_merge(&(*slot)[bucket_of(p, s->start_s)], &one);
    p->st.spans_merged++;
}

int mt_plot_span_add(mt_plot *p, const mt_plot_span *in) {
    if (!p || !in || in->lane < 0 || in->lane >= p->nlanes || in->func < 0 ||
        (uint32_t)in->func >= p->nfuncs)
        return MT_PLOT_ERR_ARG;
    if (!isfinite(in->start_s) || !isfinite(in->end_s) || in->end_s < in->start_s)
        return MT_PLOT_ERR_ARG;
    p->st.spans++;
    lane *l = &p->lanes[in->lane];
    if (in->depth >= p->o.max_depth) {
        p->st.spans_too_deep++;
        l->rows = p->o.max_depth;
        return 0;
    }
    mt_plot_span s = *in;
    /* Cut to the x-range; a call across an edge is drawn up to it. */
    if (s.end_s < p->t0 || s.start_s > p->t_end) return 0;
    if (s.start_s < p->t0) s.start_s = p->t0;
    if (s.end_s > p->t_end) s.end_s = p->t_end;
    grid_fit(p, s.end_s);
    see_time(p, s.start_s);
    see_time(p, s.end_s);
    if (s.depth + 1 > l->rows) l->rows = s.depth + 1;
    if (s.end_s - s.start_s < p->bw) {
        span_fold(p, l, &s);
        return 0;
    }
    if (l->nspans == l->capspans) {
        size_t cap = l->capspans ? 2 * l->capspans : 64;
        mt_plot_span *ns = realloc(l->spans, cap * sizeof *ns);
        if (!ns) return MT_PLOT_ERR_NOMEM;
        l->spans = ns;
        l->capspans = cap;
    }
    l->spans[l->nspans++] = s;
    return 0;
}

/* ---- Rendering: shared --------------------------------------------------- */

/* The visible x-range. */
static void x_range(const mt_plot *p, double *t0, double *t1) {
    *t0 = p->t0;
    if (p->fixed) {
        *t1 = p->t_end;
    } else {
        *t1 = p->st.t_max_s > p->t0 ? p->st.t_max_s : p->t0;
    }
    if (!(*t1 > *t0)) *t1 = *t0 + 1e-3;
}

/* One reduced point of a series. */
typedef struct rpoint {
    double t, v;
} rpoint;

static int rpoint_cmp_t(const void *a, const void *b) {
    double x = ((const rpoint *)a)->t, y = ((const rpoint *)b)->t;
    return x < y ? -1 : x > y;
}

/* The points to draw for series s: per bucket its first, extreme and last
 * points in time order, plus the line's value where it crosses each edge
 * of the x-range. Returns a malloc'd array (NULL with *n = 0 if empty). */
static rpoint *series_points(const mt_plot *p, const series *s, double t0,
                             double t1, size_t *n) {
    size_t cap = 4 * (size_t)p->nb + 2, k = 0;
    rpoint *r = malloc(cap * sizeof *r);
    *n = 0;
    if (!r) return NULL;
    int first = 1;
    rpoint last = {0, 0};
    for (uint32_t i = 0; i < p->nb; i++) {
        const bucket *b = &s->b[i];
        if (!b->n) continue;
        if (first && !isnan(s->before_t) && b->t_first > t0) {
            /* the line from the last point before t0 meets the left edge */
            double f = (t0 - s->before_t) / (b->t_first - s->before_t);
            r[k].t = t0;
            r[k++].v = s->before_v + f * (b->v_first - s->before_v);
        }
        first = 0;
        rpoint q[4] = {{b->t_first, b->v_first}, {b->t_min, b->v_min},
                       {b->t_max, b->v_max}, {b->t_last, b->v_last}};
        qsort(q, 4, sizeof q[0], rpoint_cmp_t);
        for (int j = 0; j < 4; j++) {
            if (k && r[k - 1].t == q[j].t && r[k - 1].v == q[j].v) continue;
            /* Three points in a row with the same value: the middle one
             * draws nothing. (Flat stretches are most of a memory plot.) */
            if (k >= 2 && r[k - 1].v == q[j].v && r[k - 2].v == q[j].v &&
                r[k - 1].t != t0) {
                r[k - 1] = q[j];
                continue;
            }
            r[k++] = q[j];
        }
        last = r[k - 1];
    }
    if (k && !isnan(s->after_t) && last.t < t1) {
        double f = (t1 - last.t) / (s->after_t - last.t);
        r[k].t = t1;
        r[k++].v = last.v + f * (s->after_v - last.v);
    }
    if (!k && !isnan(s->before_t) && !isnan(s->after_t)) {
        /* no point inside, but a line crosses the whole range */
        double a = (t0 - s->before_t) / (s->after_t - s->before_t);
        double b = (t1 - s->before_t) / (s->after_t - s->before_t);
        r[k].t = t0, r[k++].v = s->before_v + a * (s->after_v - s->before_v);
        r[k].t = t1, r[k++].v = s->before_v + b * (s->after_v - s->before_v);
    }
    *n = k;
    return r;
}

/* ---- SVG ----------------------------------------------------------------- */

static const char *const series_colours[] = {
    "#1f5fa8", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
};
#define NCOLOURS (sizeof series_colours / sizeof series_colours[0])

typedef struct layout {
    double W, H;
    double x0, x1;          /* plot area, pixels */
    double sy_top, sy_bot;  /* series area */
    double stack_top, row_h;
    double axis_y;          /* x-axis line */
    double t0, t1, v0, v1;  /* data ranges at the edges */
    mt_pl_unit tu, vu;
    double tstep, vstep;
    int has_series, has_stack;
    /* The right-hand axis: series whose unit is not the first series'
     * (object counts beside bytes). */
    int has_b;
    double v0b, v1b, vstepb;
    mt_pl_unit vub;
} layout;

/* Is series i on the right-hand axis? */
static int on_b(const mt_plot *p, int i) {
    return p->nseries && p->series[i].unit != p->series[0].unit;
}

static double xpix(const layout *L, double t) {
    return L->x0 + (t - L->t0) * (L->x1 - L->x0) / (L->t1 - L->t0);
}
static double ypix(const layout *L, double v) {
    return L->sy_bot + (v - L->v0) * (L->sy_top - L->sy_bot) / (L->v1 - L->v0);
}
static double ypix_b(const layout *L, double v) {
    return L->sy_bot + (v - L->v0b) * (L->sy_top - L->sy_bot) / (L->v1b - L->v0b);
}
/* Series i's value v in pixels, on its axis. */
static double ypix_s(const mt_plot *p, const layout *L, int i, double v) {
    return on_b(p, i) ? ypix_b(L, v) : ypix(L, v);
}

static void put_time(FILE *f, double t) {
    char b[32];
    fputs(mt_plot_fmt_seconds(b, t), f);
}
static void put_bytes(FILE *f, double v) {
    char b[32];
    fputs(mt_plot_fmt_bytes(b, v), f);
}
static void put_value(FILE *f, double v, int unit) {
    char b[32];
    if (unit == MT_PLOT_UNIT_BYTES)
        put_bytes(f, v);
    else
        fputs(mt_pl_fmt_exact(b, v), f);
}

/* "RSS 10.0 MiB -> 80.0 MiB (+70.0 MiB)" for a tooltip, when known. */
static void put_rss_change(FILE *f, double a, double b) {
    if (isnan(a) && isnan(b)) return;
    fputs("&#10;RSS ", f);
    if (isnan(a)) {
        fputs("? -> ", f);
        put_bytes(f, b);
        return;
    }
    put_bytes(f, a);
    if (isnan(b)) return;
    fputs(" -> ", f);
    put_bytes(f, b);
    fputs(" (", f);
    if (b >= a) putc('+', f);
    put_bytes(f, b - a);
    putc(')', f);
}

/* A legend entry's width in pixels (an estimate: 7.5 px a character), and
 * the rows the legend takes when entries wrap at the picture's width. */
static double legend_w(const mt_plot *p, int i) {
    size_t len = mt_pl_utf8_chars(p->series[i].name);
    if (len > 40) len = 40;
    len += on_b(p, i) ? 28 : 16;
    return 28 + 7.5 * (double)len + 24;
}
static int legend_rows(const mt_plot *p) {
    double x = MARGIN_LEFT;
    int rows = 1;
    for (int i = 0; i < p->nseries; i++) {
        double w = legend_w(p, i);
        if (i && x + w - 24 > p->o.width_px - 8) {
            rows++;
            x = MARGIN_LEFT;
        }
        x += w;
    }
    return rows;
}

static void compute_layout(const mt_plot *p, layout *L, uint32_t total_rows) {
    int nlanes = 0; /* lanes with calls: the others are not drawn */
    for (int i = 0; i < p->nlanes; i++) nlanes += p->lanes[i].rows > 0;
    memset(L, 0, sizeof *L);
    L->W = p->o.width_px;
    L->H = p->o.height_px;
    L->x0 = MARGIN_LEFT;
    L->x1 = MARGIN_LEFT + p->plot_w;
    double top = 8 + (p->banner ? BANNER_H : 0) + (p->title ? TITLE_H : 0) +
                 (p->subtitle ? SUBTITLE_H : 0) +
                 (p->nseries ? LEGEND_H * legend_rows(p) : 0) + 12;
    double avail = L->H - top - XAXIS_H;
    double stack_need = 0;
    L->has_stack = total_rows > 0;
    if (L->has_stack) stack_need = nlanes * LANE_HEAD_H + total_rows * ROW_MAX_H;
    double series_h = avail;
    if (L->has_stack) {
        /* The series get at least half; the stack what it needs of the rest,
         * with rows shrunk to fit, but never below ROW_MIN_H: then the
         * picture grows taller instead. */
        double stack_h = stack_need < avail / 2 ? stack_need : avail / 2;
        series_h = avail - stack_h - 10;
        double rows_h = stack_h - nlanes * LANE_HEAD_H;
        L->row_h = rows_h / total_rows;
        if (L->row_h > ROW_MAX_H) L->row_h = ROW_MAX_H;
        if (L->row_h < ROW_MIN_H) {
            L->row_h = ROW_MIN_H;
            stack_h = nlanes * LANE_HEAD_H + total_rows * ROW_MIN_H;
            L->H = top + series_h + 10 + stack_h + XAXIS_H;
        }
        L->stack_top = top + series_h + 10;
        L->axis_y = L->stack_top + stack_h;
    } else {
        L->axis_y = top + series_h;
    }
    L->sy_top = top;
    L->sy_bot = top + series_h;
    x_range(p, &L->t0, &L->t1);
    L->tu = mt_pl_time_unit(L->t1 - L->t0);
    L->tstep = mt_pl_nice_step(L->t0, L->t1, (int)(p->plot_w / 110) + 1, L->tu.div);
}

/* One axis's range over the reduced points of the series on it (b: the
 * right-hand one); 0 when it has none. */
static int axis_range(const mt_plot *p, const layout *L, rpoint **pts, size_t *npts, int b,
                      double *v0, double *v1, double *vstep, mt_pl_unit *vu) {
    double lo = INFINITY, hi = -INFINITY;
    int unit = MT_PLOT_UNIT_NONE, any = 0;
    for (int i = 0; i < p->nseries; i++) {
        if (on_b(p, i) != b) continue;
        unit = p->series[i].unit;
        for (size_t j = 0; j < npts[i]; j++) {
            if (pts[i][j].v < lo) lo = pts[i][j].v;
            if (pts[i][j].v > hi) hi = pts[i][j].v;
        }
    }
    any = lo <= hi;
    if (!any) lo = 0, hi = 1;
    if (p->o.y_from_zero && lo > 0) lo = 0;
    if (p->o.y_from_zero && hi < 0) hi = 0;
    if (!b && p->nseries) unit = p->series[0].unit;
    if (hi == lo) {
        double pad = fabs(hi) > 0 ? fabs(hi) * 0.05 : 1;
        lo -= pad;
        hi += pad;
    }
    *vu = mt_pl_value_unit(fmax(fabs(lo), fabs(hi)), unit);
    int nt = (int)((L->sy_bot - L->sy_top) / 50);
    if (nt < 2) nt = 2;
    double scale = unit == MT_PLOT_UNIT_BYTES ? vu->div : 1;
    /* Nice steps for bytes are nice in the unit shown: 20 MiB, 0.2 GiB. */
    *vstep = mt_pl_nice_step(lo, hi, nt, scale);
    *v0 = floor(lo / *vstep) * *vstep;
    *v1 = ceil(hi / *vstep) * *vstep;
    if (*v1 <= *v0) *v1 = *v0 + *vstep;
    return any;
}

/* The value ranges over every series' reduced points: the left axis for
 * the first series' unit, the right one for the others (a plot area made
 * narrower for its labels). */
static void value_range(const mt_plot *p, layout *L, rpoint **pts, size_t *npts) {
    int a = axis_range(p, L, pts, npts, 0, &L->v0, &L->v1, &L->vstep, &L->vu);
    int nb = 0;
    for (int i = 0; i < p->nseries; i++) nb += on_b(p, i);
    L->has_b = nb && axis_range(p, L, pts, npts, 1, &L->v0b, &L->v1b, &L->vstepb, &L->vub);
    L->has_series = a || L->has_b;
    if (L->has_b) L->x1 -= 48;
}

static void svg_head(FILE *f, const layout *L) {
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"", f);
    mt_pl_coord(f, L->W);
    fputs("\" height=\"", f);
    mt_pl_coord(f, L->H);
    fputs("\" viewBox=\"0 0 ", f);
    mt_pl_coord(f, L->W);
    putc(' ', f);
    mt_pl_coord(f, L->H);
    fputs("\" font-family=\"Verdana, DejaVu Sans, Helvetica, sans-serif\">\n", f);
    /* Classes keep the thousands of rectangles short. */
    fputs("<style>\n"
          "text{fill:#222}\n"
          ".title{font-size:17px;font-weight:bold}\n"
          ".sub{font-size:12px;fill:#555}\n"
          ".banner rect{fill:#fde8e6;stroke:#c62828;stroke-width:1.5}\n"
          ".banner text{font-size:13px;font-weight:bold;fill:#b71c1c}\n"
          ".tick{font-size:11px;fill:#444}\n"
          ".grid{stroke:#e4e4e4;stroke-width:1}\n"
          ".axis{stroke:#666;stroke-width:1}\n"
          ".series{fill:none;stroke-width:1.5;stroke-linejoin:round}\n"
          ".marker line{stroke:#7a4a9a;stroke-width:1;stroke-dasharray:4 3}\n"
          ".marker text{font-size:11px;fill:#5a2a7a}\n"
          ".span{stroke:#fff;stroke-width:.5}\n"
          ".merged{fill:#c8c8c8;stroke:#fff;stroke-width:.5}\n"
          ".fn{font-size:10px;font-family:DejaVu Sans Mono,Menlo,monospace;"
          "pointer-events:none}\n"
          ".lane{font-size:11px;font-weight:bold;fill:#333}\n"
          ".legend{font-size:12px}\n"
          "rect.span:hover,rect.merged:hover{stroke:#000;stroke-width:1}\n"
          "</style>\n", f);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
}

static void svg_text(FILE *f, double x, double y, const char *cls,
                     const char *anchor, const char *s, size_t max_chars) {
    fputs("<text x=\"", f);
    mt_pl_coord(f, x);
    fputs("\" y=\"", f);
    mt_pl_coord(f, y);
    fprintf(f, "\" class=\"%s\"", cls);
    if (anchor) fprintf(f, " text-anchor=\"%s\"", anchor);
    putc('>', f);
    mt_pl_xml(f, s, max_chars);
    fputs("</text>\n", f);
}

static void svg_hline(FILE *f, double x0, double x1, double y, const char *cls) {
    fputs("<line x1=\"", f);
    mt_pl_coord(f, x0);
    fputs("\" y1=\"", f);
    mt_pl_coord(f, y);
    fputs("\" x2=\"", f);
    mt_pl_coord(f, x1);
    fputs("\" y2=\"", f);
    mt_pl_coord(f, y);
    fprintf(f, "\" class=\"%s\"/>\n", cls);
}
static void svg_vline(FILE *f, double x, double y0, double y1, const char *cls) {
    fputs("<line x1=\"", f);
    mt_pl_coord(f, x);
    fputs("\" y1=\"", f);
    mt_pl_coord(f, y0);
    fputs("\" x2=\"", f);
    mt_pl_coord(f, x);
    fputs("\" y2=\"", f);
    mt_pl_coord(f, y1);
    fprintf(f, "\" class=\"%s\"/>\n", cls);
}

static void svg_axes(FILE *f, const layout *L) {
    char buf[64];
    /* time grid and labels */
    double first = ceil(L->t0 / L->tstep - 1e-9) * L->tstep;
    for (int i = 0; i < 1000; i++) {
        double t = first + i * L->tstep;
        if (t > L->t1 + L->tstep * 1e-9) break;
        double x = xpix(L, t);
        svg_vline(f, x, L->sy_top, L->axis_y, "grid");
        svg_vline(f, x, L->axis_y, L->axis_y + 4, "axis");
        svg_text(f, x, L->axis_y + 16, "tick", "middle",
                 mt_pl_tick_label(buf, t, L->tstep, L->tu), 0);
    }
    svg_hline(f, L->x0, L->x1, L->axis_y, "axis");
    svg_text(f, (L->x0 + L->x1) / 2, L->axis_y + 32, "tick", "middle", "time", 0);
    if (!L->has_series) return;
    /* value grid and labels */
    for (int i = 0; i < 1000; i++) {
        double v = L->v0 + i * L->vstep;
        if (v > L->v1 + L->vstep * 1e-9) break;
        double y = ypix(L, v);
        svg_hline(f, L->x0, L->x1, y, "grid");
        svg_hline(f, L->x0 - 4, L->x0, y, "axis");
        svg_text(f, L->x0 - 7, y + 4, "tick", "end",
                 mt_pl_tick_label(buf, v, L->vstep, L->vu), 0);
    }
    svg_vline(f, L->x0, L->sy_top, L->sy_bot, "axis");
    svg_hline(f, L->x0, L->x1, L->sy_bot, "axis");
    if (!L->has_b) return;
    for (int i = 0; i < 1000; i++) {
        double v = L->v0b + i * L->vstepb;
        if (v > L->v1b + L->vstepb * 1e-9) break;
        double y = ypix_b(L, v);
        svg_hline(f, L->x1, L->x1 + 4, y, "axis");
        svg_text(f, L->x1 + 7, y + 4, "tick", "start",
                 mt_pl_tick_label(buf, v, L->vstepb, L->vub), 0);
    }
    svg_vline(f, L->x1, L->sy_top, L->sy_bot, "axis");
}

static void svg_legend(FILE *f, const mt_plot *p, const layout *L,
                       rpoint **pts, size_t *npts, double y) {
    double x = L->x0;
    for (int i = 0; i < p->nseries; i++) {
        const series *s = &p->series[i];
        if (i && x + legend_w(p, i) - 24 > L->W - 8) { /* as legend_rows */
            x = L->x0;
            y += LEGEND_H;
        }
        double hi = -INFINITY;
        for (size_t j = 0; j < npts[i]; j++)
            if (pts[i][j].v > hi) hi = pts[i][j].v;
        fprintf(f, "<g class=\"legend\"><line x1=\"");
        mt_pl_coord(f, x);
        fputs("\" y1=\"", f);
        mt_pl_coord(f, y - 4);
        fputs("\" x2=\"", f);
        mt_pl_coord(f, x + 22);
        fputs("\" y2=\"", f);
        mt_pl_coord(f, y - 4);
        fprintf(f, "\" stroke=\"%s\" stroke-width=\"3\"/><text x=\"",
                series_colours[i % NCOLOURS]);
        mt_pl_coord(f, x + 28);
        fputs("\" y=\"", f);
        mt_pl_coord(f, y);
        fputs("\">", f);
        mt_pl_xml(f, s->name, 40);
        size_t len = mt_pl_utf8_chars(s->name);
        if (len > 40) len = 40;
        if (npts[i]) {
            fputs(" (max ", f);
            put_value(f, hi, s->unit);
            fputs(on_b(p, i) ? ", right axis)" : ")", f);
            len += on_b(p, i) ? 28 : 16;
        }
        fputs("</text></g>\n", f);
        x += legend_w(p, i);
    }
}

static void svg_series(FILE *f, const mt_plot *p, const layout *L,
                       rpoint **pts, size_t *npts) {
    for (int i = 0; i < p->nseries; i++) {
        if (!npts[i]) continue;
        fputs("<polyline class=\"series\" data-name=\"", f);
        mt_pl_xml(f, p->series[i].name, 0);
        fprintf(f, "\" stroke=\"%s\" points=\"", series_colours[i % NCOLOURS]);
        for (size_t j = 0; j < npts[i]; j++) {
            if (j) putc(j % 8 ? ' ' : '\n', f);
            mt_pl_coord(f, xpix(L, pts[i][j].t));
            putc(',', f);
            mt_pl_coord(f, ypix_s(p, L, i, pts[i][j].v));
        }
        fputs("\"/>\n", f);
        if (npts[i] == 1) { /* a lone point draws no line: show a dot */
            fputs("<circle r=\"2.5\" cx=\"", f);
            mt_pl_coord(f, xpix(L, pts[i][0].t));
            fputs("\" cy=\"", f);
            mt_pl_coord(f, ypix_s(p, L, i, pts[i][0].v));
            fprintf(f, "\" fill=\"%s\"/>\n", series_colours[i % NCOLOURS]);
        }
    }
}

static int marker_cmp(const void *a, const void *b) {
    const marker *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return strcmp(x->label, y->label);
}

static void svg_markers(FILE *f, mt_plot *p, const layout *L) {
    /* Labels go on up to three text rows at the top of the series area; a
     * label that fits on none is left to the tooltip. */
    enum { ROWS = 3 };
    double row_end[ROWS];
    for (int r = 0; r < ROWS; r++) row_end[r] = -INFINITY;
    if (p->nmarkers > 1) qsort(p->markers, p->nmarkers, sizeof *p->markers, marker_cmp);
    for (size_t i = 0; i < p->nmarkers; i++) {
        const marker *m = &p->markers[i];
        if (m->t < L->t0 || m->t > L->t1) continue;
        double x = xpix(L, m->t);
        fputs("<g class=\"marker\"><title>", f);
        mt_pl_xml(f, m->label, 0);
        fputs(" at ", f);
        put_time(f, m->t);
        fputs("</title>", f);
        svg_vline(f, x, L->sy_top, L->axis_y, "m");
        size_t n = mt_pl_utf8_chars(m->label);
        if (n > 32) n = 32;
        double w = 6.4 * (double)n + 6;
        double tx = x + 3;
        int anchor_end = tx + w > L->x1;
        double lo = anchor_end ? x - 3 - w : tx;
        for (int r = 0; r < ROWS; r++) {
            if (lo > row_end[r] && n) {
                svg_text(f, anchor_end ? x - 3 : tx, L->sy_top + 12 + 13 * r, "m",
                         anchor_end ? "end" : NULL, m->label, 32);
                row_end[r] = lo + w;
                break;
            }
        }
        fputs("</g>\n", f);
    }
}

/* A call band: its rectangle, tooltip and, when wide enough, its name. */
static void svg_span(FILE *f, const mt_plot *p, const layout *L,
                     const mt_plot_span *s, double y) {
    const func *fn = &p->funcs[s->func];
    double xa = xpix(L, s->start_s), xb = xpix(L, s->end_s);
    double w = xb - xa;
    fputs("<rect class=\"span\" x=\"", f);
    mt_pl_coord(f, xa);
    fputs("\" y=\"", f);
    mt_pl_coord(f, y);
    fputs("\" width=\"", f);
    mt_pl_coord(f, w);
    fputs("\" height=\"", f);
    mt_pl_coord(f, L->row_h);
    fprintf(f, "\" fill=\"%s\"><title>", fn->colour);
    mt_pl_xml(f, fn->name, 0);
    if (fn->file) {
        fputs("&#10;", f);
        mt_pl_xml(f, fn->file, 0);
        if (fn->line) fprintf(f, ":%u", fn->line);
    }
    fputs("&#10;", f);
    put_time(f, s->start_s);
    fputs(" + ", f);
    put_time(f, s->end_s - s->start_s);
    put_rss_change(f, s->rss_start_bytes, s->rss_end_bytes);
    fputs("</title></rect>\n", f);
    /* 6 px per character of 10 px monospace */
    if (L->row_h >= 10 && w >= 6 * 3 + 4) {
        size_t max = (size_t)((w - 4) / 6);
        svg_text(f, xa + 2, y + L->row_h - 4, "fn", NULL, fn->name, max);
    }
}

static void svg_merged(FILE *f, const mt_plot *p, const layout *L,
                       const cell *c, double y, unsigned depth) {
    double xa = xpix(L, c->t_start), xb = xpix(L, c->t_end);
    if (xb - xa < 1) { /* at least a pixel, so it shows */
        double mid = (xa + xb) / 2;
        xa = mid - 0.5;
        xb = mid + 0.5;
    }
    fputs("<rect class=\"merged\" x=\"", f);
    mt_pl_coord(f, xa);
    fputs("\" y=\"", f);
    mt_pl_coord(f, y);
    fputs("\" width=\"", f);
    mt_pl_coord(f, xb - xa);
    fputs("\" height=\"", f);
    mt_pl_coord(f, L->row_h);
    fprintf(f, "\"><title>(%u calls) at depth %u&#10;", c->count, depth);
    put_time(f, c->t_start);
    fputs(" .. ", f);
    put_time(f, c->t_end);
    fputs("&#10;longest: ", f);
    mt_pl_xml(f, p->funcs[c->best_func].name, 0);
    fputs(" (", f);
    put_time(f, c->best_s);
    putc(')', f);
    put_rss_change(f, c->rss_first, c->rss_last);
    fputs("</title></rect>\n", f);
    if (L->row_h >= 10 && xb - xa >= 6 * 9 + 4) {
        char buf[48];
        snprintf(buf, sizeof buf, "(%u calls)", c->count);
        svg_text(f, xa + 2, y + L->row_h - 4, "fn", NULL, buf, 0);
    }
}

static int span_cmp(const void *a, const void *b) {
    const mt_plot_span *x = a, *y = b;
    if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
    if (x->start_s != y->start_s) return x->start_s < y->start_s ? -1 : 1;
    if (x->end_s != y->end_s) return x->end_s < y->end_s ? -1 : 1;
    return (x->func > y->func) - (x->func < y->func);
}

static void svg_stack(FILE *f, mt_plot *p, const layout *L) {
    double px = (L->x1 - L->x0) / (L->t1 - L->t0); /* pixels per second */
    double y = L->stack_top;
    for (int li = 0; li < p->nlanes; li++) {
        lane *l = &p->lanes[li];
        if (!l->rows) continue;
        fputs("<g class=\"lane\">", f);
        svg_text(f, L->x0, y + 11, "lane", NULL, l->name, 80);
        y += LANE_HEAD_H;
        /* Calls narrower than min_span_px join the cells now that the scale
         * is known. */
        size_t w = 0;
        for (size_t i = 0; i < l->nspans; i++) {
            if ((l->spans[i].end_s - l->spans[i].start_s) * px < p->o.min_span_px)
                span_fold(p, l, &l->spans[i]);
            else
                l->spans[w++] = l->spans[i];
        }
        l->nspans = w;
        if (l->nspans > 1) qsort(l->spans, l->nspans, sizeof *l->spans, span_cmp);
        size_t si = 0;
        for (unsigned d = 0; d < l->rows && d < p->o.max_depth; d++) {
            double ry = y + d * L->row_h;
            cell *c = l->cells[d];
            if (c) {
                /* Cells closer than a bucket to each other draw as one band. */
                cell run = {0};
                for (uint32_t i = 0; i <= p->nb; i++) {
                    const cell *ci = i < p->nb ? &c[i] : NULL;
                    if (ci && !ci->count) continue;
                    if (run.count && (!ci || ci->t_start - run.t_end > p->bw)) {
                        svg_merged(f, p, L, &run, ry, d);
                        run.count = 0;
                    }
                    if (ci) cell_merge(&run, ci);
                }
            }
            for (; si < l->nspans && l->spans[si].depth == d; si++)
                svg_span(f, p, L, &l->spans[si], ry);
        }
        y += l->rows * L->row_h;
        fputs("</g>\n", f);
    }
    (void)y;
}

int mt_plot_write_json(mt_plot *p, FILE *f) {
    if (!p || !f) return MT_PLOT_ERR_ARG;
    uint32_t total_rows = 0;
    for (int i = 0; i < p->nlanes; i++) total_rows += p->lanes[i].rows;
    layout L;
    compute_layout(p, &L, total_rows);
    char b[32];
    fputs("{\"title\":", f);
    if (p->title) mt_plot_json_str(f, p->title);
    else fputs("null", f);
    fprintf(f, ",\"t0_s\":%s", mt_pl_fmt_exact(b, L.t0));
    fprintf(f, ",\"t1_s\":%s,\"series\":[", mt_pl_fmt_exact(b, L.t1));
    for (int i = 0; i < p->nseries; i++) {
        size_t n;
        rpoint *r = series_points(p, &p->series[i], L.t0, L.t1, &n);
        if (!r && n) return MT_PLOT_ERR_NOMEM;
        fputs(i ? ",\n{\"name\":" : "\n{\"name\":", f);
        mt_plot_json_str(f, p->series[i].name);
        fprintf(f, ",\"unit\":\"%s\",\"points\":[",
                p->series[i].unit == MT_PLOT_UNIT_BYTES ? "bytes" : "");
        for (size_t k = 0; k < n; k++) {
            fprintf(f, "%s[%s,", k ? "," : "", mt_pl_fmt_exact(b, r[k].t));
            fprintf(f, "%s]", mt_pl_fmt_exact(b, r[k].v));
        }
        fputs("]}", f);
        free(r);
    }
    fputs("],\"markers\":[", f);
    for (size_t i = 0; i < p->nmarkers; i++) {
        fprintf(f, "%s{\"t_s\":%s,\"label\":", i ? ",\n" : "\n",
                mt_pl_fmt_exact(b, p->markers[i].t));
        mt_plot_json_str(f, p->markers[i].label);
        fputc('}', f);
    }
    fputs("],\"lanes\":[", f);
    for (int i = 0; i < p->nlanes; i++) {
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        mt_plot_json_str(f, p->lanes[i].name);
        fprintf(f, ",\"rows\":%u}", p->lanes[i].rows);
    }
    fputs("]}", f);
    return ferror(f) ? MT_PLOT_ERR_IO : 0;
}

int mt_plot_write_svg(mt_plot *p, FILE *f) {
    if (!p || !f) return MT_PLOT_ERR_ARG;
    uint32_t total_rows = 0;
    for (int i = 0; i < p->nlanes; i++) total_rows += p->lanes[i].rows;
    layout L;
    compute_layout(p, &L, total_rows);
    rpoint *pts[MT_PLOT_MAX_SERIES] = {0};
    size_t npts[MT_PLOT_MAX_SERIES] = {0};
    for (int i = 0; i < p->nseries; i++) {
        pts[i] = series_points(p, &p->series[i], L.t0, L.t1, &npts[i]);
        if (!pts[i]) {
            for (int j = 0; j < i; j++) free(pts[j]);
            return MT_PLOT_ERR_NOMEM;
        }
    }
    value_range(p, &L, pts, npts);

    svg_head(f, &L);
    double y = 8;
    if (p->banner) { /* first: what follows may be wrong */
        fputs("<g class=\"banner\" id=\"mt-banner\"><rect x=\"4\" y=\"4\" width=\"", f);
        mt_pl_coord(f, L.W - 8);
        fputs("\" height=\"22\" rx=\"3\"/>", f);
        svg_text(f, L.W / 2, 20, "warn", "middle", p->banner, (size_t)(L.W / 8));
        fputs("</g>\n", f);
        y += BANNER_H;
    }
    if (p->title) {
        y += 20;
        svg_text(f, L.W / 2, y, "title", "middle", p->title, 120);
        y += TITLE_H - 20;
    }
    if (p->subtitle) {
        y += 12;
        svg_text(f, L.W / 2, y, "sub", "middle", p->subtitle, 160);
        y += SUBTITLE_H - 12;
    }
    if (p->nseries) svg_legend(f, p, &L, pts, npts, y + 14);

    fputs("<g id=\"mt-plot-area\" data-x0=\"", f);
    mt_pl_coord(f, L.x0);
    fputs("\" data-x1=\"", f);
    mt_pl_coord(f, L.x1);
    fputs("\" data-y0=\"", f);
    mt_pl_coord(f, L.sy_bot);
    fputs("\" data-y1=\"", f);
    mt_pl_coord(f, L.sy_top);
    char b[32];
    fprintf(f, "\" data-t0=\"%s", mt_pl_fmt_exact(b, L.t0));
    fprintf(f, "\" data-t1=\"%s", mt_pl_fmt_exact(b, L.t1));
    fprintf(f, "\" data-v0=\"%s", mt_pl_fmt_exact(b, L.v0));
    fprintf(f, "\" data-v1=\"%s\">\n", mt_pl_fmt_exact(b, L.v1));
    svg_axes(f, &L);
    if (L.has_stack) svg_stack(f, p, &L);
    svg_series(f, p, &L, pts, npts);
    if (!L.has_series && !L.has_stack)
        svg_text(f, (L.x0 + L.x1) / 2, (L.sy_top + L.sy_bot) / 2, "sub", "middle",
                 "no data", 0);
    svg_markers(f, p, &L);
    if (p->st.spans_too_deep) {
        char note[96];
        snprintf(note, sizeof note, "%llu calls deeper than %u levels not shown",
                 (unsigned long long)p->st.spans_too_deep, p->o.max_depth);
        svg_text(f, L.x1, L.axis_y + 32, "tick", "end", note, 0);
    }
    fputs("</g>\n</svg>\n", f);
    for (int i = 0; i < p->nseries; i++) free(pts[i]);
    fflush(f);
    return ferror(f) ? MT_PLOT_ERR_IO : 0;
}

/* ---- gnuplot ------------------------------------------------------------- */

/* A gnuplot single-quoted string: '' is its only escape; control
 * characters (a newline would end the command) become spaces. */
static void gp_str(FILE *f, const char *s) {
    putc('\'', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\'') fputs("''", f);
        else putc(c < 0x20 || c == 0x7F ? ' ' : c, f);
    }
    putc('\'', f);
}

int mt_plot_write_gnuplot(mt_plot *p, FILE *f, const char *term,
                          const char *out_path) {
    if (!p || !f) return MT_PLOT_ERR_ARG;
    if (term && strcmp(term, "png") != 0 && strcmp(term, "svg") != 0)
        return MT_PLOT_ERR_ARG;
    if (term && !out_path) return MT_PLOT_ERR_ARG;
    layout L;
    compute_layout(p, &L, 0);
    rpoint *pts[MT_PLOT_MAX_SERIES] = {0};
    size_t npts[MT_PLOT_MAX_SERIES] = {0};
    for (int i = 0; i < p->nseries; i++) {
        pts[i] = series_points(p, &p->series[i], L.t0, L.t1, &npts[i]);
        if (!pts[i]) {
            for (int j = 0; j < i; j++) free(pts[j]);
            return MT_PLOT_ERR_NOMEM;
        }
    }
    value_range(p, &L, pts, npts);
    char a[32], b[32];

    fputs("# Written by libmemtrace-plot. Run: gnuplot THIS_FILE\n", f);
    if (term && strcmp(term, "png") == 0) {
        fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                   "    set terminal pngcairo size %u,%u noenhanced font ',10'\n"
                   "} else {\n"
                   "    set terminal png size %u,%u noenhanced\n"
                   "}\n",
                p->o.width_px, p->o.height_px, p->o.width_px, p->o.height_px);
    } else if (term) {
        fprintf(f, "set terminal svg size %u,%u noenhanced dynamic "
                   "background '#ffffff'\n", p->o.width_px, p->o.height_px);
    } else {
        fputs("set termoption noenhanced\n", f);
    }
    if (term) {
        fputs("set output ", f);
        gp_str(f, out_path);
        putc('\n', f);
    }
    for (int i = 0; i < p->nseries; i++) {
        fprintf(f, "# series %d: ", i);
        gp_str(f, p->series[i].name);
        const mt_pl_unit *vu = on_b(p, i) ? &L.vub : &L.vu;
        fprintf(f, "; time (%s), value (%s)\n$S%d << EOD\n", L.tu.suffix,
                *vu->suffix ? vu->suffix : "1", i);
        for (size_t j = 0; j < npts[i]; j++)
            fprintf(f, "%s %s\n", mt_pl_fmt_num(a, pts[i][j].t / L.tu.div, 10),
                    mt_pl_fmt_num(b, pts[i][j].v / vu->div, 10));
        fputs("EOD\n", f);
    }
    if (p->banner) {
        fputs("set label 1000 ", f);
        gp_str(f, p->banner);
        fputs(" at screen 0.5, screen 0.985 center front textcolor rgb '#b71c1c'\n", f);
    }
    if (p->title) {
        fputs("set title ", f);
        gp_str(f, p->title);
        putc('\n', f);
    }
    fprintf(f, "set xlabel 'time (%s)'\n", L.tu.suffix);
    if (*L.vu.suffix) fprintf(f, "set ylabel '%s'\n", L.vu.suffix);
    fputs("set grid\nset key below horizontal\nset border 3\nset tics nomirror\n", f);
    fprintf(f, "set xrange [%s:", mt_pl_fmt_exact(a, L.t0 / L.tu.div));
    fprintf(f, "%s]\n", mt_pl_fmt_exact(a, L.t1 / L.tu.div));
    if (L.has_series) {
        fprintf(f, "set yrange [%s:", mt_pl_fmt_exact(a, L.v0 / L.vu.div));
        fprintf(f, "%s]\n", mt_pl_fmt_exact(a, L.v1 / L.vu.div));
    }
    if (L.has_b) {
        fprintf(f, "set y2tics\nset y2range [%s:", mt_pl_fmt_exact(a, L.v0b / L.vub.div));
        fprintf(f, "%s]\n", mt_pl_fmt_exact(a, L.v1b / L.vub.div));
        if (*L.vub.suffix) fprintf(f, "set y2label '%s'\n", L.vub.suffix);
    }
    if (p->nmarkers > 1) qsort(p->markers, p->nmarkers, sizeof *p->markers, marker_cmp);
    int k = 0;
    for (size_t i = 0; i < p->nmarkers; i++) {
        const marker *m = &p->markers[i];
        if (m->t < L.t0 || m->t > L.t1) continue;
        if (++k > 2000) break; /* gnuplot slows down with many objects */
        const char *x = mt_pl_fmt_num(a, m->t / L.tu.div, 10);
        fprintf(f, "set arrow %d from %s, graph 0 to %s, graph 1 nohead "
                   "lc rgb '#7a4a9a' dt 2\n", k, x, x);
        fprintf(f, "set label %d ", k);
        gp_str(f, m->label);
        fprintf(f, " at %s, graph 0.98 rotate by 90 right offset 0.8,0 "
                   "tc rgb '#5a2a7a' font ',8'\n", x);
    }
    int any = 0;
    for (int i = 0; i < p->nseries; i++) {
        if (!npts[i]) continue;
        fprintf(f, "%s$S%d using 1:2%s with lines lw 1.5 lc rgb '%s' title ",
                any ? ", \\\n     " : "plot ", i, on_b(p, i) ? " axes x1y2" : "",
                series_colours[i % NCOLOURS]);
        gp_str(f, p->series[i].name);
        any = 1;
    }
    if (!any) {
        /* Nothing to plot: gnuplot still wants a plot command to draw the
         * frame (and the markers). */
        fputs("set yrange [0:1]\nunset ytics\n"
              "plot NaN notitle", f);
    }
    putc('\n', f);
    /* Keep an interactive window open until it is closed; a caller that set
     * a file terminal first (gnuplot -e "set terminal png; ...") gets none. */
    if (!term)
        fputs("if (strstrt('x11 wxt qt aqua windows', GPVAL_TERM) > 0) pause mouse close\n", f);
    else fputs("unset output\n", f);
    for (int i = 0; i < p->nseries; i++) free(pts[i]);
    fflush(f);
    return ferror(f) ? MT_PLOT_ERR_IO : 0;
}
