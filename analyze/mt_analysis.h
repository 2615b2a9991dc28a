/*
 * mt_analysis.h - where did the memory go: the analysis core of memtrace.
 *
 * This header is the manual of the analysis library that memtrace-analyze,
 * memtrace-diff and memtrace-plot share. It reads a trace through
 * libmemtrace-format (memtrace_format.h) and answers, in bounded memory:
 *
 *   - the run: command, pid, Python, start time, duration, records by type,
 *     threads, LOST events, and what was damaged;
 *   - RSS over time: start, peak (its time and the Python stack of every
 *     thread at that moment), end; the whole series, for plots;
 *   - per function: calls, RSS growth inclusive and self, time inclusive and
 *     self, peak RSS while active;
 *   - per line (when the trace has LINE records): count, RSS growth while on
 *     the line, peak RSS while on it, time;
 *   - markers in time order with the RSS at each; a summary per thread;
 *   - with process samples (PROC_SAMPLE: memtrace-poll, or the recorder's
 *     in-process poller with children): every process, its parent, peaks
 *     and exit status, and the total RSS of the tree over time (see
 *     "Processes" below);
 *   - with allocation records: the heap in use over time, its peak broken
 *     down by allocating stack, leaks, temporaries, hotspots, per domain
 *     (see "Allocations" below).
 *
 * Use:
 *
 *     mt_analysis *a;
 *     mt_analysis_options opt;
 *     mt_analysis_options_init(&opt);
 *     opt.to_ns = 2000000000;                       // the first 2 s only
 *     int rc = mt_analysis_run(&a, "run.trace", &opt);
 *     if (rc < 0) {
 *         fprintf(stderr, "%s\n", a ? mt_analysis_errmsg(a) : mt_strerror(rc));
 *         mt_analysis_free(a);
 *         return 1;
 *     }
 *     mt_analysis_sort(a, MT_ANALYSIS_SORT_INCL);
 *     uint32_t n;
 *     const mt_analysis_function *f = mt_analysis_functions(a, &n);
 *     for (uint32_t i = 0; i < n && i < 10; i++)
 *         printf("%-40s %+lld B\n", f[i].qualname, (long long)f[i].incl_bytes);
 *     if (mt_analysis_summary_get(a)->damaged_chunks) ... // partial result
 *     mt_analysis_free(a);
 *
 * How RSS is attributed
 *
 *   RSS is known at the times of samples: COUNTERS records with rss_bytes
 *   (usually in blocks of tid 0, the sampler thread) and RSS records (the
 *   sampler's, and with rss="exact" one at every event whose RSS changed, in
 *   the blocks of the thread that saw it). Blocks of different threads are
 *   stored in flush order, so a sample can come after events that are later
 *   in time. The analysis therefore reads the file twice: pass 1 collects
 *   the samples (sorted by time), markers, threads and counts; pass 2 replays
 *   every thread's calls, returns and lines against the series, where
 *
 *       RSS(t) = the value of the last sample at or before t
 *
 *   (a step function; before the first sample, the first sample's value).
 *   Consequence: with sampled RSS (every 10 ms by default), a function that
 *   allocates and returns within one sampling interval shows its growth in
 *   its caller, or not at all if it also frees. Record with rss="exact" for
 *   per-event precision.
 *
 *   Threads: RSS is the process's, but the growth between two samples is
 *   charged only to the threads that ran between them (mt_charge.h: split
 *   evenly; when none did, the one whose last record is the latest), so a
 *   thread waiting in a lock, Barrier.wait or join is not charged with
 *   what other threads allocated meanwhile. C(thread, t), the sum of a
 *   thread's charges up to RSS(t)'s sample, replaces RSS(t) in the growth
 *   figures below; the peaks stay the process's RSS.
 *
 *   An activation of a function is one call to its return. Its growth is
 *   C(return) - C(call), signed, except that growth must survive the call:
 *   when a sample fell within the activation and the first sample after
 *   the return (or the next, one sampling period later: a large munmap
 *   takes milliseconds) shows the thread's charge lower, that lower value
 *   is taken (memory freed before returning, or as the frame is torn
 *   down, is not credited; nor is memory the caller frees that soon). Its peak growth is
 *   the greatest sample within it minus RSS(call) (process-wide); a
 *   function's peak_growth_bytes is the greatest over its activations.
 *   A function's inclusive growth and time
 *   are the sums over its OUTERMOST activations on each thread (a recursive
 *   call is not counted twice); its self growth and time are the sums over
 *   all activations of the activation's own value minus that of its direct
 *   children. So self values add up to the total, inclusive ones do not.
 *   Peak RSS of a function: the greatest RSS sample taken while one of its
 *   activations was active (or the RSS at its call or return).
 *
 *   A line of a frame runs from its LINE record to the frame's next LINE
 *   record, or to the frame's return: its growth includes what the
 *   functions it calls grew ("this line cost 50 MiB"), as in mempulse.
 *
 *   Edge cases: a return on an empty stack (the frame was entered before
 *   recording started, or its call was lost) is counted in
 *   unmatched_returns and attributes nothing. Frames on a thread's stack at
 *   its first BLOCK (entered before recording) are activations from that
 *   time on, with no call counted. Frames still open at the end of the
 *   trace are closed at the time of its last record (open_frames counts
 *   them). When a BLOCK's stack disagrees with the replayed one (events
 *   were lost), frames not in the BLOCK are closed at its time and frames
 *   only in the BLOCK opened at its time.
 *
 *   Window: with from_ns/to_ns, every activation and line is clipped to the
 *   window (its time and growth are those of the part inside it) and calls
 *   and line counts are those whose event lies in it. The RSS start, peak
 *   and end are those of the window. Markers outside it are dropped.
 *
 *   Thread filter: only the selected threads' calls, returns and lines are
 *   attributed, and only their stacks shown at the peak. RSS is the
 *   process's: the series, peak and markers are not filtered.
 *
 * Loss: LOST records say the recorder dropped events (lost_* in the
 *   summary, and per thread). Nothing tells which events, so with any loss
 *   the heap figures (peak, leaks, sites, per domain) may be wrong either
 *   way (a lost free makes a false leak, a lost allocation a low peak), and
 *   the calls, RSS growth and stacks of the threads that lost events are
 *   uncertain. The tools say so first and mark those figures; see
 *   mt_analysis_loss_falsifies.
 *
 * Grouping: fids are unique per code object; functions with the same
 * qualname, file and first line (e.g. the same code in two interpreters, or
 * redefined) are reported as one entry, lines likewise per (entry, line).
 *
 * Memory: bounded by the number of functions, lines, threads (and their
 * stack depths), markers and RSS samples, and with allocations by the
 * blocks live at once and the distinct stacks; never by the number of
 * events.
 *
 * Time: record times are ticks since the header's anchor (see
 * memtrace_format.h); mt_analysis_seconds converts.
 *
 * Threads: an mt_analysis is used by one thread at a time; after
 * mt_analysis_run it is only read, and readers need no locking.
 *
 * Errors: functions return 0 or a negative MT_ERR_* code of
 * memtrace_format.h (mt_strerror names it).
 */
