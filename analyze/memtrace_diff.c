/*
 * memtrace-diff - what changed between two runs: A (the baseline) and B
 * (the new one).
 *
 * Each trace goes through the analysis core (mt_analysis.c, the numbers of
 * memtrace-analyze); this file matches functions and lines across the two
 * results and evaluates --fail-if conditions so that CI can gate on memory
 * regressions; mt_diff_out.c prints the changes as text or JSON (the types
 * both share are in mt_diff.h).
 *
 * Functions are matched by (qualname, file): the first line is left out of
 * the key because an edit above a function moves it between releases, and
 * the core's entries that differ only by first line are summed. Lines are
 * matched by (file, line, qualname). Both lists are sorted and merged; no
 * hash table, and memory is that of the two analyses plus one entry per
 * function and line.
 *
 * Allocation sites (when both traces hold allocation records) are matched
 * by their innermost Python frame: (qualname, file, line), C frames above
 * it skipped. Not by the whole stack: the same allocation reached from a
 * caller that moved, or through another path, is still the same site, and
 * the stacks of a site are summed. The line is the frame's current line
 * (its function's first line when the trace has no line information), so
 * an edit above the site splits it into "gone" and "new"; the conditions
 * alloc:NAME and leak:NAME sum every site of the function and do not
 * depend on lines.
 */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrace_format.h"
#include "mt_analysis.h"
#include "mt_cli.h"
#include "mt_diff.h"
#include "mt_objdiff.h"

static const char usage_text[] =
"usage: memtrace-diff [options] A B\n"
"\n"
"Compare two memtrace traces: A is the baseline, B the new run. Prints the\n"
"run-level changes (duration, RSS start, peak and its time, end, records,\n"
"calls, lost events), the functions whose RSS growth, calls or time changed\n"
"(matched by qualified name and file), the lines likewise when both traces\n"
"have LINE records, and the functions that appear in B or vanish from it.\n"
"When both traces have allocation records, also the heap (ALLOCATIONS).\n"
"Changes are B - A; percentages are relative to |A|.\n"
"\n"
"Options:\n"
"  --top N          show the N greatest changes of each table (default 20;\n"
"                   0: all)\n"
"  --sort KEY       order functions by |change| of: incl (inclusive RSS\n"
"                   growth, default), self, calls, time (inclusive) or peak\n"
"                   (the most RSS rose within a call), the keys of\n"
"                   memtrace-analyze; lines by growth, growth, count, time\n"
"                   or growth alike\n"
"  --from T, --to T compare the window [T, T) of each run: seconds since\n"
"                   its start (\"1.5\"), with a unit (\"1.5s\", \"200ms\",\n"
"                   \"2m\"), a UNIX time (\"@1795000000.25\") or ISO-8601 UTC\n"
"                   (\"2026-11-21T09:19:32Z\"), as memtrace-analyze reads them\n"
"  --thread X       attribute only thread X of each run: a tid or a thread\n"
"                   name (repeatable); RSS stays the process's\n"
"  --function GLOB, --file GLOB\n"
"                   compare only the functions (and lines) whose qualified\n"
"                   name, module.qualname or file matches, and the sites\n"
"                   whose stack passes through one (as memtrace-analyze's\n"
"                   focus; repeatable); run-level figures stay whole\n"
"  --json           one JSON document, schema below (exact bytes, seconds)\n"
"  --fail-if EXPR   a condition on the change (grammar below; repeatable):\n"
"                   exit 3 when any is true\n"
"  --allow-damaged  a damaged trace is not an error: diff its intact part\n"
"                   (the notice stays) and exit by the conditions alone\n"
"  -h, --help       print this text and exit\n"
"  -V, --version    print the version and exit\n"
"\n"
"CONDITIONS (--fail-if)\n"
"  EXPR      := [SIDE ':'] QUANTITY OP THRESHOLD\n"
"  QUANTITY  := peak | end | start (RSS, bytes) | duration (time)\n"
"             | events (records) | calls | lost (lost events)\n"
"             | func:NAME[.incl|.self|.calls|.time] | calls:NAME\n"
"             | heap_peak | leaked (heap, bytes)\n"
"             | alloc:NAME[.bytes|.count] | leak:NAME[.bytes|.count]\n"
"             | objects:TYPE[.end|.created|.max] (counts)\n"
"  OP        := '>' | '>=' | '<' | '<='   (the last one in EXPR, so NAME\n"
"               may hold < and >: func:<module>>1MiB)\n"
"  THRESHOLD := [+|-] NUMBER [UNIT]   absolute: compares B - A\n"
"             | [+|-] NUMBER '%'      relative: compares 100 (B - A) / |A|\n"
"  UNIT      := bytes: B, K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB, TiB\n"
"               (all powers of 1024; none: bytes); time: ns, us, ms, s,\n"
"               m, h (none: seconds); counts take no unit\n"
"  SIDE      := A | B: compare that run's own value, not the change\n"
"               (B:lost>0, B:peak>2GiB); takes no '%'\n"
"  func:NAME is the function whose qualified name, or module + '.' +\n"
"  qualified name, is NAME (pkg.mod.load or Loader.load); all such\n"
"  functions are summed; .incl (default) is its inclusive RSS growth,\n"
"  .self its self growth, .calls its calls, .time its inclusive time; a\n"
"  function absent from a run counts 0 there. calls:NAME = func:NAME.calls.\n"
"  To name a function whose name ends in .incl/.self/.calls/.time, add\n"
"  the field explicitly (func:clock.time.incl).\n"
"  heap_peak is the greatest heap in use (bytes of live blocks), leaked\n"
"  the heap in use at the end (bytes still allocated). alloc:NAME sums\n"
"  the allocations of the sites whose innermost Python frame is the\n"
"  function NAME (qualified name, or module + '.' + qualified name; every\n"
"  line of it): .bytes (default) their bytes, .count their blocks;\n"
"  leak:NAME likewise the blocks of those sites still live at the end.\n"
"  They need allocation records in both traces; a NAME that allocated in\n"
"  neither run is an error, one that leaked in neither counts 0.\n"
"  objects:TYPE counts the objects of the type named TYPE (its full name,\n"
"  __main__.Point, or its last part, Point; object tracking traces,\n"
"  memtrace.start(objects=True)): .end (default) alive at the end,\n"
"  .created created, .max most alive at once; a TYPE in neither run is\n"
"  an error.\n"
"  When A is 0, the relative change is 0% if B is 0 too, else +inf% or\n"
"  -inf% by the sign of B (so peak>+10% holds when B grew from nothing).\n"
"  Examples: peak>+10%  peak>+50MiB  end>=+5%  duration>+20%  lost>0\n"
"            B:lost>0  func:pkg.mod.load>+5MiB  func:load.self>+1MiB\n"
"            calls:pkg.mod.load>+10%  events<-50%  heap_peak>+10%\n"
"            leaked>+1MiB  alloc:parse>+20MiB  leak:Cache.put.count>+100\n"
"            objects:Point>+1000  objects:dict.created>+10%\n"
"  A malformed EXPR is a usage error (exit 2, the character shown); a\n"
"  condition on something the traces cannot both give (peak without RSS\n"
"  in one of them, func: without calls, a NAME in neither) is an error\n"
"  (exit 1). True conditions are listed on stderr and in the output.\n"
"\n"
"TRACES OF DIFFERENT KINDS\n"
"  What both traces have is compared: RSS if both have samples, functions\n"
"  if both have calls (C functions only if both have C calls), lines if\n"
"  both have LINE records. A warning on stderr (and in the output) says\n"
"  what is left out and when the recording modes differ (profile against\n"
"  fast: C functions are left out, Python functions' self growth absorbs\n"
"  their C callees in the fast run). When they share none of RSS, calls\n"
"  and lines (a poller trace against a recorder's), memtrace-diff refuses:\n"
"  exit 1.\n"
"\n"
"ALLOCATIONS\n"
"  When both traces hold allocation records (ALLOC/FREE/REALLOC: mode\n"
"  alloc, or allocations=True), the heap is compared: its peak (bytes and\n"
"  time), the heap in use at the end (leaked), totals allocated and freed,\n"
"  the same per domain, and allocation sites. When only one has them, a\n"
"  warning says so and the rest of the output is as without allocations.\n"
"  A site is an allocating stack's innermost Python frame: qualified name,\n"
"  file and current line (C frames above it are skipped; stacks that end\n"
"  in the same frame are summed; \"(no Python frame)\" for none). Sites are\n"
"  matched across runs by that key, so a caller that changed does not\n"
"  split a site, but a line that moved does (gone in A, new in B).\n"
"  Tables: sites by |change in bytes allocated| and by |change in blocks\n"
"  allocated| (hotspots; status by whether the site allocated in each run),\n"
"  and leak sites (blocks still allocated at the end) that grew, shrank,\n"
"  appeared (new) or vanished (gone), by |change in bytes leaked|. With\n"
"  sampled allocations every count and byte is the analyzer's estimate.\n"
"\n"
"LOST EVENTS\n"
"  When A or B has LOST records (the recorder dropped events), the diff\n"
"  says so first: a warning on stderr, the first lines of the text report\n"
"  (events lost per thread, what can be wrong), the first of \"warnings\" in\n"
"  JSON; figures the loss can falsify are marked * (heap rows and site\n"
"  tables; calls and the function table when a thread lost events; RSS peak\n"
"  when the sampler did). Gate on it with --fail-if 'B:lost>0'.\n"
"\n"
"DAMAGED TRACES\n"
"  The intact chunks of a damaged trace are diffed, with a notice on\n"
"  stderr and in the output; exit status 1 unless --allow-damaged.\n"
"\n"
"JSON (--json): one object, keys in this order (stable; new keys may be\n"
"  added at the end of an object, none removed or renamed within schema 1).\n"
"  D below is a change: {a, b, delta, pct}: the values in A and B, B - A,\n"
"  and 100 (B - A) / |A| (4 decimals; 0 when both are 0; null when only\n"
"  A is 0). Bytes and counts are integers, times seconds (9 decimals).\n"
"  \"schema\": \"memtrace-diff/1\",\n"
"  \"a\", \"b\": {file, mode, producer, python, command: [str], start_utc,\n"
"          content: [str], closed: bool, damaged: bool, lost_events,\n"
"          lost_bytes, falsified_by_loss: bool (LOST records: see LOST EVENTS)},\n"
"  \"compared\": {rss, functions, c_functions, lines} (bool),\n"
"  \"warnings\": [str],\n"
"  \"run\": {duration_s, rss_start_bytes, rss_peak_bytes, rss_peak_time_s,\n"
"          rss_end_bytes, events, calls, lost_events} (each a D),\n"
"  \"functions\": [{function, module, file, first_line, kind, status\n"
"          (\"changed\"|\"new\"|\"gone\"), calls, incl_bytes, self_bytes,\n"
"          incl_s, self_s, peak_growth_bytes (each a D)}],\n"
"  \"lines\": [{file, line, function, status, count, growth_bytes, time_s\n"
"          (each a D)}],\n"
"  \"appeared\", \"vanished\": [{function, module, file, first_line, calls,\n"
"          incl_bytes}] (in B only / in A only; values of the run that has\n"
"          it; by |incl_bytes|),\n"
"  \"conditions\": [{expr, unit (\"bytes\"|\"s\"|\"count\"), a, b, delta, pct,\n"
"          true: bool}],\n"
"  \"failed\": bool (a condition is true),\n"
"  \"damage\": {a, b: {damaged: bool, damaged_chunks, bytes_skipped,\n"
"          messages: [str]}},\n"
"  \"report\": {sort, top, functions_total, functions_changed,\n"
"          functions_new, functions_gone, lines_total, lines_changed},\n"
"  \"heap\" (only when both traces have allocations; added within schema\n"
"          1): {estimated: bool (either run sampled), sample_bytes,\n"
"          peak_bytes, peak_time_s, peak_blocks, end_bytes (leaked),\n"
"          end_blocks, alloc_bytes, alloc_count, free_bytes, free_count\n"
"          (each a D), domains: [{domain, alloc_bytes, alloc_count,\n"
"          peak_bytes, end_bytes (each a D)}] (domains either run used),\n"
"          hotspots_by_bytes, hotspots_by_count, leaks: [SITE],\n"
"          sites_total, sites_changed, sites_new, sites_gone,\n"
"          leaks_changed, leaks_new, leaks_gone, falsified_by_loss: bool}\n"
"  SITE := {function, module, file, line, status (\"changed\"|\"new\"|\n"
"          \"gone\": allocated, or for leaks leaked, in B only / A only),\n"
"          alloc_bytes, alloc_count, leak_bytes, leak_count (each a D),\n"
"          stack: [{function, file, line}] (outermost first: the site's\n"
"          stack with the most bytes, in B if it allocated there, else A)}\n"
"  \"objects\" (last; object tracking, memtrace.start(objects=True)): null\n"
"          unless both traces have objects, else {end_count, created (each\n"
"          a D), types_total, types_changed, types: [{type, status, end_count,\n"
"          end_bytes, created, alive_max (each a D)}] (the changed types,\n"
"          by |change in end_count|, then |change in created|)}\n"
"  functions and lines hold the --top greatest changes in --sort order\n"
"  (unchanged entries are left out); appeared and vanished --top each;\n"
"  the heap's site lists --top each, changed sites only.\n"
"  A trace that cannot be read at all gives {\"schema\", \"file\" (that\n"
"  trace), \"error\": {\"message\": str}} and exit 1.\n"
"\n"
"EXIT STATUS\n"
"  0 no condition true; 1 error: a trace missing, not a trace, of a newer\n"
"  format, damaged (without --allow-damaged), nothing comparable (a trace\n"
"  with no event and no sample, or no kind of figure in common), --from\n"
"  past a trace's end, no thread matching --thread, or a condition that\n"
"  cannot be evaluated; 2 bad usage or a malformed --fail-if;\n"
"  3 a --fail-if condition is true (and no error).\n";

