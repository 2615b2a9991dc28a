/*
 * mt_select.c - record selection for memtrace-filter and memtrace-decode.
 *
 * The per-record decision must cost a few nanoseconds: the tools stream tens
 * of millions of records a second. So everything that needs a string
 * comparison (thread names, function globs) is decided once per id and
 * cached, and the cache entry is dropped when a new definition of that id
 * arrives (a later definition replaces the earlier one, FORMAT.md 5.3).
 */
#define _GNU_SOURCE
#include "mt_select.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_cli.h"

/* Types are indexed by their type byte; MT_REC_UNKNOWN gets slot 0xFF. */
#define TYPE_SLOTS 256
static unsigned type_slot(int type) {
    return type == MT_REC_UNKNOWN ? 0xFFu : (unsigned)type & 0xFFu;
}

enum rec_class { C_NONE, C_EVENT, C_THREAD_EVENT, C_SAMPLE, C_NOTE, C_STRUCT };

static enum rec_class class_of(int type) {
    switch (type) {
    case MT_REC_CALL: case MT_REC_RETURN: case MT_REC_CCALL:
    case MT_REC_CRETURN: case MT_REC_CRAISE: case MT_REC_LINE:
    case MT_REC_RAISE: case MT_REC_UNWIND: case MT_REC_OBJ_NEW:
    case MT_REC_OBJ_DEL: case MT_REC_ALLOC: case MT_REC_FREE:
    case MT_REC_REALLOC:
        return C_EVENT;
    case MT_REC_THREAD_START: case MT_REC_THREAD_END: return C_THREAD_EVENT;
    case MT_REC_RSS: case MT_REC_COUNTERS: return C_SAMPLE;
    case MT_REC_MARKER: case MT_REC_PROC_SAMPLE: case MT_REC_PROC_EXIT:
    case MT_REC_LOST: case MT_REC_SUMMARY:
        return C_NOTE;
    case MT_REC_BLOCK: case MT_REC_STRING: case MT_REC_FUNCTION:
    case MT_REC_THREAD: case MT_REC_UNKNOWN: case MT_REC_LINES:
    case MT_REC_POS:
        return C_STRUCT;
    default: return C_NONE;
    }
}

/* Every type a user may name, in the order --help would list them. */
static const int all_types[] = {
    MT_REC_CALL, MT_REC_RETURN, MT_REC_CCALL, MT_REC_CRETURN, MT_REC_CRAISE,
    MT_REC_LINE, MT_REC_RAISE, MT_REC_UNWIND, MT_REC_OBJ_NEW, MT_REC_OBJ_DEL,
    MT_REC_RSS, MT_REC_ALLOC, MT_REC_FREE, MT_REC_REALLOC, MT_REC_BLOCK,
    MT_REC_STRING, MT_REC_FUNCTION, MT_REC_THREAD, MT_REC_THREAD_START,
    MT_REC_THREAD_END, MT_REC_MARKER, MT_REC_COUNTERS, MT_REC_PROC_SAMPLE,
    MT_REC_PROC_EXIT, MT_REC_LOST, MT_REC_SUMMARY, MT_REC_LINES, MT_REC_POS,
    MT_REC_UNKNOWN,
};
#define NTYPES (sizeof all_types / sizeof all_types[0])

typedef mt_cli_time tbound;

/* Per-id match cache: 0 unknown, 1 match, 2 no match. */
typedef struct idcache {
    uint8_t *v;
    uint32_t cap;
} idcache;

/* Ids beyond this are decided each time instead of cached (a hostile file
 * must not make us allocate gigabytes). */
#define IDCACHE_MAX (1u << 24)