#ifndef MT_ANALYSIS_H
#define MT_ANALYSIS_H

#include <stdint.h>

#include "memtrace_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Options ------------------------------------------------------------ */

typedef struct mt_analysis_options {
    /* Window, in nanoseconds since the trace's anchor (its start):
     * [from_ns, to_ns]. Defaults: 0 and UINT64_MAX (the whole trace). */
    uint64_t from_ns, to_ns;
    /* Thread filter: each entry is a tid ("3") or a thread name
     * ("MainThread"); a number matches a tid first, then a name. NULL / 0:
     * every thread. An entry that matches no thread fails the run
     * (MT_ERR_ARG, with a message). The strings are read during run only. */
    const char *const *threads;
    uint32_t nthreads;
    /* Damage messages kept (mt_analysis_summary.messages); 0 = 8. */
    uint32_t max_messages;
    /* 1: when the trace has no COUNTERS/RSS samples, take the RSS series
     * from the PROC_SAMPLEs of the header's pid (memtrace-poll traces; see
     * "Processes"). 0 (default): RSS comes from COUNTERS/RSS records only,
     * so that a poll trace and a recording are not compared as alike. */
    int target_rss;
    /* Progress, for a tool that shows it: called every 4096 records of a
     * pass over the file with the pass (1 and 2, 3 for the replay to the
     * heap's peak), the byte offset of the chunk being read and the file's
     * size. NULL (default): not called. */
    void (*progress)(void *ctx, int pass, uint64_t done_bytes, uint64_t total_bytes);
    void *progress_ctx;
    /* Focus (--function, --file): fnmatch globs. The function and line
     * tables keep the functions whose qualified name (or module.qualname)
     * matches one of functions and whose file matches one of files (a kind
     * not given passes); the site tables keep the sites whose stack has
     * such a frame. Totals (RSS, heap summary, threads) stay the whole
     * trace's. The strings are read during run only. */
    const char *const *functions;
    uint32_t nfunctions;
    const char *const *files;
    uint32_t nfiles;
    /* Lifetimes (mt_analysis_lifetimes): 0 (default) none; else about this
     * many slices of the window (a power of two from 8 to 4096). */
    uint32_t lifetime_slices;
} mt_analysis_options;

/* Defaults: the whole trace, every thread. */
void mt_analysis_options_init(mt_analysis_options *opt);

/* The focus's rule (options.functions/files): does a function with this
 * qualified name, module and file pass? For a tool that applies the same
 * focus to what it reads itself (memtrace-plot's replay). */
int mt_analysis_focus_match(const char *const *functions, uint32_t nfunctions,
                            const char *const *files, uint32_t nfiles, const char *qual,
                            const char *module, const char *file);

/* ---- Running ------------------------------------------------------------ */

typedef struct mt_analysis mt_analysis;

/* Read the trace at path twice (three times when it holds allocations, the
 * last one stopping at the heap's peak; it must be a file: not a pipe) and
 * build the result. opt may be NULL (defaults). Returns 0 when the result is
 * usable, even if chunks were damaged (see the summary's damaged_*
 * fields): the result then covers the intact chunks. Returns a negative
 * code when there is no result (cannot open, not a trace, newer major,
 * out of memory, a thread filter that matches nothing): then, if *a is not
 * NULL, mt_analysis_errmsg(*a) says what and on which file; free it. */
