/*
 * memtrace_plot_out.c - memtrace-plot's outputs that are not pictures of
 * the plotting library: what the HTML page shows beside them (the run's
 * numbers, the heap at its peak by location) and --json's description of
 * the file written.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "memtrace_plot_cmd.h"

/* ---- The HTML page ----------------------------------------------------------- */

/* ---- Source lines for the flame graph's tooltips ----------------------------- */

#define SRC_MAX 5000        /* distinct lines */
#define SRC_FILE_MAX (8u << 20)
#define SRC_TEXT 200        /* characters of a line kept */

typedef struct src_file {
    const char *path;
    char *text;        /* the file, NUL-terminated; NULL: unreadable */
    char **line;       /* line k (1-based) at line[k - 1] */
    uint32_t nlines;
} src_file;

static int src_key_cmp(const void *x, const void *y) {
    const mt_analysis_frame *p = x, *q = y;
    int c = strcmp(p->file, q->file);
    return c ? c : (p->line > q->line) - (p->line < q->line);
}

static void src_load(src_file *f) {
    FILE *in = fopen(f->path, "rb");
    if (!in) return;
    char *t = malloc(SRC_FILE_MAX + 1);
    size_t n = t ? fread(t, 1, SRC_FILE_MAX, in) : 0;
    fclose(in);
    if (!t) return;
    t[n] = '\0';
    uint32_t cap = 0;
    for (char *p = t; p < t + n;) {
        if (f->nlines == cap) {
            cap = cap ? 2 * cap : 256;
            char **q = realloc(f->line, cap * sizeof *q);
            if (!q) break;
            f->line = q;
        }
        f->line[f->nlines++] = p;
        char *e = memchr(p, '\n', (size_t)(t + n - p));
        if (!e) break;
        *e = '\0';
        p = e + 1;
    }
    f->text = t;
}

/* The text of every (file, line) of the sites' frames, as WHERE/TEXT pairs
 * for mt_page.sources (strings in *mem, freed by the caller). Best effort:
 * files that cannot be read (another machine's, <frozen ...>) give none. */
static const char **page_sources(const mt_analysis *a, int table, unsigned *npairs,
                                 char **mem) {
    *npairs = 0;
    *mem = NULL;
    uint32_t n;
    const mt_analysis_site *st = mt_analysis_sites(a, table, MT_ANALYSIS_BY_BYTES, &n);
    size_t nk = 0, cap = 0;
    mt_analysis_frame *k = NULL;
    for (uint32_t i = 0; i < n && nk < 16 * SRC_MAX; i++)
        for (uint32_t j = 0; j < st[i].depth; j++) {
            mt_analysis_frame fr;
            if (mt_analysis_site_frame(a, &st[i], j, &fr) < 0 || !fr.line || !fr.file[0] ||
                fr.file[0] == '<')
                continue;
            if (nk == cap) {
                cap = cap ? 2 * cap : 1024;
                mt_analysis_frame *q = realloc(k, cap * sizeof *q);
                if (!q) goto out;
                k = q;
            }
            k[nk++] = fr;
        }
    if (!nk) goto out;
    qsort(k, nk, sizeof *k, src_key_cmp);
    size_t m = 0;
    for (size_t i = 0; i < nk; i++)
        if (!m || src_key_cmp(&k[m - 1], &k[i])) k[m++] = k[i];
    if (m > SRC_MAX) m = SRC_MAX;
    const char **pairs = malloc(2 * m * sizeof *pairs);
    char *buf = malloc(m * (SRC_TEXT + 1 + 1100));
    if (!pairs || !buf) {
        free(pairs);
        free(buf);
        goto out;
    }
    src_file f = {0};
    unsigned np = 0;
    for (size_t i = 0; i < m; i++) {
        if (!f.path || strcmp(f.path, k[i].file)) {
            free(f.text);
            free(f.line);
            f = (src_file){k[i].file, NULL, NULL, 0};
            src_load(&f);
        }
        if (!f.text || k[i].line > f.nlines) continue;
        char *where = buf + i * (SRC_TEXT + 1 + 1100), *text = where + 1100;
        snprintf(where, 1100, "%s:%u", k[i].file, (unsigned)k[i].line);
        const char *l = f.line[k[i].line - 1];
        while (*l == ' ' || *l == '\t') l++;
        snprintf(text, SRC_TEXT + 1, "%s", l);
        size_t tl = strlen(text);
        if (tl && text[tl - 1] == '\r') text[tl - 1] = '\0';
        pairs[2 * np] = where;
        pairs[2 * np + 1] = text;
        np++;
    }
    free(f.text);
    free(f.line);
    free(k);
    *npairs = np;
    *mem = buf;
    return pairs;
out:
    free(k);
    return NULL;
}