/* ---- Small helpers ------------------------------------------------------ */

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) mt_cli_die(1, "out of memory");
    return p;
}

static void warn(diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(diff *d, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    d->warnings = realloc(d->warnings, (d->nwarnings + 1) * sizeof *d->warnings);
    if (!d->warnings || !(d->warnings[d->nwarnings] = strdup(buf)))
        mt_cli_die(1, "out of memory");
    d->nwarnings++;
    mt_cli_error("warning: %s", buf);
}

/* ---- Lost events ---------------------------------------------------------- */

/* A run whose recorder dropped events: one warning, said first (stderr
 * now, then the first lines of the text report and "warnings" in JSON). */
static void note_loss(diff *d, int sd) {
    run *r = &d->r[sd];
    const mt_analysis_summary *s = r->s;
    r->loss = mt_analysis_loss_falsifies(r->an);
    if (!s->lost_records && !s->lost_events) return;
    char buf[900], thr[400] = "";
    size_t k = 0;
    uint32_t n;
    const mt_analysis_thread *t = mt_analysis_threads(r->an, &n);
    for (uint32_t i = 0; i < n && k < sizeof thr; i++) {
        if (!t[i].lost_records) continue;
        k += (size_t)snprintf(thr + k, sizeof thr - k, "%sT%u %s: %llu", k ? ", " : "",
                              (unsigned)t[i].tid, t[i].name[0] ? t[i].name : "?",
                              (unsigned long long)t[i].lost_events);
    }
    snprintf(buf, sizeof buf,
             "%s (%s) LOST %llu events in %llu LOST records (%s); figures marked * can be "
             "wrong:%s%s%s",
             sd == SA ? "A" : "B", r->path, (unsigned long long)s->lost_events,
             (unsigned long long)s->lost_records, thr,
             r->loss & MT_LOSS_HEAP ? " the heap (peak, leaks, sites)" : "",
             r->loss & MT_LOSS_CALLS ? " functions, lines and calls" : "",
             r->loss & MT_LOSS_RSS ? " RSS" : "");
    r->loss_text = strdup(buf);
    if (!r->loss_text) mt_cli_die(1, "out of memory");
    warn(d, "%s", buf);
}

/* ---- What the traces have ----------------------------------------------- */

enum { HAS_RSS, HAS_CALLS, HAS_CCALLS, HAS_LINES, HAS_ALLOCS };

/* The header's content bits say what the writer meant to record; the
 * record counts catch a writer that set none. */
static int has(const run *r, int what) {
    const mt_analysis_summary *s = r->s;
    uint32_t c = s->header->content;
    switch (what) {
    case HAS_RSS: return s->has_rss;
    case HAS_CALLS:
        return (c & (MT_CONTENT_CALLS | MT_CONTENT_CCALLS)) || s->by_type[MT_REC_CALL] ||
               s->by_type[MT_REC_CCALL];
    case HAS_CCALLS: return (c & MT_CONTENT_CCALLS) || s->by_type[MT_REC_CCALL];
    case HAS_LINES: return (c & MT_CONTENT_LINES) || s->by_type[MT_REC_LINE];
    case HAS_ALLOCS: return mt_analysis_heap_get(r->an)->has_allocs;
    }
    return 0;
}

static void content_text(const run *r, char *buf, size_t n) {
    static const char *const what[] = {"rss", "calls", "ccalls", "lines", "allocations"};
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < 5; i++)
        if (has(r, i) && k < n)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? ", " : "", what[i]);
    if (!k) snprintf(buf, n, "%s", "none of rss, calls, lines");
}

