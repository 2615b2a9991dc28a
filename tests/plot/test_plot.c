/*
 * test_plot.c - tests of libmemtrace-plot (plot/mt_plot.h).
 *
 *   test_plot              run the tests; prints "N passed, N failed" last
 *   test_plot --write DIR  write example pictures for tests/plot/run.sh
 *                          (xmllint, gnuplot, chromium): timeline.svg,
 *                          compare.svg, flame.svg, timeline.gp (renders to
 *                          DIR/timeline-gp.png), empty.svg, nasty.svg,
 *                          tprof.html (a page over an mt_tprof)
 *
 * MT_SEED=N reruns the randomized parts with another seed (it is printed).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_plot.h"

static int passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            printf(__VA_ARGS__);                                           \
            putchar('\n');                                                 \
        }                                                                  \
    } while (0)

static uint64_t rng_state;
static uint64_t rng(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The SVG of a timeline, in memory (malloc'd, NUL-terminated). */
static char *svg_of(mt_plot *p, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    int rc = mt_plot_write_svg(p, f);
    fclose(f);
    CHECK(rc == 0, "mt_plot_write_svg: %s", mt_plot_strerror(rc));
    if (len) *len = n;
    return buf;
}
static char *gnuplot_of(mt_plot *p, const char *term, const char *out) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    int rc = mt_plot_write_gnuplot(p, f, term, out);
    fclose(f);
    CHECK(rc == 0, "mt_plot_write_gnuplot: %s", mt_plot_strerror(rc));
    return buf;
}
static char *flame_svg_of(mt_flame *fl, const mt_flame_options *o) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    int rc = mt_flame_write_svg(fl, f, o);
    fclose(f);
    CHECK(rc == 0, "mt_flame_write_svg: %s", mt_plot_strerror(rc));
    return buf;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0, l = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += l) n++;
    return n;
}

static double attr(const char *svg, const char *name) {
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(svg, key);
    if (!p) return NAN;
    return strtod(p + strlen(key), NULL);
}

/* The plot area's mapping, as documented in mt_plot.h. */
typedef struct mapping {
    double x0, x1, y0, y1, t0, t1, v0, v1;
} mapping;
static mapping mapping_of(const char *svg) {
    const char *g = strstr(svg, "<g id=\"mt-plot-area\"");
    mapping m = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    if (!g) return m;
    m.x0 = attr(g, "data-x0"), m.x1 = attr(g, "data-x1");
    m.y0 = attr(g, "data-y0"), m.y1 = attr(g, "data-y1");
    m.t0 = attr(g, "data-t0"), m.t1 = attr(g, "data-t1");
    m.v0 = attr(g, "data-v0"), m.v1 = attr(g, "data-v1");
    return m;
}

/* Extremes of the points of the series polyline named name, mapped back. */
typedef struct extremes {
    size_t n;
    double vmin, vmax, t_at_min, t_at_max;
} extremes;
static extremes series_extremes(const char *svg, const char *name) {
    extremes e = {0, INFINITY, -INFINITY, NAN, NAN};
    mapping m = mapping_of(svg);
    char key[128];
    snprintf(key, sizeof key, "class=\"series\" data-name=\"%s\"", name);
    const char *p = strstr(svg, key);
    if (!p) return e;
    p = strstr(p, "points=\"");
    if (!p) return e;
    p += 8;
    while (*p && *p != '"') {
        char *q;
        double x = strtod(p, &q);
        if (*q != ',') break;
        double y = strtod(q + 1, &q);
        p = q;
        while (*p == ' ' || *p == '\n') p++;
        double t = m.t0 + (x - m.x0) * (m.t1 - m.t0) / (m.x1 - m.x0);
        double v = m.v0 + (y - m.y0) * (m.v1 - m.v0) / (m.y1 - m.y0);
        e.n++;
        if (v < e.vmin) e.vmin = v, e.t_at_min = t;
        if (v > e.vmax) e.vmax = v, e.t_at_max = t;
    }
    return e;
}

/* ---- small helpers --------------------------------------------------------- */

static void test_helpers(void) {
    static const struct { double v; const char *s; } bytes[] = {
        {0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
        {10485760, "10.0 MiB"}, {-2048, "-2.0 KiB"}, {3.5 * 1073741824, "3.5 GiB"},
    };
    char b[32];
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++)
        CHECK(strcmp(mt_plot_fmt_bytes(b, bytes[i].v), bytes[i].s) == 0,
              "fmt_bytes(%g) = '%s', want '%s'", bytes[i].v, b, bytes[i].s);
    static const struct { double v; const char *s; } secs[] = {
        {850e-9, "850 ns"}, {12.5e-6, "12.5 us"}, {1.2e-3, "1.20 ms"},
        {3, "3.000 s"},
    };
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++)
        CHECK(strcmp(mt_plot_fmt_seconds(b, secs[i].v), secs[i].s) == 0,
              "fmt_seconds(%g) = '%s', want '%s'", secs[i].v, b, secs[i].s);
    const int codes[] = {MT_PLOT_OK, MT_PLOT_ERR_NOMEM, MT_PLOT_ERR_ARG,
                         MT_PLOT_ERR_IO, MT_PLOT_ERR_PARSE, MT_PLOT_ERR_LIMIT};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(strcmp(mt_plot_strerror(codes[i]), "unknown error") != 0,
              "code %d has no name", codes[i]);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(mt_plot_strerror(codes[i]), mt_plot_strerror(codes[j])),
                  "codes %d and %d share a name", codes[i], codes[j]);
    }
    CHECK(strcmp(mt_plot_strerror(-999), "unknown error") == 0, "-999");
}

