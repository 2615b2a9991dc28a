/*
 * mt_objdiff.c - objects by type in two traces (mt_objdiff.h).
 */
#include "mt_objdiff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct orow {
    const char *name;
    int present[2];
    int64_t created[2], end[2], max[2], end_bytes[2];
} orow;

int mt_objdiff_compared(const mt_analysis *a, const mt_analysis *b) {
    return mt_analysis_objects_get(a)->has_objects && mt_analysis_objects_get(b)->has_objects;
}

static int name_matches(const char *full, const char *name) {
    if (strcmp(full, name) == 0) return 1;
    size_t lf = strlen(full), ln = strlen(name);
    return lf > ln && full[lf - ln - 1] == '.' && strcmp(full + lf - ln, name) == 0;
}

uint32_t mt_objdiff_value(const mt_analysis *an, const char *name, int field, int64_t *v) {
    uint32_t n, k = 0;
    const mt_analysis_object_type *t = mt_analysis_object_types(an, &n);
    *v = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!name_matches(t[i].name, name)) continue;
        k++;
        *v += (int64_t)(field == MT_OBJDIFF_CREATED ? t[i].created
                        : field == MT_OBJDIFF_MAX   ? t[i].live_max
                                                    : t[i].end_count);
    }
    return k;
}

static int cmp_name(const void *x, const void *y) {
    return strcmp(((const orow *)x)->name, ((const orow *)y)->name);
}

static uint64_t mag(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

static int changed(const orow *e) {
    return e->present[0] != e->present[1] || e->end[0] != e->end[1] ||
           e->created[0] != e->created[1] || e->max[0] != e->max[1] ||
           e->end_bytes[0] != e->end_bytes[1];
}

static int cmp_change(const void *x, const void *y) {
    const orow *a = x, *b = y;
    if (changed(a) != changed(b)) return changed(a) ? -1 : 1; /* changed ones first */
    uint64_t ea = mag(a->end[1] - a->end[0]), eb = mag(b->end[1] - b->end[0]);
    if (ea != eb) return ea < eb ? 1 : -1;
    uint64_t ca = mag(a->created[1] - a->created[0]), cb = mag(b->created[1] - b->created[0]);
    if (ca != cb) return ca < cb ? 1 : -1;
    return strcmp(a->name, b->name);
}

/* Rows of both sides matched by name, changed ones first; *nchanged. NULL
 * when out of memory or not compared. */
static orow *rows(const mt_analysis *a, const mt_analysis *b, uint32_t *n, uint32_t *nchanged) {
    uint32_t na, nb;
    const mt_analysis_object_type *ta = mt_analysis_object_types(a, &na);
    const mt_analysis_object_type *tb = mt_analysis_object_types(b, &nb);
    *n = *nchanged = 0;
    orow *r = calloc((size_t)na + nb + 1, sizeof *r);
    if (!r) return NULL;
    uint32_t k = 0;
    for (int sd = 0; sd < 2; sd++) {
        const mt_analysis_object_type *t = sd ? tb : ta;
        for (uint32_t i = 0; i < (sd ? nb : na); i++) {
            orow *e = &r[k++];
            e->name = t[i].name;
            e->present[sd] = 1;
            e->created[sd] = (int64_t)t[i].created;
            e->end[sd] = (int64_t)t[i].end_count;
            e->max[sd] = (int64_t)t[i].live_max;
            e->end_bytes[sd] = (int64_t)t[i].end_bytes;
        }
    }
    qsort(r, k, sizeof *r, cmp_name);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (m && strcmp(r[m - 1].name, r[i].name) == 0) {
            orow *into = &r[m - 1];
            for (int sd = 0; sd < 2; sd++) {
                if (!r[i].present[sd]) continue;
                into->present[sd] = 1;
                into->created[sd] += r[i].created[sd];
                into->end[sd] += r[i].end[sd];
                into->max[sd] += r[i].max[sd];
                into->end_bytes[sd] += r[i].end_bytes[sd];
            }
        } else {
            r[m++] = r[i];
        }
    }
    qsort(r, m, sizeof *r, cmp_change);
    for (uint32_t i = 0; i < m; i++) *nchanged += (uint32_t)changed(&r[i]);
    *n = m;
    return r;
}

static const char *status(const orow *e) {
    return !e->present[0] ? "new" : !e->present[1] ? "gone" : "changed";
}

