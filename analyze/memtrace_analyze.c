/*
 * memtrace-analyze - where did the memory go: a report on one trace.
 *
 * The numbers come from mt_analysis.c (shared with memtrace-diff and
 * memtrace-plot); this file only parses options and prints the result as
 * text or CSV, and mt_analyze_json.c as JSON (mt_analyze.h: what both
 * share). A damaged trace still gets its report, built from the intact
 * chunks, with a notice, and exit status 1.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memtrace_format.h"
#include "mt_analysis.h"
#include "mt_tree.h"
#include "mt_objreport.h"
#include "mt_cli.h"
#include "mt_analyze.h"

static const char usage_text[] =
"usage: memtrace-analyze [options] FILE\n"
"\n"
"Report where a memtrace trace's memory went: the run, RSS at start, peak\n"
"(with each thread's Python stack then) and end, the functions and lines\n"
"that grew RSS, markers, and threads. With allocation records, also the\n"
"heap: per domain, at its peak by allocating stack, leaks, temporary\n"
"allocations and hotspots. FILE must be a file (read two or three times).\n"
"\n"
"Options:\n"
"  --top N          show the N first functions and lines (default 20; 0: all)\n"
"  --sort KEY       incl (default), self, calls, time or peak; lines sort by\n"
"                   growth, count (calls), time or peak alike; heap tables\n"
"                   by blocks with calls, else by bytes\n"
"  --json           one JSON document, schema below (exact bytes, seconds)\n"
"  --csv            the function table as RFC 4180 CSV, columns below\n"
"  --from T, --to T a time window: seconds since the trace's start (\"1.5\"),\n"
"                   with a unit (\"1.5s\", \"200ms\", \"2m\"), a UNIX time\n"
"                   (\"@1795000000.25\") or ISO-8601 UTC (\"2026-11-21T09:19:32Z\");\n"
"                   activations are clipped to it;\n"
"                   a window that starts after the trace's last record is an\n"
"                   error (one line, exit status 1)\n"
"  --thread X       attribute only thread X: a tid or a thread name\n"
"                   (repeatable); RSS itself stays the process's\n"
"  --function GLOB, --file GLOB\n"
"                   focus the tables: functions (and their lines) whose\n"
"                   qualified name, or module.qualname, matches GLOB\n"
"                   (fnmatch), or whose file does; allocation sites whose\n"
"                   stack passes through such a function. Repeatable (one\n"
"                   kind: alternatives; both kinds: both must hold). RSS,\n"
"                   heap totals and threads stay the whole trace's\n"
"  --tree[=all]     instead of the report: the heap at its peak as a tree of\n"
"                   call paths, biggest first (--top children at most per\n"
"                   node, paths under 0.5% of the peak summed); runs of\n"
"                   import-system frames fold into \"<import system>\" unless\n"
"                   =all; with --json, {file, peak_bytes, peak_time_s, tree:\n"
"                   NODE}, NODE: {function, file, line, first_line, bytes,\n"
"                   count, children: [NODE], more: {nodes, bytes, count}}\n"
"  -h, --help       print this text and exit\n"
"  -V, --version    print the version and exit\n"
"\n"
"ATTRIBUTION\n"
"  RSS(t) is the last RSS sample at or before t (COUNTERS/RSS records). A\n"
"  function's inclusive growth is RSS(return) - RSS(call) summed over its\n"
"  outermost activations (recursion counted once); self growth excludes\n"
"  its direct callees. With sampled RSS (every 10 ms by default) a function\n"
"  that allocates and returns within one interval shows its growth in its\n"
"  caller: record with rss=\"exact\" for per-event precision. A line's growth\n"
"  runs from its LINE record to the frame's next line or return, so it\n"
"  includes its callees. Returns with no call and frames open at the end\n"
"  (closed at the last record's time) are counted in the report.\n"
"\n"
"ALLOCATIONS\n"
"  Shown when the trace has allocation records (recorded with\n"
"  allocations=True or \"sampled\", or --alloc/--native). Blocks live are\n"
"  tracked by address and domain (raw, mem, obj, malloc, mmap) and\n"
"  attributed to the allocating thread's whole Python stack (its site).\n"
"  Sites aggregate by location: functions with the same name, file and def\n"
"  line are one (a code object made again by exec or a reload).\n"
"  Frees of addresses never seen allocated are ignored. Records are taken in\n"
"  file order, which across threads can differ from time order by up to a\n"
"  flush interval; frees that reach the file before their allocation and\n"
"  allocations of a still-live address are repaired and counted. The heap in\n"
"  use, its series and its peak are summed in time order across threads\n"
"  (\"order\": changes that could not be, and their size). Heap at its\n"
"  peak: the live blocks when the heap in use was greatest, by site (a third\n"
"  read of the file, up to the peak). Leaks: blocks allocated in the window\n"
"  and still live at its end. Temporary: freed by the allocating thread while\n"
"  the allocating call was still running. Hotspots: everything allocated in\n"
"  the window, by site. --thread selects the allocating threads of leaks,\n"
"  temporaries and hotspots. Sampled traces (alloc_sample_bytes N): a block\n"
"  of s bytes counts as s/(1-exp(-s/N)) bytes and 1/(1-exp(-s/N)) blocks.\n"
"\n"
"LOST EVENTS\n"
"  When the recorder had to drop events (LOST records), nothing says which,\n"
"  so some figures can be wrong: a lost free looks like a leak, a lost\n"
"  allocation lowers the heap peak, a lost call or return moves RSS growth\n"
"  between functions. The report then starts with a WARNING (the same on\n"
"  stderr, in one line, whatever the output format): events and bytes lost,\n"
"  per thread with the time(s) of the losses, and what can be wrong; every\n"
"  such figure is marked * (the heap and its site tables; RSS peak and end\n"
"  when the sampler's thread 0 lost events; functions, lines and stacks at\n"
"  the peak when another thread did; the threads that lost events). The\n"
"  exit status stays 0: the trace is intact, its recording incomplete.\n"
"\n"
"JSON (--json): one object, keys in this order (stable; new keys may be\n"
"  added at the end of an object, none removed or renamed within schema 1;\n"
"  \"warnings\" and \"lost\" come right after \"file\" so that they are read\n"
"  first):\n"
"  \"schema\": \"memtrace-analyze/1\", \"file\": str,\n"
"  \"warnings\": [str] (one per problem that can make figures wrong; [] if\n"
"          none),\n"
"  \"lost\": {events, bytes, records, falsifies: [the top-level keys whose\n"
"          figures the loss can falsify: rss, peak_stacks, functions, lines,\n"
"          threads, heap], threads: [{tid, name, events, bytes, records,\n"
"          first_s, last_s}] (the threads whose blocks hold LOST records)},\n"
"  \"run\": {command: [str], pid, ppid, hostname, python, executable,\n"
"          producer, mode, start_unix_ns, start_utc, duration_s,\n"
"          ticks_per_second, records, records_by_type: {type: n},\n"
"          threads, lost_events, lost_records, closed: bool},\n"
"  \"window\": {from_s, to_s},\n"
"  \"rss\": {samples, start_bytes, peak_bytes, peak_time_s, end_bytes},\n"
"  \"peak_stacks\": [{tid, native_id, name, frames: [{function, file, line,\n"
"          first_line}] (outermost first; line 0: unknown)}],\n"
"  \"functions\": [{function, module, file, first_line, kind (\"python\"|\"c\"),\n"
"          calls, incl_bytes, self_bytes, incl_s, self_s, peak_rss_bytes,\n"
"          peak_growth_bytes}] (incl/self: RSS growth that outlived the call,\n"
"          charged to the threads that ran; peak_growth: the most RSS rose\n"
"          within one call, process-wide; see the README),\n"
"  \"lines\": [{file, line, function, count, growth_bytes, time_s,\n"
"          peak_rss_bytes}],\n"
"  \"markers\": [{time_s, tid, text, rss_bytes}],\n"
"  \"threads\": [{tid, native_id, name, events, calls, first_s, last_s,\n"
"          growth_bytes, lost_events}],\n"
"  \"replay\": {calls, unmatched_returns, open_frames, resyncs},\n"
"  \"damage\": {damaged: bool, chunks, damaged_chunks, bytes_skipped,\n"
"          messages: [str]},\n"
"  \"report\": {sort, top, functions_total, lines_total},\n"
"  \"heap\" (only when the trace has allocations): {sample_bytes,\n"
"          estimated: bool, records: {alloc, free, realloc},\n"
"          total: DOMAIN, domains: [{domain (name), DOMAIN...}], peak_bytes,\n"
"          peak_time_s, peak_blocks, end_bytes, end_blocks,\n"
"          repairs: {unknown_frees, late_allocs, reused_live, stale_frees, unordered, unordered_bytes},\n"
"          max_live_blocks, stacks, sort (\"bytes\"|\"count\"), peak: [SITE],\n"
"          leaks: [SITE], temporaries: [SITE], hotspots_by_bytes: [SITE],\n"
"          hotspots_by_count: [SITE], sites_total: {peak, leaks,\n"
"          temporaries, hotspots}, falsified_by_loss: bool (events were\n"
"          lost: every figure of the heap can be wrong), peak_by_location:\n"
"          [{function, file, line, first_line, bytes, count, stacks}] (the\n"
"          peak's sites summed by allocating frame, most bytes first)}\n"
"    DOMAIN: alloc_count, alloc_bytes, free_count, free_bytes, peak_bytes,\n"
"          end_bytes\n"
"    SITE: {function, file, line (innermost frame; line: its current line,\n"
"          else its first line), count, bytes, sizes: [{size_bytes, count}]\n"
"          (peak and leaks: up to 4 sizes holding the most bytes), frames:\n"
"          [{function, file, line, first_line}] (outermost first)}\n"
"  \"processes\" (only when the trace has PROC_SAMPLE records: memtrace-poll,\n"
"          or log_process(children=True)), in tree order (parents first):\n"
"          [{pid, ppid, parent (index in this array, or null), depth, name,\n"
"          cmdline, first_s, last_s, samples, peak_rss_bytes, peak_time_s,\n"
"          peak_uss_bytes, peak_pss_bytes (null: never read), exited: bool,\n"
"          status (exit code, -signal; null: unknown or not exited),\n"
"          status_text (\"exit N\", \"signal N\", \"unknown\", \"running\",\n"
"          \"recorder\"), target: bool (the header's pid), from_counters:\n"
"          bool (the recorder's own process, from its COUNTERS)}],\n"
"  \"process_total\" (with \"processes\"): {rounds, peak_bytes, peak_time_s,\n"
"          series: [[time_s, bytes]] (total RSS per round, changes only)}\n"
"  \"notes\": [str] (what the figures cannot say: without allocation\n"
"          records RSS growth is attributed approximately; RSS grew far\n"
"          beyond the tracked heap, so native memory went unseen; [] if none)\n"
"  \"pymalloc\": {samples, arena_bytes_max, most, end} or null: CPython's\n"
"          small-object allocator in the window (format 1.4 counters, read by\n"
"          the recorder at start, stop, markers and periodically); most: the sample\n"
"          with the most bytes in use, end: the last, each {time_s,\n"
"          arena_bytes, used_bytes, free_bytes (held but not in use)}\n"
"  \"objects\": {created, destroyed, destroyed_unknown, inferred_deaths,\n"
"          alive_max, alive_max_time_s, end_count, end_bytes (null: no\n"
"          allocation known; so in types and alive_at_end), objects_sized,\n"
"          at_heap_peak: bool, types: [{type, created, destroyed, alive_max,\n"
"          alive_max_time_s, end_count, end_bytes, peak_count, peak_bytes\n"
"          (null without at_heap_peak)}] (most alive at the end first),\n"
"          alive_at_end: [{type, count, bytes, function, file, line, frames}]}\n"
"          or null: object tracking (memtrace.start(objects=True), 3.13+)\n"
"  Bytes are integers (growth signed); times are seconds since the trace's\n"
"  start (9 decimals); functions and lines hold --top entries in --sort order.\n"
"  A trace that cannot be read at all (missing, not a trace, newer format)\n"
"  gives {\"schema\", \"file\", \"error\": {\"message\": str}} and exit 1.\n"
"\n"
"PROCESSES\n"
"  A trace with PROC_SAMPLE records lists every process (a pid from its first\n"
"  sample to its PROC_EXIT; a reused pid is a new process) as a tree, with\n"
"  peaks and exit status, and the total RSS over time: per sampling round\n"
"  (samples of equal time), the sum of the processes' RSS, plus the\n"
"  recorder's own RSS when the trace is a recording. In a memtrace-poll\n"
"  trace the watched process's samples are also the RSS series.\n"
"\n"
"CSV (--csv): rank,function,module,file,first_line,kind,calls,incl_bytes,\n"
"  self_bytes,incl_s,self_s,peak_rss_bytes,peak_growth_bytes\n"
"\n"
"COLOUR\n"
"  On a terminal, section titles are bold, warnings red and notes yellow;\n"
"  NO_COLOR=1 (https://no-color.org) or TERM=dumb turns that off. Files\n"
"  and pipes never get colour.\n"
"\n"
"EXIT STATUS\n"
"  0 report complete; 1 the trace is damaged (the report covers its intact\n"
"  chunks and says so) or could not be read (missing, not a trace, newer\n"
"  format), holds no event and no sample (\"nothing to report\"), --from\n"
"  is past its end, no thread matches --thread, or --tree on a trace\n"
"  without allocation records; each of these is one line on stderr\n"
"  (with --json, an \"error\" document); 2 bad usage.\n";

/* ---- Helpers ------------------------------------------------------------ */

