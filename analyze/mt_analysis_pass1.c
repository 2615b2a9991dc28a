/*
 * mt_analysis_pass1.c - the analysis core's first pass (see mt_analysis.h
 * for why two): the RSS samples, markers, threads and their spans, record
 * counts, lost events, processes (PROC_SAMPLE, PROC_EXIT) and pymalloc's
 * counters, all read before the replay of pass 2 needs them.
 */
#include "mt_analysis_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Pass 1: samples, markers, threads, counts -------------------------- */

/* ---- Processes ------------------------------------------------------------ */

/* Name or command line from a sid: kept as is unless it changed (exec). */
static int proc_text(mt_analysis *a, mt_reader *r, uint32_t sid, const char **dst) {
    uint32_t len = 0;
    const char *t = sid ? mt_reader_string(r, sid, &len) : NULL;
    if (!t) {
        if (!*dst) *dst = "";
        return 0;
    }
    if (*dst && strlen(*dst) == len && memcmp(*dst, t, len) == 0) return 0;
    const char *c = pool_dup(&a->pool, t, len);
    if (!c) return -1;
    *dst = c;
    return 0;
}

static int proc_sample(mt_analysis *a, mt_reader *r, const mt_record *rec) {
    uint32_t i = u64map_get(&a->pidmap, rec->u.proc.pid);
    if (i == NONE) {
        if (grow_to((void **)&a->procs, &a->capprocs, a->nprocs + 1, sizeof *a->procs) ||
            grow_to((void **)&a->pser, &a->cappser, a->nprocs + 1, sizeof *a->pser))
            return -1;
        i = (uint32_t)a->nprocs++;
        mt_analysis_process *P = &a->procs[i];
        memset(P, 0, sizeof *P);
        memset(&a->pser[i], 0, sizeof a->pser[i]);
        P->pid = rec->u.proc.pid;
        P->ppid = rec->u.proc.ppid;
        P->parent = NONE;
        P->status = MT_PROC_STATUS_UNKNOWN;
        P->t_first = P->t_last = rec->t;
        if (u64map_put(&a->pidmap, P->pid, i)) return -1;
    }
    mt_analysis_process *P = &a->procs[i];
    struct pseries *X = &a->pser[i];
    if (proc_text(a, r, rec->u.proc.name_sid, &P->name) ||
        proc_text(a, r, rec->u.proc.cmdline_sid, &P->cmdline))
        return -1;
    for (uint32_t k = 0; k < rec->u.proc.n; k++) {
        const mt_counter *c = &rec->u.proc.v[k];
        if (c->id == MT_CTR_RSS_BYTES) {
            X->last_rss = c->value;
            X->have_rss = 1;
        } else if (c->id == MT_CTR_USS_BYTES || c->id == MT_CTR_PSS_BYTES) {
            uint64_t *pk = c->id == MT_CTR_USS_BYTES ? &P->peak_uss_bytes : &P->peak_pss_bytes;
            if (c->value > *pk) *pk = c->value;
            P->has_uss = 1;
        }
    }
    P->samples++;
    if (rec->t > P->t_last) P->t_last = rec->t;
    if (!X->have_rss) return 0; /* e.g. a zombie's only sample */
    if (grow_to((void **)&X->v, &X->cap, X->n + 1, sizeof *X->v) ||
        grow_to((void **)&a->rounds, &a->caprounds, a->nrounds + 1, sizeof *a->rounds))
        return -1;
    X->v[X->n++] = (mt_analysis_sample){rec->t, X->last_rss};
    a->rounds[a->nrounds++] = (mt_analysis_sample){rec->t, X->last_rss};
    if (X->last_rss > P->peak_rss_bytes || X->n == 1) {
        P->peak_rss_bytes = X->last_rss;
        P->t_peak = rec->t;
    }
    return 0;
}

/* After pass 1, before the series is sorted: a poll trace's target gives
 * the RSS series when the trace has no samples of its own. */
int mt_an_procs_series(mt_analysis *a) {
    if (a->nseries) return 0;
    for (uint64_t i = 0; i < a->nprocs; i++) {
        if (a->procs[i].pid != a->h.pid) continue;
        for (uint64_t k = 0; k < a->pser[i].n; k++)
            if (mt_an_add_sample(a, a->pser[i].v[k].t, a->pser[i].v[k].rss_bytes)) return -1;
        return 0; /* the first process of that pid: the one watched */
    }
    return 0;
}

static int cmp_t(const void *x, const void *y) {
    const mt_analysis_sample *p = x, *q = y;
    return (p->t > q->t) - (p->t < q->t);
}

