/*
 * mt_analyze_json.c - memtrace-analyze's --json document (schema
 * memtrace-analyze/1, described in memtrace_analyze.c's usage text): the
 * same figures as the text report, exact bytes and seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_analyze.h"
#include "mt_objreport.h"
#include "mt_tree.h"

static void json_pymalloc_at(mt_out *o, const report *rp, const char *key,
                             const mt_analysis_pymalloc *p) {
    mt_out_json_key(o, key);
    mt_out_putc(o, '{');
    json_ks(o, rp, "time_s", p->t);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "arena_bytes", p->arena_bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "used_bytes", p->used_bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "free_bytes", p->free_bytes);
    mt_out_putc(o, '}');
}

/* "pymalloc": {samples, arena_bytes_max, most: {time_s, arena_bytes,
 * used_bytes, free_bytes}, end: {...}}, or null without pymalloc
 * counters. */
static void json_pymalloc(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_pymalloc *pk, *end;
    uint64_t amax, k = mt_analyze_pymalloc_window(rp, a, &pk, &end, &amax);
    MT_OUT_LIT(o, ",\n\"pymalloc\":");
    if (!k) {
        MT_OUT_LIT(o, "null");
        return;
    }
    mt_out_putc(o, '{');
    mt_out_json_ku(o, "samples", k);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "arena_bytes_max", amax);
    mt_out_putc(o, ',');
    json_pymalloc_at(o, rp, "most", pk);
    mt_out_putc(o, ',');
    json_pymalloc_at(o, rp, "end", end);
    mt_out_putc(o, '}');
}

/* ---- JSON: allocations -------------------------------------------------- */

static void json_domain(mt_out *o, const mt_analysis_heap_domain *x) {
    mt_out_json_ku(o, "alloc_count", x->alloc_count);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "alloc_bytes", x->alloc_bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "free_count", x->free_count);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "free_bytes", x->free_bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "peak_bytes", x->peak_bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "end_bytes", x->end_bytes);
}

static void json_sites(mt_out *o, const report *rp, const mt_analysis *a, const char *key,
                       int table, int order) {
    uint32_t n;
    const mt_analysis_site *st = mt_analysis_sites(a, table, order, &n);
    mt_out_puts(o, ",\n ");
    mt_out_json_key(o, key);
    mt_out_putc(o, '[');
    for (uint32_t i = 0; i < shown(n, rp->top); i++) {
        const mt_analysis_site *e = &st[i];
        const mt_analysis_frame *fr = frames_of(a, e);
        const mt_analysis_frame *in = e->depth ? &fr[e->depth - 1] : NULL;
        char nm[32];
        mt_out_puts(o, i ? ",\n  {" : "\n  {");
        mt_out_json_kstr(o, "function", in ? frame_name(in, nm, sizeof nm) : "");
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "file", in ? in->file : "");
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "line", in ? (in->line ? in->line : in->first_line) : 0);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "count", e->count);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "bytes", e->bytes);
        MT_OUT_LIT(o, ",\"sizes\":[");
        for (uint32_t z = 0; z < e->nsizes; z++) {
            mt_out_puts(o, z ? ",{" : "{");
            mt_out_json_ku(o, "size_bytes", e->sizes[z].size_bytes);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "count", e->sizes[z].count);
            mt_out_putc(o, '}');
        }
        MT_OUT_LIT(o, "],\"frames\":[");
        for (uint32_t k = 0; k < e->depth; k++) {
            const mt_analysis_frame *f = &fr[k];
            mt_out_puts(o, k ? ",{" : "{");
            mt_out_json_kstr(o, "function", frame_name(f, nm, sizeof nm));
            mt_out_putc(o, ',');
            mt_out_json_kstr(o, "file", f->file);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "line", f->line);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "first_line", f->first_line);
            mt_out_putc(o, '}');
        }
        MT_OUT_LIT(o, "]}");
    }
    mt_out_putc(o, ']');
}