int mt_analysis_run(mt_analysis **a, const char *path,
                    const mt_analysis_options *opt);

/* Free everything. Accepts NULL. Pointers obtained from a die with it. */
void mt_analysis_free(mt_analysis *a);

/* The message of the failure of mt_analysis_run, e.g.
 * "x.trace: at byte 0: not a memtrace trace (starts with 50 4b 03 04)";
 * "" if none. */
const char *mt_analysis_errmsg(const mt_analysis *a);

/* ---- The run ------------------------------------------------------------ */

/* Records counted by type: index by mt_record.type for types below this
 * (ALLOC, FREE and REALLOC without their domain); sized types this reader
 * does not know are counted in unknown_records. */
#define MT_ANALYSIS_NTYPES 0x50

typedef struct mt_analysis_summary {
    const mt_header *header; /* a copy, owned by the analysis */
    const char *path;        /* as given to mt_analysis_run */

    /* Times, in ticks since the anchor. */
    uint64_t t_first, t_last; /* least and greatest record time; 0, 0 if
                                 the trace holds no timed record */
    uint64_t from, to;        /* the window actually used, within
                                 [t_first, t_last] */

    /* Counts over the whole file (not filtered). */
    uint64_t records;                         /* every record read */
    uint64_t by_type[MT_ANALYSIS_NTYPES];     /* see MT_ANALYSIS_NTYPES */
    uint64_t unknown_records;
    uint64_t lost_events, lost_bytes, lost_records; /* from LOST records */
    uint32_t nthreads;                        /* threads with a definition
                                                 or a block */

    /* RSS, in bytes, within the window. has_rss is 0 when the trace holds
     * no sample: then every RSS figure of the analysis is 0. */
    int has_rss;
    uint64_t rss_samples;    /* samples in the series (whole trace) */
    uint64_t rss_start, rss_end;
    uint64_t rss_peak, t_peak; /* the greatest sample, its time (ticks); the
                                  earliest one if several are equal */

    /* Replay (within the window and thread filter). */
    uint64_t calls;             /* CALL + CCALL attributed */
    uint64_t unmatched_returns; /* returns on an empty stack */
    uint64_t open_frames;       /* frames closed at the end of the trace */
    uint64_t resyncs;           /* BLOCKs whose stack disagreed */

    /* Damage, as the reader met it in pass 1. */
    uint64_t chunks, damaged_chunks, damaged_bytes;
    int closed;                  /* the writer closed the file (index and
                                    end frame intact) */
    uint32_t nmessages;          /* kept messages (options.max_messages) */
    uint64_t nmessages_total;    /* messages met */
    const char *const *messages; /* "x.trace: chunk 3 at byte 1234: ..." */
} mt_analysis_summary;

const mt_analysis_summary *mt_analysis_summary_get(const mt_analysis *a);

/* What the trace's LOST records can falsify (see "Loss"): bits of
 * MT_LOSS_*, 0 when nothing was lost. */
enum {
    MT_LOSS_HEAP = 1u << 0,    /* heap peak, end, leaks, sites, domains */
    MT_LOSS_CALLS = 1u << 1,   /* functions, lines, peak stacks, threads
                                  (the threads that lost events) */
    MT_LOSS_RSS = 1u << 2,     /* the RSS series, peak and growth (tid 0,
                                  the sampler's thread, lost events) */
};
unsigned mt_analysis_loss_falsifies(const mt_analysis *a);

/* ticks since the anchor -> seconds since the anchor. */
double mt_analysis_seconds(const mt_analysis *a, uint64_t ticks);

/* ---- RSS ---------------------------------------------------------------- */

typedef struct mt_analysis_sample {
    uint64_t t;         /* ticks since the anchor */
    uint64_t rss_bytes;
} mt_analysis_sample;

/* The whole RSS series in time order (not windowed; consecutive equal
 * values merged: a step function keeps its shape). *n = 0 if none. */
const mt_analysis_sample *mt_analysis_rss_series(const mt_analysis *a,
                                                 uint64_t *n);

/* pymalloc, CPython's small-object allocator (format 1.4: counters 16-18
 * of the process, which the recorder reads at start, stop, periodically and at
 * markers): the arenas it holds, the bytes of its blocks in use, and what
 * it holds without using (free blocks in used pools, unused pools). When
 * arena_bytes stays high while used_bytes fell, freed objects left their
 * arenas partly used, and pymalloc cannot give them back: the usual reason
 * RSS stays high after everything was freed. Whole trace, time order; *n
 * = 0 when the trace has none. */
typedef struct mt_analysis_pymalloc {
    uint64_t t; /* ticks since the anchor */
    uint64_t arena_bytes, used_bytes, free_bytes;
} mt_analysis_pymalloc;
const mt_analysis_pymalloc *mt_analysis_pymalloc_series(const mt_analysis *a, uint64_t *n);