static int compare_kinds(diff *d) {
    const run *A = &d->r[SA], *B = &d->r[SB];
    static const char *const what[] = {"RSS samples", "calls", "C calls", "LINE records",
                                       "allocation records"};
    static const char *const left[] = {
        "RSS is not compared (peak, start and end conditions cannot be evaluated)",
        "functions are not compared",
        "C functions are left out, and Python functions' self growth differs by "
        "what their C callees grew",
        "per-line changes are not compared",
        "allocations are not compared (heap_peak, leaked, alloc: and leak: conditions "
        "cannot be evaluated)"};
    int both[5];
    for (int i = 0; i < 5; i++) {
        int ha = has(A, i), hb = has(B, i);
        both[i] = ha && hb;
        if (ha != hb)
            warn(d, "only %s has %s: %s", ha ? A->path : B->path, what[i], left[i]);
    }
    const char *ma = A->s->header->mode ? A->s->header->mode : "?";
    const char *mb = B->s->header->mode ? B->s->header->mode : "?";
    if (strcmp(ma, mb) != 0)
        warn(d, "%s was recorded in mode '%s', %s in mode '%s'", A->path, ma, B->path, mb);
    d->cmp_rss = both[HAS_RSS];
    d->cmp_funcs = both[HAS_CALLS];
    d->cmp_cfuncs = both[HAS_CCALLS];
    d->cmp_lines = both[HAS_LINES];
    d->cmp_heap = both[HAS_ALLOCS];
    if (!d->cmp_rss && !d->cmp_funcs && !d->cmp_lines && !d->cmp_heap) {
        char ca[128], cb[128];
        content_text(A, ca, sizeof ca);
        content_text(B, cb, sizeof cb);
        int al = has(A, HAS_ALLOCS) || has(B, HAS_ALLOCS);
        mt_cli_error("nothing to compare: %s (mode %s: %s) and %s (mode %s: %s) share no "
                     "RSS samples, calls%s",
                     A->path, ma, ca, B->path, mb, cb,
                     al ? ", lines or allocations" : " or lines");
        return -1;
    }
    return 0;
}

/* ---- Matching ----------------------------------------------------------- */

static char **names; /* "<fn#N>" strings, freed at exit; main thread only */
static uint32_t nnames;

static const char *fn_name(const mt_analysis_function *f) {
    if (f->qualname[0]) return f->qualname;
    char buf[32];
    snprintf(buf, sizeof buf, "<fn#%u>", (unsigned)f->fid);
    names = realloc(names, (nnames + 1) * sizeof *names);
    if (!names || !(names[nnames] = strdup(buf))) mt_cli_die(1, "out of memory");
    return names[nnames++];
}

static int cmp_dfunc_key(const void *x, const void *y) {
    const dfunc *p = x, *q = y;
    int c = strcmp(p->name, q->name);
    return c ? c : strcmp(p->file, q->file);
}

static int cmp_dline_key(const void *x, const void *y) {
    const dline *p = x, *q = y;
    int c = strcmp(p->file, q->file);
    if (c) return c;
    if (p->line != q->line) return p->line < q->line ? -1 : 1;
    return strcmp(p->name, q->name);
}

/* One run's functions as dfuncs, sorted by key, duplicates summed. */
static dfunc *side_funcs(diff *d, int side, uint32_t *n) {
    const run *r = &d->r[side];
    uint32_t nf;
    const mt_analysis_function *f = mt_analysis_functions(r->an, &nf);
    dfunc *v = xcalloc(nf, sizeof *v);
    uint32_t k = 0;
    for (uint32_t i = 0; i < nf; i++) {
        if (f[i].kind == MT_FUNC_C && !d->cmp_cfuncs) continue;
        dfunc *e = &v[k++];
        e->name = fn_name(&f[i]);
        e->module = f[i].module;
        e->file = f[i].file;
        e->first_line = f[i].first_line;
        e->kind = f[i].kind;
        e->present[side] = 1;
        e->calls[side] = f[i].calls;
        e->incl[side] = f[i].incl_bytes;
        e->self[side] = f[i].self_bytes;
        e->incl_ns[side] = ticks_ns(r, f[i].incl_ticks);
        e->self_ns[side] = ticks_ns(r, f[i].self_ticks);
        e->peak[side] = (int64_t)f[i].peak_growth_bytes;
    }
    qsort(v, k, sizeof *v, cmp_dfunc_key);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (m && cmp_dfunc_key(&v[m - 1], &v[i]) == 0) {
            dfunc *e = &v[m - 1];
            e->calls[side] += v[i].calls[side];
            e->incl[side] += v[i].incl[side];
            e->self[side] += v[i].self[side];
            e->incl_ns[side] += v[i].incl_ns[side];
            e->self_ns[side] += v[i].self_ns[side];
            if (v[i].peak[side] > e->peak[side]) e->peak[side] = v[i].peak[side];
            if (v[i].first_line < e->first_line) e->first_line = v[i].first_line;
        } else {
            v[m++] = v[i];
        }
    }
    *n = m;
    return v;
}

static void merge_dfunc(dfunc *into, const dfunc *from, int side) {
    into->present[side] = 1;
    into->calls[side] = from->calls[side];
    into->incl[side] = from->incl[side];
    into->self[side] = from->self[side];
    into->incl_ns[side] = from->incl_ns[side];
    into->self_ns[side] = from->self_ns[side];
    into->peak[side] = from->peak[side];
    /* B's position and module describe the new code. */
    if (side == SB) {
        into->first_line = from->first_line;
        into->module = from->module;
    }
}

static void match_functions(diff *d) {
    uint32_t na, nb;
    dfunc *a = side_funcs(d, SA, &na), *b = side_funcs(d, SB, &nb);
    d->funcs = xcalloc((size_t)na + nb, sizeof *d->funcs);
    uint32_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : cmp_dfunc_key(&a[i], &b[j]);
        if (c < 0) d->funcs[k++] = a[i++];
        else if (c > 0) d->funcs[k++] = b[j++];
        else {
            d->funcs[k] = a[i++];
            merge_dfunc(&d->funcs[k++], &b[j++], SB);
        }
    }
    d->nfuncs = k;
    free(a);
    free(b);
}

