/*
 * mt_plot_flame.c - flame graphs: a tree of frames with values, as SVG.
 *
 * Frames are nodes of one tree (node 0 is the root, "all"); a node is found
 * from (parent, name) through one open-addressing table, and names are
 * interned once, so adding a stack costs one lookup per frame and memory
 * grows with the number of distinct stacks, not with the number of adds.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_plot_internal.h"

#define MAX_NODES (1u << 28)

typedef struct fnode {
    uint32_t name;   /* offset of the name in the string arena */
    uint32_t parent; /* node index; the root is its own parent */
    uint32_t depth;
    double total;    /* this frame and everything called from it */
} fnode;

struct mt_flame {
    fnode *nodes;
    uint32_t n, cap;
    uint32_t *tab; /* (parent, name) -> node index + 1; 0 = free */
    uint32_t tabcap;
    char *arena; /* names, NUL-terminated, back to back */
    size_t arena_len, arena_cap;
    uint32_t *stab; /* name hash set: arena offset + 1 */
    uint32_t stabcap, nstr;
};

int mt_flame_new(mt_flame **ff) {
    if (!ff) return MT_PLOT_ERR_ARG;
    *ff = NULL;
    mt_flame *f = calloc(1, sizeof *f);
    if (!f) return MT_PLOT_ERR_NOMEM;
    f->cap = 256;
    f->nodes = malloc(f->cap * sizeof *f->nodes);
    f->tabcap = 512;
    f->tab = calloc(f->tabcap, sizeof *f->tab);
    f->stabcap = 256;
    f->stab = calloc(f->stabcap, sizeof *f->stab);
    f->arena_cap = 4096;
    f->arena = malloc(f->arena_cap);
    if (!f->nodes || !f->tab || !f->stab || !f->arena) {
        mt_flame_free(f);
        return MT_PLOT_ERR_NOMEM;
    }
    memcpy(f->arena, "all", 4);
    f->arena_len = 4;
    f->nodes[0] = (fnode){0, 0, 0, 0};
    f->n = 1;
    *ff = f;
    return 0;
}

void mt_flame_free(mt_flame *f) {
    if (!f) return;
    free(f->nodes);
    free(f->tab);
    free(f->stab);
    free(f->arena);
    free(f);
}

double mt_flame_total(const mt_flame *f) { return f ? f->nodes[0].total : 0; }

/* A frame's name as JSON members: "NAME" and, for "NAME\x1fFILE:LINE",
 * then "file":"FILE","line":LINE (speedscope's frame fields) or
 * "where":"FILE:LINE". The opening "name": is the caller's. */
static void name_where(FILE *out, const char *s, int speedscope) {
    const char *sep = strchr(s, MT_FLAME_LOC_SEP);
    if (!sep) {
        mt_plot_json_str(out, s);
        return;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%.*s", (int)(sep - s), s);
    mt_plot_json_str(out, buf);
    if (!speedscope) {
        fputs(",\"where\":", out);
        mt_plot_json_str(out, sep + 1);
        return;
    }
    const char *colon = strrchr(sep + 1, ':');
    snprintf(buf, sizeof buf, "%.*s", colon ? (int)(colon - sep - 1) : (int)strlen(sep + 1),
             sep + 1);
    fputs(",\"file\":", out);
    mt_plot_json_str(out, buf);
    if (colon && atoi(colon + 1) > 0) fprintf(out, ",\"line\":%d", atoi(colon + 1));
}

/* Each node's own value: its total less its children's. */
static double *self_values(const mt_flame *f) {
    double *v = malloc((size_t)f->n * sizeof *v);
    if (!v) return NULL;
    for (uint32_t i = 0; i < f->n; i++) v[i] = f->nodes[i].total;
    for (uint32_t i = 1; i < f->n; i++) v[f->nodes[i].parent] -= f->nodes[i].total;
    return v;
}

/* The path of node i, outermost first (the root left out), into path;
 * returns its length. */
static uint32_t node_path(const mt_flame *f, uint32_t i, uint32_t *path) {
    uint32_t d = f->nodes[i].depth, k = d;
    for (; i && k; i = f->nodes[i].parent) path[--k] = i;
    return d;
}

static uint32_t max_depth(const mt_flame *f) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < f->n; i++)
        if (f->nodes[i].depth > m) m = f->nodes[i].depth;
    return m;
}