static void test_args(void) {
    mt_plot *p = (mt_plot *)1;
    mt_plot_options o;
    mt_plot_options_init(&o);
    o.width_px = 10;
    CHECK(mt_plot_new(&p, &o) == MT_PLOT_ERR_ARG && p == NULL, "tiny width");
    mt_plot_options_init(&o);
    o.to_s = NAN;
    CHECK(mt_plot_new(&p, &o) == MT_PLOT_ERR_ARG, "NaN to_s");
    CHECK(mt_plot_new(&p, NULL) == 0 && p, "defaults");
    CHECK(mt_plot_point(p, 0, 1, 1) == MT_PLOT_ERR_ARG, "no series yet");
    int s = mt_plot_series_add(p, "a", MT_PLOT_UNIT_BYTES);
    CHECK(s == 0, "first series id %d", s);
    CHECK(mt_plot_point(p, s, 1, NAN) == 0, "NaN value ignored");
    mt_plot_span sp = {0, 1, 0, 0, 0, NAN, NAN};
    CHECK(mt_plot_span_add(p, &sp) == MT_PLOT_ERR_ARG, "span without lane");
    int l = mt_plot_lane_add(p, "main");
    int f = mt_plot_function(p, "f", "x.py", 3);
    CHECK(f == mt_plot_function(p, "f", "x.py", 3), "function ids are stable");
    CHECK(f != mt_plot_function(p, "f", "x.py", 4), "line distinguishes");
    CHECK(f != mt_plot_function(p, "f", NULL, 3), "file distinguishes");
    sp.lane = l, sp.func = f, sp.start_s = 2, sp.end_s = 1;
    CHECK(mt_plot_span_add(p, &sp) == MT_PLOT_ERR_ARG, "end before start");
    for (int i = 1; i < MT_PLOT_MAX_SERIES; i++) mt_plot_series_add(p, "x", 0);
    CHECK(mt_plot_series_add(p, "y", 0) == MT_PLOT_ERR_LIMIT, "series limit");
    CHECK(mt_plot_write_gnuplot(p, stdout, "jpeg", "x") == MT_PLOT_ERR_ARG, "term");
    CHECK(mt_plot_write_gnuplot(p, stdout, "png", NULL) == MT_PLOT_ERR_ARG, "out");
    mt_plot_free(p);
    mt_plot_free(NULL);
    mt_flame_free(NULL);
}

/* ---- reduction keeps the extremes ------------------------------------------ */

/* n points of a noisy wave over [0, dur) with one planted maximum and one
 * planted minimum at random instants; the SVG must still hold both. */
