/*
 * bench_diff.c - how fast memtrace-diff streams two traces, and in how
 * much memory.
 *
 *   bench-diff [-n EVENTS] [-d DIR] [-k] [DIFF]
 *
 * Writes two synthetic traces of about EVENTS records each (default 1e9;
 * "1e8" for a quick run) into DIR (default build/bench), shaped like
 * bench-analyze's (the recorder's output: 4 Python threads whose blocks of
 * 4000 records hold calls, returns and lines over 2000 functions, and a
 * sampler thread writing RSS every 10 ms of trace time), from two seeds so
 * that their functions differ. Then it runs DIFF (default
 * build/bin/memtrace-diff) on them in a child with --json --fail-if
 * "peak>+10%", output to /dev/null, and prints its CPU and wall time,
 * events/s per core (both traces' events over user + system time: the
 * analysis reads each trace twice) and peak RSS. The traces are deleted
 * unless -k. Not a test: nothing here fails on a number.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memtrace_format.h"

#define NFUNCS 2000
#define NTHREADS 4
#define BLOCK_RECORDS 4000
#define DT 40                  /* ticks (ns) per event */
#define SAMPLE_TICKS 10000000u /* 10 ms */

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
    fprintf(stderr, "bench-diff: %s: %s\n", what, rc < 0 ? mt_strerror(rc) : strerror(errno));
    exit(1);
}

typedef struct gthread {
    uint32_t tid, stack[64], depth, line;
} gthread;

/* The seed also shifts which functions are hot, so that the diff has
 * functions whose calls and growth change. */
static uint64_t generate(const char *path, uint64_t nevents, uint64_t seed) {
    rng = 0x9e3779b97f4a7c15ULL ^ (seed * 0x100000001b3ULL);
    mt_header h;
    mt_header_init(&h);
    h.content = MT_CONTENT_CALLS | MT_CONTENT_LINES | MT_CONTENT_RSS;
    h.ticks_per_second = 1000000000u;
    h.producer = "bench-diff";
    h.mode = "trace";
    mt_writer *w;
    int rc = mt_writer_open(&w, path, &h, NULL);
    if (rc < 0) die(path, rc);

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
    free(defs);
    for (uint32_t t = 0; t <= NTHREADS; t++) {
        uint8_t buf[128];
        int n = snprintf(name, sizeof name, t ? "Thread-%u" : "[process]", t);
        uint8_t *q = mt_enc_thread(buf, t, 1000 + t, name, (size_t)n);
        if ((rc = mt_writer_append_defs(w, buf, (size_t)(q - buf), 1)) < 0) die("thread", rc);
    }

    gthread th[NTHREADS] = {{0}};
    for (uint32_t t = 0; t < NTHREADS; t++) {
        th[t].tid = t + 1;
        th[t].stack[0] = 1;
        th[t].depth = 1;
    }
    uint32_t hot = 1 + (uint32_t)(seed * 37 % (NFUNCS - 100));
    size_t cap = mt_enc_block_bound(64) + (size_t)BLOCK_RECORDS * MT_MAX_COMPACT_BYTES;
    uint8_t *blk = malloc(cap);
    uint64_t written = 0, t_now = 0, next_sample = 0, rss = 200u << 20;
    uint32_t cur = 0;
    while (written < nevents) {
        if (t_now >= next_sample) {
            uint64_t prev = 0, t_first = next_sample, t_s = next_sample;
            uint8_t *q = mt_enc_block(blk, 0, t_first, NULL, 0);
            uint32_t n = 1;
            while (t_s <= t_now && n < BLOCK_RECORDS) {
                rss += (rnd() % 1024) * 4096;
                if (rss > (3ull << 30)) rss = 200u << 20;
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
        gthread *g = &th[cur];
        cur = (cur + 1) % NTHREADS;
        uint64_t t0 = t_now;
        uint8_t *q = mt_enc_block(blk, g->tid, t0, g->stack, g->depth);
        uint32_t prev_line = 0;
        for (uint32_t i = 0; i < BLOCK_RECORDS; i++) {
            uint32_t r = rnd() % 100;
            uint64_t dt = i ? DT : 0;
            if (r < 40) {
                q = mt_enc_line(q, dt, g->line + (rnd() % 8), &prev_line);
            } else if ((r < 70 && g->depth < 40) || g->depth <= 5) {
                uint32_t fid = 1 + (rnd() % 64 == 0 ? rnd() % NFUNCS : hot + rnd() % 100);
                g->stack[g->depth++] = fid;
                g->line = 10 * fid;
                q = mt_enc_call(q, dt, fid);
            } else {
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
    return written;
}

int main(int argc, char **argv) {
    uint64_t nevents = 1000000000ull;
    const char *dir = "build/bench", *diff = "build/bin/memtrace-diff";
    int keep = 0, c;
    while ((c = getopt(argc, argv, "n:d:kh")) != -1) {
        switch (c) {
        case 'n': nevents = (uint64_t)strtod(optarg, NULL); break;
        case 'd': dir = optarg; break;
        case 'k': keep = 1; break;
        default:
            fprintf(stderr, "usage: bench-diff [-n EVENTS] [-d DIR] [-k] [DIFF]\n");
            return 2;
        }
    }
    if (optind < argc) diff = argv[optind];
    if (!nevents) {
        fprintf(stderr, "bench-diff: bad -n\n");
        return 2;
    }
    mkdir(dir, 0755);
    char pa[4096], pb[4096];
    snprintf(pa, sizeof pa, "%s/bench-diff-a-%d.trace", dir, (int)getpid());
    snprintf(pb, sizeof pb, "%s/bench-diff-b-%d.trace", dir, (int)getpid());

    double t0 = now_s();
    uint64_t na = generate(pa, nevents, 1), nb = generate(pb, nevents, 2);
    struct stat sa, sb;
    stat(pa, &sa);
    stat(pb, &sb);
    printf("traces: 2 x %llu events, %.1f + %.1f MiB, written in %.1f s\n",
           (unsigned long long)na, (double)sa.st_size / (1 << 20),
           (double)sb.st_size / (1 << 20), now_s() - t0);
    fflush(stdout);

    t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) die("fork", 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        execl(diff, diff, "--json", "--fail-if", "peak>+10%", pa, pb, (char *)NULL);
        perror(diff);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) die("wait", 0);
    double wall = now_s() - t0;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    printf("memtrace-diff (2 traces, 2 passes each): %.2f s CPU (%.2f s wall)  "
           "%.1f M events/s/core  peak RSS %.1f MiB  exit %d\n",
           cpu, wall, (double)(na + nb) / cpu / 1e6, (double)ru.ru_maxrss / 1024, code);
    if (!keep) {
        unlink(pa);
        unlink(pb);
    } else {
        printf("kept %s %s\n", pa, pb);
    }
    return code == 0 || code == 3 ? 0 : 1;
}
