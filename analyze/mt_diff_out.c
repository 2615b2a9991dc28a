/*
 * mt_diff_out.c - memtrace-diff's reports: the text for people and the JSON
 * document (schema memtrace-diff/1, in the usage text of memtrace_diff.c),
 * from a diff that memtrace_diff.c has matched, evaluated and ordered.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_diff.h"
#include "mt_objdiff.h"

/* ---- Formatting --------------------------------------------------------- */

static uint32_t shown(uint32_t n, uint32_t top) { return top && n > top ? top : n; }

/* "+1.5 MiB", "-512 B", "0 B". */
static char *fmt_sbytes(char buf[MT_FMT_BYTES + 1], int64_t v) {
    buf[0] = v < 0 ? '-' : '+';
    mt_fmt_bytes(buf + (v != 0), mag(v));
    return buf;
}

static char *fmt_sns(char buf[MT_FMT_BYTES + 1], int64_t v) {
    buf[0] = v < 0 ? '-' : '+';
    mt_fmt_ns(buf + (v != 0), mag(v));
    return buf;
}

static char *fmt_val(char buf[MT_FMT_BYTES + 1], enum unit u, int64_t v, int sign) {
    if (u == U_COUNT) {
        snprintf(buf, MT_FMT_BYTES + 1, sign ? "%+lld" : "%lld", (long long)v);
        return buf;
    }
    if (sign) return u == U_BYTES ? fmt_sbytes(buf, v) : fmt_sns(buf, v);
    if (v < 0) return u == U_BYTES ? fmt_sbytes(buf, v) : fmt_sns(buf, v);
    return u == U_BYTES ? mt_fmt_bytes(buf, (uint64_t)v) : mt_fmt_ns(buf, (uint64_t)v);
}

static char *fmt_pct(char buf[MT_FMT_BYTES], int64_t a, int64_t b) {
    int def;
    double p = pct(a, b, &def);
    if (!def) snprintf(buf, MT_FMT_BYTES, "%s", p > 0 ? "+inf%" : "-inf%");
    else snprintf(buf, MT_FMT_BYTES, "%+.1f%%", p);
    return buf;
}