static dline *side_lines(diff *d, int side, uint32_t *n) {
    const run *r = &d->r[side];
    uint32_t nl, nf;
    const mt_analysis_line *l = mt_analysis_lines(r->an, &nl);
    const mt_analysis_function *f = mt_analysis_functions(r->an, &nf);
    dline *v = xcalloc(nl, sizeof *v);
    uint32_t k = 0;
    for (uint32_t i = 0; i < nl; i++) {
        if (l[i].func < nf && f[l[i].func].kind == MT_FUNC_C && !d->cmp_cfuncs) continue;
        dline *e = &v[k++];
        e->file = l[i].file;
        e->name = l[i].qualname;
        e->line = l[i].line;
        e->present[side] = 1;
        e->count[side] = l[i].count;
        e->growth[side] = l[i].growth_bytes;
        e->ns[side] = ticks_ns(r, l[i].ticks);
    }
    qsort(v, k, sizeof *v, cmp_dline_key);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (m && cmp_dline_key(&v[m - 1], &v[i]) == 0) {
            v[m - 1].count[side] += v[i].count[side];
            v[m - 1].growth[side] += v[i].growth[side];
            v[m - 1].ns[side] += v[i].ns[side];
        } else {
            v[m++] = v[i];
        }
    }
    *n = m;
    return v;
}

static void match_lines(diff *d) {
    if (!d->cmp_lines) return;
    uint32_t na, nb;
    dline *a = side_lines(d, SA, &na), *b = side_lines(d, SB, &nb);
    d->lines = xcalloc((size_t)na + nb, sizeof *d->lines);
    uint32_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : cmp_dline_key(&a[i], &b[j]);
        if (c < 0) d->lines[k++] = a[i++];
        else if (c > 0) d->lines[k++] = b[j++];
        else {
            dline *e = &d->lines[k++];
            *e = a[i++];
            e->present[SB] = 1;
            e->count[SB] = b[j].count[SB];
            e->growth[SB] = b[j].growth[SB];
            e->ns[SB] = b[j].ns[SB];
            j++;
        }
    }
    d->nlines = k;
    free(a);
    free(b);
}

/* A frame's name: its qualname, or "<fn#N>" (fids differ between runs, so
 * such sites only match when the numbers happen to agree). */
const char *mt_diff_frame_name(const mt_analysis_frame *f) {
    if (f->qualname[0]) return f->qualname;
    char buf[32];
    snprintf(buf, sizeof buf, "<fn#%u>", (unsigned)f->fid);
    names = realloc(names, (nnames + 1) * sizeof *names);
    if (!names || !(names[nnames] = strdup(buf))) mt_cli_die(1, "out of memory");
    return names[nnames++];
}

/* The innermost frame of st that is not a C function; NULL if none. A fid
 * whose definition is unknown counts as Python, as the analysis does. */
const mt_analysis_frame *mt_diff_site_frame(const run *r, const mt_analysis_site *st,
                                            mt_analysis_frame *buf, uint32_t *at) {
    for (uint32_t k = st->depth; k-- > 0;) {
        if (mt_analysis_site_frame(r->an, st, k, buf)) break;
        const mt_function *fn = mt_analysis_site_function(r->an, buf->fid);
        if (!fn || fn->kind != MT_FUNC_C) {
            if (at) *at = k;
            return buf;
        }
    }
    return NULL;
}

static int cmp_dsite_key(const void *x, const void *y) {
    const dsite *p = x, *q = y;
    int c = strcmp(p->name, q->name);
    if (c) return c;
    if ((c = strcmp(p->file, q->file))) return c;
    return p->line != q->line ? (p->line < q->line ? -1 : 1) : 0;
}

/* One run's sites (hotspots and leaks), sorted by key, stacks summed. */
static dsite *side_sites(diff *d, int side, uint32_t *n) {
    const run *r = &d->r[side];
    uint32_t na, nl;
    const mt_analysis_site *al =
        mt_analysis_sites(r->an, MT_ANALYSIS_SITES_ALLOCS, MT_ANALYSIS_BY_BYTES, &na);
    const mt_analysis_site *lk =
        mt_analysis_sites(r->an, MT_ANALYSIS_SITES_LEAKS, MT_ANALYSIS_BY_BYTES, &nl);
    dsite *v = xcalloc((size_t)na + nl, sizeof *v);
    uint32_t k = 0;
    for (int t = 0; t < 2; t++) {
        const mt_analysis_site *st = t ? lk : al;
        for (uint32_t i = 0; i < (t ? nl : na); i++) {
            dsite *e = &v[k++];
            mt_analysis_frame fb;
            const mt_analysis_frame *f = mt_diff_site_frame(r, &st[i], &fb, NULL);
            const mt_function *fn = f ? mt_analysis_site_function(r->an, f->fid) : NULL;
            e->name = f ? mt_diff_frame_name(f) : "";
            e->module = fn ? fn->module : "";
            e->file = f ? f->file : "";
            e->def_line = f && (!f->line || !d->site_lines);
            e->line = f ? (e->def_line ? f->first_line : f->line) : 0;
            if (t) {
                e->lcount[side] = st[i].count;
                e->lbytes[side] = st[i].bytes;
            } else {
                e->rep[side] = &st[i];
                e->count[side] = st[i].count;
                e->bytes[side] = st[i].bytes;
            }
        }
    }
    qsort(v, k, sizeof *v, cmp_dsite_key);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (m && cmp_dsite_key(&v[m - 1], &v[i]) == 0) {
            dsite *e = &v[m - 1];
            const mt_analysis_site *x = v[i].rep[side];
            if (x && (!e->rep[side] || x->bytes > e->rep[side]->bytes)) e->rep[side] = x;
            e->count[side] += v[i].count[side];
            e->bytes[side] += v[i].bytes[side];
            e->lcount[side] += v[i].lcount[side];
            e->lbytes[side] += v[i].lbytes[side];
        } else {
            v[m++] = v[i];
        }
    }
    *n = m;
    return v;
}

/* Does a run name the allocating line of its sites (any site's frame)? */
static int run_site_lines(const run *r) {
    for (int t = 0; t < 2; t++) {
        uint32_t n;
        const mt_analysis_site *st =
            mt_analysis_sites(r->an, t ? MT_ANALYSIS_SITES_LEAKS : MT_ANALYSIS_SITES_ALLOCS,
                              MT_ANALYSIS_BY_BYTES, &n);
        for (uint32_t i = 0; i < n; i++) {
            mt_analysis_frame fb;
            const mt_analysis_frame *f = mt_diff_site_frame(r, &st[i], &fb, NULL);
            if (f && f->line) return 1;
        }
    }
    return 0;
}

static void match_sites(diff *d) {
    if (!d->cmp_heap) return;
    d->site_lines = run_site_lines(&d->r[SA]) && run_site_lines(&d->r[SB]);
    uint32_t na, nb;
    dsite *a = side_sites(d, SA, &na), *b = side_sites(d, SB, &nb);
    d->sites = xcalloc((size_t)na + nb, sizeof *d->sites);
    uint32_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : cmp_dsite_key(&a[i], &b[j]);
        if (c < 0) d->sites[k++] = a[i++];
        else if (c > 0) d->sites[k++] = b[j++];
        else {
            dsite *e = &d->sites[k++];
            *e = a[i++];
            if (b[j].module[0]) e->module = b[j].module;
            e->rep[SB] = b[j].rep[SB];
            e->count[SB] = b[j].count[SB];
            e->bytes[SB] = b[j].bytes[SB];
            e->lcount[SB] = b[j].lcount[SB];
            e->lbytes[SB] = b[j].lbytes[SB];
            j++;
        }
    }
    d->nsites = k;
    free(a);
    free(b);
}

