/*
 * mt_plot.h - memtrace's plotting library: plain series in, text out.
 *
 * This header is the manual of libmemtrace-plot. The library draws two kinds
 * of picture and knows nothing of the trace format: its callers (memtrace-plot,
 * which reads traces through analyze/) hand it numbers and names.
 *
 *   1. A timeline (mt_plot): value-over-time series (RSS bytes, Python heap
 *      bytes, ...), markers (labelled instants) and call spans (a function ran
 *      from start to end at some stack depth). Written as a self-contained SVG
 *      (series on top, the call stack beneath as nested bands like a flame
 *      chart, tooltips in SVG <title>) or as a gnuplot script with inline data
 *      (series and markers).
 *   2. A flame graph (mt_flame): stacks with values (bytes), given one by one
 *      or as folded lines "a;b;c 123". Written as an SVG flame graph.
 *   3. A profile over time (mt_tprof): weights by stack, thread and time
 *      slice (when each block lived, growth per slice), written as the data
 *      of a page (mt_page) whose script draws the flame graph and a table
 *      for any window, thread and weight, or as a speedscope file.
 *
 * Big inputs, bounded memory. Both objects reduce as they are fed, so a
 * caller can stream a hundred million points through them:
 *
 *   - A series keeps, per time bucket, its first, last, minimum and maximum
 *     point. There are 2 x plot-width buckets; when the x-range is not given
 *     the buckets double in width as later times arrive (merging pairs), so
 *     a bucket always ends up at most one pixel wide. Every peak and trough
 *     survives into the output exactly (as the min/max of its bucket).
 *   - A span at least one bucket wide is kept as it is; narrower spans are
 *     folded into one "(n calls)" cell per lane, depth and bucket. Adjacent
 *     cells are drawn as one band.
 *   - A flame graph is a tree: each distinct stack costs one node per frame.
 *
 * Coordinates (for tools and tests that read the SVG back). The timeline SVG
 * has one <g id="mt-plot-area"> whose attributes give the mapping:
 *     data-x0, data-x1   pixel x of the left and right edge of the plot area
 *     data-y0, data-y1   pixel y of its bottom and top edge
 *     data-t0, data-t1   the times (seconds) at x0 and x1
 *     data-v0, data-v1   the values at y0 and y1
 * so a point (x, y) of a series <polyline> is the sample
 *     t = t0 + (x - x0) * (t1 - t0) / (x1 - x0)
 *     v = v0 + (y - y0) * (v1 - v0) / (y1 - y0)
 * Coordinates are printed with 2 decimals: a value is exact to 1/100 pixel.
 * Series are <polyline class="series" data-name="..." points="x,y x,y ...">,
 * markers are <g class="marker"> holding a <line> and a <text>, spans are
 * <rect class="span"> and merged cells <rect class="merged">, each with a
 * <title> tooltip.
 *
 * Example: a timeline
 *
 *     mt_plot *p;
 *     mt_plot_options o;
 *     mt_plot_options_init(&o);                 // 1200 x 800, auto x-range
 *     o.title = "run.trace";
 *     int rc = mt_plot_new(&p, &o);
 *     if (rc < 0) { fprintf(stderr, "%s\n", mt_plot_strerror(rc)); ... }
 *     int rss = mt_plot_series_add(p, "RSS", MT_PLOT_UNIT_BYTES);
 *     int main_lane = mt_plot_lane_add(p, "main thread");
 *     int f = mt_plot_function(p, "work", "app.py", 12);
 *     mt_plot_point(p, rss, 0.0, 10e6);
 *     mt_plot_point(p, rss, 1.5, 80e6);
 *     mt_plot_marker(p, 0.7, "load done");
 *     mt_plot_span s = { .start_s = 0.1, .end_s = 1.4, .depth = 0,
 *                        .lane = main_lane, .func = f,
 *                        .rss_start_bytes = 10e6, .rss_end_bytes = 80e6 };
 *     mt_plot_span_add(p, &s);
 *     rc = mt_plot_write_svg(p, stdout);        // or mt_plot_write_gnuplot
 *     mt_plot_free(p);
 *
 * Example: a flame graph
 *
 *     mt_flame *fl;
 *     mt_flame_new(&fl);
 *     const char *stack[] = { "main", "load", "parse" };  // outermost first
 *     mt_flame_add(fl, stack, 3, 4096);
 *     mt_flame_add_folded(fl, "main;save 1024", (size_t)-1);
 *     mt_flame_write_svg(fl, stdout, NULL);
 *     mt_flame_free(fl);
 *
 * Output is deterministic: the same calls give the same bytes. Text is UTF-8;
 * it is XML-escaped (and control characters replaced) on output, so any
 * bytes are safe to pass. Nothing here is thread-safe: one object, one
 * thread at a time.
 *
 * Errors: functions return 0 (or an id >= 0) on success and a negative
 * MT_PLOT_ERR_* code on failure; mt_plot_strerror() names it. The values
 * never change.
 */