int mt_flame_write_folded(const mt_flame *f, FILE *out) {
    if (!f || !out) return MT_PLOT_ERR_ARG;
    double *self = self_values(f);
    uint32_t *path = malloc(((size_t)max_depth(f) + 1) * sizeof *path);
    if (!self || !path) {
        free(self);
        free(path);
        return MT_PLOT_ERR_NOMEM;
    }
    for (uint32_t i = 1; i < f->n; i++) {
        if (!(self[i] >= 0.5)) continue;
        uint32_t d = node_path(f, i, path);
        for (uint32_t k = 0; k < d; k++) {
            if (k) fputc(';', out);
            const char *nm = f->arena + f->nodes[path[k]].name;
            const char *sep = strchr(nm, MT_FLAME_LOC_SEP);
            for (const char *c = nm; *c && c != sep; c++)
                fputc(*c == ';' ? ':' : (unsigned char)*c < 0x20 ? ' ' : *c, out);
            if (sep) { /* as py-spy writes them: "name (file:line)" */
                fputs(" (", out);
                for (const char *c = sep + 1; *c; c++)
                    fputc(*c == ';' ? ':' : (unsigned char)*c < 0x20 ? ' ' : *c, out);
                fputc(')', out);
            }
        }
        fprintf(out, " %.0f\n", self[i]);
    }
    free(self);
    free(path);
    return ferror(out) ? MT_PLOT_ERR_IO : 0;
}

int mt_flame_write_speedscope(const mt_flame *f, FILE *out, const char *name,
                              const char *unit, const char *exporter) {
    if (!f || !out) return MT_PLOT_ERR_ARG;
    double *self = self_values(f);
    uint32_t *path = malloc(((size_t)max_depth(f) + 1) * sizeof *path);
    /* frame index of each distinct name: by arena offset, in first-seen order */
    uint32_t *frame_of = calloc((size_t)f->arena_len + 1, sizeof *frame_of);
    if (!self || !path || !frame_of) {
        free(self);
        free(path);
        free(frame_of);
        return MT_PLOT_ERR_NOMEM;
    }
    char b[32];
    fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
          "\"version\":\"0.0.1\",\n"
          "\"shared\":{\"frames\":[", out);
    uint32_t nframes = 0;
    for (uint32_t i = 1; i < f->n; i++) {
        uint32_t off = f->nodes[i].name;
        if (frame_of[off]) continue;
        frame_of[off] = ++nframes;
        fputs(nframes > 1 ? ",\n{\"name\":" : "\n{\"name\":", out);
        name_where(out, f->arena + off, 1);
        fputc('}', out);
    }
    double total = 0;
    for (uint32_t i = 1; i < f->n; i++)
        if (self[i] > 0) total += self[i];
    fputs("]},\n\"profiles\":[{\"type\":\"sampled\",\"name\":", out);
    mt_plot_json_str(out, name ? name : "memtrace");
    fputs(",\"unit\":", out);
    mt_plot_json_str(out, unit ? unit : "none");
    fprintf(out, ",\"startValue\":0,\"endValue\":%s,\n\"samples\":[", mt_pl_fmt_exact(b, total));
    int first = 1;
    for (uint32_t i = 1; i < f->n; i++) {
        if (!(self[i] > 0)) continue;
        uint32_t d = node_path(f, i, path);
        fputs(first ? "\n[" : ",\n[", out);
        for (uint32_t k = 0; k < d; k++)
            fprintf(out, "%s%u", k ? "," : "", frame_of[f->nodes[path[k]].name] - 1);
        fputc(']', out);
        first = 0;
    }
    fputs("],\n\"weights\":[", out);
    first = 1;
    for (uint32_t i = 1; i < f->n; i++) {
        if (!(self[i] > 0)) continue;
        fprintf(out, "%s%s", first ? "" : ",", mt_pl_fmt_exact(b, self[i]));
        first = 0;
    }
    fputs("]}],\n\"name\":", out);
    mt_plot_json_str(out, name ? name : "memtrace");
    fputs(",\"activeProfileIndex\":0,\"exporter\":", out);
    mt_plot_json_str(out, exporter ? exporter : "memtrace");
    fputs("}\n", out);
    free(self);
    free(path);
    free(frame_of);
    return ferror(out) ? MT_PLOT_ERR_IO : 0;
}