static void test_extremes(uint64_t n, double dur, int fixed, int shuffled) {
    mt_plot_options o;
    mt_plot_options_init(&o);
    if (fixed) o.to_s = dur;
    mt_plot *p;
    CHECK(mt_plot_new(&p, &o) == 0, "new");
    int s = mt_plot_series_add(p, "rss", MT_PLOT_UNIT_BYTES);
    uint64_t imax = rng() % n, imin = rng() % n;
    if (imin == imax) imin = (imax + 1) % n;
    const double base = 200e6, vmax = 1.5e9 + 12345, vmin = 3e6 + 7;
    uint64_t *order = NULL;
    if (shuffled) { /* any order must do */
        order = malloc(n * sizeof *order);
        for (uint64_t i = 0; i < n; i++) order[i] = i;
        for (uint64_t i = n - 1; i > 0; i--) {
            uint64_t j = rng() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = order ? order[k] : k;
        double t = dur * (double)i / (double)n;
        double v = base + 50e6 * sin(t * 7) + 5e6 * (double)((i * 2654435761u) % 1000) / 1000;
        if (i == imax) v = vmax;
        if (i == imin) v = vmin;
        mt_plot_point(p, s, t, v);
    }
    free(order);
    size_t len;
    char *svg = svg_of(p, &len);
    extremes e = series_extremes(svg, "rss");
    mapping m = mapping_of(svg);
    /* 2 decimals of a pixel: the value is exact to 1/100 of a pixel's worth */
    double tol_v = 0.006 * (m.v1 - m.v0) / (m.y0 - m.y1);
    double tol_t = 0.006 * (m.t1 - m.t0) / (m.x1 - m.x0);
    double tmax = dur * (double)imax / (double)n, tmin = dur * (double)imin / (double)n;
    CHECK(fabs(e.vmax - vmax) <= tol_v, "n=%llu fixed=%d: max %.1f, want %.1f (+-%.1f)",
          (unsigned long long)n, fixed, e.vmax, vmax, tol_v);
    CHECK(fabs(e.vmin - vmin) <= tol_v, "n=%llu fixed=%d: min %.1f, want %.1f (+-%.1f)",
          (unsigned long long)n, fixed, e.vmin, vmin, tol_v);
    CHECK(fabs(e.t_at_max - tmax) <= tol_t, "max at %.9f, want %.9f", e.t_at_max, tmax);
    CHECK(fabs(e.t_at_min - tmin) <= tol_t, "min at %.9f, want %.9f", e.t_at_min, tmin);
    CHECK(e.n <= 4 * 2 * (size_t)o.width_px + 2, "%zu points drawn", e.n);
    CHECK(len < 2000000, "SVG of %zu bytes", len);
    mt_plot_stats st;
    mt_plot_stats_get(p, &st);
    CHECK(st.points == n && st.points_cut == 0, "points %llu cut %llu",
          (unsigned long long)st.points, (unsigned long long)st.points_cut);
    CHECK(st.bucket_s * (o.width_px - 100) <= dur * 1.0001 || !fixed,
          "bucket %g s", st.bucket_s);
    free(svg);
    mt_plot_free(p);
}

/* The same points in forward and backward order give the same bytes: the
 * doubling grid forgets when it doubled. */
static void test_order_independent(void) {
    char *svg[2];
    for (int r = 0; r < 2; r++) {
        mt_plot *p;
        mt_plot_new(&p, NULL);
        int s = mt_plot_series_add(p, "rss", MT_PLOT_UNIT_BYTES);
        int l = mt_plot_lane_add(p, "main");
        int f = mt_plot_function(p, "tick", "t.py", 1);
        for (int k = 0; k < 100000; k++) {
            int i = r ? 99999 - k : k;
            double t = i * 1e-4;
            mt_plot_point(p, s, t, 1e6 + (i % 977) * 1000.0);
            mt_plot_span sp = {t, t + 5e-5, (uint32_t)(i % 3), l, f, NAN, NAN};
            mt_plot_span_add(p, &sp);
        }
        svg[r] = svg_of(p, NULL);
        mt_plot_free(p);
    }
    CHECK(strcmp(svg[0], svg[1]) == 0, "forward and backward differ");
    free(svg[0]);
    free(svg[1]);
}

/* ---- spans ----------------------------------------------------------------- */

static void test_spans(void) {
    mt_plot *p;
    mt_plot_new(&p, NULL);
    int s = mt_plot_series_add(p, "RSS", MT_PLOT_UNIT_BYTES);
    int l = mt_plot_lane_add(p, "main thread");
    int fmain = mt_plot_function(p, "main", "app.py", 10);
    int fload = mt_plot_function(p, "load<T>", "app.py", 20);
    int ftiny = mt_plot_function(p, "tiny", "lib.py", 5);
    const int ntiny = 100000;
    for (int i = 0; i <= 100; i++) mt_plot_point(p, s, i * 0.1, 1e7 + i * 1e6);
    mt_plot_span a = {0, 10, 0, l, fmain, 1e7, 1.1e8};
    mt_plot_span b = {1, 4, 1, l, fload, 2e7, 5e7};
    mt_plot_span_add(p, &b);
    mt_plot_span_add(p, &a);
    for (int i = 0; i < ntiny; i++) {
        mt_plot_span c = {5 + i * 4e-5, 5 + i * 4e-5 + 1e-5, 1, l, ftiny, NAN, NAN};
        mt_plot_span_add(p, &c);
    }
    mt_plot_marker(p, 4.5, "phase <2> & more");
    size_t len;
    char *svg = svg_of(p, &len);
    CHECK(count(svg, "<rect class=\"span\"") == 2, "%zu span rects",
          count(svg, "<rect class=\"span\""));
    CHECK(strstr(svg, "<title>main&#10;app.py:10&#10;") != NULL, "main tooltip");
    CHECK(strstr(svg, "load&lt;T&gt;&#10;app.py:20") != NULL, "escaped name");
    CHECK(strstr(svg, "RSS 19.1 MiB -> 47.7 MiB (+28.6 MiB)") != NULL,
          "RSS in the tooltip");
    /* the tiny calls: merged bands whose counts add up */
    size_t total = 0, bands = 0;
    for (const char *q = svg; (q = strstr(q, "<rect class=\"merged\"")); q++) {
        const char *t = strstr(q, "<title>(");
        if (t) total += strtoull(t + 8, NULL, 10);
        bands++;
    }
    CHECK(total == (size_t)ntiny, "merged calls %zu, want %d", total, ntiny);
    CHECK(bands >= 1 && bands <= 10, "%zu merged bands", bands);
    CHECK(strstr(svg, "longest: tiny") != NULL, "merged tooltip names a call");
    CHECK(strstr(svg, ">phase &lt;2&gt; &amp; more</text>") != NULL, "marker label");
    CHECK(strstr(svg, ">main thread</text>") != NULL, "lane label");
    mt_plot_stats st;
    mt_plot_stats_get(p, &st);
    CHECK(st.spans == (uint64_t)ntiny + 2 && st.spans_merged == (uint64_t)ntiny,
          "spans %llu merged %llu", (unsigned long long)st.spans,
          (unsigned long long)st.spans_merged);
    /* writing twice gives the same bytes */
    char *again = svg_of(p, NULL);
    CHECK(strcmp(svg, again) == 0, "second write differs");
    free(again);
    free(svg);
    mt_plot_free(p);

    /* too deep */
    mt_plot_options o;
    mt_plot_options_init(&o);
    o.max_depth = 4;
    mt_plot_new(&p, &o);
    l = mt_plot_lane_add(p, "deep");
    int f = mt_plot_function(p, "rec", NULL, 0);
    for (uint32_t d = 0; d < 10; d++) {
        mt_plot_span c = {d * 0.01, 1 - d * 0.01, d, l, f, NAN, NAN};
        mt_plot_span_add(p, &c);
    }
    svg = svg_of(p, NULL);
    CHECK(count(svg, "<rect class=\"span\"") == 4, "depth cap");
    CHECK(strstr(svg, "6 calls deeper than 4 levels not shown") != NULL, "note");
    free(svg);
    mt_plot_free(p);
}

/* ---- x-range -------------------------------------------------------------- */

static void test_window(void) {
    mt_plot_options o;
    mt_plot_options_init(&o);
    o.from_s = 2;
    o.to_s = 4;
    mt_plot *p;
    mt_plot_new(&p, &o);
    int s = mt_plot_series_add(p, "v", MT_PLOT_UNIT_NONE);
    for (int i = 0; i <= 60; i++) mt_plot_point(p, s, i * 0.1, i < 30 ? 100 : 900);
    mt_plot_marker(p, 1, "before");
    mt_plot_marker(p, 3, "inside");
    char *svg = svg_of(p, NULL);
    mapping m = mapping_of(svg);
    CHECK(m.t0 == 2 && m.t1 == 4, "range %g..%g", m.t0, m.t1);
    CHECK(strstr(svg, ">inside</text>") && !strstr(svg, "before"), "markers cut");
    extremes e = series_extremes(svg, "v");
    CHECK(e.vmin == 100 && e.vmax == 900, "values %g..%g", e.vmin, e.vmax);
    mt_plot_stats st;
    mt_plot_stats_get(p, &st);
    CHECK(st.points_cut == 40, "%llu cut", (unsigned long long)st.points_cut);
    free(svg);
    mt_plot_free(p);
}

/* ---- gnuplot -------------------------------------------------------------- */

static void test_gnuplot(void) {
    mt_plot *p;
    mt_plot_options o;
    mt_plot_options_init(&o);
    o.title = "it's a 'test'";
    mt_plot_new(&p, &o);
    int s = mt_plot_series_add(p, "RSS", MT_PLOT_UNIT_BYTES);
    for (int i = 0; i < 1000; i++) mt_plot_point(p, s, i * 0.01, (10 + i * 0.1) * 1048576.0);
    mt_plot_marker(p, 5, "don't\npanic");
    char *gp = gnuplot_of(p, "png", "/tmp/x.png");
    CHECK(strstr(gp, "$S0 << EOD\n0 10\n") != NULL, "inline data");
    CHECK(strstr(gp, "\n9.99 109.9\nEOD\n") != NULL, "last point");
    CHECK(strstr(gp, "set title 'it''s a ''test'''") != NULL, "quoted title");
    CHECK(strstr(gp, "set label 1 'don''t panic' at 5, graph") != NULL, "marker");
    CHECK(strstr(gp, "set arrow 1 from 5, graph 0 to 5, graph 1 nohead") != NULL, "arrow");
    CHECK(strstr(gp, "set ylabel 'MiB'") != NULL, "unit");
    CHECK(strstr(gp, "set output '/tmp/x.png'") != NULL, "output");
    free(gp);
    gp = gnuplot_of(p, NULL, NULL);
    CHECK(strstr(gp, "set terminal") == NULL && strstr(gp, "pause mouse close"),
          "interactive script");
    free(gp);
    mt_plot_free(p);
}

/* Counts beside bytes: a right-hand axis with its own ticks, the legend
 * says so, gnuplot draws them on y2; the legend wraps to a second row. */
static void test_right_axis(void) {
    mt_plot *p;
    mt_plot_new(&p, NULL);
    int s = mt_plot_series_add(p, "RSS", MT_PLOT_UNIT_BYTES);
    int c = mt_plot_series_add(p, "objects: __main__.Point", MT_PLOT_UNIT_NONE);
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "a rather long series name number %d", k);
        mt_plot_series_add(p, name, MT_PLOT_UNIT_BYTES);
    }
    for (int i = 0; i <= 100; i++) {
        mt_plot_point(p, s, i * 0.01, 100.0 * 1048576);
        mt_plot_point(p, c, i * 0.01, i * 1000.0);
    }
    size_t len;
    char *svg = svg_of(p, &len);
    CHECK(strstr(svg, "objects: __main__.Point (max 100000, right axis)") != NULL, "legend");
    CHECK(strstr(svg, ">100 k</text>") != NULL || strstr(svg, ">100k</text>") != NULL,
          "right-hand ticks in counts");
    CHECK(strstr(svg, ">100 MiB</text>") != NULL || strstr(svg, ">100.0 MiB</text>") != NULL,
          "left-hand ticks in bytes");
    /* the count series reaches the top of the area; RSS sits on its own axis */
    const char *legend2 = strstr(svg, "number 4");
    CHECK(legend2 != NULL, "every legend entry drawn");
    free(svg);
    char *gp = gnuplot_of(p, "png", "/tmp/x.png");
    CHECK(strstr(gp, "$S1 using 1:2 axes x1y2 with lines") != NULL, "gnuplot y2");
    CHECK(strstr(gp, "set y2tics\nset y2range [0:") != NULL, "gnuplot y2 range");
    free(gp);
    mt_plot_free(p);
}

