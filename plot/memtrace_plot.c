/*
 * memtrace-plot - pictures of traces: an SVG timeline (RSS over time, the
 * heap in use when the trace has allocations, the call stack beneath,
 * markers), a flame graph of RSS growth or of allocated, peak or leaked
 * bytes by stack, or a gnuplot script.
 *
 * The numbers come from the analysis core (mt_analysis.h: the RSS series,
 * markers, threads, the window); the drawing from libmemtrace-plot
 * (mt_plot.h), which knows nothing of traces. The call spans and the
 * growth per stack need every call and return, which the core does not
 * hand out, so this file replays them itself in one more pass over the
 * reader, with RSS(t) taken from the core's series exactly as the core
 * defines it (the last sample at or before t). The heap series and the
 * allocation flame graphs come from the core's heap model as they are.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtrace_format.h"
#include "mt_analysis.h"
#include "mt_cli.h"
#include "memtrace_plot_cmd.h"
#include "mt_plot.h"
#include "mt_pprof.h"

static const char usage_text[] =
"usage: memtrace-plot [options] FILE...\n"
"\n"
"Draw memtrace traces. By default an SVG timeline: RSS over time (and the\n"
"heap in use when the trace has allocation records, and the Python heap\n"
"counter when it has that), the call stack of each thread beneath\n"
"it as nested bands, markers as labelled lines, tooltips on every band.\n"
"Several FILEs are overlaid, aligned at their start, with a legend.\n"
"\n"
"Options:\n"
"  -o, --output OUT  write to OUT; its extension picks the format:\n"
"                      .html  a page with the run's summary, the timeline,\n"
"                             a flame graph and a table by location that the\n"
"                             browser recomputes for a weight, a thread and a\n"
"                             window dragged on the run (self-contained,\n"
"                             offline; one FILE: with several, the flame\n"
"                             graph of --flame-weight alone)\n"
"                      .svg   the timeline (or, with --flame, the flame graph)\n"
"                      .png   the timeline drawn by gnuplot (needs gnuplot)\n"
"                      .gp    a gnuplot script with inline data\n"
"                      .folded (or .collapsed)  the flame graph's stacks as\n"
"                             collapsed stacks, \"a;b;c BYTES\" per line, for\n"
"                             flamegraph.pl and inferno\n"
"                      .speedscope.json  stacks for speedscope: one sampled\n"
"                             profile (bytes) per weight, of every thread and\n"
"                             of each (several FILEs: --flame-weight's alone)\n"
"                      .chrome.json  the calls as slices per thread, RSS and\n"
"                             heap as counters, markers as instants: a Chrome\n"
"                             trace for Perfetto (ui.perfetto.dev) and\n"
"                             chrome://tracing\n"
"                      .pb.gz (or .pprof)  the heap as a pprof profile: per\n"
"                             allocation stack, objects and bytes allocated,\n"
"                             live at the heap's peak and still live at the\n"
"                             end, locations by function, file and line, and\n"
"                             RSS growth per call stack (go tool pprof,\n"
"                             Pyroscope, Parca; one FILE)\n"
"                      .json  the data behind both pictures: the timeline's\n"
"                             series (reduced per pixel), markers and lanes,\n"
"                             and the flame graph's tree (schema below)\n"
"                    Without -o (or -o -): SVG on standard output, refused\n"
"                    when that is a terminal.\n"
"  --format F        html, svg, png, gp, json, folded, speedscope, chrome or\n"
"                    pprof, whatever OUT's extension\n"
"  --flame           a flame graph by stack instead of the timeline (SVG),\n"
"                    or first in the page (HTML), weighted as --flame-weight\n"
"                    says\n"
"  --flame-weight W  rss: the RSS each stack grew while on top (positive\n"
"                    self growth, each thread charged its share as\n"
"                    memtrace-analyze does); alloc:\n"
"                    bytes allocated there; peak: bytes live there at the\n"
"                    heap's peak; leak: bytes still live at the end (the\n"
"                    last three need allocation records; estimates when\n"
"                    sampled). Default: alloc when every FILE has\n"
"                    allocation records, else rss\n"
"  --from T, --to T  plot the window [T, T]: seconds since the trace's start\n"
"                    (\"1.5\"), with a unit (\"1.5s\", \"200ms\", \"2m\"), a UNIX\n"
"                    time (\"@1795000000.25\") or ISO-8601 UTC\n"
"                    (\"2026-11-21T09:19:32Z\"); absolute times are taken\n"
"                    against the first FILE's start\n"
"  --thread X        only thread X's calls and allocations: a tid or a\n"
"                    thread name (repeatable); RSS stays the process's\n"
"  --function GLOB, --file GLOB\n"
"                    flame graphs: only the stacks that pass through a\n"
"                    function whose qualified name, module.qualname or\n"
"                    file matches (as memtrace-analyze's focus;\n"
"                    repeatable)\n"
"  --json            after writing OUT, describe it on standard output as\n"
"                    one JSON document (file, format, bytes, traces)\n"
"  --width N, --height N   picture size in pixels (default 1200 x 800)\n"
"  --title TEXT      the title (default: the file names)\n"
"  --rows N          stack rows drawn per thread (default 64)\n"
"  -h, --help        print this text and exit\n"
"  -V, --version     print the version and exit\n"
"  (--gnuplot and --png are --format gp and --format png; --svg is\n"
"  --format svg; --max-depth is --rows.)\n"
"\n"
"RSS(t) is the last RSS sample at or before t, drawn as steps. Calls\n"
"narrower than a pixel are merged into grey \"(n calls)\" bands, and the\n"
"RSS line keeps the minimum and maximum of every pixel column, so the\n"
"picture stays small (a few MB at most) and every peak and trough shows.\n"
"\n"
"Process trees (traces with PROC_SAMPLE records: memtrace-poll --tree, or\n"
"memtrace.process.log_process(children=True)): instead of the one RSS line,\n"
"a \"total RSS\" series (the sum of the processes per sampling round, as\n"
"memtrace-analyze reports it) and one series per process, \"NAME (PID)\",\n"
"largest peak first, as many as fit (32 series in all); labels are markers.\n"
"\n"
"Lost events (LOST records: the recorder dropped events): a red banner\n"
"across the top of the picture says so first (events lost per trace and\n"
"thread), stderr gets a warning, and what the loss can falsify is marked *:\n"
"the heap series, the lanes of threads that lost events, flame graphs.\n"
"\n"
"JSON (.json): {\"schema\": \"memtrace-plot-data/1\", \"traces\": [FILE],\n"
"  \"timeline\": {title, t0_s, t1_s, series: [{name, unit (\"bytes\"|\"\"),\n"
"  points: [[t_s, value]]}], markers: [{t_s, label}], lanes: [{name, rows}]},\n"
"  \"flame_weight\": \"rss\"|\"alloc\"|\"peak\"|\"leak\", \"flame\": {total, nodes:\n"
"  [{name, where (\"file:line\", allocation weights), parent (index; -1:\n"
"  the root), depth, total}]}}.\n"
"\n"
"The output is never one of the input traces (by any name: refused).\n"
"\n"
"Exit status: 0 picture written; 1 failure, or a damaged trace (the\n"
"picture then covers its intact chunks), a trace with no event and no\n"
"sample, a --from past the end, or no thread matching --thread (one line\n"
"each); 2 bad usage.\n";

/* ---- Per-trace replay ------------------------------------------------------ */

typedef struct frame {
    uint32_t fid;
    uint64_t t_start;
    int64_t child_growth; /* growth of its finished direct callees */
    uint32_t tps;         /* its stack in the page's profile; 0: not yet */
    uint32_t gn;          /* its node in R->gn (pprof's growth); 0: not yet */
    uint32_t pend_k;      /* growth on top in slice pend_k not yet given */
    int64_t pend;
} frame;

typedef struct thread_state {
    uint32_t tid;
    uint64_t chint; /* mt_analysis_charge_at's cursor */
    uint64_t seg_t; /* the last push or pop: growth since is the top's */
    frame *stack;
    uint32_t depth, cap;
    int lane;       /* -1: none yet */
    size_t cursor;  /* into the RSS series: last sample <= last time asked */
    int seen_block; /* its first BLOCK gave the frames entered before */
    int skip;       /* not a thread --thread selects */
} thread_state;

typedef struct fid_info {
    char *name; /* "<fn#N>" when the trace does not name it */
    int pfunc;  /* mt_plot_function id; -1 until first needed */
    int focus;  /* --function/--file: 0 not yet known, 1 matches, 2 not */
} fid_info;