/* "+1.5 MiB", "-512 B", "0 B". */
static char *fmt_signed(char buf[MT_FMT_BYTES + 1], int64_t v) {
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    buf[0] = v < 0 ? '-' : '+';
    mt_fmt_bytes(buf + (v != 0), m);
    return buf;
}

/* ---- Text --------------------------------------------------------------- */

static void line(mt_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --function/--file, as the report's header says them ("" when none). */
static char focus_line[1024];

static void focus_text(const char **fn, uint32_t nfn, const char **fl, uint32_t nfl) {
    size_t k = 0;
    for (uint32_t i = 0; i < nfn && k < sizeof focus_line; i++)
        k += (size_t)snprintf(focus_line + k, sizeof focus_line - k, "%s%s",
                              i ? " or " : "functions matching ", fn[i]);
    for (uint32_t i = 0; i < nfl && k < sizeof focus_line; i++)
        k += (size_t)snprintf(focus_line + k, sizeof focus_line - k, "%s%s",
                              i ? " or " : k ? "; files matching " : "files matching ", fl[i]);
    if (k && k < sizeof focus_line)
        snprintf(focus_line + k, sizeof focus_line - k,
                 " (the tables; RSS and heap totals are the whole trace's)");
}

/* Colour in the text report: on a terminal, unless NO_COLOR is set (to
 * anything but "") or TERM is "dumb" (https://no-color.org). Section titles
 * (lines that start with a capital) in bold, WARNING lines in bold red, NOTE
 * lines in yellow; the text is the same without it. */
static int colour;

static void line(mt_out *o, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const char *on = NULL;
    if (colour && buf[0] >= 'A' && buf[0] <= 'Z')
        on = strncmp(buf, "WARNING", 7) == 0 ? "\033[1;31m"
             : strncmp(buf, "NOTE", 4) == 0  ? "\033[33m"
                                              : "\033[1m";
    if (on) mt_out_puts(o, on);
    mt_out_puts(o, buf);
    if (on) MT_OUT_LIT(o, "\033[0m");
    mt_out_putc(o, '\n');
}

/* ---- Loss: said first -------------------------------------------------- */

/* "heap figures (peak, end, leaks, sites), calls, RSS growth and stacks of
 * threads 1, 2": what the loss can falsify, for the warning. */
void mt_analyze_loss_what(char *buf, size_t cap, const report *rp, const mt_analysis *a) {
    size_t k = 0;
    buf[0] = 0;
    if (rp->loss & MT_LOSS_HEAP)
        k += (size_t)snprintf(buf + k, cap - k, "the heap (peak, end, leaks, sites: a lost "
                              "free looks like a leak, a lost allocation lowers the peak)");
    if (rp->loss & MT_LOSS_CALLS && k < cap) {
        k += (size_t)snprintf(buf + k, cap - k, "%sthe calls, RSS growth and stacks of "
                              "functions (threads", k ? "; " : "");
        uint32_t n;
        const mt_analysis_thread *t = mt_analysis_threads(a, &n);
        const char *sep = " ";
        for (uint32_t i = 0; i < n && k < cap; i++) {
            if (!t[i].lost_records || !t[i].tid) continue;
            k += (size_t)snprintf(buf + k, cap - k, "%s%u", sep, (unsigned)t[i].tid);
            sep = ", ";
        }
        if (k < cap) k += (size_t)snprintf(buf + k, cap - k, " lost events)");
    }
    if (rp->loss & MT_LOSS_RSS && k < cap)
        snprintf(buf + k, cap - k, "%sthe RSS series (the sampler lost samples)", k ? "; " : "");
    if (!buf[0]) snprintf(buf, cap, "nothing reported here");
}

/* The first lines of the text report when events were lost; the same, in
 * one line, on stderr (the report may go to a file or a pipe). */
static void text_loss(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_summary *s = rp->s;
    if (!s->lost_records && !s->lost_events) return;
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES], b3[MT_FMT_BYTES], what[1024];
    mt_analyze_loss_what(what, sizeof what, rp, a);
    line(o, "WARNING: THIS TRACE LOST EVENTS: %llu events (%s) in %llu LOST records. The",
         (unsigned long long)s->lost_events, mt_fmt_bytes(b1, s->lost_bytes),
         (unsigned long long)s->lost_records);
    line(o, "%s", "  recorder could not write them, and nothing says which they were.");
    uint32_t n;
    const mt_analysis_thread *t = mt_analysis_threads(a, &n);
    for (uint32_t i = 0; i < n; i++) {
        if (!t[i].lost_records) continue;
        char range[2 * MT_FMT_BYTES + 16];
        mt_fmt_ns(b2, ticks_ns(rp, t[i].t_lost_first));
        mt_fmt_ns(b3, ticks_ns(rp, t[i].t_lost_last));
        if (t[i].t_lost_first == t[i].t_lost_last)
            snprintf(range, sizeof range, "at %s", b2);
        else
            snprintf(range, sizeof range, "between %s and %s", b2, b3);
        line(o, "  T%u %s: %llu events (%s) lost, %s", (unsigned)t[i].tid,
             t[i].name[0] ? t[i].name : "?", (unsigned long long)t[i].lost_events,
             mt_fmt_bytes(b1, t[i].lost_bytes), range);
    }
    line(o, "  Figures marked * can be wrong: %s.", what);
    line(o, "%s", "");
}