/* The heap at its peak by location (function, line) for the page's table:
 * own bytes and blocks where the location allocated (the innermost frame),
 * total bytes of the stacks that pass through it (once per stack). */
typedef struct loc_ent {
    uint64_t key;  /* fid << 32 | line */
    uint32_t site; /* index in the table */
    int own;       /* the innermost frame */
} loc_ent;

static int cmp_loc(const void *x, const void *y) {
    const loc_ent *p = x, *q = y;
    if (p->key != q->key) return p->key < q->key ? -1 : 1;
    if (p->site != q->site) return p->site < q->site ? -1 : 1;
    return q->own - p->own;
}

typedef struct loc_row {
    uint64_t key;
    double own, total, blocks;
} loc_row;

static int cmp_row(const void *x, const void *y) {
    const loc_row *p = x, *q = y;
    if (p->own != q->own) return p->own > q->own ? -1 : 1;
    if (p->total != q->total) return p->total > q->total ? -1 : 1;
    return (p->key > q->key) - (p->key < q->key);
}

#define LOC_ROWS 500

/* Fills t (its strings in *strs, its keys in *keys, freed by the caller);
 * 0, or -1 when out of memory. t->nrows is 0 without allocations. */
static int by_location(const mt_analysis *a, mt_page_table *t, char **strs, double **keys,
                       const char ***cells) {
    static const char *const cols[] = {"location", "own bytes", "total bytes", "own blocks"};
    enum { NC = 4 };
    memset(t, 0, sizeof *t);
    *strs = NULL;
    *keys = NULL;
    *cells = NULL;
    uint32_t n;
    const mt_analysis_site *st = mt_analysis_sites(a, MT_ANALYSIS_SITES_PEAK,
                                                   MT_ANALYSIS_BY_BYTES, &n);
    size_t ne = 0, cap = 0;
    loc_ent *e = NULL;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < st[i].depth; k++) {
            mt_analysis_frame fr;
            if (mt_analysis_site_frame(a, &st[i], k, &fr) < 0) continue;
            if (ne == cap) {
                cap = cap ? 2 * cap : 4096;
                loc_ent *q = realloc(e, cap * sizeof *q);
                if (!q) {
                    free(e);
                    return -1;
                }
                e = q;
            }
            e[ne++] = (loc_ent){(uint64_t)fr.fid << 32 | fr.line, i, k + 1 == st[i].depth};
        }
    if (ne) qsort(e, ne, sizeof *e, cmp_loc);
    loc_row *rows = ne ? malloc(ne * sizeof *rows) : NULL;
    size_t nr = 0;
    for (size_t i = 0; i < ne; i++) {
        if (!nr || rows[nr - 1].key != e[i].key) rows[nr++] = (loc_row){e[i].key, 0, 0, 0};
        loc_row *r = &rows[nr - 1];
        int again = i && e[i - 1].key == e[i].key && e[i - 1].site == e[i].site;
        if (!again) r->total += (double)st[e[i].site].bytes;
        if (e[i].own && !(again && e[i - 1].own)) {
            r->own += (double)st[e[i].site].bytes;
            r->blocks += (double)st[e[i].site].count;
        }
    }
    free(e);
    if (nr) qsort(rows, nr, sizeof *rows, cmp_row);
    if (nr > LOC_ROWS) nr = LOC_ROWS;
    char *sb = malloc(nr * NC * 600 + 1);
    double *kb = malloc((nr * NC + 1) * sizeof *kb);
    const char **cb = malloc((nr * NC + 1) * sizeof *cb);
    if ((nr && !rows) || !sb || !kb || !cb) {
        free(rows);
        free(sb);
        free(kb);
        free(cb);
        return -1;
    }
    for (size_t r = 0; r < nr; r++) {
        uint32_t fid = (uint32_t)(rows[r].key >> 32), line = (uint32_t)rows[r].key;
        const mt_function *fn = mt_analysis_site_function(a, fid);
        char *c = sb + r * NC * 600;
        if (fn && fn->qualname && *fn->qualname)
            snprintf(c, 600, "%s (%s:%u)", fn->qualname, fn->file ? fn->file : "?", line);
        else
            snprintf(c, 600, "<fn#%u> (?:%u)", fid, line);
        mt_plot_fmt_bytes(c + 600, rows[r].own);
        mt_plot_fmt_bytes(c + 1200, rows[r].total);
        snprintf(c + 1800, 600, "%.0f", rows[r].blocks);
        double v[NC] = {NAN, rows[r].own, rows[r].total, rows[r].blocks};
        for (int k = 0; k < NC; k++) {
            cb[r * NC + (size_t)k] = c + 600 * k;
            kb[r * NC + (size_t)k] = v[k];
        }
    }
    free(rows);
    t->columns = cols;
    t->ncolumns = NC;
    t->cells = cb;
    t->keys = kb;
    t->nrows = (unsigned)nr;
    *strs = sb;
    *keys = kb;
    *cells = cb;
    return 0;
}