/* C(thread, k): the RSS growth charged to thread tid (see "Threads" above,
 * mt_charge.h) by the intervals ending at samples 1..k of that series, so
 * that a tool replaying a thread's calls charges an activation as the
 * analysis does: C(k at its end) - C(k at its start), where k is the index
 * of the last sample at or before the time (-1 before the first). 0 for
 * a thread without charges. hint: a cursor kept by the caller (start at
 * 0) that makes forward steps O(1). */
int64_t mt_analysis_charge_at(const mt_analysis *a, uint32_t tid, int64_t k, uint64_t *hint);

/* RSS(t): the last sample at or before t; before the first sample, the
 * first sample's value; 0 without samples. */
uint64_t mt_analysis_rss_at(const mt_analysis *a, uint64_t t);

/* ---- Functions ---------------------------------------------------------- */

typedef struct mt_analysis_function {
    const char *qualname;    /* "" if unknown ("<fn#N>" is the caller's
                                business: fid below names it) */
    const char *module, *file; /* "" if unknown */
    uint32_t first_line;
    uint32_t kind;           /* MT_FUNC_PYTHON or MT_FUNC_C */
    uint32_t fid;            /* the least fid of the group */
    uint32_t nfids;          /* fids grouped in this entry */
    uint64_t calls;
    int64_t incl_bytes, self_bytes; /* RSS growth charged to its thread
                                       that survived the call, signed */
    uint64_t incl_ticks, self_ticks;
    uint64_t peak_rss_bytes;
    uint64_t peak_growth_bytes; /* the most RSS rose above its value at
                                   the call within one activation
                                   (process-wide: any thread's growth) */
} mt_analysis_function;

/* Functions that were called or active in the window, in the order of the
 * last mt_analysis_sort (initially MT_ANALYSIS_SORT_INCL). */
const mt_analysis_function *mt_analysis_functions(const mt_analysis *a,
                                                  uint32_t *n);

/* ---- Lines -------------------------------------------------------------- */

typedef struct mt_analysis_line {
    uint32_t func;       /* index of its function in the array of
                            mt_analysis_functions, valid until the next
                            mt_analysis_sort */
    const char *file;    /* its function's file */
    const char *qualname;
    uint32_t line;
    uint64_t count;      /* LINE records */
    int64_t growth_bytes; /* RSS growth while on the line, signed */
    uint64_t ticks;       /* time on the line */
    uint64_t peak_rss_bytes;
} mt_analysis_line;

/* Lines (empty without LINE records), in the order of the last sort. */
const mt_analysis_line *mt_analysis_lines(const mt_analysis *a, uint32_t *n);

/* ---- Sorting ------------------------------------------------------------ */

enum {
    MT_ANALYSIS_SORT_INCL = 0,  /* inclusive growth; lines: growth */
    MT_ANALYSIS_SORT_SELF = 1,  /* self growth; lines: growth */
    MT_ANALYSIS_SORT_CALLS = 2, /* calls; lines: count */
    MT_ANALYSIS_SORT_TIME = 3,  /* inclusive time; lines: time */
    MT_ANALYSIS_SORT_PEAK = 4,  /* peak RSS */
};

/* Sort functions and lines, greatest first (ties: by name, file, line, so
 * the order is stable across runs). Returns 0 or MT_ERR_ARG. */
int mt_analysis_sort(mt_analysis *a, int key);

/* The key's name ("incl", "self", "calls", "time", "peak"), and back:
 * returns the key or MT_ERR_ARG. */
const char *mt_analysis_sort_name(int key);
int mt_analysis_sort_parse(const char *name);

/* ---- Peak stacks -------------------------------------------------------- */

typedef struct mt_analysis_frame {
    uint32_t fid;
    const char *qualname, *file; /* "" if unknown */
    uint32_t line;               /* the frame's current line, 0 if unknown
                                    (no LINE record seen for it) */
    uint32_t first_line;
} mt_analysis_frame;

typedef struct mt_analysis_stack {
    uint32_t tid;
    uint64_t native_id;
    const char *thread_name; /* "" if unknown */
    uint32_t depth;
    const mt_analysis_frame *frames; /* outermost first, innermost last */
} mt_analysis_stack;

/* The Python stack of each selected thread at the peak's time (t_peak):
 * the stack the thread had just before its first event at or after t_peak,
 * or at the end for a thread that had no event after it. Threads whose
 * stack was empty then are left out. Ordered by tid. */
const mt_analysis_stack *mt_analysis_peak_stacks(const mt_analysis *a,
                                                 uint32_t *n);

/* ---- Markers ------------------------------------------------------------ */

typedef struct mt_analysis_marker {
    uint64_t t;          /* ticks since the anchor */
    uint32_t tid;        /* the thread that wrote it */
    uint32_t len;
    const char *text;    /* len bytes, NUL-terminated, may hold any byte */
    uint64_t rss_bytes;  /* RSS(t) */
} mt_analysis_marker;

/* Markers in the window, in time order. */
const mt_analysis_marker *mt_analysis_markers(const mt_analysis *a,
                                              uint32_t *n);

/* ---- Threads ------------------------------------------------------------ */