#ifndef MT_PLOT_H
#define MT_PLOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------- */

enum {
    MT_PLOT_OK = 0,
    MT_PLOT_ERR_NOMEM = -1, /* out of memory */
    MT_PLOT_ERR_ARG = -2,   /* an invalid argument (a bug in the caller) */
    MT_PLOT_ERR_IO = -3,    /* writing the output failed; errno says why */
    MT_PLOT_ERR_PARSE = -4, /* a folded-stack line is malformed */
    MT_PLOT_ERR_LIMIT = -5, /* too many series, lanes or functions */
};

/* The name of an error code, e.g. "out of memory"; never NULL. */
const char *mt_plot_strerror(int code);

/* ---- Timeline ----------------------------------------------------------- */

typedef struct mt_plot mt_plot;

typedef struct mt_plot_options {
    unsigned width_px, height_px; /* whole picture; >= 200 x 150 */
    const char *title;            /* NULL: none; copied */
    const char *subtitle;         /* NULL: none; a second, smaller line */
    const char *banner;           /* NULL: none; a warning drawn above all
                                     else, in a red box (SVG), or the first
                                     label (gnuplot); copied */
    /* The x-range in seconds. from_s defaults to 0; points and spans before
     * it are cut. to_s <= from_s (the default) means "up to the last time
     * seen": the buckets then grow as later times arrive. */
    double from_s, to_s;
    int y_from_zero;    /* 1: the value axis starts at 0; 0: fits the data */
    unsigned max_depth; /* stack rows drawn per lane; deeper spans are
                           dropped (and counted in the chart's note). 0: 64 */
    double min_span_px; /* spans narrower than this are merged; 0: 1.0 */
} mt_plot_options;

/* 1200 x 800, no title, from 0 up to the last time seen, fit the data, 64
 * stack rows, merge spans under 1 px. */
void mt_plot_options_init(mt_plot_options *o);

/* A new empty timeline. opt NULL means the defaults. On failure *p is NULL
 * and MT_PLOT_ERR_NOMEM or MT_PLOT_ERR_ARG (a size too small) is returned. */
int mt_plot_new(mt_plot **p, const mt_plot_options *opt);
void mt_plot_free(mt_plot *p); /* accepts NULL */

enum { /* what a series' values are: decides the axis labels */
    MT_PLOT_UNIT_NONE = 0,  /* plain numbers: 1.5k, 2M */
    MT_PLOT_UNIT_BYTES = 1, /* bytes: 512 B, 1.5 KiB, 12 MiB, 2 GiB */
};
#define MT_PLOT_MAX_SERIES 32

/* Add a series named name (shown in the legend; copied). All series share
 * one value axis, whose unit is that of the first series. Returns the
 * series id (0, 1, ...) or MT_PLOT_ERR_LIMIT past MT_PLOT_MAX_SERIES. */
int mt_plot_series_add(mt_plot *p, const char *name, int unit);

/* One point of a series: value at time_s (seconds). Points may come in any
 * order; NaN and infinite values are ignored. Returns 0, or MT_PLOT_ERR_ARG
 * for an unknown series. */
int mt_plot_point(mt_plot *p, int series, double time_s, double value);

/* A marker: a labelled vertical line at time_s. label is copied. */
int mt_plot_marker(mt_plot *p, double time_s, const char *label);

/* A lane is one call stack drawn beneath the series: a thread, or one of
 * several traces. name (copied) labels it. Returns the lane id. */
int mt_plot_lane_add(mt_plot *p, const char *name);

/* Register a function for spans: its name, and its file and line (file
 * may be NULL, line 0 if unknown). The same three values give the same id,
 * so callers may call this per span, though mapping their own ids once is
 * faster. The colour of a function is a hash of its name. Returns the
 * function id or a negative code. */
int mt_plot_function(mt_plot *p, const char *name, const char *file,
                     uint32_t line);

/* A call: func ran from start_s to end_s at depth (0 = outermost) in lane.
 * RSS at start and end (bytes, NaN when unknown) go into its tooltip. At
 * one depth of one lane spans should not overlap. Spans may come in any
 * order (inner calls usually end first). Returns 0 or a negative code. */