static void loss_stderr(const report *rp, const mt_analysis *a) {
    const mt_analysis_summary *s = rp->s;
    if (!s->lost_records && !s->lost_events) return;
    char what[1024];
    mt_analyze_loss_what(what, sizeof what, rp, a);
    mt_cli_error("%s: WARNING: %llu events LOST in %llu LOST records; these can be wrong: %s",
                 s->path, (unsigned long long)s->lost_events,
                 (unsigned long long)s->lost_records, what);
}

static void text_run(mt_out *o, const report *rp) {
    const mt_analysis_summary *s = rp->s;
    const mt_header *h = s->header;
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
    line(o, "memtrace-analyze report: %s", s->path);
    line(o, "%s", "");
    line(o, "%s", "Run");
    MT_OUT_LIT(o, "  command     ");
    for (uint32_t i = 0; i < h->argc; i++) {
        if (i) mt_out_putc(o, ' ');
        mt_out_puts(o, h->argv[i]);
    }
    if (!h->argc) MT_OUT_LIT(o, "(unknown)");
    mt_out_putc(o, '\n');
    line(o, "  pid         %u (parent %u)%s%s", (unsigned)h->pid, (unsigned)h->ppid,
         h->hostname ? " on " : "", h->hostname ? h->hostname : "");
    line(o, "  python      %s %s%s%s%s", h->python_implementation ? h->python_implementation : "?",
         h->python_version ? h->python_version : "?", h->executable ? " (" : "",
         h->executable ? h->executable : "", h->executable ? ")" : "");
    line(o, "  producer    %s, mode %s", h->producer ? h->producer : "?",
         h->mode ? h->mode : "?");
    line(o, "  start       %s", mt_fmt_utc(b1, h->wall_ns));
    line(o, "  duration    %s", mt_fmt_ns(b2, ticks_ns(rp, s->t_last)));
    MT_OUT_LIT(o, "  records     ");
    mt_out_u64(o, s->records);
    const char *sep = ": ";
    for (int t = 0; t < MT_ANALYSIS_NTYPES; t++) {
        if (!s->by_type[t]) continue;
        mt_out_puts(o, sep);
        mt_out_puts(o, mt_record_type_name(t));
        mt_out_putc(o, ' ');
        mt_out_u64(o, s->by_type[t]);
        sep = ", ";
    }
    if (s->unknown_records) {
        mt_out_puts(o, sep);
        MT_OUT_LIT(o, "unknown ");
        mt_out_u64(o, s->unknown_records);
    }
    mt_out_putc(o, '\n');
    line(o, "  threads     %u", (unsigned)s->nthreads);
    line(o, "  lost        %llu events in %llu LOST records", (unsigned long long)s->lost_events,
         (unsigned long long)s->lost_records);
    line(o, "  file        %llu chunks, %s", (unsigned long long)s->chunks,
         s->closed ? "closed" : "not closed (the writer did not finish)");
    if (focus_line[0]) line(o, "  focus       %s", focus_line);
    if (rp->windowed) {
        mt_fmt_ns(b1, ticks_ns(rp, s->from));
        mt_fmt_ns(b2, ticks_ns(rp, s->to));
        line(o, "  window      %s to %s", b1, b2);
    }
}

static void text_rss(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_summary *s = rp->s;
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
    line(o, "%s", "");
    line(o, "%s", "RSS");
    if (!s->has_rss) {
        line(o, "%s", "  no RSS samples in this trace");
        return;
    }
    line(o, "  start       %-12s at %s", mt_fmt_bytes(b1, s->rss_start),
         mt_fmt_ns(b2, ticks_ns(rp, s->from)));
    line(o, "  peak        %-12s at %s%s", mt_fmt_bytes(b1, s->rss_peak),
         mt_fmt_ns(b2, ticks_ns(rp, s->t_peak)), lm(rp, MT_LOSS_RSS));
    line(o, "  end         %-12s at %s%s", mt_fmt_bytes(b1, s->rss_end),
         mt_fmt_ns(b2, ticks_ns(rp, s->to)), lm(rp, MT_LOSS_RSS));
    line(o, "  samples     %llu", (unsigned long long)s->rss_samples);
    if (s->rss_samples == 1)
        line(o, "%s", "  (one sample: no RSS growth can be measured, and none is charged to "
                      "functions; the run was shorter than the sampling interval)");

    uint32_t n;
    const mt_analysis_stack *st = mt_analysis_peak_stacks(a, &n);
    if (!n) return;
    line(o, "%s", "");
    line(o, "Stacks at the peak (innermost last)%s", lm(rp, MT_LOSS_CALLS));
    for (uint32_t i = 0; i < n; i++) {
        line(o, "  T%u %s (native %llu)", (unsigned)st[i].tid,
             st[i].thread_name[0] ? st[i].thread_name : "?",
             (unsigned long long)st[i].native_id);
        for (uint32_t k = 0; k < st[i].depth; k++) {
            const mt_analysis_frame *f = &st[i].frames[k];
            char nm[32];
            const char *q = f->qualname[0] ? f->qualname : (snprintf(nm, sizeof nm, "<fn#%u>", (unsigned)f->fid), nm);
            if (f->line)
                line(o, "    %s  %s:%u", q, f->file, (unsigned)f->line);
            else if (f->file[0] && f->first_line)
                line(o, "    %s  %s (def line %u)", q, f->file, (unsigned)f->first_line);
            else if (f->file[0]) /* a native function: its library */
                line(o, "    %s  %s", q, f->file);
            else
                line(o, "    %s", q);
        }
    }
}

/* ---- pymalloc (format 1.4 counters) --------------------------------------- */

/* The window's samples: the one with the most bytes in use (the earliest),
 * the last, and the most arena bytes of any; 0 when none. */
uint64_t mt_analyze_pymalloc_window(const report *rp, const mt_analysis *a,
                                const mt_analysis_pymalloc **peak,
                                const mt_analysis_pymalloc **end, uint64_t *arena_max) {
    uint64_t n, k = 0;
    const mt_analysis_pymalloc *p = mt_analysis_pymalloc_series(a, &n);
    *peak = *end = NULL;
    *arena_max = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (p[i].t < rp->s->from || p[i].t > rp->s->to) continue;
        if (!*peak || p[i].used_bytes > (*peak)->used_bytes) *peak = &p[i];
        if (p[i].arena_bytes > *arena_max) *arena_max = p[i].arena_bytes;
        *end = &p[i];
        k++;
    }
    return k;
}