typedef struct replay {
    const options *o;
    const char *path, *label; /* label: the file's base name */
    int multi;                /* several traces: prefix names with label */
    mt_reader *r;
    const mt_analysis *a;
    double tps;
    const mt_analysis_sample *rss;
    uint64_t nrss;
    uint64_t win_from, win_to; /* ticks */
    int rss_flame;             /* the flame graph is of RSS growth */
    mt_plot *plot;             /* timeline, or NULL */
    mt_flame *flame;           /* flame graph, or NULL */
    int heap_series;           /* -1 until a heap_bytes counter is seen */
    /* pprof's RSS growth by call stack (when gn_on): a trie of fids, node
     * 0 the root; gtab indexes (parent, fid) -> node + 1. */
    int gn_on;
    struct gnode {
        uint32_t parent, fid;
        int64_t bytes;
    } *gn;
    uint32_t ngn, capgn;
    uint32_t *gtab;
    uint64_t gmask;
    mt_tprof *tprof;           /* the page's profile over time, or NULL: */
    uint64_t tp_t0, tp_span;   /* its slices in ticks: slice k (1..tp_n) */
    uint32_t tp_n;             /* is [t0 + (k-1) span/n, t0 + k span/n) */
    FILE *chrome;              /* --format chrome: calls go there as slices */
    int pid;                   /* its pid there (the trace's number, 1...) */
    thread_state **threads;    /* by tid */
    uint32_t nthreads;
    fid_info *fids;
    uint32_t nfids;
    const char **names; /* scratch for flame paths */
    uint32_t names_cap;
    int failed;
} replay;

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) mt_cli_die(1, "out of memory");
    return q;
}

static double secs(const replay *R, uint64_t t) { return (double)t / R->tps; }

/* RSS(t) as the core defines it; each thread walks the series forward with
 * its own cursor (its events are in time order), so a lookup is O(1)
 * amortised; a step back in time falls back to a binary search. */
static uint64_t rss_at(const replay *R, size_t *cur, uint64_t t) {
    const mt_analysis_sample *s = R->rss;
    uint64_t n = R->nrss;
    if (!n) return 0;
    size_t c = *cur;
    if (c >= n || s[c].t > t) {
        size_t lo = 0, hi = n; /* first sample with s.t > t */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (s[mid].t <= t) lo = mid + 1;
            else hi = mid;
        }
        c = lo ? lo - 1 : 0;
    } else {
        while (c + 1 < n && s[c + 1].t <= t) c++;
    }
    *cur = c;
    return s[c].rss_bytes; /* before the first sample: the first's value */
}

/* C(thread, t): the growth the analysis charged the thread with up to
 * RSS(t)'s sample (mt_analysis_charge_at), so that threads running at
 * once share growth instead of each counting all of it. */
static int64_t charge_at(const replay *R, thread_state *ts, uint64_t t) {
    if (!R->nrss) return 0;
    rss_at(R, &ts->cursor, t);
    int64_t k = R->rss[ts->cursor].t <= t ? (int64_t)ts->cursor : -1;
    return mt_analysis_charge_at(R->a, ts->tid, k, &ts->chint);
}

static thread_state *thread_get(replay *R, uint32_t tid) {
    if (tid >= (1u << 24)) return NULL; /* not a tid any recorder makes */
    if (tid >= R->nthreads) {
        uint32_t n = tid + 16;
        R->threads = xrealloc(R->threads, n * sizeof *R->threads);
        memset(R->threads + R->nthreads, 0, (n - R->nthreads) * sizeof *R->threads);
        R->nthreads = n;
    }
    if (!R->threads[tid]) {
        thread_state *t = calloc(1, sizeof *t);
        if (!t) mt_cli_die(1, "out of memory");
        t->lane = -1;
        t->tid = tid;
        if (R->o->nthreads) {
            /* --thread: the others' calls are not replayed (once per tid). */
            uint32_t nt;
            const mt_analysis_thread *th = mt_analysis_threads(R->a, &nt);
            t->skip = 1;
            for (uint32_t k = 0; k < nt; k++)
                if (th[k].tid == tid) t->skip = !th[k].selected;
        }
        R->threads[tid] = t;
    }
    return R->threads[tid]->skip ? NULL : R->threads[tid];
}

static fid_info *fid_get(replay *R, uint32_t fid) {
    if (fid >= (1u << 26)) fid = 0; /* absurd: treat as unknown */
    if (fid >= R->nfids) {
        uint32_t n = fid + 64;
        R->fids = xrealloc(R->fids, n * sizeof *R->fids);
        for (uint32_t i = R->nfids; i < n; i++) R->fids[i] = (fid_info){NULL, -1, 0};
        R->nfids = n;
    }
    fid_info *f = &R->fids[fid];
    if (!f->name) {
        const mt_function *fn = mt_reader_function(R->r, fid);
        char buf[32];
        const char *name = fn && fn->qualname[0] ? fn->qualname : NULL;
        if (!name) {
            snprintf(buf, sizeof buf, "<fn#%u>", fid);
            name = buf;
        }
        f->name = strdup(name);
        if (!f->name) mt_cli_die(1, "out of memory");
    }
    return f;
}

/* Does fid pass --function/--file (as the analysis's focus)? Cached. */
static int fid_focus(replay *R, uint32_t fid) {
    fid_info *fi = fid_get(R, fid);
    if (!fi->focus) {
        const mt_function *fn = mt_reader_function(R->r, fid);
        int ok = mt_analysis_focus_match(R->o->funcs, R->o->nfuncs, R->o->files, R->o->nfiles,
                                         fn ? fn->qualname : NULL, fn ? fn->module : NULL,
                                         fn ? fn->file : NULL);
        fi->focus = ok ? 1 : 2;
    }
    return fi->focus == 1;
}

/* ---- Chrome trace (Trace Event Format, as Perfetto and chrome://tracing
 * read it): calls as complete slices ("X") per thread, RSS and heap as
 * counter tracks ("C"), markers as instants ("i"), names as metadata
 * ("M"); times in microseconds since the trace's start. ---- */

static void chrome_sep(FILE *f) {
    static int n;
    fputs(n++ ? ",\n" : "\n", f);
}

static void chrome_slice(replay *R, uint32_t tid, uint32_t fid, uint64_t a, uint64_t b,
                         int64_t growth) {
    fid_info *fi = fid_get(R, fid);
    const mt_function *fn = mt_reader_function(R->r, fid);
    chrome_sep(R->chrome);
    fprintf(R->chrome, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%u,\"ts\":%.3f,\"dur\":%.3f,\"name\":",
            R->pid, tid, (double)a / R->tps * 1e6, (double)(b - a) / R->tps * 1e6);
    mt_plot_json_str(R->chrome, fi->name);
    fputs(",\"args\":{\"file\":", R->chrome);
    mt_plot_json_str(R->chrome, fn && fn->file ? fn->file : "");
    fprintf(R->chrome, ",\"rss_growth_bytes\":%lld}}", (long long)growth);
}

/* Names, counters and markers of one trace (after its slices). */
static void chrome_trace_rest(FILE *f, int pid, const char *label, const mt_analysis *a,
                              uint64_t from, uint64_t to) {
    chrome_sep(f);
    fprintf(f, "{\"ph\":\"M\",\"pid\":%d,\"name\":\"process_name\",\"args\":{\"name\":", pid);
    mt_plot_json_str(f, label);
    fputs("}}", f);
    uint32_t nt;
    const mt_analysis_thread *th = mt_analysis_threads(a, &nt);
    for (uint32_t k = 0; k < nt; k++) {
        chrome_sep(f);
        fprintf(f, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"thread_name\","
                   "\"args\":{\"name\":", pid, th[k].tid);
        mt_plot_json_str(f, th[k].name[0] ? th[k].name : "thread");
        fputs("}}", f);
    }
    double us = 1e6 / (double)mt_analysis_summary_get(a)->header->ticks_per_second;
    uint64_t n;
    const mt_analysis_sample *s = mt_analysis_rss_series(a, &n);
    for (uint64_t i = 0; i < n; i++) {
        if (s[i].t < from || s[i].t > to) continue;
        chrome_sep(f);
        fprintf(f, "{\"ph\":\"C\",\"pid\":%d,\"name\":\"RSS\",\"ts\":%.3f,"
                   "\"args\":{\"bytes\":%llu}}", pid, (double)s[i].t * us,
                (unsigned long long)s[i].rss_bytes);
    }
    const mt_analysis_heap_point *h = mt_analysis_heap_series(a, -1, &n);
    for (uint64_t i = 0; i < n; i++) {
        if (h[i].t < from || h[i].t > to) continue;
        chrome_sep(f);
        fprintf(f, "{\"ph\":\"C\",\"pid\":%d,\"name\":\"heap in use\",\"ts\":%.3f,"
                   "\"args\":{\"bytes\":%llu}}", pid, (double)h[i].t * us,
                (unsigned long long)h[i].bytes);
    }
    uint32_t nm;
    const mt_analysis_marker *m = mt_analysis_markers(a, &nm);
    for (uint32_t k = 0; k < nm; k++) {
        chrome_sep(f);
        fprintf(f, "{\"ph\":\"i\",\"s\":\"g\",\"pid\":%d,\"tid\":0,\"ts\":%.3f,\"name\":",
                pid, (double)m[k].t * us);
        mt_plot_json_str(f, m[k].text);
        fputc('}', f);
    }
}

static int lane_for(replay *R, uint32_t tid, thread_state *ts) {
    if (ts->lane >= 0) return ts->lane;
    const char *tname = mt_reader_thread_name(R->r, tid);
    char name[512];
    if (R->multi)
        snprintf(name, sizeof name, "%s: %s (tid %u)", R->label,
                 tname && *tname ? tname : "thread", tid);
    else
        snprintf(name, sizeof name, "%s (tid %u)", tname && *tname ? tname : "thread", tid);
    ts->lane = mt_plot_lane_add(R->plot, name);
    if (ts->lane < 0) mt_cli_die(1, "%s: %s", R->path, mt_plot_strerror(ts->lane));
    return ts->lane;
}