/* The "heap" object: only for traces with allocations (see --help). */
static void json_heap(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_heap *h = mt_analysis_heap_get(a);
    MT_OUT_LIT(o, ",\n\"heap\":{");
    mt_out_json_ku(o, "sample_bytes", h->sample_bytes);
    mt_out_putc(o, ',');
    mt_out_json_key(o, "estimated");
    mt_out_puts(o, h->sample_bytes > 1 ? "true" : "false");
    MT_OUT_LIT(o, ",\"records\":{");
    mt_out_json_ku(o, "alloc", h->alloc_records);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "free", h->free_records);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "realloc", h->realloc_records);
    MT_OUT_LIT(o, "},\n \"total\":{");
    json_domain(o, &h->total);
    MT_OUT_LIT(o, "},\n \"domains\":[");
    int first = 1;
    for (int d = 0; d < MT_DOMAIN_COUNT; d++) {
        if (!(h->domain_mask & (1u << d))) continue;
        mt_out_puts(o, first ? "{" : ",{");
        first = 0;
        mt_out_json_kstr(o, "domain", mt_domain_name((unsigned)d));
        mt_out_putc(o, ',');
        json_domain(o, &h->domains[d]);
        mt_out_putc(o, '}');
    }
    MT_OUT_LIT(o, "],\n ");
    mt_out_json_ku(o, "peak_bytes", h->peak_bytes);
    mt_out_putc(o, ',');
    json_ks(o, rp, "peak_time_s", h->t_peak);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "peak_blocks", h->peak_blocks);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "end_bytes", h->total.end_bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "end_blocks", h->end_blocks);
    MT_OUT_LIT(o, ",\"repairs\":{");
    mt_out_json_ku(o, "unknown_frees", h->unknown_frees);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "late_allocs", h->late_allocs);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "reused_live", h->reused_live);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "stale_frees", h->stale_frees);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "unordered", h->unordered);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "unordered_bytes", h->unordered_bytes);
    MT_OUT_LIT(o, "},");
    mt_out_json_ku(o, "max_live_blocks", h->max_live_blocks);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "stacks", h->stacks);
    mt_out_putc(o, ',');
    int order = heap_order(rp);
    mt_out_json_kstr(o, "sort", order == MT_ANALYSIS_BY_COUNT ? "count" : "bytes");
    json_sites(o, rp, a, "peak", MT_ANALYSIS_SITES_PEAK, order);
    json_sites(o, rp, a, "leaks", MT_ANALYSIS_SITES_LEAKS, order);
    json_sites(o, rp, a, "temporaries", MT_ANALYSIS_SITES_TEMPS, order);
    json_sites(o, rp, a, "hotspots_by_bytes", MT_ANALYSIS_SITES_ALLOCS, MT_ANALYSIS_BY_BYTES);
    json_sites(o, rp, a, "hotspots_by_count", MT_ANALYSIS_SITES_ALLOCS, MT_ANALYSIS_BY_COUNT);
    MT_OUT_LIT(o, ",\n ");
    mt_out_json_key(o, "sites_total");
    mt_out_putc(o, '{');
    static const char *const keys[] = {"peak", "leaks", "temporaries", "hotspots"};
    for (int t = 0; t < 4; t++) {
        uint32_t n;
        mt_analysis_sites(a, t, MT_ANALYSIS_BY_BYTES, &n);
        if (t) mt_out_putc(o, ',');
        mt_out_json_ku(o, keys[t], n);
    }
    MT_OUT_LIT(o, "},");
    mt_out_json_kbool(o, "falsified_by_loss", (rp->loss & MT_LOSS_HEAP) != 0);
    /* Added in schema 1 after the others (new keys go at the end). */
    MT_OUT_LIT(o, ",\n \"peak_by_location\":[");
    mt_tree_loc *loc;
    uint32_t nloc, nsites;
    const mt_analysis_site *st = mt_analysis_sites(a, MT_ANALYSIS_SITES_PEAK,
                                                   MT_ANALYSIS_BY_BYTES, &nsites);
    if (mt_tree_by_location(a, st, nsites, &loc, &nloc) == 0) {
        uint32_t k = shown(nloc, rp->top);
        for (uint32_t i = 0; i < k; i++) {
            mt_out_puts(o, i ? ",\n  {" : "\n  {");
            mt_out_json_kstr(o, "function", loc[i].qualname);
            mt_out_putc(o, ',');
            mt_out_json_kstr(o, "file", loc[i].file);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "line", loc[i].line);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "first_line", loc[i].first_line);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "bytes", loc[i].bytes);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "count", loc[i].count);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "stacks", loc[i].stacks);
            mt_out_putc(o, '}');
        }
        free(loc);
    }
    MT_OUT_LIT(o, "]}");
}

