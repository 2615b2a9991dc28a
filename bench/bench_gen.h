/*
 * bench_gen.h - the synthetic trace of bench-analyze and bench-diff, shaped
 * like the recorder's output: Python threads whose blocks of ~4000 records
 * hold calls, returns and lines (a random walk of depth 5-40 over 2000
 * functions), and a sampler thread writing an RSS record every 10 ms of
 * trace time (40 ns per event). Blocks are encoded with the mt_enc_*
 * functions and handed to mt_writer_append_block, as the recorder does.
 * A header of static functions: each benchmark is one file.
 */
#ifndef BENCH_GEN_H
#define BENCH_GEN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memtrace_format.h"

#define NFUNCS 2000
#define BLOCK_RECORDS 4000
#define DT 40                  /* ticks (ns) per event */
#define SAMPLE_TICKS 10000000u /* 10 ms */

static const char *bench_prog; /* set by main: messages and the producer */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng;
static inline uint32_t rnd(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void die(const char *what, int rc) {
    fprintf(stderr, "%s: %s: %s\n", bench_prog, what, rc < 0 ? mt_strerror(rc) : strerror(errno));
    exit(1);
}

typedef struct gthread {
    uint32_t tid;
    uint32_t stack[64], depth;
    uint32_t line;
} gthread;

/* Write a trace of about nevents records to path; returns the count. seed 0
 * gives bench-analyze's stream; hot shifts which 100 functions are hot (the
 * seeds and offsets of bench-diff make two runs whose functions differ). */
static uint64_t bench_generate(const char *path, uint64_t nevents, uint32_t nthreads,
                               uint64_t seed, uint32_t hot) {
    rng = 0x9e3779b97f4a7c15ULL ^ (seed * 0x100000001b3ULL);
    mt_header h;
    mt_header_init(&h);
    h.content = MT_CONTENT_CALLS | MT_CONTENT_LINES | MT_CONTENT_RSS;
    h.ticks_per_second = 1000000000u;
    h.producer = bench_prog;
    h.mode = "trace";
    mt_writer *w;
    int rc = mt_writer_open(&w, path, &h, NULL);
    if (rc < 0) die(path, rc);

    /* Definitions: 100 files, then one name per function. */
    uint8_t *defs = malloc(NFUNCS * 200), *p = defs;
    uint32_t ndefs = 0;
    char name[64];
    for (uint32_t f = 0; f < 100; f++, ndefs++) {
        int n = snprintf(name, sizeof name, "/srv/app/pkg/module_%u.py", f);
        p = mt_enc_string(p, 1 + f, name, (size_t)n);
    }
    for (uint32_t f = 1; f <= NFUNCS; f++, ndefs += 2) {
        int n = snprintf(name, sizeof name, "Class%u.method_%u", f % 97, f);
        p = mt_enc_string(p, 100 + f, name, (size_t)n);
        p = mt_enc_function(p, f, MT_FUNC_PYTHON, 100 + f, 0, 1 + f % 100, 10 * f);
    }
    if ((rc = mt_writer_append_defs(w, defs, (size_t)(p - defs), ndefs)) < 0) die("defs", rc);
    for (uint32_t t = 0; t <= nthreads; t++) {
        uint8_t buf[128];
        int n = snprintf(name, sizeof name, t ? "Thread-%u" : "[process]", t);
        uint8_t *q = mt_enc_thread(buf, t, 1000 + t, name, (size_t)n);
        if ((rc = mt_writer_append_defs(w, buf, (size_t)(q - buf), 1)) < 0) die("thread", rc);
    }
    free(defs);

    gthread *th = calloc(nthreads, sizeof *th);
    for (uint32_t t = 0; t < nthreads; t++) {
        th[t].tid = t + 1;
        th[t].stack[0] = 1;
        th[t].depth = 1; /* <module>, entered before recording */
    }
    size_t cap = mt_enc_block_bound(64) + (size_t)BLOCK_RECORDS * MT_MAX_COMPACT_BYTES;
    uint8_t *blk = malloc(cap);
    uint64_t written = 0, t_now = 0, next_sample = 0, rss = 200u << 20;
    uint32_t cur = 0;
    while (written < nevents) {
        /* The sampler's RSS records up to now: one block. */
        if (t_now >= next_sample) {
            uint64_t prev = 0, t_first = next_sample, t_s = next_sample;
            uint8_t *q = mt_enc_block(blk, 0, t_first, NULL, 0);
            uint32_t n = 1;
            while (t_s <= t_now && n < BLOCK_RECORDS) {
                rss += (rnd() % 1024) * 4096; /* up to 4 MiB more */
                if (rss > (3ull << 30)) rss = 200u << 20; /* a big free */
                q = mt_enc_rss(q, n == 1 ? 0 : SAMPLE_TICKS, rss, &prev);
                n++;
                t_s += SAMPLE_TICKS;
            }
            if ((rc = mt_writer_append_block(w, blk, (size_t)(q - blk), n, t_first,
                                             t_s - SAMPLE_TICKS)) < 0)
                die("append", rc);
            written += n - 1;
            next_sample = t_s;
        }
        /* One block of a Python thread. */
        gthread *g = &th[cur];
        cur = (cur + 1) % nthreads;
        uint64_t t0 = t_now;
        uint8_t *q = mt_enc_block(blk, g->tid, t0, g->stack, g->depth);
        uint32_t prev_line = 0;
        for (uint32_t i = 0; i < BLOCK_RECORDS; i++) {
            uint32_t r = rnd() % 100;
            uint64_t dt = i ? DT : 0;
            if (r < 40) { /* line */
                q = mt_enc_line(q, dt, g->line + (rnd() % 8), &prev_line);
            } else if ((r < 70 && g->depth < 40) || g->depth <= 5) { /* call */
                uint32_t fid = 1 + (rnd() % 64 == 0 ? rnd() % NFUNCS : hot + rnd() % 100);
                g->stack[g->depth++] = fid;
                g->line = 10 * fid;
                q = mt_enc_call(q, dt, fid);
            } else { /* return */
                g->depth--;
                g->line = 10 * g->stack[g->depth - 1] + 1;
                q = mt_enc_event(q, MT_REC_RETURN, dt);
            }
            t_now += dt;
        }
        if ((rc = mt_writer_append_block(w, blk, (size_t)(q - blk), BLOCK_RECORDS + 1, t0,
                                         t_now)) < 0)
            die("append", rc);
        written += BLOCK_RECORDS;
        t_now += DT;
    }
    if ((rc = mt_writer_close(w)) < 0) die("close", rc);
    free(blk);
    free(th);
    return written;
}

#endif /* BENCH_GEN_H */