static const mt_analysis_process *sort_procs; /* qsort context (one thread) */
static int cmp_proc_idx(const void *x, const void *y) {
    const mt_analysis_process *p = &sort_procs[*(const uint32_t *)x];
    const mt_analysis_process *q = &sort_procs[*(const uint32_t *)y];
    if (p->t_first != q->t_first) return p->t_first < q->t_first ? -1 : 1;
    if (p->pid != q->pid) return p->pid < q->pid ? -1 : 1;
    return (*(const uint32_t *)x > *(const uint32_t *)y) - (*(const uint32_t *)x < *(const uint32_t *)y);
}

static int add_self_process(mt_analysis *a) {
    if (grow_to((void **)&a->procs, &a->capprocs, a->nprocs + 1, sizeof *a->procs) ||
        grow_to((void **)&a->pser, &a->cappser, a->nprocs + 1, sizeof *a->pser))
        return -1;
    uint64_t i = a->nprocs++;
    mt_analysis_process *P = &a->procs[i];
    struct pseries *X = &a->pser[i];
    memset(P, 0, sizeof *P);
    memset(X, 0, sizeof *X);
    P->pid = a->h.pid;
    P->ppid = a->h.ppid;
    P->parent = NONE;
    P->status = MT_PROC_STATUS_UNKNOWN;
    P->from_counters = 1;
    const char *exe = a->h.executable ? a->h.executable : "";
    const char *slash = strrchr(exe, '/');
    P->name = slash ? slash + 1 : exe;
    size_t len = 0;
    for (uint32_t k = 0; k < a->h.argc; k++) len += strlen(a->h.argv[k]) + 1;
    char *cmd = malloc(len + 1);
    if (!cmd) return -1;
    cmd[0] = 0;
    for (uint32_t k = 0, off = 0; k < a->h.argc; k++) {
        size_t l = strlen(a->h.argv[k]);
        memcpy(cmd + off, a->h.argv[k], l);
        off += (uint32_t)l;
        cmd[off++] = k + 1 < a->h.argc ? ' ' : 0;
        cmd[off] = 0;
    }
    P->cmdline = pool_dup(&a->pool, cmd, strlen(cmd));
    free(cmd);
    if (!P->cmdline) return -1;
    P->t_first = a->s.t_first;
    P->t_last = a->s.t_last;
    P->samples = a->nseries;
    P->has_uss = a->self_has_uss;
    P->peak_uss_bytes = a->self_uss_peak;
    P->peak_pss_bytes = a->self_pss_peak;
    if (a->nseries) {
        if (!(X->v = malloc(a->nseries * sizeof *X->v))) return -1;
        memcpy(X->v, a->series, a->nseries * sizeof *X->v);
        X->n = X->cap = a->nseries;
        for (uint64_t k = 0; k < a->nseries; k++)
            if (a->series[k].rss_bytes > P->peak_rss_bytes || k == 0) {
                P->peak_rss_bytes = a->series[k].rss_bytes;
                P->t_peak = a->series[k].t;
            }
    }
    return 0;
}

/* The total per round. Poll traces: the sum of the samples of equal t.
 * With the trace's process in COUNTERS: at every round and every RSS
 * sample, its RSS(t) plus the last sample of each process alive then. */
static int procs_total(mt_analysis *a, int self_idx) {
    if (self_idx < 0) {
        if (a->nrounds) qsort(a->rounds, a->nrounds, sizeof *a->rounds, cmp_t);
        for (uint64_t i = 0; i < a->nrounds;) {
            uint64_t t = a->rounds[i].t, sum = 0;
            for (; i < a->nrounds && a->rounds[i].t == t; i++) sum += a->rounds[i].rss_bytes;
            a->total[a->ntotal++] = (mt_analysis_sample){t, sum};
        }
        return 0;
    }
    /* Times: rounds then the series, sorted, distinct. */
    uint64_t n = a->nrounds + a->nseries;
    mt_analysis_sample *ts = malloc((n ? n : 1) * sizeof *ts);
    uint64_t *cur = calloc(a->nprocs ? a->nprocs : 1, sizeof *cur);
    if (!ts || !cur) {
        free(ts);
        free(cur);
        return -1;
    }
    /* memcpy wants valid pointers even for 0 bytes, and empty arrays are NULL. */
    if (a->nrounds) memcpy(ts, a->rounds, a->nrounds * sizeof *ts);
    if (a->nseries) memcpy(ts + a->nrounds, a->series, a->nseries * sizeof *ts);
    qsort(ts, n, sizeof *ts, cmp_t);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t = ts[i].t;
        if (i && ts[i - 1].t == t) continue;
        uint64_t sum = mt_analysis_rss_at(a, t);
        for (uint64_t p = 0; p < a->nprocs; p++) {
            if ((int)p == self_idx) continue;
            const mt_analysis_process *P = &a->procs[p];
            const struct pseries *X = &a->pser[p];
            while (cur[p] < X->n && X->v[cur[p]].t <= t) cur[p]++;
            if (!cur[p] || t < P->t_first || (P->exited && t >= P->t_last)) continue;
            sum += X->v[cur[p] - 1].rss_bytes;
        }
        a->total[a->ntotal++] = (mt_analysis_sample){t, sum};
    }
    free(ts);
    free(cur);
    return 0;
}