void mt_objdiff_text(mt_out *o, const mt_analysis *a, const mt_analysis *b, uint32_t top,
                     mt_objreport_line line) {
    if (!mt_objdiff_compared(a, b)) return;
    uint32_t n, nch;
    orow *r = rows(a, b, &n, &nch);
    if (!r) return;
    uint32_t k = top && nch > top ? top : nch;
    const mt_analysis_objects *sa = mt_analysis_objects_get(a), *sb = mt_analysis_objects_get(b);
    line(o, "%s", "");
    line(o, "Objects by type, by |change in alive at the end| (%u shown of %u changed; %u types)",
         (unsigned)k, (unsigned)nch, (unsigned)n);
    line(o, "  %-14s %14llu %14llu %+14lld", "alive at end", (unsigned long long)sa->end_count,
         (unsigned long long)sb->end_count, (long long)sb->end_count - (long long)sa->end_count);
    line(o, "  %-14s %14llu %14llu %+14lld", "created", (unsigned long long)sa->created,
         (unsigned long long)sb->created, (long long)sb->created - (long long)sa->created);
    if (k)
        line(o, "  %10s %10s %10s %12s %12s %12s  %s", "at end A", "at end B", "change",
             "created chg", "max alive A", "max alive B", "type");
    for (uint32_t i = 0; i < k; i++) {
        const orow *e = &r[i];
        const char *st = status(e);
        line(o, "  %10lld %10lld %+10lld %+12lld %12lld %12lld  %s%s%s", (long long)e->end[0],
             (long long)e->end[1], (long long)(e->end[1] - e->end[0]),
             (long long)(e->created[1] - e->created[0]), (long long)e->max[0],
             (long long)e->max[1], e->name, strcmp(st, "changed") ? "  " : "",
             strcmp(st, "changed") ? st : "");
    }
    free(r);
}

/* A change as memtrace-diff writes one: {a, b, delta, pct} (pct: 0 when
 * both are 0, null when only a is). */
static void json_pair(mt_out *o, const char *k, int64_t a, int64_t b) {
    char buf[160], p[48] = "null";
    mt_out_json_key(o, k);
    if (a)
        snprintf(p, sizeof p, "%.4f", 100.0 * ((double)b - (double)a) / fabs((double)a));
    else if (!b)
        snprintf(p, sizeof p, "0.0000");
    if (strcmp(p, "-0.0000") == 0) snprintf(p, sizeof p, "0.0000");
    snprintf(buf, sizeof buf, "{\"a\":%lld,\"b\":%lld,\"delta\":%lld,\"pct\":%s}",
             (long long)a, (long long)b, (long long)(b - a), p);
    mt_out_puts(o, buf);
}

void mt_objdiff_json(mt_out *o, const mt_analysis *a, const mt_analysis *b, uint32_t top) {
    MT_OUT_LIT(o, ",\n\"objects\":");
    uint32_t n, nch;
    orow *r = mt_objdiff_compared(a, b) ? rows(a, b, &n, &nch) : NULL;
    if (!r) {
        MT_OUT_LIT(o, "null");
        return;
    }
    const mt_analysis_objects *sa = mt_analysis_objects_get(a), *sb = mt_analysis_objects_get(b);
    mt_out_putc(o, '{');
    json_pair(o, "end_count", (int64_t)sa->end_count, (int64_t)sb->end_count);
    mt_out_putc(o, ',');
    json_pair(o, "created", (int64_t)sa->created, (int64_t)sb->created);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "types_total", n);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "types_changed", nch);
    MT_OUT_LIT(o, ",\"types\":[");
    uint32_t k = top && nch > top ? top : nch;
    for (uint32_t i = 0; i < k; i++) {
        const orow *e = &r[i];
        mt_out_puts(o, i ? ",\n {" : "\n {");
        mt_out_json_kstr(o, "type", e->name);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "status", status(e));
        mt_out_putc(o, ',');
        json_pair(o, "end_count", e->end[0], e->end[1]);
        mt_out_putc(o, ',');
        json_pair(o, "end_bytes", e->end_bytes[0], e->end_bytes[1]);
        mt_out_putc(o, ',');
        json_pair(o, "created", e->created[0], e->created[1]);
        mt_out_putc(o, ',');
        json_pair(o, "alive_max", e->max[0], e->max[1]);
        mt_out_putc(o, '}');
    }
    MT_OUT_LIT(o, "]}");
    free(r);
}