int mt_flame_write_json(const mt_flame *f, FILE *out) {
    if (!f || !out) return MT_PLOT_ERR_ARG;
    char b[32];
    fprintf(out, "{\"total\":%s,\"nodes\":[", mt_pl_fmt_exact(b, f->nodes[0].total));
    for (uint32_t i = 0; i < f->n; i++) {
        const fnode *d = &f->nodes[i];
        fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
        if (i) name_where(out, f->arena + d->name, 0);
        else mt_plot_json_str(out, "all");
        fprintf(out, ",\"parent\":%lld,\"depth\":%u,\"total\":%s}",
                i ? (long long)d->parent : -1LL, d->depth, mt_pl_fmt_exact(b, d->total));
    }
    fputs("]}", out);
    return ferror(out) ? MT_PLOT_ERR_IO : 0;
}
uint64_t mt_flame_nodes(const mt_flame *f) { return f ? f->n - 1 : 0; }

/* The arena offset of name[0..len), added if new; or a negative code. */
static int64_t intern(mt_flame *f, const char *name, size_t len) {
    uint32_t h = mt_pl_hash(name, len), mask = f->stabcap - 1;
    uint32_t j = h & mask;
    for (; f->stab[j]; j = (j + 1) & mask) {
        const char *s = f->arena + f->stab[j] - 1;
        if (strncmp(s, name, len) == 0 && s[len] == '\0') return f->stab[j] - 1;
    }
    if (f->arena_len + len + 1 > UINT32_MAX - 1) return MT_PLOT_ERR_LIMIT;
    if (f->arena_len + len + 1 > f->arena_cap) {
        size_t cap = f->arena_cap * 2;
        while (cap < f->arena_len + len + 1) cap *= 2;
        char *a = realloc(f->arena, cap);
        if (!a) return MT_PLOT_ERR_NOMEM;
        f->arena = a;
        f->arena_cap = cap;
    }
    uint32_t off = (uint32_t)f->arena_len;
    memcpy(f->arena + off, name, len);
    f->arena[off + len] = '\0';
    f->arena_len += len + 1;
    f->stab[j] = off + 1;
    if (++f->nstr * 2 > f->stabcap) {
        uint32_t cap = f->stabcap * 2;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) return MT_PLOT_ERR_NOMEM; /* the old table still works */
        for (uint32_t i = 0; i < f->stabcap; i++) {
            if (!f->stab[i]) continue;
            const char *s = f->arena + f->stab[i] - 1;
            uint32_t k = mt_pl_hash(s, strlen(s)) & (cap - 1);
            while (t[k]) k = (k + 1) & (cap - 1);
            t[k] = f->stab[i];
        }
        free(f->stab);
        f->stab = t;
        f->stabcap = cap;
    }
    return off;
}

static uint32_t child_key(uint32_t parent, uint32_t name) {
    uint64_t k = ((uint64_t)parent << 32 | name) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(k >> 32);
}