/* ---- Growth over time, for the page (R->tprof): the RSS growth between
 * two pushes or pops of a thread is its top frame's, cut at the slices'
 * edges. ---- */

/* The profile's stack of frame i of ts (made for it and its callers). */
static uint32_t frame_tps(replay *R, thread_state *ts, uint32_t i) {
    uint32_t j = i + 1;
    while (j > 0 && !ts->stack[j - 1].tps) j--;
    for (; j <= i; j++) {
        uint32_t parent = j ? ts->stack[j - 1].tps : 0;
        const mt_function *fn = mt_reader_function(R->r, ts->stack[j].fid);
        int64_t s = mt_tprof_stack(R->tprof, parent, fid_get(R, ts->stack[j].fid)->name,
                                   fn && fn->file[0] ? fn->file : NULL);
        if (s < 0) mt_cli_die(1, "%s: %s", R->path, mt_plot_strerror((int)s));
        ts->stack[j].tps = (uint32_t)s;
    }
    return ts->stack[i].tps;
}

static void growth_flush(replay *R, thread_state *ts, uint32_t i) {
    frame *f = &ts->stack[i];
    if (!f->pend) return;
    if (R->o->nfuncs || R->o->nfiles) { /* --function/--file: stacks through them only */
        int hit = 0;
        for (uint32_t k = 0; k <= i && !hit; k++) hit = fid_focus(R, ts->stack[k].fid);
        if (!hit) {
            f->pend = 0;
            return;
        }
    }
    int rc = mt_tprof_add(R->tprof, MT_TPROF_GROWTH, frame_tps(R, ts, i), ts->tid, f->pend_k, 0,
                          0, 0, (double)f->pend);
    if (rc < 0) mt_cli_die(1, "%s: %s", R->path, mt_plot_strerror(rc));
    f->pend = 0;
}

static void growth_seg(replay *R, thread_state *ts, uint64_t t) {
    uint64_t a = ts->seg_t, end = R->tp_t0 + R->tp_span;
    ts->seg_t = t;
    if (!R->tprof || !ts->depth) return;
    if (a < R->tp_t0) a = R->tp_t0;
    if (t > end) t = end;
    if (t <= a) return;
    frame *f = &ts->stack[ts->depth - 1];
    int64_t r0 = charge_at(R, ts, a);
    while (a < t) {
        uint32_t k = 1 + (uint32_t)((unsigned __int128)(a - R->tp_t0) * R->tp_n / R->tp_span);
        /* the first tick of slice k + 1 */
        uint64_t nb = R->tp_t0 + (uint64_t)(((unsigned __int128)k * R->tp_span + R->tp_n - 1) /
                                            R->tp_n);
        uint64_t b = nb < t ? nb : t;
        int64_t r1 = charge_at(R, ts, b);
        if (r1 != r0) {
            if (f->pend && f->pend_k != k) growth_flush(R, ts, ts->depth - 1);
            f->pend_k = k;
            f->pend += r1 - r0;
        }
        a = b > a ? b : a + 1;
        r0 = r1;
    }
}

/* ---- pprof's RSS growth: a trie of call stacks by fid ---- */

static uint64_t gn_hash(uint32_t parent, uint32_t fid) {
    uint64_t x = (uint64_t)parent << 32 | fid;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static uint32_t gn_child(replay *R, uint32_t parent, uint32_t fid) {
    if (!R->gtab || (uint64_t)(R->ngn + 1) * 2 > R->gmask + 1) {
        uint64_t cap = R->gtab ? (R->gmask + 1) * 2 : 1024;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) mt_cli_die(1, "out of memory");
        for (uint32_t i = 1; i < R->ngn; i++) {
            uint64_t j = gn_hash(R->gn[i].parent, R->gn[i].fid) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = i + 1;
        }
        free(R->gtab);
        R->gtab = t;
        R->gmask = cap - 1;
    }
    if (!R->ngn) { /* the root */
        R->gn = xrealloc(R->gn, 64 * sizeof *R->gn);
        R->capgn = 64;
        R->gn[R->ngn++] = (struct gnode){0, 0, 0};
    }
    uint64_t j = gn_hash(parent, fid) & R->gmask;
    for (; R->gtab[j]; j = (j + 1) & R->gmask) {
        const struct gnode *g = &R->gn[R->gtab[j] - 1];
        if (g->parent == parent && g->fid == fid) return R->gtab[j] - 1;
    }
    if (R->ngn == R->capgn) {
        R->capgn *= 2;
        R->gn = xrealloc(R->gn, R->capgn * sizeof *R->gn);
    }
    R->gn[R->ngn] = (struct gnode){parent, fid, 0};
    R->gtab[j] = R->ngn + 1;
    return R->ngn++;
}

/* The trie node of frame i of ts (made for it and its callers). */
static uint32_t frame_gn(replay *R, thread_state *ts, uint32_t i) {
    uint32_t j = i + 1;
    while (j > 0 && !ts->stack[j - 1].gn) j--;
    for (; j <= i; j++)
        ts->stack[j].gn = gn_child(R, j ? ts->stack[j - 1].gn : 0, ts->stack[j].fid);
    return ts->stack[i].gn;
}

/* The frame on top of ts ends at time t: draw it, and count its growth. */
static void frame_end(replay *R, uint32_t tid, thread_state *ts, uint64_t t) {
    if (R->tprof) {
        growth_seg(R, ts, t);
        growth_flush(R, ts, ts->depth - 1);
    }
    uint32_t d = --ts->depth;
    frame *f = &ts->stack[d];
    uint64_t a = f->t_start > R->win_from ? f->t_start : R->win_from;
    uint64_t b = t < R->win_to ? t : R->win_to;
    int64_t growth = 0;
    if (b >= a) {
        /* the flame graph's growth: the thread's share (as the analysis) */
        int64_t ca = charge_at(R, ts, a);
        uint64_t ra = rss_at(R, &ts->cursor, a);
        int64_t cb = charge_at(R, ts, b);
        uint64_t rb = rss_at(R, &ts->cursor, b);
        growth = cb - ca;
        if (R->plot) {
            fid_info *fi = fid_get(R, f->fid);
            if (fi->pfunc < 0) {
                const mt_function *fn = mt_reader_function(R->r, f->fid);
                fi->pfunc = mt_plot_function(R->plot, fi->name,
                                             fn && fn->file[0] ? fn->file : NULL,
                                             fn ? fn->first_line : 0);
                if (fi->pfunc < 0)
                    mt_cli_die(1, "%s: %s", R->path, mt_plot_strerror(fi->pfunc));
            }
            mt_plot_span s = {secs(R, a), secs(R, b), d, lane_for(R, tid, ts),
                              fi->pfunc, (double)ra, (double)rb};
            mt_plot_span_add(R->plot, &s);
        }
        if (R->chrome) chrome_slice(R, tid, f->fid, a, b, (int64_t)(rb - ra));
    }
    /* its own growth (the flame graph's and pprof's): none when
     * --function/--file pass no frame of the stack */
    int64_t self = growth - f->child_growth;
    if (self > 0 && (R->o->nfuncs || R->o->nfiles)) {
        int hit = 0;
        for (uint32_t i = 0; i <= d && !hit; i++) hit = fid_focus(R, ts->stack[i].fid);
        if (!hit) self = 0;
    }
    if (R->gn_on && self > 0) {
        uint32_t g = frame_gn(R, ts, d); /* may move R->gn */
        R->gn[g].bytes += self;
    }
    if (R->flame && R->rss_flame && self > 0) {
        uint32_t n = d + 1 + (R->multi ? 1 : 0), k = 0;
        if (n > R->names_cap) {
            R->names_cap = n + 16;
            R->names = xrealloc(R->names, R->names_cap * sizeof *R->names);
        }
        if (R->multi) R->names[k++] = R->label;
        for (uint32_t i = 0; i <= d; i++) R->names[k++] = fid_get(R, ts->stack[i].fid)->name;
        int rc = mt_flame_add(R->flame, R->names, n, (double)self);
        if (rc < 0) mt_cli_die(1, "%s: %s", R->path, mt_plot_strerror(rc));
    }
    if (d) ts->stack[d - 1].child_growth += growth;
}

static void frame_push(replay *R, thread_state *ts, uint32_t fid, uint64_t t) {
    if (R->tprof) growth_seg(R, ts, t);
    if (ts->depth == ts->cap) {
        ts->cap = ts->cap ? 2 * ts->cap : 32;
        ts->stack = xrealloc(ts->stack, ts->cap * sizeof *ts->stack);
    }
    ts->stack[ts->depth++] = (frame){fid, t, 0, 0, 0, 0, 0};
}

/* A BLOCK states the thread's stack: where it disagrees with the replayed
 * one (events were lost, or recording began inside those frames), close
 * what is not in it and open what is only in it, at the block's time -
 * the rule of the analysis core. */