typedef struct mt_plot_span {
    double start_s, end_s;
    uint32_t depth;
    int lane, func;
    double rss_start_bytes, rss_end_bytes;
} mt_plot_span;
int mt_plot_span_add(mt_plot *p, const mt_plot_span *s);

/* Write the timeline as a standalone SVG document to f. Returns 0, or
 * MT_PLOT_ERR_IO when f reports an error. The object can still be fed and
 * written again afterwards. An empty timeline gives a valid SVG that says
 * "no data". */
int mt_plot_write_svg(mt_plot *p, FILE *f);

/* Write a gnuplot script (gnuplot 5) drawing the series and the markers,
 * the reduced data inline ($S0 << EOD ... EOD, one block per series: time
 * in the axis unit, value in the axis unit). term selects the output:
 *   NULL            no "set terminal": gnuplot's default, with "pause
 *                   mouse close" at the end when interactive
 *   "png", "svg"    set terminal pngcairo/png or svg; set output out_path
 * Returns 0, MT_PLOT_ERR_ARG (term unknown, or no out_path for a
 * terminal) or MT_PLOT_ERR_IO. */
int mt_plot_write_gnuplot(mt_plot *p, FILE *f, const char *term,
                          const char *out_path);

/* Write the data behind the picture as one JSON object, for other tools:
 *   {"title": str|null, "t0_s": num, "t1_s": num,
 *    "series": [{"name": str, "unit": "bytes"|"", "points": [[t_s, v], ...]}],
 *    "markers": [{"t_s": num, "label": str}],
 *    "lanes": [{"name": str, "rows": n}]}
 * Points are reduced as for the SVG (per pixel column: first, lowest,
 * highest, last), so every peak and trough is there. No newline after it.
 * Returns 0, MT_PLOT_ERR_NOMEM or MT_PLOT_ERR_IO. */
int mt_plot_write_json(mt_plot *p, FILE *f);

/* What was fed and kept, for messages and tests. */
typedef struct mt_plot_stats {
    uint64_t points, points_cut;   /* given; outside the x-range */
    uint64_t spans, spans_merged;  /* given; folded into merged cells */
    uint64_t spans_too_deep;       /* deeper than max_depth */
    uint64_t markers;
    double t_min_s, t_max_s;       /* least and greatest time seen */
    double bucket_s;               /* current bucket width */
} mt_plot_stats;
void mt_plot_stats_get(const mt_plot *p, mt_plot_stats *out);

/* ---- Flame graph -------------------------------------------------------- */

typedef struct mt_flame mt_flame;

/* A frame named "NAME\x1fWHERE" (WHERE: "file:line") is labelled NAME
 * everywhere, WHERE shown in tooltips, written "NAME (WHERE)" in collapsed
 * stacks, as file and line in speedscope and as "where" in JSON. */
#define MT_FLAME_LOC_SEP '\x1f'
#define MT_PAGE_LOC_SEP MT_FLAME_LOC_SEP

int mt_flame_new(mt_flame **f);  /* NOMEM on failure; *f is then NULL */
void mt_flame_free(mt_flame *f); /* accepts NULL */

/* Add value (bytes; > 0, else ignored) to the stack frames[0..n), outermost
 * first. Frame names are copied. n == 0 adds to the root itself. */
int mt_flame_add(mt_flame *f, const char *const *frames, size_t n,
                 double value);

/* One folded line: "frame;frame;frame value" (Brendan Gregg's format; the
 * value is the last space-separated field, a non-negative number). len is
 * the line's length, or (size_t)-1 for a NUL-terminated line; a trailing
 * newline is allowed. Blank lines are ignored. Returns 0 or
 * MT_PLOT_ERR_PARSE. */
int mt_flame_add_folded(mt_flame *f, const char *line, size_t len);

/* Read folded lines from a stream until its end. Returns 0, or
 * MT_PLOT_ERR_PARSE with *bad_line (if not NULL) set to the 1-based number
 * of the first malformed line, or MT_PLOT_ERR_IO. */
int mt_flame_read_folded(mt_flame *f, FILE *in, uint64_t *bad_line);

typedef struct mt_flame_options {
    unsigned width_px;   /* 0: 1200 */
    unsigned frame_px;   /* height of a frame; 0: 17 */
    const char *title;   /* NULL: "Flame graph" */
    const char *banner;  /* NULL: none; a warning in a red box at the top */
    const char *unit;    /* NULL or "bytes": byte units; else plain numbers
                            followed by this word ("samples") */
    int icicle;          /* 1: root at the top; 0: root at the bottom */
    double min_frame_px; /* siblings narrower than this are merged into one
                            "(n small frames)" box; 0: 1.0 */
} mt_flame_options;

