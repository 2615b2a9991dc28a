/*
 * test_roundtrip.c - what is written is what is read back.
 *
 *  - tables: varint and zigzag vectors, names of types, domains, counters
 *    and errors, tick conversions;
 *  - header round trip: every numeric and text field, NULL vs "", argv;
 *  - property test: a fixed-seed stream of random records of every type
 *    (threads interleaved, consistent call stacks, times that sometimes go
 *    backwards, edge values) written with mt_writer_append into one huge
 *    chunk, into 256-byte chunks and through a one-byte-per-call sink, and
 *    read back from memory and from a one-byte-per-call stream, field by
 *    field;
 *  - block encoders: blocks and definitions encoded with mt_enc_* and added
 *    with mt_writer_append_block/_defs, alone and mixed with append;
 *  - compatibility: hand-built chunks with unknown sized records, trailing
 *    payload bytes, longer chunk headers, unknown skippable frames, a newer
 *    minor version and unknown header fields;
 *  - files and fds, argument errors.
 *
 * Usage: test_roundtrip [scale]   (scale multiplies the record counts;
 * MT_SEED overrides the seed). Last line: "N passed, N failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "test_format_util.h"

/* ---- tables --------------------------------------------------------------- */

static void test_varint(void) {
    static const struct { uint64_t v; size_t n; uint8_t b[10]; } vec[] = {
        {0, 1, {0x00}},
        {1, 1, {0x01}},
        {127, 1, {0x7f}},
        {128, 2, {0x80, 0x01}},
        {300, 2, {0xac, 0x02}},
        {16383, 2, {0xff, 0x7f}},
        {16384, 3, {0x80, 0x80, 0x01}},
        {UINT32_MAX, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
        {(uint64_t)1 << 35, 6, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
        {(uint64_t)1 << 63, 10, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
        {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    };
    tu_case = "varint";
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        uint8_t out[16];
        uint8_t *e = mt_enc_varint(out, vec[i].v);
        CHECK((size_t)(e - out) == vec[i].n && memcmp(out, vec[i].b, vec[i].n) == 0,
              "varint %" PRIu64 ": %zu bytes, want %zu", vec[i].v,
              (size_t)(e - out), vec[i].n);
        CHECK(mt_varint_len(vec[i].v) == vec[i].n, "mt_varint_len(%" PRIu64 ")",
              vec[i].v);
    }
    static const struct { int64_t v; uint64_t z; } zz[] = {
        {0, 0}, {-1, 1}, {1, 2}, {-2, 3}, {2, 4}, {63, 126}, {-64, 127},
        {INT32_MAX, 4294967294u}, {INT32_MIN, 4294967295u},
        {INT64_MAX, UINT64_MAX - 1}, {INT64_MIN, UINT64_MAX},
    };
    tu_case = "zigzag";
    for (size_t i = 0; i < sizeof zz / sizeof zz[0]; i++)
        CHECK(mt_zigzag(zz[i].v) == zz[i].z, "zigzag(%" PRId64 ")", zz[i].v);
}

static void test_names(void) {
    static const struct { int type; const char *name; } tn[] = {
        {MT_REC_CALL, "call"}, {MT_REC_RETURN, "return"}, {MT_REC_CCALL, "ccall"},
        {MT_REC_CRETURN, "creturn"}, {MT_REC_CRAISE, "craise"},
        {MT_REC_LINE, "line"}, {MT_REC_RAISE, "raise"}, {MT_REC_UNWIND, "unwind"},
        {MT_REC_OBJ_NEW, "obj_new"}, {MT_REC_OBJ_DEL, "obj_del"},
        {MT_REC_RSS, "rss"}, {MT_REC_ALLOC, "alloc"}, {MT_REC_FREE, "free"},
        {MT_REC_REALLOC, "realloc"}, {MT_REC_BLOCK, "block"},
        {MT_REC_STRING, "string"}, {MT_REC_FUNCTION, "function"},
        {MT_REC_THREAD, "thread"}, {MT_REC_THREAD_START, "thread_start"},
        {MT_REC_THREAD_END, "thread_end"}, {MT_REC_MARKER, "marker"},
        {MT_REC_COUNTERS, "counters"}, {MT_REC_PROC_SAMPLE, "proc_sample"},
        {MT_REC_PROC_EXIT, "proc_exit"}, {MT_REC_LOST, "lost"},
        {MT_REC_SUMMARY, "summary"}, {MT_REC_UNKNOWN, "unknown"},
        {0x7777, "unknown"}, {-1, "unknown"},
    };
    tu_case = "names";
    for (size_t i = 0; i < sizeof tn / sizeof tn[0]; i++) {
        const char *s = mt_record_type_name(tn[i].type);
        CHECK(s && strcmp(s, tn[i].name) == 0, "mt_record_type_name(0x%x) = %s",
              tn[i].type, s ? s : "NULL");
    }
    static const char *const dn[] = {"raw", "mem", "obj", "malloc", "mmap",
                                     "domain5", "domain6", "domain7"};
    for (unsigned d = 0; d < 8; d++) {
        const char *s = mt_domain_name(d);
        CHECK(s && strcmp(s, dn[d]) == 0, "mt_domain_name(%u) = %s", d, s ? s : "NULL");
    }
    CHECK(mt_domain_name(1000) != NULL, "mt_domain_name(1000) is NULL");
    static const char *const cn[] = {NULL, "rss_bytes", "vms_bytes", "shared_bytes",
        "uss_bytes", "pss_bytes", "swap_bytes", "peak_rss_bytes", "minor_faults",
        "major_faults", "user_ns", "system_ns", "heap_bytes", "threads", "events",
        "lost_events", "pymalloc_arena_bytes", "pymalloc_used_bytes", "pymalloc_free_bytes",
        NULL};
    for (uint32_t id = 0; id < sizeof cn / sizeof cn[0]; id++) {
        const char *s = mt_counter_name(id);
        CHECK(cn[id] ? s && strcmp(s, cn[id]) == 0 : s == NULL,
              "mt_counter_name(%u) = %s", id, s ? s : "NULL");
    }
    CHECK(mt_counter_name(UINT32_MAX) == NULL, "mt_counter_name(UINT32_MAX)");
    /* Every code has its own non-empty message; unknown codes too. */
    for (int c = 0; c >= MT_ERR_NOSPACE; c--) {
        const char *s = mt_strerror(c);
        CHECK(s && *s, "mt_strerror(%d) empty", c);
        for (int d = c + 1; s && d <= 0; d++)
            CHECK(strcmp(s, mt_strerror(d)) != 0, "mt_strerror(%d) == mt_strerror(%d)", c, d);
    }
    CHECK(mt_strerror(-9999) != NULL && mt_strerror(12345) != NULL,
          "mt_strerror(unknown) is NULL");
}

static void test_ticks(void) {
    mt_header h = tu_header();
    tu_case = "ticks";
    h.ticks_per_second = 1000000000u;
    h.wall_ns = 1000;
    CHECK(mt_ticks_to_seconds(&h, 1500000000u) == 1.5, "1.5e9 ns != 1.5 s");
    CHECK(mt_ticks_to_unix_ns(&h, 1500000000u) == 1500001000, "unix ns monotonic");
    CHECK(mt_ticks_to_unix_ns(&h, 0) == 1000, "unix ns at anchor");
    h.clock = MT_CLOCK_TSC;
    h.ticks_per_second = 3000000000u;
    CHECK(mt_ticks_to_seconds(&h, 3000000000u) == 1.0, "tsc 1 s");
    CHECK(mt_ticks_to_unix_ns(&h, 3000000000u) == 1000001000, "tsc unix ns");
    /* A day and a bit of TSC ticks: ticks * 1e9 overflows 64 bits. */
    uint64_t ticks = (uint64_t)3000000000u * 100000 + 3;
    int64_t want = 1000 + (int64_t)100000 * 1000000000 + 1;
    int64_t got = mt_ticks_to_unix_ns(&h, ticks);
    CHECK(got - want <= 2 && want - got <= 2,
          "tsc unix ns overflow: want %" PRId64 " got %" PRId64, want, got);
    h.wall_ns = -5000; /* before 1970 */
    h.ticks_per_second = 1000000000u;
    CHECK(mt_ticks_to_unix_ns(&h, 1000) == -4000, "negative wall_ns");
}

/* ---- header round trip ------------------------------------------------- */

/* A redefinition must not overtake the data appended before it: the writer
 * emits pending definitions before pending data, so without care a renamed
 * function would be read with its new name at its earlier calls. Small
 * chunks or one big one, through append and through append_defs. */
static void test_redefinition_order(void) {
    for (int raw = 0; raw < 2; raw++) {
        for (int small = 0; small < 2; small++) {
            tu_buf b = {0};
            mt_writer *w = NULL;
            mt_reader *r = NULL;
            mt_header h;
            mt_header_init(&h);
            mt_writer_options o = {small ? 64 : 0, 0};
            tu_case = raw ? "redefinition via append_defs" : "redefinition via append";
            if (mt_writer_open_sink(&w, tu_sink_all, &b, &h, &o) < 0) {
                CHECK(0, "writer open");
                continue;
            }
            uint64_t t = 10;
            for (int round = 0; round < 3; round++) {
                char name[16];
                snprintf(name, sizeof name, "name%d", round);
                if (raw) {
                    uint8_t d[64], *e = mt_enc_string(d, 1, name, strlen(name));
                    e = mt_enc_function(e, 1, MT_FUNC_PYTHON, 1, 0, 0, round);
                    CHECK(mt_writer_append_defs(w, d, (size_t)(e - d), 2) == 0, "defs");
                } else {
                    mt_record s = {.type = MT_REC_STRING};
                    s.u.string.sid = 1;
                    s.u.string.bytes = name;
                    s.u.string.len = (uint32_t)strlen(name);
                    mt_record fn = {.type = MT_REC_FUNCTION};
                    fn.u.function.fid = 1;
                    fn.u.function.qualname_sid = 1;
                    fn.u.function.first_line = (uint32_t)round;
                    CHECK(mt_writer_append(w, &s) == 0 && mt_writer_append(w, &fn) == 0,
                          "append defs");
                }
                for (int k = 0; k < 5; k++) {
                    mt_record c = {.type = MT_REC_CALL, .tid = 1, .t = t++};
                    c.u.call.fid = 1;
                    mt_record ret = {.type = MT_REC_RETURN, .tid = 1, .t = t++};
                    CHECK(mt_writer_append(w, &c) == 0 && mt_writer_append(w, &ret) == 0,
                          "append call");
                }
            }
            CHECK(mt_writer_close(w) == 0, "close");
            CHECK(mt_reader_open_mem(&r, b.p, b.n, "redef") == 0, "reader open");
            mt_record rec;
            int calls = 0, rc;
            while (r && (rc = mt_reader_next(r, &rec)) > 0) {
                if (rec.type != MT_REC_CALL) continue;
                char want[16];
                snprintf(want, sizeof want, "name%d", calls / 5);
                const mt_function *f = mt_reader_function(r, 1);
                CHECK(f && strcmp(f->qualname, want) == 0 && f->first_line == (uint32_t)(calls / 5),
                      "call %d reads as %s line %u, want %s", calls, f ? f->qualname : "?",
                      f ? f->first_line : 0, want);
                calls++;
            }
            CHECK(calls == 15, "%d calls read, want 15", calls);
            mt_reader_close(r);
            free(b.p);
        }
    }
}

static int str_eq_or_null(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static void header_case(const char *name, const mt_header *h) {
    tu_buf b = {0};
    mt_writer *w = NULL;
    mt_reader *r = NULL;
    tu_case = name;
    int rc = mt_writer_open_sink(&w, tu_sink_all, &b, h, NULL);
    if (h->ticks_per_second == 0) {
        /* Not a usable clock: the writer refuses it, or the reader reads it. */
        CHECK(rc == 0 || rc == MT_ERR_ARG, "writer open: %s", mt_strerror(rc));
    } else
        CHECK(rc == 0, "writer open: %s", mt_strerror(rc));
    if (rc < 0) goto out;
    rc = mt_writer_close(w);
    CHECK(rc == 0, "writer close: %s", mt_strerror(rc));
    for (int stream = 0; stream < 2; stream++) {
        tu_src src = {b.p, b.n, 0, 1};
        rc = stream ? mt_reader_open_stream(&r, tu_read_src, &src, name)
                    : mt_reader_open_mem(&r, b.p, b.n, name);
        CHECK(rc == 0, "reader open: %s", r ? mt_reader_errmsg(r) : mt_strerror(rc));
        if (rc < 0) goto out;
        const mt_header *g = mt_reader_header(r);
        CHECK(g != NULL, "no header");
        if (!g) goto out;
        CHECK(g->major == MT_FORMAT_MAJOR && g->minor == MT_FORMAT_MINOR,
              "version %u.%u", g->major, g->minor);
        CHECK(g->flags == h->flags && g->content == h->content && g->clock == h->clock &&
              g->ticks_per_second == h->ticks_per_second && g->wall_ns == h->wall_ns &&
              g->anchor_ticks == h->anchor_ticks && g->pid == h->pid &&
              g->ppid == h->ppid && g->page_size == h->page_size &&
              g->alloc_sample_bytes == h->alloc_sample_bytes,
              "numeric fields differ");
#define TXT(f) CHECK(str_eq_or_null(h->f, g->f), #f ": want %s got %s", \
                     h->f ? h->f : "NULL", g->f ? g->f : "NULL")
        TXT(hostname); TXT(python_implementation); TXT(python_version);
        TXT(executable); TXT(cwd); TXT(producer); TXT(mode);
#undef TXT
        CHECK(g->argc == h->argc, "argc want %u got %u", h->argc, g->argc);
        for (uint32_t i = 0; g->argc == h->argc && i < h->argc; i++)
            CHECK(g->argv && g->argv[i] && strcmp(g->argv[i], h->argv[i]) == 0,
                  "argv[%u] want '%s' got '%s'", i, h->argv[i],
                  g->argv && g->argv[i] ? g->argv[i] : "NULL");
        mt_record rec;
        CHECK(mt_reader_next(r, &rec) == 0, "records in an empty trace");
        mt_reader_stats st;
        mt_reader_stats_get(r, &st);
        CHECK(st.closed == 1 && st.chunks == 0 && st.records == 0,
              "empty trace stats: closed %d chunks %" PRIu64, st.closed, st.chunks);
        mt_reader_close(r);
        r = NULL;
    }
out:
    mt_reader_close(r);
    tu_buf_free(&b);
}

static void test_header(void) {
    static const char *const argv4[] = {"python3", "-c", "", "print('é \"x\"')"};
    static const char *const argv1[] = {""};
    mt_header h = tu_header();
    h.content = MT_CONTENT_CALLS | MT_CONTENT_ALLOCS | MT_CONTENT_OBJECTS;
    h.clock = MT_CLOCK_TSC;
    h.ticks_per_second = 2893412000u;
    h.wall_ns = -123456789012345ll;
    h.anchor_ticks = UINT64_MAX - 7;
    h.pid = UINT32_MAX;
    h.ppid = 0;
    h.page_size = 65536;
    h.alloc_sample_bytes = 524288;
    h.hostname = "host.example";
    h.python_implementation = "CPython";
    h.python_version = "3.11.7";
    h.executable = "/usr/bin/python3";
    h.cwd = "/home/ü ser";
    h.producer = "memtrace-recorder 0.1.0";
    h.mode = "trace";
    h.argv = argv4;
    h.argc = 4;
    header_case("header: all fields", &h);

    mt_header n;
    memset(&n, 0, sizeof n);
    n.ticks_per_second = 1;
    header_case("header: zeros and NULLs", &n);
    n.ticks_per_second = 0;
    header_case("header: ticks_per_second 0", &n);

    mt_header e = tu_header();
    e.hostname = e.python_implementation = e.python_version = "";
    e.executable = e.cwd = e.producer = e.mode = "";
    e.argv = argv1;
    e.argc = 1;
    header_case("header: empty strings", &e);

    char *big = malloc(20001);
    memset(big, 'x', 20000);
    big[20000] = 0;
    mt_header l = tu_header();
    l.executable = big;
    header_case("header: 20000-byte field", &l);
    free(big);

    mt_header i;
    tu_case = "header: mt_header_init";
    CHECK(mt_header_init(&i) == 0, "mt_header_init failed");
    CHECK(i.major == MT_FORMAT_MAJOR && i.clock == MT_CLOCK_MONOTONIC &&
          i.ticks_per_second == 1000000000u && i.pid == (uint32_t)getpid() &&
          i.ppid == (uint32_t)getppid() && i.page_size == (uint32_t)sysconf(_SC_PAGESIZE) &&
          i.hostname && i.cwd && i.wall_ns > 0,
          "mt_header_init fields");
    header_case("header: mt_header_init", &i);
}

/* ---- random record streams ---------------------------------------------- */

typedef struct {
    mt_record r;
    uint32_t ndefs_before; /* data: definitions appended before it */
} exp_rec;

typedef struct {
    exp_rec *data, *defs;
    size_t ndata, ndefs, capdata, capdefs;
    tu_arena arena;
} exp_set;

static void exp_add(exp_set *e, const mt_record *r) {
    exp_rec **v = tu_is_def(r->type) ? &e->defs : &e->data;
    size_t *n = tu_is_def(r->type) ? &e->ndefs : &e->ndata;
    size_t *cap = tu_is_def(r->type) ? &e->capdefs : &e->capdata;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *v = realloc(*v, *cap * sizeof **v);
        if (!*v) { perror("realloc"); exit(1); }
    }
    (*v)[*n].r = *r;
    (*v)[*n].ndefs_before = (uint32_t)e->ndefs;
    (*n)++;
}
static void exp_free(exp_set *e) {
    free(e->data);
    free(e->defs);
    tu_arena_free(&e->arena);
    memset(e, 0, sizeof *e);
}

/* Per-thread call stacks, as a model (generator and checker keep one each). */
typedef struct {
    uint32_t tid;
    uint32_t *fids;
    uint8_t *is_c;
    uint32_t depth, cap;
    uint64_t t;
} model_thread;

typedef struct {
    model_thread th[32];
    int n;
} model;

static model_thread *model_get(model *m, uint32_t tid) {
    for (int i = 0; i < m->n; i++)
        if (m->th[i].tid == tid) return &m->th[i];
    if (m->n == 32) { fprintf(stderr, "model: too many threads\n"); exit(1); }
    model_thread *t = &m->th[m->n++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    return t;
}
static void model_push(model_thread *t, uint32_t fid, int is_c) {
    if (t->depth == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->fids = realloc(t->fids, t->cap * sizeof *t->fids);
        t->is_c = realloc(t->is_c, t->cap);
    }
    t->fids[t->depth] = fid;
    t->is_c[t->depth++] = (uint8_t)is_c;
}
static void model_free(model *m) {
    for (int i = 0; i < m->n; i++) {
        free(m->th[i].fids);
        free(m->th[i].is_c);
    }
    m->n = 0;
}
/* Apply a data record to the model; the stack is what the reader tracks. */
static void model_apply(model *m, const mt_record *r) {
    if (r->type == MT_REC_CALL || r->type == MT_REC_CCALL)
        model_push(model_get(m, r->tid), r->u.call.fid, r->type == MT_REC_CCALL);
    else if (tu_is_pop(r->type)) {
        model_thread *t = model_get(m, r->tid);
        if (t->depth) t->depth--;
    }
}

static const uint32_t gen_tids[] = {1, 2, 3, 77, 0, UINT32_MAX};
#define GEN_NTIDS (sizeof gen_tids / sizeof gen_tids[0])

typedef struct {
    tu_rng rng;
    model m;
    uint32_t cur; /* index into gen_tids */
} gen;

static uint8_t *gen_bytes(gen *g, tu_arena *a, uint32_t len) {
    uint8_t *p = tu_alloc(a, len ? len : 1);
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(tu_chance(&g->rng, 500) ? 'a' + tu_below(&g->rng, 26)
                                                 : tu_next(&g->rng));
    return p;
}
static uint32_t gen_len(gen *g, uint32_t small, uint32_t big) {
    if (tu_chance(&g->rng, 50)) return 0;
    if (tu_chance(&g->rng, 5)) return (uint32_t)tu_below(&g->rng, big + 1);
    return (uint32_t)tu_below(&g->rng, small + 1);
}
static mt_counter *gen_counters(gen *g, tu_arena *a, uint32_t *n) {
    *n = tu_chance(&g->rng, 100) ? MT_MAX_COUNTERS
                                 : (uint32_t)tu_below(&g->rng, MT_MAX_COUNTERS + 1);
    mt_counter *v = tu_alloc(a, (*n ? *n : 1) * sizeof *v);
    for (uint32_t i = 0; i < *n; i++) {
        v[i].id = tu_chance(&g->rng, 800) ? (uint32_t)(1 + tu_below(&g->rng, 15))
                                          : tu_edge32(&g->rng);
        v[i].value = tu_edge64(&g->rng);
    }
    return v;
}
static uint32_t gen_nonzero32(gen *g) {
    uint32_t v = tu_edge32(&g->rng);
    return v ? v : 1;
}

/* The next time of a thread: mostly forward, sometimes backwards. */
static uint64_t gen_time(gen *g, model_thread *t) {
    tu_rng *r = &g->rng;
    uint64_t dt;
    if (tu_chance(r, 10)) /* backwards: the writer must open a new block */
        return t->t = tu_below(r, t->t + 1 == 0 ? UINT64_MAX : t->t + 1);
    if (tu_below(r, 100000) == 0) /* near the end of time */
        return t->t = UINT64_MAX - tu_below(r, 1000);
    switch (tu_below(r, 20)) {
    case 0: case 1: case 2: dt = 0; break;
    case 3: dt = tu_below(r, (uint64_t)1 << 40); break;
    case 4: case 5: case 6: case 7: dt = tu_below(r, 1000000); break;
    default: dt = tu_below(r, 100); break;
    }
    t->t = t->t + dt < t->t ? UINT64_MAX : t->t + dt;
    return t->t;
}

/* Generate one random record into *r (bytes in a). */
static void gen_record(gen *g, tu_arena *a, mt_record *r) {
    tu_rng *rg = &g->rng;
    memset(r, 0, sizeof *r);
    if (tu_chance(rg, 40)) g->cur = (uint32_t)tu_below(rg, GEN_NTIDS);
    uint32_t tid = gen_tids[g->cur];
    model_thread *th = model_get(&g->m, tid);
    unsigned pick = (unsigned)tu_below(rg, 1000);

    /* Definitions: 8%. */
    if (pick < 80) {
        if (pick < 40) {
            r->type = MT_REC_STRING;
            r->u.string.sid = gen_nonzero32(g);
            r->u.string.len = tu_below(rg, 20000) == 0
                                  ? 20000 + (uint32_t)tu_below(rg, 60000)
                                  : gen_len(g, 40, 600);
            r->u.string.bytes = (const char *)gen_bytes(g, a, r->u.string.len);
        } else if (pick < 70) {
            r->type = MT_REC_FUNCTION;
            r->u.function.fid = gen_nonzero32(g);
            r->u.function.kind = (uint32_t)tu_below(rg, 2);
            r->u.function.qualname_sid = tu_edge32(rg);
            r->u.function.module_sid = tu_edge32(rg);
            r->u.function.file_sid = tu_edge32(rg);
            r->u.function.first_line = tu_edge32(rg);
        } else {
            r->type = MT_REC_THREAD;
            r->tid = tu_chance(rg, 700) ? tid : tu_edge32(rg);
            r->u.thread.native_id = tu_edge64(rg);
            r->u.thread.len = gen_len(g, 16, 300);
            r->u.thread.name = (const char *)gen_bytes(g, a, r->u.thread.len);
        }
        r->raw_type = (uint8_t)r->type;
        return;
    }
    r->tid = tid;
    r->t = gen_time(g, th);
    pick = (unsigned)tu_below(rg, 1000);
    int want_call = pick < 170 && (th->depth < 30 || tu_chance(rg, 300)) && th->depth < 300;
    int want_pop = pick >= 170 && pick < 340;
    if (want_call || (want_pop && th->depth == 0)) {
        r->type = tu_chance(rg, 700) ? MT_REC_CALL : MT_REC_CCALL;
        r->u.call.fid = gen_nonzero32(g);
        model_push(th, r->u.call.fid, r->type == MT_REC_CCALL);
    } else if (pick < 340) {
        int is_c = th->is_c[th->depth - 1];
        if (is_c)
            r->type = tu_chance(rg, 800) ? MT_REC_CRETURN : MT_REC_CRAISE;
        else
            r->type = tu_chance(rg, 800) ? MT_REC_RETURN : MT_REC_UNWIND;
        r->u.call.fid = th->fids[--th->depth];
    } else if (pick < 480) {
        r->type = MT_REC_LINE;
        r->u.line.line = tu_chance(rg, 900) ? (uint32_t)tu_below(rg, 3000) : tu_edge32(rg);
    } else if (pick < 500) {
        r->type = MT_REC_RAISE;
        r->u.raise.type_sid = tu_edge32(rg);
    } else if (pick < 540) {
        r->type = tu_chance(rg, 500) ? MT_REC_OBJ_NEW : MT_REC_OBJ_DEL;
        r->u.obj.addr = tu_edge64(rg);
        r->u.obj.type_sid = tu_edge32(rg);
    } else if (pick < 560) {
        r->type = MT_REC_RSS;
        r->u.rss.bytes = tu_edge64(rg);
    } else if (pick < 800) {
        unsigned which = (unsigned)tu_below(rg, 10);
        r->domain = (uint8_t)(tu_chance(rg, 900) ? tu_below(rg, 5) : tu_below(rg, 8));
        if (which < 5) {
            r->type = MT_REC_ALLOC;
            r->u.alloc.addr = tu_edge64(rg);
            r->u.alloc.size = tu_edge64(rg);
            r->raw_type = (uint8_t)(MT_REC_ALLOC + r->domain);
        } else if (which < 8) {
            r->type = MT_REC_FREE;
            r->u.alloc.addr = tu_edge64(rg);
            r->raw_type = (uint8_t)(MT_REC_FREE + r->domain);
        } else {
            r->type = MT_REC_REALLOC;
            r->u.realloc.old_addr = tu_edge64(rg);
            r->u.realloc.addr = tu_edge64(rg);
            r->u.realloc.size = tu_edge64(rg);
            r->raw_type = (uint8_t)(MT_REC_REALLOC + r->domain);
        }
        return;
    } else if (pick < 820) {
        r->type = tu_chance(rg, 500) ? MT_REC_THREAD_START : MT_REC_THREAD_END;
    } else if (pick < 860) {
        r->type = MT_REC_MARKER;
        r->u.marker.len = gen_len(g, 60, 5000);
        r->u.marker.text = (const char *)gen_bytes(g, a, r->u.marker.len);
    } else if (pick < 920) {
        r->type = MT_REC_COUNTERS;
        r->u.counters.v = gen_counters(g, a, &r->u.counters.n);
    } else if (pick < 940) {
        r->type = MT_REC_PROC_SAMPLE;
        r->u.proc.pid = tu_edge32(rg);
        r->u.proc.ppid = tu_edge32(rg);
        r->u.proc.name_sid = tu_edge32(rg);
        r->u.proc.cmdline_sid = tu_edge32(rg);
        r->u.proc.v = gen_counters(g, a, &r->u.proc.n);
    } else if (pick < 960) {
        r->type = MT_REC_PROC_EXIT;
        r->u.proc_exit.pid = tu_edge32(rg);
        r->u.proc_exit.status = (int32_t)tu_edge32(rg);
    } else if (pick < 980) {
        r->type = MT_REC_LOST;
        r->u.lost.events = tu_edge64(rg);
        r->u.lost.bytes = tu_edge64(rg);
        r->u.lost.reason = tu_edge32(rg);
    } else {
        r->type = MT_REC_SUMMARY;
        r->u.summary.reason = tu_edge32(rg);
        r->u.summary.v = gen_counters(g, a, &r->u.summary.n);
    }
    r->raw_type = (uint8_t)r->type;
}

/* ---- verification of one encoded trace against expectations ------------- */

/* Chunks in a well-formed trace, counted by walking its frames. */
static size_t count_chunks(const uint8_t *p, size_t n) {
    size_t off = 0, c = 0;
    while (off + 8 <= n && (tu_rd32(p + off) & 0xFFFFFFF0u) == 0x184D2A50u) {
        size_t sz = tu_rd32(p + off + 4);
        if (off > 0 && sz >= 48 && off + 8 + sz <= n && memcmp(p + off + 8, "MTCK", 4) == 0) {
            c++;
            off += tu_rd32(p + off + 8 + 20);
        }
        off += 8 + sz;
    }
    return off == n ? c : 0;
}

/* Read buf (from memory, or as a stream one byte per call) and compare with
 * e. Definitions and data are compared as two sequences (the writer moves
 * definitions into their own chunks, ahead of the data that follows them).
 * BLOCK records are compared when e expects one at that point, otherwise
 * (made by the writer) checked against the model stack of their thread. */
static void verify(const char *what, const uint8_t *buf, size_t n,
                   const exp_set *e, int stream, int closed) {
    mt_reader *r = NULL;
    tu_src src = {buf, n, 0, 1};
    char why[512];
    unsigned long bad = 0;
    model m = {0};
    int rc = stream ? mt_reader_open_stream(&r, tu_read_src, &src, what)
                    : mt_reader_open_mem(&r, buf, n, what);
    CHECK(rc == 0, "%s: open: %s", what, r ? mt_reader_errmsg(r) : mt_strerror(rc));
    if (rc < 0) {
        mt_reader_close(r);
        return;
    }
    size_t di = 0, dj = 0;
    uint64_t nrec = 0, chunk_off = UINT64_MAX, nchunks = 0;
    uint32_t in_chunk = 0;
    mt_chunk_info ci = {0}, prev = {0};
    mt_record got;
#define BAD(...)                                                             \
    do {                                                                     \
        if (bad++ == 0) {                                                    \
            char msg_[1200];                                                 \
            snprintf(msg_, sizeof msg_, __VA_ARGS__);                        \
            tu_fail(__FILE__, __LINE__, "%s: record %" PRIu64 ": %s", what,  \
                    nrec, msg_);                                             \
        }                                                                    \
    } while (0)
    while ((rc = mt_reader_next(r, &got)) != 0) {
        if (rc < 0) {
            BAD("next: %s (%s)", mt_strerror(rc), mt_reader_errmsg(r));
            if (mt_reader_fatal(r)) break;
            continue;
        }
        nrec++;
        /* Chunk bookkeeping: records per chunk and time bounds. */
        if (mt_reader_chunk(r, &ci) != 0) {
            BAD("mt_reader_chunk failed inside a chunk");
        } else {
            if (ci.offset != chunk_off) {
                if (chunk_off != UINT64_MAX && in_chunk != prev.nrecords)
                    BAD("chunk at %" PRIu64 ": %u records decoded, header says %u",
                        prev.offset, in_chunk, prev.nrecords);
                chunk_off = ci.offset;
                in_chunk = 0;
                prev = ci;
                nchunks++;
                if (ci.raw_bytes > MT_MAX_CHUNK_RAW_BYTES)
                    BAD("chunk raw_bytes %u", ci.raw_bytes);
            }
            in_chunk++;
            if (tu_is_def(got.type) != !!(ci.flags & MT_CHUNK_DEFS))
                BAD("%s in a chunk with flags %u", mt_record_type_name(got.type), ci.flags);
            if (!tu_is_def(got.type) && (got.t < ci.t_first || got.t > ci.t_last))
                BAD("t %" PRIu64 " outside chunk [%" PRIu64 ", %" PRIu64 "]", got.t,
                    ci.t_first, ci.t_last);
        }
        if (tu_is_def(got.type)) {
            if (di >= e->ndefs)
                BAD("extra definition %s", mt_record_type_name(got.type));
            else if (!tu_rec_eq(&e->defs[di].r, &got, why, sizeof why))
                BAD("definition %zu: %s", di, why);
            di++;
            continue;
        }
        if (got.type == MT_REC_BLOCK &&
            (dj >= e->ndata || e->data[dj].r.type != MT_REC_BLOCK)) {
            model_thread *t = model_get(&m, got.tid);
            if (got.u.block.depth != t->depth ||
                !tu_mem_eq(got.u.block.fids, t->fids, t->depth * sizeof(uint32_t)))
                BAD("writer's block for tid %u: depth %u, model depth %u", got.tid,
                    got.u.block.depth, t->depth);
            continue;
        }
        if (dj >= e->ndata) {
            BAD("extra record %s", mt_record_type_name(got.type));
            continue;
        }
        const exp_rec *x = &e->data[dj++];
        if (!tu_rec_eq(&x->r, &got, why, sizeof why)) {
            BAD("data record %zu: %s", dj - 1, why);
            continue;
        }
        if (di < x->ndefs_before)
            BAD("data record %zu before definition %u that was appended before it",
                dj - 1, x->ndefs_before);
        if (got.type == MT_REC_BLOCK) {
            model_thread *t = model_get(&m, got.tid);
            t->depth = 0;
            for (uint32_t i = 0; i < got.u.block.depth; i++)
                model_push(t, got.u.block.fids[i], 0);
        } else
            model_apply(&m, &got);
        if (got.type <= MT_REC_UNWIND && got.type != MT_REC_LINE &&
            got.type != MT_REC_RAISE) {
            uint32_t depth = 0;
            const uint32_t *s = mt_reader_stack(r, got.tid, &depth);
            model_thread *t = model_get(&m, got.tid);
            if (depth != t->depth || (depth && !s) ||
                !tu_mem_eq(s, t->fids, depth * sizeof(uint32_t)))
                BAD("mt_reader_stack(%u): depth %u, model %u", got.tid, depth, t->depth);
        }
    }
    if (chunk_off != UINT64_MAX && in_chunk != prev.nrecords)
        BAD("last chunk: %u records decoded, header says %u", in_chunk, prev.nrecords);
    if (di != e->ndefs || dj != e->ndata)
        BAD("got %zu/%zu definitions, %zu/%zu data records", di, e->ndefs, dj, e->ndata);
    mt_reader_stats st;
    mt_reader_stats_get(r, &st);
    if (st.records != nrec || st.damaged_chunks || st.damaged_bytes ||
        st.closed != closed || st.chunks != nchunks)
        BAD("stats: records %" PRIu64 "/%" PRIu64 " chunks %" PRIu64 "/%" PRIu64
            " damaged %" PRIu64 " closed %d",
            st.records, nrec, st.chunks, nchunks, st.damaged_chunks, st.closed);
    if (nchunks != count_chunks(buf, n))
        BAD("decoded %" PRIu64 " chunks, file has %zu", nchunks, count_chunks(buf, n));
    CHECK(bad == 0, "%s: %lu problems", what, bad);
#undef BAD
    model_free(&m);
    mt_reader_close(r);
}

/* Write the records of e with mt_writer_append in one of three ways. */
enum { W_HUGE, W_SMALL, W_BYTE, W_NMODES };
static const char *const wmode_name[] = {"16MiB chunks", "256B chunks",
                                         "1-byte sink"};

static void write_append(tu_buf *out, const exp_set *e, const mt_record *all,
                         size_t nall, int mode, int level) {
    mt_writer *w = NULL;
    mt_writer_options o = {0, level};
    mt_header h = tu_header();
    o.chunk_raw_bytes = mode == W_HUGE ? MT_MAX_CHUNK_RAW_BYTES : mode == W_SMALL ? 256 : 0;
    int rc = mt_writer_open_sink(&w, mode == W_BYTE ? tu_sink_byte : tu_sink_all,
                                 out, &h, &o);
    CHECK(rc == 0, "writer open (%s): %s", wmode_name[mode], mt_strerror(rc));
    if (rc < 0) return;
    unsigned long fails = 0;
    int first = 0;
    for (size_t i = 0; i < nall; i++) {
        rc = mt_writer_append(w, &all[i]);
        if (rc < 0 && fails++ == 0) first = rc;
        if (i == nall / 2) { /* once in the middle: flush accounts for bytes */
            rc = mt_writer_flush(w);
            CHECK(rc == 0 && mt_writer_bytes_written(w) == out->n,
                  "flush: rc %d, bytes_written %" PRIu64 ", sink got %zu", rc,
                  mt_writer_bytes_written(w), out->n);
        }
    }
    CHECK(fails == 0, "%s: %lu appends failed, first: %s", wmode_name[mode], fails,
          mt_strerror(first));
    CHECK(mt_writer_error(w) == 0, "writer error %d", mt_writer_error(w));
    CHECK(mt_writer_records_written(w) >= e->ndata + e->ndefs,
          "records_written %" PRIu64 " < %zu", mt_writer_records_written(w),
          e->ndata + e->ndefs);
    rc = mt_writer_close(w);
    CHECK(rc == 0, "close: %s", mt_strerror(rc));
}

static void roundtrip_stream(gen *g, size_t nrec, int level, int big) {
    exp_set e = {0};
    mt_record *all = malloc((nrec ? nrec : 1) * sizeof *all);
    for (size_t i = 0; i < nrec; i++) {
        gen_record(g, &e.arena, &all[i]);
        exp_add(&e, &all[i]);
    }
    for (int mode = 0; mode < W_NMODES; mode++) {
        tu_buf out = {0};
        char what[128];
        snprintf(what, sizeof what, "%zu records, %s, level %d", nrec,
                 wmode_name[mode], level);
        tu_case = what;
        write_append(&out, &e, all, nrec, mode, level);
        verify(what, out.p, out.n, &e, 0, 1);
        verify(what, out.p, out.n, &e, 1, 1);
        if (big)
            printf("  %s: %zu bytes, %zu chunks\n", what, out.n, count_chunks(out.p, out.n));
        tu_buf_free(&out);
    }
    free(all);
    exp_free(&e);
}

/* Also, the last definition of an id wins in the name lookups. */
/* 1.3 positions through mt_writer_append: LINES, POS, and the positions a
 * BLOCK carries when the writer opens one (another thread, a chunk). */
static void test_positions(void) {
    tu_buf b = {0};
    mt_writer *w = NULL;
    mt_reader *r = NULL;
    mt_header h = tu_header();
    mt_record rec;
    tu_case = "positions";
    mt_writer_options opt = {4096, 1};
    mt_writer_open_sink(&w, tu_sink_all, &b, &h, &opt);
    static const uint32_t off[] = {0, 4, 10}, line[] = {20, 21, 0};
    static const uint32_t lv2[] = {0, 1}, of2[] = {6, 2}, lv1[] = {0}, ofu[] = {UINT32_MAX};
#define APP(...) do { rec = (mt_record){__VA_ARGS__}; CHECK(mt_writer_append(w, &rec) == 0, "append"); } while (0)
    APP(.type = MT_REC_FUNCTION, .u.function = {1, MT_FUNC_PYTHON, 0, 0, 0, 19});
    APP(.type = MT_REC_FUNCTION, .u.function = {2, MT_FUNC_PYTHON, 0, 0, 0, 40});
    APP(.type = MT_REC_LINES, .u.lines = {1, 3, off, line});
    APP(.type = MT_REC_CALL, .tid = 1, .t = 10, .u.call.fid = 2);
    APP(.type = MT_REC_CALL, .tid = 1, .t = 11, .u.call.fid = 1);
    APP(.type = MT_REC_POS, .tid = 1, .t = 0, .u.pos = {2, lv2, of2, NULL});
    APP(.type = MT_REC_ALLOC, .tid = 1, .t = 12, .u.alloc = {0x1000, 64});
    APP(.type = MT_REC_ALLOC, .tid = 2, .t = 13, .u.alloc = {0x2000, 64});
    APP(.type = MT_REC_ALLOC, .tid = 1, .t = 14, .u.alloc = {0x3000, 64}); /* new BLOCK */
    APP(.type = MT_REC_POS, .tid = 1, .t = 0, .u.pos = {1, lv1, ofu, NULL});
    APP(.type = MT_REC_ALLOC, .tid = 1, .t = 15, .u.alloc = {0x4000, 64});
#undef APP
    static const uint32_t bad_off[] = {4, 2};
    mt_record bad = {.type = MT_REC_LINES, .u.lines = {1, 2, bad_off, line}};
    CHECK(mt_writer_append(w, &bad) == MT_ERR_ARG, "descending LINES offsets accepted");
    mt_writer_close(w);
    CHECK(mt_reader_open_mem(&r, b.p, b.n, "positions") == 0, "open");
    int blocks = 0, allocs = 0, pos = 0;
    while (mt_reader_next(r, &rec) > 0) {
        uint32_t depth = 0;
        const uint32_t *ps = mt_reader_stack_pos(r, rec.tid, &depth);
        if (rec.type == MT_REC_LINES) {
            CHECK(rec.u.lines.fid == 1 && rec.u.lines.n == 3 && rec.u.lines.offsets[2] == 10 &&
                  rec.u.lines.lines[1] == 21, "LINES read back");
        } else if (rec.type == MT_REC_POS) {
            pos++;
            CHECK(rec.t == 11 || rec.t == 14, "POS time %llu", (unsigned long long)rec.t);
            if (pos == 1)
                CHECK(rec.u.pos.n == 2 && rec.u.pos.lines[0] == 21 && rec.u.pos.lines[1] == 0,
                      "POS lines %u %u", rec.u.pos.lines[0], rec.u.pos.lines[1]);
        } else if (rec.type == MT_REC_BLOCK && rec.tid == 1 && rec.u.block.depth == 2) {
            blocks++;
            CHECK(rec.u.block.pos[0] == 3 && rec.u.block.pos[1] == 7 &&
                  rec.u.block.lines[1] == 21, "BLOCK positions %u %u line %u",
                  rec.u.block.pos[0], rec.u.block.pos[1], rec.u.block.lines[1]);
        } else if (rec.type == MT_REC_ALLOC && rec.tid == 1) {
            allocs++;
            CHECK(ps && depth == 2, "stack");
            if (ps && depth == 2)
                CHECK(ps[1] == (allocs < 3 ? 7u : 0u) && ps[0] == 3, "alloc %d positions %u %u",
                      allocs, ps[0], ps[1]);
        }
    }
    CHECK(blocks == 1 && allocs == 3 && pos == 2, "blocks %d allocs %d pos %d", blocks, allocs, pos);
    CHECK(mt_reader_line(r, 1, 0) == 20 && mt_reader_line(r, 1, 9) == 21 &&
          mt_reader_line(r, 1, 1000) == 0 && mt_reader_line(r, 2, 0) == 0,
          "mt_reader_line");
    mt_reader_close(r);
    free(b.p);
}

static void test_lookups(void) {
    tu_buf b = {0};
    mt_writer *w = NULL;
    mt_reader *r = NULL;
    mt_header h = tu_header();
    mt_record rec;
    tu_case = "lookups";
    mt_writer_open_sink(&w, tu_sink_all, &b, &h, NULL);
#define APP(...) do { rec = (mt_record){__VA_ARGS__}; mt_writer_append(w, &rec); } while (0)
    APP(.type = MT_REC_STRING, .u.string = {1, 3, "old"});
    APP(.type = MT_REC_STRING, .u.string = {2, 4, "mod\0"});
    APP(.type = MT_REC_STRING, .u.string = {3, 6, "file.p"});
    APP(.type = MT_REC_STRING, .u.string = {UINT32_MAX, 3, "max"});
    APP(.type = MT_REC_FUNCTION, .u.function = {5, MT_FUNC_C, 1, 2, 3, 77});
    APP(.type = MT_REC_THREAD, .tid = 9, .u.thread = {12345, 4, "main"});
    APP(.type = MT_REC_CALL, .tid = 9, .t = 10, .u.call.fid = 5);
    APP(.type = MT_REC_CALL, .tid = 9, .t = 11, .u.call.fid = 6);
    APP(.type = MT_REC_STRING, .u.string = {1, 3, "new"});
#undef APP
    CHECK(mt_writer_close(w) == 0, "close");
    CHECK(mt_reader_open_mem(&r, b.p, b.n, "lookups") == 0, "open");
    while (mt_reader_next(r, &rec) > 0) {}
    uint32_t len = 0;
    const char *s = mt_reader_string(r, 1, &len);
    CHECK(s && len == 3 && memcmp(s, "new", 3) == 0, "string 1 not replaced");
    s = mt_reader_string(r, 2, &len);
    CHECK(s && len == 4 && memcmp(s, "mod\0", 4) == 0, "string 2 with NUL");
    s = mt_reader_string(r, UINT32_MAX, &len);
    CHECK(s && len == 3, "string UINT32_MAX");
    CHECK(mt_reader_string(r, 4, &len) == NULL, "unknown string not NULL");
    CHECK(mt_reader_string(r, 0, &len) == NULL, "string 0 not NULL");
    const mt_function *f = mt_reader_function(r, 5);
    CHECK(f && f->kind == MT_FUNC_C && f->first_line == 77 && f->qualname &&
          strcmp(f->qualname, "new") == 0 && strcmp(f->module, "mod") == 0 &&
          strcmp(f->file, "file.p") == 0,
          "function 5: %s", f && f->qualname ? f->qualname : "NULL");
    CHECK(mt_reader_function(r, 6) == NULL, "unknown function not NULL");
    const char *fn = mt_reader_function_name(r, 6);
    CHECK(fn && strcmp(fn, "<fn#6>") == 0, "function_name(6) = %s", fn ? fn : "NULL");
    fn = mt_reader_function_name(r, 5);
    CHECK(fn && strcmp(fn, "new") == 0, "function_name(5) = %s", fn ? fn : "NULL");
    const char *tn = mt_reader_thread_name(r, 9);
    CHECK(tn && strcmp(tn, "main") == 0, "thread name");
    CHECK(mt_reader_thread_native_id(r, 9) == 12345, "native id");
    CHECK(mt_reader_thread_name(r, 10) == NULL && mt_reader_thread_native_id(r, 10) == 0,
          "unknown thread");
    uint32_t depth = 0;
    const uint32_t *st = mt_reader_stack(r, 9, &depth);
    CHECK(depth == 2 && st && st[0] == 5 && st[1] == 6, "stack of thread 9: depth %u", depth);
    mt_reader_stack(r, 10, &depth);
    CHECK(depth == 0, "stack of unknown thread");
    mt_reader_close(r);
    tu_buf_free(&b);
}

/* ---- the block encoders -------------------------------------------------- */

/* Encode a random block by hand into out and its records into e. */
static void enc_block(gen *g, exp_set *e, tu_buf *blk, uint32_t *nrec,
                      uint64_t *t_first, uint64_t *t_last, uint32_t tid) {
    tu_rng *rg = &g->rng;
    uint32_t fids[40];
    uint32_t depth = (uint32_t)tu_below(rg, 21);
    uint8_t tmp[1 << 16];
    mt_record r;
    for (uint32_t i = 0; i < depth; i++) fids[i] = gen_nonzero32(g);
    uint64_t t = tu_chance(rg, 50) ? tu_edge64(rg) >> 2 : tu_below(rg, 1ull << 40);
    uint8_t *p = mt_enc_block(tmp, tid, t, fids, depth);
    tu_buf_put(blk, tmp, (size_t)(p - tmp));
    memset(&r, 0, sizeof r);
    r.type = MT_REC_BLOCK;
    r.raw_type = MT_REC_BLOCK;
    r.tid = tid;
    r.t = t;
    r.u.block.depth = depth;
    r.u.block.fids = tu_dup(&e->arena, fids, depth * sizeof *fids);
    exp_add(e, &r);
    *t_first = *t_last = t;
    *nrec = 1;
    uint32_t prev_line = 0;
    uint64_t prev_addr = 0, prev_rss = 0;
    uint32_t nmore = (uint32_t)tu_below(rg, 60);
    for (uint32_t k = 0; k < nmore; k++) {
        uint64_t dt = tu_chance(rg, 30) ? tu_below(rg, 1ull << 40) : tu_below(rg, 1000);
        t += dt;
        memset(&r, 0, sizeof r);
        r.tid = tid;
        r.t = t;
        unsigned pick = (unsigned)tu_below(rg, 14);
        if (pick == 2 && depth == 0) pick = 0;
        switch (pick) {
        case 0: case 1:
            r.type = pick ? MT_REC_CCALL : MT_REC_CALL;
            r.u.call.fid = gen_nonzero32(g);
            p = pick ? mt_enc_ccall(tmp, dt, r.u.call.fid) : mt_enc_call(tmp, dt, r.u.call.fid);
            if (depth < 40) fids[depth++] = r.u.call.fid;
            else r.type = 0; /* keep the model simple: no deeper than 40 */
            break;
        case 2: {
            static const int pops[] = {MT_REC_RETURN, MT_REC_CRETURN, MT_REC_CRAISE,
                                       MT_REC_UNWIND};
            r.type = pops[tu_below(rg, 4)];
            r.u.call.fid = fids[--depth];
            p = mt_enc_event(tmp, r.type, dt);
            break;
        }
        case 3:
            r.type = MT_REC_LINE;
            r.u.line.line = tu_chance(rg, 800) ? (uint32_t)tu_below(rg, 500) : tu_edge32(rg);
            p = mt_enc_line(tmp, dt, r.u.line.line, &prev_line);
            break;
        case 4:
            r.type = MT_REC_RAISE;
            r.u.raise.type_sid = tu_edge32(rg);
            p = mt_enc_raise(tmp, dt, r.u.raise.type_sid);
            break;
        case 5:
            r.type = tu_chance(rg, 500) ? MT_REC_OBJ_NEW : MT_REC_OBJ_DEL;
            r.u.obj.addr = tu_edge64(rg);
            r.u.obj.type_sid = tu_edge32(rg);
            p = mt_enc_obj(tmp, r.type, dt, r.u.obj.addr, r.u.obj.type_sid, &prev_addr);
            break;
        case 6:
            r.type = MT_REC_RSS;
            r.u.rss.bytes = tu_edge64(rg);
            p = mt_enc_rss(tmp, dt, r.u.rss.bytes, &prev_rss);
            break;
        case 7:
            r.type = MT_REC_ALLOC;
            r.domain = (uint8_t)tu_below(rg, 8);
            r.raw_type = (uint8_t)(MT_REC_ALLOC + r.domain);
            r.u.alloc.addr = tu_edge64(rg);
            r.u.alloc.size = tu_edge64(rg);
            p = mt_enc_alloc(tmp, r.domain, dt, r.u.alloc.addr, r.u.alloc.size, &prev_addr);
            break;
        case 8:
            r.type = MT_REC_FREE;
            r.domain = (uint8_t)tu_below(rg, 8);
            r.raw_type = (uint8_t)(MT_REC_FREE + r.domain);
            r.u.alloc.addr = tu_edge64(rg);
            p = mt_enc_free(tmp, r.domain, dt, r.u.alloc.addr, &prev_addr);
            break;
        case 9:
            r.type = MT_REC_REALLOC;
            r.domain = (uint8_t)tu_below(rg, 8);
            r.raw_type = (uint8_t)(MT_REC_REALLOC + r.domain);
            r.u.realloc.old_addr = tu_edge64(rg);
            r.u.realloc.addr = tu_edge64(rg);
            r.u.realloc.size = tu_edge64(rg);
            p = mt_enc_realloc(tmp, r.domain, dt, r.u.realloc.old_addr, r.u.realloc.addr,
                               r.u.realloc.size, &prev_addr);
            break;
        case 10:
            r.type = tu_chance(rg, 500) ? MT_REC_THREAD_START : MT_REC_THREAD_END;
            r.tid = tu_chance(rg, 500) ? tid : tu_edge32(rg);
            p = mt_enc_thread_event(tmp, r.type, dt, r.tid);
            break;
        case 11:
            r.type = MT_REC_MARKER;
            r.u.marker.len = gen_len(g, 50, 3000);
            r.u.marker.text = (const char *)gen_bytes(g, &e->arena, r.u.marker.len);
            p = mt_enc_marker(tmp, dt, r.u.marker.text, r.u.marker.len);
            break;
        case 12:
            r.type = MT_REC_COUNTERS;
            r.u.counters.v = gen_counters(g, &e->arena, &r.u.counters.n);
            p = mt_enc_counters(tmp, dt, r.u.counters.v, r.u.counters.n);
            break;
        default:
            r.type = MT_REC_LOST;
            r.u.lost.events = tu_edge64(rg);
            r.u.lost.bytes = tu_edge64(rg);
            r.u.lost.reason = tu_edge32(rg);
            p = mt_enc_lost(tmp, dt, r.u.lost.events, r.u.lost.bytes, r.u.lost.reason);
            break;
        }
        if (!r.type) { t -= dt; continue; }
        if (!r.raw_type) r.raw_type = (uint8_t)r.type;
        tu_buf_put(blk, tmp, (size_t)(p - tmp));
        exp_add(e, &r);
        (*nrec)++;
        *t_last = t;
    }
}

static void enc_defs(gen *g, exp_set *e, tu_buf *defs, uint32_t *nrec) {
    tu_rng *rg = &g->rng;
    uint32_t n = 1 + (uint32_t)tu_below(rg, 10);
    *nrec = 0;
    for (uint32_t i = 0; i < n; i++) {
        mt_record r;
        uint8_t *tmp = malloc(mt_enc_text_bound(4000));
        uint8_t *p;
        memset(&r, 0, sizeof r);
        switch (tu_below(rg, 3)) {
        case 0:
            r.type = MT_REC_STRING;
            r.u.string.sid = gen_nonzero32(g);
            r.u.string.len = gen_len(g, 30, 4000);
            r.u.string.bytes = (const char *)gen_bytes(g, &e->arena, r.u.string.len);
            p = mt_enc_string(tmp, r.u.string.sid, r.u.string.bytes, r.u.string.len);
            break;
        case 1:
            r.type = MT_REC_FUNCTION;
            r.u.function.fid = gen_nonzero32(g);
            r.u.function.kind = (uint32_t)tu_below(rg, 2);
            r.u.function.qualname_sid = tu_edge32(rg);
            r.u.function.module_sid = tu_edge32(rg);
            r.u.function.file_sid = tu_edge32(rg);
            r.u.function.first_line = tu_edge32(rg);
            p = mt_enc_function(tmp, r.u.function.fid, r.u.function.kind,
                                r.u.function.qualname_sid, r.u.function.module_sid,
                                r.u.function.file_sid, r.u.function.first_line);
            break;
        default:
            r.type = MT_REC_THREAD;
            r.tid = tu_edge32(rg);
            r.u.thread.native_id = tu_edge64(rg);
            r.u.thread.len = gen_len(g, 15, 100);
            r.u.thread.name = (const char *)gen_bytes(g, &e->arena, r.u.thread.len);
            p = mt_enc_thread(tmp, r.tid, r.u.thread.native_id, r.u.thread.name,
                              r.u.thread.len);
            break;
        }
        r.raw_type = (uint8_t)r.type;
        tu_buf_put(defs, tmp, (size_t)(p - tmp));
        free(tmp);
        exp_add(e, &r);
        (*nrec)++;
    }
}

/* mixed: also interleave mt_writer_append records (on other threads). */
static void test_encoders(gen *g, size_t nblocks, uint32_t chunk_raw_bytes, int mixed) {
    exp_set e = {0};
    tu_buf out = {0};
    mt_writer *w = NULL;
    mt_header h = tu_header();
    mt_writer_options o = {chunk_raw_bytes, 0};
    char what[128];
    snprintf(what, sizeof what, "encoders: %zu blocks, chunk %u%s", nblocks,
             chunk_raw_bytes, mixed ? ", mixed with append" : "");
    tu_case = what;
    int rc = mt_writer_open_sink(&w, tu_sink_all, &out, &h, &o);
    CHECK(rc == 0, "open: %s", mt_strerror(rc));
    if (rc < 0) return;
    unsigned long fails = 0;
    for (size_t b = 0; b < nblocks; b++) {
        tu_buf blk = {0};
        uint32_t nrec;
        uint64_t t0, t1;
        if (tu_chance(&g->rng, 200)) {
            enc_defs(g, &e, &blk, &nrec);
            fails += mt_writer_append_defs(w, blk.p, blk.n, nrec) != 0;
            blk.n = 0;
        }
        if (mixed && tu_chance(&g->rng, 500)) {
            uint32_t k = 1 + (uint32_t)tu_below(&g->rng, 20);
            for (uint32_t i = 0; i < k; i++) {
                mt_record r;
                g->cur = (uint32_t)tu_below(&g->rng, 3); /* tids 1..3 */
                gen_record(g, &e.arena, &r);
                exp_add(&e, &r);
                fails += mt_writer_append(w, &r) != 0;
            }
        }
        /* Hand-encoded blocks use tids the append path never uses. */
        enc_block(g, &e, &blk, &nrec, &t0, &t1, 1000 + (uint32_t)tu_below(&g->rng, 4));
        fails += mt_writer_append_block(w, blk.p, blk.n, nrec, t0, t1) != 0;
        tu_buf_free(&blk);
        if (tu_chance(&g->rng, 20)) fails += mt_writer_flush(w) != 0;
    }
    CHECK(fails == 0, "%lu appends failed (writer error %s)", fails,
          mt_strerror(mt_writer_error(w)));
    rc = mt_writer_close(w);
    CHECK(rc == 0, "close: %s", mt_strerror(rc));
    verify(what, out.p, out.n, &e, 0, 1);
    verify(what, out.p, out.n, &e, 1, 1);
    tu_buf_free(&out);
    exp_free(&e);
    model_free(&g->m);
}

/* ---- compatibility: what a v1.x writer may add --------------------------- */

static void rec_unknown(exp_set *e, uint8_t type, const void *bytes, uint32_t len,
                        uint64_t t, uint32_t tid) {
    mt_record r;
    memset(&r, 0, sizeof r);
    r.type = MT_REC_UNKNOWN;
    r.raw_type = type;
    r.t = t; /* the block's running time: unknown records have no dt */
    r.tid = tid;
    r.u.unknown.len = len;
    r.u.unknown.bytes = tu_dup(&e->arena, bytes, len);
    exp_add(e, &r);
}

static void test_compat(void) {
    exp_set e = {0};
    tu_buf f = {0}, raw = {0};
    uint8_t tmp[256], *p;
    mt_header h = tu_header();
    static const char *const argv2[] = {"a", "b"};
    h.argv = argv2;
    h.argc = 2;
    h.mode = "fast";
    tu_case = "compat";
    tu_put_header(&f, &h);

    /* Definition chunk: a FUNCTION with two trailing bytes. */
    mt_record r;
    memset(&r, 0, sizeof r);
    p = tmp;
    *p++ = MT_REC_FUNCTION;
    *p++ = 8; /* 6 one-byte fields + 2 new ones */
    uint8_t fn[8] = {7, 0, 1, 2, 3, 42, 0xAA, 0xBB};
    memcpy(p, fn, 8);
    p += 8;
    p = mt_enc_string(p, 1, "hi", 2);
    tu_buf_put(&raw, tmp, (size_t)(p - tmp));
    r.type = r.raw_type = MT_REC_FUNCTION;
    r.u.function = (__typeof__(r.u.function)){7, 0, 1, 2, 3, 42};
    exp_add(&e, &r);
    r = (mt_record){.type = MT_REC_STRING, .raw_type = MT_REC_STRING,
                    .u.string = {1, 2, tu_dup(&e.arena, "hi", 2)}};
    exp_add(&e, &r);
    tu_put_chunk(&f, raw.p, raw.n, 0, MT_CHUNK_DEFS, 2, 0, 0, 0);
    raw.n = 0;

    /* Data chunk: unknown sized types and known types with extra fields. */
    uint32_t stack[1] = {7};
    p = mt_enc_block(tmp, 5, 100, stack, 1);
    r = (mt_record){.type = MT_REC_BLOCK, .raw_type = MT_REC_BLOCK, .tid = 5, .t = 100,
                    .u.block = {1, tu_dup(&e.arena, stack, 4)}};
    exp_add(&e, &r);
    p = mt_enc_sized_head(p, 0x70, 3);
    memcpy(p, "abc", 3);
    p += 3;
    rec_unknown(&e, 0x70, "abc", 3, 100, 5);
    /* COUNTERS dt 1, n 1, {1: 300}, then 2 bytes of a future field. */
    static const uint8_t ctr[] = {MT_REC_COUNTERS, 7, 1, 1, 1, 0xac, 0x02, 0xEE, 0xEF};
    memcpy(p, ctr, sizeof ctr);
    p += sizeof ctr;
    mt_counter c1 = {1, 300};
    r = (mt_record){.type = MT_REC_COUNTERS, .raw_type = MT_REC_COUNTERS, .tid = 5,
                    .t = 101, .u.counters = {1, tu_dup(&e.arena, &c1, sizeof c1)}};
    exp_add(&e, &r);
    p = mt_enc_call(p, 2, 9);
    r = (mt_record){.type = MT_REC_CALL, .raw_type = MT_REC_CALL, .tid = 5, .t = 103,
                    .u.call.fid = 9};
    exp_add(&e, &r);
    p = mt_enc_sized_head(p, 0xFF, 0);
    rec_unknown(&e, 0xFF, "", 0, 103, 5);
    p = mt_enc_event(p, MT_REC_RETURN, 1);
    r = (mt_record){.type = MT_REC_RETURN, .raw_type = MT_REC_RETURN, .tid = 5, .t = 104,
                    .u.call.fid = 9};
    exp_add(&e, &r);
    /* THREAD_START dt 1, tid 6, then 1 byte. */
    static const uint8_t ts[] = {MT_REC_THREAD_START, 3, 1, 6, 0x55};
    memcpy(p, ts, sizeof ts);
    p += sizeof ts;
    r = (mt_record){.type = MT_REC_THREAD_START, .raw_type = MT_REC_THREAD_START,
                    .tid = 6, .t = 105};
    exp_add(&e, &r);
    /* LOST dt 0 events 1 bytes 2 reason 1, then 3 bytes. */
    static const uint8_t lost[] = {MT_REC_LOST, 7, 0, 1, 2, 1, 9, 9, 9};
    memcpy(p, lost, sizeof lost);
    p += sizeof lost;
    r = (mt_record){.type = MT_REC_LOST, .raw_type = MT_REC_LOST, .tid = 5, .t = 105,
                    .u.lost = {1, 2, 1}};
    exp_add(&e, &r);
    p = mt_enc_event(p, MT_REC_UNWIND, 0);
    r = (mt_record){.type = MT_REC_UNWIND, .raw_type = MT_REC_UNWIND, .tid = 5, .t = 105,
                    .u.call.fid = 7};
    exp_add(&e, &r);
    /* PROC_EXIT dt 0 pid 3 status -2 (zigzag 3), then 1 byte. */
    static const uint8_t pe[] = {MT_REC_PROC_EXIT, 4, 0, 3, 3, 0};
    memcpy(p, pe, sizeof pe);
    p += sizeof pe;
    r = (mt_record){.type = MT_REC_PROC_EXIT, .raw_type = MT_REC_PROC_EXIT, .tid = 5,
                    .t = 105, .u.proc_exit = {3, -2}};
    exp_add(&e, &r);
    tu_buf_put(&raw, tmp, (size_t)(p - tmp));
    tu_put_chunk(&f, raw.p, raw.n, 1, 0, 10, 100, 105, 0);
    raw.n = 0;

    /* Unknown skippable frames: another magic, and our magic with a new tag. */
    static const uint8_t sk1[] = {0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3};
    static const uint8_t sk2[] = {0x5E, 0x2A, 0x4D, 0x18, 6, 0, 0, 0, 'M', 'T', 'Z', 'Z', 0, 0};
    tu_buf_put(&f, sk1, sizeof sk1);
    tu_buf_put(&f, sk2, sizeof sk2);

    /* A chunk whose header has 16 more bytes (a later minor). */
    p = mt_enc_block(tmp, 5, 200, NULL, 0);
    r = (mt_record){.type = MT_REC_BLOCK, .raw_type = MT_REC_BLOCK, .tid = 5, .t = 200};
    exp_add(&e, &r);
    p = mt_enc_alloc(p, 4, 5, 0x1000, 64, &(uint64_t){0});
    r = (mt_record){.type = MT_REC_ALLOC, .raw_type = MT_REC_ALLOC + 4, .domain = 4,
                    .tid = 5, .t = 205, .u.alloc = {0x1000, 64}};
    exp_add(&e, &r);
    tu_buf_put(&raw, tmp, (size_t)(p - tmp));
    tu_put_chunk(&f, raw.p, raw.n, 2, 0, 2, 200, 205, 16);

    verify("compat: hand-built chunks", f.p, f.n, &e, 0, 0);
    verify("compat: hand-built chunks", f.p, f.n, &e, 1, 0);

    /* Newer minor, longer fixed header part and an unknown text field. */
    tu_patch_header(&f, MT_FORMAT_MAJOR, MT_FORMAT_MINOR + 3, 16, 1);
    mt_reader *rd = NULL;
    int rc = mt_reader_open_mem(&rd, f.p, f.n, "compat-minor");
    CHECK(rc == 0, "newer minor: %s", rd ? mt_reader_errmsg(rd) : mt_strerror(rc));
    if (rc == 0) {
        const mt_header *g = mt_reader_header(rd);
        CHECK(g->minor == MT_FORMAT_MINOR + 3, "minor %u", g->minor);
        CHECK(g->mode && strcmp(g->mode, "fast") == 0 && g->argc == 2 &&
              strcmp(g->argv[1], "b") == 0 && g->producer &&
              strcmp(g->producer, "test_format") == 0,
              "text fields after fields_offset moved");
    }
    mt_reader_close(rd);
    verify("compat: newer minor header", f.p, f.n, &e, 0, 0);

    tu_buf_free(&f);
    tu_buf_free(&raw);
    exp_free(&e);
}

/* ---- files, fds and argument errors -------------------------------------- */

static void test_files(gen *g) {
    char dir[] = "/tmp/mt_roundtrip_XXXXXX", path[128];
    mt_writer *w = NULL;
    mt_reader *r = NULL;
    mt_header h = tu_header();
    exp_set e = {0};
    tu_case = "files";
    if (!mkdtemp(dir)) { perror("mkdtemp"); tu_failed++; return; }
    snprintf(path, sizeof path, "%s/a.trace", dir);
    mt_record *all = malloc(20000 * sizeof *all);
    for (int i = 0; i < 20000; i++) {
        gen_record(g, &e.arena, &all[i]);
        exp_add(&e, &all[i]);
    }
    int rc = mt_writer_open(&w, path, &h, NULL);
    CHECK(rc == 0, "writer open %s: %s", path, mt_strerror(rc));
    for (int i = 0; rc == 0 && i < 20000; i++) mt_writer_append(w, &all[i]);
    CHECK(mt_writer_close(w) == 0, "close");
    /* Reading the file by path, by fd, and as bytes. */
    rc = mt_reader_open(&r, path);
    CHECK(rc == 0, "reader open: %s", r ? mt_reader_errmsg(r) : mt_strerror(rc));
    int n = 0;
    mt_record rec;
    while (rc == 0 && mt_reader_next(r, &rec) > 0) n += rec.type != MT_REC_BLOCK;
    CHECK(n == 20000, "path: %d records", n);
    CHECK(rc != 0 || mt_reader_seek_time(r, 0) == 0, "seek on a path reader");
    mt_reader_close(r);
    r = NULL;
    int fd = open(path, O_RDONLY);
    rc = mt_reader_open_fd(&r, fd, "fd");
    n = 0;
    while (rc == 0 && mt_reader_next(r, &rec) > 0) n += rec.type != MT_REC_BLOCK;
    CHECK(n == 20000, "fd: %d records", n);
    mt_reader_close(r);
    r = NULL;
    CHECK(fcntl(fd, F_GETFD) != -1, "reader closed an fd it does not own");
    close(fd);

    /* A writer on an fd leaves it open. */
    snprintf(path, sizeof path, "%s/b.trace", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    rc = mt_writer_open_fd(&w, fd, &h, NULL);
    CHECK(rc == 0, "writer open_fd: %s", mt_strerror(rc));
    for (int i = 0; rc == 0 && i < 20000; i++) mt_writer_append(w, &all[i]);
    CHECK(mt_writer_close(w) == 0, "close fd writer");
    CHECK(fcntl(fd, F_GETFD) != -1, "writer closed an fd it does not own");
    close(fd);
    FILE *fp = fopen(path, "rb");
    tu_buf b = {0};
    uint8_t chunk[65536];
    size_t k;
    while (fp && (k = fread(chunk, 1, sizeof chunk, fp)) > 0) tu_buf_put(&b, chunk, k);
    if (fp) fclose(fp);
    verify("files: written to an fd", b.p, b.n, &e, 0, 1);
    tu_buf_free(&b);
    unlink(path);
    snprintf(path, sizeof path, "%s/a.trace", dir);
    unlink(path);
    rmdir(dir);

    /* Errors. */
    tu_case = "errors";
    w = (mt_writer *)1;
    rc = mt_writer_open(&w, "/nonexistent-dir/x.trace", &h, NULL);
    CHECK(rc == MT_ERR_IO && w == NULL, "open in a missing dir: %d", rc);
    r = NULL;
    rc = mt_reader_open(&r, "/nonexistent-dir/x.trace");
    CHECK(rc == MT_ERR_IO, "reader open missing file: %d", rc);
    mt_reader_close(r);
    r = NULL;
    rc = mt_reader_open_mem(&r, "", 0, "empty");
    CHECK(rc == MT_ERR_EMPTY, "empty buffer: %s", mt_strerror(rc));
    mt_reader_close(r);
    r = NULL;
    rc = mt_reader_open_mem(&r, "hello world, this is not a trace", 32, "text");
    CHECK(rc == MT_ERR_NOT_TRACE, "text: %s", mt_strerror(rc));
    mt_reader_close(r);
    CHECK(mt_writer_close(NULL) == 0, "mt_writer_close(NULL)");
    mt_writer_discard(NULL);
    mt_reader_close(NULL);

    tu_buf out = {0};
    mt_writer_open_sink(&w, tu_sink_all, &out, &h, NULL);
    mt_counter many[MT_MAX_COUNTERS + 1];
    memset(many, 0, sizeof many);
    mt_record bad = {.type = MT_REC_COUNTERS, .u.counters = {MT_MAX_COUNTERS + 1, many}};
    rc = mt_writer_append(w, &bad);
    CHECK(rc < 0, "65 counters accepted");
    mt_writer_discard(w);
    tu_buf_free(&out);
    mt_writer_open_sink(&w, tu_sink_all, &out, &h, NULL);
    bad = (mt_record){.type = 0x99};
    CHECK(mt_writer_append(w, &bad) < 0, "type 0x99 accepted");
    mt_writer_discard(w);
    tu_buf_free(&out);
    /* Encoded bytes that break the append_block/_defs contract. */
    static const uint8_t call[] = {MT_REC_CALL, 0, 5};
    mt_writer_open_sink(&w, tu_sink_all, &out, &h, NULL);
    rc = mt_writer_append_block(w, call, sizeof call, 1, 0, 0);
    CHECK(rc == MT_ERR_ARG, "append_block without BLOCK: %s", mt_strerror(rc));
    mt_writer_discard(w);
    tu_buf_free(&out);
    mt_writer_open_sink(&w, tu_sink_all, &out, &h, NULL);
    rc = mt_writer_append_defs(w, call, sizeof call, 1);
    CHECK(rc == MT_ERR_ARG, "append_defs with a CALL: %s", mt_strerror(rc));
    mt_writer_discard(w);
    tu_buf_free(&out);
    /* Records and blocks beyond the chunk limit. */
    size_t huge_n = MT_MAX_CHUNK_RAW_BYTES + 100;
    uint8_t *huge = calloc(1, huge_n + 64);
    mt_writer_open_sink(&w, tu_sink_all, &out, &h, NULL);
    bad = (mt_record){.type = MT_REC_MARKER, .tid = 1, .t = 1,
                      .u.marker = {(uint32_t)huge_n, (const char *)huge}};
    rc = mt_writer_append(w, &bad);
    CHECK(rc == MT_ERR_LIMIT || rc == MT_ERR_ARG, "17 MiB marker: %s", mt_strerror(rc));
    mt_writer_discard(w);
    tu_buf_free(&out);
    mt_writer_open_sink(&w, tu_sink_all, &out, &h, NULL);
    uint8_t *blk = malloc(mt_enc_block_bound(0) + mt_enc_text_bound(huge_n));
    uint8_t *e2 = mt_enc_block(blk, 1, 1, NULL, 0);
    e2 = mt_enc_marker(e2, 0, huge, huge_n);
    rc = mt_writer_append_block(w, blk, (size_t)(e2 - blk), 2, 1, 1);
    CHECK(rc == MT_ERR_LIMIT || rc == MT_ERR_ARG, "17 MiB block: %s", mt_strerror(rc));
    mt_writer_discard(w);
    tu_buf_free(&out);
    free(blk);
    free(huge);
    free(all);
    exp_free(&e);
    model_free(&g->m);
}

static long sink_fail_after(void *ctx, const void *buf, size_t n) {
    size_t *left = ctx;
    (void)buf;
    if (*left == 0) return -ENOSPC;
    if (n > *left) n = *left;
    *left -= n;
    return (long)n;
}

static void test_sink_errors(gen *g) {
    mt_writer *w = NULL;
    mt_header h = tu_header();
    mt_writer_options o = {256, 0};
    tu_arena a = {0};
    tu_case = "sink errors";
    size_t left = 100000; /* header fits; data chunks fail later */
    int rc = mt_writer_open_sink(&w, sink_fail_after, &left, &h, &o);
    CHECK(rc == 0, "open");
    if (rc < 0) return;
    int first_err = 0;
    for (int i = 0; i < 50000; i++) {
        mt_record r;
        gen_record(g, &a, &r);
        rc = mt_writer_append(w, &r);
        if (rc < 0 && !first_err) first_err = rc;
    }
    rc = mt_writer_error(w);
    CHECK(rc == MT_ERR_NOSPACE || rc == MT_ERR_IO, "writer error after ENOSPC: %s",
          mt_strerror(rc));
    CHECK(first_err == rc, "append did not report the sticky error");
    CHECK(mt_writer_bytes_written(w) <= 100000, "bytes written beyond the sink");
    rc = mt_writer_close(w);
    CHECK(rc == MT_ERR_NOSPACE || rc == MT_ERR_IO, "close after ENOSPC: %s", mt_strerror(rc));
    left = 5; /* the header itself fails */
    w = (mt_writer *)1;
    rc = mt_writer_open_sink(&w, sink_fail_after, &left, &h, &o);
    CHECK(rc < 0 && w == NULL, "open on a failing sink: %d", rc);
    tu_arena_free(&a);
    model_free(&g->m);
}

int main(int argc, char **argv) {
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    double t0 = tu_now();
    gen g;
    memset(&g, 0, sizeof g);
    g.rng.s = tu_seed(20261121);

    test_varint();
    test_names();
    test_ticks();
    test_header();
    test_lookups();
    test_positions();
    test_compat();
    test_redefinition_order();

    /* Many small streams (edges: empty, tiny, level 19), then big ones. */
    size_t total = 0;
    int nsmall = (int)(200 * scale);
    for (int i = 0; i < nsmall; i++) {
        static const int levels[] = {0, 1, 3, 19};
        size_t n = i < 3 ? (size_t)i : (size_t)tu_below(&g.rng, 3000);
        roundtrip_stream(&g, n, levels[tu_below(&g.rng, 4)], 0);
        model_free(&g.m);
        total += n;
    }
    printf("small streams: %d, %zu records, %.1f s\n", nsmall, total, tu_now() - t0);
    size_t big = (size_t)(350000 * scale);
    roundtrip_stream(&g, big, 1, 1);
    model_free(&g.m);
    total += big;
    printf("records generated: %zu, written %zu times, read %zu times, %.1f s\n",
           total, (size_t)W_NMODES, (size_t)W_NMODES * 2, tu_now() - t0);

    test_encoders(&g, (size_t)(3000 * scale), 0, 0);
    test_encoders(&g, (size_t)(1000 * scale), 256, 0);
    test_encoders(&g, (size_t)(2000 * scale), 4096, 1);
    test_files(&g);
    test_sink_errors(&g);
    printf("time %.1f s\n", tu_now() - t0);
    return tu_finish();
}
