/*
 * plot_mktrace.c - make traces for the memtrace-plot tests and benchmark.
 *
 *   plot_mktrace OUT N [THREADS]
 *
 * Writes about N records (N >= 1000) shaped like a small program: main()
 * loads data (many short parse() calls, RSS growing), computes (one long
 * build() call, RSS ramping up, then freed), saves. RSS records every 1000
 * events, COUNTERS with heap_bytes likewise, a marker at each phase, one
 * planted RSS maximum (1 GiB + 4242 B) at 50% and one planted minimum
 * (5 MiB + 7 B) at 80%. With THREADS = 2 a "worker" thread makes calls too.
 * One record every 100 ns (ticks are ns). Prints, for the tests:
 *   max_bytes V t_s T
 *   min_bytes V t_s T
 *   duration_s D
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrace_format.h"

static mt_writer *w;
static uint64_t nrec;

static void put(const mt_record *r) {
    int rc = mt_writer_append(w, r);
    if (rc < 0) {
        fprintf(stderr, "plot_mktrace: %s: %s\n", mt_record_type_name(r->type),
                mt_strerror(rc));
        exit(1);
    }
    nrec++;
}

static void def_str(uint32_t sid, const char *s) {
    mt_record r = {.type = MT_REC_STRING};
    r.u.string.sid = sid;
    r.u.string.len = (uint32_t)strlen(s);
    r.u.string.bytes = s;
    put(&r);
}

enum { F_MAIN = 1, F_LOAD, F_PARSE, F_COMPUTE, F_BUILD, F_SAVE, F_WORK, NF };
static const char *const fname[NF] = {"", "main", "load_data", "parse_record",
                                      "compute", "build_matrix", "save", "worker_loop"};

static void ev(int type, uint32_t tid, uint64_t t, uint32_t fid) {
    mt_record r = {.type = type, .tid = tid, .t = t};
    r.u.call.fid = fid;
    put(&r);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: plot_mktrace OUT N [THREADS]\n");
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    int threads = argc == 4 ? atoi(argv[3]) : 1;
    if (n < 1000) n = 1000;
    mt_header h;
    mt_header_init(&h);
    h.content = MT_CONTENT_CALLS | MT_CONTENT_RSS;
    h.ticks_per_second = 1000000000u;
    h.producer = "plot_mktrace 1";
    h.mode = "trace";
    mt_writer_options opt = {0, 1};
    int rc = mt_writer_open(&w, argv[1], &h, &opt);
    if (rc < 0) {
        fprintf(stderr, "plot_mktrace: %s: %s\n", argv[1], mt_strerror(rc));
        return 1;
    }
    def_str(100, "app.py");
    for (uint32_t f = 1; f < NF; f++) {
        def_str(f, fname[f]);
        mt_record r = {.type = MT_REC_FUNCTION};
        r.u.function.fid = f;
        r.u.function.qualname_sid = f;
        r.u.function.file_sid = 100;
        r.u.function.first_line = 10 * f;
        put(&r);
    }
    mt_record th = {.type = MT_REC_THREAD, .tid = 1};
    th.u.thread.native_id = 1000;
    th.u.thread.name = "MainThread";
    th.u.thread.len = 10;
    put(&th);
    if (threads > 1) {
        th.tid = 2;
        th.u.thread.native_id = 1001;
        th.u.thread.name = "worker";
        th.u.thread.len = 6;
        put(&th);
    }

    const uint64_t dt = 100;
    const uint64_t i_max = n / 2, i_min = n * 8 / 10;
    const uint64_t v_max = (1ull << 30) + 4242, v_min = (5ull << 20) + 7;
    uint64_t t = 1000, rss = 20u << 20;
    /* growth per event scaled so that any N gives the same shape */
    const uint64_t grow_load = 64000000 / n + 1, grow_build = 200000000 / n + 1;
    int phase = -1;
    int in_parse = 0, in_build = 0;
    ev(MT_REC_CALL, 1, t, F_MAIN);
    uint64_t i = 1;
    while (nrec < n - 10) {
        t += dt;
        double frac = (double)i / (double)n;
        int ph = frac < 0.3 ? 0 : frac < 0.75 ? 1 : 2;
        if (ph != phase) {
            if (in_parse) ev(MT_REC_RETURN, 1, t, F_PARSE), in_parse = 0;
            if (in_build) ev(MT_REC_RETURN, 1, t, F_BUILD), in_build = 0;
            if (phase >= 0) ev(MT_REC_RETURN, 1, t, F_LOAD + (phase == 1 ? 2 : phase == 2 ? 4 : 0));
            static const char *const names[] = {"load", "compute", "save"};
            mt_record m = {.type = MT_REC_MARKER, .tid = 1, .t = t};
            m.u.marker.text = names[ph];
            m.u.marker.len = (uint32_t)strlen(names[ph]);
            put(&m);
            phase = ph;
            ev(MT_REC_CALL, 1, t, ph == 0 ? F_LOAD : ph == 1 ? F_COMPUTE : F_SAVE);
            if (ph == 1) ev(MT_REC_CALL, 1, t, F_BUILD), in_build = 1;
        }
        if (ph == 0) { /* parse calls of 4 events each */
            ev(in_parse ? MT_REC_RETURN : MT_REC_CALL, 1, t, F_PARSE);
            in_parse = !in_parse;
            rss += grow_load;
        } else if (ph == 1) {
            if (in_build && frac > 0.6) {
                ev(MT_REC_RETURN, 1, t, F_BUILD);
                in_build = 0;
                rss -= rss / 2; /* freed */
            } else {
                mt_record l = {.type = MT_REC_LINE, .tid = 1, .t = t};
                l.u.line.line = 30 + (uint32_t)(i % 7);
                put(&l);
                if (in_build) rss += grow_build;
            }
        } else {
            mt_record l = {.type = MT_REC_LINE, .tid = 1, .t = t};
            l.u.line.line = 60 + (uint32_t)(i % 3);
            put(&l);
        }
        if (threads > 1 && i % 50 == 0) {
            ev(MT_REC_CALL, 2, t, F_WORK);
            ev(MT_REC_RETURN, 2, t + 20, F_WORK);
        }
        if (i % 1000 == 0 || i == i_max || i == i_min) {
            uint64_t v = i == i_max ? v_max : i == i_min ? v_min : rss;
            mt_record r = {.type = MT_REC_RSS, .tid = 1, .t = t};
            r.u.rss.bytes = v;
            put(&r);
            mt_counter c[2] = {{MT_CTR_RSS_BYTES, v}, {MT_CTR_HEAP_BYTES, rss / 2}};
            mt_record cr = {.type = MT_REC_COUNTERS, .tid = 1, .t = t};
            cr.u.counters.n = 2;
            cr.u.counters.v = c;
            put(&cr);
            if (i == i_max) printf("max_bytes %llu t_s %.9f\n", (unsigned long long)v, t / 1e9);
            if (i == i_min) printf("min_bytes %llu t_s %.9f\n", (unsigned long long)v, t / 1e9);
        }
        i++;
    }
    t += dt;
    if (in_parse) ev(MT_REC_RETURN, 1, t, F_PARSE);
    ev(MT_REC_RETURN, 1, t, F_SAVE);
    ev(MT_REC_RETURN, 1, t, F_MAIN);
    printf("duration_s %.9f\nrecords %llu\n", t / 1e9, (unsigned long long)nrec);
    rc = mt_writer_close(w);
    if (rc < 0) {
        fprintf(stderr, "plot_mktrace: %s: %s\n", argv[1], mt_strerror(rc));
        return 1;
    }
    return 0;
}