/* ---- flame graphs ------------------------------------------------------- */

static void test_flame(void) {
    mt_flame *fl;
    CHECK(mt_flame_new(&fl) == 0, "new");
    const char *good[] = {
        "main;load;parse 300\n", "main;load 100", "main;compute;numpy.dot 600",
        "main;load;parse 100\r\n", "  ", "", "solo 0", "a b;c 7",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(mt_flame_add_folded(fl, good[i], (size_t)-1) == 0, "'%s'", good[i]);
    const char *bad[] = {"main;load", "main -5", "x 1e999", "x 12abc", "42"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(mt_flame_add_folded(fl, bad[i], (size_t)-1) == MT_PLOT_ERR_PARSE,
              "'%s' accepted", bad[i]);
    const char *st[] = {"main", "tiny"};
    for (int i = 0; i < 50; i++) mt_flame_add(fl, st, 2, 0.01);
    CHECK(fabs(mt_flame_total(fl) - 1107.5) < 1e-9, "total %g", mt_flame_total(fl));
    /* main, load, parse, compute, numpy.dot, tiny, "a b", c */
    CHECK(mt_flame_nodes(fl) == 8, "%llu nodes", (unsigned long long)mt_flame_nodes(fl));
    mt_flame_options o = {0};
    o.title = "RSS growth <by stack>";
    char *svg = flame_svg_of(fl, &o);
    CHECK(strstr(svg, "<title>parse&#10;400 B (36.12%)</title>") != NULL, "parse tooltip");
    CHECK(strstr(svg, "<title>all&#10;1.1 KiB (100.00%)</title>") != NULL, "root");
    CHECK(strstr(svg, ">numpy.dot</text>") != NULL, "label");
    CHECK(strstr(svg, "(1 small frames)") != NULL, "tiny frame merged");
    CHECK(strstr(svg, "RSS growth &lt;by stack&gt;") != NULL, "title escaped");
    /* deterministic, and siblings sorted: compute before load */
    char *again = flame_svg_of(fl, &o);
    CHECK(strcmp(svg, again) == 0, "second write differs");
    const char *c = strstr(svg, ">compute<"), *l = strstr(svg, ">load<");
    CHECK(c && l && c < l, "siblings sorted by name");
    free(again);
    free(svg);
    /* plain units */
    o.unit = "samples";
    svg = flame_svg_of(fl, &o);
    CHECK(strstr(svg, "<title>parse&#10;400 samples (36.12%)") != NULL, "samples");
    free(svg);
    mt_flame_free(fl);
    /* an empty graph is still a picture */
    mt_flame_new(&fl);
    svg = flame_svg_of(fl, NULL);
    CHECK(strstr(svg, "no data") != NULL, "empty flame");
    free(svg);
    mt_flame_free(fl);
    /* reading a stream, with the line number of the first bad line */
    mt_flame_new(&fl);
    const char text[] = "a;b 1\na;c 2\n\nbroken\na 1\n";
    FILE *in = fmemopen((void *)text, sizeof text - 1, "r");
    uint64_t bad_line = 0;
    CHECK(mt_flame_read_folded(fl, in, &bad_line) == MT_PLOT_ERR_PARSE && bad_line == 4,
          "bad line %llu", (unsigned long long)bad_line);
    fclose(in);
    mt_flame_free(fl);
}

/* ---- empty and hostile input ------------------------------------------------ */

static void test_empty_and_nasty(void) {
    mt_plot *p;
    mt_plot_new(&p, NULL);
    char *svg = svg_of(p, NULL);
    CHECK(strstr(svg, ">no data</text>") != NULL, "empty says so");
    free(svg);
    int s = mt_plot_series_add(p, "one", MT_PLOT_UNIT_BYTES);
    mt_plot_point(p, s, 0.5, 4096);
    svg = svg_of(p, NULL);
    CHECK(strstr(svg, "<circle") != NULL, "a lone point shows");
    extremes e = series_extremes(svg, "one");
    CHECK(e.n == 1 && fabs(e.vmax - 4096) < 1, "lone point value %g", e.vmax);
    free(svg);
    mt_plot_free(p);
}

/* ---- example pictures for run.sh ------------------------------------------ */

static int write_file(const char *dir, const char *name, mt_plot *p,
                      mt_flame *fl, const char *term, const char *gp_out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    int rc = fl ? mt_flame_write_svg(fl, f, NULL)
         : term || gp_out ? mt_plot_write_gnuplot(p, f, term, gp_out)
                          : mt_plot_write_svg(p, f);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "%s: %s\n", path, mt_plot_strerror(rc));
        return 1;
    }
    return 0;
}