static void line(mt_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(mt_out *o, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mt_out_puts(o, buf);
    mt_out_putc(o, '\n');
}

/* " *" after a figure that either run's lost events can falsify. */
static unsigned diff_loss(const diff *d) { return d->r[SA].loss | d->r[SB].loss; }

static const char *lm(const diff *d, unsigned what) { return diff_loss(d) & what ? " *" : ""; }

/* "peak: 50.0 MiB -> 60.0 MiB, +10.0 MiB, +20.0%" */
void mt_diff_cond_explain(const cond *c, char *buf, size_t n) {
    char va[MT_FMT_BYTES + 1], vb[MT_FMT_BYTES + 1], dv[MT_FMT_BYTES + 1], pc[MT_FMT_BYTES];
    snprintf(buf, n, "%s -> %s, %s, %s", fmt_val(va, c->unit, c->a, 0),
             fmt_val(vb, c->unit, c->b, 0), fmt_val(dv, c->unit, c->b - c->a, 1),
             fmt_pct(pc, c->a, c->b));
}

/* ---- Text --------------------------------------------------------------- */

static void text_side(mt_out *o, const char *label, const run *r) {
    const mt_header *h = r->s->header;
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
    line(o, "  %s  %s  (%s, mode %s, started %s, %s)", label, r->path,
         h->producer ? h->producer : "?", h->mode ? h->mode : "?", mt_fmt_utc(b1, h->wall_ns),
         mt_fmt_ns(b2, (uint64_t)ticks_ns(r, r->s->t_last)));
}

static void text_row(mt_out *o, const char *label, enum unit u, int64_t a, int64_t b) {
    char va[MT_FMT_BYTES + 1], vb[MT_FMT_BYTES + 1], dv[MT_FMT_BYTES + 1], pc[MT_FMT_BYTES];
    line(o, "  %-14s %14s %14s %14s  %s", label, fmt_val(va, u, a, 0), fmt_val(vb, u, b, 0),
         fmt_val(dv, u, b - a, 1), fmt_pct(pc, a, b));
}

static const char *status_name(const int present[2]) {
    return !present[SA] ? "new" : !present[SB] ? "gone" : "changed";
}

static const char *sort_title(int key, int lines) {
    switch (key) {
    case MT_ANALYSIS_SORT_SELF: return lines ? "growth" : "self RSS growth";
    case MT_ANALYSIS_SORT_CALLS: return lines ? "count" : "calls";
    case MT_ANALYSIS_SORT_TIME: return lines ? "time" : "inclusive time";
    default: return lines ? "growth" : "inclusive RSS growth";
    }
}

/* The frame a site is keyed by within its stack st of run side, and the
 * callers above it: "leaky (app.py:12) <- outer:30 <- main:41". */
static void site_text(mt_out *o, const diff *d, const dsite *e) {
    if (!e->name[0]) {
        MT_OUT_LIT(o, "(no Python frame)");
        return;
    }
    char ln[48];
    mt_out_puts(o, e->name);
    mt_out_puts(o, " (");
    mt_out_puts(o, e->file[0] ? e->file : "?");
    if (e->def_line && !e->line) snprintf(ln, sizeof ln, ")"); /* native: its library */
    else snprintf(ln, sizeof ln, e->def_line ? ", def line %u)" : ":%u)", (unsigned)e->line);
    mt_out_puts(o, ln);
    int sd = e->rep[SB] ? SB : SA;
    const mt_analysis_site *st = e->rep[sd];
    if (!st) return;
    mt_analysis_frame fb;
    uint32_t at = 0;
    const mt_analysis_frame *f = mt_diff_site_frame(&d->r[sd], st, &fb, &at);
    if (!f) return;
    const mt_analysis_frame *fr = mt_analysis_site_frames(d->r[sd].an, st);
    if (!fr) mt_cli_die(1, "out of memory");
    for (uint32_t k = 1; k <= 2 && k <= at; k++) {
        const mt_analysis_frame *g = &fr[at - k];
        mt_out_puts(o, " <- ");
        mt_out_puts(o, mt_diff_frame_name(g));
        if (g->line && d->site_lines) { /* a def line is not a call site */
            snprintf(ln, sizeof ln, ":%u", (unsigned)g->line);
            mt_out_puts(o, ln);
        }
    }
    if (at > 2) MT_OUT_LIT(o, " <- ...");
}

static void text_site_row(mt_out *o, const diff *d, const dsite *e, enum unit u1, int64_t a,
                          int64_t b, int pa, int pb, enum unit u2, int64_t delta2) {
    char b1[MT_FMT_BYTES + 1], b2[MT_FMT_BYTES + 1], b3[MT_FMT_BYTES + 1],
        b4[MT_FMT_BYTES + 1], head[128];
    snprintf(head, sizeof head, "  %12s %12s %12s %12s  ", pa ? fmt_val(b1, u1, a, 0) : "-",
             pb ? fmt_val(b2, u1, b, 0) : "-", fmt_val(b3, u1, b - a, 1),
             fmt_val(b4, u2, delta2, 1));
    mt_out_puts(o, head);
    site_text(o, d, e);
    if (!pa || !pb) mt_out_puts(o, pa ? "  gone" : "  new");
    mt_out_putc(o, '\n');
}

static void text_heap(mt_out *o, const diff *d) {
    const run *A = &d->r[SA], *B = &d->r[SB];
    const mt_analysis_heap *ha = mt_analysis_heap_get(A->an), *hb = mt_analysis_heap_get(B->an);
    line(o, "%s", "");
    int hm = (diff_loss(d) & MT_LOSS_HEAP) != 0;
    line(o, "  %-14s %14s %14s %14s", hm ? "Heap *" : "Heap", "A", "B", "change");
    text_row(o, hm ? "peak *" : "peak", U_BYTES, (int64_t)ha->peak_bytes, (int64_t)hb->peak_bytes);
    text_row(o, "  peak at", U_NS, ticks_ns(A, ha->t_peak), ticks_ns(B, hb->t_peak));
    text_row(o, "  blocks", U_COUNT, (int64_t)ha->peak_blocks, (int64_t)hb->peak_blocks);
    text_row(o, hm ? "leaked (end) *" : "leaked (end)", U_BYTES, (int64_t)ha->total.end_bytes,
             (int64_t)hb->total.end_bytes);
    text_row(o, "  blocks", U_COUNT, (int64_t)ha->end_blocks, (int64_t)hb->end_blocks);
    text_row(o, "allocated", U_BYTES, (int64_t)ha->total.alloc_bytes,
             (int64_t)hb->total.alloc_bytes);
    text_row(o, "  blocks", U_COUNT, (int64_t)ha->total.alloc_count,
             (int64_t)hb->total.alloc_count);
    text_row(o, "freed", U_BYTES, (int64_t)ha->total.free_bytes, (int64_t)hb->total.free_bytes);
    text_row(o, "  blocks", U_COUNT, (int64_t)ha->total.free_count,
             (int64_t)hb->total.free_count);
    for (int dm = 0; dm < MT_DOMAIN_COUNT; dm++) {
        if (!((ha->domain_mask | hb->domain_mask) & (1u << dm))) continue;
        const mt_analysis_heap_domain *x = &ha->domains[dm], *y = &hb->domains[dm];
        char lb[32];
        const char *nm = mt_domain_name((unsigned)dm);
        snprintf(lb, sizeof lb, "%s alloc", nm);
        text_row(o, lb, U_BYTES, (int64_t)x->alloc_bytes, (int64_t)y->alloc_bytes);
        snprintf(lb, sizeof lb, "%s peak", nm);
        text_row(o, lb, U_BYTES, (int64_t)x->peak_bytes, (int64_t)y->peak_bytes);
        snprintf(lb, sizeof lb, "%s end", nm);
        text_row(o, lb, U_BYTES, (int64_t)x->end_bytes, (int64_t)y->end_bytes);
    }
    if (ha->sample_bytes > 1 || hb->sample_bytes > 1)
        line(o, "  (allocations sampled in %s: counts and bytes are estimates)",
             ha->sample_bytes > 1 && hb->sample_bytes > 1 ? "both runs"
             : ha->sample_bytes > 1                      ? "A"
                                                         : "B");

    uint32_t k = shown(d->nhot, d->top);
    line(o, "%s", "");
    line(o, "Allocation sites by |change in bytes allocated| (%u shown of %u changed; %u new, "
            "%u gone; %u in all)%s",
         (unsigned)k, (unsigned)d->nhot, (unsigned)d->nhot_new, (unsigned)d->nhot_gone,
         (unsigned)d->nsites, lm(d, MT_LOSS_HEAP));
    if (k)
        line(o, "  %12s %12s %12s %12s  %s", "bytes A", "bytes B", "change", "blocks change",
             "site (innermost Python frame first)");
    for (uint32_t i = 0; i < k; i++) {
        const dsite *e = d->hot_bytes[i];
        text_site_row(o, d, e, U_BYTES, (int64_t)e->bytes[SA], (int64_t)e->bytes[SB],
                      e->count[SA] != 0, e->count[SB] != 0, U_COUNT,
                      sdelta(e->count[SA], e->count[SB]));
    }
    line(o, "%s", "");
    line(o, "Allocation sites by |change in blocks allocated| (%u shown of %u changed)%s",
         (unsigned)k, (unsigned)d->nhot, lm(d, MT_LOSS_HEAP));
    if (k)
        line(o, "  %12s %12s %12s %12s  %s", "blocks A", "blocks B", "change", "bytes change",
             "site (innermost Python frame first)");
    for (uint32_t i = 0; i < k; i++) {
        const dsite *e = d->hot_count[i];
        text_site_row(o, d, e, U_COUNT, (int64_t)e->count[SA], (int64_t)e->count[SB],
                      e->count[SA] != 0, e->count[SB] != 0, U_BYTES,
                      sdelta(e->bytes[SA], e->bytes[SB]));
    }
    k = shown(d->nleaks, d->top);
    line(o, "%s", "");
    line(o, "Leak sites: still allocated at the end, by |change in bytes| (%u shown of %u "
            "changed; %u new, %u gone)%s",
         (unsigned)k, (unsigned)d->nleaks, (unsigned)d->nleaks_new, (unsigned)d->nleaks_gone,
         lm(d, MT_LOSS_HEAP));
    if (k)
        line(o, "  %12s %12s %12s %12s  %s", "leaked A", "leaked B", "change", "blocks change",
             "site (innermost Python frame first)");
    for (uint32_t i = 0; i < k; i++) {
        const dsite *e = d->leaks[i];
        text_site_row(o, d, e, U_BYTES, (int64_t)e->lbytes[SA], (int64_t)e->lbytes[SB],
                      e->lcount[SA] != 0, e->lcount[SB] != 0, U_COUNT,
                      sdelta(e->lcount[SA], e->lcount[SB]));
    }
}

void mt_diff_text_report(mt_out *o, const diff *d) {
    const run *A = &d->r[SA], *B = &d->r[SB];
    const mt_analysis_summary *sa = A->s, *sb = B->s;
    for (int sd = 0; sd < 2; sd++)
        if (d->r[sd].loss_text) line(o, "WARNING: %s", d->r[sd].loss_text);
    if (d->r[SA].loss_text || d->r[SB].loss_text) line(o, "%s", "");
    line(o, "%s", "memtrace-diff: B - A");
    text_side(o, "A", A);
    text_side(o, "B", B);

    line(o, "%s", "");
    line(o, "  %-14s %14s %14s %14s", "Run", "A", "B", "change");
    text_row(o, "duration", U_NS, ticks_ns(A, sa->t_last), ticks_ns(B, sb->t_last));
    if (d->cmp_rss) {
        text_row(o, "RSS start", U_BYTES, (int64_t)sa->rss_start, (int64_t)sb->rss_start);
        text_row(o, diff_loss(d) & MT_LOSS_RSS ? "RSS peak *" : "RSS peak", U_BYTES,
                 (int64_t)sa->rss_peak, (int64_t)sb->rss_peak);
        text_row(o, "  peak at", U_NS, ticks_ns(A, sa->t_peak), ticks_ns(B, sb->t_peak));
        text_row(o, "RSS end", U_BYTES, (int64_t)sa->rss_end, (int64_t)sb->rss_end);
    } else {
        line(o, "  %-14s %s", "RSS", "not compared");
    }
    text_row(o, "records", U_COUNT, (int64_t)sa->records, (int64_t)sb->records);
    text_row(o, diff_loss(d) & MT_LOSS_CALLS ? "calls *" : "calls", U_COUNT,
             (int64_t)sa->calls, (int64_t)sb->calls);
    text_row(o, "lost events", U_COUNT, (int64_t)sa->lost_events, (int64_t)sb->lost_events);

    line(o, "%s", "");
    if (!d->cmp_funcs) {
        line(o, "%s", "Functions: not compared");
    } else {
        uint32_t k = shown(d->nchanged, d->top);
        line(o, "Functions by |change in %s| (%u shown of %u changed; %u new, %u gone; %u in all)%s",
             sort_title(d->sort, 0), (unsigned)k, (unsigned)d->nchanged, (unsigned)d->nnew,
             (unsigned)d->ngone, (unsigned)d->nfuncs, lm(d, MT_LOSS_CALLS | MT_LOSS_RSS));
        if (k)
            line(o, "  %12s %12s %12s %12s %10s %12s  %s", "incl A", "incl B", "incl change",
                 "self change", "calls", "time change", "function (file:line)");
        for (uint32_t i = 0; i < k; i++) {
            const dfunc *f = &d->funcs[i];
            char b1[MT_FMT_BYTES + 1], b2[MT_FMT_BYTES + 1], b3[MT_FMT_BYTES + 1],
                b4[MT_FMT_BYTES + 1], b5[MT_FMT_BYTES + 1], b6[MT_FMT_BYTES + 1];
            const char *st = status_name(f->present);
            line(o, "  %12s %12s %12s %12s %10s %12s  %s (%s:%u)%s%s",
                 f->present[SA] ? fmt_sbytes(b1, f->incl[SA]) : "-",
                 f->present[SB] ? fmt_sbytes(b2, f->incl[SB]) : "-",
                 fmt_sbytes(b3, f->incl[SB] - f->incl[SA]),
                 fmt_sbytes(b4, f->self[SB] - f->self[SA]),
                 fmt_val(b5, U_COUNT, (int64_t)(f->calls[SB] - f->calls[SA]), 1),
                 fmt_sns(b6, f->incl_ns[SB] - f->incl_ns[SA]), f->name,
                 f->file[0] ? f->file : "?", (unsigned)f->first_line,
                 strcmp(st, "changed") ? "  " : "", strcmp(st, "changed") ? st : "");
        }
        const char *title[2] = {"New in B", "Gone from B"};
        dfunc *const *list[2] = {d->appeared, d->vanished};
        uint32_t n[2] = {d->nnew, d->ngone};
        for (int w = 0; w < 2; w++) {
            if (!n[w]) continue;
            line(o, "%s", "");
            line(o, "%s (%u of %u)", title[w], (unsigned)shown(n[w], d->top), (unsigned)n[w]);
            for (uint32_t i = 0; i < shown(n[w], d->top); i++) {
                const dfunc *f = list[w][i];
                int sd = the_side(f);
                char b1[MT_FMT_BYTES + 1];
                line(o, "  %12s %10llu calls  %s (%s:%u)", fmt_sbytes(b1, f->incl[sd]),
                     (unsigned long long)f->calls[sd], f->name, f->file[0] ? f->file : "?",
                     (unsigned)f->first_line);
            }
        }
    }

    if (d->cmp_lines) {
        uint32_t k = shown(d->nlines_changed, d->top);
        line(o, "%s", "");
        line(o, "Lines by |change in %s| (%u shown of %u changed; %u in all)", sort_title(d->sort, 1),
             (unsigned)k, (unsigned)d->nlines_changed, (unsigned)d->nlines);
        if (k)
            line(o, "  %12s %12s %12s %10s %12s  %s", "growth A", "growth B", "change",
                 "count", "time change", "line (function)");
        for (uint32_t i = 0; i < k; i++) {
            const dline *l = &d->lines[i];
            char b1[MT_FMT_BYTES + 1], b2[MT_FMT_BYTES + 1], b3[MT_FMT_BYTES + 1],
                b4[MT_FMT_BYTES + 1], b5[MT_FMT_BYTES + 1];
            const char *st = status_name(l->present);
            line(o, "  %12s %12s %12s %10s %12s  %s:%u (%s)%s%s",
                 l->present[SA] ? fmt_sbytes(b1, l->growth[SA]) : "-",
                 l->present[SB] ? fmt_sbytes(b2, l->growth[SB]) : "-",
                 fmt_sbytes(b3, l->growth[SB] - l->growth[SA]),
                 fmt_val(b4, U_COUNT, (int64_t)(l->count[SB] - l->count[SA]), 1),
                 fmt_sns(b5, l->ns[SB] - l->ns[SA]), l->file[0] ? l->file : "?",
                 (unsigned)l->line, l->name[0] ? l->name : "?",
                 strcmp(st, "changed") ? "  " : "", strcmp(st, "changed") ? st : "");
        }
    }

    if (d->cmp_heap) text_heap(o, d);
    mt_objdiff_text(o, A->an, B->an, d->top, line);

    if (d->nconds) {
        line(o, "%s", "");
        line(o, "%s", "Conditions (--fail-if)");
        for (uint32_t i = 0; i < d->nconds; i++) {
            char ex[256];
            mt_diff_cond_explain(&d->conds[i], ex, sizeof ex);
            line(o, "  %-5s %s  (%s)", d->conds[i].result ? "TRUE" : "false", d->conds[i].expr,
                 ex);
        }
    }
    if (d->nwarnings) {
        line(o, "%s", "");
        for (uint32_t i = 0; i < d->nwarnings; i++) line(o, "Warning: %s", d->warnings[i]);
    }
    for (int sd = 0; sd < 2; sd++) {
        const run *r = &d->r[sd];
        const mt_analysis_summary *s = r->s;
        if (!r->damaged) continue;
        line(o, "%s", "");
        line(o, "DAMAGED TRACE %s: %llu of %llu chunks damaged, %llu bytes skipped; "
                "this diff covers its intact part only",
             r->path, (unsigned long long)s->damaged_chunks,
             (unsigned long long)(s->chunks + s->damaged_chunks),
             (unsigned long long)s->damaged_bytes);
        for (uint32_t i = 0; i < s->nmessages; i++) line(o, "  %s", s->messages[i]);
        if (s->nmessages_total > s->nmessages)
            line(o, "  ... and %llu more", (unsigned long long)(s->nmessages_total - s->nmessages));
    }
}

/* ---- JSON --------------------------------------------------------------- */


/* Signed nanoseconds as seconds with 9 decimals. */
static void json_sec(mt_out *o, int64_t ns) {
    if (ns < 0) mt_out_putc(o, '-');
    mt_out_seconds(o, mag(ns), 1000000000u);
}

static void json_val(mt_out *o, enum unit u, int64_t v) {
    if (u == U_NS) json_sec(o, v);
    else mt_out_i64(o, v);
}

/* The keys of a change: "a":..,"b":..,"delta":..,"pct":.. */
static void json_d_fields(mt_out *o, enum unit u, int64_t a, int64_t b) {
    MT_OUT_LIT(o, "\"a\":");
    json_val(o, u, a);
    MT_OUT_LIT(o, ",\"b\":");
    json_val(o, u, b);
    MT_OUT_LIT(o, ",\"delta\":");
    json_val(o, u, b - a);
    MT_OUT_LIT(o, ",\"pct\":");
    int def;
    double p = pct(a, b, &def);
    if (!def) {
        MT_OUT_LIT(o, "null");
    } else {
        char buf[64];
        snprintf(buf, sizeof buf, "%.4f", p);
        mt_out_puts(o, strcmp(buf, "-0.0000") == 0 ? "0.0000" : buf);
    }
}

/* A change D: {"a":..,"b":..,"delta":..,"pct":..}. */
static void json_d(mt_out *o, const char *k, enum unit u, int64_t a, int64_t b) {
    mt_out_json_key(o, k);
    mt_out_putc(o, '{');
    json_d_fields(o, u, a, b);
    mt_out_putc(o, '}');
}

static void json_side(mt_out *o, const char *k, const run *r) {
    const mt_header *h = r->s->header;
    char buf[256];
    mt_out_json_key(o, k);
    mt_out_putc(o, '{');
    mt_out_json_kstr(o, "file", r->path);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "mode", h->mode);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "producer", h->producer);
    mt_out_putc(o, ',');
    snprintf(buf, sizeof buf, "%s%s%s", h->python_implementation ? h->python_implementation : "",
             h->python_implementation && h->python_version ? " " : "",
             h->python_version ? h->python_version : "");
    mt_out_json_kstr(o, "python", buf);
    MT_OUT_LIT(o, ",\"command\":[");
    for (uint32_t i = 0; i < h->argc; i++) {
        if (i) mt_out_putc(o, ',');
        mt_out_json_str(o, h->argv[i], strlen(h->argv[i]));
    }
    MT_OUT_LIT(o, "],");
    mt_out_json_kstr(o, "start_utc", mt_fmt_utc(buf, h->wall_ns));
    MT_OUT_LIT(o, ",\"content\":[");
    const char *sep = "";
    for (unsigned b = 0; b < 32; b++) {
        if (!(h->content & (1u << b))) continue;
        const char *nm = mt_cli_content_name(b);
        char tmp[16];
        if (!nm) snprintf(tmp, sizeof tmp, "bit%u", b), nm = tmp;
        mt_out_puts(o, sep);
        mt_out_json_str(o, nm, strlen(nm));
        sep = ",";
    }
    MT_OUT_LIT(o, "],");
    mt_out_json_kbool(o, "closed", r->s->closed);
    mt_out_putc(o, ',');
    mt_out_json_kbool(o, "damaged", r->damaged);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "lost_events", r->s->lost_events);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "lost_bytes", r->s->lost_bytes);
    mt_out_putc(o, ',');
    mt_out_json_kbool(o, "falsified_by_loss", r->loss != 0);
    mt_out_putc(o, '}');
}