typedef struct mt_analysis_thread {
    uint32_t tid;
    uint64_t native_id;  /* 0 if unknown */
    const char *name;    /* "" if unknown */
    int selected;        /* passes the thread filter */
    uint64_t events;     /* data records of its blocks, BLOCKs excluded
                            (whole trace) */
    uint64_t calls;      /* calls attributed (window) */
    uint64_t t_first, t_last; /* its first and last record (ticks; whole
                                 trace; 0, 0 if none) */
    int64_t growth_bytes; /* RSS growth charged to it (mt_charge.h): the
                             growth of its outermost activations */
    /* LOST records in this thread's blocks (whole trace): what the
     * recorder dropped, and when it said so (ticks). Any loss makes this
     * thread's figures, and every heap figure, uncertain (see "Loss"). */
    uint64_t lost_events, lost_bytes, lost_records;
    uint64_t t_lost_first, t_lost_last;
} mt_analysis_thread;

/* Every thread, by tid. */
const mt_analysis_thread *mt_analysis_threads(const mt_analysis *a,
                                              uint32_t *n);

/* Events and samples in the whole trace (every thread's events, sampler
 * included): 0 when it holds definitions alone, or nothing intact. The tools
 * then say "nothing to report" and exit 1 instead of reporting zeros. */
uint64_t mt_analysis_data_records(const mt_analysis *a);

/* ---- Allocations: the heap ---------------------------------------------- */
/*
 * When the trace holds allocation records (ALLOC/FREE/REALLOC; header
 * content bit MT_CONTENT_ALLOCS or alloc_sample_bytes != 0), the analysis
 * also models the heap: a table of live blocks, address -> (size, domain,
 * allocating stack, thread, activation, time), so its memory grows with the
 * blocks live at once (about 40 bytes each at most half-full, plus 16 bytes
 * per distinct stack), never with the number of events.
 *
 * Stacks. Each thread's stack is tracked from BLOCK/CALL/RETURN records
 * (mode "alloc" writes them at allocations only: see recorder/ALLOC.md),
 * with each frame's current line when the trace has LINE records, and
 * interned in a trie: (parent, fid, line) -> stack id. An allocation is
 * attributed to the thread's whole stack at the record: its "site".
 *
 * Order. Records are processed in file order. Within a thread that is
 * time order; across threads the recorder's per-thread buffers may reach
 * the file up to a flush interval (1 s) apart. Which block a record makes
 * or ends is decided in file order; the heap in use, its series, its peak
 * and the live set at the peak are then summed in time order (by time,
 * then file order), whatever order the threads' buffers reached the file
 * in: pass 1 tells when each thread's allocations start and how many it
 * has, so that a change is summed once no thread can have an older one
 * still to come (analyze/mt_horder.h). At most 2^20 changes wait for
 * that (24 MiB); past it the oldest is summed anyway, and a change that then
 * arrives older than one summed is counted in `unordered` (the peak and
 * series may be off by such changes, at most `unordered_bytes`; 0 means
 * exact time order). That happens when a thread's records reach the file
 * far behind the others' (the main thread's single buffer of a short run
 * whose workers allocate millions of blocks meanwhile). Which block a
 * FREE ends is still decided in file order: where threads hand the same
 * addresses back and forth faster than their buffers reach the file (a
 * producer and a consumer through a queue), a free can be matched to the
 * wrong block of its address, and the lifetimes summed are then those of
 * the repairs below (on such a program, 60,000 messages through a
 * Queue(10), the peak was 14% over a replay sorted by time; 9% in file
 * order). Repairs of block identity, each counted in mt_analysis_heap:
 *   - a FREE (or REALLOC old address) of an address not live is ignored
 *     (unknown_frees), as the spec requires, but kept for a while as an
 *     "orphan" (the last 256 Ki, for 5 s of trace time); an ALLOC of that
 *     address by ANOTHER thread at a time not after the orphan's is the
 *     block that free released, flushed later: it is born dead (counted as
 *     allocated and freed, never live; late_allocs);
 *   - an ALLOC of an address still live (its FREE is missing, or in another
 *     thread's later block) frees the old block there (reused_live); a
 *     later FREE of that address by another thread, timed before the new
 *     block, belongs to the old block and is ignored (stale_frees);
 *   When the header's MT_HEADER_ALLOC_ORDERED flag says that allocation
 *   times keep the order in which threads took turns (the recorder reads
 *   the clock afresh when another thread took an allocation time since,
 *   ALLOC.md), times also order blocks across threads:
 *   - an ALLOC, by another thread, timed BEFORE the live block there is
 *     the older block, freed before that one was allocated and flushed
 *     later: it is born dead (late_allocs) and the live block stays;
 *   - any FREE by another thread timed before the live block was allocated
 *     is the free of an older block there, and is ignored (stale_frees),
 *     not only after a reused_live.
 *   Without the flag (files of older recorders) times are coarse, these
 *   two rules are off, and the tests above can misjudge blocks allocated
 *   and freed by two threads within ~10 ms.
 *
 * Sampled traces (alloc_sample_bytes N > 1): a block of s bytes stands for
 * s / (1 - exp(-s/N)) bytes (rounded per block) and 1 / (1 - exp(-s/N))
 * blocks; every byte and count below is that estimate (exact when N <= 1).
 *
 * Window and threads: allocated/freed counts, hotspots and temporaries are
 * the allocations (frees) whose time lies in the window; leaks are blocks
 * allocated in the window and still live at its end; the heap series and
 * peak are the process's, within the window. --thread selects the
 * allocating threads of hotspots, temporaries and leaks; the heap in use
 * and its peak stay the process's (as RSS does).
 *
 * The peak. The greatest heap in use (time order, see "Order") within
 * the window, at the time of the allocation that reached it. Its
 * breakdown by site needs the live set then: a third pass replays the
 * records until every change summed by the peak has been made (stopping
 * there) and groups by site the blocks allocated by the peak and freed
 * after it in time, whether their frees came earlier in the file or not.
 *
 * Temporaries: blocks freed by the thread that allocated them while the
 * allocating activation (frame) was still on its stack: "freed within the
 * same call". In mode "alloc" the stack is only brought up to date at
 * allocations, so a free soon after the function returned, with no
 * allocation between, still counts; a REALLOC that moves a block counts
 * as a free of the old block.
 */

