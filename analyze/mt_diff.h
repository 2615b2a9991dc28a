/*
 * mt_diff.h - memtrace-diff's own types, shared by memtrace_diff.c (loading,
 * matching, ordering, conditions, main) and mt_diff_out.c (the text and
 * JSON reports). Not a library: one tool's two halves.
 */
#ifndef MT_DIFF_H
#define MT_DIFF_H

#include <math.h>
#include <stdint.h>

#include "memtrace_format.h"
#include "mt_analysis.h"
#include "mt_cli.h"

enum { SA = 0, SB = 1 };

/* What a quantity counts: how it is printed and which units it takes. */
enum unit { U_BYTES, U_NS, U_COUNT };

typedef struct run {
    const char *path;
    mt_analysis *an;
    const mt_analysis_summary *s;
    uint64_t tps;
    int damaged;
    unsigned loss;     /* MT_LOSS_*: what its LOST records can falsify */
    char *loss_text;   /* the warning about them, or NULL */
} run;

/* A function of either run, keyed by (name, file). */
typedef struct dfunc {
    const char *name; /* qualname, or "<fn#N>" (owned by names[]) */
    const char *module, *file;
    uint32_t first_line, kind;
    int present[2];
    uint64_t calls[2];
    int64_t incl[2], self[2];
    int64_t incl_ns[2], self_ns[2];
    int64_t peak[2]; /* peak_growth_bytes: the most any activation reached */
} dfunc;

typedef struct dline {
    const char *file, *name;
    uint32_t line;
    int present[2];
    uint64_t count[2];
    int64_t growth[2];
    int64_t ns[2];
} dline;

/* An allocation site of either run: its innermost Python frame (see the
 * top of this file); the whole stacks ending there are summed. */
typedef struct dsite {
    const char *name, *module, *file; /* "" when no Python frame */
    uint32_t line;
    uint8_t def_line; /* line is the function's def line (see site_lines) */
    const mt_analysis_site *rep[2]; /* the stack with the most bytes */
    uint64_t count[2], bytes[2];    /* allocated */
    uint64_t lcount[2], lbytes[2];  /* still live at the end */
} dsite;

/* The order of the first ones is that of qnames[] in parse_cond. */
enum { Q_PEAK, Q_END, Q_START, Q_DURATION, Q_EVENTS, Q_CALLS, Q_LOST, Q_HEAP_PEAK, Q_LEAKED,
       Q_FUNC, Q_ALLOC, Q_LEAK, Q_OBJECTS };
enum { F_INCL, F_SELF, F_CALLS, F_TIME, F_BYTES, F_COUNT };
enum { OP_GT, OP_GE, OP_LT, OP_LE };

typedef struct cond {
    const char *expr;
    int side;  /* -1: the change; SA or SB: that run's value */
    int q;     /* Q_* */
    char *fname; /* Q_FUNC, Q_ALLOC, Q_LEAK: the NAME */
    int field;   /* Q_FUNC: F_INCL..F_TIME; Q_ALLOC, Q_LEAK: F_BYTES, F_COUNT */
    int op;      /* OP_* */
    int rel;     /* threshold in percent */
    long double thr; /* bytes, ns, a count, or percent */
    /* Evaluated. */
    enum unit unit;
    int64_t a, b;
    int result;
} cond;

typedef struct diff {
    run r[2];
    int cmp_rss, cmp_funcs, cmp_cfuncs, cmp_lines;
    int site_lines; /* both runs name allocating lines: sites match by them;
                       else by function (def line), so that a trace without
                       lines (format < 1.3, not alloc mode) compares with one
                       with them */
    dfunc *funcs;
    uint32_t nfuncs, nchanged, nnew, ngone;
    dline *lines;
    uint32_t nlines, nlines_changed;
    dfunc **appeared, **vanished;
    char **warnings;
    uint32_t nwarnings;
    cond *conds;
    uint32_t nconds;
    int sort;
    uint32_t top;
    /* Allocations, when both traces have them (cmp_heap). */
    int cmp_heap;
    dsite *sites;
    uint32_t nsites;
    dsite **hot_bytes, **hot_count, **leaks; /* changed sites, in order */
    uint32_t nhot, nhot_new, nhot_gone, nleaks, nleaks_new, nleaks_gone;
} diff;

/* ---- Helpers both halves use -------------------------------------------- */

static inline int64_t ticks_ns(const run *r, uint64_t ticks) {
    uint64_t tps = r->tps ? r->tps : 1000000000u;
    return (int64_t)(((unsigned __int128)ticks * 1000000000u + tps / 2) / tps);
}

static inline uint64_t mag(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

/* Relative change in percent; *defined = 0 when A is 0 and B is not (then
 * the value is +-inf, as the conditions use it). */
static inline double pct(int64_t a, int64_t b, int *defined) {
    *defined = 1;
    if (a == 0) {
        if (b == 0) return 0;
        *defined = 0;
        return b > 0 ? INFINITY : -INFINITY;
    }
    return 100.0 * ((double)b - (double)a) / fabs((double)a);
}

static inline int the_side(const dfunc *f) { return f->present[SB] ? SB : SA; }

static inline int64_t sdelta(uint64_t a, uint64_t b) { return (int64_t)(b - a); }

/* ---- memtrace_diff.c ---------------------------------------------------- */

/* A frame's name: its qualname, or "<fn#N>" (kept until exit). */
const char *mt_diff_frame_name(const mt_analysis_frame *f);
/* The innermost frame of st that is not a C function, read into buf (*at:
 * its level when at is not NULL); NULL if none. */
const mt_analysis_frame *mt_diff_site_frame(const run *r, const mt_analysis_site *st,
                                            mt_analysis_frame *buf, uint32_t *at);

/* ---- mt_diff_out.c ------------------------------------------------------ */

/* The reports, from a diff matched, evaluated and ordered. */
void mt_diff_text_report(mt_out *o, const diff *d);
void mt_diff_json_report(mt_out *o, const diff *d);
/* "peak: 50.0 MiB -> 60.0 MiB, +10.0 MiB, +20.0%": an evaluated condition. */
void mt_diff_cond_explain(const cond *c, char *buf, size_t n);

#endif
