/*
 * filter_mktrace.c - make the traces the memtrace-filter tests read.
 *
 *   filter_mktrace synth OUT [N]   three threads and a sampler, every data
 *                                  record type, N rounds (default 300),
 *                                  small chunks; a first block whose stack
 *                                  holds frames entered "before tracing",
 *                                  a thread renamed half way
 *   filter_mktrace big OUT N       about N records of one thread (calls,
 *                                  lines, allocs, returns, RSS), 1 MiB
 *                                  chunks: for measuring speed
 *
 * Records go through mt_writer_append, like a recorder using the library
 * would, except the first block of `synth`, which needs a stack the writer
 * cannot know and so is encoded with the mt_enc_* functions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrace_format.h"

static mt_writer *w;

static void die(const char *what, int rc) {
    fprintf(stderr, "filter_mktrace: %s: %s\n", what, mt_strerror(rc));
    exit(1);
}

static void put(const mt_record *r) {
    int rc = mt_writer_append(w, r);
    if (rc < 0) die(mt_record_type_name(r->type), rc);
}

static void open_writer(const char *path, uint32_t chunk_raw_bytes) {
    static const char *const argv[] = {"python3", "app.py"};
    mt_header h;
    mt_header_init(&h);
    h.content = MT_CONTENT_CALLS | MT_CONTENT_CCALLS | MT_CONTENT_LINES |
                MT_CONTENT_ALLOCS | MT_CONTENT_RSS | MT_CONTENT_OBJECTS;
    h.clock = MT_CLOCK_MONOTONIC;
    h.ticks_per_second = 1000000000u;
    h.wall_ns = 1795000000000000000LL; /* 2026-11-18T10:13:20Z */
    h.anchor_ticks = 777;
    h.pid = 4242;
    h.ppid = 1;
    h.page_size = 4096;
    h.hostname = "testhost";
    h.python_implementation = "CPython";
    h.python_version = "3.11.7";
    h.executable = "/usr/bin/python3";
    h.cwd = "/src";
    h.producer = "filter_mktrace 1";
    h.mode = "trace";
    h.argv = argv;
    h.argc = 2;
    mt_writer_options opt = {chunk_raw_bytes, 1};
    int rc = mt_writer_open(&w, path, &h, &opt);
    if (rc < 0) die(path, rc);
}

static void def_string(uint32_t sid, const char *s) {
    mt_record r = {.type = MT_REC_STRING};
    r.u.string.sid = sid;
    r.u.string.len = (uint32_t)strlen(s);
    r.u.string.bytes = s;
    put(&r);
}

static void def_function(uint32_t fid, uint32_t kind, uint32_t q, uint32_t m,
                         uint32_t f, uint32_t line) {
    mt_record r = {.type = MT_REC_FUNCTION};
    r.u.function.fid = fid;
    r.u.function.kind = kind;
    r.u.function.qualname_sid = q;
    r.u.function.module_sid = m;
    r.u.function.file_sid = f;
    r.u.function.first_line = line;
    put(&r);
}

static void def_thread(uint32_t tid, uint64_t native, const char *name) {
    mt_record r = {.type = MT_REC_THREAD, .tid = tid};
    r.u.thread.native_id = native;
    r.u.thread.len = (uint32_t)strlen(name);
    r.u.thread.name = name;
    put(&r);
}

static mt_record rec(int type, uint32_t tid, uint64_t t) {
    mt_record r = {.type = type, .tid = tid, .t = t};
    return r;
}

static void call(int type, uint32_t tid, uint64_t t, uint32_t fid) {
    mt_record r = rec(type, tid, t);
    r.u.call.fid = fid;
    put(&r);
}
static void ev(int type, uint32_t tid, uint64_t t) {
    mt_record r = rec(type, tid, t);
    put(&r);
}
static void line(uint32_t tid, uint64_t t, uint32_t n) {
    mt_record r = rec(MT_REC_LINE, tid, t);
    r.u.line.line = n;
    put(&r);
}
static void alloc(uint32_t tid, uint64_t t, unsigned dom, uint64_t addr,
                  uint64_t size) {
    mt_record r = rec(MT_REC_ALLOC, tid, t);
    r.domain = (uint8_t)dom;
    r.u.alloc.addr = addr;
    r.u.alloc.size = size;
    put(&r);
}
static void rss(uint32_t tid, uint64_t t, uint64_t bytes) {
    mt_record r = rec(MT_REC_RSS, tid, t);
    r.u.rss.bytes = bytes;
    put(&r);
}

/* Strings, functions and threads of the synthetic program. */
enum {
    S_MAIN = 1, S_APP, S_APPPY, S_LOAD, S_PARSE, S_APPPARSE, S_PARSEPY,
    S_APPEND, S_HELPER, S_UTIL, S_UTILPY, S_VALUEERROR, S_DICT, S_SLEEP,
    S_CMDLINE, S_UNUSED
};
enum { F_MAIN = 1, F_LOAD, F_PARSE, F_APPEND, F_HELPER, F_UNUSED };