typedef struct mt_analysis_heap_domain {
    uint64_t alloc_count, alloc_bytes; /* allocations in the window */
    uint64_t free_count, free_bytes;   /* frees of known blocks in it */
    uint64_t peak_bytes;               /* greatest in use in the window */
    uint64_t end_bytes;                /* in use at the window's end */
} mt_analysis_heap_domain;

typedef struct mt_analysis_heap {
    int has_allocs;            /* 0: no allocation data; all else is 0 */
    uint64_t sample_bytes;     /* header alloc_sample_bytes (0 in a file
                                  that did not say: treated as exact) */
    uint64_t alloc_records, free_records, realloc_records; /* whole file */
    mt_analysis_heap_domain total;
    mt_analysis_heap_domain domains[MT_DOMAIN_COUNT]; /* by MT_DOMAIN_* */
    uint32_t domain_mask;      /* bit d: domain d has records */
    uint64_t peak_bytes, t_peak; /* the total's peak (ticks), see above */
    uint64_t peak_blocks;      /* blocks live then (estimate) */
    uint64_t end_blocks;       /* blocks live at the window's end */
    uint64_t unknown_frees, late_allocs, reused_live, stale_frees;
    uint64_t unordered;        /* heap changes summed out of time order
                                  (see "Order"): 0 when exact */
    uint64_t unordered_bytes;  /* their sizes, summed: the most the heap
                                  in use can be off by */
    uint64_t max_live_blocks;  /* most blocks live at once (model size) */
    uint64_t stacks;           /* distinct stacks interned */
} mt_analysis_heap;

/* The heap summary; has_allocs 0 for a trace without allocations. */
const mt_analysis_heap *mt_analysis_heap_get(const mt_analysis *a);

typedef struct mt_analysis_heap_point {
    uint64_t t;     /* ticks since the anchor */
    uint64_t bytes; /* heap in use after the allocation or free at t */
} mt_analysis_heap_point;

/* Heap in use over the whole trace (not windowed), in time order, reduced
 * to the first, lowest, highest and last value of each of 4096 equal
 * slices of the trace: every peak and trough survives. domain: -1 for the
 * total, else MT_DOMAIN_*. *n = 0 without allocations. */
const mt_analysis_heap_point *mt_analysis_heap_series(const mt_analysis *a,
                                                      int domain,
                                                      uint64_t *n);

typedef struct mt_analysis_size_count {
    uint64_t size_bytes; /* the requested size of each block */
    uint64_t count;      /* blocks of that size (estimate) */
} mt_analysis_size_count;

/* One allocation site (a whole stack) with its blocks and bytes. */
typedef struct mt_analysis_site {
    uint32_t depth;                  /* its frames: mt_analysis_site_frames */
    uint32_t node;                   /* (the analysis's own: its stack) */
    uint64_t count, bytes;           /* estimates when sampled */
    uint32_t nsizes;                 /* PEAK and LEAKS tables: the sizes */
    const mt_analysis_size_count *sizes; /* holding the most bytes, up to 4,
                                            most bytes first */
} mt_analysis_site;

enum { /* the site tables */
    MT_ANALYSIS_SITES_PEAK = 0,  /* live at the heap's peak */
    MT_ANALYSIS_SITES_LEAKS = 1, /* live at the end (allocated in window) */
    MT_ANALYSIS_SITES_TEMPS = 2, /* freed within the allocating call */
    MT_ANALYSIS_SITES_ALLOCS = 3, /* everything allocated: hotspots */
};
enum { MT_ANALYSIS_BY_BYTES = 0, MT_ANALYSIS_BY_COUNT = 1 };

/* A site table, greatest first by bytes or by count (ties: by the other,
 * then by stack), every site with a count > 0; NULL and *n = 0 without
 * allocations or for a bad table/order. */
const mt_analysis_site *mt_analysis_sites(const mt_analysis *a, int table,
                                          int order, uint32_t *n);

/* s's stack: s->depth frames, outermost first, innermost last (line 0:
 * unknown). Made on the first call for s's stack and kept until
 * mt_analysis_free (a long exact trace has ~10^6 sites of ~50 frames: all
 * of them at once would take GBs); NULL when depth is 0 or out of memory.
 * Not thread-safe (it fills a cache inside a). */