/* A program's life: it loads data (many small parse calls), computes (a
 * spike, freed again), saves; the Python heap follows RSS at a distance. */
static mt_plot *demo_plot(const char *title, double scale, int with_heap) {
    mt_plot_options o;
    mt_plot_options_init(&o);
    o.title = title;
    o.subtitle = "memtrace-plot demo (synthetic)";
    mt_plot *p;
    mt_plot_new(&p, &o);
    int rss = mt_plot_series_add(p, "RSS", MT_PLOT_UNIT_BYTES);
    int heap = with_heap ? mt_plot_series_add(p, "Python heap", MT_PLOT_UNIT_BYTES) : -1;
    int lane = mt_plot_lane_add(p, "MainThread");
    int fmain = mt_plot_function(p, "main", "demo.py", 40);
    int fload = mt_plot_function(p, "load_data", "demo.py", 12);
    int fparse = mt_plot_function(p, "parse_record", "demo.py", 5);
    int fcomp = mt_plot_function(p, "compute", "demo.py", 20);
    int fmat = mt_plot_function(p, "build_matrix", "demo.py", 25);
    int fsum = mt_plot_function(p, "numpy.sum", NULL, 0);
    int fsave = mt_plot_function(p, "save", "demo.py", 33);
    int fjson = mt_plot_function(p, "json.dumps", "json/__init__.py", 183);
    double rss_at[4001];
    for (int i = 0; i <= 4000; i++) {
        double t = i * 0.001;
        double v = 12e6;
        if (t > 0.2) v += fmin(t - 0.2, 1.0) * 80e6 * scale;       /* load */
        if (t > 1.5 && t < 2.6) v += (t - 1.5) / 1.1 * 300e6 * scale; /* build */
        if (t > 3.0) v += 20e6;                                    /* save */
        v += 2e6 * sin(i * 0.37) * scale;
        rss_at[i] = v;
        mt_plot_point(p, rss, t, v);
        if (heap >= 0) mt_plot_point(p, heap, t, v * 0.6 - 4e6);
    }
#define RSS(t) rss_at[(int)((t) * 1000) > 4000 ? 4000 : (int)((t) * 1000)]
    mt_plot_span s;
    s = (mt_plot_span){0.05, 3.95, 0, lane, fmain, RSS(0.05), RSS(3.95)};
    mt_plot_span_add(p, &s);
    s = (mt_plot_span){0.2, 1.25, 1, lane, fload, RSS(0.2), RSS(1.25)};
    mt_plot_span_add(p, &s);
    for (int i = 0; i < 20000; i++) {
        double t = 0.2 + i * 5e-5;
        s = (mt_plot_span){t, t + 3e-5, 2, lane, fparse, RSS(t), RSS(t)};
        mt_plot_span_add(p, &s);
    }
    s = (mt_plot_span){1.3, 2.9, 1, lane, fcomp, RSS(1.3), RSS(2.9)};
    mt_plot_span_add(p, &s);
    s = (mt_plot_span){1.5, 2.6, 2, lane, fmat, RSS(1.5), RSS(2.6)};
    mt_plot_span_add(p, &s);
    s = (mt_plot_span){2.6, 2.85, 2, lane, fsum, RSS(2.6), RSS(2.85)};
    mt_plot_span_add(p, &s);
    s = (mt_plot_span){3.0, 3.9, 1, lane, fsave, RSS(3.0), RSS(3.9)};
    mt_plot_span_add(p, &s);
    s = (mt_plot_span){3.05, 3.6, 2, lane, fjson, RSS(3.05), RSS(3.6)};
    mt_plot_span_add(p, &s);
#undef RSS
    mt_plot_marker(p, 0.2, "load start");
    mt_plot_marker(p, 1.3, "compute");
    mt_plot_marker(p, 1.32, "checkpoint");
    mt_plot_marker(p, 3.0, "save");
    return p;
}