struct mt_select {
    int active;
    /* types */
    int type_given;               /* --type seen */
    uint8_t keep_type[TYPE_SLOTS]; /* data types to keep */
    uint8_t named_type[TYPE_SLOTS]; /* named by --type (structure shown) */
    uint8_t excluded[TYPE_SLOTS];
    /* window */
    tbound from, to;
    uint64_t from_ticks, to_ticks; /* keep from_ticks <= t < to_ticks */
    int has_to;
    /* threads */
    uint32_t *tids;
    size_t ntids;
    char **tnames;
    size_t ntnames;
    idcache tcache;
    /* functions */
    char **funcs, **files;
    size_t nfuncs, nfiles;
    idcache fcache;
    char *namebuf; /* module.qualname for matching */
    size_t namebuf_cap;
    /* rss */
    int has_rss_delta;
    uint64_t rss_delta_bytes;
    int have_rss_ref;
    uint64_t rss_ref_bytes;
};

mt_select *mt_select_new(void) {
    mt_select *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    memset(s->keep_type, 1, sizeof s->keep_type);
    return s;
}

static void free_strs(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void mt_select_free(mt_select *s) {
    if (!s) return;
    free(s->tids);
    free_strs(s->tnames, s->ntnames);
    free_strs(s->funcs, s->nfuncs);
    free_strs(s->files, s->nfiles);
    free(s->tcache.v);
    free(s->fcache.v);
    free(s->namebuf);
    free(s);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) mt_cli_die(1, "out of memory");
    return q;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d) mt_cli_die(1, "out of memory");
    return d;
}

static void push_str(char ***v, size_t *n, const char *s) {
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
}

/* ---- Option values ------------------------------------------------------ */

static int type_by_name(const char *name, size_t len) {
    for (size_t i = 0; i < NTYPES; i++) {
        const char *n = mt_record_type_name(all_types[i]);
        if (strlen(n) == len && memcmp(n, name, len) == 0) return all_types[i];
    }
    return -1;
}

static void parse_types(mt_select *s, const char *arg, int exclude,
                        const char *usage) {
    const char *p = arg;
    if (!*p) mt_cli_usage_error(usage, "empty type list");
    for (;;) {
        size_t len = strcspn(p, ",");
        int t = type_by_name(p, len);
        if (t < 0) {
            char list[512];
            size_t n = 0;
            for (size_t i = 0; i < NTYPES && n < sizeof list - 20; i++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
                                      i ? " " : "",
                                      mt_record_type_name(all_types[i]));
            mt_cli_usage_error(usage, "unknown record type '%.*s' (known: %s)",
                               (int)len, p, list);
        }
        unsigned slot = type_slot(t);
        if (exclude) {
            s->excluded[slot] = 1;
        } else {
            if (!s->type_given) memset(s->keep_type, 0, sizeof s->keep_type);
            s->type_given = 1;
            s->keep_type[slot] = 1;
            s->named_type[slot] = 1;
        }
        if (!p[len]) break;
        p += len + 1;
    }
}

static int all_digits(const char *s) {
    return *s && strspn(s, "0123456789") == strlen(s);
}

int mt_select_getopt(mt_select *s, int c, const char *arg, const char *usage) {
    uint64_t v;
    switch (c) {
    case MT_SELECT_OPT_FROM: mt_cli_time_option(&s->from, "from", arg, usage); break;
    case MT_SELECT_OPT_TO: mt_cli_time_option(&s->to, "to", arg, usage); break;
    case MT_SELECT_OPT_THREAD:
        if (!*arg) mt_cli_usage_error(usage, "empty --thread");
        if (all_digits(arg)) {
            if (mt_cli_parse_u64(arg, &v) < 0 || v > UINT32_MAX)
                mt_cli_usage_error(usage, "thread id '%s' out of range", arg);
            s->tids = xrealloc(s->tids, (s->ntids + 1) * sizeof *s->tids);
            s->tids[s->ntids++] = (uint32_t)v;
        } else {
            push_str(&s->tnames, &s->ntnames, arg);
        }
        break;
    case MT_SELECT_OPT_TYPE: parse_types(s, arg, 0, usage); break;
    case MT_SELECT_OPT_EXCLUDE_TYPE: parse_types(s, arg, 1, usage); break;
    case MT_SELECT_OPT_FUNCTION:
        if (!*arg) mt_cli_usage_error(usage, "empty --function pattern");
        push_str(&s->funcs, &s->nfuncs, arg);
        break;
    case MT_SELECT_OPT_FILE:
        if (!*arg) mt_cli_usage_error(usage, "empty --file pattern");
        push_str(&s->files, &s->nfiles, arg);
        break;
    case MT_SELECT_OPT_MIN_RSS_DELTA:
        if (mt_cli_parse_bytes(arg, &v) < 0)
            mt_cli_usage_error(usage, "invalid size '%s' for --min-rss-delta",
                               arg);
        s->has_rss_delta = 1;
        s->rss_delta_bytes = v;
        break;
    default: return 0;
    }
    s->active = 1;
    return 1;
}