/* Write the flame graph as a standalone SVG. opt may be NULL. A frame's
 * tooltip gives its name, its value and its share of the total. Returns 0
 * or MT_PLOT_ERR_IO. */
int mt_flame_write_svg(mt_flame *f, FILE *out, const mt_flame_options *opt);

/* Write the tree as one JSON object: {"total": num, "nodes": [{"name": str,
 * ("where": "file:line" when the frame has one,) "parent": i, "depth": d,
 * "total": num}, ...]}: node 0 is the root ("all",
 * parent -1), a node's parent comes before it; total is the node's value
 * with everything called from it. No newline after it. Returns 0 or
 * MT_PLOT_ERR_IO. */
int mt_flame_write_json(const mt_flame *f, FILE *out);

/* Write the tree as collapsed stacks, the input of flamegraph.pl and
 * inferno: one line per stack with a value of its own, "a;b;c VALUE\n"
 * (outermost first, VALUE rounded to an integer; ';' in a name becomes
 * ':', control characters spaces). Returns 0, MT_PLOT_ERR_NOMEM or
 * MT_PLOT_ERR_IO. */
int mt_flame_write_folded(const mt_flame *f, FILE *out);

/* Write the tree as a speedscope file (https://www.speedscope.app; the
 * format of speedscope's src/lib/file-format-spec.ts): one "sampled"
 * profile named name, each stack with a value of its own one sample
 * weighted by that value, in unit ("bytes" or "none"); exporter names the
 * program. Returns 0, MT_PLOT_ERR_NOMEM or MT_PLOT_ERR_IO. */
int mt_flame_write_speedscope(const mt_flame *f, FILE *out, const char *name,
                              const char *unit, const char *exporter);

/* Total value and number of distinct frames (tree nodes). */
double mt_flame_total(const mt_flame *f);
uint64_t mt_flame_nodes(const mt_flame *f);

/* ---- A profile over time ------------------------------------------------ */

/* mt_tprof (mt_plot_tprof.c): weights by stack, thread and time slice, so
 * that the page can show a flame graph and a table for any window of the
 * run and any threads, computed in the browser. The extent [t0, t1]
 * (seconds) is cut into N equal slices numbered 1..N; 0 means "before the
 * extent" and N + 1 "after it, or never". Three kinds of record:
 *
 *   MT_TPROF_LIFE     blocks of memory allocated in slice a, freed in slice
 *                     b (a <= b; b = N + 1: still live at the end), flag
 *                     MT_TPROF_TEMP for temporaries. A window [s0, s1]
 *                     then has: allocated (a in it), temporaries, still
 *                     live at its end (a in it, b > s1), and the heap at
 *                     the end of each slice k (a <= k < b), so its peak to
 *                     one slice.
 *   MT_TPROF_AT_PEAK  blocks live at the exact peak (mt_tprof_peak), a the
 *                     slice they were allocated in: the whole run's peak.
 *   MT_TPROF_GROWTH   a signed amount (RSS growth) in slice a.
 *
 * Stacks are interned frames under a parent (0: the root, an empty
 * stack), a frame being a name and where it is ("file:line", or "").
 * Records with equal (kind, stack, thread, a, b, flags) merge, so memory
 * grows with distinct records, not with the blocks or events fed. */
typedef struct mt_tprof mt_tprof;
enum { MT_TPROF_LIFE = 0, MT_TPROF_AT_PEAK = 1, MT_TPROF_GROWTH = 2 };
enum { MT_TPROF_TEMP = 1 };

int mt_tprof_new(mt_tprof **p, uint32_t nslices, double t0_s, double t1_s);
void mt_tprof_free(mt_tprof *p); /* accepts NULL */
/* A thread's name, and whether the page selects it at first; returns its
 * index. Records of an undeclared tid declare it (no name, selected). */
int mt_tprof_thread(mt_tprof *p, uint32_t tid, const char *name, int selected);
/* The stack of parent plus one frame (where may be NULL): its id (> 0). */
int64_t mt_tprof_stack(mt_tprof *p, uint32_t parent, const char *name, const char *where);
/* One record (see above); MT_PLOT_ERR_ARG for slices out of range. */
int mt_tprof_add(mt_tprof *p, int kind, uint32_t stack, uint32_t tid, uint32_t a, uint32_t b,
                 unsigned flags, double count, double bytes);