/* The page (mt_page_write): the run(s) in numbers, the timeline, the flame
 * graph, the heap at its peak by location. */
int plot_write_html(FILE *f, const options *o, mt_plot *plot, mt_flame *flame,
                    mt_tprof *tprof, const char *title, const char *sub,
                    const char *flame_what, mt_analysis **an, char *const *paths, int nfiles) {
    static const char *const cols[] = {"trace", "duration", "peak RSS", "at", "heap peak",
                                       "heap at end", "lost events"};
    enum { NC = sizeof cols / sizeof cols[0] };
    char (*buf)[64] = calloc((size_t)nfiles * NC, sizeof *buf);
    const char **cells = calloc((size_t)nfiles * NC, sizeof *cells);
    if (!buf || !cells) {
        free(buf);
        free(cells);
        return MT_PLOT_ERR_NOMEM;
    }
    for (int i = 0; i < nfiles; i++) {
        const mt_analysis_summary *s = mt_analysis_summary_get(an[i]);
        const mt_analysis_heap *h = mt_analysis_heap_get(an[i]);
        char (*c)[64] = buf + (size_t)i * NC, b[48];
        snprintf(c[0], sizeof c[0], "%s", base_name(paths[i]));
        mt_plot_fmt_seconds(c[1], mt_analysis_seconds(an[i], s->t_last));
        if (s->has_rss) {
            mt_plot_fmt_bytes(c[2], (double)s->rss_peak);
            mt_plot_fmt_seconds(c[3], mt_analysis_seconds(an[i], s->t_peak));
        } else {
            strcpy(c[2], "-");
            strcpy(c[3], "-");
        }
        if (h->has_allocs) {
            snprintf(c[4], sizeof c[4], "%s%s", h->sample_bytes > 1 ? "~" : "",
                     mt_plot_fmt_bytes(b, (double)h->peak_bytes));
            snprintf(c[5], sizeof c[5], "%s%s", h->sample_bytes > 1 ? "~" : "",
                     mt_plot_fmt_bytes(b, (double)h->total.end_bytes));
        } else {
            strcpy(c[4], "no allocation records");
            c[5][0] = '\0';
        }
        snprintf(c[6], sizeof c[6], "%s%llu", s->lost_events ? "!" : "",
                 (unsigned long long)s->lost_events);
        for (int k = 0; k < NC; k++) cells[(size_t)i * NC + (size_t)k] = c[k];
    }
    char ftitle[1200], footer[200];
    snprintf(ftitle, sizeof ftitle, "%.*s", (int)(strlen(flame_what) - 2), flame_what);
    snprintf(footer, sizeof footer,
             "Written by memtrace-plot %s. This page is self-contained: it loads nothing "
             "from the network.", MT_LIBRARY_VERSION);
    mt_page pg = {0};
    pg.title = o->title ? o->title : title + (o->flame ? strlen(flame_what) : 0);
    pg.subtitle = sub;
    pg.columns = cols;
    pg.ncolumns = NC;
    pg.cells = cells;
    pg.nrows = (unsigned)nfiles;
    pg.timeline = plot;
    pg.timeline_width = o->width;
    pg.timeline_height = o->height;
    pg.flame = flame;
    pg.flame_title = ftitle;
    pg.flame_unit = o->weight == W_RSS || o->weight >= W_ALLOC ? "bytes" : NULL;
    pg.flame_first = o->flame;
    static const char *const wn[] = {"", "rss", "alloc", "peak", "leak"};
    pg.tprof = tprof;
    pg.tprof_weight = wn[o->weight];
    if (tprof) {
        pg.flame_title = "Memory by stack";
        pg.flame_unit = "bytes";
    }
    char *srcmem = NULL;
    const char **src = NULL;
    if ((tprof || o->weight != W_RSS) && mt_analysis_heap_get(an[0])->has_allocs) {
        int table = tprof                 ? MT_ANALYSIS_SITES_ALLOCS
                    : o->weight == W_PEAK ? MT_ANALYSIS_SITES_PEAK
                    : o->weight == W_LEAK ? MT_ANALYSIS_SITES_LEAKS
                                          : MT_ANALYSIS_SITES_ALLOCS;
        src = page_sources(an[0], table, &pg.nsources, &srcmem);
        pg.sources = src;
    }
    pg.footer = footer;
    mt_page_table loc;
    char *lstr = NULL, lnote[700];
    double *lkeys = NULL;
    const char **lcells = NULL;
    if (!tprof && mt_analysis_heap_get(an[0])->has_allocs) {
        if (by_location(an[0], &loc, &lstr, &lkeys, &lcells) < 0) {
            free(buf);
            free(cells);
            return MT_PLOT_ERR_NOMEM;
        }
        loc.title = "Heap at its peak by location";
        snprintf(lnote, sizeof lnote,
                 "%s%s%sOwn: allocated at that line (the innermost frame); total: by the "
                 "stacks that pass through it. %u locations, greatest own first (at most %d); "
                 "click a heading to sort.%s",
                 nfiles > 1 ? "The first trace, " : "", nfiles > 1 ? base_name(paths[0]) : "",
                 nfiles > 1 ? ". " : "", loc.nrows, LOC_ROWS,
                 mt_analysis_heap_get(an[0])->sample_bytes > 1
                     ? " Sampled trace: estimates." : "");
        loc.note = lnote;
        if (loc.nrows) {
            pg.tables = &loc;
            pg.ntables = 1;
        }
    }
    int rc = mt_page_write(f, &pg);
    free(src);
    free(srcmem);
    free(lstr);
    free(lkeys);
    free(lcells);
    free(buf);
    free(cells);
    return rc;
}

