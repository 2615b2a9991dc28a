/*
 * mt_tree.c - allocation sites as a tree of call paths (see mt_tree.h).
 */
#include "mt_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
/* Levels shown below the root: a deep recursion's path (100,000 frames)
 * would be as many lines, and as many C stack frames here. */
#define MAX_LEVELS 200

typedef struct tnode {
    const char *qualname, *file; /* borrowed from the analysis */
    uint32_t line, first_line;
    uint64_t bytes, count;
    uint32_t parent;
    uint32_t first_child, next_sibling; /* NONE: none */
    uint32_t nchildren;
} tnode;

struct mt_tree {
    tnode *n;
    uint32_t len, cap;
    uint64_t *map; /* open addressing: (hash of parent and frame) -> node + 1 */
    uint64_t mapcap;
};

static const char IMPORT_SYSTEM[] = "<import system>";

static int is_import_frame(const mt_analysis_frame *f) {
    return strncmp(f->file, "<frozen importlib._bootstrap", 28) == 0;
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint64_t str_hash(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

static uint64_t key_of(uint32_t parent, const char *q, const char *file, uint32_t line,
                       uint32_t first) {
    uint64_t h = str_hash(str_hash(0xcbf29ce484222325ULL, q), file);
    return mix(h ^ mix(((uint64_t)parent << 32) ^ ((uint64_t)line << 16) ^ first));
}

/* The child of parent for this frame, made if new; NONE on failure. The map
 * holds node + 1 in the low 32 bits and the key's high 32 bits above; a hit
 * is compared with the node's fields. */
static uint32_t child(mt_tree *t, uint32_t parent, const char *q, const char *file,
                      uint32_t line, uint32_t first) {
    if ((uint64_t)(t->len + 1) * 2 > t->mapcap) {
        /* Rebuilt from the nodes' own keys. */
        uint64_t cap = t->mapcap ? t->mapcap * 2 : 1024;
        uint64_t *m = calloc(cap, sizeof *m);
        if (!m) return NONE;
        for (uint32_t c = 1; c < t->len; c++) { /* 0, the root, is no child */
            const tnode *x = &t->n[c];
            uint64_t k = key_of(x->parent, x->qualname, x->file, x->line, x->first_line);
            uint64_t i = k & (cap - 1);
            while (m[i]) i = (i + 1) & (cap - 1);
            m[i] = (k & 0xffffffff00000000ULL) | (uint64_t)(c + 1);
        }
        free(t->map);
        t->map = m;
        t->mapcap = cap;
    }
    uint64_t k = key_of(parent, q, file, line, first);
    uint64_t i = k & (t->mapcap - 1);
    for (; t->map[i]; i = (i + 1) & (t->mapcap - 1)) {
        if ((t->map[i] & 0xffffffff00000000ULL) != (k & 0xffffffff00000000ULL)) continue;
        uint32_t c = (uint32_t)(t->map[i] & 0xffffffffu) - 1;
        const tnode *x = &t->n[c];
        if (x->parent == parent && x->line == line && x->first_line == first &&
            strcmp(x->qualname, q) == 0 && strcmp(x->file, file) == 0)
            return c;
    }
    if (t->len == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 256;
        tnode *n = realloc(t->n, cap * sizeof *n);
        if (!n) return NONE;
        t->n = n;
        t->cap = cap;
    }
    uint32_t c = t->len++;
    t->n[c] = (tnode){q, file, line, first, 0, 0, parent, NONE, t->n[parent].first_child, 0};
    t->n[parent].first_child = c;
    t->n[parent].nchildren++;
    t->map[i] = (k & 0xffffffff00000000ULL) | (uint64_t)(c + 1);
    return c;
}

int mt_tree_build(mt_tree **out, const mt_analysis *a, const mt_analysis_site *sites, uint32_t n,
                  int fold_imports) {
    *out = NULL;
    mt_tree *t = calloc(1, sizeof *t);
    if (!t || !(t->n = malloc(256 * sizeof *t->n))) {
        free(t);
        return MT_ERR_NOMEM;
    }
    /* Each site's frames into one scratch buffer (not kept: the names they
     * point to are the analysis's). */
    uint32_t maxd = 0;
    for (uint32_t s = 0; s < n; s++)
        if (sites[s].depth > maxd) maxd = sites[s].depth;
    mt_analysis_frame *fr = malloc((maxd ? maxd : 1) * sizeof *fr);
    if (!fr) {
        mt_tree_free(t);
        return MT_ERR_NOMEM;
    }
    t->cap = 256;
    t->len = 1;
    t->n[0] = (tnode){"<all>", "", 0, 0, 0, 0, NONE, NONE, NONE, 0};
    for (uint32_t s = 0; s < n; s++) {
        const mt_analysis_site *st = &sites[s];
        uint32_t at = 0;
        t->n[0].bytes += st->bytes;
        t->n[0].count += st->count;
        mt_analysis_site_fill(a, st, fr);
        for (uint32_t d = 0; d < st->depth; d++) {
            const mt_analysis_frame *f = &fr[d];
            uint32_t c;
            if (fold_imports && is_import_frame(f)) {
                while (d + 1 < st->depth && is_import_frame(&fr[d + 1])) d++;
                c = child(t, at, IMPORT_SYSTEM, "", 0, 0);
            } else {
                c = child(t, at, f->qualname, f->file, f->line, f->first_line);
            }
            if (c == NONE) {
                free(fr);
                mt_tree_free(t);
                return MT_ERR_NOMEM;
            }
            t->n[c].bytes += st->bytes;
            t->n[c].count += st->count;
            at = c;
        }
    }
    free(fr);
    *out = t;
    return 0;
}

void mt_tree_free(mt_tree *t) {
    if (!t) return;
    free(t->n);
    free(t->map);
    free(t);
}

uint64_t mt_tree_bytes(const mt_tree *t) { return t->n[0].bytes; }
uint64_t mt_tree_count(const mt_tree *t) { return t->n[0].count; }

static int by_bytes(const void *x, const void *y, const mt_tree *t) {
    const tnode *p = &t->n[*(const uint32_t *)x], *q = &t->n[*(const uint32_t *)y];
    if (p->bytes != q->bytes) return p->bytes > q->bytes ? -1 : 1;
    if (p->count != q->count) return p->count > q->count ? -1 : 1;
    int c = strcmp(p->qualname, q->qualname);
    if (c) return c;
    if ((c = strcmp(p->file, q->file))) return c;
    return (p->line > q->line) - (p->line < q->line);
}

static const mt_tree *sort_tree; /* qsort has no context; single-threaded */
static int cmp_children(const void *x, const void *y) { return by_bytes(x, y, sort_tree); }

/* parent's children biggest first, in a new array (*len of them). */
static uint32_t *children(const mt_tree *t, uint32_t parent, uint32_t *len) {
    uint32_t k = t->n[parent].nchildren, i = 0;
    *len = 0;
    uint32_t *v = malloc((k ? k : 1) * sizeof *v);
    if (!v) return NULL;
    for (uint32_t c = t->n[parent].first_child; c != NONE; c = t->n[c].next_sibling) v[i++] = c;
    sort_tree = t;
    qsort(v, i, sizeof *v, cmp_children);
    *len = i;
    return v;
}

/* How many of the sorted children are shown. */
static uint32_t shown(const mt_tree *t, const uint32_t *v, uint32_t len, uint32_t top,
                      double min_share) {
    uint32_t k = 0;
    double floor = min_share * (double)t->n[0].bytes;
    while (k < len && (!top || k < top) && (double)t->n[v[k]].bytes >= floor &&
           t->n[v[k]].bytes > 0)
        k++;
    return k;
}

static void label(char *buf, size_t cap, const tnode *x) {
    if (!x->file[0]) {
        snprintf(buf, cap, "%s", x->qualname);
    } else if (x->line) {
        snprintf(buf, cap, "%s (%s:%u)", x->qualname, x->file, (unsigned)x->line);
    } else if (x->first_line) {
        snprintf(buf, cap, "%s (%s, def line %u)", x->qualname, x->file,
                 (unsigned)x->first_line);
    } else { /* a native function: its library */
        snprintf(buf, cap, "%s (%s)", x->qualname, x->file);
    }
}

/* prefix: the branches drawn so far ("│  " or "   " per level). */
static void text_node(mt_out *o, const mt_tree *t, uint32_t id, char *prefix, size_t plen,
                      size_t pcap, int last, int root, uint32_t top, double min_share,
                      uint32_t level) {
    const tnode *x = &t->n[id];
    char b[MT_FMT_BYTES], lab[1024], line[1400];
    double pct = t->n[0].bytes ? 100.0 * (double)x->bytes / (double)t->n[0].bytes : 0.0;
    label(lab, sizeof lab, x);
    snprintf(line, sizeof line, "%6.1f%% %11s %9llu  %s%s%s\n", pct, mt_fmt_bytes(b, x->bytes),
             (unsigned long long)x->count, prefix, root ? "" : last ? "└─ " : "├─ ", lab);
    mt_out_puts(o, line);
    uint32_t len;
    if (level >= MAX_LEVELS && x->nchildren) {
        snprintf(line, sizeof line, "%6s %11s %9s  %s%s└─ (deeper: %u levels shown at most)\n", "",
                 "", "", prefix, last ? "   " : "│  ", (unsigned)MAX_LEVELS);
        mt_out_puts(o, line);
        return;
    }
    uint32_t *v = children(t, id, &len);
    if (!v) return;
    uint32_t k = shown(t, v, len, top, min_share);
    size_t add = root ? 0 : strlen(last ? "   " : "│  ");
    if (plen + add + 1 < pcap) {
        if (!root) memcpy(prefix + plen, last ? "   " : "│  ", add + 1);
        for (uint32_t i = 0; i < k; i++)
            text_node(o, t, v[i], prefix, plen + add, pcap, i + 1 == len || (i + 1 == k && k == len),
                      0, top, min_share, level + 1);
        if (k < len) {
            uint64_t bytes = 0, count = 0;
            for (uint32_t i = k; i < len; i++) {
                bytes += t->n[v[i]].bytes;
                count += t->n[v[i]].count;
            }
            pct = t->n[0].bytes ? 100.0 * (double)bytes / (double)t->n[0].bytes : 0.0;
            snprintf(line, sizeof line, "%6.1f%% %11s %9llu  %s└─ (%u smaller path%s)\n", pct,
                     mt_fmt_bytes(b, bytes), (unsigned long long)count, prefix,
                     (unsigned)(len - k), len - k == 1 ? "" : "s");
            mt_out_puts(o, line);
        }
        prefix[plen] = 0;
    }
    free(v);
}

void mt_tree_text(mt_out *o, const mt_tree *t, uint32_t top, double min_share) {
    char prefix[MAX_LEVELS * 6 + 16] = ""; /* "│  " is 5 bytes a level */
    mt_out_puts(o, "  share       bytes    blocks  call path (outermost first)\n");
    text_node(o, t, 0, prefix, 0, sizeof prefix, 1, 1, top, min_share, 0);
}

static void json_node(mt_out *o, const mt_tree *t, uint32_t id, uint32_t top, double min_share,
                      uint32_t level) {
    const tnode *x = &t->n[id];
    mt_out_putc(o, '{');
    mt_out_json_kstr(o, "function", x->qualname);
    mt_out_putc(o, ',');
    mt_out_json_kstr(o, "file", x->file);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "line", x->line);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "first_line", x->first_line);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "bytes", x->bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "count", x->count);
    mt_out_puts(o, ",\"children\":[");
    uint32_t len = 0;
    uint32_t *v = level < MAX_LEVELS ? children(t, id, &len) : NULL;
    uint32_t k = v ? shown(t, v, len, top, min_share) : 0;
    for (uint32_t i = 0; i < k; i++) {
        if (i) mt_out_puts(o, ",");
        json_node(o, t, v[i], top, min_share, level + 1);
    }
    if (!v && level >= MAX_LEVELS) { /* all of them in "more" */
        for (uint32_t c = x->first_child; c != NONE; c = t->n[c].next_sibling) len++;
    }
    mt_out_puts(o, "],");
    uint64_t bytes = 0, count = 0;
    if (v) {
        for (uint32_t i = k; i < len; i++) {
            bytes += t->n[v[i]].bytes;
            count += t->n[v[i]].count;
        }
    } else {
        for (uint32_t c = x->first_child; c != NONE; c = t->n[c].next_sibling) {
            bytes += t->n[c].bytes;
            count += t->n[c].count;
        }
    }
    mt_out_puts(o, "\"more\":{");
    mt_out_json_ku(o, "nodes", len - k);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "bytes", bytes);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "count", count);
    mt_out_puts(o, "}}");
    free(v);
}