/* ---- JSON --------------------------------------------------------------- */

static void json_processes(mt_out *o, const report *rp, const mt_analysis *a);

/* "warnings" and "lost", right after "file" so that they are read first. */
static void json_loss(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_summary *s = rp->s;
    int lost = s->lost_records || s->lost_events;
    MT_OUT_LIT(o, ",\n\"warnings\":[");
    if (lost) {
        char what[1024], msg[1300];
        mt_analyze_loss_what(what, sizeof what, rp, a);
        snprintf(msg, sizeof msg, "%llu events LOST in %llu LOST records; these can be wrong: %s",
                 (unsigned long long)s->lost_events, (unsigned long long)s->lost_records, what);
        mt_out_json_str(o, msg, strlen(msg));
    }
    MT_OUT_LIT(o, "],\n\"lost\":{");
    mt_out_json_ku(o, "events", s->lost_events);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "bytes", s->lost_bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "records", s->lost_records);
    MT_OUT_LIT(o, ",\"falsifies\":[");
    static const struct { unsigned bit; const char *key; } keys[] = {
        {MT_LOSS_RSS, "rss"}, {MT_LOSS_CALLS, "peak_stacks"},
        {MT_LOSS_CALLS | MT_LOSS_RSS, "functions"}, {MT_LOSS_CALLS | MT_LOSS_RSS, "lines"},
        {MT_LOSS_CALLS, "threads"}, {MT_LOSS_HEAP, "heap"},
    };
    int first = 1;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!(rp->loss & keys[i].bit)) continue;
        if (!first) mt_out_putc(o, ',');
        mt_out_json_str(o, keys[i].key, strlen(keys[i].key));
        first = 0;
    }
    MT_OUT_LIT(o, "],\"threads\":[");
    uint32_t n;
    const mt_analysis_thread *t = mt_analysis_threads(a, &n);
    first = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (!t[i].lost_records) continue;
        mt_out_puts(o, first ? "{" : ",{");
        first = 0;
        mt_out_json_ku(o, "tid", t[i].tid);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "name", t[i].name);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "events", t[i].lost_events);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "bytes", t[i].lost_bytes);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "records", t[i].lost_records);
        mt_out_putc(o, ',');
        json_ks(o, rp, "first_s", t[i].t_lost_first);
        mt_out_putc(o, ',');
        json_ks(o, rp, "last_s", t[i].t_lost_last);
        mt_out_putc(o, '}');
    }
    MT_OUT_LIT(o, "]}");
}