/* --json: what was written, on standard output. */
void plot_describe_json(const options *o, char *const *paths, int nfiles, mt_analysis **an,
                        const mt_flame *flame) {
    struct stat st;
    mt_out *out = &mt_stdout;
    MT_OUT_LIT(out, "{\"schema\":\"memtrace-plot/1\",");
    mt_out_json_kstr(out, "output", o->out);
    MT_OUT_LIT(out, ",");
    mt_out_json_kstr(out, "format", format_names[o->format]);
    MT_OUT_LIT(out, ",");
    mt_out_json_ku(out, "bytes", stat(o->out, &st) == 0 ? (uint64_t)st.st_size : 0);
    MT_OUT_LIT(out, ",");
    mt_out_json_kstr(out, "view", o->format == F_HTML ? "timeline+flame"
                                  : o->flame           ? "flame"
                                                       : "timeline");
    if (flame) {
        static const char *const wn[] = {"", "rss", "alloc", "peak", "leak"};
        MT_OUT_LIT(out, ",");
        mt_out_json_kstr(out, "flame_weight", wn[o->weight]);
        MT_OUT_LIT(out, ",\"flame_total\":");
        mt_out_u64(out, (uint64_t)mt_flame_total(flame));
    }
    MT_OUT_LIT(out, ",\"traces\":[");
    for (int i = 0; i < nfiles; i++) {
        const mt_analysis_summary *s = mt_analysis_summary_get(an[i]);
        if (i) mt_out_putc(out, ',');
        mt_out_putc(out, '{');
        mt_out_json_kstr(out, "file", paths[i]);
        MT_OUT_LIT(out, ",\"duration_s\":");
        char b[64];
        snprintf(b, sizeof b, "%.9f", mt_analysis_seconds(an[i], s->t_last));
        mt_out_puts(out, b);
        MT_OUT_LIT(out, ",");
        mt_out_json_ku(out, "rss_peak_bytes", s->rss_peak);
        MT_OUT_LIT(out, ",");
        mt_out_json_ku(out, "lost_events", s->lost_events);
        mt_out_putc(out, '}');
    }
    MT_OUT_LIT(out, "]}\n");
    mt_out_finish(out);
}