static void block_sync(replay *R, uint32_t tid, thread_state *ts, const mt_record *rec) {
    uint32_t n = rec->u.block.depth, same = 0;
    const uint32_t *fids = rec->u.block.fids;
    while (same < n && same < ts->depth && ts->stack[same].fid == fids[same]) same++;
    while (ts->depth > same) frame_end(R, tid, ts, rec->t);
    for (uint32_t i = same; i < n; i++) frame_push(R, ts, fids[i], rec->t);
    ts->seen_block = 1;
}

static int replay_run(replay *R) {
    mt_record rec;
    int rc;
    uint64_t t_last = 0;
    while ((rc = mt_reader_next(R->r, &rec)) != 0) {
        if (rc < 0) {
            /* The core met (and counted) the same damage in its pass. */
            if (mt_reader_fatal(R->r)) break;
            continue;
        }
        if (rec.t > t_last && rec.type != MT_REC_STRING &&
            rec.type != MT_REC_FUNCTION && rec.type != MT_REC_THREAD)
            t_last = rec.t;
        thread_state *ts;
        switch (rec.type) {
        case MT_REC_BLOCK:
            if ((ts = thread_get(R, rec.tid))) block_sync(R, rec.tid, ts, &rec);
            break;
        case MT_REC_CALL:
        case MT_REC_CCALL:
            if ((ts = thread_get(R, rec.tid))) frame_push(R, ts, rec.u.call.fid, rec.t);
            break;
        case MT_REC_RETURN:
        case MT_REC_CRETURN:
        case MT_REC_CRAISE:
        case MT_REC_UNWIND:
            if ((ts = thread_get(R, rec.tid)) && ts->depth) frame_end(R, rec.tid, ts, rec.t);
            break;
        case MT_REC_COUNTERS:
            if (!R->plot) break;
            for (uint32_t i = 0; i < rec.u.counters.n; i++) {
                if (rec.u.counters.v[i].id != MT_CTR_HEAP_BYTES) continue;
                if (R->heap_series < 0) {
                    char name[512];
                    snprintf(name, sizeof name, "%s%sPython heap", R->multi ? R->label : "",
                             R->multi ? ": " : "");
                    R->heap_series = mt_plot_series_add(R->plot, name, MT_PLOT_UNIT_BYTES);
                    if (R->heap_series < 0) {
                        R->heap_series = -2; /* too many series: skip it */
                        break;
                    }
                }
                if (R->heap_series >= 0 && rec.t >= R->win_from && rec.t <= R->win_to)
                    mt_plot_point(R->plot, R->heap_series, secs(R, rec.t),
                                  (double)rec.u.counters.v[i].value);
            }
            break;
        default:
            break;
        }
    }
    /* Frames still open end with the trace, as in the core. */
    for (uint32_t tid = 0; tid < R->nthreads; tid++) {
        thread_state *ts = R->threads[tid];
        while (ts && ts->depth) frame_end(R, tid, ts, t_last);
    }
    return 0;
}

static void replay_free(replay *R) {
    for (uint32_t i = 0; i < R->nthreads; i++) {
        if (R->threads[i]) free(R->threads[i]->stack);
        free(R->threads[i]);
    }
    free(R->threads);
    for (uint32_t i = 0; i < R->nfids; i++) free(R->fids[i].name);
    free(R->fids);
    free(R->names);
    free(R->gn);
    free(R->gtab);
    mt_reader_close(R->r);
}

static FILE *open_out(const char *out);
static int close_out(FILE *f, const char *out, int rc);

static const mt_function *reader_function(void *ctx, uint32_t fid) {
    return mt_reader_function(ctx, fid);
}

/* pprof: the heap tables of the analysis, and the RSS growth of a replay
 * of its calls. */
static int write_pprof(const options *o, const char *path, mt_analysis *a) {
    const mt_analysis_summary *s = mt_analysis_summary_get(a);
    replay R = {0};
    R.o = o;
    R.path = path;
    R.label = base_name(path);
    R.a = a;
    R.tps = (double)s->header->ticks_per_second;
    R.rss = mt_analysis_rss_series(a, &R.nrss);
    R.win_from = s->from;
    R.win_to = s->to;
    R.heap_series = -1;
    R.gn_on = R.nrss > 0;
    if (mt_cli_open_trace(&R.r, path) < 0) return 1;
    if (R.gn_on) replay_run(&R);
    /* the stacks that grew, outermost first */
    mt_pprof_growth *g = calloc(R.ngn ? R.ngn : 1, sizeof *g);
    uint32_t *fids = NULL;
    size_t ng = 0, nfid = 0;
    if (!g) mt_cli_die(1, "out of memory");
    for (uint32_t i = 1; i < R.ngn; i++)
        if (R.gn[i].bytes > 0)
            for (uint32_t x = i; x; x = R.gn[x].parent) nfid++;
    fids = malloc((nfid ? nfid : 1) * sizeof *fids);
    if (!fids) mt_cli_die(1, "out of memory");
    nfid = 0;
    for (uint32_t i = 1; i < R.ngn; i++) {
        if (R.gn[i].bytes <= 0) continue;
        uint32_t d = 0;
        for (uint32_t x = i; x; x = R.gn[x].parent) d++;
        g[ng] = (mt_pprof_growth){fids + nfid, d, R.gn[i].bytes};
        for (uint32_t x = i; x; x = R.gn[x].parent) fids[nfid + --d] = R.gn[x].fid;
        nfid += g[ng++].depth;
    }
    char comment[600];
    snprintf(comment, sizeof comment, "memtrace-plot %s: %s", MT_LIBRARY_VERSION,
             base_name(path));
    FILE *pf = open_out(o->out);
    int rc = mt_pprof_write(a, pf, comment, R.gn_on ? g : NULL, ng, reader_function, R.r);
    if (rc < 0 && rc != MT_ERR_IO) mt_cli_error("%s: %s", path, mt_strerror(rc));
    int status = close_out(pf, o->out, rc < 0 ? MT_PLOT_ERR_IO : 0);
    free(g);
    free(fids);
    replay_free(&R);
    return status;
}

/* ---- The pictures ----------------------------------------------------------- */

/* The RSS series as steps: RSS(t) holds until the next sample. */
static void add_rss(mt_plot *p, int series, const mt_analysis *a, uint64_t from,
                    uint64_t to, uint64_t t_end) {
    uint64_t n;
    const mt_analysis_sample *s = mt_analysis_rss_series(a, &n);
    for (uint64_t i = 0; i < n; i++) {
        if (i) mt_plot_point(p, series, mt_analysis_seconds(a, s[i].t),
                             (double)s[i - 1].rss_bytes);
        mt_plot_point(p, series, mt_analysis_seconds(a, s[i].t), (double)s[i].rss_bytes);
    }
    if (n && t_end > s[n - 1].t)
        mt_plot_point(p, series, mt_analysis_seconds(a, t_end), (double)s[n - 1].rss_bytes);
    (void)from;
    (void)to;
}

/* Tree traces (PROC_SAMPLE): the total RSS per round, then one series per
 * process, largest peak first, as many as the plot takes (the rest are
 * counted on stderr). A process's series spans its samples only. */