static int write_examples(const char *dir) {
    int rc = 0;
    mt_plot *p = demo_plot("demo.py", 1, 1);
    rc |= write_file(dir, "timeline.svg", p, NULL, NULL, NULL);
    char png[4096];
    snprintf(png, sizeof png, "%s/timeline-gp.png", dir);
    rc |= write_file(dir, "timeline.gp", p, NULL, "png", png);
    snprintf(png, sizeof png, "%s/timeline-gp.svg", dir);
    rc |= write_file(dir, "timeline-svg.gp", p, NULL, "svg", png);
    mt_plot_free(p);

    /* two runs overlaid */
    mt_plot_options o;
    mt_plot_options_init(&o);
    o.title = "compare: before.trace vs after.trace";
    mt_plot_new(&p, &o);
    int a = mt_plot_series_add(p, "before.trace", MT_PLOT_UNIT_BYTES);
    int b = mt_plot_series_add(p, "after.trace", MT_PLOT_UNIT_BYTES);
    for (int i = 0; i <= 3000; i++) {
        double t = i * 0.001;
        mt_plot_point(p, a, t, 20e6 + t * 90e6 + 3e6 * sin(i * 0.05));
        mt_plot_point(p, b, t * 0.8, 20e6 + t * 40e6 + 3e6 * sin(i * 0.05));
    }
    rc |= write_file(dir, "compare.svg", p, NULL, NULL, NULL);
    mt_plot_free(p);

    mt_flame *fl;
    mt_flame_new(&fl);
    const char *folded[] = {
        "main;load_data;parse_record 83886080", "main;load_data 4194304",
        "main;compute;build_matrix;numpy.zeros 314572800",
        "main;compute;numpy.sum 1048576", "main;save;json.dumps 20971520",
        "main;save;json.dumps;encode 5242880", "main;warmup 8192",
        "<module>;import;site 2097152",
    };
    for (size_t i = 0; i < sizeof folded / sizeof folded[0]; i++)
        mt_flame_add_folded(fl, folded[i], (size_t)-1);
    rc |= write_file(dir, "flame.svg", NULL, fl, NULL, NULL);
    mt_flame_free(fl);

    mt_plot_new(&p, NULL);
    rc |= write_file(dir, "empty.svg", p, NULL, NULL, NULL);
    mt_plot_free(p);

    /* names no XML parser would take as they are */
    mt_plot_options_init(&o);
    o.title = "<&>\"' \x01\x1f bad \xff\xfe utf8 \xe2\x82 ok \xc3\xa9\xe2\x82\xac";
    mt_plot_new(&p, &o);
    int s = mt_plot_series_add(p, "a<b>&\"'\n", MT_PLOT_UNIT_NONE);
    int l = mt_plot_lane_add(p, "\xc0\xaf lane ]]>");
    int f = mt_plot_function(p, "f<\x01>\xed\xa0\x80", "x&y.py", 1);
    mt_plot_point(p, s, 0, 1);
    mt_plot_point(p, s, 1, 2);
    mt_plot_span sp = {0, 1, 0, l, f, 1, 2};
    mt_plot_span_add(p, &sp);
    mt_plot_marker(p, 0.5, "m\"<>&\xef\xbf\xbf");
    rc |= write_file(dir, "nasty.svg", p, NULL, NULL, NULL);
    mt_plot_free(p);

    /* a page with a profile over time whose stacks pass through memtrace's
     * own frames (for "hide memtrace frames") and a second thread */
    mt_tprof *tp;
    mt_tprof_new(&tp, 16, 0, 1.6);
    mt_tprof_thread(tp, 1, "MainThread", 1);
    mt_tprof_thread(tp, 2, "worker", 1);
    int64_t top = mt_tprof_stack(tp, 0, "<module>", "app.py:1");
    int64_t mt = mt_tprof_stack(tp, (uint32_t)top, "start", "/x/memtrace/__init__.py:312");
    int64_t cb = mt_tprof_stack(tp, (uint32_t)mt, "callback", "app.py:9");
    int64_t wk = mt_tprof_stack(tp, (uint32_t)top, "work", "app.py:5");
    mt_tprof_add(tp, MT_TPROF_LIFE, (uint32_t)cb, 1, 2, 17, 0, 3, 3000000);
    mt_tprof_add(tp, MT_TPROF_LIFE, (uint32_t)wk, 2, 5, 9, MT_TPROF_TEMP, 10, 1000000);
    mt_page pg = {0};
    pg.title = "tprof page";
    pg.tprof = tp;
    pg.tprof_weight = "alloc";
    pg.flame_unit = "bytes";
    char path[4096];
    snprintf(path, sizeof path, "%s/tprof.html", dir);
    FILE *pf = fopen(path, "w");
    if (!pf || mt_page_write(pf, &pg) < 0) rc = 1;
    if (pf && fclose(pf) != 0) rc = 1;
    mt_tprof_free(tp);
    return rc;
}