/* The child of parent named by arena offset name, created if new. */
static int64_t child(mt_flame *f, uint32_t parent, uint32_t name) {
    uint32_t mask = f->tabcap - 1, j = child_key(parent, name) & mask;
    for (; f->tab[j]; j = (j + 1) & mask) {
        const fnode *c = &f->nodes[f->tab[j] - 1];
        if (c->parent == parent && c->name == name) return f->tab[j] - 1;
    }
    if (f->n >= MAX_NODES) return MT_PLOT_ERR_LIMIT;
    if (f->n == f->cap) {
        fnode *nn = realloc(f->nodes, 2 * (size_t)f->cap * sizeof *nn);
        if (!nn) return MT_PLOT_ERR_NOMEM;
        f->nodes = nn;
        f->cap *= 2;
    }
    uint32_t idx = f->n++;
    f->nodes[idx] = (fnode){name, parent, f->nodes[parent].depth + 1, 0};
    f->tab[j] = idx + 1;
    if (f->n * 2 > f->tabcap) {
        uint32_t cap = f->tabcap * 2;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) return idx; /* the old table still works, only fuller */
        for (uint32_t i = 1; i < f->n; i++) {
            uint32_t k = child_key(f->nodes[i].parent, f->nodes[i].name) & (cap - 1);
            while (t[k]) k = (k + 1) & (cap - 1);
            t[k] = i + 1;
        }
        free(f->tab);
        f->tab = t;
        f->tabcap = cap;
    }
    return idx;
}

/* Add value along a path given as (name, len) pairs produced by next(). */
static int add_path(mt_flame *f, double value, size_t n,
                    const char *(*next)(void *ctx, size_t i, size_t *len),
                    void *ctx) {
    if (isnan(value) || value < 0 || isinf(value)) return MT_PLOT_ERR_ARG;
    if (value == 0) return 0;
    uint32_t node = 0;
    f->nodes[0].total += value;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = next(ctx, i, &len);
        int64_t name = intern(f, s, len);
        if (name < 0) return (int)name;
        int64_t c = child(f, node, (uint32_t)name);
        if (c < 0) return (int)c;
        node = (uint32_t)c;
        f->nodes[node].total += value;
    }
    return 0;
}

static const char *next_array(void *ctx, size_t i, size_t *len) {
    const char *s = ((const char *const *)ctx)[i];
    if (!s) s = "";
    *len = strlen(s);
    return s;
}

int mt_flame_add(mt_flame *f, const char *const *frames, size_t n,
                 double value) {
    if (!f || (n && !frames)) return MT_PLOT_ERR_ARG;
    return add_path(f, value, n, next_array, (void *)frames);
}

/* Frames of a folded line, split on ';' as they are asked for in order. */
typedef struct folded_it {
    const char *p, *end;
} folded_it;

static const char *next_folded(void *ctx, size_t i, size_t *len) {
    folded_it *it = ctx;
    (void)i;
    const char *s = it->p, *e = memchr(s, ';', (size_t)(it->end - s));
    if (!e) e = it->end;
    *len = (size_t)(e - s);
    it->p = e < it->end ? e + 1 : e;
    return s;
}

int mt_flame_add_folded(mt_flame *f, const char *line, size_t len) {
    if (!f || !line) return MT_PLOT_ERR_ARG;
    if (len == (size_t)-1) len = strlen(line);
    const char *end = line + len;
    while (end > line && (end[-1] == '\n' || end[-1] == '\r' ||
                          end[-1] == ' ' || end[-1] == '\t'))
        end--;
    const char *s = line;
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    if (s == end) return 0; /* blank */
    const char *sp = end;
    while (sp > s && sp[-1] != ' ' && sp[-1] != '\t') sp--;
    if (sp == s) return MT_PLOT_ERR_PARSE; /* no value, or no stack */
    char num[64];
    size_t nl = (size_t)(end - sp);
    if (nl >= sizeof num) return MT_PLOT_ERR_PARSE;
    memcpy(num, sp, nl);
    num[nl] = '\0';
    char *stop;
    errno = 0;
    double v = strtod(num, &stop);
    if (*stop || errno || !isfinite(v) || v < 0) return MT_PLOT_ERR_PARSE;
    const char *se = sp;
    while (se > s && (se[-1] == ' ' || se[-1] == '\t')) se--;
    if (se > s && memchr(s, 0, (size_t)(se - s))) return MT_PLOT_ERR_PARSE;
    size_t n = 1;
    for (const char *q = s; q < se; q++) n += *q == ';';
    folded_it it = {s, se};
    int rc = add_path(f, v, n, next_folded, &it);
    return rc == MT_PLOT_ERR_ARG ? MT_PLOT_ERR_PARSE : rc;
}

