/*
 * memtrace_plot_cmd.h - what the files of the memtrace-plot command share:
 * its options, and the outputs that are not pictures of the plotting
 * library (memtrace_plot_out.c: the HTML page's content, --json). Not a
 * library header: the command's own.
 */
#ifndef MEMTRACE_PLOT_CMD_H
#define MEMTRACE_PLOT_CMD_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mt_analysis.h"
#include "mt_cli.h"
#include "mt_plot.h"

/* ---- Options --------------------------------------------------------------- */

enum { W_DEFAULT, W_RSS, W_ALLOC, W_PEAK, W_LEAK };

/* What is written: chosen by --format, else by -o's extension. */
enum { F_NONE, F_SVG, F_HTML, F_PNG, F_GP, F_JSON, F_FOLDED, F_SPEEDSCOPE, F_CHROME, F_PPROF };
static const char *const format_names[] __attribute__((unused)) = {"",       "svg",    "html",       "png",
                                           "gp",     "json",   "folded",     "speedscope",
                                           "chrome", "pprof"};

typedef struct options {
    const char *out;
    int flame, format, json;
    int weight; /* W_*: what a flame graph's widths are */
    mt_cli_time from, to;
    uint64_t from_ns, to_ns; /* resolved against the first trace */
    int has_from, has_to;
    const char **threads;
    uint32_t nthreads;
    const char **funcs, **files; /* --function, --file */
    uint32_t nfuncs, nfiles;
    unsigned width, height, max_depth;
    const char *title;
} options;

/* The last part of a path. */
static inline const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* The HTML page (mt_page_write): the run(s) in numbers, the timeline, the
 * flame graph, the heap at its peak by location. Returns 0 or an
 * MT_PLOT_ERR_* code. */
int plot_write_html(FILE *f, const options *o, mt_plot *plot, mt_flame *flame,
                    mt_tprof *tprof, const char *title, const char *sub,
                    const char *flame_what, mt_analysis **an, char *const *paths, int nfiles);

/* The page's profile over time (one trace): the analysis's lifetimes
 * (options.lifetime_slices = PAGE_SLICES), its threads, RSS per slice and
 * the peak; the replay adds the RSS growth of its stacks, cutting time as
 * *t0 + [(k-1) span/n, k span/n) ticks for slice k. */
#define PAGE_SLICES 1024
mt_tprof *plot_page_tprof(const options *o, const mt_analysis *a, const char *path,
                          uint64_t *t0, uint64_t *span, uint32_t *n);

/* --json: what was written (o->out), on standard output. */
void plot_describe_json(const options *o, char *const *paths, int nfiles, mt_analysis **an,
                        const mt_flame *flame);

#endif /* MEMTRACE_PLOT_CMD_H */