static void definitions(void) {
    def_string(S_MAIN, "main");
    def_string(S_APP, "app");
    def_string(S_APPPY, "/src/app/__init__.py");
    def_string(S_LOAD, "load");
    def_string(S_PARSE, "Parser.parse");
    def_string(S_APPPARSE, "app.parse");
    def_string(S_PARSEPY, "/src/app/parse.py");
    def_string(S_APPEND, "list.append");
    def_string(S_HELPER, "helper");
    def_string(S_UTIL, "util");
    def_string(S_UTILPY, "/src/util.py");
    def_string(S_VALUEERROR, "ValueError");
    def_string(S_DICT, "dict");
    def_string(S_SLEEP, "sleep");
    def_string(S_CMDLINE, "sleep 10");
    def_string(S_UNUSED, "never used");
    def_function(F_MAIN, MT_FUNC_PYTHON, S_MAIN, S_APP, S_APPPY, 1);
    def_function(F_LOAD, MT_FUNC_PYTHON, S_LOAD, S_APP, S_APPPY, 10);
    def_function(F_PARSE, MT_FUNC_PYTHON, S_PARSE, S_APPPARSE, S_PARSEPY, 5);
    def_function(F_APPEND, MT_FUNC_C, S_APPEND, 0, 0, 0);
    def_function(F_HELPER, MT_FUNC_PYTHON, S_HELPER, S_UTIL, S_UTILPY, 3);
    def_function(F_UNUSED, MT_FUNC_PYTHON, S_UNUSED, S_UTIL, S_UTILPY, 99);
    def_thread(1, 1001, "MainThread");
    def_thread(2, 1002, "worker-1");
    def_thread(3, 1003, "worker-2");
    def_thread(9, 1009, "never-runs");
}

/* A first block of thread 1 that starts inside main -> load, as when
 * tracing starts in the middle of a program: its line and return belong to
 * frames whose calls are not in the trace. */
static void first_block(uint64_t t) {
    static const uint32_t stack[] = {F_MAIN, F_LOAD};
    uint8_t buf[256], *p = buf;
    uint32_t prev_line = 0;
    p = mt_enc_block(p, 1, t, stack, 2);
    p = mt_enc_line(p, 10, 12, &prev_line);
    p = mt_enc_call(p, 10, F_HELPER);
    p = mt_enc_line(p, 10, 4, &prev_line);
    p = mt_enc_event(p, MT_REC_RETURN, 10);
    p = mt_enc_event(p, MT_REC_RETURN, 10); /* leaves load */
    int rc = mt_writer_append_block(w, buf, (size_t)(p - buf), 6, t, t + 50);
    if (rc < 0) die("first block", rc);
}

/* One round of thread tid's work at time t (1 us per record). */
static uint64_t work(uint32_t tid, uint64_t t, uint32_t i, uint64_t *addr,
                     uint64_t *rss_bytes) {
    call(MT_REC_CALL, tid, t += 1000, F_LOAD);
    line(tid, t += 1000, 11 + i % 3);
    alloc(tid, t += 1000, MT_DOMAIN_OBJ, *addr += 64, 48 + i % 100);
    call(MT_REC_CALL, tid, t += 1000, F_PARSE);
    line(tid, t += 1000, 6);
    call(MT_REC_CCALL, tid, t += 1000, F_APPEND);
    alloc(tid, t += 1000, MT_DOMAIN_MEM, *addr += 4096, 4096);
    ev(MT_REC_CRETURN, tid, t += 1000);
    if (i % 7 == 0) {
        mt_record r = rec(MT_REC_RAISE, tid, t += 1000);
        r.u.raise.type_sid = S_VALUEERROR;
        put(&r);
        call(MT_REC_CALL, tid, t += 1000, F_HELPER);
        line(tid, t += 1000, 4);
        mt_record o = rec(MT_REC_OBJ_NEW, tid, t += 1000);
        o.u.obj.addr = *addr + 8;
        o.u.obj.type_sid = S_DICT;
        put(&o);
        ev(MT_REC_RETURN, tid, t += 1000);
        ev(MT_REC_UNWIND, tid, t += 1000); /* parse exits by the exception */
    } else {
        mt_record r = rec(MT_REC_REALLOC, tid, t += 1000);
        r.domain = MT_DOMAIN_RAW;
        r.u.realloc.old_addr = *addr;
        r.u.realloc.addr = *addr + 1000000;
        r.u.realloc.size = 8192;
        put(&r);
        r = rec(MT_REC_FREE, tid, t += 1000);
        r.domain = MT_DOMAIN_RAW;
        r.u.alloc.addr = *addr + 1000000;
        put(&r);
        ev(MT_REC_RETURN, tid, t += 1000);
    }
    /* RSS moves by 0, 4 KiB, or 1 MiB (every 10th round). */
    *rss_bytes += i % 10 == 0 ? (1u << 20) : (i % 3 == 0 ? 4096 : 0);
    rss(tid, t += 1000, *rss_bytes);
    ev(MT_REC_RETURN, tid, t += 1000);
    return t;
}