/* ---- The page's profile over time ---------------------------------------- */

/* The profile's stack of an allocation site: its frames "name" at
 * "file:line", outermost first (no frame: "(no Python frame)"); 0 when
 * --function/--file leave it out. */
static uint32_t site_stack(mt_tprof *tp, const options *o, const mt_analysis *a, uint32_t node,
                           uint32_t depth, mt_analysis_frame **buf, uint32_t *cap) {
    mt_analysis_site site;
    if (mt_analysis_node_site(a, node, &site) < 0) return 0;
    if (depth + 1 > *cap) {
        *cap = depth + 64;
        mt_analysis_frame *b = realloc(*buf, *cap * sizeof *b);
        if (!b) mt_cli_die(1, "out of memory");
        *buf = b;
    }
    mt_analysis_site_fill(a, &site, *buf);
    if (o->nfuncs || o->nfiles) {
        int hit = 0;
        for (uint32_t j = 0; j < site.depth && !hit; j++) {
            const mt_function *fn = mt_analysis_site_function(a, (*buf)[j].fid);
            hit = mt_analysis_focus_match(o->funcs, o->nfuncs, o->files, o->nfiles,
                                          (*buf)[j].qualname, fn ? fn->module : NULL,
                                          (*buf)[j].file);
        }
        if (!hit) return 0;
    }
    int64_t s = 0;
    char name[64], where[1100];
    for (uint32_t j = 0; j < site.depth && s >= 0; j++) {
        const mt_analysis_frame *f = &(*buf)[j];
        if (!f->qualname[0]) snprintf(name, sizeof name, "<fn#%u>", (unsigned)f->fid);
        snprintf(where, sizeof where, "%s:%u", f->file[0] ? f->file : "?", (unsigned)f->line);
        s = mt_tprof_stack(tp, (uint32_t)s, f->qualname[0] ? f->qualname : name, where);
    }
    if (!site.depth) s = mt_tprof_stack(tp, 0, "(no Python frame)", NULL);
    if (s < 0) mt_cli_die(1, "%s", mt_plot_strerror((int)s));
    return (uint32_t)s;
}