static unsigned pct(uint64_t part, uint64_t whole) {
    return whole ? (unsigned)((part * 100 + whole / 2) / whole) : 0;
}

static void text_pymalloc(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_pymalloc *pk, *end;
    uint64_t amax, k = mt_analyze_pymalloc_window(rp, a, &pk, &end, &amax);
    if (!k) return;
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES], b3[MT_FMT_BYTES], b4[MT_FMT_BYTES];
    line(o, "%s", "");
    line(o, "%s", "pymalloc (Python's allocator for objects of 512 bytes or less)");
    line(o, "  most        %s in use at %s, in %s of arenas (%u%%), %s free in pools",
         mt_fmt_bytes(b1, pk->used_bytes), mt_fmt_ns(b2, ticks_ns(rp, pk->t)),
         mt_fmt_bytes(b3, pk->arena_bytes), pct(pk->used_bytes, pk->arena_bytes),
         mt_fmt_bytes(b4, pk->free_bytes));
    line(o, "  end         %s in use at %s, in %s of arenas (%u%%), %s free in pools",
         mt_fmt_bytes(b1, end->used_bytes), mt_fmt_ns(b2, ticks_ns(rp, end->t)),
         mt_fmt_bytes(b3, end->arena_bytes), pct(end->used_bytes, end->arena_bytes),
         mt_fmt_bytes(b4, end->free_bytes));
    line(o, "  arenas      %s at most; %llu samples", mt_fmt_bytes(b1, amax),
         (unsigned long long)k);
    if (end->free_bytes >= (1u << 20) && pct(end->used_bytes, end->arena_bytes) < 50)
        line(o, "  (freed objects left their arenas partly used: pymalloc holds %s it does "
                "not use and cannot give back while a block of each arena lives)",
             mt_fmt_bytes(b1, end->free_bytes));
}

/* ---- Text: allocations -------------------------------------------------- */

#define SITE_FRAMES 3      /* frames a site row shows */
#define SITE_FRAMES_MAX 12 /* ... or more, to tell it from another row */

/* Frames row i of rows [0, n) shows: SITE_FRAMES, or as many as it takes
 * (up to SITE_FRAMES_MAX) to differ from every other row, so that two
 * stacks that differ further out never print as the same row. */
static uint32_t site_shown(const mt_analysis *a, const mt_analysis_site *st, uint32_t i,
                           uint32_t n) {
    uint32_t need = SITE_FRAMES;
    const mt_analysis_frame *p = frames_of(a, &st[i]);
    for (uint32_t j = 0; j < n; j++) {
        if (j == i) continue;
        const mt_analysis_frame *q = frames_of(a, &st[j]);
        uint32_t c = 0;
        while (c < st[i].depth && c < st[j].depth && c < SITE_FRAMES_MAX) {
            const mt_analysis_frame *f = &p[st[i].depth - 1 - c], *g = &q[st[j].depth - 1 - c];
            if (f->line != g->line || strcmp(f->qualname, g->qualname) ||
                strcmp(f->file, g->file))
                break;
            c++;
        }
        if (c + 1 > need) need = c + 1;
    }
    return need > SITE_FRAMES_MAX ? SITE_FRAMES_MAX : need;
}

/* "leaky (app.py:12) <- outer:30 <- main:41": the innermost frame with its
 * file, then its callers (show - 1 of them); the line is the frame's
 * current line, or its function's def line (said so) when unknown. */
static void site_text(mt_out *o, const mt_analysis *a, const mt_analysis_site *st,
                      uint32_t show) {
    if (!st->depth) {
        MT_OUT_LIT(o, "(no Python frame)");
        return;
    }
    const mt_analysis_frame *fr = frames_of(a, st);
    for (uint32_t k = 0; k < st->depth && k < show; k++) {
        const mt_analysis_frame *f = &fr[st->depth - 1 - k];
        char nm[32], ln[48];
        if (k) MT_OUT_LIT(o, " <- ");
        mt_out_puts(o, frame_name(f, nm, sizeof nm));
        if (k && f->file[0] && strcmp(f->qualname, "<module>") == 0) {
            /* A module's body is named by its file: its last two parts. */
            const char *b = strrchr(f->file, '/');
            if (b && b > f->file) {
                const char *c = b;
                while (c > f->file && c[-1] != '/') c--;
                b = c;
            }
            mt_out_puts(o, "@");
            mt_out_puts(o, b ? b : f->file);
        }
        /* The current line where the trace has it (trace mode); else the
         * def line, said as such, never as if it were the allocating one. */
        if (!k && !f->file[0] && !f->line && !f->first_line) {
            snprintf(ln, sizeof ln, " (C)"); /* a C function: no file, no line */
        } else if (!k) {
            mt_out_puts(o, " (");
            mt_out_puts(o, f->file[0] ? f->file : "?");
            if (f->line) snprintf(ln, sizeof ln, ":%u)", (unsigned)f->line);
            else if (f->first_line) snprintf(ln, sizeof ln, ", def line %u)", (unsigned)f->first_line);
            else snprintf(ln, sizeof ln, ")"); /* a native function: its library */
        } else if (f->line) {
            snprintf(ln, sizeof ln, ":%u", (unsigned)f->line);
        } else {
            ln[0] = 0;
        }
        mt_out_puts(o, ln);
    }
    if (st->depth > show) MT_OUT_LIT(o, " <- ...");
}

/* The peak's sites summed by allocating location (innermost frame). */
static void text_by_location(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n, nloc;
    const mt_analysis_site *st = mt_analysis_sites(a, MT_ANALYSIS_SITES_PEAK,
                                                   MT_ANALYSIS_BY_BYTES, &n);
    mt_tree_loc *loc;
    if (!n || mt_tree_by_location(a, st, n, &loc, &nloc) < 0) return;
    uint32_t k = shown(nloc, rp->top);
    char b[MT_FMT_BYTES], where[1024];
    line(o, "%s", "");
    line(o, "Heap at its peak by location, the allocating frame (%u of %u)%s", (unsigned)k,
         (unsigned)nloc, lm(rp, MT_LOSS_HEAP));
    line(o, "  %12s %10s %7s  %s", "bytes", "blocks", "stacks", "location");
    for (uint32_t i = 0; i < k; i++) {
        if (!loc[i].file[0] && !loc[i].line && !loc[i].first_line)
            snprintf(where, sizeof where, "%s (C)", loc[i].qualname);
        else if (loc[i].line)
            snprintf(where, sizeof where, "%s (%s:%u)", loc[i].qualname, loc[i].file,
                     (unsigned)loc[i].line);
        else if (loc[i].first_line)
            snprintf(where, sizeof where, "%s (%s, def line %u)", loc[i].qualname, loc[i].file,
                     (unsigned)loc[i].first_line);
        else /* a native function: its library */
            snprintf(where, sizeof where, "%s (%s)", loc[i].qualname, loc[i].file);
        line(o, "  %12s %10llu %7u  %s", mt_fmt_bytes(b, loc[i].bytes),
             (unsigned long long)loc[i].count, (unsigned)loc[i].stacks, where);
    }
    free(loc);
}

static void text_sites(mt_out *o, const report *rp, const mt_analysis *a, int table, int order,
                       const char *title) {
    uint32_t n;
    const mt_analysis_site *st = mt_analysis_sites(a, table, order, &n);
    uint32_t k = shown(n, rp->top);
    line(o, "%s", "");
    line(o, "%s (%u of %u sites)", title, (unsigned)k, (unsigned)n);
    if (!n) return;
    line(o, "  %12s %10s  %s", "bytes", "blocks", "site (innermost frame first)");
    for (uint32_t i = 0; i < k; i++) {
        char b1[MT_FMT_BYTES], head[64];
        snprintf(head, sizeof head, "  %12s %10llu  ", mt_fmt_bytes(b1, st[i].bytes),
                 (unsigned long long)st[i].count);
        mt_out_puts(o, head);
        site_text(o, a, &st[i], site_shown(a, st, i, k));
        mt_out_putc(o, '\n');
        if (!st[i].nsizes) continue;
        MT_OUT_LIT(o, "  ");
        for (int c = 0; c < 25; c++) mt_out_putc(o, ' ');
        MT_OUT_LIT(o, "sizes:");
        for (uint32_t z = 0; z < st[i].nsizes; z++) {
            char sz[96];
            snprintf(sz, sizeof sz, "%s %llu x %llu B", z ? "," : "",
                     (unsigned long long)st[i].sizes[z].count,
                     (unsigned long long)st[i].sizes[z].size_bytes);
            mt_out_puts(o, sz);
        }
        mt_out_putc(o, '\n');
    }
}