const mt_analysis_frame *mt_analysis_site_frames(const mt_analysis *a,
                                                 const mt_analysis_site *s);

/* The same frames, kept nowhere: into buf (room for s->depth frames), or
 * frame k alone (0: the outermost, depth - 1: the innermost, which costs
 * O(1); frame k costs O(depth - k)); -1 for k out of range. For a pass over
 * every site (a tree, a diff) that must not keep them all. */
void mt_analysis_site_fill(const mt_analysis *a, const mt_analysis_site *s,
                           mt_analysis_frame *buf);
int mt_analysis_site_frame(const mt_analysis *a, const mt_analysis_site *s, uint32_t k,
                           mt_analysis_frame *out);

/* The definition of a function met in the frames of the site tables (kind,
 * module, file, qualname, first line: names owned by the analysis), so that
 * a tool can tell Python frames from C frames (MT_FUNC_C) or name a
 * frame's module. NULL for a fid no site holds, one the trace never
 * defined, or without allocations. */
const mt_function *mt_analysis_site_function(const mt_analysis *a,
                                             uint32_t fid);

/* ---- Lifetimes: the heap over time, by site and thread ------------------ */
/*
 * With options.lifetime_slices, the analysis also keeps when each block
 * lived, coarsely enough to stay small: the window [from, to] (clipped to
 * the trace) is cut into N equal slices, numbered 1..N (0: before the
 * window, N + 1: after it or never), and every block of every thread
 * (--thread does not narrow them) is counted in one entry
 * (site, thread, slice it was allocated in, slice it was freed in, flags)
 * with the blocks' count and bytes (estimates when sampled). Blocks
 * allocated after the window or freed before it are left out; blocks
 * still live at the end are freed in slice N + 1.
 *
 * From them a viewer can answer for any window of slices [s0, s1] and any
 * threads, without the trace: bytes allocated in it (born in [s0, s1]),
 * temporaries (and flag TEMP), still live at its end (born in [s0, s1],
 * died > s1), the heap in use at the end of each slice k (born <= k <
 * died), so the heap at its peak to one slice. The exact peak's live set
 * (mt_analysis_heap.t_peak) is in the entries flagged PEAK (died is 0).
 *
 * The table holds at most ~2^19 entries: past that, the slices are merged
 * pairwise (N halves, down to 8) so a long trace keeps a bounded table.
 */
enum {
    MT_LIFETIME_TEMP = 1, /* freed within the allocating call (temporaries) */
    MT_LIFETIME_PEAK = 2, /* live at the heap's peak (died: 0) */
};

typedef struct mt_analysis_lifetime {
    uint32_t node;  /* the site (mt_analysis_node_site) */
    uint32_t tid;   /* the allocating thread */
    uint16_t born, died; /* slices, see above */
    uint8_t flags;  /* MT_LIFETIME_* */
    uint32_t depth; /* the site's frames */
    double count;   /* blocks */
    uint64_t bytes;
} mt_analysis_lifetime;

/* The lifetimes, in no order; *n = 0 without allocations or without
 * options.lifetime_slices. *nslices gets N, *t0 and *t1 the extent of the
 * slices (ticks since the anchor; slice k covers [t0 + (k-1) d, t0 + k d),
 * d = (t1 - t0 + 1) / N). */
const mt_analysis_lifetime *mt_analysis_lifetimes(const mt_analysis *a, uint64_t *n,
                                                  uint32_t *nslices, uint64_t *t0,
                                                  uint64_t *t1);

/* The site of a lifetime's node, for mt_analysis_site_fill/_frame (count
 * and bytes 0); -1 for a node the analysis does not have. */
int mt_analysis_node_site(const mt_analysis *a, uint32_t node, mt_analysis_site *out);

/* ---- Objects: object tracking (CPython 3.13+) ---------------------------- */
/*
 * From OBJ_NEW / OBJ_DEL records (memtrace.start(objects=True)). Objects are
 * grouped by type name (the string of the records: "dict", "__main__.Point").
 * Counts cover the selected threads' objects: created and destroyed within
 * the window; "alive at the end": created in the window and alive at its
 * end, by type and creating stack (the site of an OBJ_NEW is made as an
 * allocation's: mt_analysis_node_site). An object's death is its OBJ_DEL,
 * or else (CPython 3.13.0-3.13.2 do not report objects the interpreter loop
 * deallocates, gh-130382) the free of the object-domain block that held it,
 * or a new object at its address: inferred_deaths counts those. Objects
 * created before the recording started are not counted; their OBJ_DEL is
 * (destroyed_unknown). Bytes are the object's own block (the allocation
 * holding it, with its GC and managed-dict headers; not what it refers
 * to), known for the objects whose allocation was recorded (objects_sized
 * of them; all of them with allocations="exact").
 */
typedef struct mt_analysis_objects {
    int has_objects;           /* 0: no OBJ_NEW/OBJ_DEL; all else is 0 */
    uint64_t created, destroyed; /* in the window, selected threads */
    uint64_t destroyed_unknown;  /* OBJ_DEL of objects not seen created */
    uint64_t inferred_deaths;    /* deaths without OBJ_DEL (see above) */
    uint64_t live_max, t_live_max; /* most objects alive at once (all
                                      types, whole trace), its time */
    uint64_t end_count, end_bytes; /* alive at the window's end */
    uint64_t objects_sized;      /* objects whose block was known */
    uint64_t created_all;        /* objects created, whole trace */
    int peak_known;              /* the heap's peak was replayed: peak_* */
    uint32_t ntypes;
} mt_analysis_objects;