/* After mt_an_finish_series: the trace's own process, parents, tree order, the
 * total. */
int mt_an_procs_finish(mt_analysis *a) {
    if (!a->nprocs) return 0;
    int self_idx = -1, have_target = 0;
    for (uint64_t i = 0; i < a->nprocs && !have_target; i++)
        if (a->procs[i].pid == a->h.pid) {
            a->procs[i].is_target = 1;
            have_target = 1;
        }
    if (!have_target) {
        if (add_self_process(a)) return -1;
        self_idx = (int)(a->nprocs - 1);
        a->procs[self_idx].is_target = 1;
    }
    uint64_t n = a->nprocs;
    /* Parent: the process of pid ppid that began last at or before the
     * child's first sample (pids are reused), else the first of that pid. */
    for (uint64_t i = 0; i < n; i++) {
        uint32_t best = NONE;
        for (uint64_t j = 0; j < n; j++) {
            if (j == i || a->procs[j].pid != a->procs[i].ppid) continue;
            if (a->procs[j].t_first <= a->procs[i].t_first) {
                if (best == NONE || a->procs[best].t_first > a->procs[i].t_first ||
                    a->procs[j].t_first > a->procs[best].t_first)
                    best = (uint32_t)j;
            } else if (best == NONE) {
                best = (uint32_t)j;
            }
        }
        a->procs[i].parent = best;
    }
    /* Depth-first order, children sorted; a cycle (impossible unless the
     * trace lies) is broken by visiting each process once. */
    uint32_t *idx = malloc(n * sizeof *idx), *order = malloc(n * sizeof *order);
    uint32_t *stack = malloc(n * sizeof *stack), *depth = calloc(n, sizeof *depth);
    uint8_t *seen = calloc(n, 1);
    mt_analysis_process *np = malloc(n * sizeof *np);
    struct pseries *nx = malloc(n * sizeof *nx);
    uint32_t *newpos = malloc(n * sizeof *newpos);
    int rc = -1;
    if (!idx || !order || !stack || !depth || !seen || !np || !nx || !newpos) goto out;
    for (uint64_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    sort_procs = a->procs;
    qsort(idx, n, sizeof *idx, cmp_proc_idx);
    uint64_t no = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t r = 0; r < n; r++) {
            uint32_t root = idx[r];
            if (seen[root] || (pass == 0 && a->procs[root].parent != NONE)) continue;
            uint64_t sp = 0;
            stack[sp++] = root;
            seen[root] = 1;
            depth[root] = 0;
            while (sp) {
                uint32_t p = stack[--sp];
                order[no++] = p;
                /* Push children in reverse sorted order: popped in order. */
                for (uint64_t k = n; k-- > 0;) {
                    uint32_t c = idx[k];
                    if (seen[c] || a->procs[c].parent != p) continue;
                    seen[c] = 1;
                    depth[c] = depth[p] + 1;
                    stack[sp++] = c;
                }
            }
        }
    }
    for (uint64_t k = 0; k < n; k++) newpos[order[k]] = (uint32_t)k;
    for (uint64_t k = 0; k < n; k++) {
        np[k] = a->procs[order[k]];
        nx[k] = a->pser[order[k]];
        np[k].depth = depth[order[k]];
        np[k].parent = np[k].parent == NONE ? NONE : newpos[np[k].parent];
        if (np[k].parent != NONE && np[np[k].parent].depth + 1 != np[k].depth)
            np[k].depth = 0; /* only when a cycle was broken */
    }
    memcpy(a->procs, np, n * sizeof *np);
    memcpy(a->pser, nx, n * sizeof *nx);
    if (self_idx >= 0) self_idx = (int)newpos[self_idx];
    /* The total. */
    a->total = malloc((a->nrounds + a->nseries + 1) * sizeof *a->total);
    if (!a->total || procs_total(a, self_idx)) goto out;
    for (uint64_t k = 0; k < a->ntotal; k++)
        if (a->total[k].rss_bytes > a->total_peak || k == 0) {
            a->total_peak = a->total[k].rss_bytes;
            a->t_total_peak = a->total[k].t;
        }
    rc = 0;