void mt_tree_json(mt_out *o, const mt_tree *t, uint32_t top, double min_share) {
    json_node(o, t, 0, top, min_share, 0);
}

/* ---- By location ---------------------------------------------------------- */

static int cmp_loc_key(const void *x, const void *y) {
    const mt_tree_loc *p = x, *q = y;
    int c = strcmp(p->file, q->file);
    if (c) return c;
    if ((c = strcmp(p->qualname, q->qualname))) return c;
    if (p->first_line != q->first_line) return p->first_line < q->first_line ? -1 : 1;
    return (p->line > q->line) - (p->line < q->line);
}

static int cmp_loc_bytes(const void *x, const void *y) {
    const mt_tree_loc *p = x, *q = y;
    if (p->bytes != q->bytes) return p->bytes > q->bytes ? -1 : 1;
    if (p->count != q->count) return p->count > q->count ? -1 : 1;
    return cmp_loc_key(x, y);
}

int mt_tree_by_location(const mt_analysis *a, const mt_analysis_site *sites, uint32_t n,
                        mt_tree_loc **out, uint32_t *nout) {
    *out = NULL;
    *nout = 0;
    mt_tree_loc *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return MT_ERR_NOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const mt_analysis_site *s = &sites[i];
        mt_analysis_frame f; /* the innermost */
        if (mt_analysis_site_frame(a, s, s->depth - 1, &f)) continue; /* no Python frame */
        v[k++] = (mt_tree_loc){f.qualname, f.file, f.line, f.first_line, s->bytes, s->count, 1};
    }
    qsort(v, k, sizeof *v, cmp_loc_key);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (m && cmp_loc_key(&v[m - 1], &v[i]) == 0) {
            v[m - 1].bytes += v[i].bytes;
            v[m - 1].count += v[i].count;
            v[m - 1].stacks++;
        } else {
            v[m++] = v[i];
        }
    }
    qsort(v, m, sizeof *v, cmp_loc_bytes);
    *out = v;
    *nout = m;
    return 0;
}