int mt_select_active(const mt_select *s) { return s->active; }

/* ns since the anchor to ticks, rounded up: for an integer t,
 * t >= ceil(x) exactly when t >= x, so bounds compare as the user meant. */
static uint64_t ns_to_ticks_ceil(uint64_t ns, uint64_t tps) {
    unsigned __int128 x = (unsigned __int128)ns * tps + 999999999u;
    x /= 1000000000u;
    return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

static uint64_t bound_ticks(const tbound *b, const mt_header *h) {
    if (!b->absolute) return ns_to_ticks_ceil(b->rel_ns, h->ticks_per_second);
    if (b->unix_ns <= h->wall_ns) return 0; /* before the anchor */
    return ns_to_ticks_ceil((uint64_t)(b->unix_ns - h->wall_ns),
                            h->ticks_per_second);
}

void mt_select_bind(mt_select *s, const mt_header *h, const char *usage) {
    s->from_ticks = s->from.set ? bound_ticks(&s->from, h) : 0;
    s->has_to = s->to.set;
    s->to_ticks = s->to.set ? bound_ticks(&s->to, h) : UINT64_MAX;
    if (s->from.set && s->to.set && s->to_ticks < s->from_ticks)
        mt_cli_usage_error(usage, "--to is before --from");
    for (unsigned i = 0; i < TYPE_SLOTS; i++)
        if (s->excluded[i]) s->keep_type[i] = 0;
    s->have_rss_ref = 0;
}

uint64_t mt_select_from_ticks(const mt_select *s) { return s->from_ticks; }

/* ---- Decisions ---------------------------------------------------------- */

static uint8_t *cache_slot(idcache *c, uint32_t id) {
    if (id >= IDCACHE_MAX) return NULL;
    if (id >= c->cap) {
        uint32_t cap = c->cap ? c->cap : 256;
        while (cap <= id) cap *= 2;
        c->v = xrealloc(c->v, cap);
        memset(c->v + c->cap, 0, cap - c->cap);
        c->cap = cap;
    }
    return &c->v[id];
}

static void cache_forget(idcache *c, uint32_t id) {
    if (id < c->cap) c->v[id] = 0;
}

static int thread_matches(mt_select *s, const mt_reader *r, uint32_t tid) {
    uint8_t *slot = cache_slot(&s->tcache, tid);
    if (slot && *slot) return *slot == 1;
    int m = 0;
    for (size_t i = 0; i < s->ntids && !m; i++) m = s->tids[i] == tid;
    if (!m && s->ntnames) {
        const char *name = mt_reader_thread_name(r, tid);
        for (size_t i = 0; name && i < s->ntnames && !m; i++)
            m = fnmatch(s->tnames[i], name, 0) == 0;
    }
    if (slot) *slot = m ? 1 : 2;
    return m;
}

static int any_glob(char **globs, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], s, 0) == 0) return 1;
    return 0;
}