typedef struct mt_analysis_object_type {
    const char *name;
    uint64_t created, destroyed;   /* window, selected threads */
    uint64_t live_max, t_live_max; /* whole trace, every thread */
    uint64_t end_count, end_bytes; /* alive at the window's end */
    uint64_t peak_count, peak_bytes; /* alive at the heap's peak */
} mt_analysis_object_type;

typedef struct mt_analysis_object_group {
    uint32_t type;          /* index in mt_analysis_object_types */
    uint32_t node;          /* creating stack (mt_analysis_node_site) */
    uint64_t count, bytes;  /* alive at the window's end */
} mt_analysis_object_group;

typedef struct mt_analysis_object_point {
    uint64_t t;     /* ticks since the anchor */
    uint64_t live;  /* objects of the type alive: the most within the
                       slice that ends at t */
} mt_analysis_object_point;

const mt_analysis_objects *mt_analysis_objects_get(const mt_analysis *a);
/* Types, most alive at the end first (then most created, then name). */
const mt_analysis_object_type *mt_analysis_object_types(const mt_analysis *a, uint32_t *n);
/* Alive at the end by (type, stack), most first. */
const mt_analysis_object_group *mt_analysis_objects_alive(const mt_analysis *a, uint32_t *n);
/* Objects of type i alive over the whole trace, in time order (at most
 * 512 points); NULL, 0 for a bad index. */
const mt_analysis_object_point *mt_analysis_object_series(const mt_analysis *a, uint32_t type,
                                                          uint64_t *n);

/* ---- Processes ----------------------------------------------------------- */
/*
 * When the trace holds PROC_SAMPLE records, the analysis lists every
 * process they describe (whole trace, not windowed). A process is a pid
 * from its first PROC_SAMPLE to its PROC_EXIT; a later sample of the same
 * pid is a new process (the pid was reused, spec 5.3). A counter missing
 * from a sample keeps its previous value.
 *
 * The trace's own process (the header's pid):
 *   - memtrace-poll traces sample it as a PROC_SAMPLE like the others; with
 *     options.target_rss its samples also become the RSS series
 *     (mt_analysis_rss_series) when the trace has no COUNTERS/RSS samples,
 *     so that RSS, the peak and markers work on poll traces;
 *   - recorder traces (the in-process poller, children=True) describe it
 *     by COUNTERS/RSS records instead: it is listed as a process too (flag
 *     from_counters), with the RSS series as its samples.
 *
 * Total RSS over time: a poller writes every sample of one round with the
 * same time, so a round is the PROC_SAMPLEs of equal t; the total at t is
 * their sum, plus RSS(t) of the trace's process when it is described by
 * COUNTERS (from_counters). Sums of RSS count shared pages once per
 * process (PSS does not, but is read less often).
 */

typedef struct mt_analysis_process {
    uint32_t pid;
    uint32_t ppid;        /* as in its first sample */
    uint32_t parent;      /* index of the parent in this array, or
                             UINT32_MAX when the parent is not listed */
    uint32_t depth;       /* in the tree: 0 for a root */
    const char *name;     /* comm, "" if unknown */
    const char *cmdline;  /* "" if unknown (kernel threads, zombies) */
    uint64_t t_first, t_last; /* first sample and last sample or exit (ticks) */
    uint64_t samples;
    uint64_t peak_rss_bytes, t_peak; /* greatest rss_bytes sampled, its time */
    uint64_t peak_uss_bytes, peak_pss_bytes; /* 0 without smaps_rollup reads */
    int has_uss;          /* uss/pss were read at least once */
    int exited;           /* a PROC_EXIT was seen */
    int32_t status;       /* exited: exit code, -signal, or
                             MT_PROC_STATUS_UNKNOWN; else UNKNOWN */
    int is_target;        /* the header's pid (the watched or recorded one) */
    int from_counters;    /* described by COUNTERS/RSS records (recorder) */
} mt_analysis_process;

/* The processes in tree order: depth-first from the roots, parents before
 * their children, siblings by first sample (then pid). *n = 0 when the
 * trace has no PROC_SAMPLE. */
const mt_analysis_process *mt_analysis_processes(const mt_analysis *a,
                                                 uint32_t *n);

/* Process i's RSS samples in time order (not merged); NULL and *n = 0 for
 * a bad index. */
const mt_analysis_sample *mt_analysis_process_series(const mt_analysis *a,
                                                     uint32_t i, uint64_t *n);

/* The total RSS per round (see above) in time order; *n = 0 without
 * processes. *peak and *t_peak (may be NULL) get its greatest value and
 * the earliest time of it. */
const mt_analysis_sample *mt_analysis_total_series(const mt_analysis *a,
                                                   uint64_t *n, uint64_t *peak,
                                                   uint64_t *t_peak);

#ifdef __cplusplus
}
#endif
#endif /* MT_ANALYSIS_H */
