/*
 * bench_plot.c - how fast libmemtrace-plot reduces and writes.
 *
 *   bench-plot [-q]    feed N points (a noisy RSS curve) and N/2 call spans
 *                      at three depths, then write the SVG and the gnuplot
 *                      script; print ns per point / span, write times and
 *                      output sizes. N = 100 M (-q: 10 M).
 *
 * The end-to-end figure (a 100 M-event trace through memtrace-plot) is
 * taken by `make bench-plot` around this program.
 */
#define _GNU_SOURCE /* fopencookie */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_plot.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Bytes written to a stream that goes nowhere. */
static size_t sink_bytes;
static ssize_t sink_write(void *c, const char *buf, size_t n) {
    (void)c;
    (void)buf;
    sink_bytes += n;
    return (ssize_t)n;
}
static FILE *sink(void) {
    cookie_io_functions_t io = {NULL, sink_write, NULL, NULL};
    sink_bytes = 0;
    return fopencookie(NULL, "w", io);
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 && strcmp(argv[1], "-q") == 0 ? 10000000 : 100000000;
    mt_plot *p;
    if (mt_plot_new(&p, NULL) < 0) return 1;
    int s = mt_plot_series_add(p, "RSS", MT_PLOT_UNIT_BYTES);
    int l = mt_plot_lane_add(p, "main");
    int f[3] = {mt_plot_function(p, "outer", "a.py", 1),
                mt_plot_function(p, "middle", "a.py", 2),
                mt_plot_function(p, "inner", "a.py", 3)};
    const double dt = 100e-9; /* one event every 100 ns: 100 M = 10 s */
    double t0 = now();
    for (uint64_t i = 0; i < n; i++)
        mt_plot_point(p, s, i * dt, 1e8 + 1e7 * sin(i * 1e-6) + (double)(i % 4096));
    double t1 = now();
    for (uint64_t i = 0; i < n / 2; i++) {
        mt_plot_span sp = {2 * i * dt, (2 * i + 1) * dt, (uint32_t)(i % 3), l,
                           f[i % 3], 1e8, 1e8 + 4096};
        mt_plot_span_add(p, &sp);
    }
    double t2 = now();
    FILE *o = sink();
    mt_plot_write_svg(p, o);
    fclose(o);
    size_t svg = sink_bytes;
    double t3 = now();
    o = sink();
    mt_plot_write_gnuplot(p, o, "png", "x.png");
    fclose(o);
    size_t gp = sink_bytes;
    double t4 = now();
    printf("libmemtrace-plot, %llu points and %llu spans:\n", (unsigned long long)n,
           (unsigned long long)(n / 2));
    printf("  points   %6.2f ns each (%.2f s)\n", (t1 - t0) / n * 1e9, t1 - t0);
    printf("  spans    %6.2f ns each (%.2f s)\n", (t2 - t1) / (n / 2) * 1e9, t2 - t1);
    printf("  SVG      %.3f s, %zu bytes\n", t3 - t2, svg);
    printf("  gnuplot  %.3f s, %zu bytes\n", t4 - t3, gp);
    mt_plot_free(p);
    return 0;
}