mt_tprof *plot_page_tprof(const options *o, const mt_analysis *a, const char *path,
                          uint64_t *t0, uint64_t *span, uint32_t *n) {
    const mt_analysis_summary *sum = mt_analysis_summary_get(a);
    uint64_t nl, w0, w1;
    uint32_t ns;
    const mt_analysis_lifetime *L = mt_analysis_lifetimes(a, &nl, &ns, &w0, &w1);
    if (!ns) { /* no allocations: the same slices of the window, for growth */
        ns = PAGE_SLICES;
        w0 = sum->from > sum->t_first ? sum->from : sum->t_first;
        w1 = sum->to < sum->t_last ? sum->to : sum->t_last;
        if (w1 < w0) w1 = w0;
    }
    *t0 = w0;
    *span = w1 - w0 + 1;
    *n = ns;
    mt_tprof *tp;
    int rc = mt_tprof_new(&tp, ns, mt_analysis_seconds(a, w0), mt_analysis_seconds(a, w1 + 1));
    if (rc < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(rc));
    uint32_t nt;
    const mt_analysis_thread *th = mt_analysis_threads(a, &nt);
    for (uint32_t k = 0; k < nt; k++)
        if ((rc = mt_tprof_thread(tp, th[k].tid, th[k].name[0] ? th[k].name : "thread",
                                  th[k].selected)) < 0)
            mt_cli_die(1, "%s: %s", path, mt_plot_strerror(rc));
    /* sites: node -> stack + 1 (0: not yet; UINT32_MAX: left out) */
    uint32_t maxnode = 0;
    for (uint64_t i = 0; i < nl; i++)
        if (L[i].node > maxnode) maxnode = L[i].node;
    uint32_t *memo = nl ? calloc((size_t)maxnode + 1, sizeof *memo) : NULL;
    if (nl && !memo) mt_cli_die(1, "out of memory");
    mt_analysis_frame *buf = NULL;
    uint32_t cap = 0;
    for (uint64_t i = 0; i < nl; i++) {
        const mt_analysis_lifetime *x = &L[i];
        if (!memo[x->node]) {
            uint32_t s = site_stack(tp, o, a, x->node, x->depth, &buf, &cap);
            memo[x->node] = s ? s + 1 : UINT32_MAX;
        }
        if (memo[x->node] == UINT32_MAX) continue;
        uint32_t s = memo[x->node] - 1;
        rc = x->flags & MT_LIFETIME_PEAK
                 ? mt_tprof_add(tp, MT_TPROF_AT_PEAK, s, x->tid, x->born, 0, 0, x->count,
                                (double)x->bytes)
                 : mt_tprof_add(tp, MT_TPROF_LIFE, s, x->tid, x->born, x->died,
                                x->flags & MT_LIFETIME_TEMP ? MT_TPROF_TEMP : 0, x->count,
                                (double)x->bytes);
        if (rc < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(rc));
    }
    free(memo);
    free(buf);
    const mt_analysis_heap *h = mt_analysis_heap_get(a);
    if (h->has_allocs && h->peak_bytes) mt_tprof_peak(tp, mt_analysis_seconds(a, h->t_peak));
    uint64_t nr;
    const mt_analysis_sample *rss = mt_analysis_rss_series(a, &nr);
    for (uint64_t i = 0; i < nr; i++) {
        if (rss[i].t < w0 || rss[i].t > w1) continue;
        uint32_t k = 1 + (uint32_t)((unsigned __int128)(rss[i].t - w0) * ns / *span);
        mt_tprof_rss(tp, k, (double)rss[i].rss_bytes);
    }
    return tp;
}