static void synth(const char *path, uint32_t rounds) {
    open_writer(path, 4096);
    definitions();
    uint64_t t = 1000000; /* 1 ms */
    first_block(t);
    t += 1000;
    call(MT_REC_CALL, 1, t += 1000, F_MAIN);
    uint64_t addr[4] = {0, 0x7f0000000000, 0x7f1000000000, 0x7f2000000000};
    uint64_t rss_bytes = 50u << 20;
    for (uint32_t i = 0; i < rounds; i++) {
        if (i == 5) {
            mt_record r = rec(MT_REC_THREAD_START, 2, t += 1000);
            put(&r);
        }
        if (i == rounds / 2) def_thread(2, 1002, "renamed-worker");
        if (i % 50 == 0) {
            char text[32];
            snprintf(text, sizeof text, "round %u", i);
            mt_record m = rec(MT_REC_MARKER, 1, t += 1000);
            m.u.marker.text = text;
            m.u.marker.len = (uint32_t)strlen(text);
            put(&m);
        }
        uint32_t tid = 1 + i % 3;
        t = work(tid, t, i, &addr[tid], &rss_bytes);
        if (i % 4 == 0) { /* the sampler thread */
            mt_counter c[3] = {{MT_CTR_RSS_BYTES, rss_bytes + i % 3 * 4096},
                               {MT_CTR_VMS_BYTES, rss_bytes * 2},
                               {MT_CTR_THREADS, 3}};
            mt_record r = rec(MT_REC_COUNTERS, 0, t += 1000);
            r.u.counters.v = c;
            r.u.counters.n = i % 8 == 0 ? 3 : 2;
            if (i % 40 == 4) { /* one without rss_bytes now and then */
                r.u.counters.v = c + 1;
                r.u.counters.n = 2;
            }
            put(&r);
        }
        if (i == 100) {
            mt_counter c[1] = {{MT_CTR_RSS_BYTES, 1234567}};
            mt_record r = rec(MT_REC_PROC_SAMPLE, 0, t += 1000);
            r.u.proc.pid = 5000;
            r.u.proc.ppid = 4242;
            r.u.proc.name_sid = S_SLEEP;
            r.u.proc.cmdline_sid = S_CMDLINE;
            r.u.proc.v = c;
            r.u.proc.n = 1;
            put(&r);
            r = rec(MT_REC_PROC_EXIT, 0, t += 1000);
            r.u.proc_exit.pid = 5000;
            r.u.proc_exit.status = -9;
            put(&r);
            r = rec(MT_REC_LOST, 1, t += 1000);
            r.u.lost.events = 10;
            r.u.lost.bytes = 200;
            r.u.lost.reason = MT_LOST_BUFFER_FULL;
            put(&r);
        }
    }
    mt_record r = rec(MT_REC_THREAD_END, 2, t += 1000);
    put(&r);
    ev(MT_REC_RETURN, 1, t += 1000); /* leaves main */
    mt_counter c[2] = {{MT_CTR_EVENTS, 12345}, {MT_CTR_LOST_EVENTS, 10}};
    r = rec(MT_REC_SUMMARY, 1, t += 1000);
    r.u.summary.reason = MT_END_EXIT;
    r.u.summary.v = c;
    r.u.summary.n = 2;
    put(&r);
}

static void big(const char *path, uint64_t n) {
    open_writer(path, 1u << 20);
    definitions();
    uint64_t t = 1000, addr = 0x7f0000000000, rss_bytes = 50u << 20;
    for (uint64_t i = 0; i < n; i += 8) {
        call(MT_REC_CALL, 1, t += 60, F_LOAD);
        line(1, t += 60, 11 + (uint32_t)(i % 5));
        alloc(1, t += 60, MT_DOMAIN_OBJ, addr += 64, 48);
        call(MT_REC_CALL, 1, t += 60, F_PARSE);
        line(1, t += 60, 6);
        ev(MT_REC_RETURN, 1, t += 60);
        if ((i & 1023) == 0) rss_bytes += 4096 * (i % 3);
        rss(1, t += 60, rss_bytes);
        ev(MT_REC_RETURN, 1, t += 60);
    }
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "synth") == 0) {
        synth(argv[2], argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 300);
    } else if (argc == 4 && strcmp(argv[1], "big") == 0) {
        big(argv[2], strtoull(argv[3], NULL, 10));
    } else {
        fprintf(stderr, "usage: filter_mktrace synth OUT [N] | big OUT N\n");
        return 2;
    }
    int rc = mt_writer_close(w);
    if (rc < 0) die("close", rc);
    return 0;
}