static void add_processes(mt_plot *p, const char *path, const mt_analysis *a, const char *label) {
    uint32_t np;
    const mt_analysis_process *pr = mt_analysis_processes(a, &np);
    uint64_t nt;
    const mt_analysis_sample *tot = mt_analysis_total_series(a, &nt, NULL, NULL);
    char name[600];
    snprintf(name, sizeof name, "%s%stotal RSS", label ? label : "", label ? ": " : "");
    int se = mt_plot_series_add(p, name, MT_PLOT_UNIT_BYTES);
    if (se < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(se));
    for (uint64_t i = 0; i < nt; i++) {
        if (i) mt_plot_point(p, se, mt_analysis_seconds(a, tot[i].t), (double)tot[i - 1].rss_bytes);
        mt_plot_point(p, se, mt_analysis_seconds(a, tot[i].t), (double)tot[i].rss_bytes);
    }
    uint32_t *idx = malloc((np ? np : 1) * sizeof *idx);
    if (!idx) mt_cli_die(1, "%s: out of memory", path);
    for (uint32_t i = 0; i < np; i++) idx[i] = i;
    for (uint32_t i = 1; i < np; i++) { /* by peak, descending; stable */
        uint32_t v = idx[i], j = i;
        while (j && pr[idx[j - 1]].peak_rss_bytes < pr[v].peak_rss_bytes) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    uint32_t dropped = 0;
    for (uint32_t k = 0; k < np; k++) {
        const mt_analysis_process *q = &pr[idx[k]];
        uint64_t n;
        const mt_analysis_sample *v = mt_analysis_process_series(a, idx[k], &n);
        if (!n) continue;
        snprintf(name, sizeof name, "%s%s%s (%u)", label ? label : "", label ? ": " : "",
                 q->name[0] ? q->name : "?", (unsigned)q->pid);
        int ps = mt_plot_series_add(p, name, MT_PLOT_UNIT_BYTES);
        if (ps < 0) {
            dropped++;
            continue;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (i) mt_plot_point(p, ps, mt_analysis_seconds(a, v[i].t), (double)v[i - 1].rss_bytes);
            mt_plot_point(p, ps, mt_analysis_seconds(a, v[i].t), (double)v[i].rss_bytes);
        }
        if (q->t_last > v[n - 1].t)
            mt_plot_point(p, ps, mt_analysis_seconds(a, q->t_last), (double)v[n - 1].rss_bytes);
    }
    if (dropped)
        mt_cli_error("%s: %u processes with the smallest peaks not drawn (at most %d series)",
                     path, (unsigned)dropped, MT_PLOT_MAX_SERIES);
    free(idx);
}

/* The heap in use (allocation records) as steps, like RSS. */
static void add_heap(mt_plot *p, const char *path, const mt_analysis *a, const char *label) {
    uint64_t n;
    const mt_analysis_heap_point *s = mt_analysis_heap_series(a, -1, &n);
    if (!n) return;
    char name[512];
    /* "*": events were lost, so the heap can be wrong (the banner says why). */
    snprintf(name, sizeof name, "%s%sheap in use%s", label ? label : "", label ? ": " : "",
             mt_analysis_loss_falsifies(a) & MT_LOSS_HEAP ? " *" : "");
    int se = mt_plot_series_add(p, name, MT_PLOT_UNIT_BYTES);
    if (se < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(se));
    const mt_analysis_summary *sum = mt_analysis_summary_get(a);
    mt_plot_point(p, se, mt_analysis_seconds(a, sum->t_first), 0);
    for (uint64_t i = 0; i < n; i++) {
        /* Steps, as the heap holds its value until the next change. */
        mt_plot_point(p, se, mt_analysis_seconds(a, s[i].t), i ? (double)s[i - 1].bytes : 0.0);
        mt_plot_point(p, se, mt_analysis_seconds(a, s[i].t), (double)s[i].bytes);
    }
    if (sum->t_last > s[n - 1].t)
        mt_plot_point(p, se, mt_analysis_seconds(a, sum->t_last), (double)s[n - 1].bytes);
}

/* pymalloc's arenas and the bytes in use in them (format 1.4 counters), as
 * steps: the gap between the two is what it holds without using. */
static void add_pymalloc(mt_plot *p, const char *path, const mt_analysis *a, const char *label) {
    uint64_t n;
    const mt_analysis_pymalloc *s = mt_analysis_pymalloc_series(a, &n);
    if (!n) return;
    const mt_analysis_summary *sum = mt_analysis_summary_get(a);
    for (int k = 0; k < 2; k++) {
        char name[512];
        snprintf(name, sizeof name, "%s%spymalloc %s", label ? label : "", label ? ": " : "",
                 k ? "in use" : "arenas");
        int se = mt_plot_series_add(p, name, MT_PLOT_UNIT_BYTES);
        if (se == MT_PLOT_ERR_LIMIT) return; /* too many series: the others matter more */
        if (se < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(se));
        for (uint64_t i = 0; i < n; i++) {
            double v = (double)(k ? s[i].used_bytes : s[i].arena_bytes);
            if (i)
                mt_plot_point(p, se, mt_analysis_seconds(a, s[i].t),
                              (double)(k ? s[i - 1].used_bytes : s[i - 1].arena_bytes));
            mt_plot_point(p, se, mt_analysis_seconds(a, s[i].t), v);
        }
        if (sum->t_last > s[n - 1].t)
            mt_plot_point(p, se, mt_analysis_seconds(a, sum->t_last),
                          (double)(k ? s[n - 1].used_bytes : s[n - 1].arena_bytes));
    }
}

/* Object tracking: the objects alive of the types that had the most alive
 * at once (up to OBJ_SERIES), counts on the right-hand axis. */
#define OBJ_SERIES 5
static void add_objects(mt_plot *p, const char *path, const mt_analysis *a, const char *label) {
    uint32_t nt;
    const mt_analysis_object_type *ty = mt_analysis_object_types(a, &nt);
    if (!nt) return;
    uint32_t pick[OBJ_SERIES], np = 0;
    for (uint32_t i = 0; i < nt; i++) { /* the OBJ_SERIES greatest live_max */
        if (!ty[i].live_max) continue;
        uint32_t k = np < OBJ_SERIES ? np++ : OBJ_SERIES;
        if (k == OBJ_SERIES) {
            if (ty[i].live_max <= ty[pick[OBJ_SERIES - 1]].live_max) continue;
            k = OBJ_SERIES - 1;
        }
        while (k > 0 && ty[pick[k - 1]].live_max < ty[i].live_max) {
            pick[k] = pick[k - 1];
            k--;
        }
        pick[k] = i;
    }
    const mt_analysis_summary *sum = mt_analysis_summary_get(a);
    for (uint32_t j = 0; j < np; j++) {
        char name[512];
        snprintf(name, sizeof name, "%s%sobjects: %s", label ? label : "", label ? ": " : "",
                 ty[pick[j]].name);
        int se = mt_plot_series_add(p, name, MT_PLOT_UNIT_NONE);
        if (se == MT_PLOT_ERR_LIMIT) return;
        if (se < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(se));
        uint64_t n;
        const mt_analysis_object_point *pt = mt_analysis_object_series(a, pick[j], &n);
        mt_plot_point(p, se, mt_analysis_seconds(a, sum->t_first), 0);
        for (uint64_t i = 0; i < n; i++)
            mt_plot_point(p, se, mt_analysis_seconds(a, pt[i].t), (double)pt[i].live);
    }
}

/* A flame graph of a site table: each site's stack, outermost first, with
 * its bytes. Frames are named by function alone, so the lines of one
 * function merge into one box. */
static void add_sites_flame(mt_flame *fl, const char *path, const mt_analysis *a, int weight,
                            const char *label, int located) {
    int table = weight == W_PEAK ? MT_ANALYSIS_SITES_PEAK
              : weight == W_LEAK ? MT_ANALYSIS_SITES_LEAKS : MT_ANALYSIS_SITES_ALLOCS;
    uint32_t n, cap = 0;
    const mt_analysis_site *st = mt_analysis_sites(a, table, MT_ANALYSIS_BY_BYTES, &n);
    const char **names = NULL;
    char (*bufs)[1200] = NULL;
    mt_analysis_frame *fr = NULL;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t d = st[i].depth + (label ? 1 : 0), k = 0;
        if (d + 1 > cap) {
            cap = d + 16;
            names = xrealloc(names, cap * sizeof *names);
            bufs = xrealloc(bufs, cap * sizeof *bufs);
            fr = xrealloc(fr, cap * sizeof *fr);
        }
        mt_analysis_site_fill(a, &st[i], fr); /* not kept: one buffer for all */
        if (label) names[k++] = label;
        for (uint32_t j = 0; j < st[i].depth; j++, k++) {
            const mt_analysis_frame *f = &fr[j];
            if (located && f->qualname[0]) {
                /* the page's frames: "name\x1ffile:line" (MT_PAGE_LOC_SEP) */
                snprintf(bufs[k], sizeof bufs[k], "%s\x1f%s:%u", f->qualname,
                         f->file[0] ? f->file : "?", (unsigned)f->line);
                names[k] = bufs[k];
            } else if (f->qualname[0]) {
                names[k] = f->qualname;
            } else {
                snprintf(bufs[k], sizeof bufs[k], "<fn#%u>", (unsigned)f->fid);
                names[k] = bufs[k];
            }
        }
        if (!st[i].depth) names[k++] = "(no Python frame)";
        int rc = mt_flame_add(fl, names, k, (double)st[i].bytes);
        if (rc < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(rc));
    }
    free(names);
    free(bufs);
    free(fr);
}

static const char *gnuplot_path(void) {
    static char buf[4096];
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    while (*path) {
        const char *e = strchr(path, ':');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        if (n && n + 9 < sizeof buf) {
            memcpy(buf, path, n);
            memcpy(buf + n, "/gnuplot", 9);
            if (access(buf, X_OK) == 0) return buf;
        }
        path += n + (e ? 1 : 0);
    }
    return NULL;
}

/* Run gnuplot on script; 0 when it succeeded. Its own messages go to our
 * stderr as they are: they name the line of the script. */
