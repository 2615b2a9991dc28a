/*
 * test_format_util.h - helpers shared by the format tests (header-only, each
 * test program is one translation unit): a fixed-seed PRNG, check counters,
 * memory sinks and sources for writers and readers, an arena for deep copies
 * of records, a record comparison, and a tiny independent parser/builder of
 * the frame layout of spec/FORMAT.md so that tests can find, damage and craft
 * chunks without trusting the library under test.
 */
#ifndef TEST_FORMAT_UTIL_H
#define TEST_FORMAT_UTIL_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "memtrace_format.h"

/* ---- checks ------------------------------------------------------------- */

static unsigned long tu_passed, tu_failed; /* this program's check counts */
static const char *tu_case = ""; /* the test case running, for messages */

/* Print at most this many detail lines (tu_fail) per program: a systematic
 * bug must not bury the summary under a million identical lines. CHECK
 * failures, which summarize, are always printed. */
#define TU_MAX_FAIL_LINES 8
static unsigned long tu_detail_lines; /* detail lines printed so far */

static inline void tu_vfail(int always, const char *file, int line, const char *fmt,
                            va_list ap) {
    tu_failed++;
    if (!always && tu_detail_lines++ >= TU_MAX_FAIL_LINES) {
        if (tu_detail_lines == TU_MAX_FAIL_LINES + 1)
            fprintf(stderr, "(further details not shown)\n");
        return;
    }
    fprintf(stderr, "FAIL %s:%d [%s]: ", file, line, tu_case);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}
static inline void tu_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tu_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tu_vfail(0, file, line, fmt, ap);
    va_end(ap);
}
static inline void tu_check_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tu_check_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tu_vfail(1, file, line, fmt, ap);
    va_end(ap);
}

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (cond)                                         \
            tu_passed++;                                  \
        else                                              \
            tu_check_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