static void json_presence(mt_out *o, dfunc *const *list, uint32_t n, uint32_t top) {
    for (uint32_t i = 0; i < shown(n, top); i++) {
        const dfunc *f = list[i];
        int sd = the_side(f);
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_kstr(o, "function", f->name);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "module", f->module);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "file", f->file);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "first_line", f->first_line);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "calls", f->calls[sd]);
        mt_out_putc(o, ',');
        mt_out_json_key(o, "incl_bytes");
        mt_out_i64(o, f->incl[sd]);
        mt_out_putc(o, '}');
    }
}

static void json_sites(mt_out *o, const diff *d, const char *k, dsite *const *list,
                       uint32_t n, int leaks) {
    MT_OUT_LIT(o, ",\n ");
    mt_out_json_key(o, k);
    mt_out_putc(o, '[');
    for (uint32_t i = 0; i < shown(n, d->top); i++) {
        const dsite *e = list[i];
        int present[2];
        for (int sd = 0; sd < 2; sd++) present[sd] = (leaks ? e->lcount[sd] : e->count[sd]) != 0;
        mt_out_puts(o, i ? ",\n  {" : "\n  {");
        mt_out_json_kstr(o, "function", e->name);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "module", e->module);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "file", e->file);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "line", e->line);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "status", status_name(present));
        mt_out_putc(o, ',');
        json_d(o, "alloc_bytes", U_BYTES, (int64_t)e->bytes[SA], (int64_t)e->bytes[SB]);
        mt_out_putc(o, ',');
        json_d(o, "alloc_count", U_COUNT, (int64_t)e->count[SA], (int64_t)e->count[SB]);
        mt_out_putc(o, ',');
        json_d(o, "leak_bytes", U_BYTES, (int64_t)e->lbytes[SA], (int64_t)e->lbytes[SB]);
        mt_out_putc(o, ',');
        json_d(o, "leak_count", U_COUNT, (int64_t)e->lcount[SA], (int64_t)e->lcount[SB]);
        MT_OUT_LIT(o, ",\"stack\":[");
        int rs = e->rep[SB] ? SB : SA;
        const mt_analysis_site *st = e->rep[rs];
        const mt_analysis_frame *fr = st ? mt_analysis_site_frames(d->r[rs].an, st) : NULL;
        if (st && st->depth && !fr) mt_cli_die(1, "out of memory");
        for (uint32_t f = 0; st && f < st->depth; f++) {
            const mt_analysis_frame *g = &fr[f];
            mt_out_puts(o, f ? ",{" : "{");
            mt_out_json_kstr(o, "function", mt_diff_frame_name(g));
            mt_out_putc(o, ',');
            mt_out_json_kstr(o, "file", g->file);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "line", g->line ? g->line : g->first_line);
            mt_out_putc(o, '}');
        }
        MT_OUT_LIT(o, "]}");
    }
    mt_out_putc(o, ']');
}