static int function_matches(mt_select *s, const mt_reader *r, uint32_t fid) {
    uint8_t *slot = cache_slot(&s->fcache, fid);
    if (slot && *slot) return *slot == 1;
    const mt_function *f = fid ? mt_reader_function(r, fid) : NULL;
    int m = f != NULL;
    if (m && s->nfuncs) {
        m = any_glob(s->funcs, s->nfuncs, f->qualname);
        if (!m && f->module[0]) {
            size_t need = strlen(f->module) + strlen(f->qualname) + 2;
            if (need > s->namebuf_cap) {
                s->namebuf = xrealloc(s->namebuf, need);
                s->namebuf_cap = need;
            }
            snprintf(s->namebuf, need, "%s.%s", f->module, f->qualname);
            m = any_glob(s->funcs, s->nfuncs, s->namebuf);
        }
    }
    if (m && s->nfiles) m = any_glob(s->files, s->nfiles, f->file);
    if (slot) *slot = m ? 1 : 2;
    return m;
}

/* The function an event belongs to (see MT_SELECT_USAGE). */
static uint32_t event_fid(const mt_reader *r, const mt_record *rec) {
    switch (rec->type) {
    case MT_REC_CALL: case MT_REC_CCALL: case MT_REC_RETURN:
    case MT_REC_CRETURN: case MT_REC_CRAISE: case MT_REC_UNWIND:
        return rec->u.call.fid;
    default: {
        uint32_t depth = 0;
        const uint32_t *st = mt_reader_stack(r, rec->tid, &depth);
        return st && depth ? st[depth - 1] : 0;
    }
    }
}

/* The RSS a sample reports; 0 when it has none. */
static int sample_rss(const mt_record *rec, uint64_t *bytes) {
    if (rec->type == MT_REC_RSS) {
        *bytes = rec->u.rss.bytes;
        return 1;
    }
    for (uint32_t i = 0; i < rec->u.counters.n; i++) {
        if (rec->u.counters.v[i].id == MT_CTR_RSS_BYTES) {
            *bytes = rec->u.counters.v[i].value;
            return 1;
        }
    }
    return 0;
}

int mt_select_record(mt_select *s, mt_reader *r, const mt_record *rec) {
    enum rec_class cls = class_of(rec->type);
    if (cls == C_STRUCT) {
        /* New definitions replace old ones: decide those ids again. */
        if (rec->type == MT_REC_FUNCTION)
            cache_forget(&s->fcache, rec->u.function.fid);
        else if (rec->type == MT_REC_THREAD)
            cache_forget(&s->tcache, rec->tid);
        else if (rec->type == MT_REC_STRING && s->fcache.cap &&
                 (s->nfuncs || s->nfiles))
            /* A function's names are strings: a redefined string may
             * change any function's match. Rare, so forget them all. */
            memset(s->fcache.v, 0, s->fcache.cap);
        if (!s->active) return 1;
        return s->named_type[type_slot(rec->type)] &&
               !s->excluded[type_slot(rec->type)];
    }
    if (!s->active) return 1;
    if (!s->keep_type[type_slot(rec->type)]) return 0;
    if (rec->t < s->from_ticks || rec->t >= s->to_ticks) return 0;
    switch (cls) {
    case C_EVENT:
        if ((s->ntids || s->ntnames) && !thread_matches(s, r, rec->tid))
            return 0;
        if ((s->nfuncs || s->nfiles) &&
            !function_matches(s, r, event_fid(r, rec)))
            return 0;
        return 1;
    case C_THREAD_EVENT:
        return !(s->ntids || s->ntnames) || thread_matches(s, r, rec->tid);
    case C_SAMPLE: {
        uint64_t rss;
        if (!s->has_rss_delta || !sample_rss(rec, &rss)) return 1;
        if (s->have_rss_ref) {
            uint64_t d = rss > s->rss_ref_bytes ? rss - s->rss_ref_bytes
                                                : s->rss_ref_bytes - rss;
            if (d < s->rss_delta_bytes) return 0;
        }
        s->have_rss_ref = 1;
        s->rss_ref_bytes = rss;
        return 1;
    }
    default: return 1;
    }
}