static inline int tu_finish(void) {
    printf("%lu passed, %lu failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}

static inline double tu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- PRNG: splitmix64, fixed seed, overridable by MT_SEED ---------------- */

typedef struct { uint64_t s; } tu_rng;

static inline uint64_t tu_next(tu_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [0, n); n > 0. The bias is irrelevant for tests. */
static inline uint64_t tu_below(tu_rng *r, uint64_t n) { return tu_next(r) % n; }
static inline int tu_chance(tu_rng *r, unsigned per_mille) {
    return tu_below(r, 1000) < per_mille;
}
/* A 64-bit value biased towards the edges where encoders break. */
static inline uint64_t tu_edge64(tu_rng *r) {
    switch (tu_below(r, 10)) {
    case 0: return 0;
    case 1: return UINT64_MAX;
    case 2: return tu_below(r, 300);
    case 3: return UINT64_MAX - tu_below(r, 300);
    case 4: return (uint64_t)1 << tu_below(r, 64);
    case 5: return ((uint64_t)1 << 63) + tu_below(r, 3) - 1;
    default: {
        /* Two calls, sequenced: the order of operands is unspecified, and a
         * seed must give the same values in every build. */
        uint64_t v = tu_next(r);
        return v >> tu_below(r, 64);
    }
    }
}
static inline uint32_t tu_edge32(tu_rng *r) {
    switch (tu_below(r, 8)) {
    case 0: return 0;
    case 1: return UINT32_MAX;
    case 2: return (uint32_t)tu_below(r, 300);
    case 3: return (uint32_t)1 << tu_below(r, 32);
    default: {
        uint64_t v = tu_next(r);
        return (uint32_t)(v >> (32 + tu_below(r, 32)));
    }
    }
}

static inline uint64_t tu_seed(uint64_t dflt) {
    const char *s = getenv("MT_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : dflt;
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress interleaves with stderr */
    printf("seed %" PRIu64 " (set MT_SEED to change)\n", seed);
    return seed;
}

/* ---- growing byte buffer ------------------------------------------------ */

typedef struct { uint8_t *p; size_t n, cap; } tu_buf;

static inline void tu_buf_put(tu_buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) { perror("realloc"); exit(1); }
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static inline void tu_buf_free(tu_buf *b) { free(b->p); memset(b, 0, sizeof *b); }

/* Writer sinks: one takes all it is given, the other one byte per call so
 * that the writer's short-write retry loop is exercised. */
static inline long tu_sink_all(void *ctx, const void *buf, size_t n) {
    tu_buf_put(ctx, buf, n);
    return (long)n;
}
static inline long tu_sink_byte(void *ctx, const void *buf, size_t n) {
    if (n == 0) return 0;
    tu_buf_put(ctx, buf, 1);
    return 1;
}

/* Reader source: one byte per call (max_n 1) or up to max_n bytes. */
typedef struct { const uint8_t *p; size_t n, pos, max_n; } tu_src;
static inline long tu_read_src(void *ctx, void *buf, size_t n) {
    tu_src *s = ctx;
    size_t k = s->n - s->pos;
    if (k > n) k = n;
    if (s->max_n && k > s->max_n) k = s->max_n;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (long)k;
}

/* ---- arena: stable storage for the bytes records point to --------------- */

typedef struct tu_arena_blk { struct tu_arena_blk *next; size_t used, cap; } tu_arena_blk;
typedef struct { tu_arena_blk *head; } tu_arena;

static inline void *tu_alloc(tu_arena *a, size_t n) {
    n = (n + 7) & ~(size_t)7;
    if (!a->head || a->head->used + n > a->head->cap) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        tu_arena_blk *b = malloc(sizeof *b + cap);
        if (!b) { perror("malloc"); exit(1); }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)(a->head + 1) + a->head->used;
    a->head->used += n;
    return p;
}
static inline void *tu_dup(tu_arena *a, const void *src, size_t n) {
    void *p = tu_alloc(a, n ? n : 1);
    if (n) memcpy(p, src, n);
    return p;
}
static inline void tu_arena_free(tu_arena *a) {
    while (a->head) {
        tu_arena_blk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

/* ---- records ------------------------------------------------------------ */

static inline int tu_is_def(int type) {
    return type == MT_REC_STRING || type == MT_REC_FUNCTION ||
           type == MT_REC_THREAD;
}
static inline int tu_is_pop(int type) {
    return type == MT_REC_RETURN || type == MT_REC_CRETURN ||
           type == MT_REC_CRAISE || type == MT_REC_UNWIND;
}

/* Copy a record so that it outlives the reader's buffers. */
static inline void tu_rec_copy(tu_arena *a, mt_record *dst, const mt_record *src) {
    *dst = *src;
    switch (src->type) {
    case MT_REC_BLOCK:
        dst->u.block.fids = tu_dup(a, src->u.block.fids,
                                   src->u.block.depth * sizeof(uint32_t));
        break;
    case MT_REC_STRING:
        dst->u.string.bytes = tu_dup(a, src->u.string.bytes, src->u.string.len);
        break;
    case MT_REC_THREAD:
        dst->u.thread.name = tu_dup(a, src->u.thread.name, src->u.thread.len);
        break;
    case MT_REC_MARKER:
        dst->u.marker.text = tu_dup(a, src->u.marker.text, src->u.marker.len);
        break;
    case MT_REC_COUNTERS:
        dst->u.counters.v = tu_dup(a, src->u.counters.v,
                                   src->u.counters.n * sizeof(mt_counter));
        break;
    case MT_REC_PROC_SAMPLE:
        dst->u.proc.v = tu_dup(a, src->u.proc.v, src->u.proc.n * sizeof(mt_counter));
        break;
    case MT_REC_SUMMARY:
        dst->u.summary.v = tu_dup(a, src->u.summary.v,
                                  src->u.summary.n * sizeof(mt_counter));
        break;
    case MT_REC_UNKNOWN:
        dst->u.unknown.bytes = tu_dup(a, src->u.unknown.bytes, src->u.unknown.len);
        break;
    }
}

static inline int tu_ctr_eq(const mt_counter *a, const mt_counter *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (a[i].id != b[i].id || a[i].value != b[i].value) return 0;
    return 1;
}
static inline int tu_mem_eq(const void *a, const void *b, size_t n) {
    return n == 0 || (a && b && memcmp(a, b, n) == 0);
}

/* Compare every field that the record type defines. Returns 1 if equal;
 * otherwise 0 and a description of the first difference in why. */
static inline int tu_rec_eq(const mt_record *want, const mt_record *got, char *why,
                     size_t whyn) {
#define DIFF(...) do { snprintf(why, whyn, __VA_ARGS__); return 0; } while (0)
#define FIELD(f)                                                            \
    if ((uint64_t)(want->f) != (uint64_t)(got->f))                          \
        DIFF("%s: %s want %" PRIu64 " got %" PRIu64,                        \
             mt_record_type_name(want->type), #f, (uint64_t)(want->f),      \
             (uint64_t)(got->f))
    if (want->type != got->type)
        DIFF("type want %s (0x%x) got %s (0x%x)", mt_record_type_name(want->type),
             want->type, mt_record_type_name(got->type), got->type);
    FIELD(raw_type);
    if (!tu_is_def(want->type)) FIELD(t);
    if (want->type != MT_REC_STRING && want->type != MT_REC_FUNCTION) FIELD(tid);
    switch (want->type) {
    case MT_REC_CALL: case MT_REC_CCALL: case MT_REC_RETURN:
    case MT_REC_CRETURN: case MT_REC_CRAISE: case MT_REC_UNWIND:
        FIELD(u.call.fid); break;
    case MT_REC_LINE: FIELD(u.line.line); break;
    case MT_REC_RAISE: FIELD(u.raise.type_sid); break;
    case MT_REC_OBJ_NEW: case MT_REC_OBJ_DEL:
        FIELD(u.obj.addr); FIELD(u.obj.type_sid); break;
    case MT_REC_RSS: FIELD(u.rss.bytes); break;
    case MT_REC_ALLOC: FIELD(domain); FIELD(u.alloc.addr); FIELD(u.alloc.size); break;
    case MT_REC_FREE: FIELD(domain); FIELD(u.alloc.addr); break;
    case MT_REC_REALLOC:
        FIELD(domain); FIELD(u.realloc.old_addr); FIELD(u.realloc.addr);
        FIELD(u.realloc.size); break;
    case MT_REC_BLOCK:
        FIELD(u.block.depth);
        if (!tu_mem_eq(want->u.block.fids, got->u.block.fids,
                       want->u.block.depth * sizeof(uint32_t)))
            DIFF("block: fids differ");
        break;
    case MT_REC_STRING:
        FIELD(u.string.sid); FIELD(u.string.len);
        if (!tu_mem_eq(want->u.string.bytes, got->u.string.bytes, want->u.string.len))
            DIFF("string %u: bytes differ", want->u.string.sid);
        break;
    case MT_REC_FUNCTION:
        FIELD(u.function.fid); FIELD(u.function.kind);
        FIELD(u.function.qualname_sid); FIELD(u.function.module_sid);
        FIELD(u.function.file_sid); FIELD(u.function.first_line); break;
    case MT_REC_THREAD:
        FIELD(u.thread.native_id); FIELD(u.thread.len);
        if (!tu_mem_eq(want->u.thread.name, got->u.thread.name, want->u.thread.len))
            DIFF("thread: name differs");
        break;
    case MT_REC_THREAD_START: case MT_REC_THREAD_END: break;
    case MT_REC_MARKER:
        FIELD(u.marker.len);
        if (!tu_mem_eq(want->u.marker.text, got->u.marker.text, want->u.marker.len))
            DIFF("marker: text differs");
        break;
    case MT_REC_COUNTERS:
        FIELD(u.counters.n);
        if (!tu_ctr_eq(want->u.counters.v, got->u.counters.v, want->u.counters.n))
            DIFF("counters: values differ");
        break;
    case MT_REC_PROC_SAMPLE:
        FIELD(u.proc.pid); FIELD(u.proc.ppid); FIELD(u.proc.name_sid);
        FIELD(u.proc.cmdline_sid); FIELD(u.proc.n);
        if (!tu_ctr_eq(want->u.proc.v, got->u.proc.v, want->u.proc.n))
            DIFF("proc_sample: counters differ");
        break;
    case MT_REC_PROC_EXIT:
        FIELD(u.proc_exit.pid);
        if (want->u.proc_exit.status != got->u.proc_exit.status)
            DIFF("proc_exit: status want %d got %d", want->u.proc_exit.status,
                 got->u.proc_exit.status);
        break;
    case MT_REC_LOST:
        FIELD(u.lost.events); FIELD(u.lost.bytes); FIELD(u.lost.reason); break;
    case MT_REC_SUMMARY:
        FIELD(u.summary.reason); FIELD(u.summary.n);
        if (!tu_ctr_eq(want->u.summary.v, got->u.summary.v, want->u.summary.n))
            DIFF("summary: counters differ");
        break;
    case MT_REC_UNKNOWN:
        FIELD(u.unknown.len);
        if (!tu_mem_eq(want->u.unknown.bytes, got->u.unknown.bytes, want->u.unknown.len))
            DIFF("unknown: bytes differ");
        break;
    }
    return 1;
#undef FIELD
#undef DIFF
}

/* ---- independent frame walker and chunk builder (spec/FORMAT.md) --------- */

#define TU_SKIP_MAGIC 0x184D2A5Eu

static inline uint32_t tu_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t tu_rd64(const uint8_t *p) {
    return (uint64_t)tu_rd32(p) | (uint64_t)tu_rd32(p + 4) << 32;
}
static inline void tu_wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tu_wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

enum { TU_FR_HEADER, TU_FR_CHUNK, TU_FR_INDEX, TU_FR_END, TU_FR_OTHER };

/* One frame of a well-formed trace. A chunk spans its header frame and its
 * payload: [off, end). */
typedef struct {
    int kind;
    size_t off, end;
    size_t content_bytes;      /* skippable content size */
    uint32_t seq, flags, nrecords;
    uint64_t t_first, t_last;
} tu_frame;

/* Walk a well-formed trace; returns the frame count (at most max) or -1. */
static inline int tu_walk(const uint8_t *p, size_t n, tu_frame *fr, int max) {
    size_t off = 0;
    int k = 0;
    while (off + 8 <= n && k < max) {
        if (tu_rd32(p + off) != TU_SKIP_MAGIC) return -1;
        size_t sz = tu_rd32(p + off + 4);
        if (off + 8 + sz > n) return -1;
        tu_frame *f = &fr[k++];
        memset(f, 0, sizeof *f);
        f->off = off;
        f->content_bytes = sz;
        f->end = off + 8 + sz;
        const uint8_t *c = p + off + 8;
        if (off == 0)
            f->kind = TU_FR_HEADER;
        else if (sz >= 48 && memcmp(c, "MTCK", 4) == 0) {
            f->kind = TU_FR_CHUNK;
            f->seq = tu_rd32(c + 12);
            f->flags = tu_rd32(c + 16);
            f->end += tu_rd32(c + 20);
            f->nrecords = tu_rd32(c + 28);
            f->t_first = tu_rd64(c + 32);
            f->t_last = tu_rd64(c + 40);
        } else if (sz >= 4 && memcmp(c, "MTIX", 4) == 0)
            f->kind = TU_FR_INDEX;
        else if (sz >= 4 && memcmp(c, "MTEN", 4) == 0)
            f->kind = TU_FR_END;
        else
            f->kind = TU_FR_OTHER;
        if (f->end > n) return -1;
        off = f->end;
    }
    return off == n ? k : -1;
}

/* Append a chunk built by hand: records raw (uncompressed) with the given
 * header fields; extra_bytes zero bytes are appended to the chunk-header
 * content (as a later minor version may). */
static inline void tu_put_chunk(tu_buf *out, const void *raw, size_t raw_n,
                         uint32_t seq, uint32_t flags, uint32_t nrecords,
                         uint64_t t_first, uint64_t t_last, size_t extra_bytes) {
    size_t bound = ZSTD_compressBound(raw_n);
    uint8_t *z = malloc(bound);
    size_t zn = ZSTD_compress(z, bound, raw, raw_n, 1);
    if (ZSTD_isError(zn)) { fprintf(stderr, "ZSTD_compress failed\n"); exit(1); }
    size_t cn = 48 + extra_bytes;
    uint8_t *h = calloc(1, 8 + cn);
    tu_wr32(h, TU_SKIP_MAGIC);
    tu_wr32(h + 4, (uint32_t)cn);
    uint8_t *c = h + 8;
    memcpy(c, "MTCK", 4);
    tu_wr32(c + 12, seq);
    tu_wr32(c + 16, flags);
    tu_wr32(c + 20, (uint32_t)zn);
    tu_wr32(c + 24, (uint32_t)raw_n);
    tu_wr32(c + 28, nrecords);
    tu_wr64(c + 32, t_first);
    tu_wr64(c + 40, t_last);
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    XXH64_update(st, c + 12, cn - 12);
    XXH64_update(st, z, zn);
    tu_wr64(c + 4, XXH64_digest(st));
    XXH64_freeState(st);
    tu_buf_put(out, h, 8 + cn);
    tu_buf_put(out, z, zn);
    free(h);
    free(z);
}

/* The header frame and its copy (format 1.2) of a trace written with h (no
 * chunks). */
static inline void tu_put_header(tu_buf *out, const mt_header *h) {
    tu_buf t = {0};
    mt_writer *w = NULL;
    if (mt_writer_open_sink(&w, tu_sink_all, &t, h, NULL) < 0 ||
        mt_writer_close(w) < 0) {
        fprintf(stderr, "cannot write an empty trace\n");
        exit(1);
    }
    size_t hb = tu_rd32(t.p + 4);
    tu_buf_put(out, t.p, 8 + hb + 8 + 4 + hb);
    tu_buf_free(&t);
}

static inline mt_header tu_header(void) {
    mt_header h;
    memset(&h, 0, sizeof h);
    h.clock = MT_CLOCK_MONOTONIC;
    h.ticks_per_second = 1000000000u;
    h.wall_ns = 1700000000000000000ll;
    h.pid = 4242;
    h.ppid = 1;
    h.page_size = 4096;
    h.producer = "test_format";
    return h;
}

/* Patch a header frame at the start of b: set major and minor, insert
 * `extra` zero bytes before the text fields (a newer fixed part), add an
 * unknown text field, and re-checksum; the header copy follows suit (minor
 * 2 and later, or another major: a copy of the new header; else none). */
static inline void tu_patch_header(tu_buf *b, uint16_t major, uint16_t minor, size_t extra,
                         int add_field) {
    uint8_t *c = b->p + 8;
    uint32_t hb = tu_rd32(c + 12);
    uint16_t fo = (uint16_t)(c[64] | c[65] << 8);
    uint16_t nf = (uint16_t)(c[66] | c[67] << 8);
    tu_buf n = {0};
    uint8_t field[13] = {99, 0, 0, 0, 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};
    uint8_t zero[64] = {0};
    tu_buf_put(&n, b->p, 8 + fo);
    tu_buf_put(&n, zero, extra);
    tu_buf_put(&n, c + fo, hb - 8 - fo);
    if (add_field) tu_buf_put(&n, field, sizeof field);
    tu_buf_put(&n, zero, 8); /* checksum, below */
    uint8_t *nc = n.p + 8;
    uint32_t nhb = (uint32_t)(n.n - 8);
    nc[8] = (uint8_t)major; nc[9] = (uint8_t)(major >> 8);
    nc[10] = (uint8_t)minor; nc[11] = (uint8_t)(minor >> 8);
    tu_wr32(nc + 12, nhb);
    nc[64] = (uint8_t)(fo + extra); nc[65] = (uint8_t)((fo + extra) >> 8);
    nf = (uint16_t)(nf + (add_field ? 1 : 0));
    nc[66] = (uint8_t)nf; nc[67] = (uint8_t)(nf >> 8);
    tu_wr32(n.p + 4, nhb);
    tu_wr64(nc + nhb - 8, XXH64(nc, nhb - 8, 0));
    /* Replace the old header frame by the new one, and its copy (format
     * 1.2, right after it) by a copy of the new one; a file of minor 0 or 1
     * has no copy. */
    size_t after = 8 + hb;
    if (b->n >= after + 12 && tu_rd32(b->p + after) == TU_SKIP_MAGIC &&
        memcmp(b->p + after + 8, "MTHC", 4) == 0)
        after += 8 + tu_rd32(b->p + after + 4);
    tu_buf rest = {0};
    tu_buf_put(&rest, n.p, n.n);
    if (minor >= 2 || major != 1) {
        uint8_t head[12];
        tu_wr32(head, TU_SKIP_MAGIC);
        tu_wr32(head + 4, 4 + nhb);
        memcpy(head + 8, "MTHC", 4);
        tu_buf_put(&rest, head, sizeof head);
        tu_buf_put(&rest, nc, nhb);
    }
    tu_buf_put(&rest, b->p + after, b->n - after);
    tu_buf_free(b);
    *b = rest;
    tu_buf_free(&n);
}

#endif /* TEST_FORMAT_UTIL_H */