void mt_analyze_json_report(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_summary *s = rp->s;
    const mt_header *h = s->header;
    char buf[MT_FMT_BYTES];
    uint32_t n;

    MT_OUT_LIT(o, "{\"schema\":\"memtrace-analyze/1\",\n");
    mt_out_json_kstr(o, "file", s->path);
    json_loss(o, rp, a);
    MT_OUT_LIT(o, ",\n\"run\":{\"command\":[");
    for (uint32_t i = 0; i < h->argc; i++) {
        if (i) mt_out_putc(o, ',');
        mt_out_json_str(o, h->argv[i], strlen(h->argv[i]));
    }
    MT_OUT_LIT(o, "],");
    mt_out_json_ku(o, "pid", h->pid);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "ppid", h->ppid);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "hostname", h->hostname);
    mt_out_putc(o, ',');
    char py[256];
    snprintf(py, sizeof py, "%s%s%s", h->python_implementation ? h->python_implementation : "",
             h->python_implementation && h->python_version ? " " : "",
             h->python_version ? h->python_version : "");
    mt_out_json_kstr(o, "python", py);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "executable", h->executable);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "producer", h->producer);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "mode", h->mode);
    mt_out_putc(o, ',');
    mt_out_json_ki(o, "start_unix_ns", h->wall_ns);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "start_utc", mt_fmt_utc(buf, h->wall_ns));
    mt_out_putc(o, ',');
    json_ks(o, rp, "duration_s", s->t_last);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "ticks_per_second", rp->tps);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "records", s->records);
    MT_OUT_LIT(o, ",\"records_by_type\":{");
    const char *sep = "";
    for (int t = 0; t < MT_ANALYSIS_NTYPES; t++) {
        if (!s->by_type[t]) continue;
        mt_out_puts(o, sep);
        mt_out_json_ku(o, mt_record_type_name(t), s->by_type[t]);
        sep = ",";
    }
    if (s->unknown_records) {
        mt_out_puts(o, sep);
        mt_out_json_ku(o, "unknown", s->unknown_records);
    }
    MT_OUT_LIT(o, "},");
    mt_out_json_ku(o, "threads", s->nthreads);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "lost_events", s->lost_events);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "lost_records", s->lost_records);
    mt_out_putc(o, ',');
    mt_out_json_key(o, "closed");
    mt_out_puts(o, s->closed ? "true" : "false");

    MT_OUT_LIT(o, "},\n\"window\":{");
    json_ks(o, rp, "from_s", s->from);
    mt_out_putc(o, ',');
    json_ks(o, rp, "to_s", s->to);

    MT_OUT_LIT(o, "},\n\"rss\":{");
    mt_out_json_ku(o, "samples", s->rss_samples);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "start_bytes", s->rss_start);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "peak_bytes", s->rss_peak);
    mt_out_putc(o, ',');
    json_ks(o, rp, "peak_time_s", s->t_peak);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "end_bytes", s->rss_end);

    MT_OUT_LIT(o, "},\n\"peak_stacks\":[");
    const mt_analysis_stack *st = mt_analysis_peak_stacks(a, &n);
    for (uint32_t i = 0; i < n; i++) {
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_ku(o, "tid", st[i].tid);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "native_id", st[i].native_id);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "name", st[i].thread_name);
        MT_OUT_LIT(o, ",\"frames\":[");
        for (uint32_t k = 0; k < st[i].depth; k++) {
            const mt_analysis_frame *f = &st[i].frames[k];
            char nm[32];
            mt_out_puts(o, k ? ",{" : "{");
            mt_out_json_kstr(o, "function", f->qualname[0] ? f->qualname
                                     : (snprintf(nm, sizeof nm, "<fn#%u>", (unsigned)f->fid), nm));
            mt_out_putc(o, ',');
            mt_out_json_kstr(o, "file", f->file);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "line", f->line);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "first_line", f->first_line);
            mt_out_putc(o, '}');
        }
        MT_OUT_LIT(o, "]}");
    }

    MT_OUT_LIT(o, "],\n\"functions\":[");
    uint32_t nf;
    const mt_analysis_function *f = mt_analysis_functions(a, &nf);
    for (uint32_t i = 0; i < shown(nf, rp->top); i++) {
        char nm[32];
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_kstr(o, "function", fname(&f[i], nm, sizeof nm));
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "module", f[i].module);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "file", f[i].file);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "first_line", f[i].first_line);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "kind", f[i].kind == MT_FUNC_C ? "c" : "python");
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "calls", f[i].calls);
        mt_out_putc(o, ',');
        mt_out_json_ki(o, "incl_bytes", f[i].incl_bytes);
        mt_out_putc(o, ',');
        mt_out_json_ki(o, "self_bytes", f[i].self_bytes);
        mt_out_putc(o, ',');
        json_ks(o, rp, "incl_s", f[i].incl_ticks);
        mt_out_putc(o, ',');
        json_ks(o, rp, "self_s", f[i].self_ticks);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "peak_rss_bytes", f[i].peak_rss_bytes);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "peak_growth_bytes", f[i].peak_growth_bytes);
        mt_out_putc(o, '}');
    }

    MT_OUT_LIT(o, "],\n\"lines\":[");
    uint32_t nl;
    const mt_analysis_line *l = mt_analysis_lines(a, &nl);
    for (uint32_t i = 0; i < shown(nl, rp->top); i++) {
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_kstr(o, "file", l[i].file);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "line", l[i].line);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "function", l[i].qualname);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "count", l[i].count);
        mt_out_putc(o, ',');
        mt_out_json_ki(o, "growth_bytes", l[i].growth_bytes);
        mt_out_putc(o, ',');
        json_ks(o, rp, "time_s", l[i].ticks);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "peak_rss_bytes", l[i].peak_rss_bytes);
        mt_out_putc(o, '}');
    }

    MT_OUT_LIT(o, "],\n\"markers\":[");
    const mt_analysis_marker *m = mt_analysis_markers(a, &n);
    for (uint32_t i = 0; i < n; i++) {
        mt_out_puts(o, i ? ",\n {" : "\n {");
        json_ks(o, rp, "time_s", m[i].t);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "tid", m[i].tid);
        mt_out_putc(o, ',');
        mt_out_json_key(o, "text");
        mt_out_json_str(o, m[i].text, m[i].len);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "rss_bytes", m[i].rss_bytes);
        mt_out_putc(o, '}');
    }

    MT_OUT_LIT(o, "],\n\"threads\":[");
    const mt_analysis_thread *t = mt_analysis_threads(a, &n);
    for (uint32_t i = 0; i < n; i++) {
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_ku(o, "tid", t[i].tid);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "native_id", t[i].native_id);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "name", t[i].name);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "events", t[i].events);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "calls", t[i].calls);
        mt_out_putc(o, ',');
        json_ks(o, rp, "first_s", t[i].t_first);
        mt_out_putc(o, ',');
        json_ks(o, rp, "last_s", t[i].t_last);
        mt_out_putc(o, ',');
        mt_out_json_ki(o, "growth_bytes", t[i].growth_bytes);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "lost_events", t[i].lost_events);
        mt_out_putc(o, '}');
    }

    MT_OUT_LIT(o, "],\n\"replay\":{");
    mt_out_json_ku(o, "calls", s->calls);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "unmatched_returns", s->unmatched_returns);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "open_frames", s->open_frames);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "resyncs", s->resyncs);

    MT_OUT_LIT(o, "},\n\"damage\":{");
    mt_out_json_key(o, "damaged");
    mt_out_puts(o, s->damaged_chunks || s->nmessages_total ? "true" : "false");
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "chunks", s->chunks + s->damaged_chunks);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "damaged_chunks", s->damaged_chunks);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "bytes_skipped", s->damaged_bytes);
    MT_OUT_LIT(o, ",\"messages\":[");
    for (uint32_t i = 0; i < s->nmessages; i++) {
        if (i) mt_out_putc(o, ',');
        mt_out_json_str(o, s->messages[i], strlen(s->messages[i]));
    }
    MT_OUT_LIT(o, "]},\n\"report\":{");
    mt_out_json_kstr(o, "sort", mt_analysis_sort_name(rp->sort));
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "top", rp->top);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "functions_total", nf);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "lines_total", nl);
    mt_out_putc(o, '}');
    if (mt_analysis_heap_get(a)->has_allocs) json_heap(o, rp, a);
    json_processes(o, rp, a);
    /* Last: added in schema 1 after the others (new keys go at the end). */
    MT_OUT_LIT(o, ",\n\"notes\":[");
    char nt[MAX_NOTES][NOTE_LEN];
    int k = mt_analyze_notes(rp, a, nt);
    for (int i = 0; i < k; i++) {
        if (i) mt_out_putc(o, ',');
        mt_out_json_str(o, nt[i], strlen(nt[i]));
    }
    mt_out_putc(o, ']');
    json_pymalloc(o, rp, a);
    mt_objreport_json(o, a, rp->top);
    MT_OUT_LIT(o, "}\n");
}

