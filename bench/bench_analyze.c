/*
 * bench_analyze.c - how fast memtrace-analyze's core streams, and in how
 * much memory.
 *
 *   bench-analyze [-n EVENTS] [-t THREADS] [-d DIR] [-k]
 *
 * Writes a synthetic trace of about EVENTS records (default 1e9; "1e8"
 * works) into DIR (default build/bench), shaped like the recorder's output:
 * THREADS (default 4) Python threads whose blocks of ~4000 records hold
 * calls, returns and lines (a random walk of depth 5-40 over 2000
 * functions), and a sampler thread writing an RSS record every 10 ms of
 * trace time (40 ns per event, so 1e9 events are 40 s of a run). Blocks are
 * encoded with the mt_enc_* functions and handed to
 * mt_writer_append_block, as the recorder does.
 *
 * Then it times, each in a child process (so that its peak RSS is its own):
 *   decode    a bare mt_reader_next loop (the floor of one pass)
 *   analysis  mt_analysis_run (two passes) + sort
 * and prints events/s (one core) and peak RSS. The trace is deleted unless
 * -k. Not a test: nothing here fails on a number.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memtrace_format.h"
#include "../analyze/mt_analysis.h"

#define NFUNCS 2000
#define BLOCK_RECORDS 4000
#define DT 40                  /* ticks (ns) per event */
#define SAMPLE_TICKS 10000000u /* 10 ms */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static inline uint32_t rnd(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void die(const char *what, int rc) {
    fprintf(stderr, "bench-analyze: %s: %s\n", what, rc < 0 ? mt_strerror(rc) : strerror(errno));
    exit(1);
}

typedef struct gthread {
    uint32_t tid;
    uint32_t stack[64], depth;
    uint32_t line;
} gthread;

static uint64_t generate(const char *path, uint64_t nevents, uint32_t nthreads) {
    mt_header h;
    mt_header_init(&h);
    h.content = MT_CONTENT_CALLS | MT_CONTENT_LINES | MT_CONTENT_RSS;
    h.ticks_per_second = 1000000000u;
    h.producer = "bench-analyze";
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
                uint32_t fid = 1 + (rnd() % 64 == 0 ? rnd() % NFUNCS : rnd() % 100);
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

/* Run fn in a child; return its CPU time (user + system: "per core", and
 * robust to other load on the machine), its wall time in *wall and its
 * peak RSS in *maxrss_kib. */
static double in_child(int (*fn)(const char *), const char *path, long *maxrss_kib,
                       double *wall) {
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) die("fork", 0);
    if (pid == 0) _exit(fn(path));
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) die("wait", 0);
    *wall = now_s() - t0;
    double dt = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "bench-analyze: child failed\n");
        exit(1);
    }
    *maxrss_kib = ru.ru_maxrss;
    return dt;
}

static int run_decode(const char *path) {
    mt_reader *r;
    mt_record rec;
    if (mt_reader_open(&r, path) < 0) return 1;
    uint64_t n = 0;
    while (mt_reader_next(r, &rec) > 0) n++;
    mt_reader_close(r);
    return n ? 0 : 1;
}

static int run_analysis(const char *path) {
    mt_analysis *a;
    if (mt_analysis_run(&a, path, NULL) < 0) {
        fprintf(stderr, "bench-analyze: %s\n", a ? mt_analysis_errmsg(a) : "failed");
        return 1;
    }
    mt_analysis_sort(a, MT_ANALYSIS_SORT_SELF);
    uint32_t n;
    const mt_analysis_function *f = mt_analysis_functions(a, &n);
    const mt_analysis_summary *s = mt_analysis_summary_get(a);
    fprintf(stderr, "  (analysis: %u functions, %llu calls, %llu RSS samples, top self %s)\n",
            (unsigned)n, (unsigned long long)s->calls, (unsigned long long)s->rss_samples,
            n ? f[0].qualname : "-");
    mt_analysis_free(a);
    return 0;
}

int main(int argc, char **argv) {
    uint64_t nevents = 1000000000ull;
    uint32_t nthreads = 4;
    const char *dir = "build/bench";
    int keep = 0, c;
    while ((c = getopt(argc, argv, "n:t:d:kh")) != -1) {
        switch (c) {
        case 'n': nevents = (uint64_t)strtod(optarg, NULL); break;
        case 't': nthreads = (uint32_t)atoi(optarg); break;
        case 'd': dir = optarg; break;
        case 'k': keep = 1; break;
        default:
            fprintf(stderr, "usage: bench-analyze [-n EVENTS] [-t THREADS] [-d DIR] [-k]\n");
            return 2;
        }
    }
    if (!nevents || !nthreads || nthreads > 64) {
        fprintf(stderr, "bench-analyze: bad -n or -t\n");
        return 2;
    }
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-analyze-%d.trace", dir, (int)getpid());

    double t0 = now_s();
    uint64_t n = generate(path, nevents, nthreads);
    double gen = now_s() - t0;
    struct stat st;
    stat(path, &st);
    printf("trace: %llu events, %u threads, %.1f MiB (%.2f bytes/event), written in %.1f s\n",
           (unsigned long long)n, (unsigned)nthreads, (double)st.st_size / (1 << 20),
           (double)st.st_size / (double)n, gen);
    fflush(stdout);

    long rss_dec, rss_an;
    double w_dec, w_an;
    double t_dec = in_child(run_decode, path, &rss_dec, &w_dec);
    printf("decode   (1 pass, bare reader): %6.2f s CPU (%6.2f s wall)  %6.1f M events/s/core"
           "  peak RSS %6.1f MiB\n",
           t_dec, w_dec, (double)n / t_dec / 1e6, (double)rss_dec / 1024);
    fflush(stdout);
    double t_an = in_child(run_analysis, path, &rss_an, &w_an);
    printf("analysis (2 passes):            %6.2f s CPU (%6.2f s wall)  %6.1f M events/s/core"
           "  peak RSS %6.1f MiB\n",
           t_an, w_an, (double)n / t_an / 1e6, (double)rss_an / 1024);
    if (!keep) unlink(path);
    else printf("kept %s\n", path);
    return 0;
}
