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
#include "bench_gen.h"

#define NTHREADS 4


int main(int argc, char **argv) {
    bench_prog = "bench-diff";
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
    uint64_t na = bench_generate(pa, nevents, NTHREADS, 1, 1 + 1 * 37 % (NFUNCS - 100)),
             nb = bench_generate(pb, nevents, NTHREADS, 2, 1 + 2 * 37 % (NFUNCS - 100));
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