static void json_processes(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n;
    const mt_analysis_process *p = mt_analysis_processes(a, &n);
    if (!n) return;
    char st[32];
    MT_OUT_LIT(o, ",\n\"processes\":[");
    for (uint32_t i = 0; i < n; i++) {
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_ku(o, "pid", p[i].pid);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "ppid", p[i].ppid);
        mt_out_putc(o, ',');
        mt_out_json_key(o, "parent");
        if (p[i].parent == UINT32_MAX) MT_OUT_LIT(o, "null");
        else mt_out_u64(o, p[i].parent);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "depth", p[i].depth);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "name", p[i].name);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "cmdline", p[i].cmdline);
        mt_out_putc(o, ',');
        json_ks(o, rp, "first_s", p[i].t_first);
        mt_out_putc(o, ',');
        json_ks(o, rp, "last_s", p[i].t_last);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "samples", p[i].samples);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "peak_rss_bytes", p[i].peak_rss_bytes);
        mt_out_putc(o, ',');
        json_ks(o, rp, "peak_time_s", p[i].t_peak);
        mt_out_putc(o, ',');
        mt_out_json_key(o, "peak_uss_bytes");
        if (p[i].has_uss) {
            mt_out_u64(o, p[i].peak_uss_bytes);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "peak_pss_bytes", p[i].peak_pss_bytes);
        } else {
            MT_OUT_LIT(o, "null,\"peak_pss_bytes\":null");
        }
        MT_OUT_LIT(o, ",\"exited\":");
        mt_out_puts(o, p[i].exited ? "true" : "false");
        MT_OUT_LIT(o, ",\"status\":");
        if (p[i].exited && p[i].status != MT_PROC_STATUS_UNKNOWN) mt_out_i64(o, p[i].status);
        else MT_OUT_LIT(o, "null");
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "status_text", mt_analyze_status_text(&p[i], st));
        MT_OUT_LIT(o, ",\"target\":");
        mt_out_puts(o, p[i].is_target ? "true" : "false");
        MT_OUT_LIT(o, ",\"from_counters\":");
        mt_out_puts(o, p[i].from_counters ? "true" : "false");
        mt_out_putc(o, '}');
    }
    uint64_t nt, peak, t_peak;
    const mt_analysis_sample *tot = mt_analysis_total_series(a, &nt, &peak, &t_peak);
    MT_OUT_LIT(o, "],\n\"process_total\":{");
    mt_out_json_ku(o, "rounds", nt);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "peak_bytes", peak);
    mt_out_putc(o, ',');
    json_ks(o, rp, "peak_time_s", t_peak);
    MT_OUT_LIT(o, ",\"series\":[");
    int first = 1;
    for (uint64_t i = 0; i < nt; i++) {
        /* A step function: a point where the value changes (and the last). */
        if (i && i + 1 < nt && tot[i].rss_bytes == tot[i - 1].rss_bytes) continue;
        mt_out_puts(o, first ? "[" : ",[");
        first = 0;
        mt_out_seconds(o, tot[i].t, rp->tps);
        mt_out_putc(o, ',');
        mt_out_u64(o, tot[i].rss_bytes);
        mt_out_putc(o, ']');
    }
    MT_OUT_LIT(o, "]}");
}