static void json_hdomain(mt_out *o, const mt_analysis_heap_domain *x,
                         const mt_analysis_heap_domain *y, int all) {
    json_d(o, "alloc_bytes", U_BYTES, (int64_t)x->alloc_bytes, (int64_t)y->alloc_bytes);
    mt_out_putc(o, ',');
    json_d(o, "alloc_count", U_COUNT, (int64_t)x->alloc_count, (int64_t)y->alloc_count);
    if (all) {
        mt_out_putc(o, ',');
        json_d(o, "free_bytes", U_BYTES, (int64_t)x->free_bytes, (int64_t)y->free_bytes);
        mt_out_putc(o, ',');
        json_d(o, "free_count", U_COUNT, (int64_t)x->free_count, (int64_t)y->free_count);
        return;
    }
    mt_out_putc(o, ',');
    json_d(o, "peak_bytes", U_BYTES, (int64_t)x->peak_bytes, (int64_t)y->peak_bytes);
    mt_out_putc(o, ',');
    json_d(o, "end_bytes", U_BYTES, (int64_t)x->end_bytes, (int64_t)y->end_bytes);
}

/* The "heap" object, last in the document: added within schema 1. */
static void json_heap(mt_out *o, const diff *d) {
    const run *A = &d->r[SA], *B = &d->r[SB];
    const mt_analysis_heap *ha = mt_analysis_heap_get(A->an), *hb = mt_analysis_heap_get(B->an);
    MT_OUT_LIT(o, ",\n\"heap\":{");
    mt_out_json_kbool(o, "estimated", ha->sample_bytes > 1 || hb->sample_bytes > 1);
    mt_out_putc(o, ',');
    json_d(o, "sample_bytes", U_BYTES, (int64_t)ha->sample_bytes, (int64_t)hb->sample_bytes);
    MT_OUT_LIT(o, ",\n ");
    json_d(o, "peak_bytes", U_BYTES, (int64_t)ha->peak_bytes, (int64_t)hb->peak_bytes);
    mt_out_putc(o, ',');
    json_d(o, "peak_time_s", U_NS, ticks_ns(A, ha->t_peak), ticks_ns(B, hb->t_peak));
    mt_out_putc(o, ',');
    json_d(o, "peak_blocks", U_COUNT, (int64_t)ha->peak_blocks, (int64_t)hb->peak_blocks);
    MT_OUT_LIT(o, ",\n ");
    json_d(o, "end_bytes", U_BYTES, (int64_t)ha->total.end_bytes, (int64_t)hb->total.end_bytes);
    mt_out_putc(o, ',');
    json_d(o, "end_blocks", U_COUNT, (int64_t)ha->end_blocks, (int64_t)hb->end_blocks);
    MT_OUT_LIT(o, ",\n ");
    json_hdomain(o, &ha->total, &hb->total, 1);
    MT_OUT_LIT(o, ",\n \"domains\":[");
    const char *sep = "";
    for (int dm = 0; dm < MT_DOMAIN_COUNT; dm++) {
        if (!((ha->domain_mask | hb->domain_mask) & (1u << dm))) continue;
        mt_out_puts(o, sep);
        sep = ",\n  ";
        mt_out_putc(o, '{');
        mt_out_json_kstr(o, "domain", mt_domain_name((unsigned)dm));
        mt_out_putc(o, ',');
        json_hdomain(o, &ha->domains[dm], &hb->domains[dm], 0);
        mt_out_putc(o, '}');
    }
    mt_out_putc(o, ']');
    json_sites(o, d, "hotspots_by_bytes", d->hot_bytes, d->nhot, 0);
    json_sites(o, d, "hotspots_by_count", d->hot_count, d->nhot, 0);
    json_sites(o, d, "leaks", d->leaks, d->nleaks, 1);
    MT_OUT_LIT(o, ",\n ");
    mt_out_json_ku(o, "sites_total", d->nsites);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "sites_changed", d->nhot);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "sites_new", d->nhot_new);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "sites_gone", d->nhot_gone);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "leaks_changed", d->nleaks);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "leaks_new", d->nleaks_new);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "leaks_gone", d->nleaks_gone);
    mt_out_putc(o, ',');
    mt_out_json_kbool(o, "falsified_by_loss", (diff_loss(d) & MT_LOSS_HEAP) != 0);
    mt_out_putc(o, '}');
}