int mt_flame_read_folded(mt_flame *f, FILE *in, uint64_t *bad_line) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t no = 0;
    int rc = 0;
    if (!f || !in) return MT_PLOT_ERR_ARG;
    while ((n = getline(&line, &cap, in)) >= 0) {
        no++;
        rc = mt_flame_add_folded(f, line, (size_t)n);
        if (rc < 0) {
            if (bad_line) *bad_line = no;
            break;
        }
    }
    if (!rc && ferror(in)) rc = MT_PLOT_ERR_IO;
    free(line);
    return rc;
}

/* ---- SVG ----------------------------------------------------------------- */

typedef struct fl_draw {
    const mt_flame *f;
    const mt_flame_options *o;
    FILE *out;
    uint32_t *kids;  /* children of every node, grouped by parent */
    uint32_t *first; /* first[i]..first[i+1]: node i's children in kids */
    double scale;    /* pixels per unit of value */
    double x0, y_root, frame_h;
    int bytes;
    uint32_t max_depth; /* deepest frame drawn */
} fl_draw;

static void put_amount(const fl_draw *d, double v) {
    char b[32];
    if (d->bytes) {
        fputs(mt_plot_fmt_bytes(b, v), d->out);
    } else {
        fputs(mt_pl_fmt_exact(b, v), d->out);
        putc(' ', d->out);
        mt_pl_xml(d->out, d->o->unit, 0);
    }
}

static double frame_y(const fl_draw *d, uint32_t depth) {
    return d->o->icicle ? d->y_root + depth * d->frame_h
                        : d->y_root - depth * d->frame_h;
}

static void draw_box(fl_draw *d, double x, double w, uint32_t depth,
                     const char *name, const char *fill, double value,
                     int is_name) {
    FILE *o = d->out;
    double total = d->f->nodes[0].total;
    /* "NAME\x1fWHERE": NAME is the label, WHERE goes in the tooltip */
    char label[1024];
    const char *sep = strchr(name, MT_FLAME_LOC_SEP);
    if (sep) {
        snprintf(label, sizeof label, "%.*s", (int)(sep - name), name);
    }
    fputs("<g><title>", o);
    mt_pl_xml(o, sep ? label : name, 0);
    if (sep) {
        fputs("&#10;", o);
        mt_pl_xml(o, sep + 1, 0);
    }
    fputs("&#10;", o);
    put_amount(d, value);
    fprintf(o, " (%.2f%%)</title><rect x=\"", total > 0 ? 100 * value / total : 0);
    mt_pl_coord(o, x);
    fputs("\" y=\"", o);
    mt_pl_coord(o, frame_y(d, depth));
    fputs("\" width=\"", o);
    mt_pl_coord(o, w);
    fputs("\" height=\"", o);
    mt_pl_coord(o, d->frame_h - 1);
    fprintf(o, "\" fill=\"%s\" rx=\"2\"/>", fill);
    /* 6.6 px per character of 11 px monospace */
    if (w >= 6.6 * 3 + 6) {
        fputs("<text x=\"", o);
        mt_pl_coord(o, x + 3);
        fputs("\" y=\"", o);
        mt_pl_coord(o, frame_y(d, depth) + d->frame_h - 5);
        fputs("\">", o);
        mt_pl_xml(o, sep ? label : name, (size_t)((w - 6) / 6.6));
        fputs("</text>", o);
    }
    fputs("</g>\n", o);
    (void)is_name;
    if (depth > d->max_depth) d->max_depth = depth;
}

/* A child for sorting by name: qsort has no context argument in C11. */
typedef struct kid_sort {
    const char *name;
    uint32_t idx;
} kid_sort;
static int kid_cmp(const void *a, const void *b) {
    return strcmp(((const kid_sort *)a)->name, ((const kid_sort *)b)->name);
}

