/*
 * fuzz_seeds.c - write the seed corpus of fuzz_reader: small valid traces
 * that hold every record type, in one chunk and in many, with and without
 * the index, and a few truncated ones.
 *
 * Usage: fuzz_seeds DIR   (writes DIR/seed-NN.trace; exit 1 on failure)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrace_format.h"

typedef struct { unsigned char *p; size_t n, cap; } buf;

static long sink(void *ctx, const void *b, size_t n) {
    buf *o = ctx;
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->p = realloc(o->p, o->cap);
        if (!o->p) return -12;
    }
    memcpy(o->p + o->n, b, n);
    o->n += n;
    return (long)n;
}

/* One of everything, on two threads; variant changes the values. */
static int write_all_types(buf *o, uint32_t chunk_raw_bytes, int variant) {
    static const char *const argv[] = {"python3", "-m", "app"};
    mt_header h;
    mt_writer *w = NULL;
    mt_writer_options opt = {chunk_raw_bytes, 1};
    memset(&h, 0, sizeof h);
    h.clock = MT_CLOCK_MONOTONIC;
    h.ticks_per_second = 1000000000u;
    h.content = 0x7f;
    h.pid = 100;
    h.hostname = "fuzz";
    h.mode = "trace";
    h.argv = argv;
    h.argc = 3;
    int rc = mt_writer_open_sink(&w, sink, o, &h, &opt);
    if (rc < 0) return rc;
    mt_counter c[3] = {{MT_CTR_RSS_BYTES, 1u << 20}, {MT_CTR_THREADS, 2}, {77, 5}};
    static const uint32_t lt_off[] = {0, 4, 30}, lt_line[] = {1, 3, 0}; /* 1.3 */
    static const uint32_t pos_lv[] = {0, 1}, pos_off[] = {6, UINT32_MAX};
    uint64_t t = 10;
    uint32_t v = (uint32_t)variant;
    for (int rep = 0; rep < 1 + variant; rep++) {
        const mt_record rs[] = {
            {.type = MT_REC_STRING, .u.string = {1, 4, "main"}},
            {.type = MT_REC_STRING, .u.string = {2, 7, "app.py"}},
            {.type = MT_REC_STRING, .u.string = {3, 10, "ValueError"}},
            {.type = MT_REC_FUNCTION, .u.function = {1, MT_FUNC_PYTHON, 1, 0, 2, 1}},
            {.type = MT_REC_FUNCTION, .u.function = {2, MT_FUNC_C, 3, 0, 0, 0}},
            {.type = MT_REC_THREAD, .tid = 1, .u.thread = {4242, 10, "MainThread"}},
            {.type = MT_REC_THREAD_START, .tid = 2, .t = t++},
            {.type = MT_REC_CALL, .tid = 1, .t = t++, .u.call.fid = 1},
            {.type = MT_REC_LINE, .tid = 1, .t = t++, .u.line.line = 3 + v},
            {.type = MT_REC_LINES, .u.lines = {1, 3, lt_off, lt_line}},
            {.type = MT_REC_POS, .tid = 1, .t = t, .u.pos = {2, pos_lv, pos_off, NULL}},
            {.type = MT_REC_CCALL, .tid = 1, .t = t++, .u.call.fid = 2},
            {.type = MT_REC_ALLOC, .domain = MT_DOMAIN_OBJ, .tid = 1, .t = t++,
             .u.alloc = {0x7f0000001000u + v, 64}},
            {.type = MT_REC_REALLOC, .domain = MT_DOMAIN_MEM, .tid = 1, .t = t++,
             .u.realloc = {0x7f0000001000u, 0x7f0000002000u, 128}},
            {.type = MT_REC_CRAISE, .tid = 1, .t = t++},
            {.type = MT_REC_CALL, .tid = 2, .t = t++, .u.call.fid = 1},
            {.type = MT_REC_RAISE, .tid = 1, .t = t++, .u.raise.type_sid = 3},
            {.type = MT_REC_OBJ_NEW, .tid = 1, .t = t++, .u.obj = {0x1000, 3}},
            {.type = MT_REC_OBJ_DEL, .tid = 1, .t = t++, .u.obj = {0x1000, 3}},
            {.type = MT_REC_RSS, .tid = 1, .t = t++, .u.rss.bytes = 1u << 24},
            {.type = MT_REC_FREE, .domain = MT_DOMAIN_MALLOC, .tid = 1, .t = t++,
             .u.alloc = {0x7f0000002000u, 0}},
            {.type = MT_REC_UNWIND, .tid = 1, .t = t++},
            {.type = MT_REC_MARKER, .tid = 1, .t = t++, .u.marker = {5, "phase"}},
            {.type = MT_REC_COUNTERS, .tid = 1, .t = t++, .u.counters = {3, c}},
            {.type = MT_REC_PROC_SAMPLE, .tid = 1, .t = t++,
             .u.proc = {7, 1, 1, 2, 3, c}},
            {.type = MT_REC_PROC_EXIT, .tid = 1, .t = t++, .u.proc_exit = {7, -9}},
            {.type = MT_REC_RETURN, .tid = 2, .t = t++},
            {.type = MT_REC_THREAD_END, .tid = 2, .t = t++},
            {.type = MT_REC_LOST, .tid = 1, .t = t++, .u.lost = {3, 300, MT_LOST_BUFFER_FULL}},
            {.type = MT_REC_LINE, .tid = 1, .t = t - 5, .u.line.line = 1}, /* backwards */
            {.type = MT_REC_SUMMARY, .tid = 1, .t = t++, .u.summary = {MT_END_EXIT, 3, c}},
        };
        for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
            if ((rc = mt_writer_append(w, &rs[i])) < 0) break;
    }
    /* And a block made with the encoders. */
    unsigned char b[256], *p;
    uint32_t stack[2] = {1, 2}, prev_line = 0;
    uint64_t prev_addr = 0;
    p = mt_enc_block(b, 3, t, stack, 2);
    p = mt_enc_line(p, 1, 10, &prev_line);
    p = mt_enc_alloc(p, MT_DOMAIN_RAW, 2, 0x5000, 10, &prev_addr);
    p = mt_enc_event(p, MT_REC_CRETURN, 1);
    mt_writer_append_block(w, b, (size_t)(p - b), 4, t, t + 4);
    rc = mt_writer_close(w);
    return rc;
}

static int save(const char *dir, int k, const unsigned char *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%02d.trace", dir, k);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "fuzz_seeds: cannot write '%s'\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    static const uint32_t chunk_sizes[] = {0, 64, 256};
    int k = 0;
    for (int v = 0; v < 3; v++)
        for (size_t c = 0; c < sizeof chunk_sizes / sizeof chunk_sizes[0]; c++) {
            buf o = {0};
            int rc = write_all_types(&o, chunk_sizes[c], v);
            if (rc < 0) {
                fprintf(stderr, "fuzz_seeds: writing a trace: %s\n", mt_strerror(rc));
                return 1;
            }
            if (save(argv[1], k++, o.p, o.n) < 0) return 1;
            /* Without the index and end frame, and cut inside a chunk. */
            if (v == 1 && c == 2) {
                if (save(argv[1], k++, o.p, o.n - 32) < 0) return 1;
                if (save(argv[1], k++, o.p, o.n * 2 / 3) < 0) return 1;
            }
            free(o.p);
        }
    printf("fuzz_seeds: %d seeds in %s\n", k, argv[1]);
    return 0;
}