out:
    free(idx);
    free(order);
    free(stack);
    free(depth);
    free(seen);
    free(np);
    free(nx);
    free(newpos);
    return rc;
}

const mt_analysis_process *mt_analysis_processes(const mt_analysis *a, uint32_t *n) {
    *n = (uint32_t)a->nprocs;
    return a->procs;
}

const mt_analysis_sample *mt_analysis_process_series(const mt_analysis *a, uint32_t i,
                                                     uint64_t *n) {
    if (i >= a->nprocs) {
        *n = 0;
        return NULL;
    }
    *n = a->pser[i].n;
    return a->pser[i].v;
}

const mt_analysis_sample *mt_analysis_total_series(const mt_analysis *a, uint64_t *n,
                                                   uint64_t *peak, uint64_t *t_peak) {
    *n = a->ntotal;
    if (peak) *peak = a->total_peak;
    if (t_peak) *t_peak = a->t_total_peak;
    return a->total;
}

static int note_message(mt_analysis *a, const char *msg) {
    a->s.nmessages_total++;
    if (a->s.nmessages >= a->max_messages) return 0;
    const char *c = pool_dup(&a->pool, msg, strlen(msg));
    if (!c) return -1;
    a->messages[a->s.nmessages++] = c;
    return 0;
}

/* COUNTERS of the process with pymalloc's state (1.4): one sample. */
static int pymalloc_sample(mt_analysis *a, const mt_record *rec) {
    mt_analysis_pymalloc p = {rec->t, 0, 0, 0};
    int any = 0;
    for (uint32_t i = 0; i < rec->u.counters.n; i++) {
        const mt_counter *c = &rec->u.counters.v[i];
        if (c->id == MT_CTR_PYMALLOC_ARENA_BYTES) p.arena_bytes = c->value, any = 1;
        else if (c->id == MT_CTR_PYMALLOC_USED_BYTES) p.used_bytes = c->value, any = 1;
        else if (c->id == MT_CTR_PYMALLOC_FREE_BYTES) p.free_bytes = c->value, any = 1;
    }
    if (!any) return 0;
    if (grow_to((void **)&a->pym, &a->cappym, a->npym + 1, sizeof *a->pym)) return -1;
    a->pym[a->npym++] = p;
    return 0;
}

int mt_an_cmp_pym(const void *x, const void *y) {
    const mt_analysis_pymalloc *p = x, *q = y;
    return (p->t > q->t) - (p->t < q->t);
}

const mt_analysis_pymalloc *mt_analysis_pymalloc_series(const mt_analysis *a, uint64_t *n) {
    *n = a->npym;
    return a->pym;
}