/* ---- mt_tprof: a profile over time ----------------------------------------- */

/* Text of a writer into memory (malloc'd, NUL-terminated). */
static char *tprof_text(mt_tprof *p, int speedscope, double min_share, uint64_t max_records,
                        int *rc) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    *rc = speedscope ? mt_tprof_write_speedscope(p, f, "t", "alloc", "test")
                     : mt_tprof_write_json(p, f, min_share, max_records);
    fclose(f);
    return buf;
}

/* The numbers of the JSON array after key (up to its ']'). */
static double *json_numbers(const char *s, const char *key, size_t *n) {
    *n = 0;
    const char *p = strstr(s, key);
    if (!p) return NULL;
    p += strlen(key);
    double *v = NULL;
    size_t cap = 0;
    while (*p && *p != ']') {
        char *e;
        double x = strtod(p, &e);
        if (e == p) {
            p++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            v = realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = x;
        p = e;
    }
    return v;
}

static double profile_total(const char *s, const char *name) {
    char key[200];
    snprintf(key, sizeof key, "\"name\":\"%s\",\"unit\":\"bytes\",\"startValue\":0,\"endValue\":", name);
    const char *p = strstr(s, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void test_tprof(void) {
    mt_tprof *p;
    CHECK(mt_tprof_new(&p, 0, 0, 1) == MT_PLOT_ERR_ARG && !p, "no slices");
    CHECK(mt_tprof_new(&p, 4, 2, 1) == MT_PLOT_ERR_ARG, "t1 < t0");
    enum { N = 64, K = 4000 };
    CHECK(mt_tprof_new(&p, N, 0, 6.4) == 0 && p, "new");
    CHECK(mt_tprof_slice(p, -1) == 0 && mt_tprof_slice(p, 0) == 1 && mt_tprof_slice(p, 0.15) == 2 &&
              mt_tprof_slice(p, 6.4) == N && mt_tprof_slice(p, 7) == N + 1, "slices of times");
    CHECK(mt_tprof_thread(p, 7, "main", 1) == 0 && mt_tprof_thread(p, 9, "w", 0) == 1 &&
              mt_tprof_thread(p, 7, "again", 1) == 0, "threads");
    int64_t top = mt_tprof_stack(p, 0, "main", "app.py:1");
    int64_t big = mt_tprof_stack(p, (uint32_t)top, "big", "app.py:5");
    CHECK(top > 0 && big > top && mt_tprof_stack(p, (uint32_t)top, "big", "app.py:5") == big,
          "stacks are interned");
    CHECK(mt_tprof_stack(p, 999, "x", NULL) == MT_PLOT_ERR_ARG, "unknown parent");
    CHECK(mt_tprof_add(p, MT_TPROF_LIFE, (uint32_t)big, 7, 5, 4, 0, 1, 10) == MT_PLOT_ERR_ARG,
          "freed before allocated");
    CHECK(mt_tprof_add(p, MT_TPROF_LIFE, (uint32_t)big, 7, 0, 0, 0, 1, 10) == MT_PLOT_ERR_ARG,
          "gone before the extent");
    CHECK(mt_tprof_add(p, MT_TPROF_GROWTH, (uint32_t)big, 7, N + 1, 0, 0, 0, 10) ==
              MT_PLOT_ERR_ARG, "growth after the extent");
    /* many small stacks, one big: random lifetimes; the sums each weight
     * must keep through folding and coarsening */
    int64_t tiny[50];
    for (int i = 0; i < 50; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "tiny%d", i);
        tiny[i] = mt_tprof_stack(p, (uint32_t)top, nm, "app.py:9");
    }
    double alloc = 0, leak = 0, temp = 0, rss = 0, small = 0;
    for (int k = 0; k < K; k++) {
        uint32_t a = (uint32_t)(rng() % (N + 1)), b = a + (uint32_t)(rng() % (N + 2 - a));
        if (b == 0) b = 1;
        int is_big = rng() % 4 == 0, t = rng() % 2 ? 7 : 9, tf = rng() % 3 == 0;
        double bytes = is_big ? (double)(rng() % 100000) : (double)(rng() % 10);
        uint32_t st = (uint32_t)(is_big ? big : tiny[rng() % 50]);
        CHECK(mt_tprof_add(p, MT_TPROF_LIFE, st, (uint32_t)t, a, b, tf ? MT_TPROF_TEMP : 0, 1,
                           bytes) == 0, "life %u %u", a, b);
        if (a >= 1) {
            alloc += bytes;
            if (tf) temp += bytes;
            if (b == N + 1) leak += bytes;
            if (!is_big) small += bytes;
        }
        if (k % 10 == 0) {
            CHECK(mt_tprof_add(p, MT_TPROF_GROWTH, (uint32_t)big, 7, 1 + (uint32_t)(rng() % N), 0,
                               0, 0, 4096) == 0, "growth");
            rss += 4096;
        }
    }
    CHECK(mt_tprof_add(p, MT_TPROF_AT_PEAK, (uint32_t)big, 9, 3, 0, 0, 2, 777) == 0, "at peak");
    CHECK(mt_tprof_rss(p, 3, 5e6) == 0 && mt_tprof_rss(p, 3, 4e6) == 0, "rss");
    mt_tprof_peak(p, 1.25);
    CHECK(mt_tprof_records(p) > 1000, "records merge only when equal: %llu",
          (unsigned long long)mt_tprof_records(p));
    int rc;
    char *j = tprof_text(p, 0, 0.01, 200, &rc);
    CHECK(rc == 0 && j, "write_json: %s", mt_plot_strerror(rc));
    CHECK(mt_tprof_add(p, MT_TPROF_LIFE, (uint32_t)big, 7, 1, 2, 0, 1, 1) == MT_PLOT_ERR_ARG,
          "written: no more records");
    size_t nr, nn;
    double *r = json_numbers(j, "\"recs\":[", &nr);
    double *n = json_numbers(j, "{\"n\":", &nn);
    CHECK(nr % 7 == 0 && (nr / 7 <= 200 || (nn && n[0] == 8)), "records reduced to %zu",
          nr / 7);
    CHECK(nn >= 1 && n[0] >= 8 && n[0] < N, "slices merged: %g", nn ? n[0] : -1);
    double ga = 0, gl = 0, gt = 0, gr = 0, gp = 0;
    for (size_t i = 0; i + 6 < nr; i += 7) {
        int kind = (int)r[i + 4] & 3, fl = (int)r[i + 4] >> 2;
        CHECK(kind != 0 || (r[i + 2] <= r[i + 3] && r[i + 3] <= n[0] + 1), "slices in range");
        if (kind == 0 && r[i + 2] >= 1) {
            ga += r[i + 5];
            if (fl & MT_TPROF_TEMP) gt += r[i + 5];
            if (r[i + 3] == n[0] + 1) gl += r[i + 5];
        }
        if (kind == 1) gp += r[i + 5];
        if (kind == 2) gr += r[i + 5];
    }
    CHECK(ga == alloc && gl == leak && gt == temp && gr == rss && gp == 777,
          "sums kept: alloc %g/%g leak %g/%g temp %g/%g rss %g/%g", ga, alloc, gl, leak, gt, temp,
          gr, rss);
    CHECK(strstr(j, "[\"(smaller stacks)\",\"\"]") && !strstr(j, "tiny1") &&
              strstr(j, "[\"big\",\"app.py:5\"]"), "the tiny stacks folded, the big one kept");
    CHECK(strstr(j, "\"peak_t\":1.25") && strstr(j, "[7,\"main\",1],[9,\"w\",0]"),
          "peak time, threads with their selection");
    free(r);
    free(n);
    free(j);
    mt_tprof_free(p);
    (void)small;

    /* speedscope: per weight, every thread then each; totals kept */
    CHECK(mt_tprof_new(&p, N, 0, 1) == 0, "new");
    top = mt_tprof_stack(p, 0, "main", "app.py:1");
    big = mt_tprof_stack(p, (uint32_t)top, "big", "app.py:5");
    mt_tprof_thread(p, 1, "MainThread", 1);
    mt_tprof_thread(p, 2, "worker", 1);
    mt_tprof_add(p, MT_TPROF_LIFE, (uint32_t)big, 1, 1, 2, MT_TPROF_TEMP, 1, 100);
    mt_tprof_add(p, MT_TPROF_LIFE, (uint32_t)big, 2, 3, N + 1, 0, 1, 40);
    mt_tprof_add(p, MT_TPROF_LIFE, (uint32_t)top, 1, 0, N + 1, 0, 1, 5); /* before: not allocated */
    mt_tprof_add(p, MT_TPROF_GROWTH, (uint32_t)top, 1, 5, 0, 0, 0, 300);
    mt_tprof_add(p, MT_TPROF_GROWTH, (uint32_t)top, 2, 6, 0, 0, 0, -500);
    j = tprof_text(p, 1, 0, 0, &rc);
    CHECK(rc == 0 && strstr(j, "\"version\":\"0.0.1\""), "speedscope: %s", mt_plot_strerror(rc));
    CHECK(profile_total(j, "t: allocated") == 140 && profile_total(j, "t: temporaries") == 100 &&
              profile_total(j, "t: live at the end") == 40 &&
              /* no AT_PEAK: the greatest at a slice's end (slice 1: 100 + the 5
               * allocated before the extent) */
              profile_total(j, "t: heap at its peak") == 105 &&
              profile_total(j, "t: allocated, worker (tid 2)") == 40 &&
              profile_total(j, "t: RSS growth") == 0 &&
              profile_total(j, "t: RSS growth, MainThread (tid 1)") == 300,
          "speedscope totals: %.300s", j);
    /* peak: all, MainThread; leak: all, worker; then alloc's */
    CHECK(strstr(j, "\"activeProfileIndex\":4,"), "the first weight's profile is active");
    CHECK(strstr(j, "{\"name\":\"big\",\"file\":\"app.py\",\"line\":5}"), "frames with file, line");
    free(j);
    mt_tprof_free(p);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_examples(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_plot [--write DIR]\n");
        return 2;
    }
    const char *seed = getenv("MT_SEED");
    rng_state = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL);
    printf("test_plot: MT_SEED=%llu\n", (unsigned long long)rng_state);
    test_helpers();
    test_args();
    test_extremes(10000000, 60, 0, 0);  /* 10 M points, range found */
    test_extremes(10000000, 60, 1, 0);  /* 10 M points, range given */
    test_extremes(1000000, 0.002, 0, 1); /* shuffled, microseconds */
    test_extremes(7, 3, 0, 0);           /* fewer points than pixels */
    test_order_independent();
    test_spans();
    test_window();
    test_gnuplot();
    test_right_axis();
    test_flame();
    test_empty_and_nasty();
    test_tprof();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