static void text_heap(mt_out *o, const report *rp, const mt_analysis *a) {
    const mt_analysis_heap *h = mt_analysis_heap_get(a);
    if (!h->has_allocs) return;
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES], b3[MT_FMT_BYTES];
    line(o, "%s", "");
    if (h->sample_bytes > 1)
        line(o, "Heap (allocations sampled every %s on average: counts and bytes are "
                "estimates)%s", mt_fmt_bytes(b1, h->sample_bytes), lm(rp, MT_LOSS_HEAP));
    else if (rp->loss & MT_LOSS_HEAP)
        line(o, "Heap (allocations recorded, but %llu events were lost) *",
             (unsigned long long)rp->s->lost_events);
    else
        line(o, "%s", "Heap (every allocation recorded)");
    line(o, "  allocated   %-12s in %llu blocks", mt_fmt_bytes(b1, h->total.alloc_bytes),
         (unsigned long long)h->total.alloc_count);
    line(o, "  freed       %-12s in %llu blocks", mt_fmt_bytes(b1, h->total.free_bytes),
         (unsigned long long)h->total.free_count);
    line(o, "  peak        %-12s at %s (%llu blocks live)%s", mt_fmt_bytes(b1, h->peak_bytes),
         mt_fmt_ns(b2, ticks_ns(rp, h->t_peak)), (unsigned long long)h->peak_blocks,
         lm(rp, MT_LOSS_HEAP));
    line(o, "  end         %-12s (%llu blocks live)%s", mt_fmt_bytes(b1, h->total.end_bytes),
         (unsigned long long)h->end_blocks, lm(rp, MT_LOSS_HEAP));
    line(o, "  records     alloc %llu, free %llu, realloc %llu; %llu frees of blocks "
            "allocated before recording (ignored)",
         (unsigned long long)h->alloc_records, (unsigned long long)h->free_records,
         (unsigned long long)h->realloc_records, (unsigned long long)h->unknown_frees);
    if (h->unordered)
        line(o, "  order       %llu changes (%s) reached the file after later ones of "
                "other threads had been summed: the peak and the series may be off by "
                "up to that",
             (unsigned long long)h->unordered, mt_fmt_bytes(b1, h->unordered_bytes));
    if (h->late_allocs || h->reused_live || h->stale_frees)
        line(o, "  threads     %llu blocks freed before their allocation reached the file "
                "(born dead), "
                "%llu allocations of a live address, %llu frees of a replaced block",
             (unsigned long long)h->late_allocs, (unsigned long long)h->reused_live,
             (unsigned long long)h->stale_frees);
    line(o, "  %-8s %12s %12s %12s %12s %12s %12s", "domain", "allocated", "blocks", "freed",
         "blocks", "peak", "end");
    for (int d = 0; d < MT_DOMAIN_COUNT; d++) {
        if (!(h->domain_mask & (1u << d))) continue;
        const mt_analysis_heap_domain *x = &h->domains[d];
        char b4[MT_FMT_BYTES];
        line(o, "  %-8s %12s %12llu %12s %12llu %12s %12s", mt_domain_name((unsigned)d),
             mt_fmt_bytes(b1, x->alloc_bytes), (unsigned long long)x->alloc_count,
             mt_fmt_bytes(b2, x->free_bytes), (unsigned long long)x->free_count,
             mt_fmt_bytes(b3, x->peak_bytes), mt_fmt_bytes(b4, x->end_bytes));
    }
    int order = heap_order(rp);
    char title[160];
    const char *m = lm(rp, MT_LOSS_HEAP);
    snprintf(title, sizeof title, "Heap at its peak (%s at %s)%s", mt_fmt_bytes(b1, h->peak_bytes),
             mt_fmt_ns(b2, ticks_ns(rp, h->t_peak)), m);
    text_sites(o, rp, a, MT_ANALYSIS_SITES_PEAK, order, title);
    text_by_location(o, rp, a);
    snprintf(title, sizeof title, "Leaks: still allocated at the end%s", m);
    text_sites(o, rp, a, MT_ANALYSIS_SITES_LEAKS, order, title);
    snprintf(title, sizeof title, "Temporary allocations: freed within the allocating call%s", m);
    text_sites(o, rp, a, MT_ANALYSIS_SITES_TEMPS, order, title);
    snprintf(title, sizeof title, "Allocation hotspots by bytes%s", m);
    text_sites(o, rp, a, MT_ANALYSIS_SITES_ALLOCS, MT_ANALYSIS_BY_BYTES, title);
    snprintf(title, sizeof title, "Allocation hotspots by count%s", m);
    text_sites(o, rp, a, MT_ANALYSIS_SITES_ALLOCS, MT_ANALYSIS_BY_COUNT, title);
}

static void text_functions(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n;
    const mt_analysis_function *f = mt_analysis_functions(a, &n);
    uint32_t k = shown(n, rp->top);
    const mt_header *h = rp->s->header;
    if (n && h->mode && strcmp(h->mode, "alloc") == 0 && mt_analysis_heap_get(a)->has_allocs) {
        /* Alloc mode sees a call only at an allocation inside it, and its
         * end only at the next one outside: the heap tables are its answer. */
        line(o, "%s", "");
        line(o, "Functions by RSS growth: left out for an alloc-mode trace, whose calls are "
                "seen only at allocations (times and growth would be rough); the heap "
                "tables above are exact (--json and --csv have the table)");
        return;
    }
    line(o, "%s", "");
    line(o, "Functions by %s (%u of %u)%s",
         rp->sort == MT_ANALYSIS_SORT_INCL ? "inclusive RSS growth"
         : rp->sort == MT_ANALYSIS_SORT_SELF ? "self RSS growth"
         : rp->sort == MT_ANALYSIS_SORT_CALLS ? "calls"
         : rp->sort == MT_ANALYSIS_SORT_TIME ? "inclusive time" : "peak RSS",
         (unsigned)k, (unsigned)n, lm(rp, MT_LOSS_CALLS | MT_LOSS_RSS));
    if (!n) return;
    line(o, "  (incl, self: RSS growth that outlived the call, charged to the threads that "
            "ran; peak +: the most RSS rose within a call)");
    line(o, "  %12s %12s %10s %12s %12s %12s %12s  %s", "incl", "self", "calls", "incl time",
         "self time", "peak +", "peak RSS", "function (file:def line)");
    for (uint32_t i = 0; i < k; i++) {
        char b1[MT_FMT_BYTES + 1], b2[MT_FMT_BYTES + 1], b3[MT_FMT_BYTES],
            b4[MT_FMT_BYTES], b5[MT_FMT_BYTES], b6[MT_FMT_BYTES + 1], nm[32];
        b6[0] = '+';
        mt_fmt_bytes(b6 + 1, f[i].peak_growth_bytes);
        line(o, "  %12s %12s %10llu %12s %12s %12s %12s  %s (%s:%u)",
             fmt_signed(b1, f[i].incl_bytes),
             fmt_signed(b2, f[i].self_bytes), (unsigned long long)f[i].calls,
             mt_fmt_ns(b3, ticks_ns(rp, f[i].incl_ticks)),
             mt_fmt_ns(b4, ticks_ns(rp, f[i].self_ticks)),
             f[i].peak_growth_bytes ? b6 : "0 B", mt_fmt_bytes(b5, f[i].peak_rss_bytes),
             fname(&f[i], nm, sizeof nm), f[i].file[0] ? f[i].file : "?",
             (unsigned)f[i].first_line);
    }
}

static void text_lines(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n;
    const mt_analysis_line *l = mt_analysis_lines(a, &n);
    if (!n) return;
    uint32_t k = shown(n, rp->top);
    line(o, "%s", "");
    line(o, "Lines (%u of %u)%s", (unsigned)k, (unsigned)n, lm(rp, MT_LOSS_CALLS | MT_LOSS_RSS));
    line(o, "  %12s %12s %10s %12s  %s", "growth", "peak RSS", "count", "time",
         "line (function)");
    for (uint32_t i = 0; i < k; i++) {
        char b1[MT_FMT_BYTES + 1], b2[MT_FMT_BYTES], b3[MT_FMT_BYTES];
        line(o, "  %12s %12s %10llu %12s  %s:%u (%s)", fmt_signed(b1, l[i].growth_bytes),
             mt_fmt_bytes(b2, l[i].peak_rss_bytes), (unsigned long long)l[i].count,
             mt_fmt_ns(b3, ticks_ns(rp, l[i].ticks)), l[i].file[0] ? l[i].file : "?",
             (unsigned)l[i].line, l[i].qualname[0] ? l[i].qualname : "?");
    }
}