int mt_an_pass1(mt_analysis *a, mt_reader *r) {
    mt_record rec;
    int rc;
    uint32_t cur_tid = NONE;
    athread *th = NULL;
    int any_time = 0;
    uint64_t nrec = 0;
    while ((rc = mt_reader_next(r, &rec)) != 0) {
        mt_an_progress_tick(a, r, 1, &nrec);
        if (rc < 0) {
            if (note_message(a, mt_reader_errmsg(r))) return MT_ERR_NOMEM;
            if (mt_reader_fatal(r)) break;
            continue;
        }
        a->s.records++;
        if (rec.type < MT_ANALYSIS_NTYPES)
            a->s.by_type[rec.type]++;
        else
            a->s.unknown_records++;
        if (rec.type == MT_REC_STRING || rec.type == MT_REC_FUNCTION) continue;
        if (rec.type == MT_REC_UNKNOWN && !rec.t) continue; /* no block */
        if (rec.tid != cur_tid || !th) {
            th = mt_an_get_thread(a, rec.tid);
            if (!th) return MT_ERR_NOMEM;
            cur_tid = rec.tid;
        }
        if (rec.type == MT_REC_THREAD) {
            th->native_id = rec.u.thread.native_id;
            th->name = pool_dup(&a->pool, rec.u.thread.name, rec.u.thread.len);
            if (!th->name) return MT_ERR_NOMEM;
            continue;
        }
        /* A timed record. */
        if (!any_time || rec.t < a->s.t_first) a->s.t_first = rec.t;
        if (rec.t > a->s.t_last) a->s.t_last = rec.t;
        any_time = 1;
        if (rec.type == MT_REC_BLOCK) { /* for the heap's time order (mt_horder.h) */
            if (grow_to((void **)&th->blk, &th->capblk, th->nblk + 1, sizeof *th->blk))
                return MT_ERR_NOMEM;
            th->blk[th->nblk++] = rec.t;
            continue;
        }
        /* When each thread ran (mt_charge.h): the sampler's (tid 0) and
         * samples of other processes say nothing of it. */
        if (rec.tid != 0 && rec.type != MT_REC_RSS && rec.type != MT_REC_COUNTERS &&
            rec.type != MT_REC_PROC_SAMPLE && rec.type != MT_REC_PROC_EXIT &&
            mt_spans_add(&th->spans, rec.t, a->span_gap))
            return MT_ERR_NOMEM;
        if (!th->events || rec.t < th->t_first) th->t_first = rec.t;
        if (rec.t > th->t_last) th->t_last = rec.t;
        th->events++;
        if (rec.type == MT_REC_ALLOC || rec.type == MT_REC_FREE || rec.type == MT_REC_REALLOC) {
            if (!th->heap_records || rec.t < th->heap_t_first) th->heap_t_first = rec.t;
            th->heap_records++;
        }
        switch (rec.type) {
        case MT_REC_RSS:
            if (mt_an_add_sample(a, rec.t, rec.u.rss.bytes)) return MT_ERR_NOMEM;
            break;
        case MT_REC_COUNTERS:
            if (rec.tid == 0 && pymalloc_sample(a, &rec)) return MT_ERR_NOMEM;
            for (uint32_t i = 0; i < rec.u.counters.n; i++) {
                const mt_counter *c = &rec.u.counters.v[i];
                if (c->id == MT_CTR_RSS_BYTES && mt_an_add_sample(a, rec.t, c->value))
                    return MT_ERR_NOMEM;
                if (c->id == MT_CTR_USS_BYTES || c->id == MT_CTR_PSS_BYTES) {
                    uint64_t *pk = c->id == MT_CTR_USS_BYTES ? &a->self_uss_peak
                                                             : &a->self_pss_peak;
                    if (c->value > *pk) *pk = c->value;
                    a->self_has_uss = 1;
                }
            }
            break;
        case MT_REC_PROC_SAMPLE:
            if (proc_sample(a, r, &rec)) return MT_ERR_NOMEM;
            break;
        case MT_REC_PROC_EXIT: {
            uint32_t i = u64map_get(&a->pidmap, rec.u.proc_exit.pid);
            if (i == NONE) break; /* never sampled: not a process of ours */
            a->procs[i].exited = 1;
            a->procs[i].status = rec.u.proc_exit.status;
            if (rec.t > a->procs[i].t_last) a->procs[i].t_last = rec.t;
            if (u64map_put(&a->pidmap, rec.u.proc_exit.pid, NONE)) return MT_ERR_NOMEM;
            break;
        }
        case MT_REC_MARKER: {
            if (grow_to((void **)&a->markers, &a->capmarkers, a->nmarkers + 1,
                        sizeof *a->markers))
                return MT_ERR_NOMEM;
            mt_analysis_marker *m = &a->markers[a->nmarkers++];
            m->t = rec.t;
            m->tid = rec.tid;
            m->len = rec.u.marker.len;
            m->text = pool_dup(&a->pool, rec.u.marker.text, rec.u.marker.len);
            m->rss_bytes = 0;
            if (!m->text) return MT_ERR_NOMEM;
            break;
        }
        case MT_REC_LOST:
            a->s.lost_records++;
            a->s.lost_events += rec.u.lost.events;
            a->s.lost_bytes += rec.u.lost.bytes;
            if (!th->lost_records || rec.t < th->t_lost_first) th->t_lost_first = rec.t;
            if (rec.t > th->t_lost_last) th->t_lost_last = rec.t;
            th->lost_records++;
            th->lost_events += rec.u.lost.events;
            th->lost_bytes += rec.u.lost.bytes;
            break;
        }
    }
    mt_reader_stats st;
    mt_reader_stats_get(r, &st);
    a->s.chunks = st.chunks;
    a->s.damaged_chunks = st.damaged_chunks;
    a->s.damaged_bytes = st.damaged_bytes;
    a->s.closed = st.closed && !mt_reader_fatal(r);
    return 0;
}
