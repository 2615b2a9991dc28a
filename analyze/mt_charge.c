/* mt_charge.c - RSS growth charged to the threads that ran (mt_charge.h). */

#include "mt_charge.h"

#include <stdlib.h>
#include <string.h>

static int grow(void **p, uint64_t *cap, uint64_t need, size_t sz) {
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

int mt_spans_add_slow(mt_spans *s, uint64_t t, uint64_t gap) {
    if (s->n) {
        struct mt_span *l = &s->v[s->n - 1];
        if (t >= l->t0 && t <= l->t1) return 0;
        if (t > l->t1 && t - l->t1 <= gap) {
            l->t1 = t;
            return 0;
        }
        if (t < l->t0) s->sorted = 0;
    } else {
        s->sorted = 1;
    }
    if (grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) return -1;
    s->v[s->n++] = (struct mt_span){t, t};
    return 0;
}

static int cmp_span(const void *x, const void *y) {
    const struct mt_span *p = x, *q = y;
    return (p->t0 > q->t0) - (p->t0 < q->t0);
}

void mt_spans_finish(mt_spans *s, uint64_t gap) {
    if (!s->n) return;
    if (!s->sorted) qsort(s->v, s->n, sizeof *s->v, cmp_span);
    s->sorted = 1;
    uint64_t j = 0;
    for (uint64_t i = 1; i < s->n; i++) {
        struct mt_span *l = &s->v[j];
        if (s->v[i].t0 <= l->t1 || s->v[i].t0 - l->t1 <= gap) {
            if (s->v[i].t1 > l->t1) l->t1 = s->v[i].t1;
        } else {
            s->v[++j] = s->v[i];
        }
    }
    s->n = j + 1;
}

void mt_spans_free(mt_spans *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int push(mt_charges *c, uint64_t k, int64_t share) {
    int64_t cum = (c->n ? c->v[c->n - 1].cum : 0) + share;
    if (c->n && c->v[c->n - 1].k == k) {
        c->v[c->n - 1].cum = cum;
        return 0;
    }
    if (grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v)) return -1;
    c->v[c->n++] = (struct mt_charge_step){k, cum};
    return 0;
}

int mt_charge(const mt_analysis_sample *s, const uint64_t *since, uint64_t n,
              mt_spans *const *spans, uint64_t nthreads, mt_charges *out) {
    /* live: threads with spans left, compacted as they run out (a test
     * suite may start thousands of short threads); the latest record of
     * those gone is kept aside for the "nobody ran" rule. */
    uint64_t *pos = calloc(nthreads ? nthreads : 1, sizeof *pos);
    uint64_t *ran = calloc(nthreads ? nthreads : 1, sizeof *ran);
    uint64_t *live = calloc(nthreads ? nthreads : 1, sizeof *live);
    uint64_t nlive = 0, gone_last = 0, gone_best = UINT64_MAX;
    int rc = -1;
    if (!pos || !ran || !live) goto out;
    for (uint64_t i = 0; i < nthreads; i++)
        if (spans[i] && spans[i]->n) live[nlive++] = i;
    for (uint64_t k = 1; k < n; k++) {
        int64_t delta = (int64_t)(s[k].rss_bytes - s[k - 1].rss_bytes);
        uint64_t lo = since[k], hi = s[k].t, nran = 0;
        uint64_t latest = gone_last, best = gone_best;
        for (uint64_t j = 0; j < nlive; j++) {
            uint64_t i = live[j];
            const mt_spans *sp = spans[i];
            uint64_t p = pos[i];
            while (p < sp->n && sp->v[p].t1 <= lo) p++; /* spans ended before */
            pos[i] = p;
            if (p < sp->n && sp->v[p].t0 <= hi) {
                ran[nran++] = i; /* [t0, t1] meets (lo, hi] */
                continue;
            }
            if (p > 0 && (best == UINT64_MAX || sp->v[p - 1].t1 > latest)) {
                latest = sp->v[p - 1].t1; /* its latest record before hi */
                best = i;
            }
            if (p == sp->n) { /* no record after lo: gone for good */
                if (gone_best == UINT64_MAX || sp->v[p - 1].t1 > gone_last) {
                    gone_last = sp->v[p - 1].t1;
                    gone_best = i;
                }
                live[j--] = live[--nlive];
            }
        }
        if (!delta) continue;
        if (!nran) {
            if (best == UINT64_MAX) continue; /* before any thread's record */
            ran[nran++] = best;
        }
        /* Shares in tid order whatever the live array's order. */
        for (uint64_t a = 1; a < nran; a++)
            for (uint64_t b = a; b > 0 && ran[b - 1] > ran[b]; b--) {
                uint64_t x = ran[b];
                ran[b] = ran[b - 1];
                ran[b - 1] = x;
            }
        int64_t share = delta / (int64_t)nran, rest = delta - share * (int64_t)nran;
        for (uint64_t j = 0; j < nran; j++)
            if (push(&out[ran[j]], k, share + (j == 0 ? rest : 0))) goto out;
    }
    rc = 0;
out:
    free(pos);
    free(ran);
    free(live);
    return rc;
}

int64_t mt_charges_at_slow(const mt_charges *c, int64_t k, uint64_t *hint) {
    if (k < 0 || !c->n || c->v[0].k > (uint64_t)k) {
        *hint = 0;
        return 0;
    }
    uint64_t a = 0, b = c->n; /* the last step at or before k lies in [a, b) */
    if (*hint + 1 < c->n && c->v[*hint + 1].k <= (uint64_t)k) a = *hint + 1; /* forward */
    while (b - a > 1) {
        uint64_t m = a + (b - a) / 2;
        if (c->v[m].k <= (uint64_t)k) a = m; else b = m;
    }
    *hint = a;
    return c->v[a].cum;
}

void mt_charges_free(mt_charges *c) {
    free(c->v);
    memset(c, 0, sizeof *c);
}
