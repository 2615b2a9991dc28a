/*
 * mt_select.h - which records of a trace to keep: the selection options
 * shared by memtrace-filter (which writes the kept records to a new trace)
 * and memtrace-decode (which prints them).
 *
 * A tool adds MT_SELECT_LONGOPTS to its getopt_long table, hands every
 * option getopt returns to mt_select_getopt(), calls mt_select_bind() once
 * the trace header is known, then asks mt_select_record() about every record
 * the reader returns, in file order (definitions and BLOCK records included:
 * the selection follows thread names and function definitions as they come).
 *
 *     mt_select *s = mt_select_new();
 *     ... case: if (mt_select_getopt(s, c, optarg, usage)) break; ...
 *     mt_select_bind(s, mt_reader_header(r), usage);
 *     while (mt_reader_next(r, &rec) > 0)
 *         if (mt_select_record(s, r, &rec)) print_or_write(&rec);
 *     mt_select_free(s);
 *
 * The option grammar and the rules are in MT_SELECT_USAGE below, which both
 * tools print in their --help; it is the documentation.
 *
 * Record classes (what each criterion applies to):
 *   events      call ccall return creturn craise unwind line raise obj_new
 *               obj_del alloc free realloc thread_start thread_end:
 *               type, window, --thread, --function/--file (not thread_*)
 *   samples     rss counters: type, window, --min-rss-delta
 *   annotations marker proc_sample proc_exit lost summary: type, window
 *   structure   block string function thread unknown: see mt_select_record
 *
 * Single-threaded, like the tools.
 */
#ifndef MT_SELECT_H
#define MT_SELECT_H

#include <getopt.h>
#include <stdint.h>

#include "memtrace_format.h"

/* getopt_long values of the selection options (above any tool's own). */
enum {
    MT_SELECT_OPT_FROM = 0x1000,
    MT_SELECT_OPT_TO,
    MT_SELECT_OPT_THREAD,
    MT_SELECT_OPT_TYPE,
    MT_SELECT_OPT_EXCLUDE_TYPE,
    MT_SELECT_OPT_FUNCTION,
    MT_SELECT_OPT_FILE,
    MT_SELECT_OPT_MIN_RSS_DELTA,
};

#define MT_SELECT_LONGOPTS                                                  \
    {"from", required_argument, NULL, MT_SELECT_OPT_FROM},                  \
    {"to", required_argument, NULL, MT_SELECT_OPT_TO},                      \
    {"thread", required_argument, NULL, MT_SELECT_OPT_THREAD},              \
    {"type", required_argument, NULL, MT_SELECT_OPT_TYPE},                  \
    {"exclude-type", required_argument, NULL, MT_SELECT_OPT_EXCLUDE_TYPE},  \
    {"function", required_argument, NULL, MT_SELECT_OPT_FUNCTION},          \
    {"file", required_argument, NULL, MT_SELECT_OPT_FILE},                  \
    {"min-rss-delta", required_argument, NULL, MT_SELECT_OPT_MIN_RSS_DELTA}

#define MT_SELECT_USAGE \
"SELECTION\n" \
"  A record is kept when it passes every criterion given (criteria of one\n" \
"  kind, e.g. two --thread, are alternatives).\n" \
"  --from T, --to T     the window from <= time < to. T is relative to the\n" \
"                       trace's anchor (the time_s decode prints): \"1.5\",\n" \
"                       \"1.5s\", \"200ms\", \"30us\", \"10ns\", \"2m\", \"1h\"; or\n" \
"                       absolute: \"@1732180772.25\" (UNIX seconds) or\n" \
"                       \"2026-11-21T09:19:32.5Z\" (ISO-8601 UTC, Z required)\n" \
"  --thread TID|NAME    records of that thread: a number is a thread id (as\n" \
"                       in T1), anything else a glob on the thread's name\n" \
"  --type T,T...        only these record types (names as decode prints\n" \
"                       them: call, return, line, alloc, rss, marker, ...)\n" \
"  --exclude-type T,... not these types\n" \
"  --function GLOB      events whose frame's function matches GLOB (fnmatch)\n" \
"                       on its qualified name, or on module.qualname\n" \
"  --file GLOB          events whose frame's function is in a matching file\n" \
"  --min-rss-delta SIZE rss and counters samples only where the RSS moved by\n" \
"                       at least SIZE (\"64k\", \"1MiB\") since the last sample\n" \
"                       kept; the first one is kept. Counters without\n" \
"                       rss_bytes are kept.\n" \
"  What each applies to: --thread, --function and --file to events (call,\n" \
"  ccall, return, creturn, craise, unwind, line, raise, obj_new, obj_del,\n" \
"  alloc, free, realloc; --thread also thread_start, thread_end). An event's\n" \
"  frame is the function called (call, ccall), the frame left (return, ...),\n" \
"  or the function running (line, alloc, ...): a call, its lines and its\n" \
"  return go together. rss and counters (process-wide) are filtered by\n" \
"  --min-rss-delta; marker, proc_sample, proc_exit, lost and summary only by\n" \
"  type and window. Definitions and blocks are structure, see below.\n"

typedef struct mt_select mt_select;

/* A selection that keeps everything; NULL when out of memory. */
mt_select *mt_select_new(void);
void mt_select_free(mt_select *s); /* accepts NULL */

/* Take option c (a getopt_long value) with its argument. Returns 1 if c is a
 * selection option, 0 if it is not. A malformed value is a usage error:
 * mt_cli_usage_error(usage, ...) prints it and exits with status 2. */
int mt_select_getopt(mt_select *s, int c, const char *arg, const char *usage);

/* 1 when any criterion was given (a tool may then show less structure). */
int mt_select_active(const mt_select *s);

/* Resolve times against the trace's header (absolute times need wall_ns).
 * An empty window (--to before --from) is a usage error (exit 2). */
void mt_select_bind(mt_select *s, const mt_header *h, const char *usage);

/* The first time of interest, in ticks (0 when there is no --from): a tool
 * reading a file may mt_reader_seek_time() there first. */
uint64_t mt_select_from_ticks(const mt_select *s);

/* Decide about rec, just returned by r. Every record must be shown, in file
 * order, so that thread names, function definitions and the RSS reference
 * stay current. Returns 1 to keep, 0 to drop.
 * Structure records (block, string, function, thread, unknown) are kept when
 * no criterion is active, or when --type names their type; a tool that
 * writes traces (memtrace-filter) rebuilds them itself and ignores this. */
int mt_select_record(mt_select *s, mt_reader *r, const mt_record *rec);

#endif /* MT_SELECT_H */