/* ---- Ordering ----------------------------------------------------------- */

static int sort_key; /* qsort has no context argument; main thread only */

static int func_changed(const dfunc *f) {
    return f->present[SA] != f->present[SB] || f->calls[SA] != f->calls[SB] ||
           f->incl[SA] != f->incl[SB] || f->self[SA] != f->self[SB] ||
           f->incl_ns[SA] != f->incl_ns[SB] || f->self_ns[SA] != f->self_ns[SB] ||
           f->peak[SA] != f->peak[SB];
}

static int line_changed(const dline *l) {
    return l->present[SA] != l->present[SB] || l->count[SA] != l->count[SB] ||
           l->growth[SA] != l->growth[SB] || l->ns[SA] != l->ns[SB];
}

static uint64_t func_change(const dfunc *f, int key) {
    switch (key) {
    case MT_ANALYSIS_SORT_SELF: return mag(f->self[SB] - f->self[SA]);
    case MT_ANALYSIS_SORT_CALLS: return mag((int64_t)(f->calls[SB] - f->calls[SA]));
    case MT_ANALYSIS_SORT_TIME: return mag(f->incl_ns[SB] - f->incl_ns[SA]);
    case MT_ANALYSIS_SORT_PEAK: return mag(f->peak[SB] - f->peak[SA]);
    default: return mag(f->incl[SB] - f->incl[SA]);
    }
}

static uint64_t line_change(const dline *l, int key) {
    switch (key) {
    case MT_ANALYSIS_SORT_CALLS: return mag((int64_t)(l->count[SB] - l->count[SA]));
    case MT_ANALYSIS_SORT_TIME: return mag(l->ns[SB] - l->ns[SA]);
    default: return mag(l->growth[SB] - l->growth[SA]);
    }
}

#define CMP_DESC(x, y) do { if ((x) != (y)) return (x) > (y) ? -1 : 1; } while (0)

/* Greatest |change| first; ties by the incl change, then by key, so that
 * the order is the same on every run. */
static int cmp_func_change(const void *x, const void *y) {
    const dfunc *p = x, *q = y;
    CMP_DESC(func_change(p, sort_key), func_change(q, sort_key));
    CMP_DESC(func_change(p, MT_ANALYSIS_SORT_INCL), func_change(q, MT_ANALYSIS_SORT_INCL));
    return cmp_dfunc_key(p, q);
}

static int cmp_line_change(const void *x, const void *y) {
    const dline *p = x, *q = y;
    CMP_DESC(line_change(p, sort_key), line_change(q, sort_key));
    CMP_DESC(line_change(p, MT_ANALYSIS_SORT_INCL), line_change(q, MT_ANALYSIS_SORT_INCL));
    return cmp_dline_key(p, q);
}


static int cmp_presence(const void *x, const void *y) {
    const dfunc *p = *(const dfunc *const *)x, *q = *(const dfunc *const *)y;
    CMP_DESC(mag(p->incl[the_side(p)]), mag(q->incl[the_side(q)]));
    return cmp_dfunc_key(p, q);
}


/* Greatest |change in bytes| first, then |change in count|, then key
 * (the site key alone: stable across runs). */
static int cmp_hot_bytes(const void *x, const void *y) {
    const dsite *p = *(const dsite *const *)x, *q = *(const dsite *const *)y;
    CMP_DESC(mag(sdelta(p->bytes[SA], p->bytes[SB])), mag(sdelta(q->bytes[SA], q->bytes[SB])));
    CMP_DESC(mag(sdelta(p->count[SA], p->count[SB])), mag(sdelta(q->count[SA], q->count[SB])));
    return cmp_dsite_key(p, q);
}

static int cmp_hot_count(const void *x, const void *y) {
    const dsite *p = *(const dsite *const *)x, *q = *(const dsite *const *)y;
    CMP_DESC(mag(sdelta(p->count[SA], p->count[SB])), mag(sdelta(q->count[SA], q->count[SB])));
    CMP_DESC(mag(sdelta(p->bytes[SA], p->bytes[SB])), mag(sdelta(q->bytes[SA], q->bytes[SB])));
    return cmp_dsite_key(p, q);
}

static int cmp_leak(const void *x, const void *y) {
    const dsite *p = *(const dsite *const *)x, *q = *(const dsite *const *)y;
    CMP_DESC(mag(sdelta(p->lbytes[SA], p->lbytes[SB])),
             mag(sdelta(q->lbytes[SA], q->lbytes[SB])));
    CMP_DESC(mag(sdelta(p->lcount[SA], p->lcount[SB])),
             mag(sdelta(q->lcount[SA], q->lcount[SB])));
    return cmp_dsite_key(p, q);
}

static void order_sites(diff *d) {
    d->hot_bytes = xcalloc(d->nsites, sizeof *d->hot_bytes);
    d->hot_count = xcalloc(d->nsites, sizeof *d->hot_count);
    d->leaks = xcalloc(d->nsites, sizeof *d->leaks);
    for (uint32_t i = 0; i < d->nsites; i++) {
        dsite *e = &d->sites[i];
        if (e->count[SA] != e->count[SB] || e->bytes[SA] != e->bytes[SB]) {
            d->hot_bytes[d->nhot] = d->hot_count[d->nhot] = e;
            d->nhot++;
            d->nhot_new += !e->count[SA];
            d->nhot_gone += !e->count[SB];
        }
        if (e->lcount[SA] != e->lcount[SB] || e->lbytes[SA] != e->lbytes[SB]) {
            d->leaks[d->nleaks++] = e;
            d->nleaks_new += !e->lcount[SA];
            d->nleaks_gone += !e->lcount[SB];
        }
    }
    qsort(d->hot_bytes, d->nhot, sizeof *d->hot_bytes, cmp_hot_bytes);
    qsort(d->hot_count, d->nhot, sizeof *d->hot_count, cmp_hot_count);
    qsort(d->leaks, d->nleaks, sizeof *d->leaks, cmp_leak);
}

/* Changed entries first in --sort order; unchanged ones are cut off. */
static void order(diff *d) {
    sort_key = d->sort;
    uint32_t k = 0;
    for (uint32_t i = 0; i < d->nfuncs; i++)
        if (func_changed(&d->funcs[i])) d->funcs[k++] = d->funcs[i];
    d->nchanged = k;
    if (k) qsort(d->funcs, k, sizeof *d->funcs, cmp_func_change);
    d->appeared = xcalloc(k, sizeof *d->appeared);
    d->vanished = xcalloc(k, sizeof *d->vanished);
    for (uint32_t i = 0; i < k; i++) {
        dfunc *f = &d->funcs[i];
        if (!f->present[SA]) d->appeared[d->nnew++] = f;
        if (!f->present[SB]) d->vanished[d->ngone++] = f;
    }
    qsort(d->appeared, d->nnew, sizeof *d->appeared, cmp_presence);
    qsort(d->vanished, d->ngone, sizeof *d->vanished, cmp_presence);
    k = 0;
    for (uint32_t i = 0; i < d->nlines; i++)
        if (line_changed(&d->lines[i])) d->lines[k++] = d->lines[i];
    d->nlines_changed = k;
    if (k) qsort(d->lines, k, sizeof *d->lines, cmp_line_change);
    if (d->cmp_heap) order_sites(d);
}

/* ---- Conditions: parsing ------------------------------------------------ */