static void text_markers(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n;
    const mt_analysis_marker *m = mt_analysis_markers(a, &n);
    if (!n) return;
    line(o, "%s", "");
    line(o, "Markers (%u)", (unsigned)n);
    for (uint32_t i = 0; i < n; i++) {
        char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
        mt_fmt_ns(b1, ticks_ns(rp, m[i].t));
        mt_fmt_bytes(b2, m[i].rss_bytes);
        char head[128];
        snprintf(head, sizeof head, "  %12s  RSS %-12s T%u  ", b1, b2, (unsigned)m[i].tid);
        mt_out_puts(o, head);
        mt_out_text_str(o, m[i].text, m[i].len);
        mt_out_putc(o, '\n');
    }
}

static void text_threads(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n;
    const mt_analysis_thread *t = mt_analysis_threads(a, &n);
    if (!n) return;
    line(o, "%s", "");
    line(o, "Threads (%u)", (unsigned)n);
    line(o, "  %5s %-20s %10s %12s %10s %12s %12s %12s", "tid", "name", "native", "events",
         "calls", "first", "last", "growth");
    for (uint32_t i = 0; i < n; i++) {
        char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES], b3[MT_FMT_BYTES + 1];
        char lost[64] = "";
        if (t[i].lost_records)
            snprintf(lost, sizeof lost, " *  (%llu events lost)",
                     (unsigned long long)t[i].lost_events);
        line(o, "  %5u %-20s %10llu %12llu %10llu %12s %12s %12s%s%s", (unsigned)t[i].tid,
             t[i].name[0] ? t[i].name : "?", (unsigned long long)t[i].native_id,
             (unsigned long long)t[i].events, (unsigned long long)t[i].calls,
             mt_fmt_ns(b1, ticks_ns(rp, t[i].t_first)), mt_fmt_ns(b2, ticks_ns(rp, t[i].t_last)),
             fmt_signed(b3, t[i].growth_bytes), lost, t[i].selected ? "" : "  (not selected)");
    }
}

static void text_notes(mt_out *o, const report *rp) {
    const mt_analysis_summary *s = rp->s;
    if (s->unmatched_returns || s->open_frames || s->resyncs) {
        line(o, "%s", "");
        line(o, "Replay: %llu returns without a call (entered before recording), "
                "%llu frames open at the end (closed at the last record), "
                "%llu stack resyncs at blocks",
             (unsigned long long)s->unmatched_returns, (unsigned long long)s->open_frames,
             (unsigned long long)s->resyncs);
    }
    if (s->damaged_chunks || s->nmessages_total) {
        line(o, "%s", "");
        line(o, "DAMAGED TRACE: %llu of %llu chunks damaged, %llu bytes skipped; "
                "this report covers the intact part only",
             (unsigned long long)s->damaged_chunks,
             (unsigned long long)(s->chunks + s->damaged_chunks),
             (unsigned long long)s->damaged_bytes);
        for (uint32_t i = 0; i < s->nmessages; i++) line(o, "  %s", s->messages[i]);
        if (s->nmessages_total > s->nmessages)
            line(o, "  ... and %llu more", (unsigned long long)(s->nmessages_total - s->nmessages));
    }
}

/* ---- Notes: what the figures can and cannot say ------------------------ */

/* Notes for a reader of this trace's figures (text: above the tables;
 * JSON: "notes"): a trace without allocation records attributes RSS
 * growth, approximately; a trace whose RSS grew far beyond the Python heap
 * it tracked missed native memory. Returns how many. */
int mt_analyze_notes(const report *rp, const mt_analysis *a, char out[MAX_NOTES][NOTE_LEN]) {
    const mt_analysis_summary *s = rp->s;
    const mt_analysis_heap *h = mt_analysis_heap_get(a);
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES], b3[MT_FMT_BYTES], b4[MT_FMT_BYTES];
    int k = 0;
    uint32_t nf;
    mt_analysis_functions(a, &nf);
    if (!h->has_allocs && nf > 0)
        snprintf(out[k++], NOTE_LEN,
                 "no allocation records: functions and lines are charged with the RSS growth "
                 "seen while they ran (RSS sampled %s), an approximation: growth made by "
                 "another thread can be charged to one that waited, and memory freed before "
                 "a return is not seen. For exact figures record allocations, as memtrace does "
                 "by default: memtrace run app.py (no --mode), or memtrace.start() with no mode",
                 s->rss_samples > 1 ? "at intervals" : "rarely");
    const uint32_t native = (1u << MT_DOMAIN_MALLOC) | (1u << MT_DOMAIN_MMAP);
    if (h->has_allocs && s->has_rss && !(h->domain_mask & native) && s->rss_peak > s->rss_start) {
        uint64_t grew = s->rss_peak - s->rss_start;
        /* Far beyond: more than twice the heap's peak and 32 MiB more. */
        if (grew > 2 * h->peak_bytes && grew - h->peak_bytes > (32u << 20))
            snprintf(out[k++], NOTE_LEN,
                     "RSS grew by %s (from %s to %s) while the Python heap memtrace tracked "
                     "peaked at %s: about %s of it was memory not allocated through Python's "
                     "allocators (C extensions' malloc and mmap: numpy, pandas, ...), not in "
                     "the heap tables. Record with native=True (python -m memtrace run "
                     "--native) to see it",
                     mt_fmt_bytes(b1, grew), mt_fmt_bytes(b2, s->rss_start),
                     mt_fmt_bytes(b3, s->rss_peak), mt_fmt_bytes(b4, h->peak_bytes),
                     mt_fmt_bytes(b1, grew - h->peak_bytes));
    }
    return k;
}

static void text_advice(mt_out *o, const report *rp, const mt_analysis *a) {
    char n[MAX_NOTES][NOTE_LEN];
    int k = mt_analyze_notes(rp, a, n);
    for (int i = 0; i < k; i++) {
        line(o, "%s", "");
        line(o, "NOTE: %s.", n[i]);
    }
}

/* ---- Processes (PROC_SAMPLE traces) -------------------------------------- */

const char *mt_analyze_status_text(const mt_analysis_process *p, char buf[32]) {
    if (!p->exited) return p->from_counters ? "recorder" : "running";
    if (p->status == MT_PROC_STATUS_UNKNOWN) return "unknown";
    if (p->status < 0) snprintf(buf, 32, "signal %d", (int)-p->status);
    else snprintf(buf, 32, "exit %d", (int)p->status);
    return buf;
}

#define TOTAL_LINES 20 /* rounds shown in the text report's total table */

