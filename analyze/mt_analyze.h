/*
 * mt_analyze.h - memtrace-analyze's own types and helpers, shared by
 * memtrace_analyze.c (options, the text, CSV and tree reports, main) and
 * mt_analyze_json.c (the JSON document). Not a library: one tool's halves.
 */
#ifndef MT_ANALYZE_H
#define MT_ANALYZE_H

#include <stdint.h>
#include <stdio.h>

#include "memtrace_format.h"
#include "mt_analysis.h"
#include "mt_cli.h"

enum mode { MODE_TEXT, MODE_JSON, MODE_CSV };

typedef struct report {
    const mt_analysis *a;
    const mt_analysis_summary *s;
    uint64_t tps;
    uint32_t top;
    int sort;
    int windowed; /* --from or --to given */
    unsigned loss; /* MT_LOSS_* bits: what LOST records can falsify */
} report;

/* " *" after a figure that the trace's lost events can falsify. */
static inline const char *lm(const report *rp, unsigned what) { return rp->loss & what ? " *" : ""; }

/* ---- Helpers both halves use -------------------------------------------- */

static inline uint64_t ticks_ns(const report *rp, uint64_t ticks) {
    return (uint64_t)((unsigned __int128)ticks * 1000000000u / rp->tps);
}

static inline const char *fname(const mt_analysis_function *f, char *buf, size_t n) {
    if (f->qualname[0]) return f->qualname;
    snprintf(buf, n, "<fn#%u>", (unsigned)f->fid);
    return buf;
}

static inline uint32_t shown(uint32_t n, uint32_t top) { return top && n > top ? top : n; }

static inline void json_ks(mt_out *o, const report *rp, const char *k, uint64_t ticks) {
    mt_out_json_key(o, k);
    mt_out_seconds(o, ticks, rp->tps);
}

/* Heap tables sort by count with --sort calls, else by bytes. */
static inline int heap_order(const report *rp) {
    return rp->sort == MT_ANALYSIS_SORT_CALLS ? MT_ANALYSIS_BY_COUNT : MT_ANALYSIS_BY_BYTES;
}

static inline const char *frame_name(const mt_analysis_frame *f, char *buf, size_t n) {
    if (f->qualname[0]) return f->qualname;
    snprintf(buf, n, "<fn#%u>", (unsigned)f->fid);
    return buf;
}

static inline const mt_analysis_frame *frames_of(const mt_analysis *a, const mt_analysis_site *s) {
    const mt_analysis_frame *f = mt_analysis_site_frames(a, s);
    if (!f && s->depth) mt_cli_die(1, "out of memory");
    return f;
}

/* ---- memtrace_analyze.c ------------------------------------------------- */

/* "heap figures (peak, end, leaks, sites), calls, RSS growth and stacks of
 * threads 1, 2": what the trace's lost events can falsify. */
void mt_analyze_loss_what(char *buf, size_t cap, const report *rp, const mt_analysis *a);
/* pymalloc's samples in the window: the one with the most bytes in use,
 * the last, and the most arena bytes of any; returns how many (0: none). */
uint64_t mt_analyze_pymalloc_window(const report *rp, const mt_analysis *a,
                                    const mt_analysis_pymalloc **peak,
                                    const mt_analysis_pymalloc **end, uint64_t *arena_max);
/* "exit 1", "signal 9", "running", "recorder", "unknown". */
const char *mt_analyze_status_text(const mt_analysis_process *p, char buf[32]);
/* What the figures cannot say (text: above the tables; JSON: "notes"). */
#define MAX_NOTES 2
#define NOTE_LEN 700
int mt_analyze_notes(const report *rp, const mt_analysis *a, char out[MAX_NOTES][NOTE_LEN]);

/* ---- mt_analyze_json.c -------------------------------------------------- */

/* The whole --json document (schema memtrace-analyze/1, in the usage). */
void mt_analyze_json_report(mt_out *o, const report *rp, const mt_analysis *a);

#endif