static void draw_node(fl_draw *d, uint32_t node, double x) {
    const fnode *n = &d->f->nodes[node];
    char colour[8];
    const char *name = d->f->arena + n->name;
    const char *sep = strchr(name, MT_FLAME_LOC_SEP); /* one colour per function */
    if (node == 0)
        strcpy(colour, "#d8d8d8");
    else
        mt_pl_colour_hot(colour, mt_pl_hash(name, sep ? (size_t)(sep - name) : strlen(name)));
    double w = n->total * d->scale;
    draw_box(d, x, w, n->depth, node == 0 ? "all" : name, colour, n->total, 1);
    double cx = x, small = 0;
    uint32_t nsmall = 0;
    for (uint32_t i = d->first[node]; i < d->first[node + 1]; i++) {
        uint32_t k = d->kids[i];
        double kw = d->f->nodes[k].total * d->scale;
        if (kw < d->o->min_frame_px) {
            small += d->f->nodes[k].total;
            nsmall++;
            continue;
        }
        draw_node(d, k, cx);
        cx += kw;
    }
    if (nsmall && small * d->scale >= 0.1) {
        char label[48];
        snprintf(label, sizeof label, "(%u small frames)", nsmall);
        draw_box(d, cx, small * d->scale, n->depth + 1, label, "#c8c8c8", small, 0);
    }
}

/* The depth of the deepest frame that will be drawn (wide enough). */
static uint32_t drawn_depth(const fl_draw *d, uint32_t node) {
    uint32_t best = d->f->nodes[node].depth;
    double small = 0;
    for (uint32_t i = d->first[node]; i < d->first[node + 1]; i++) {
        uint32_t k = d->kids[i];
        if (d->f->nodes[k].total * d->scale < d->o->min_frame_px) {
            small += d->f->nodes[k].total;
            continue;
        }
        uint32_t dd = drawn_depth(d, k);
        if (dd > best) best = dd;
    }
    if (small * d->scale >= 0.1 && d->f->nodes[node].depth + 1 > best)
        best = d->f->nodes[node].depth + 1;
    return best;
}