static void text_processes(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n;
    const mt_analysis_process *p = mt_analysis_processes(a, &n);
    if (!n) return;
    uint64_t nt, peak, t_peak;
    const mt_analysis_sample *tot = mt_analysis_total_series(a, &nt, &peak, &t_peak);
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES], b3[MT_FMT_BYTES], b4[MT_FMT_BYTES],
        b5[MT_FMT_BYTES], st[32];
    line(o, "%s", "");
    line(o, "Processes (%u; total RSS peak %s at %s, %llu rounds)", (unsigned)n,
         mt_fmt_bytes(b1, peak), mt_fmt_ns(b2, ticks_ns(rp, t_peak)), (unsigned long long)nt);
    line(o, "  %-7s %-7s %-12s %-12s %-11s %-11s %-11s %-9s %s", "pid", "ppid", "first",
         "last", "peak RSS", "peak USS", "peak PSS", "exit", "tree: name  command");
    for (uint32_t i = 0; i < n; i++) {
        char head[256];
        snprintf(head, sizeof head, "  %-7u %-7u %-12s %-12s %-11s %-11s %-11s %-9s ",
                 (unsigned)p[i].pid, (unsigned)p[i].ppid, mt_fmt_ns(b1, ticks_ns(rp, p[i].t_first)),
                 mt_fmt_ns(b2, ticks_ns(rp, p[i].t_last)), mt_fmt_bytes(b3, p[i].peak_rss_bytes),
                 p[i].has_uss ? mt_fmt_bytes(b4, p[i].peak_uss_bytes) : "-",
                 p[i].has_uss ? mt_fmt_bytes(b5, p[i].peak_pss_bytes) : "-", mt_analyze_status_text(&p[i], st));
        mt_out_puts(o, head);
        for (uint32_t d = 0; d < p[i].depth && d < 32; d++) MT_OUT_LIT(o, "  ");
        mt_out_text_str(o, p[i].name, strlen(p[i].name));
        if (p[i].is_target) MT_OUT_LIT(o, " *");
        if (p[i].cmdline[0]) {
            MT_OUT_LIT(o, "  ");
            mt_out_text_str(o, p[i].cmdline, strlen(p[i].cmdline) > 120 ? 120 : strlen(p[i].cmdline));
        }
        mt_out_putc(o, '\n');
    }
    line(o, "%s", "  (* the trace's own process; exit: code, signal, unknown when its parent");
    line(o, "%s", "   reaped it unseen, running/recorder when it outlived the trace)");
    if (!nt) return;
    /* The total over time: up to TOTAL_LINES rounds evenly spread (the peak
     * among them), with the markers in between. */
    line(o, "%s", "");
    line(o, "%s", "Total RSS over time (sum of the processes per round)");
    uint32_t nm;
    const mt_analysis_marker *m = mt_analysis_markers(a, &nm);
    uint32_t mk = 0;
    uint64_t step = nt > TOTAL_LINES ? (nt + TOTAL_LINES - 1) / TOTAL_LINES : 1;
    for (uint64_t i = 0; i < nt; i++) {
        int show = i % step == 0 || i == nt - 1 || tot[i].t == t_peak;
        if (!show) continue;
        for (; mk < nm && m[mk].t <= tot[i].t; mk++) {
            MT_OUT_LIT(o, "  ");
            mt_out_puts(o, mt_fmt_ns(b1, ticks_ns(rp, m[mk].t)));
            MT_OUT_LIT(o, "  -- ");
            mt_out_text_str(o, m[mk].text, m[mk].len);
            mt_out_putc(o, '\n');
        }
        line(o, "  %-12s %s%s", mt_fmt_ns(b1, ticks_ns(rp, tot[i].t)), mt_fmt_bytes(b2, tot[i].rss_bytes),
             tot[i].t == t_peak ? "  (peak)" : "");
    }
    for (; mk < nm; mk++) {
        MT_OUT_LIT(o, "  ");
        mt_out_puts(o, mt_fmt_ns(b1, ticks_ns(rp, m[mk].t)));
        MT_OUT_LIT(o, "  -- ");
        mt_out_text_str(o, m[mk].text, m[mk].len);
        mt_out_putc(o, '\n');
    }
}

/* ---- CSV ---------------------------------------------------------------- */

static void csv_report(mt_out *o, const report *rp, const mt_analysis *a) {
    uint32_t n;
    const mt_analysis_function *f = mt_analysis_functions(a, &n);
    MT_OUT_LIT(o, "rank,function,module,file,first_line,kind,calls,incl_bytes,"
                  "self_bytes,incl_s,self_s,peak_rss_bytes,peak_growth_bytes\n");
    for (uint32_t i = 0; i < shown(n, rp->top); i++) {
        char nm[32];
        const char *q = fname(&f[i], nm, sizeof nm);
        mt_out_u64(o, i + 1);
        mt_out_putc(o, ',');
        mt_out_csv_str(o, q, strlen(q));
        mt_out_putc(o, ',');
        mt_out_csv_str(o, f[i].module, strlen(f[i].module));
        mt_out_putc(o, ',');
        mt_out_csv_str(o, f[i].file, strlen(f[i].file));
        mt_out_putc(o, ',');
        mt_out_u64(o, f[i].first_line);
        mt_out_puts(o, f[i].kind == MT_FUNC_C ? ",c," : ",python,");
        mt_out_u64(o, f[i].calls);
        mt_out_putc(o, ',');
        mt_out_i64(o, f[i].incl_bytes);
        mt_out_putc(o, ',');
        mt_out_i64(o, f[i].self_bytes);
        mt_out_putc(o, ',');
        mt_out_seconds(o, f[i].incl_ticks, rp->tps);
        mt_out_putc(o, ',');
        mt_out_seconds(o, f[i].self_ticks, rp->tps);
        mt_out_putc(o, ',');
        mt_out_u64(o, f[i].peak_rss_bytes);
        mt_out_putc(o, ',');
        mt_out_u64(o, f[i].peak_growth_bytes);
        mt_out_putc(o, '\n');
    }
}

/* --json when there is no report (the trace cannot be read): a document
 * that says why, so that a consumer of stdout never gets nothing.
 * Returns the exit status, 1. */
static int json_mode;
static int json_error(const char *path) {
    if (!json_mode) return 1;
    mt_out *o = &mt_stdout;
    MT_OUT_LIT(o, "{\"schema\":\"memtrace-analyze/1\",");
    mt_out_json_kstr(o, "file", path);
    MT_OUT_LIT(o, ",\"error\":{");
    mt_out_json_kstr(o, "message", mt_cli_last_error());
    MT_OUT_LIT(o, "}}\n");
    mt_out_finish(o);
    return 1;
}

/* ---- --tree ------------------------------------------------------------- */

/* The heap at its peak as a tree of call paths (mt_tree.h). 0, or the exit
 * status of an error said here. */
static int tree_report(mt_out *o, const report *rp, const mt_analysis *a, const char *path,
                       int fold) {
    const mt_analysis_heap *h = mt_analysis_heap_get(a);
    if (!h->has_allocs) {
        mt_cli_error("%s: --tree: the trace has no allocation records (memtrace run records "
                     "them by default, without --mode)", path);
        return 1;
    }
    uint32_t n;
    const mt_analysis_site *st = mt_analysis_sites(a, MT_ANALYSIS_SITES_PEAK,
                                                   MT_ANALYSIS_BY_BYTES, &n);
    mt_tree *t;
    if (mt_tree_build(&t, a, st, n, fold) < 0) {
        mt_cli_error("%s: out of memory", path);
        return 1;
    }
    const double min_share = 0.005;
    if (json_mode) {
        MT_OUT_LIT(o, "{");
        mt_out_json_kstr(o, "file", path);
        MT_OUT_LIT(o, ",");
        mt_out_json_key(o, "peak_bytes");
        mt_out_u64(o, h->peak_bytes);
        MT_OUT_LIT(o, ",");
        json_ks(o, rp, "peak_time_s", h->t_peak);
        MT_OUT_LIT(o, ",\n");
        mt_out_json_key(o, "tree");
        mt_tree_json(o, t, rp->top, min_share);
        MT_OUT_LIT(o, "}\n");
    } else {
        char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
        text_loss(o, rp, a);
        line(o, "Heap at its peak by call path: %s at %s%s%s", mt_fmt_bytes(b1, h->peak_bytes),
             mt_fmt_ns(b2, ticks_ns(rp, h->t_peak)), lm(rp, MT_LOSS_HEAP),
             h->sample_bytes > 1 ? " (sampled: estimates)" : "");
        line(o, "(%s; biggest first; at most %u children per node, paths under 0.5%% summed%s)",
             path, (unsigned)rp->top, fold ? "; import-system frames folded" : "");
        mt_tree_text(o, t, rp->top, min_share);
    }
    mt_tree_free(t);
    return 0;
}

/* ---- Options ------------------------------------------------------------ */

