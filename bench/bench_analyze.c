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
#include "bench_gen.h"
#include "../analyze/mt_analysis.h"


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
    bench_prog = "bench-analyze";
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
    uint64_t n = bench_generate(path, nevents, nthreads, 0, 0);
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