_Noreturn static void cond_error(const char *expr, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn static void cond_error(const char *expr, size_t at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mt_cli_error("--fail-if: %s at character %zu:", msg, at + 1);
    fprintf(stderr, "  %s\n  %*s^\n", expr, (int)at, "");
    fprintf(stderr, "Try 'memtrace-diff --help' for the grammar of conditions.\n");
    exit(2);
}

static enum unit quantity_unit(const cond *c) {
    switch (c->q) {
    case Q_PEAK: case Q_END: case Q_START: case Q_HEAP_PEAK: case Q_LEAKED: return U_BYTES;
    case Q_DURATION: return U_NS;
    case Q_FUNC:
        return c->field == F_CALLS ? U_COUNT : c->field == F_TIME ? U_NS : U_BYTES;
    case Q_ALLOC: case Q_LEAK: return c->field == F_COUNT ? U_COUNT : U_BYTES;
    case Q_OBJECTS: return U_COUNT;
    default: return U_COUNT;
    }
}

static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n > k && memcmp(s + n - k, suffix, k) == 0;
}

static void parse_cond(const char *s, cond *c) {
    static const char *const qnames[] = {"peak",  "end",  "start",     "duration", "events",
                                         "calls", "lost", "heap_peak", "leaked"};
    size_t len = strlen(s);
    memset(c, 0, sizeof *c);
    c->expr = s;
    c->side = -1;

    /* The operator: the last run of <, >, = (a threshold holds none). */
    size_t k = len;
    while (k > 0 && !strchr("<>=", s[k - 1])) k--;
    size_t opstart;
    if (k == 0) {
        size_t at = 0;
        while (s[at] && (s[at] == '_' || s[at] == ':' || s[at] == '.' ||
                         (s[at] >= 'a' && s[at] <= 'z') || (s[at] >= 'A' && s[at] <= 'Z')))
            at++;
        cond_error(s, at, "expected an operator (>, >=, <, <=)");
    }
    if (s[k - 1] == '=') {
        if (k < 2 || (s[k - 2] != '<' && s[k - 2] != '>'))
            cond_error(s, k - 1, "'=' is not an operator (>, >=, <, <=)");
        c->op = s[k - 2] == '>' ? OP_GE : OP_LE;
        opstart = k - 2;
    } else {
        c->op = s[k - 1] == '>' ? OP_GT : OP_LT;
        opstart = k - 1;
    }

    /* The quantity, in [0, opstart). */
    size_t p = 0;
    if ((s[0] == 'A' || s[0] == 'B') && s[1] == ':') {
        c->side = s[0] == 'A' ? SA : SB;
        p = 2;
    }
    const char *q = s + p;
    size_t qn = opstart - p;
    if (qn == 0) cond_error(s, p, "expected a quantity");
    int found = 0;
    for (int i = 0; i < (int)(sizeof qnames / sizeof *qnames); i++) {
        if (strlen(qnames[i]) == qn && memcmp(q, qnames[i], qn) == 0) {
            c->q = i;
            found = 1;
        }
    }
    if (!found) {
        int calls = qn >= 6 && memcmp(q, "calls:", 6) == 0;
        int alloc = qn >= 6 && memcmp(q, "alloc:", 6) == 0;
        int leak = qn >= 5 && memcmp(q, "leak:", 5) == 0;
        int objs = qn >= 8 && memcmp(q, "objects:", 8) == 0;
        if (!calls && !alloc && !leak && !objs && !(qn >= 5 && memcmp(q, "func:", 5) == 0))
            cond_error(s, p, "unknown quantity '%.*s' (peak, end, start, duration, events, "
                       "calls, lost, heap_peak, leaked, func:NAME, calls:NAME, alloc:NAME, "
                       "leak:NAME, objects:TYPE)", (int)qn, q);
        size_t np = objs ? 8 : calls || alloc ? 6 : 5, nn = qn - np;
        c->q = objs ? Q_OBJECTS : alloc ? Q_ALLOC : leak ? Q_LEAK : Q_FUNC;
        c->field = F_INCL;
        if (objs) {
            c->field = MT_OBJDIFF_END;
            if (ends_with(q + np, nn, ".end")) nn -= 4;
            else if (ends_with(q + np, nn, ".created")) c->field = MT_OBJDIFF_CREATED, nn -= 8;
            else if (ends_with(q + np, nn, ".max")) c->field = MT_OBJDIFF_MAX, nn -= 4;
        } else if (calls) {
            c->field = F_CALLS;
        } else if (alloc || leak) {
            c->field = F_BYTES;
            if (ends_with(q + np, nn, ".bytes")) nn -= 6;
            else if (ends_with(q + np, nn, ".count")) c->field = F_COUNT, nn -= 6;
        } else {
            static const char *const fields[] = {".incl", ".self", ".calls", ".time"};
            for (int i = 0; i < 4; i++) {
                if (ends_with(q + np, nn, fields[i])) {
                    c->field = i;
                    nn -= strlen(fields[i]);
                    break;
                }
            }
        }
        if (nn == 0) cond_error(s, p + np, objs ? "expected a type name" : "expected a function name");
        if (!(c->fname = strndup(q + np, nn))) mt_cli_die(1, "out of memory");
    }
    enum unit u = quantity_unit(c);

    /* The threshold, in [k, len). */
    size_t t = k;
    if (t == len) cond_error(s, t, "expected a threshold");
    int neg = 0;
    if (s[t] == '+' || s[t] == '-') neg = s[t++] == '-';
    size_t digits = t;
    long double v = 0;
    while (s[t] >= '0' && s[t] <= '9') v = v * 10 + (s[t++] - '0');
    if (s[t] == '.') {
        long double scale = 0.1L;
        t++;
        while (s[t] >= '0' && s[t] <= '9') {
            v += (s[t++] - '0') * scale;
            scale /= 10;
        }
    }
    if (t == digits || (t == digits + 1 && s[digits] == '.'))
        cond_error(s, digits, "expected a number");
    const char *unit = s + t;
    if (strcmp(unit, "%") == 0) {
        if (c->side >= 0)
            cond_error(s, t, "'%%' compares B with A: %c: takes an absolute threshold",
                       c->side == SA ? 'A' : 'B');
        c->rel = 1;
    } else if (u == U_BYTES) {
        static const struct { const char *name; unsigned shift; } units[] = {
            {"", 0},    {"B", 0},    {"K", 10},   {"KB", 10},  {"KiB", 10},
            {"k", 10},  {"kB", 10},  {"M", 20},   {"MB", 20},  {"MiB", 20},
            {"G", 30},  {"GB", 30},  {"GiB", 30}, {"T", 40},   {"TB", 40},
            {"TiB", 40},
        };
        size_t i;
        for (i = 0; i < sizeof units / sizeof *units; i++)
            if (strcmp(unit, units[i].name) == 0) break;
        if (i == sizeof units / sizeof *units)
            cond_error(s, t, "'%s' is not a unit of bytes (B, KiB, MiB, GiB, TiB, or %%)", unit);
        v *= (long double)((uint64_t)1 << units[i].shift);
    } else if (u == U_NS) {
        static const struct { const char *name; long double ns; } units[] = {
            {"", 1e9L}, {"s", 1e9L}, {"ms", 1e6L}, {"us", 1e3L},
            {"ns", 1},  {"m", 60e9L}, {"min", 60e9L}, {"h", 3600e9L},
        };
        size_t i;
        for (i = 0; i < sizeof units / sizeof *units; i++)
            if (strcmp(unit, units[i].name) == 0) break;
        if (i == sizeof units / sizeof *units)
            cond_error(s, t, "'%s' is not a unit of time (ns, us, ms, s, m, h, or %%)", unit);
        v *= units[i].ns;
    } else if (*unit) {
        cond_error(s, t, "a count takes no unit ('%s'), only %%", unit);
    }
    c->thr = neg ? -v : v;
}

/* ---- Conditions: evaluating --------------------------------------------- */

static int site_matches(const dsite *e, const char *name) {
    if (strcmp(e->name, name) == 0) return 1;
    size_t m = strlen(e->module);
    return m && strncmp(name, e->module, m) == 0 && name[m] == '.' &&
           strcmp(name + m + 1, e->name) == 0;
}