int main(int argc, char **argv) {
    enum { OPT_TOP = 256, OPT_SORT, OPT_JSON, OPT_CSV, OPT_FROM, OPT_TO, OPT_THREAD, OPT_TREE,
           OPT_FUNCTION, OPT_FILE };
    static const struct option longopts[] = {
        {"top", required_argument, NULL, OPT_TOP},
        {"sort", required_argument, NULL, OPT_SORT},
        {"json", no_argument, NULL, OPT_JSON},
        {"csv", no_argument, NULL, OPT_CSV},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"thread", required_argument, NULL, OPT_THREAD},
        {"function", required_argument, NULL, OPT_FUNCTION},
        {"file", required_argument, NULL, OPT_FILE},
        {"tree", optional_argument, NULL, OPT_TREE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    mt_cli_init("memtrace-analyze");
    enum mode mode = MODE_TEXT;
    int json = 0, csv = 0, sort = MT_ANALYSIS_SORT_INCL, c, tree = 0; /* 2: all frames */
    uint64_t top = 20;
    mt_cli_time from = {0}, to = {0};
    const char **threads = calloc((size_t)argc + 1, sizeof *threads);
    const char **focus_funcs = calloc((size_t)argc + 1, sizeof *focus_funcs);
    const char **focus_files = calloc((size_t)argc + 1, sizeof *focus_files);
    uint32_t nfocus_funcs = 0, nfocus_files = 0;
    if (!focus_funcs || !focus_files) mt_cli_die(1, "out of memory");
    uint32_t nthreads = 0;
    if (!threads) mt_cli_die(1, "out of memory");
    opterr = 0; /* we word the messages ourselves */
    while ((c = mt_cli_getopt(argc, argv, "hV", longopts, usage_text)) != -1) {
        switch (c) {
        case OPT_TOP:
            if (mt_cli_parse_u64(optarg, &top) < 0 || top > UINT32_MAX)
                mt_cli_usage_error(usage_text, "--top: not a count: '%s'", optarg);
            break;
        case OPT_SORT:
            if ((sort = mt_analysis_sort_parse(optarg)) < 0)
                mt_cli_usage_error(usage_text,
                                   "--sort: unknown key '%s' (incl, self, calls, time, peak)",
                                   optarg);
            break;
        case OPT_JSON: json = 1; break;
        case OPT_CSV: csv = 1; break;
        case OPT_FROM: mt_cli_time_option(&from, "from", optarg, usage_text); break;
        case OPT_TO: mt_cli_time_option(&to, "to", optarg, usage_text); break;
        case OPT_THREAD: threads[nthreads++] = optarg; break;
        case OPT_FUNCTION:
        case OPT_FILE:
            if (!*optarg)
                mt_cli_usage_error(usage_text, "empty --%s pattern",
                                   c == OPT_FILE ? "file" : "function");
            if (c == OPT_FILE) focus_files[nfocus_files++] = optarg;
            else focus_funcs[nfocus_funcs++] = optarg;
            break;
        case OPT_TREE:
            if (optarg && strcmp(optarg, "all") != 0)
                mt_cli_usage_error(usage_text, "--tree: unknown value '%s' (--tree or --tree=all)",
                                   optarg);
            tree = optarg ? 2 : 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        case 'V':
            printf("memtrace-analyze (memtrace) %s, trace format %d.%d\n",
                   MT_LIBRARY_VERSION, MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
            return fflush(stdout) == 0 ? 0 : 1;
        case ':':
            mt_cli_usage_error(usage_text, "option '%s' needs a value", argv[optind - 1]);
        default:
            mt_cli_bad_option(usage_text, argv, optind, optopt);
        }
    }
    if (json && csv) mt_cli_usage_error(usage_text, "--json and --csv exclude each other");
    if (tree && csv) mt_cli_usage_error(usage_text, "--tree and --csv exclude each other");
    mode = json ? MODE_JSON : csv ? MODE_CSV : MODE_TEXT;
    {
        const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
        colour = mode == MODE_TEXT && isatty(STDOUT_FILENO) && !(nc && *nc) &&
                 !(term && strcmp(term, "dumb") == 0);
    }
    json_mode = json;
    if (argc - optind < 1) mt_cli_usage_error(usage_text, "no trace file given");
    if (argc - optind > 1) mt_cli_usage_error(usage_text, "one trace file at a time");
    const char *path = argv[optind];
    if (strcmp(path, "-") == 0)
        mt_cli_usage_error(usage_text, "FILE must be a file: the trace is read twice");
    mt_cli_guard_output(NULL, argv + optind, 1);

    /* Open once here for the tools' uniform messages and the header that
     * '@' times need; the analysis reopens it. */
    mt_reader *r;
    if (mt_cli_open_trace(&r, path) < 0) {
        free(threads);
        free(focus_funcs);
        free(focus_files);
        return json_error(path);
    }
    mt_analysis_options opt;
    mt_analysis_options_init(&opt);
    opt.target_rss = 1; /* poll traces: the watched process is the RSS */
    if (from.set) opt.from_ns = mt_cli_time_ns(&from, mt_reader_header(r));
    if (to.set) opt.to_ns = mt_cli_time_ns(&to, mt_reader_header(r));
    mt_reader_close(r);
    if (opt.from_ns > opt.to_ns)
        mt_cli_usage_error(usage_text, "--from is after --to");
    opt.threads = threads;
    opt.nthreads = nthreads;
    opt.progress = mt_cli_progress;
    opt.progress_ctx = (void *)path;
    opt.functions = focus_funcs;
    opt.nfunctions = nfocus_funcs;
    opt.files = focus_files;
    opt.nfiles = nfocus_files;
    focus_text(focus_funcs, nfocus_funcs, focus_files, nfocus_files);

    mt_analysis *a;
    int rc = mt_analysis_run(&a, path, &opt);
    mt_cli_progress_done();
    if (rc < 0) {
        mt_cli_error("%s", a ? mt_analysis_errmsg(a) : mt_strerror(rc));
        mt_analysis_free(a);
        free(threads);
        free(focus_funcs);
        free(focus_files);
        return json ? json_error(path) : 1;
    }
    const mt_analysis_summary *sum = mt_analysis_summary_get(a);
    uint64_t last_ns = (uint64_t)((unsigned __int128)sum->t_last * 1000000000u /
                                  (sum->header->ticks_per_second ? sum->header->ticks_per_second
                                                                 : 1));
    if (from.set && opt.from_ns > last_ns) {
        char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
        mt_cli_error("%s: --from %s is past the end of the trace (its last record is at %s)",
                     path, mt_fmt_ns(b1, opt.from_ns), mt_fmt_ns(b2, last_ns));
        mt_analysis_free(a);
        free(threads);
        free(focus_funcs);
        free(focus_files);
        return 1;
    }
    /* Nothing recorded (definitions alone, or every chunk damaged): one line
     * and exit 1, not a report of zeros. */
    if (!mt_analysis_data_records(a)) {
        for (uint32_t k = 0; k < sum->nmessages; k++) mt_cli_error("%s", sum->messages[k]);
        mt_cli_error("%s: nothing to report: the trace holds no events and no samples%s", path,
                     sum->damaged_chunks ? " in its intact chunks" : "");
        mt_analysis_free(a);
        free(threads);
        free(focus_funcs);
        free(focus_files);
        return json_error(path);
    }
    mt_analysis_sort(a, sort);
    report rp = {a, sum, 0, (uint32_t)top, sort, from.set || to.set,
                 mt_analysis_loss_falsifies(a)};
    rp.tps = rp.s->header->ticks_per_second;
    loss_stderr(&rp, a); /* first, whatever the output */
    mt_out *o = &mt_stdout;
    if (tree) {
        int trc = tree_report(o, &rp, a, path, tree == 1);
        if (trc) {
            mt_analysis_free(a);
            free(threads);
            free(focus_funcs);
            free(focus_files);
            return trc;
        }
        mode = -1; /* nothing else */
    }
    switch (mode) {
    case MODE_JSON: mt_analyze_json_report(o, &rp, a); break;
    case MODE_CSV: csv_report(o, &rp, a); break;
    default:
        break;
    case MODE_TEXT:
        text_loss(o, &rp, a);
        text_run(o, &rp);
        text_rss(o, &rp, a);
        text_pymalloc(o, &rp, a);
        text_processes(o, &rp, a);
        text_advice(o, &rp, a);
        text_heap(o, &rp, a);
        mt_objreport_text(o, a, rp.top, line);
        text_functions(o, &rp, a);
        text_lines(o, &rp, a);
        text_markers(o, &rp, a);
        text_threads(o, &rp, a);
        text_notes(o, &rp);
        break;
    }
    int status = 0;
    const mt_analysis_summary *s = rp.s;
    if (s->damaged_chunks || s->nmessages_total) {
        /* The notice on stderr too: --json and --csv users see it. */
        for (uint32_t k = 0; k < s->nmessages; k++) mt_cli_error("%s", s->messages[k]);
        mt_cli_error("%s: damaged trace: %llu chunks damaged, %llu bytes skipped; "
                     "the report covers the intact part only",
                     path, (unsigned long long)s->damaged_chunks,
                     (unsigned long long)s->damaged_bytes);
        status = 1;
    }
    mt_analysis_free(a);
    free(threads);
    free(focus_funcs);
    free(focus_files);
    status |= mt_out_finish(o);
    return status;
}