int mt_flame_write_svg(mt_flame *f, FILE *out, const mt_flame_options *opt) {
    if (!f || !out) return MT_PLOT_ERR_ARG;
    mt_flame_options o = {0};
    if (opt) o = *opt;
    if (!o.width_px) o.width_px = 1200;
    if (o.width_px < 200) o.width_px = 200;
    if (!o.frame_px) o.frame_px = 17;
    if (!o.title) o.title = "Flame graph";
    if (!(o.min_frame_px > 0)) o.min_frame_px = 1.0;
    fl_draw d = {0};
    d.f = f;
    d.o = &o;
    d.out = out;
    d.bytes = !o.unit || strcmp(o.unit, "bytes") == 0;
    /* Children lists: counting sort by parent, then names in order. */
    d.first = calloc((size_t)f->n + 1, sizeof *d.first);
    d.kids = malloc(((size_t)f->n + 1) * sizeof *d.kids);
    if (!d.first || !d.kids) {
        free(d.first);
        free(d.kids);
        return MT_PLOT_ERR_NOMEM;
    }
    for (uint32_t i = 1; i < f->n; i++) d.first[f->nodes[i].parent + 1]++;
    for (uint32_t i = 0; i < f->n; i++) d.first[i + 1] += d.first[i];
    uint32_t *fill = malloc(((size_t)f->n + 1) * sizeof *fill);
    if (!fill) {
        free(d.first);
        free(d.kids);
        return MT_PLOT_ERR_NOMEM;
    }
    memcpy(fill, d.first, ((size_t)f->n + 1) * sizeof *fill);
    for (uint32_t i = 1; i < f->n; i++) d.kids[fill[f->nodes[i].parent]++] = i;
    free(fill);
    kid_sort *ks = malloc(((size_t)f->n + 1) * sizeof *ks);
    if (!ks) {
        free(d.first);
        free(d.kids);
        return MT_PLOT_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < f->n; i++) {
        uint32_t a = d.first[i], m = d.first[i + 1] - a;
        if (m < 2) continue;
        for (uint32_t j = 0; j < m; j++) {
            ks[j].idx = d.kids[a + j];
            ks[j].name = f->arena + f->nodes[ks[j].idx].name;
        }
        qsort(ks, m, sizeof *ks, kid_cmp);
        for (uint32_t j = 0; j < m; j++) d.kids[a + j] = ks[j].idx;
    }
    free(ks);

    const double margin = 10, head = 52, foot = 24;
    double total = f->nodes[0].total;
    double plot_w = o.width_px - 2 * margin;
    d.scale = total > 0 ? plot_w / total : 0;
    d.frame_h = o.frame_px;
    d.x0 = margin;
    uint32_t depth = total > 0 ? drawn_depth(&d, 0) : 0;
    double H = head + (depth + 1) * d.frame_h + foot;
    double H_all = H + (o.banner ? 28 : 0); /* the banner pushes the rest down */
    d.y_root = o.icicle ? head : H - foot - d.frame_h;

    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
                 "width=\"%u\" height=\"", o.width_px);
    mt_pl_coord(out, H_all);
    fprintf(out, "\" viewBox=\"0 0 %u ", o.width_px);
    mt_pl_coord(out, H_all);
    fputs("\" font-family=\"Verdana, DejaVu Sans, Helvetica, sans-serif\">\n"
          "<style>\n"
          "text{font-size:11px;font-family:DejaVu Sans Mono,Menlo,monospace;"
          "fill:#000;pointer-events:none}\n"
          ".title{font-size:17px;font-family:Verdana,DejaVu Sans,sans-serif;"
          "font-weight:bold}\n"
          ".sub{font-size:12px;font-family:Verdana,DejaVu Sans,sans-serif;fill:#555}\n"
          ".banner rect{fill:#fde8e6;stroke:#c62828;stroke-width:1.5}\n"
          ".banner text{font-size:13px;font-family:Verdana,DejaVu Sans,sans-serif;"
          "font-weight:bold;fill:#b71c1c}\n"
          "rect{stroke:#fff;stroke-width:.5}\n"
          "g:hover>rect{stroke:#000;stroke-width:1}\n"
          "</style>\n"
          "<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
          "<stop stop-color=\"#eeeeee\" offset=\"5%\"/>"
          "<stop stop-color=\"#eeeeb0\" offset=\"95%\"/></linearGradient></defs>\n"
          "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"url(#bg)\" "
          "style=\"stroke:none\"/>\n", out);
    if (o.banner) { /* first: what follows may be wrong */
        fprintf(out, "<g class=\"banner\" id=\"mt-banner\"><rect x=\"4\" y=\"4\" "
                     "width=\"%u\" height=\"22\" rx=\"3\"/><text x=\"%u\" y=\"20\" "
                     "text-anchor=\"middle\">", o.width_px - 8, o.width_px / 2);
        mt_pl_xml(out, o.banner, o.width_px / 8);
        fputs("</text></g>\n<g transform=\"translate(0,28)\">\n", out);
    }
    fprintf(out, "<text x=\"%u\" y=\"24\" class=\"title\" text-anchor=\"middle\">",
            o.width_px / 2);
    mt_pl_xml(out, o.title, 120);
    fputs("</text>\n", out);
    fprintf(out, "<text x=\"%u\" y=\"42\" class=\"sub\" text-anchor=\"middle\">"
                 "total ", o.width_px / 2);
    put_amount(&d, total);
    fprintf(out, ", %u frames; hover a frame for its value</text>\n",
            f->n - 1);
    if (total > 0) {
        fputs("<g id=\"mt-flame\">\n", out);
        draw_node(&d, 0, d.x0);
        fputs("</g>\n", out);
    } else {
        fprintf(out, "<text x=\"%u\" y=\"80\" class=\"sub\" "
                     "text-anchor=\"middle\">no data</text>\n", o.width_px / 2);
    }
    if (o.banner) fputs("</g>\n", out);
    fputs("</svg>\n", out);
    free(d.first);
    free(d.kids);
    fflush(out);
    return ferror(out) ? MT_PLOT_ERR_IO : 0;
}