/* RSS in slice k (the greatest given is kept): the page draws it. */
int mt_tprof_rss(mt_tprof *p, uint32_t slice, double bytes);
/* The time of the peak the AT_PEAK records describe (seconds). */
void mt_tprof_peak(mt_tprof *p, double t_s);
/* The slice of time t (0, 1..N, N + 1). */
uint32_t mt_tprof_slice(const mt_tprof *p, double t_s);
uint64_t mt_tprof_records(const mt_tprof *p);
/* Reduce and write as JSON (the page's data; fields in mt_plot_tprof.c).
 * Stacks whose share of every measure (allocated, temporaries, live at the
 * end, at the peak, growth) is under min_share fold into a "(smaller
 * stacks)" frame under their nearest kept caller; then slices merge
 * pairwise until at most max_records remain (0: no limit). Once written,
 * p takes no more records. */
int mt_tprof_write_json(mt_tprof *p, FILE *f, double min_share, uint64_t max_records);
/* Write as a speedscope file (its file-format-spec.ts, "sampled" profiles
 * in bytes): for each weight with data (in this order: "peak", "leak",
 * "alloc", "temp", "rss"), one profile of every thread and, with several
 * threads, one per thread that has any; the whole extent, no stack
 * folded. name names the profiles; first is the weight whose every-thread
 * profile opens first. Once written, p takes no more records. */
int mt_tprof_write_speedscope(mt_tprof *p, FILE *f, const char *name, const char *first,
                              const char *exporter);

/* ---- A page ------------------------------------------------------------- */

/* One self-contained HTML page (mt_plot_page.c): a title, a summary table,
 * the timeline (its SVG in an iframe) and an interactive flame graph drawn
 * in the browser (zoom by click, search with highlight, "hide import
 * system"), in either order. Nothing is loaded from the network. */
/* A table of the page, sortable by a click on a heading: cells are text,
 * keys (optional, one per cell, NaN for none) what a column sorts by. */
typedef struct mt_page_table {
    const char *title;             /* its heading */
    const char *note;              /* NULL: none */
    const char *const *columns;
    unsigned ncolumns;
    const char *const *cells;      /* nrows x ncolumns, row by row */
    const double *keys;            /* NULL: sort by the text */
    unsigned nrows;
} mt_page_table;

typedef struct mt_page {
    const char *title;             /* the page's title and heading */
    const char *subtitle;          /* NULL: none */
    const char *const *columns;    /* the summary table: ncolumns headings, */
    unsigned ncolumns;             /* then nrows x ncolumns cells, row by row; */
    const char *const *cells;      /* a cell starting with '!' is a warning */
    unsigned nrows;
    mt_plot *timeline;             /* NULL: none */
    unsigned timeline_width, timeline_height;
    const mt_flame *flame;         /* NULL: none. A frame named "NAME\x1fWHERE"
                                      (MT_PAGE_LOC_SEP) shows NAME, and WHERE
                                      ("file:line") in its tooltip */
    const char *flame_title;       /* its heading */
    const char *flame_unit;        /* "bytes", or NULL for plain numbers */
    int flame_first;               /* the flame graph before the timeline */
    mt_tprof *tprof;               /* NULL: none. Else the flame graph and a
                                      table by location are computed in the
                                      browser from it, for the window dragged
                                      on a strip above them, the threads and
                                      the weight chosen (flame is then not
                                      used); written (reduced) by the page */
    const char *tprof_weight;      /* the weight shown first: "peak", "leak",
                                      "alloc", "temp" or "rss" */
    const char *const *sources;    /* nsources pairs: WHERE, the text of that
                                      line (shown in the tooltip) */
    unsigned nsources;
    const mt_page_table *tables;   /* after the pictures */
    unsigned ntables;
    const char *footer;            /* NULL: none */
} mt_page;


/* Write the page to f. Returns 0, MT_PLOT_ERR_NOMEM or MT_PLOT_ERR_IO. */
int mt_page_write(FILE *f, const mt_page *pg);

/* ---- Small helpers, shared with the command ----------------------------- */

/* A JSON string with its quotes: " \\ and control characters escaped,
 * invalid UTF-8 bytes replaced by U+FFFD, so any input gives valid JSON. */
void mt_plot_json_str(FILE *f, const char *s);
/* "512 B", "1.5 KiB", "12.0 MiB", "-3.2 GiB" into buf (>= 32 bytes);
 * returns buf. */
char *mt_plot_fmt_bytes(char *buf, double bytes);
/* A duration in seconds as "850 ns", "12.5 us", "1.20 ms", "3.00 s". */
char *mt_plot_fmt_seconds(char *buf, double s);

#ifdef __cplusplus
}
#endif
#endif /* MT_PLOT_H */
