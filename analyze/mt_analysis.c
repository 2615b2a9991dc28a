/*
 * mt_analysis.c - the analysis core: RSS attribution to functions, lines,
 * threads and markers in two streaming passes. See mt_analysis.h for what
 * is computed and why two passes.
 *
 * Memory is per function (fslot), per (function, line) (lslot), per thread
 * (athread, with one frame per open activation), per marker and per RSS
 * sample; nothing is kept per event. The pass-2 hot path is one switch per
 * record, a cached thread pointer, and a series cursor per thread that only
 * moves forward while the thread's time does. Pass 1 is in
 * mt_analysis_pass1.c; the state both passes fill is in mt_analysis_int.h.
 */
#include "mt_analysis_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(mt_analysis *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(mt_analysis *a, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->errmsg, sizeof a->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

athread *mt_an_get_thread(mt_analysis *a, uint32_t tid) {
    uint32_t i = u64map_get(&a->tidmap, tid);
    if (i != NONE) return &a->th[i];
    if (grow_to((void **)&a->th, &a->capth, a->nth + 1, sizeof *a->th) ||
        u64map_put(&a->tidmap, tid, (uint32_t)a->nth))
        return NULL;
    athread *t = &a->th[a->nth++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    t->name = "";
    return t;
}

static uint32_t fid_slot(mt_analysis *a, uint32_t fid) {
    uint32_t s;
    if (fid < DENSE_FIDS) {
        if (fid >= a->capfid) {
            uint64_t old = a->capfid, c = old ? old : 1024;
            while (c <= fid) c *= 2;
            uint32_t *p = realloc(a->fid2slot, c * sizeof *p);
            if (!p) return NONE;
            memset(p + old, 0xff, (c - old) * sizeof *p);
            a->fid2slot = p;
            a->capfid = c;
        }
        s = a->fid2slot[fid];
    } else {
        s = u64map_get(&a->bigfids, fid);
    }
    if (s != NONE) return s;
    if (grow_to((void **)&a->fs, &a->capfs, a->nfs + 1, sizeof *a->fs)) return NONE;
    s = (uint32_t)a->nfs++;
    memset(&a->fs[s], 0, sizeof a->fs[s]);
    a->fs[s].fid = fid;
    if (fid < DENSE_FIDS)
        a->fid2slot[fid] = s;
    else if (u64map_put(&a->bigfids, fid, s))
        return NONE;
    return s;
}

static uint32_t new_line_slot(mt_analysis *a, uint32_t slot, uint32_t line) {
    if (grow_to((void **)&a->ls, &a->capls, a->nls + 1, sizeof *a->ls)) return NONE;
    lslot *l = &a->ls[a->nls];
    memset(l, 0, sizeof *l);
    l->slot = slot;
    l->line = line;
    return (uint32_t)a->nls++;
}

/* Make fs's dense range cover line; 0, or -1 when the span is too wide
 * (or memory short): the caller uses the hash. */
static int cover_line(fslot *F, uint32_t line) {
    uint32_t lo = F->lcap ? (line < F->lbase ? line : F->lbase) : line;
    uint32_t hi = F->lcap ? (line >= F->lbase + F->lcap ? line + 1 : F->lbase + F->lcap) : line + 1;
    if (hi - lo > DENSE_LINES) return -1;
    uint32_t cap = 16;
    while (cap < hi - lo) cap *= 2;
    if (lo + cap < hi) return -1;
    if (lo >= cap / 4 && lo - cap / 4 + cap >= hi) lo -= cap / 4; /* room below */
    uint32_t *p = malloc(cap * sizeof *p);
    if (!p) return -1;
    memset(p, 0xff, cap * sizeof *p);
    if (F->lcap) memcpy(p + (F->lbase - lo), F->lidx, F->lcap * sizeof *p);
    free(F->lidx);
    F->lidx = p;
    F->lbase = lo;
    F->lcap = cap;
    return 0;
}

static uint32_t line_slot(mt_analysis *a, uint32_t slot, uint32_t line) {
    fslot *F = &a->fs[slot];
    uint32_t off = line - F->lbase;
    if (__builtin_expect(off < F->lcap && F->lidx[off] != NONE, 1)) return F->lidx[off];
    if ((off < F->lcap || cover_line(F, line) == 0)) {
        uint32_t i = new_line_slot(a, slot, line);
        F = &a->fs[slot];
        if (i != NONE) F->lidx[line - F->lbase] = i;
        return i;
    }
    uint64_t key = (uint64_t)slot << 32 | line;
    uint32_t i = u64map_get(&a->linemap, key);
    if (i != NONE) return i;
    i = new_line_slot(a, slot, line);
    if (i != NONE && u64map_put(&a->linemap, key, i)) return NONE;
    return i;
}

/* ---- RSS series --------------------------------------------------------- */

int mt_an_add_sample(mt_analysis *a, uint64_t t, uint64_t bytes) {
    if (grow_to((void **)&a->series, &a->capseries, a->nseries + 1, sizeof *a->series))
        return -1;
    a->series[a->nseries++] = (mt_analysis_sample){t, bytes};
    return 0;
}

static int cmp_sample(const void *x, const void *y) {
    const mt_analysis_sample *p = x, *q = y;
    if (p->t != q->t) return p->t < q->t ? -1 : 1;
    return (p->rss_bytes > q->rss_bytes) - (p->rss_bytes < q->rss_bytes);
}

/* Samples come from one sampler mostly in order: check before sorting.
 * Repeats of a value are left out; since[] keeps when the next change
 * can have begun. */
int mt_an_finish_series(mt_analysis *a) {
    int sorted = 1;
    for (uint64_t i = 1; i < a->nseries && sorted; i++)
        if (cmp_sample(&a->series[i - 1], &a->series[i]) > 0) sorted = 0;
    if (!sorted) qsort(a->series, a->nseries, sizeof *a->series, cmp_sample);
    free(a->since);
    if (!(a->since = malloc((a->nseries ? a->nseries : 1) * sizeof *a->since))) return -1;
    uint64_t j = 0, last = 0; /* last: time of the last sample of series[j-1]'s value */
    for (uint64_t i = 0; i < a->nseries; i++) {
        if (j && a->series[j - 1].rss_bytes == a->series[i].rss_bytes) {
            last = a->series[i].t;
            continue;
        }
        if (j && a->series[j - 1].t == a->series[i].t) j--; /* same time: last wins */
        a->since[j] = j ? last : a->series[i].t;
        a->series[j++] = a->series[i];
        last = a->series[i].t;
    }
    a->nseries = j;
    a->rss_first = j ? a->series[0].rss_bytes : 0;
    return 0;
}

/* Index of the first sample after t (samples [0, result) are <= t). */
static uint64_t upper_bound(const mt_analysis *a, uint64_t t) {
    uint64_t lo = 0, hi = a->nseries;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (a->series[mid].t <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t mt_analysis_rss_at(const mt_analysis *a, uint64_t t) {
    uint64_t i = upper_bound(a, t);
    return i ? a->series[i - 1].rss_bytes : a->rss_first;
}

int64_t mt_analysis_charge_at(const mt_analysis *a, uint32_t tid, int64_t k, uint64_t *hint) {
    uint32_t i = u64map_get(&a->tidmap, tid);
    if (i == NONE || k < 0 || !a->th[i].chg.n) return 0;
    return mt_charges_at(&a->th[i].chg, k, hint);
}

const mt_analysis_sample *mt_analysis_rss_series(const mt_analysis *a, uint64_t *n) {
    *n = a->nseries;
    return a->series;
}

/* Move th's cursor to te and return RSS(te). The samples passed on the way
 * were taken while th's top frame was active: they raise its peak. */
static inline uint64_t advance(mt_analysis *a, athread *th, uint64_t te) {
    const mt_analysis_sample *s = a->series;
    uint64_t c = th->cur, n = a->nseries;
    if (__builtin_expect(te < th->te, 0)) { /* a block back in time */
        th->cur = c = upper_bound(a, te);
        th->te = te;
        return c ? s[c - 1].rss_bytes : a->rss_first;
    }
    th->te = te;
    if (c < n && s[c].t <= te) {
        uint64_t m = 0;
        do {
            if (s[c].rss_bytes > m) m = s[c].rss_bytes;
            c++;
        } while (c < n && s[c].t <= te);
        th->cur = c;
        if (th->depth) {
            frame *f = &th->frames[th->depth - 1];
            if (m > f->peak) f->peak = m;
            if (m > f->line_peak) f->line_peak = m;
        }
    }
    return c ? s[c - 1].rss_bytes : a->rss_first;
}

/* th's charge (mt_charge.h) at its cursor: after the samples it passed. */
static inline int64_t charged(athread *th) {
    return mt_charges_at(&th->chg, (int64_t)th->cur - 1, &th->chint);
}

/* ---- Pass 2: the replay ------------------------------------------------- */

static void close_line(mt_analysis *a, frame *f, uint64_t te, uint64_t rss, int64_t c) {
    if (f->lslot == NONE) return;
    lslot *l = &a->ls[f->lslot];
    l->growth += c - f->line_c0;
    if (te > f->line_t0) l->ticks += te - f->line_t0;
    uint64_t pk = f->line_peak > rss ? f->line_peak : rss;
    if (pk > l->peak) l->peak = pk;
    f->lslot = NONE;
}

static int push_frame(mt_analysis *a, athread *th, uint32_t fid, uint64_t te,
                      uint64_t rss, int64_t c, int counted) {
    uint32_t slot = fid_slot(a, fid);
    if (slot == NONE) return -1;
    if (grow_to((void **)&th->frames, &th->cap, th->depth + 1, sizeof *th->frames))
        return -1;
    if (slot >= th->nactive) {
        uint64_t old = th->nactive, cap = old ? old : 64;
        while (cap <= slot) cap *= 2;
        uint32_t *p = realloc(th->active, cap * sizeof *p);
        if (!p) return -1;
        memset(p + old, 0, (cap - old) * sizeof *p);
        th->active = p;
        th->nactive = cap;
    }
    frame *f = &th->frames[th->depth++];
    f->slot = slot;
    f->line = 0;
    f->lslot = NONE;
    f->outer = th->active[slot]++ == 0;
    f->counted = (uint8_t)counted;
    f->t0 = te;
    f->rss0 = f->peak = rss;
    f->c0 = c;
    f->k0 = th->cur;
    f->child_bytes = 0;
    f->child_ticks = 0;
    if (counted) {
        a->fs[slot].calls++;
        th->calls++;
        a->s.calls++;
    }
    return 0;
}

static void pop_frame(mt_analysis *a, athread *th, uint64_t te, uint64_t rss, int64_t c) {
    frame *f = &th->frames[--th->depth];
    close_line(a, f, te, rss, c);
    fslot *F = &a->fs[f->slot];
    int64_t g = c - f->c0;
    /* Growth that survived the call: when a sample fell within it, the
     * growth must still be there at the first sample after the return
     * (memory freed just before returning, or by the frame's teardown,
     * shows only there), and at the next one, a sampling period later
     * (the first may be read in the middle of a large munmap, which takes
     * milliseconds), and at any within a period of the first: the period is
     * the distance from the sample before, at least span_gap. The next one
     * counts however late it comes (a sampler delayed by a loaded machine
     * must not make a half-done munmap look like a leak). */
    if (th->cur > f->k0 && th->cur < a->nseries && a->since[th->cur] <= te) {
        uint64_t hint = th->chint, k = th->cur, first = th->cur;
        uint64_t period = a->series[k].t - a->since[k];
        if (period < a->span_gap) period = a->span_gap;
        uint64_t t1 = a->series[k].t + period;
        int64_t low = c;
        do {
            int64_t next = mt_charges_at(&th->chg, (int64_t)k, &hint);
            if (next < low) low = next;
        } while (++k < a->nseries && (k == first + 1 || a->series[k].t <= t1));
        g -= c - low;
    }
    uint64_t d = te > f->t0 ? te - f->t0 : 0;
    uint64_t pk = f->peak > rss ? f->peak : rss;
    if (pk > f->rss0 && pk - f->rss0 > F->peak_growth) F->peak_growth = pk - f->rss0;
    th->active[f->slot]--;
    if (f->outer) {
        F->incl_bytes += g;
        F->incl_ticks += d;
    }
    F->self_bytes += g - f->child_bytes;
    F->self_ticks += d > f->child_ticks ? d - f->child_ticks : 0;
    if (d || f->counted) {
        F->used = 1;
        if (pk > F->peak) F->peak = pk;
    }
    if (th->depth) {
        frame *p = &th->frames[th->depth - 1];
        p->child_bytes += g;
        p->child_ticks += d;
        if (pk > p->peak) p->peak = pk;
        if (pk > p->line_peak) p->line_peak = pk;
    } else {
        th->growth += g;
    }
}

static int capture(athread *th, const mt_analysis *a) {
    th->captured = 1;
    if (!th->depth) return 0;
    th->pk = malloc(th->depth * sizeof *th->pk);
    if (!th->pk) return -1;
    for (uint64_t i = 0; i < th->depth; i++)
        th->pk[i] = (pframe){a->fs[th->frames[i].slot].fid, th->frames[i].line};
    th->pk_depth = th->depth;
    th->has_pk = 1;
    return 0;
}

static inline uint64_t clip(const mt_analysis *a, uint64_t t) {
    return t < a->s.from ? a->s.from : t > a->s.to ? a->s.to : t;
}

static int in_window(const mt_analysis *a, uint64_t t) {
    return t >= a->s.from && t <= a->s.to;
}

/* Make the replayed stack equal the BLOCK's, which is the truth. */
static int sync_block(mt_analysis *a, athread *th, const mt_record *rec,
                      uint64_t te, uint64_t rss, int64_t c) {
    const uint32_t *fids = rec->u.block.fids;
    uint32_t d = rec->u.block.depth;
    uint64_t k = 0;
    while (k < th->depth && k < d && a->fs[th->frames[k].slot].fid == fids[k]) k++;
    if (k == th->depth && k == d) {
        th->synced = 1;
        return 0;
    }
    if (th->synced) a->s.resyncs++;
    th->synced = 1;
    while (th->depth > k) pop_frame(a, th, te, rss, c);
    for (uint64_t i = k; i < d; i++)
        if (push_frame(a, th, fids[i], te, rss, c, 0)) return -1;
    return 0;
}

/* POS (1.3): frames moved to other lines. The line of a frame that LINE
 * records follow (its lslot) is theirs. */
static void set_pos(athread *th, const mt_record *rec) {
    for (uint32_t j = 0; j < rec->u.pos.n; j++) {
        uint32_t lv = rec->u.pos.levels[j];
        if (lv >= th->depth) continue;
        frame *f = &th->frames[th->depth - 1 - lv];
        if (f->lslot == NONE) f->line = rec->u.pos.lines[j];
    }
}

static int open_reader(mt_analysis *a, mt_reader **r);
static int heap_alias(mt_analysis *a, mt_reader *r, uint32_t fid);

/* Every 4096 records: tell the tool where the pass is. */
void mt_an_progress_tick(mt_analysis *a, mt_reader *r, int pass, uint64_t *n) {
    if (!a->progress || (++*n & 0xfff)) return;
    mt_chunk_info ci;
    if (mt_reader_chunk(r, &ci) == 0) a->progress(a->progress_ctx, pass, ci.offset, a->file_bytes);
}

static int pass2(mt_analysis *a, mt_reader *r) {
    mt_record rec;
    int rc;
    uint32_t cur_tid = NONE;
    athread *th = NULL;
    /* Without RSS there is no peak, and no stack to show for it. */
    const uint64_t t_peak = a->s.has_rss ? a->s.t_peak : UINT64_MAX;
    uint64_t nrec = 0;
    while ((rc = mt_reader_next(r, &rec)) != 0) {
        mt_an_progress_tick(a, r, 2, &nrec);
        if (rc < 0) { /* damage: pass 1 reported it already */
            if (mt_reader_fatal(r)) break;
            continue;
        }
        if (a->heap && rec.type == MT_REC_FUNCTION && heap_alias(a, r, rec.u.function.fid) < 0)
            return MT_ERR_NOMEM;
        if (a->heap && mt_heap_feed(a->heap, &rec) < 0) return MT_ERR_NOMEM;
        if (a->objs && mt_objs_feed(a->objs, a->heap, &rec) < 0) return MT_ERR_NOMEM;
        switch (rec.type) {
        case MT_REC_CALL:
        case MT_REC_CCALL:
        case MT_REC_RETURN:
        case MT_REC_CRETURN:
        case MT_REC_CRAISE:
        case MT_REC_UNWIND:
        case MT_REC_LINE:
        case MT_REC_BLOCK:
        case MT_REC_POS: break;
        default: continue;
        }
        if (rec.tid != cur_tid) {
            th = mt_an_get_thread(a, rec.tid);
            if (!th) return MT_ERR_NOMEM;
            cur_tid = rec.tid;
        }
        if (!th->selected) continue;
        if (rec.type == MT_REC_POS) { /* 1.3: frames' lines (for the peak's stacks) */
            set_pos(th, &rec);
            continue;
        }
        if (__builtin_expect(!th->captured && rec.t >= t_peak, 0) && capture(th, a))
            return MT_ERR_NOMEM;
        uint64_t te = clip(a, rec.t);
        uint64_t rss = advance(a, th, te);
        int64_t c = charged(th);
        switch (rec.type) {
        case MT_REC_CALL:
        case MT_REC_CCALL:
            if (push_frame(a, th, rec.u.call.fid, te, rss, c, in_window(a, rec.t)))
                return MT_ERR_NOMEM;
            break;
        case MT_REC_LINE: {
            if (!th->depth) break; /* a frame we know nothing of */
            frame *f = &th->frames[th->depth - 1];
            close_line(a, f, te, rss, c);
            f->line = rec.u.line.line;
            f->lslot = line_slot(a, f->slot, f->line);
            if (f->lslot == NONE) return MT_ERR_NOMEM;
            if (in_window(a, rec.t)) a->ls[f->lslot].count++;
            f->line_t0 = te;
            f->line_peak = rss;
            f->line_c0 = c;
            break;
        }
        case MT_REC_BLOCK:
            if (sync_block(a, th, &rec, te, rss, c)) return MT_ERR_NOMEM;
            if (rec.u.block.lines) /* 1.3: the frames' positions */
                for (uint32_t i = 0; i < rec.u.block.depth && i < th->depth; i++)
                    if (rec.u.block.lines[i] && th->frames[i].lslot == NONE)
                        th->frames[i].line = rec.u.block.lines[i];
            break;
        default: /* the returns */
            if (th->depth)
                pop_frame(a, th, te, rss, c);
            else
                a->s.unmatched_returns++;
            break;
        }
    }
    /* The end: stacks for the peak of threads that never reached it, then
     * close what is still open at the trace's last time. */
    uint64_t te = clip(a, a->s.t_last);
    for (uint64_t i = 0; i < a->nth; i++) {
        athread *t = &a->th[i];
        if (!t->selected) continue;
        if (!t->captured && t->events && t->t_first <= t_peak && a->s.has_rss &&
            capture(t, a))
            return MT_ERR_NOMEM;
        uint64_t rss = advance(a, t, te > t->te ? te : t->te);
        int64_t c = charged(t);
        a->s.open_frames += t->depth;
        while (t->depth) pop_frame(a, t, te > t->te ? te : t->te, rss, c);
    }
    return 0;
}

/* ---- Setup -------------------------------------------------------------- */

void mt_analysis_options_init(mt_analysis_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->to_ns = UINT64_MAX;
}

static int copy_header(mt_analysis *a, const mt_header *h) {
    a->h = *h;
    const char **fields[] = {&a->h.hostname, &a->h.python_implementation,
                             &a->h.python_version, &a->h.executable,
                             &a->h.cwd, &a->h.producer, &a->h.mode};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (*fields[i] && !(*fields[i] = pool_dup(&a->pool, *fields[i], strlen(*fields[i]))))
            return -1;
    a->argv = calloc(h->argc + 1, sizeof *a->argv);
    if (!a->argv) return -1;
    for (uint32_t i = 0; i < h->argc; i++)
        if (!(a->argv[i] = pool_dup(&a->pool, h->argv[i], strlen(h->argv[i]))))
            return -1;
    a->h.argv = a->argv;
    a->s.header = &a->h;
    return 0;
}

static uint64_t ns_to_ticks(uint64_t ns, uint64_t tps) {
    if (ns == UINT64_MAX) return UINT64_MAX;
    unsigned __int128 t = (unsigned __int128)ns * tps / 1000000000u;
    return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

static int is_number(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int select_threads(mt_analysis *a, const mt_analysis_options *opt) {
    for (uint64_t i = 0; i < a->nth; i++) a->th[i].selected = !opt->nthreads;
    for (uint32_t k = 0; k < opt->nthreads; k++) {
        const char *spec = opt->threads[k];
        int hit = 0;
        if (is_number(spec)) {
            unsigned long long v = strtoull(spec, NULL, 10);
            uint32_t i = v <= UINT32_MAX ? u64map_get(&a->tidmap, v) : NONE;
            if (i != NONE) {
                a->th[i].selected = 1;
                hit = 1;
            }
        }
        for (uint64_t i = 0; !hit && i < a->nth; i++)
            if (strcmp(a->th[i].name, spec) == 0) {
                a->th[i].selected = 1;
                hit = 1; /* every thread of that name */
                for (uint64_t j = i + 1; j < a->nth; j++)
                    if (strcmp(a->th[j].name, spec) == 0) a->th[j].selected = 1;
            }
        if (!hit)
            return fail(a, MT_ERR_ARG, "%s: no thread '%s' (by tid or name)",
                        a->s.path, spec);
    }
    return 0;
}

/* Window, RSS start/peak/end, marker RSS. */
static void finish_rss(mt_analysis *a) {
    a->s.rss_samples = a->nseries;
    a->s.has_rss = a->nseries > 0;
    uint64_t from = a->s.from, to = a->s.to;
    a->s.rss_start = mt_analysis_rss_at(a, from);
    a->s.rss_end = mt_analysis_rss_at(a, to);
    a->s.rss_peak = a->s.rss_start;
    /* The peak's time: the sample that set RSS(from), or from itself. */
    a->s.t_peak = from;
    for (uint64_t i = upper_bound(a, from); i < a->nseries && a->series[i].t <= to; i++)
        if (a->series[i].rss_bytes > a->s.rss_peak) {
            a->s.rss_peak = a->series[i].rss_bytes;
            a->s.t_peak = a->series[i].t;
        }
    uint64_t j = 0;
    for (uint64_t i = 0; i < a->nmarkers; i++) {
        mt_analysis_marker m = a->markers[i];
        if (!in_window(a, m.t)) continue;
        m.rss_bytes = mt_analysis_rss_at(a, m.t);
        a->markers[j++] = m;
    }
    a->nmarkers = j;
}

/* Each thread's share of the RSS series (mt_charge.h). */
static int charge_threads(mt_analysis *a) {
    if (a->nseries < 2 || !a->nth) return 0;
    mt_spans **sp = calloc(a->nth, sizeof *sp);
    mt_charges *ch = calloc(a->nth, sizeof *ch);
    int rc = -1;
    if (!sp || !ch) goto out;
    for (uint64_t i = 0; i < a->nth; i++) {
        mt_spans_finish(&a->th[i].spans, a->span_gap);
        sp[i] = a->th[i].tid ? &a->th[i].spans : NULL;
    }
    if (mt_charge(a->series, a->since, a->nseries, sp, a->nth, ch)) {
        for (uint64_t i = 0; i < a->nth; i++) mt_charges_free(&ch[i]);
        goto out;
    }
    for (uint64_t i = 0; i < a->nth; i++) {
        a->th[i].chg = ch[i];
        mt_spans_free(&a->th[i].spans); /* done with */
    }
    rc = 0;
out:
    free(sp);
    free(ch);
    return rc;
}

/* ---- Finish: groups, lines, stacks, threads ----------------------------- */

static uint64_t hash_str(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL;
}

static int finish_functions(mt_analysis *a, mt_reader *r) {
    if (a->nfs && !(a->funcs = calloc(a->nfs, sizeof *a->funcs))) return -1;
    u64map groups = {0}; /* hash of (qualname, file, first_line) -> first of a chain */
    uint32_t *next = a->nfs ? malloc(a->nfs * sizeof *next) : NULL;
    if (a->nfs && !next) return -1;
    int rc = -1;
    for (uint64_t i = 0; i < a->nfs; i++) {
        fslot *F = &a->fs[i];
        F->group = NONE;
        if (!F->used && !F->calls) continue;
        const mt_function *fn = mt_reader_function(r, F->fid);
        const char *q = fn ? fn->qualname : "", *file = fn ? fn->file : "";
        uint32_t first = fn ? fn->first_line : 0;
        uint64_t key = hash_str(hash_str(0xcbf29ce484222325ULL, q), file) ^ mix64(first);
        if (key == UINT64_MAX) key = 0;
        /* Chains of groups with the same hash through next[]. */
        uint32_t g = u64map_get(&groups, key), last = NONE;
        for (; g != NONE; last = g, g = next[g]) {
            mt_analysis_function *e = &a->funcs[g];
            if (strcmp(e->qualname, q) == 0 && strcmp(e->file, file) == 0 &&
                e->first_line == first)
                break;
        }
        if (g == NONE) {
            g = a->nfuncs++;
            mt_analysis_function *e = &a->funcs[g];
            e->qualname = pool_dup(&a->pool, q, strlen(q));
            e->file = pool_dup(&a->pool, file, strlen(file));
            e->module = fn ? pool_dup(&a->pool, fn->module, strlen(fn->module)) : "";
            if (!e->qualname || !e->file || !e->module) goto out;
            e->first_line = first;
            e->kind = fn && fn->kind == MT_FUNC_C ? MT_FUNC_C : MT_FUNC_PYTHON;
            e->fid = F->fid;
            next[g] = NONE;
            if (last == NONE) {
                if (u64map_put(&groups, key, g)) goto out;
            } else {
                next[last] = g;
            }
        }
        mt_analysis_function *e = &a->funcs[g];
        F->group = g;
        e->nfids++;
        if (F->fid < e->fid) e->fid = F->fid;
        e->calls += F->calls;
        e->incl_bytes += F->incl_bytes;
        e->self_bytes += F->self_bytes;
        e->incl_ticks += F->incl_ticks;
        e->self_ticks += F->self_ticks;
        if (F->peak > e->peak_rss_bytes) e->peak_rss_bytes = F->peak;
        if (F->peak_growth > e->peak_growth_bytes) e->peak_growth_bytes = F->peak_growth;
    }
    rc = 0;
out:
    u64map_free(&groups);
    free(next);
    return rc;
}

static int finish_lines(mt_analysis *a) {
    if (!a->nls) return 0;
    a->lines = calloc(a->nls, sizeof *a->lines);
    a->line_func = calloc(a->nls, sizeof *a->line_func);
    if (!a->lines || !a->line_func) return -1;
    u64map m = {0};
    for (uint64_t i = 0; i < a->nls; i++) {
        lslot *l = &a->ls[i];
        uint32_t g = a->fs[l->slot].group;
        if (g == NONE || (!l->count && !l->ticks && !l->growth)) continue;
        uint64_t key = (uint64_t)g << 32 | l->line;
        uint32_t j = u64map_get(&m, key);
        if (j == NONE) {
            j = a->nlines++;
            if (u64map_put(&m, key, j)) {
                u64map_free(&m);
                return -1;
            }
            mt_analysis_line *e = &a->lines[j];
            e->func = g;
            e->file = a->funcs[g].file;
            e->qualname = a->funcs[g].qualname;
            e->line = l->line;
        }
        mt_analysis_line *e = &a->lines[j];
        e->count += l->count;
        e->growth_bytes += l->growth;
        e->ticks += l->ticks;
        if (l->peak > e->peak_rss_bytes) e->peak_rss_bytes = l->peak;
    }
    u64map_free(&m);
    return 0;
}

static int finish_threads(mt_analysis *a, mt_reader *r) {
    /* Threads in tid order: a small array, sort indices. */
    uint64_t n = a->nth, nframes = 0;
    a->s.nthreads = (uint32_t)n;
    if (!n) return 0;
    a->threads = calloc(n, sizeof *a->threads);
    if (!a->threads) return -1;
    for (uint64_t i = 0; i < n; i++) {
        athread *t = &a->th[i];
        /* Thread definitions may come after pass 1 saw the tid only in a
         * block; the pass-2 reader knows every definition. */
        if (!t->name[0]) {
            const char *nm = mt_reader_thread_name(r, t->tid);
            if (nm && !(t->name = pool_dup(&a->pool, nm, strlen(nm)))) return -1;
            t->native_id = mt_reader_thread_native_id(r, t->tid);
        }
        a->threads[i] = (mt_analysis_thread){
            .tid = t->tid, .native_id = t->native_id, .name = t->name,
            .selected = t->selected, .events = t->events, .calls = t->calls,
            .t_first = t->t_first, .t_last = t->t_last, .growth_bytes = t->growth,
            .lost_events = t->lost_events, .lost_bytes = t->lost_bytes,
            .lost_records = t->lost_records, .t_lost_first = t->t_lost_first,
            .t_lost_last = t->t_lost_last};
        if (t->has_pk) {
            a->nstacks++;
            nframes += t->pk_depth;
        }
    }
    for (uint64_t i = 1; i < n; i++) /* insertion sort: few threads */
        for (uint64_t j = i; j > 0 && a->threads[j - 1].tid > a->threads[j].tid; j--) {
            mt_analysis_thread x = a->threads[j];
            a->threads[j] = a->threads[j - 1];
            a->threads[j - 1] = x;
        }
    if (!a->nstacks) return 0;
    a->stacks = calloc(a->nstacks, sizeof *a->stacks);
    a->stack_frames = calloc(nframes, sizeof *a->stack_frames);
    if (!a->stacks || !a->stack_frames) return -1;
    uint32_t k = 0;
    mt_analysis_frame *fr = a->stack_frames;
    for (uint64_t ti = 0; ti < n; ti++) { /* in tid order */
        athread *t = &a->th[u64map_get(&a->tidmap, a->threads[ti].tid)];
        if (!t->has_pk) continue;
        mt_analysis_stack *s = &a->stacks[k++];
        s->tid = t->tid;
        s->native_id = t->native_id;
        s->thread_name = t->name;
        s->depth = (uint32_t)t->pk_depth;
        s->frames = fr;
        for (uint64_t i = 0; i < t->pk_depth; i++, fr++) {
            const mt_function *fn = mt_reader_function(r, t->pk[i].fid);
            fr->fid = t->pk[i].fid;
            fr->line = t->pk[i].line;
            fr->first_line = fn ? fn->first_line : 0;
            fr->qualname = fn ? pool_dup(&a->pool, fn->qualname, strlen(fn->qualname)) : "";
            fr->file = fn ? pool_dup(&a->pool, fn->file, strlen(fn->file)) : "";
            if (!fr->qualname || !fr->file) return -1;
        }
    }
    return 0;
}

/* ---- Sorting ------------------------------------------------------------ */

static const char *const sort_names[] = {"incl", "self", "calls", "time", "peak"};

const char *mt_analysis_sort_name(int key) {
    return key >= 0 && key <= MT_ANALYSIS_SORT_PEAK ? sort_names[key] : "?";
}

int mt_analysis_sort_parse(const char *name) {
    for (int i = 0; i <= MT_ANALYSIS_SORT_PEAK; i++)
        if (strcmp(name, sort_names[i]) == 0) return i;
    return MT_ERR_ARG;
}

static int sort_key; /* qsort has no context argument; sorting is single-threaded */

#define CMP_DESC(x, y) do { if ((x) != (y)) return (x) > (y) ? -1 : 1; } while (0)

static int cmp_names(const char *q1, const char *f1, uint32_t l1, const char *q2,
                     const char *f2, uint32_t l2) {
    int c = strcmp(q1, q2);
    if (c) return c;
    if ((c = strcmp(f1, f2))) return c;
    return (l1 > l2) - (l1 < l2);
}

static int cmp_func(const void *x, const void *y) {
    const mt_analysis_function *p = x, *q = y;
    switch (sort_key) {
    case MT_ANALYSIS_SORT_INCL: CMP_DESC(p->incl_bytes, q->incl_bytes); break;
    case MT_ANALYSIS_SORT_SELF: CMP_DESC(p->self_bytes, q->self_bytes); break;
    case MT_ANALYSIS_SORT_CALLS: CMP_DESC(p->calls, q->calls); break;
    case MT_ANALYSIS_SORT_TIME: CMP_DESC(p->incl_ticks, q->incl_ticks); break;
    case MT_ANALYSIS_SORT_PEAK: CMP_DESC(p->peak_rss_bytes, q->peak_rss_bytes); break;
    }
    CMP_DESC(p->incl_bytes, q->incl_bytes);
    CMP_DESC(p->calls, q->calls);
    int c = cmp_names(p->qualname, p->file, p->first_line, q->qualname, q->file,
                      q->first_line);
    return c ? c : (p->fid > q->fid) - (p->fid < q->fid);
}

static int cmp_line(const void *x, const void *y) {
    const mt_analysis_line *p = x, *q = y;
    switch (sort_key) {
    case MT_ANALYSIS_SORT_CALLS: CMP_DESC(p->count, q->count); break;
    case MT_ANALYSIS_SORT_TIME: CMP_DESC(p->ticks, q->ticks); break;
    case MT_ANALYSIS_SORT_PEAK: CMP_DESC(p->peak_rss_bytes, q->peak_rss_bytes); break;
    default: CMP_DESC(p->growth_bytes, q->growth_bytes); break;
    }
    CMP_DESC(p->growth_bytes, q->growth_bytes);
    CMP_DESC(p->count, q->count);
    int c = strcmp(p->file, q->file);
    if (c) return c;
    if (p->line != q->line) return p->line < q->line ? -1 : 1;
    return strcmp(p->qualname, q->qualname);
}

/* The fslot of a fid pass 2 met; NONE otherwise. */
static uint32_t slot_of(const mt_analysis *a, uint32_t fid) {
    if (fid < DENSE_FIDS) return fid < a->capfid ? a->fid2slot[fid] : NONE;
    return u64map_get(&a->bigfids, fid);
}

int mt_analysis_sort(mt_analysis *a, int key) {
    if (!a || key < 0 || key > MT_ANALYSIS_SORT_PEAK) return MT_ERR_ARG;
    sort_key = key;
    /* Lines name their function by index. An entry's fid (its least) is
     * unique to it, and its fslot's group field is free after finish: use
     * it as the map from entry to new index across the sort. */
    for (uint32_t i = 0; i < a->nlines; i++) a->line_func[i] = a->funcs[a->lines[i].func].fid;
    if (a->nfuncs) qsort(a->funcs, a->nfuncs, sizeof *a->funcs, cmp_func);
    for (uint32_t j = 0; j < a->nfuncs; j++) a->fs[slot_of(a, a->funcs[j].fid)].group = j;
    for (uint32_t i = 0; i < a->nlines; i++)
        a->lines[i].func = a->fs[slot_of(a, a->line_func[i])].group;
    if (a->nlines) qsort(a->lines, a->nlines, sizeof *a->lines, cmp_line);
    return 0;
}

/* ---- Allocations -------------------------------------------------------- */

static int heap_selected(void *ctx, uint32_t tid) {
    mt_analysis *a = ctx;
    uint32_t i = u64map_get(&a->tidmap, tid);
    return i != NONE ? a->th[i].selected : !a->filtering;
}

static int has_allocs(const mt_analysis *a) {
    return (a->h.content & MT_CONTENT_ALLOCS) || a->h.alloc_sample_bytes ||
           a->s.by_type[MT_REC_ALLOC] || a->s.by_type[MT_REC_FREE] ||
           a->s.by_type[MT_REC_REALLOC];
}

/* A FUNCTION record read: if an earlier id names the same place in the
 * source (qualified name, file, def line, kind), the heap counts this one's
 * frames as that one's, so that its sites aggregate by location (one row for
 * a function whose code object was made five times, as by exec). */
static int heap_alias(mt_analysis *a, mt_reader *r, uint32_t fid) {
    const mt_function *fn = mt_reader_function(r, fid);
    if (!fn) return 0;
    uint64_t key = hash_str(hash_str(0xcbf29ce484222325ULL, fn->qualname), fn->file) ^
                   mix64((uint64_t)fn->first_line << 1 | (fn->kind == MT_FUNC_C));
    if (key == UINT64_MAX) key = 0;
    uint32_t first = u64map_get(&a->canon, key);
    if (first == NONE) return u64map_put(&a->canon, key, fid) ? MT_ERR_NOMEM : 0;
    if (first == fid) return 0;
    const mt_function *g = mt_reader_function(r, first);
    if (!g || g->first_line != fn->first_line || g->kind != fn->kind ||
        strcmp(g->qualname, fn->qualname) != 0 || strcmp(g->file, fn->file) != 0)
        return 0; /* another place whose hash is the same: kept apart */
    return mt_heap_alias(a->heap, fid, first);
}

static int has_objects(const mt_analysis *a) {
    return (a->h.content & MT_CONTENT_OBJECTS) || a->s.by_type[MT_REC_OBJ_NEW] ||
           a->s.by_type[MT_REC_OBJ_DEL];
}

static int heap_start(mt_analysis *a) {
    mt_horder_thread *ht = malloc((a->nth ? a->nth : 1) * sizeof *ht);
    if (!ht) return MT_ERR_NOMEM;
    uint32_t nht = 0;
    for (uint64_t i = 0; i < a->nth; i++)
        if (a->th[i].heap_records)
            ht[nht++] = (mt_horder_thread){a->th[i].tid, a->th[i].heap_t_first,
                                           a->th[i].heap_records, a->th[i].blk,
                                           a->th[i].nblk};
    mt_heap_config c = {
        .sample_bytes = a->h.alloc_sample_bytes, .from = a->s.from, .to = a->s.to,
        .t_first = a->s.t_first, .t_last = a->s.t_last,
        .ticks_per_second = a->h.ticks_per_second, .selected = heap_selected, .ctx = a,
        .lifetime_slices = a->lifetime_slices, .no_allocs = !has_allocs(a),
        .ordered = (a->h.flags & MT_HEADER_ALLOC_ORDERED) != 0, .threads = ht,
        .nthreads = nht};
    int rc = mt_heap_new(&a->heap, &c);
    free(ht);
    if (rc == 0 && has_objects(a))
        rc = mt_objs_new(&a->objs, a->s.from, a->s.to, a->s.t_first, a->s.t_last);
    return rc;
}

/* Pass 3: replay up to the heap's peak, where the model groups the live
 * blocks by site, and stop there; with objects, go on to the end for them
 * alone: an object made by the peak's time (its OBJ_NEW just after the
 * peak's ALLOC, or in another thread's later block) or dead before it may
 * lie anywhere after that point in the file. */
static int heap_peak_pass(mt_analysis *a) {
    mt_reader *r = NULL;
    mt_record rec;
    int rc = open_reader(a, &r);
    if (rc < 0) return rc;
    mt_heap_rewind(a->heap);
    if (a->objs) mt_objs_rewind(a->objs, mt_heap_summary(a->heap)->t_peak);
    uint64_t nrec = 0;
    int heap_done = 0;
    while ((rc = mt_reader_next(r, &rec)) != 0) {
        mt_an_progress_tick(a, r, 3, &nrec);
        if (rc < 0) {
            if (mt_reader_fatal(r)) break;
            rc = 0;
            continue;
        }
        if (!heap_done) {
            if (rec.type == MT_REC_FUNCTION && (rc = heap_alias(a, r, rec.u.function.fid)) < 0)
                break;
            if ((rc = mt_heap_feed(a->heap, &rec)) < 0) break;
            if (rc > 0) {
                heap_done = 1;
                rc = 0;
                if (!a->objs) break;
            }
        }
        if (a->objs && (rc = mt_objs_feed(a->objs, a->heap, &rec)) < 0) break;
    }
    if (rc >= 0 && heap_done && a->objs) mt_objs_at_peak(a->objs);
    mt_reader_close(r);
    return rc < 0 ? fail(a, MT_ERR_NOMEM, "%s: out of memory", a->s.path) : 0;
}

const mt_analysis_heap *mt_analysis_heap_get(const mt_analysis *a) {
    static const mt_analysis_heap none;
    return a->heap ? mt_heap_summary(a->heap) : &none;
}

const mt_analysis_heap_point *mt_analysis_heap_series(const mt_analysis *a, int domain,
                                                      uint64_t *n) {
    *n = 0;
    return a->heap ? mt_heap_series(a->heap, domain, n) : NULL;
}

const mt_analysis_site *mt_analysis_sites(const mt_analysis *a, int table, int order,
                                          uint32_t *n) {
    *n = 0;
    return a->heap ? mt_heap_sites(a->heap, table, order, n) : NULL;
}

const mt_analysis_lifetime *mt_analysis_lifetimes(const mt_analysis *a, uint64_t *n,
                                                  uint32_t *nslices, uint64_t *t0,
                                                  uint64_t *t1) {
    *n = 0;
    *nslices = 0;
    *t0 = *t1 = 0;
    /* made on the first call, as the site frames are: not thread-safe */
    return a->heap ? mt_heap_lifetimes(a->heap, n, nslices, t0, t1) : NULL;
}

const mt_analysis_objects *mt_analysis_objects_get(const mt_analysis *a) {
    static const mt_analysis_objects none;
    return a->objs ? mt_objs_summary(a->objs) : &none;
}

const mt_analysis_object_type *mt_analysis_object_types(const mt_analysis *a, uint32_t *n) {
    *n = 0;
    return a->objs ? mt_objs_types(a->objs, n) : NULL;
}

const mt_analysis_object_group *mt_analysis_objects_alive(const mt_analysis *a, uint32_t *n) {
    *n = 0;
    return a->objs ? mt_objs_alive(a->objs, n) : NULL;
}

const mt_analysis_object_point *mt_analysis_object_series(const mt_analysis *a, uint32_t type,
                                                          uint64_t *n) {
    *n = 0;
    return a->objs ? mt_objs_series(a->objs, type, n) : NULL;
}

int mt_analysis_node_site(const mt_analysis *a, uint32_t node, mt_analysis_site *out) {
    return a->heap ? mt_heap_node_site(a->heap, node, out) : -1;
}

const mt_analysis_frame *mt_analysis_site_frames(const mt_analysis *a,
                                                 const mt_analysis_site *s) {
    return a->heap ? mt_heap_site_frames(a->heap, s) : NULL;
}

void mt_analysis_site_fill(const mt_analysis *a, const mt_analysis_site *s,
                           mt_analysis_frame *buf) {
    if (a->heap) mt_heap_site_fill(a->heap, s, buf);
}

int mt_analysis_site_frame(const mt_analysis *a, const mt_analysis_site *s, uint32_t k,
                           mt_analysis_frame *out) {
    return a->heap ? mt_heap_site_frame(a->heap, s, k, out) : -1;
}

/* The definitions of the fids in the site tables' frames (every fid of the
 * heap's stacks), kept while the reader that has them is open:
 * mt_analysis_frame carries no kind or module. Dense by fid (recorders
 * number functions from 1); fids from DENSE_FIDS on are left out, as
 * unknown. */
static int site_functions(mt_analysis *a, mt_reader *r) {
    uint32_t maxfid = mt_heap_max_fid(a->heap);
    if (maxfid >= DENSE_FIDS) maxfid = DENSE_FIDS - 1;
    if (!maxfid) return 0;
    if (!(a->site_fns = calloc((size_t)maxfid + 1, sizeof *a->site_fns))) return -1;
    a->nsite_fns = maxfid + 1;
    for (uint32_t fid = 1; fid <= maxfid; fid++) {
        if (!mt_heap_has_fid(a->heap, fid)) continue;
        const mt_function *fn = mt_reader_function(r, fid);
        if (!fn) continue;
        mt_function *e = &a->site_fns[fid];
        e->kind = fn->kind;
        e->first_line = fn->first_line;
        if (!(e->qualname = pool_dup(&a->pool, fn->qualname,
                                     fn->qualname ? strlen(fn->qualname) : 0)) ||
            !(e->module = pool_dup(&a->pool, fn->module, fn->module ? strlen(fn->module) : 0)) ||
            !(e->file = pool_dup(&a->pool, fn->file, fn->file ? strlen(fn->file) : 0)))
            return -1;
    }
    return 0;
}

const mt_function *mt_analysis_site_function(const mt_analysis *a, uint32_t fid) {
    if (!a || fid >= a->nsite_fns || !a->site_fns[fid].qualname) return NULL;
    return &a->site_fns[fid];
}

/* ---- Focus (--function, --file) ----------------------------------------- */

static int any_glob(const char *const *g, uint32_t n, const char *s) {
    for (uint32_t i = 0; i < n; i++)
        if (fnmatch(g[i], s, 0) == 0) return 1;
    return 0;
}

int mt_analysis_focus_match(const char *const *functions, uint32_t nfunctions,
                            const char *const *files, uint32_t nfiles, const char *qual,
                            const char *module, const char *file) {
    qual = qual ? qual : "";
    if (nfunctions && !any_glob(functions, nfunctions, qual)) {
        char mq[1024];
        if (!module || !*module) return 0;
        snprintf(mq, sizeof mq, "%s.%s", module, qual);
        if (!any_glob(functions, nfunctions, mq)) return 0;
    }
    return !nfiles || any_glob(files, nfiles, file ? file : "");
}

static int focus_match(const mt_analysis_options *o, const char *qual, const char *module,
                       const char *file) {
    return mt_analysis_focus_match(o->functions, o->nfunctions, o->files, o->nfiles, qual,
                                   module, file);
}

typedef struct focus_ctx {
    mt_analysis *a;
    const mt_analysis_options *o;
    uint8_t *fid_ok; /* by fid: 0 unknown, 1 match, 2 no match */
} focus_ctx;

static int focus_site(void *ctx, const mt_analysis_site *s) {
    focus_ctx *c = ctx;
    for (uint32_t k = 0; k < s->depth; k++) {
        mt_analysis_frame fr;
        if (mt_analysis_site_frame(c->a, s, k, &fr) < 0) continue;
        uint8_t *v = fr.fid < c->a->nsite_fns && c->fid_ok ? &c->fid_ok[fr.fid] : NULL;
        if (v && *v) {
            if (*v == 1) return 1;
            continue;
        }
        const mt_function *fn = mt_analysis_site_function(c->a, fr.fid);
        int ok = focus_match(c->o, fn ? fn->qualname : fr.qualname, fn ? fn->module : NULL,
                             fn ? fn->file : fr.file);
        if (v) *v = ok ? 1 : 2;
        if (ok) return 1;
    }
    return 0;
}

static int focus(mt_analysis *a, const mt_analysis_options *o) {
    uint32_t *map = a->nfuncs ? malloc(a->nfuncs * sizeof *map) : NULL;
    if (a->nfuncs && !map) return -1;
    uint32_t k = 0;
    for (uint32_t i = 0; i < a->nfuncs; i++) {
        const mt_analysis_function *f = &a->funcs[i];
        map[i] = focus_match(o, f->qualname, f->module, f->file) ? k++ : NONE;
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < a->nlines; i++)
        if (map[a->lines[i].func] != NONE) {
            a->lines[m] = a->lines[i];
            a->lines[m++].func = map[a->lines[i].func];
        }
    a->nlines = m;
    for (uint32_t i = 0; i < a->nfuncs; i++)
        if (map[i] != NONE) a->funcs[map[i]] = a->funcs[i];
    a->nfuncs = k;
    free(map);
    if (a->heap) {
        focus_ctx c = {a, o, a->nsite_fns ? calloc(a->nsite_fns, 1) : NULL};
        mt_heap_sites_keep(a->heap, focus_site, &c);
        free(c.fid_ok);
    }
    return 0;
}

/* ---- Running ------------------------------------------------------------ */

static int open_reader(mt_analysis *a, mt_reader **r) {
    errno = 0;
    int rc = mt_reader_open(r, a->s.path);
    if (rc >= 0) return 0;
    int err = errno;
    if (*r)
        fail(a, rc, "%s", mt_reader_errmsg(*r));
    else if (rc == MT_ERR_IO && err)
        fail(a, rc, "cannot open '%s': %s", a->s.path, strerror(err));
    else
        fail(a, rc, "%s: %s", a->s.path, mt_strerror(rc));
    mt_reader_close(*r);
    *r = NULL;
    return rc;
}

int mt_analysis_run(mt_analysis **out, const char *path, const mt_analysis_options *opt) {
    mt_analysis_options defaults;
    if (!out) return MT_ERR_ARG;
    *out = NULL;
    if (!path) return MT_ERR_ARG;
    if (!opt) {
        mt_analysis_options_init(&defaults);
        opt = &defaults;
    }
    mt_analysis *a = calloc(1, sizeof *a);
    if (!a) return MT_ERR_NOMEM;
    *out = a;
    mt_reader *r = NULL;
    int rc = MT_ERR_NOMEM;
    if (!(a->s.path = pool_dup(&a->pool, path, strlen(path)))) goto nomem;
    a->max_messages = opt->max_messages ? opt->max_messages : 8;
    a->lifetime_slices = opt->lifetime_slices;
    a->progress = opt->progress;
    a->progress_ctx = opt->progress_ctx;
    if (a->progress) {
        struct stat st;
        a->file_bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    if (!(a->messages = calloc(a->max_messages, sizeof *a->messages))) goto nomem;
    a->s.messages = a->messages;

    /* Pass 1. */
    if ((rc = open_reader(a, &r)) < 0) goto out;
    if (copy_header(a, mt_reader_header(r))) goto nomem;
    a->span_gap = ns_to_ticks(MT_CHARGE_GAP_NS, a->h.ticks_per_second);
    if ((rc = mt_an_pass1(a, r)) < 0) goto nomem;
    mt_reader_close(r);
    r = NULL;

    if (opt->target_rss && mt_an_procs_series(a)) goto nomem;
    if (mt_an_finish_series(a)) goto nomem;
    if (a->npym) qsort(a->pym, a->npym, sizeof *a->pym, mt_an_cmp_pym); /* stable enough: distinct t */
    uint64_t tps = a->h.ticks_per_second;
    a->s.to = ns_to_ticks(opt->to_ns, tps);
    if (a->s.to > a->s.t_last) a->s.to = a->s.t_last;
    a->s.from = ns_to_ticks(opt->from_ns, tps);
    if (a->s.from < a->s.t_first) a->s.from = a->s.t_first;
    if (a->s.from > a->s.to) a->s.from = a->s.to;
    finish_rss(a);
    if (mt_an_procs_finish(a)) goto nomem;
    a->filtering = opt->nthreads > 0;
    if ((rc = select_threads(a, opt)) < 0) goto out;
    if ((has_allocs(a) || has_objects(a)) && heap_start(a) < 0) goto nomem;
    if (charge_threads(a)) goto nomem;
    for (uint64_t i = 0; i < a->nth; i++) {
        a->th[i].cur = upper_bound(a, a->s.from);
        a->th[i].te = a->s.from;
    }

    /* Pass 2. */
    if ((rc = open_reader(a, &r)) < 0) goto out;
    if ((rc = pass2(a, r)) < 0) goto nomem;
    if (a->heap) {
        if ((rc = mt_heap_end(a->heap)) < 0) goto nomem;
        if (a->objs && mt_objs_end(a->objs) < 0) goto nomem;
        if (rc > 0 && (rc = heap_peak_pass(a)) < 0) goto out;
        if (mt_heap_finish(a->heap, r) < 0 || site_functions(a, r) < 0) goto nomem;
        if (a->objs && mt_objs_finish(a->objs, r) < 0) goto nomem;
    }
    if (finish_functions(a, r) || finish_lines(a) || finish_threads(a, r)) goto nomem;
    mt_reader_close(r);
    r = NULL;
    if ((opt->nfunctions || opt->nfiles) && focus(a, opt) < 0) goto nomem;
    rc = mt_analysis_sort(a, MT_ANALYSIS_SORT_INCL);
    goto out;
nomem:
    rc = fail(a, MT_ERR_NOMEM, "%s: out of memory", path);
out:
    mt_reader_close(r);
    return rc;
}

void mt_analysis_free(mt_analysis *a) {
    if (!a) return;
    for (uint64_t i = 0; i < a->nth; i++) {
        free(a->th[i].frames);
        free(a->th[i].active);
        free(a->th[i].pk);
        free(a->th[i].blk);
        mt_spans_free(&a->th[i].spans);
        mt_charges_free(&a->th[i].chg);
    }
    free(a->th);
    u64map_free(&a->tidmap);
    for (uint64_t i = 0; i < a->nfs; i++) free(a->fs[i].lidx);
    free(a->fs);
    free(a->fid2slot);
    u64map_free(&a->bigfids);
    u64map_free(&a->canon);
    free(a->ls);
    u64map_free(&a->linemap);
    free(a->series);
    free(a->pym);
    free(a->since);
    for (uint64_t i = 0; i < a->nprocs; i++) free(a->pser[i].v);
    free(a->procs);
    free(a->pser);
    u64map_free(&a->pidmap);
    free(a->rounds);
    free(a->total);
    free(a->markers);
    free(a->funcs);
    free(a->lines);
    free(a->line_func);
    free(a->stacks);
    free(a->stack_frames);
    free(a->threads);
    free(a->messages);
    free(a->argv);
    mt_heap_free(a->heap);
    mt_objs_free(a->objs);
    free(a->site_fns);
    pool_free(&a->pool);
    free(a);
}

const char *mt_analysis_errmsg(const mt_analysis *a) { return a ? a->errmsg : ""; }

const mt_analysis_summary *mt_analysis_summary_get(const mt_analysis *a) { return &a->s; }

unsigned mt_analysis_loss_falsifies(const mt_analysis *a) {
    if (!a->s.lost_records && !a->s.lost_events) return 0;
    unsigned f = 0;
    if (mt_analysis_heap_get(a)->has_allocs || (a->h.content & MT_CONTENT_ALLOCS))
        f |= MT_LOSS_HEAP;
    for (uint64_t i = 0; i < a->nth; i++) {
        const athread *t = &a->th[i];
        if (!t->lost_records) continue;
        if (t->tid == 0) f |= MT_LOSS_RSS; /* the sampler's thread */
        else f |= MT_LOSS_CALLS;
    }
    return f;
}

double mt_analysis_seconds(const mt_analysis *a, uint64_t ticks) {
    return mt_ticks_to_seconds(&a->h, ticks);
}

const mt_analysis_function *mt_analysis_functions(const mt_analysis *a, uint32_t *n) {
    *n = a->nfuncs;
    return a->funcs;
}

const mt_analysis_line *mt_analysis_lines(const mt_analysis *a, uint32_t *n) {
    *n = a->nlines;
    return a->lines;
}

const mt_analysis_stack *mt_analysis_peak_stacks(const mt_analysis *a, uint32_t *n) {
    *n = a->nstacks;
    return a->stacks;
}

const mt_analysis_marker *mt_analysis_markers(const mt_analysis *a, uint32_t *n) {
    *n = (uint32_t)a->nmarkers;
    return a->markers;
}

const mt_analysis_thread *mt_analysis_threads(const mt_analysis *a, uint32_t *n) {
    *n = (uint32_t)a->nth;
    return a->threads;
}

uint64_t mt_analysis_data_records(const mt_analysis *a) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < a->nth; i++) n += a->threads[i].events;
    return n;
}