static int name_matches(const dfunc *f, const char *name) {
    if (strcmp(f->name, name) == 0) return 1;
    size_t m = strlen(f->module);
    return m && strncmp(name, f->module, m) == 0 && name[m] == '.' &&
           strcmp(name + m + 1, f->name) == 0;
}

/* Sets c->a, c->b, c->unit, c->result. Returns -1 (with a message) when the
 * traces cannot give the quantity. Called before order() cuts the
 * unchanged functions off. */
static int eval_cond(diff *d, cond *c) {
    const run *A = &d->r[SA], *B = &d->r[SB];
    const mt_analysis_summary *sa = A->s, *sb = B->s;
    c->unit = quantity_unit(c);
    switch (c->q) {
    case Q_PEAK: c->a = (int64_t)sa->rss_peak; c->b = (int64_t)sb->rss_peak; break;
    case Q_END: c->a = (int64_t)sa->rss_end; c->b = (int64_t)sb->rss_end; break;
    case Q_START: c->a = (int64_t)sa->rss_start; c->b = (int64_t)sb->rss_start; break;
    case Q_DURATION: c->a = ticks_ns(A, sa->t_last); c->b = ticks_ns(B, sb->t_last); break;
    case Q_EVENTS: c->a = (int64_t)sa->records; c->b = (int64_t)sb->records; break;
    case Q_CALLS: c->a = (int64_t)sa->calls; c->b = (int64_t)sb->calls; break;
    case Q_LOST: c->a = (int64_t)sa->lost_events; c->b = (int64_t)sb->lost_events; break;
    case Q_HEAP_PEAK:
    case Q_LEAKED:
    case Q_ALLOC:
    case Q_LEAK: {
        if (!d->cmp_heap) {
            mt_cli_error("--fail-if '%s': allocations are not compared (%s has no allocation "
                         "records)", c->expr, has(A, HAS_ALLOCS) ? B->path : A->path);
            return -1;
        }
        const mt_analysis_heap *ha = mt_analysis_heap_get(A->an), *hb = mt_analysis_heap_get(B->an);
        if (c->q == Q_HEAP_PEAK) {
            c->a = (int64_t)ha->peak_bytes;
            c->b = (int64_t)hb->peak_bytes;
            break;
        }
        if (c->q == Q_LEAKED) {
            c->a = (int64_t)ha->total.end_bytes;
            c->b = (int64_t)hb->total.end_bytes;
            break;
        }
        int n = 0, cnt = c->field == F_COUNT;
        c->a = c->b = 0;
        for (uint32_t i = 0; i < d->nsites; i++) {
            const dsite *e = &d->sites[i];
            if (!site_matches(e, c->fname)) continue;
            n++;
            if (c->q == Q_ALLOC) {
                c->a += (int64_t)(cnt ? e->count[SA] : e->bytes[SA]);
                c->b += (int64_t)(cnt ? e->count[SB] : e->bytes[SB]);
            } else {
                c->a += (int64_t)(cnt ? e->lcount[SA] : e->lbytes[SA]);
                c->b += (int64_t)(cnt ? e->lcount[SB] : e->lbytes[SB]);
            }
        }
        if (!n) {
            mt_cli_error("--fail-if '%s': no allocation site in a function '%s' in %s or %s",
                         c->expr, c->fname, A->path, B->path);
            return -1;
        }
        break;
    }
    case Q_OBJECTS: {
        if (!mt_objdiff_compared(A->an, B->an)) {
            mt_cli_error("--fail-if '%s': objects are not compared (%s has no object records: "
                         "memtrace.start(objects=True))", c->expr,
                         mt_analysis_objects_get(A->an)->has_objects ? B->path : A->path);
            return -1;
        }
        uint32_t na = mt_objdiff_value(A->an, c->fname, c->field, &c->a);
        uint32_t nb = mt_objdiff_value(B->an, c->fname, c->field, &c->b);
        if (!na && !nb) {
            mt_cli_error("--fail-if '%s': no objects of a type '%s' in %s or %s", c->expr,
                         c->fname, A->path, B->path);
            return -1;
        }
        break;
    }
    case Q_FUNC: {
        if (!d->cmp_funcs) {
            mt_cli_error("--fail-if '%s': functions are not compared (%s has no calls)",
                         c->expr, has(A, HAS_CALLS) ? B->path : A->path);
            return -1;
        }
        int n = 0;
        c->a = c->b = 0;
        for (uint32_t i = 0; i < d->nfuncs; i++) {
            const dfunc *f = &d->funcs[i];
            if (!name_matches(f, c->fname)) continue;
            n++;
            for (int sd = 0; sd < 2; sd++) {
                int64_t v = c->field == F_SELF    ? f->self[sd]
                            : c->field == F_CALLS ? (int64_t)f->calls[sd]
                            : c->field == F_TIME  ? f->incl_ns[sd]
                                                  : f->incl[sd];
                if (sd == SA) c->a += v;
                else c->b += v;
            }
        }
        if (!n) {
            mt_cli_error("--fail-if '%s': no function '%s' in %s or %s", c->expr, c->fname,
                         A->path, B->path);
            return -1;
        }
        break;
    }
    }
    if ((c->q == Q_PEAK || c->q == Q_END || c->q == Q_START) && !d->cmp_rss) {
        mt_cli_error("--fail-if '%s': RSS is not compared (%s has no RSS samples)", c->expr,
                     has(A, HAS_RSS) ? B->path : A->path);
        return -1;
    }
    long double v;
    if (c->side >= 0) {
        v = (long double)(c->side == SA ? c->a : c->b);
    } else if (c->rel) {
        int def;
        v = pct(c->a, c->b, &def);
    } else {
        v = (long double)c->b - (long double)c->a;
    }
    switch (c->op) {
    case OP_GT: c->result = v > c->thr; break;
    case OP_GE: c->result = v >= c->thr; break;
    case OP_LT: c->result = v < c->thr; break;
    case OP_LE: c->result = v <= c->thr; break;
    }
    return 0;
}

/* ---- Main --------------------------------------------------------------- */

static mt_cli_time opt_from, opt_to;
static const char **opt_threads, **opt_funcs, **opt_files;
static uint32_t opt_nthreads, opt_nfuncs, opt_nfiles;

static int load(run *r, const char *path) {
    r->path = path;
    /* Open once here for the tools' uniform messages (missing file,
     * directory); the analysis reopens it. */
    mt_reader *rd;
    if (mt_cli_open_trace(&rd, path) < 0) return -1;
    mt_analysis_options opt;
    mt_analysis_options_init(&opt);
    if (opt_from.set) opt.from_ns = mt_cli_time_ns(&opt_from, mt_reader_header(rd));
    if (opt_to.set) opt.to_ns = mt_cli_time_ns(&opt_to, mt_reader_header(rd));
    mt_reader_close(rd);
    if (opt.from_ns > opt.to_ns) mt_cli_usage_error(usage_text, "--from is after --to");
    opt.threads = opt_threads;
    opt.nthreads = opt_nthreads;
    opt.functions = opt_funcs;
    opt.nfunctions = opt_nfuncs;
    opt.files = opt_files;
    opt.nfiles = opt_nfiles;
    opt.progress = mt_cli_progress;
    opt.progress_ctx = (void *)path;
    int rc = mt_analysis_run(&r->an, path, &opt);
    mt_cli_progress_done();
    if (rc < 0) {
        mt_cli_error("%s", r->an ? mt_analysis_errmsg(r->an) : mt_strerror(rc));
        return -1;
    }
    r->s = mt_analysis_summary_get(r->an);
    r->tps = r->s->header->ticks_per_second;
    if (!mt_analysis_data_records(r->an)) {
        for (uint32_t k = 0; k < r->s->nmessages; k++) mt_cli_error("%s", r->s->messages[k]);
        mt_cli_error("%s: nothing to compare: the trace holds no events and no samples%s", path,
                     r->s->damaged_chunks ? " in its intact chunks" : "");
        return -1;
    }
    if (opt_from.set) {
        uint64_t last_ns = (uint64_t)((unsigned __int128)r->s->t_last * 1000000000u /
                                      (r->tps ? r->tps : 1));
        if (opt.from_ns > last_ns) {
            char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
            mt_cli_error("%s: --from %s is past the end of the trace (its last record is at %s)",
                         path, mt_fmt_ns(b1, opt.from_ns), mt_fmt_ns(b2, last_ns));
            return -1;
        }
    }
    r->damaged = r->s->damaged_chunks || r->s->nmessages_total;
    return 0;
}