void mt_diff_json_report(mt_out *o, const diff *d) {
    const run *A = &d->r[SA], *B = &d->r[SB];
    const mt_analysis_summary *sa = A->s, *sb = B->s;
    MT_OUT_LIT(o, "{\"schema\":\"memtrace-diff/1\",\n");
    json_side(o, "a", A);
    MT_OUT_LIT(o, ",\n");
    json_side(o, "b", B);
    MT_OUT_LIT(o, ",\n\"compared\":{");
    mt_out_json_kbool(o, "rss", d->cmp_rss);
    mt_out_putc(o, ',');
    mt_out_json_kbool(o, "functions", d->cmp_funcs);
    mt_out_putc(o, ',');
    mt_out_json_kbool(o, "c_functions", d->cmp_cfuncs);
    mt_out_putc(o, ',');
    mt_out_json_kbool(o, "lines", d->cmp_lines);
    MT_OUT_LIT(o, "},\n\"warnings\":[");
    for (uint32_t i = 0; i < d->nwarnings; i++) {
        if (i) mt_out_putc(o, ',');
        mt_out_json_str(o, d->warnings[i], strlen(d->warnings[i]));
    }
    MT_OUT_LIT(o, "],\n\"run\":{");
    json_d(o, "duration_s", U_NS, ticks_ns(A, sa->t_last), ticks_ns(B, sb->t_last));
    mt_out_putc(o, ',');
    json_d(o, "rss_start_bytes", U_BYTES, (int64_t)sa->rss_start, (int64_t)sb->rss_start);
    mt_out_putc(o, ',');
    json_d(o, "rss_peak_bytes", U_BYTES, (int64_t)sa->rss_peak, (int64_t)sb->rss_peak);
    mt_out_putc(o, ',');
    json_d(o, "rss_peak_time_s", U_NS, ticks_ns(A, sa->t_peak), ticks_ns(B, sb->t_peak));
    mt_out_putc(o, ',');
    json_d(o, "rss_end_bytes", U_BYTES, (int64_t)sa->rss_end, (int64_t)sb->rss_end);
    mt_out_putc(o, ',');
    json_d(o, "events", U_COUNT, (int64_t)sa->records, (int64_t)sb->records);
    mt_out_putc(o, ',');
    json_d(o, "calls", U_COUNT, (int64_t)sa->calls, (int64_t)sb->calls);
    mt_out_putc(o, ',');
    json_d(o, "lost_events", U_COUNT, (int64_t)sa->lost_events, (int64_t)sb->lost_events);

    MT_OUT_LIT(o, "},\n\"functions\":[");
    for (uint32_t i = 0; i < shown(d->nchanged, d->top); i++) {
        const dfunc *f = &d->funcs[i];
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_kstr(o, "function", f->name);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "module", f->module);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "file", f->file);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "first_line", f->first_line);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "kind", f->kind == MT_FUNC_C ? "c" : "python");
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "status", status_name(f->present));
        mt_out_putc(o, ',');
        json_d(o, "calls", U_COUNT, (int64_t)f->calls[SA], (int64_t)f->calls[SB]);
        mt_out_putc(o, ',');
        json_d(o, "incl_bytes", U_BYTES, f->incl[SA], f->incl[SB]);
        mt_out_putc(o, ',');
        json_d(o, "self_bytes", U_BYTES, f->self[SA], f->self[SB]);
        mt_out_putc(o, ',');
        json_d(o, "incl_s", U_NS, f->incl_ns[SA], f->incl_ns[SB]);
        mt_out_putc(o, ',');
        json_d(o, "self_s", U_NS, f->self_ns[SA], f->self_ns[SB]);
        mt_out_putc(o, ',');
        json_d(o, "peak_growth_bytes", U_BYTES, f->peak[SA], f->peak[SB]);
        mt_out_putc(o, '}');
    }
    MT_OUT_LIT(o, "],\n\"lines\":[");
    for (uint32_t i = 0; i < shown(d->nlines_changed, d->top); i++) {
        const dline *l = &d->lines[i];
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_kstr(o, "file", l->file);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "line", l->line);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "function", l->name);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "status", status_name(l->present));
        mt_out_putc(o, ',');
        json_d(o, "count", U_COUNT, (int64_t)l->count[SA], (int64_t)l->count[SB]);
        mt_out_putc(o, ',');
        json_d(o, "growth_bytes", U_BYTES, l->growth[SA], l->growth[SB]);
        mt_out_putc(o, ',');
        json_d(o, "time_s", U_NS, l->ns[SA], l->ns[SB]);
        mt_out_putc(o, '}');
    }
    MT_OUT_LIT(o, "],\n\"appeared\":[");
    json_presence(o, d->appeared, d->nnew, d->top);
    MT_OUT_LIT(o, "],\n\"vanished\":[");
    json_presence(o, d->vanished, d->ngone, d->top);
    MT_OUT_LIT(o, "],\n\"conditions\":[");
    int failed = 0;
    for (uint32_t i = 0; i < d->nconds; i++) {
        const cond *c = &d->conds[i];
        static const char *const unames[] = {"bytes", "s", "count"};
        failed |= c->result;
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_kstr(o, "expr", c->expr);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "unit", unames[c->unit]);
        mt_out_putc(o, ',');
        json_d_fields(o, c->unit, c->a, c->b);
        mt_out_putc(o, ',');
        mt_out_json_kbool(o, "true", c->result);
        mt_out_putc(o, '}');
    }
    MT_OUT_LIT(o, "],\n");
    mt_out_json_kbool(o, "failed", failed);
    MT_OUT_LIT(o, ",\n\"damage\":{");
    for (int sd = 0; sd < 2; sd++) {
        const run *r = &d->r[sd];
        const mt_analysis_summary *s = r->s;
        if (sd) mt_out_putc(o, ',');
        mt_out_json_key(o, sd ? "b" : "a");
        mt_out_putc(o, '{');
        mt_out_json_kbool(o, "damaged", r->damaged);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "damaged_chunks", s->damaged_chunks);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "bytes_skipped", s->damaged_bytes);
        MT_OUT_LIT(o, ",\"messages\":[");
        for (uint32_t i = 0; i < s->nmessages; i++) {
            if (i) mt_out_putc(o, ',');
            mt_out_json_str(o, s->messages[i], strlen(s->messages[i]));
        }
        MT_OUT_LIT(o, "]}");
    }
    MT_OUT_LIT(o, "},\n\"report\":{");
    static const char *const snames[] = {"incl", "self", "calls", "time"};
    mt_out_json_kstr(o, "sort", snames[d->sort]);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "top", d->top);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "functions_total", d->nfuncs);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "functions_changed", d->nchanged);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "functions_new", d->nnew);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "functions_gone", d->ngone);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "lines_total", d->nlines);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "lines_changed", d->nlines_changed);
    mt_out_putc(o, '}');
    if (d->cmp_heap) json_heap(o, d);
    mt_objdiff_json(o, A->an, B->an, d->top);
    MT_OUT_LIT(o, "}\n");
}