static int run_gnuplot(const char *gp, const char *script) {
    pid_t pid = fork();
    if (pid < 0) {
        mt_cli_error("cannot run gnuplot: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execl(gp, "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFEXITED(st))
        mt_cli_error("gnuplot failed (exit status %d)", WEXITSTATUS(st));
    else
        mt_cli_error("gnuplot was killed by signal %d", WTERMSIG(st));
    return -1;
}

static FILE *open_out(const char *out) {
    if (!out || strcmp(out, "-") == 0) return stdout;
    FILE *f = fopen(out, "w");
    if (!f) mt_cli_die(1, "cannot write '%s': %s", out, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *out, int rc) {
    const char *name = f == stdout ? "standard output" : out;
    if (rc < 0) mt_cli_error("error writing %s: %s", name,
                             rc == MT_PLOT_ERR_IO ? strerror(errno) : mt_plot_strerror(rc));
    if ((f == stdout ? fflush(f) : fclose(f)) != 0 && rc >= 0) {
        mt_cli_error("error writing %s: %s", name, strerror(errno));
        rc = -1;
    }
    return rc < 0 ? 1 : 0;
}

static uint64_t parse_pos(const char *opt, const char *s, uint64_t max) {
    uint64_t v;
    if (mt_cli_parse_u64(s, &v) < 0 || v == 0 || v > max)
        mt_cli_usage_error(usage_text, "%s: not a number from 1 to %llu: '%s'", opt,
                           (unsigned long long)max, s);
    return v;
}

int main(int argc, char **argv) {
    enum { OPT_FLAME = 256, OPT_GNUPLOT, OPT_PNG, OPT_SVG, OPT_FROM, OPT_TO,
           OPT_WIDTH, OPT_HEIGHT, OPT_TITLE, OPT_DEPTH, OPT_WEIGHT, OPT_FORMAT, OPT_THREAD,
           OPT_JSON, OPT_FUNCTION, OPT_FILE };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"flame", no_argument, NULL, OPT_FLAME},
        {"flame-weight", required_argument, NULL, OPT_WEIGHT},
        {"gnuplot", no_argument, NULL, OPT_GNUPLOT},
        {"png", no_argument, NULL, OPT_PNG},
        {"svg", no_argument, NULL, OPT_SVG},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"height", required_argument, NULL, OPT_HEIGHT},
        {"title", required_argument, NULL, OPT_TITLE},
        {"rows", required_argument, NULL, OPT_DEPTH},
        {"max-depth", required_argument, NULL, OPT_DEPTH},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"thread", required_argument, NULL, OPT_THREAD},
        {"json", no_argument, NULL, OPT_JSON},
        {"function", required_argument, NULL, OPT_FUNCTION},
        {"file", required_argument, NULL, OPT_FILE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    mt_cli_init("memtrace-plot");
    options o = {0};
    o.width = 1200, o.height = 800, o.max_depth = 64;
    o.to_ns = UINT64_MAX;
    o.threads = calloc((size_t)argc + 1, sizeof *o.threads);
    o.funcs = calloc((size_t)argc + 1, sizeof *o.funcs);
    o.files = calloc((size_t)argc + 1, sizeof *o.files);
    if (!o.threads || !o.funcs || !o.files) mt_cli_die(1, "out of memory");
    int c, format = F_NONE;
    opterr = 0;
    while ((c = mt_cli_getopt(argc, argv, "o:hV", longopts, usage_text)) != -1) {
        switch (c) {
        case 'o': o.out = optarg; break;
        case OPT_FLAME: o.flame = 1; break;
        case OPT_WEIGHT:
            if (strcmp(optarg, "rss") == 0) o.weight = W_RSS;
            else if (strcmp(optarg, "alloc") == 0) o.weight = W_ALLOC;
            else if (strcmp(optarg, "peak") == 0) o.weight = W_PEAK;
            else if (strcmp(optarg, "leak") == 0) o.weight = W_LEAK;
            else mt_cli_usage_error(usage_text,
                                    "--flame-weight: unknown weight '%s' (rss, alloc, peak, leak)",
                                    optarg);
            o.flame = 1;
            break;
        case OPT_GNUPLOT:
        case OPT_PNG:
        case OPT_SVG:
        case OPT_FORMAT: {
            int f = c == OPT_GNUPLOT ? F_GP : c == OPT_PNG ? F_PNG : c == OPT_SVG ? F_SVG : F_NONE;
            for (int k = F_SVG; !f && k <= F_PPROF; k++)
                if (strcmp(optarg, format_names[k]) == 0) f = k;
            if (!f && strcmp(optarg, "collapsed") == 0) f = F_FOLDED;
            if (!f && strcmp(optarg, "gnuplot") == 0) f = F_GP;
            if (!f)
                mt_cli_usage_error(usage_text, "--format: unknown format '%s' (html, svg, png, gp, json, folded, "
                                   "speedscope, chrome, pprof)",
                                   optarg);
            if (format && format != f)
                mt_cli_usage_error(usage_text, "two formats given: %s and %s",
                                   format_names[format], format_names[f]);
            format = f;
            break;
        }
        case OPT_FROM: mt_cli_time_option(&o.from, "from", optarg, usage_text); break;
        case OPT_TO: mt_cli_time_option(&o.to, "to", optarg, usage_text); break;
        case OPT_THREAD:
            if (!*optarg) mt_cli_usage_error(usage_text, "empty --thread");
            o.threads[o.nthreads++] = optarg;
            break;
        case OPT_JSON: o.json = 1; break;
        case OPT_FUNCTION:
        case OPT_FILE:
            if (!*optarg)
                mt_cli_usage_error(usage_text, "empty --%s pattern",
                                   c == OPT_FILE ? "file" : "function");
            if (c == OPT_FILE) o.files[o.nfiles++] = optarg;
            else o.funcs[o.nfuncs++] = optarg;
            break;
        case OPT_WIDTH: o.width = (unsigned)parse_pos("--width", optarg, 100000); break;
        case OPT_HEIGHT: o.height = (unsigned)parse_pos("--height", optarg, 100000); break;
        case OPT_DEPTH: o.max_depth = (unsigned)parse_pos("--rows", optarg, 4096); break;
        case OPT_TITLE: o.title = optarg; break;
        case 'h':
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        case 'V':
            printf("memtrace-plot (memtrace) %s, trace format %d.%d\n", MT_LIBRARY_VERSION,
                   MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
            return fflush(stdout) == 0 ? 0 : 1;
        case ':':
            mt_cli_usage_error(usage_text, "option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 256)
                mt_cli_usage_error(usage_text, "unknown option '-%c'", optopt);
            mt_cli_usage_error(usage_text, "unknown option '%s'", argv[optind - 1]);
        }
    }
    int nfiles = argc - optind;
    if (nfiles < 1) mt_cli_usage_error(usage_text, "no trace file given");
    for (int i = optind; i < argc; i++)
        if (strcmp(argv[i], "-") == 0)
            mt_cli_usage_error(usage_text, "FILE must be a file: a trace is read three times");
    mt_cli_guard_output(o.out, argv + optind, nfiles);
    int to_stdout = !o.out || strcmp(o.out, "-") == 0;
    if (!format && !to_stdout) {
        const char *dot = strrchr(o.out, '.'), *slash = strrchr(o.out, '/');
        size_t len = strlen(o.out);
        if (len > 16 && strcasecmp(o.out + len - 16, ".speedscope.json") == 0)
            format = F_SPEEDSCOPE;
        if (len > 12 && strcasecmp(o.out + len - 12, ".chrome.json") == 0) format = F_CHROME;
        if ((len > 6 && strcasecmp(o.out + len - 6, ".pb.gz") == 0) ||
            (len > 6 && strcasecmp(o.out + len - 6, ".pprof") == 0))
            format = F_PPROF;
        if (dot && (!slash || dot > slash))
            for (int k = F_SVG; !format && k <= F_FOLDED; k++)
                if (strcasecmp(dot + 1, format_names[k]) == 0) format = k;
        if (!format && dot && (!slash || dot > slash) && strcasecmp(dot + 1, "htm") == 0)
            format = F_HTML;
        if (!format && dot && (!slash || dot > slash) && strcasecmp(dot + 1, "collapsed") == 0)
            format = F_FOLDED;
        if (!format)
            mt_cli_usage_error(usage_text,
                               "cannot tell a format from '%s': name it .html, .svg, .png, .gp, .json, "
                               ".folded, .speedscope.json, .chrome.json or .pb.gz, or give --format",
                               o.out);
    }
    if (!format) format = F_SVG;
    o.format = format;
    if (o.flame && (format == F_PNG || format == F_GP || format == F_CHROME))
        mt_cli_usage_error(usage_text, "a flame graph is drawn as SVG or HTML, not %s",
                           format == F_PNG ? "PNG" : format == F_GP ? "a gnuplot script"
                                                                   : "a Chrome trace");
    if (format == F_PNG && to_stdout)
        mt_cli_usage_error(usage_text, "PNG needs -o FILE.png");
    if (format == F_PPROF && nfiles > 1)
        mt_cli_usage_error(usage_text, "a pprof profile holds one trace: give one FILE");
    int text = format == F_GP || format == F_JSON || format == F_FOLDED ||
               format == F_SPEEDSCOPE || format == F_CHROME;
    if (to_stdout && format == F_PPROF && isatty(STDOUT_FILENO))
        mt_cli_usage_error(usage_text, "not writing a pprof profile onto a terminal: give "
                                       "-o FILE.pb.gz, or redirect standard output");
    if (format == F_FOLDED || format == F_SPEEDSCOPE) o.flame = 1; /* stacks only */
    if (to_stdout && !text && isatty(STDOUT_FILENO))
        mt_cli_usage_error(usage_text,
                           "not writing %s onto a terminal: give -o FILE.html (or .svg, .png), "
                           "or redirect standard output",
                           format == F_HTML ? "HTML" : "SVG");
    if (o.json && to_stdout)
        mt_cli_usage_error(usage_text, "--json describes the file written: it needs -o FILE");
    if (o.width < 200 || o.height < 150)
        mt_cli_usage_error(usage_text, "the picture must be at least 200 x 150 pixels");
    for (int i = optind; i < argc; i++)
        if (strcmp(argv[i], "-") == 0)
            mt_cli_usage_error(usage_text, "FILE must be a file: a trace is read three times");
    const char *gp = NULL;
    if (format == F_PNG && !(gp = gnuplot_path()))
        mt_cli_die(1, "PNG is drawn by gnuplot, which is not installed (Debian: "
                      "apt-get install gnuplot-nox); -o FILE.svg or FILE.html need nothing, "
                      "-o FILE.gp writes the gnuplot script alone");

    /* Pass 1 and 2 (the core), per file: the series, markers, threads, and
     * the extent of the x-axis, which the plot wants before any point. */
    mt_analysis **an = calloc((size_t)nfiles, sizeof *an);
    if (!an) mt_cli_die(1, "out of memory");
    mt_plot *plot = NULL;
    mt_flame *flame = NULL;
    mt_tprof *tprof = NULL;
    int status = 0;
    double end_s = 0;
    for (int i = 0; i < nfiles; i++) {
        const char *path = argv[optind + i];
        mt_reader *r;
        if (mt_cli_open_trace(&r, path) < 0) goto fail; /* uniform messages */
        if (i == 0) {
            /* One window for every trace (they are aligned at their start). */
            const mt_header *h = mt_reader_header(r);
            if (o.from.set) o.from_ns = mt_cli_time_ns(&o.from, h), o.has_from = 1;
            if (o.to.set) o.to_ns = mt_cli_time_ns(&o.to, h), o.has_to = 1;
            if (o.has_from && o.has_to && o.to_ns <= o.from_ns)
                mt_cli_usage_error(usage_text, "--to must be later than --from");
        }
        mt_reader_close(r);
        mt_analysis_options aopt;
        mt_analysis_options_init(&aopt);
        aopt.target_rss = 1;
        aopt.from_ns = o.from_ns;
        aopt.to_ns = o.to_ns;
        aopt.threads = o.threads;
        aopt.nthreads = o.nthreads;
        aopt.functions = o.funcs;
        aopt.nfunctions = o.nfuncs;
        aopt.files = o.files;
        aopt.nfiles = o.nfiles;
        aopt.progress = mt_cli_progress;
        aopt.progress_ctx = (void *)path;
        if ((format == F_HTML || format == F_SPEEDSCOPE) && nfiles == 1)
            aopt.lifetime_slices = PAGE_SLICES;
        int rc = mt_analysis_run(&an[i], path, &aopt);
        mt_cli_progress_done();
        if (rc < 0) {
            const char *m = an[i] ? mt_analysis_errmsg(an[i]) : "";
            if (*m) mt_cli_error("%s", m);
            else mt_cli_error("%s: %s", path, mt_strerror(rc));
            goto fail;
        }
        const mt_analysis_summary *s = mt_analysis_summary_get(an[i]);
        if (s->damaged_chunks || s->nmessages_total) {
            for (uint32_t k = 0; k < s->nmessages; k++) mt_cli_error("%s", s->messages[k]);
            mt_cli_error("%s: damaged trace: %llu chunks damaged, %llu bytes skipped; "
                         "the picture covers the intact chunks", path,
                         (unsigned long long)s->damaged_chunks,
                         (unsigned long long)s->damaged_bytes);
            status = 1;
        }
        if (!mt_analysis_data_records(an[i])) {
            mt_cli_error("%s: nothing to draw: the trace holds no events and no samples%s", path,
                         s->damaged_chunks ? " in its intact chunks" : "");
            goto fail;
        }
        double e = mt_analysis_seconds(an[i], s->t_last);
        if (e > end_s) end_s = e;
    }
    if (o.has_from && (double)o.from_ns / 1e9 > end_s) {
        char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
        mt_cli_error("--from %s is past the end of the trace%s (the last record is at %s)",
                     mt_fmt_ns(b1, o.from_ns), nfiles > 1 ? "s" : "",
                     mt_fmt_ns(b2, (uint64_t)(end_s * 1e9)));
        goto fail;
    }
    /* LOST events: a banner first in the picture, a warning on stderr, and
     * a * on what they can falsify (the heap series, heap flame graphs). */
    char banner[1024] = "";
    unsigned loss = 0;
    for (int i = 0, k = 0; i < nfiles; i++) {
        const mt_analysis_summary *s = mt_analysis_summary_get(an[i]);
        if (!s->lost_records && !s->lost_events) continue;
        unsigned f = mt_analysis_loss_falsifies(an[i]);
        loss |= f;
        char thr[256] = "";
        size_t n = 0;
        uint32_t nt;
        const mt_analysis_thread *t = mt_analysis_threads(an[i], &nt);
        for (uint32_t j = 0; j < nt && n < sizeof thr; j++)
            if (t[j].lost_records)
                n += (size_t)snprintf(thr + n, sizeof thr - n, "%sT%u: %llu", n ? ", " : "",
                                      (unsigned)t[j].tid, (unsigned long long)t[j].lost_events);
        mt_cli_error("%s: WARNING: %llu events LOST in %llu LOST records (%s); the %s can be "
                     "wrong", argv[optind + i], (unsigned long long)s->lost_events,
                     (unsigned long long)s->lost_records, thr,
                     f & MT_LOSS_HEAP ? "heap and the stacks" : "stacks");
        if ((size_t)k < sizeof banner)
            k += snprintf(banner + k, sizeof banner - (size_t)k, "%s%s LOST %llu events (%s)",
                          k ? "; " : "WARNING: ", base_name(argv[optind + i]),
                          (unsigned long long)s->lost_events, thr);
    }
    if (banner[0]) {
        size_t k = strlen(banner);
        snprintf(banner + k, sizeof banner - k, ": %s marked * can be wrong",
                 loss & MT_LOSS_HEAP ? "heap figures and stacks" : "stacks");
    }

    /* pprof: the heap tables of the analysis, no replay. */
    if (o.format == F_PPROF) {
        if (!mt_analysis_heap_get(an[0])->has_allocs)
            mt_cli_die(1, "%s: no allocation records for a pprof profile (memtrace run "
                          "records them by default, without --mode)", argv[optind]);
        status |= write_pprof(&o, argv[optind], an[0]);
        if (o.json && !(status & 1)) plot_describe_json(&o, argv + optind, nfiles, an, NULL);
        goto done;
    }

    /* What the flame graph weighs: allocations when every trace has them. */
    int all_allocs = 1;
    for (int i = 0; i < nfiles; i++)
        if (!mt_analysis_heap_get(an[i])->has_allocs) {
            all_allocs = 0;
            if (o.flame && o.weight > W_RSS)
                mt_cli_die(1, "%s: no allocation records for --flame-weight %s (memtrace run "
                              "records them by default, without --mode)", argv[optind + i],
                           o.weight == W_ALLOC ? "alloc" : o.weight == W_PEAK ? "peak" : "leak");
        }
    if (o.weight == W_DEFAULT) o.weight = all_allocs ? W_ALLOC : W_RSS;
    const char *flame_what = o.weight == W_ALLOC  ? "Allocated bytes by stack: "
                             : o.weight == W_PEAK ? "Heap at its peak by stack: "
                             : o.weight == W_LEAK ? "Leaked bytes by stack: "
                                                  : "RSS growth by stack: ";
    if (loss && o.flame)
        flame_what = o.weight == W_ALLOC  ? "Allocated bytes by stack *: "
                     : o.weight == W_PEAK ? "Heap at its peak by stack *: "
                     : o.weight == W_LEAK ? "Leaked bytes by stack *: "
                                          : "RSS growth by stack *: ";
    double from_s = o.from_ns / 1e9;
    double to_s = o.has_to && o.to_ns / 1e9 < end_s ? o.to_ns / 1e9 : end_s;
    if (to_s <= from_s) to_s = from_s + 1e-3;

    /* The title and, for one trace, a line about the run. */
    char title[1024], sub[1024] = "";
    if (o.title) {
        snprintf(title, sizeof title, "%s", o.title);
    } else if (nfiles == 1) {
        snprintf(title, sizeof title, "%s%s", o.flame ? flame_what : "",
                 base_name(argv[optind]));
    } else {
        size_t k = (size_t)snprintf(title, sizeof title, "%s", o.flame ? flame_what : "");
        for (int i = 0; i < nfiles && k < sizeof title; i++)
            k += (size_t)snprintf(title + k, sizeof title - k, "%s%s", i ? " vs " : "",
                                  base_name(argv[optind + i]));
    }
    if (nfiles == 1) {
        const mt_analysis_summary *s = mt_analysis_summary_get(an[0]);
        const mt_header *h = s->header;
        size_t k = 0;
        for (uint32_t i = 0; i < h->argc && k < 200; i++)
            k += (size_t)snprintf(sub + k, sizeof sub - k, "%s%s", i ? " " : "", h->argv[i]);
        if (k > 200) strcpy(sub + 197, "...");
        k = strlen(sub);
        char b1[32], b2[32];
        if (h->python_version)
            k += (size_t)snprintf(sub + k, sizeof sub - k, "%sPython %s", k ? "  |  " : "",
                                  h->python_version);
        k += (size_t)snprintf(sub + k, sizeof sub - k, "%s%s", k ? "  |  " : "",
                              mt_plot_fmt_seconds(b1, mt_analysis_seconds(an[0], s->t_last)));
        if (s->has_rss)
            snprintf(sub + k, sizeof sub - k, "  |  peak RSS %s at %s",
                     mt_plot_fmt_bytes(b1, (double)s->rss_peak),
                     mt_plot_fmt_seconds(b2, mt_analysis_seconds(an[0], s->t_peak)));
    }

    int rc;
    int both = o.format == F_HTML || o.format == F_JSON;
    int want_flame = o.flame || both, want_plot = !o.flame || both;
    if (want_flame) {
        if ((rc = mt_flame_new(&flame)) < 0) mt_cli_die(1, "%s", mt_plot_strerror(rc));
    }
    if (want_plot) {
        mt_plot_options po;
        mt_plot_options_init(&po);
        po.width_px = o.width;
        po.height_px = o.height;
        po.title = o.format == F_HTML && !o.title ? title + (o.flame ? strlen(flame_what) : 0)
                                                  : title;
        po.banner = banner[0] ? banner : NULL;
        po.subtitle = sub[0] ? sub : NULL;
        po.from_s = from_s;
        po.to_s = to_s;
        po.max_depth = o.max_depth;
        if ((rc = mt_plot_new(&plot, &po)) < 0) mt_cli_die(1, "%s", mt_plot_strerror(rc));
    }

    /* A Chrome trace is written as the replay goes. */
    FILE *chrome = NULL;
    if (o.format == F_CHROME) {
        chrome = open_out(o.out);
        fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"exporter\":\"memtrace-plot\"},"
              "\"traceEvents\":[", chrome);
    }

    /* Pass 3, per file: series, markers, spans, stacks. */
    for (int i = 0; i < nfiles; i++) {
        const char *path = argv[optind + i];
        const mt_analysis_summary *s = mt_analysis_summary_get(an[i]);
        replay R = {0};
        R.o = &o;
        R.path = path;
        R.label = base_name(path);
        R.multi = nfiles > 1;
        R.a = an[i];
        R.tps = (double)s->header->ticks_per_second;
        R.rss = mt_analysis_rss_series(an[i], &R.nrss);
        R.win_from = (uint64_t)(from_s * R.tps);
        R.win_to = o.has_to ? (uint64_t)fmin(o.to_ns / 1e9 * R.tps, 1.8e19) : UINT64_MAX;
        R.plot = plot;
        R.flame = flame;
        R.rss_flame = o.weight == W_RSS;
        R.heap_series = -1;
        if ((o.format == F_HTML || o.format == F_SPEEDSCOPE) && nfiles == 1)
            tprof = plot_page_tprof(&o, an[i], path, &R.tp_t0, &R.tp_span, &R.tp_n);
        R.tprof = tprof;
        R.chrome = chrome;
        R.pid = i + 1;
        if (plot) {
            uint32_t nproc;
            mt_analysis_processes(an[i], &nproc);
            if (nproc) {
                add_processes(plot, path, an[i], R.multi ? R.label : NULL);
            } else {
                char name[512];
                snprintf(name, sizeof name, "%s", R.multi ? R.label : "RSS");
                int se = mt_plot_series_add(plot, name, MT_PLOT_UNIT_BYTES);
                if (se < 0) mt_cli_die(1, "%s: %s", path, mt_plot_strerror(se));
                add_rss(plot, se, an[i], R.win_from, R.win_to, s->t_last);
            }
            add_heap(plot, path, an[i], R.multi ? R.label : NULL);
            add_pymalloc(plot, path, an[i], R.multi ? R.label : NULL);
            add_objects(plot, path, an[i], R.multi ? R.label : NULL);
            uint32_t nm;
            const mt_analysis_marker *m = mt_analysis_markers(an[i], &nm);
            for (uint32_t k = 0; k < nm; k++) {
                char label[600];
                snprintf(label, sizeof label, "%s%s%s", R.multi ? R.label : "",
                         R.multi ? ": " : "", m[k].text);
                mt_plot_marker(plot, mt_analysis_seconds(an[i], m[k].t), label);
            }
            /* One lane per thread that made calls, in tid order. */
            uint32_t nt;
            const mt_analysis_thread *th = mt_analysis_threads(an[i], &nt);
            if (mt_cli_open_trace(&R.r, path) < 0) goto fail;
            for (uint32_t k = 0; k < nt; k++) {
                if (!th[k].calls || !th[k].selected) continue;
                thread_state *ts = thread_get(&R, th[k].tid);
                if (!ts) continue;
                char lname[512];
                const char *tn = th[k].name[0] ? th[k].name : "thread";
                const char *lm = th[k].lost_records ? " *" : ""; /* lost events */
                if (R.multi)
                    snprintf(lname, sizeof lname, "%s: %s (tid %u)%s", R.label, tn, th[k].tid, lm);
                else
                    snprintf(lname, sizeof lname, "%s (tid %u)%s", tn, th[k].tid, lm);
                ts->lane = mt_plot_lane_add(plot, lname);
            }
        }
        if (flame && !R.rss_flame) {
            /* The core has the sites: no replay needed for them. */
            add_sites_flame(flame, path, an[i], o.weight, R.multi ? R.label : NULL, 1);
            if (!plot && !tprof) continue;
        }
        if (!R.r && mt_cli_open_trace(&R.r, path) < 0) goto fail;
        replay_run(&R);
        replay_free(&R);
        if (chrome) chrome_trace_rest(chrome, i + 1, R.label, an[i], R.win_from, R.win_to);
    }

    mt_flame_options fo = {0};
    fo.width_px = o.width;
    fo.title = title;
    fo.banner = banner[0] ? banner : NULL;
    FILE *f;
    if (chrome) {
        fputs("\n]}\n", chrome);
        status |= close_out(chrome, o.out, 0);
    } else if (o.format == F_FOLDED) {
        f = open_out(o.out);
        rc = mt_flame_write_folded(flame, f);
        status |= close_out(f, o.out, rc);
    } else if (o.format == F_SPEEDSCOPE) {
        static const char *const wn[] = {"", "rss", "alloc", "peak", "leak"};
        char name[1200], exporter[64];
        snprintf(name, sizeof name, "%s (%s)", title + strlen(flame_what), wn[o.weight]);
        snprintf(exporter, sizeof exporter, "memtrace-plot %s", MT_LIBRARY_VERSION);
        f = open_out(o.out);
        rc = tprof ? mt_tprof_write_speedscope(tprof, f, title + strlen(flame_what),
                                               wn[o.weight], exporter)
                   : mt_flame_write_speedscope(flame, f, name, "bytes", exporter);
        status |= close_out(f, o.out, rc);
    } else if (o.format == F_JSON) {
        static const char *const wn[] = {"", "rss", "alloc", "peak", "leak"};
        f = open_out(o.out);
        fputs("{\"schema\":\"memtrace-plot-data/1\",\"traces\":[", f);
        for (int i = 0; i < nfiles; i++) {
            if (i) fputc(',', f);
            mt_plot_json_str(f, argv[optind + i]);
        }
        fputs("],\n\"timeline\":", f);
        rc = mt_plot_write_json(plot, f);
        if (rc >= 0) {
            fprintf(f, ",\n\"flame_weight\":\"%s\",\n\"flame\":", wn[o.weight]);
            rc = mt_flame_write_json(flame, f);
        }
        fputs("}\n", f);
        status |= close_out(f, o.out, rc);
    } else if (o.format == F_HTML) {
        f = open_out(o.out);
        rc = plot_write_html(f, &o, plot, flame, tprof, title, sub, flame_what, an,
                             argv + optind, nfiles);
        status |= close_out(f, o.out, rc);
    } else if (o.flame) {
        f = open_out(o.out);
        rc = mt_flame_write_svg(flame, f, &fo);
        status |= close_out(f, o.out, rc);
    } else if (o.format != F_PNG) {
        f = open_out(o.out);
        rc = o.format == F_GP ? mt_plot_write_gnuplot(plot, f, NULL, NULL)
                              : mt_plot_write_svg(plot, f);
        status |= close_out(f, o.out, rc);
    } else {
        /* The script goes to a temporary file beside nothing of the user's. */
        char script[] = "/tmp/memtrace-plot-XXXXXX";
        int fd = mkstemp(script);
        if (fd < 0) mt_cli_die(1, "cannot create a temporary file: %s", strerror(errno));
        f = fdopen(fd, "w");
        if (!f) mt_cli_die(1, "cannot create a temporary file: %s", strerror(errno));
        rc = mt_plot_write_gnuplot(plot, f, "png", o.out);
        if (close_out(f, script, rc) != 0 || run_gnuplot(gp, script) != 0) status = 1;
        unlink(script);
    }
    if (o.json && !(status & 1)) plot_describe_json(&o, argv + optind, nfiles, an, flame);
    if (0) {
    fail: /* reported; nothing was written */
        status = 1;
    }
done:
    mt_plot_free(plot);
    mt_flame_free(flame);
    mt_tprof_free(tprof);
    for (int i = 0; i < nfiles; i++) mt_analysis_free(an[i]);
    free(an);
    free(o.threads);
    free(o.funcs);
    free(o.files);
    return status;
}