int main(int argc, char **argv) {
    enum { OPT_TOP = 256, OPT_SORT, OPT_JSON, OPT_FAIL_IF, OPT_ALLOW_DAMAGED, OPT_FROM, OPT_TO,
           OPT_THREAD, OPT_FUNCTION, OPT_FILE };
    static const struct option longopts[] = {
        {"top", required_argument, NULL, OPT_TOP},
        {"sort", required_argument, NULL, OPT_SORT},
        {"json", no_argument, NULL, OPT_JSON},
        {"fail-if", required_argument, NULL, OPT_FAIL_IF},
        {"allow-damaged", no_argument, NULL, OPT_ALLOW_DAMAGED},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"thread", required_argument, NULL, OPT_THREAD},
        {"function", required_argument, NULL, OPT_FUNCTION},
        {"file", required_argument, NULL, OPT_FILE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    mt_cli_init("memtrace-diff");
    diff d;
    memset(&d, 0, sizeof d);
    d.top = 20;
    d.sort = MT_ANALYSIS_SORT_INCL;
    d.conds = xcalloc((size_t)argc, sizeof *d.conds);
    opt_threads = xcalloc((size_t)argc, sizeof *opt_threads);
    opt_funcs = xcalloc((size_t)argc, sizeof *opt_funcs);
    opt_files = xcalloc((size_t)argc, sizeof *opt_files);
    int json = 0, allow_damaged = 0, c;
    uint64_t top = 20;
    opterr = 0; /* we word the messages ourselves */
    while ((c = mt_cli_getopt(argc, argv, "hV", longopts, usage_text)) != -1) {
        switch (c) {
        case OPT_TOP:
            if (mt_cli_parse_u64(optarg, &top) < 0 || top > UINT32_MAX)
                mt_cli_usage_error(usage_text, "--top: not a count: '%s'", optarg);
            break;
        case OPT_SORT:
            d.sort = mt_analysis_sort_parse(optarg);
            if (d.sort < 0)
                mt_cli_usage_error(usage_text,
                                   "--sort: unknown key '%s' (incl, self, calls, time, peak)",
                                   optarg);
            break;
        case OPT_FROM: mt_cli_time_option(&opt_from, "from", optarg, usage_text); break;
        case OPT_TO: mt_cli_time_option(&opt_to, "to", optarg, usage_text); break;
        case OPT_THREAD:
            if (!*optarg) mt_cli_usage_error(usage_text, "empty --thread");
            opt_threads[opt_nthreads++] = optarg;
            break;
        case OPT_FUNCTION:
        case OPT_FILE:
            if (!*optarg)
                mt_cli_usage_error(usage_text, "empty --%s pattern",
                                   c == OPT_FILE ? "file" : "function");
            if (c == OPT_FILE) opt_files[opt_nfiles++] = optarg;
            else opt_funcs[opt_nfuncs++] = optarg;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_FAIL_IF: parse_cond(optarg, &d.conds[d.nconds++]); break;
        case OPT_ALLOW_DAMAGED: allow_damaged = 1; break;
        case 'h':
            free(d.conds);
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        case 'V':
            free(d.conds);
            printf("memtrace-diff (memtrace) %s, trace format %d.%d\n", MT_LIBRARY_VERSION,
                   MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
            return fflush(stdout) == 0 ? 0 : 1;
        case ':':
            mt_cli_usage_error(usage_text, "option '%s' needs a value", argv[optind - 1]);
        default:
            mt_cli_bad_option(usage_text, argv, optind, optopt);
        }
    }
    d.top = (uint32_t)top;
    if (argc - optind < 2)
        mt_cli_usage_error(usage_text, argc - optind ? "only one trace given: need A and B"
                                                     : "no trace files given: need A and B");
    if (argc - optind > 2) mt_cli_usage_error(usage_text, "two trace files, A and B");
    for (int i = 0; i < 2; i++)
        if (strcmp(argv[optind + i], "-") == 0)
            mt_cli_usage_error(usage_text, "A and B must be files: each trace is read twice");

    /* One after the other: mt_analysis_sort, called inside run, keeps its
     * key in a static, so two analyses must not run in two threads. */
    int status = 1;
    mt_cli_guard_output(NULL, argv + optind, 2);
    if (load(&d.r[SA], argv[optind]) < 0 || load(&d.r[SB], argv[optind + 1]) < 0) {
        /* --json: a document that says why there is no diff. */
        if (json) {
            mt_out *o = &mt_stdout;
            MT_OUT_LIT(o, "{\"schema\":\"memtrace-diff/1\",");
            mt_out_json_kstr(o, "file", d.r[SB].path ? d.r[SB].path : d.r[SA].path);
            MT_OUT_LIT(o, ",\"error\":{");
            mt_out_json_kstr(o, "message", mt_cli_last_error());
            MT_OUT_LIT(o, "}}\n");
            mt_out_finish(o);
        }
        goto out;
    }
    note_loss(&d, SA); /* first: what follows may be wrong */
    note_loss(&d, SB);
    if (compare_kinds(&d) < 0) goto out;
    if (d.cmp_funcs) match_functions(&d);
    match_lines(&d);
    match_sites(&d);
    for (uint32_t i = 0; i < d.nconds; i++)
        if (eval_cond(&d, &d.conds[i]) < 0) goto out;
    order(&d);

    int damaged = 0;
    for (int sd = 0; sd < 2; sd++) {
        const run *r = &d.r[sd];
        if (!r->damaged) continue;
        damaged = 1;
        for (uint32_t k = 0; k < r->s->nmessages; k++) mt_cli_error("%s", r->s->messages[k]);
        mt_cli_error("%s: damaged trace: %llu chunks damaged, %llu bytes skipped; "
                     "the diff covers its intact part only",
                     r->path, (unsigned long long)r->s->damaged_chunks,
                     (unsigned long long)r->s->damaged_bytes);
    }
    mt_out *o = &mt_stdout;
    if (json) mt_diff_json_report(o, &d);
    else mt_diff_text_report(o, &d);
    int failed = 0;
    for (uint32_t i = 0; i < d.nconds; i++) {
        const cond *cd = &d.conds[i];
        if (!cd->result) continue;
        char ex[256];
        mt_diff_cond_explain(cd, ex, sizeof ex);
        mt_cli_error("condition true: %s (%s)", cd->expr, ex);
        failed = 1;
    }
    status = damaged && !allow_damaged ? 1 : failed ? 3 : 0;
    if (mt_out_finish(o)) status = 1;
out:
    for (int sd = 0; sd < 2; sd++) {
        mt_analysis_free(d.r[sd].an);
        free(d.r[sd].loss_text);
    }
    for (uint32_t i = 0; i < d.nconds; i++) free(d.conds[i].fname);
    free(d.conds);
    free(opt_threads);
    free(opt_funcs);
    free(opt_files);
    free(d.funcs);
    free(d.lines);
    free(d.appeared);
    free(d.vanished);
    free(d.sites);
    free(d.hot_bytes);
    free(d.hot_count);
    free(d.leaks);
    for (uint32_t i = 0; i < d.nwarnings; i++) free(d.warnings[i]);
    free(d.warnings);
    for (uint32_t i = 0; i < nnames; i++) free(names[i]);
    free(names);
    return status;
}
